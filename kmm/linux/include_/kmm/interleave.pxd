# Emulator-only: interleaving points.  A point is a named place inside a
# mirrored kernel function where, on real hardware, other CPUs keep running
# (loads and stores through their TLBs, faults, system calls of other
# tasks) while this function is between two of its steps -- typically
# after it changed page tables and before it flushed the TLBs.  A scenario
# registers Python callbacks on points (Machine.at / Machine.interleave in
# kmm/emu/machine.pyx) to run other CPUs' accesses there.
#
# One C function pointer per machine (kmm_machine.interleave_fn); with
# nothing registered it is NULL, and a point costs one load and one
# predictable branch.  The names the Python API uses are in
# kmm/emu/debug/interleave.pyx (POINT_NAMES), documented in docs/hazards.md.

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine

cdef enum:
    KMM_POINT_MIGRATE_UNMAPPED = 1        # migrate_pages_batch: batch unmapped, try_to_unmap_flush() not yet run
    KMM_POINT_MIGRATE_FLUSHED = 2         # migrate_pages_batch: flushed, nothing moved yet
    KMM_POINT_MIGRC_BEFORE_FLUSH = 3      # migrc_flush_free_folios: requests gathered, not flushed, folios not freed
    KMM_POINT_CHANGE_PROT_BEFORE_FLUSH = 4  # change_protection_range: PTEs changed, before tlb_end_vma()'s flush
    KMM_POINT_ZAP_BEFORE_FLUSH = 5        # unmap_page_range: PTEs cleared, before tlb_end_vma()'s flush
    KMM_POINT_UNMAP_BEFORE_FINISH = 6     # unmap_region: zapped and tables unhooked, before tlb_finish_mmu()
    KMM_POINT_DUP_MMAP_BEFORE_FLUSH = 7   # dup_mmap: child's PTEs copied, before flush_tlb_mm(oldmm)
    KMM_POINT_TRUNCATE_UNMAPPED = 8       # truncate_pagecache: mappings zapped, page cache not yet truncated
    KMM_NR_POINTS = 9                     # one past the last point


cdef inline void kmm_point(int point) noexcept nogil:
    """Run the machine's interleaving callback for this point, if any."""
    cdef kmm_machine *m = KMM()
    if m.interleave_fn != NULL:
        m.interleave_fn(point)
