# Mirrors include/linux/mm_types_task.h: the per-task batch of TLB flushes
# deferred while unmapping (try_to_unmap / try_to_migrate with
# TTU_BATCH_FLUSH).

from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch

cdef struct tlbflush_unmap_batch:
    arch_tlbflush_unmap_batch arch
    bint flush_required          # some PTE was cleared and not yet flushed
    bint writable                # some cleared PTE was dirty: flush before I/O
