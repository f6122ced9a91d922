# Mirrors include/asm-generic/tlb.h: the mmu_gather that batches a range's
# TLB flush and the freeing of its pages until the page tables are updated.
# On x86 the range is flushed at the end of each VMA (tlb_end_vma) and the
# pages are freed only after that flush.

from kmm.linux.include_.linux.mm_types cimport page, mm_struct, vm_area_struct
from kmm.linux.arch.x86.include_.asm.tlb cimport tlb_flush

cdef extern from *:
    """
    #define KMM_TLB_FLUSH_ALL (~0UL)
    """
    const unsigned long TLB_FLUSH_ALL "KMM_TLB_FLUSH_ALL"

cdef struct mmu_gather:
    mm_struct *mm
    unsigned long start
    unsigned long end
    bint fullmm
    bint need_flush_all
    bint freed_tables
    bint cleared_ptes
    bint cleared_pmds
    bint cleared_puds
    bint cleared_p4ds
    bint vma_exec
    bint vma_huge
    bint vma_pfn
    # pages whose freeing waits for the flush (struct mmu_gather_batch)
    page **pages
    unsigned int nr_pages
    unsigned int max_pages
    # page-table pages whose freeing waits for the flush (tlb_remove_table)
    page **tables
    unsigned int nr_tables
    unsigned int max_tables


cdef inline void __tlb_reset_range(mmu_gather *tlb) noexcept nogil:
    if tlb.fullmm:
        tlb.start = 0
        tlb.end = TLB_FLUSH_ALL
    else:
        tlb.start = TLB_FLUSH_ALL
        tlb.end = 0
    tlb.freed_tables = 0
    tlb.cleared_ptes = 0
    tlb.cleared_pmds = 0
    tlb.cleared_puds = 0
    tlb.cleared_p4ds = 0

cdef inline void __tlb_adjust_range(mmu_gather *tlb, unsigned long address,
                                    unsigned int range_size) noexcept nogil:
    if address < tlb.start:
        tlb.start = address
    if address + range_size > tlb.end:
        tlb.end = address + range_size

cdef inline void tlb_remove_tlb_entry(mmu_gather *tlb, unsigned long *ptep,
                                      unsigned long address) noexcept nogil:
    __tlb_adjust_range(tlb, address, 4096)
    tlb.cleared_ptes = 1

cdef inline void tlb_flush_pte_range(mmu_gather *tlb, unsigned long address,
                                     unsigned long size) noexcept nogil:
    __tlb_adjust_range(tlb, address, <unsigned int>size)
    tlb.cleared_ptes = 1

cdef inline void tlb_update_vma_flags(mmu_gather *tlb, vm_area_struct *vma) noexcept nogil:
    tlb.vma_huge = 0
    tlb.vma_exec = (vma.vm_flags & 0x4) != 0     # VM_EXEC
    tlb.vma_pfn = (vma.vm_flags & (0x400 | 0x10000000)) != 0

cdef inline unsigned int tlb_get_unmap_shift(mmu_gather *tlb) noexcept nogil:
    """The smallest page-table level whose entries were cleared decides the
    flush stride: a PTE (4K), or, when only tables were freed, the span one
    entry of the freed table's parent maps."""
    if tlb.cleared_ptes:
        return 12           # PAGE_SHIFT
    if tlb.cleared_pmds:
        return 21           # PMD_SHIFT
    if tlb.cleared_puds:
        return 30           # PUD_SHIFT
    if tlb.cleared_p4ds:
        return 39           # P4D_SHIFT (4-level paging: the PGDIR shift)
    return 12

cdef inline void tlb_flush_mmu_tlbonly(mmu_gather *tlb) noexcept nogil:
    if not (tlb.freed_tables or tlb.cleared_ptes or tlb.cleared_pmds
            or tlb.cleared_puds or tlb.cleared_p4ds):
        return
    tlb_flush(tlb.mm, tlb.start, tlb.end, tlb.fullmm, tlb.need_flush_all, tlb.freed_tables,
              tlb_get_unmap_shift(tlb))
    __tlb_reset_range(tlb)

cdef inline void tlb_start_vma(mmu_gather *tlb, vm_area_struct *vma) noexcept nogil:
    if tlb.fullmm:
        return
    tlb_update_vma_flags(tlb, vma)

cdef inline void tlb_end_vma(mmu_gather *tlb, vm_area_struct *vma) noexcept nogil:
    """x86 has no CONFIG_MMU_GATHER_MERGE_VMAS: flush each VMA's range."""
    if tlb.fullmm:
        return
    tlb_flush_mmu_tlbonly(tlb)
