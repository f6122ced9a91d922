# Mirrors arch/x86/include/asm/tlb.h: how an mmu_gather's range is flushed
# on x86 (tlb_flush), and the INVLPG instruction.

from kmm.linux.include_.kmm.machine cimport smp_processor_id
from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.emu.hw.tlb cimport tlb_invlpg
from kmm.linux.arch.x86.mm.tlb cimport flush_tlb_mm_range


cdef inline void tlb_flush(mm_struct *mm, unsigned long start, unsigned long end, bint fullmm,
                           bint need_flush_all, bint freed_tables,
                           unsigned int stride_shift) noexcept nogil:
    """arch/x86/include/asm/tlb.h: one flush_tlb_mm_range() over the gathered
    range (all of the mm for a full-mm teardown), in strides of the smallest
    level cleared (tlb_get_unmap_shift()).  The kernel passes the
    mmu_gather; Cython cannot cimport that struct here without an import
    cycle, so its fields come one by one."""
    if fullmm or need_flush_all:
        start = 0
        end = <unsigned long>-1
    flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables)


cdef inline void invlpg(unsigned long addr) noexcept nogil:
    """arch/x86/include/asm/tlb.h: invalidate addr's page in the current PCID."""
    tlb_invlpg(smp_processor_id(), addr)
