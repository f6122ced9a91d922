# Mirrors arch/x86/include/asm/tlb.h: how an mmu_gather's range is flushed
# on x86 -- one flush_tlb_mm_range() over the gathered range (or all of the
# mm for a full-mm teardown).

from kmm.include_.linux.mm_types cimport mm_struct
from kmm.arch.x86.mm.tlb cimport flush_tlb_mm_range

cdef inline void tlb_flush(mm_struct *mm, unsigned long start, unsigned long end, bint fullmm,
                           bint need_flush_all, bint freed_tables) noexcept nogil:
    """The kernel passes the mmu_gather; Cython cannot cimport the struct from
    asm-generic/tlb.h here without a cycle, so its fields come one by one."""
    if fullmm or need_flush_all:
        start = 0
        end = <unsigned long>-1
    flush_tlb_mm_range(mm, start, end, 12, freed_tables)
