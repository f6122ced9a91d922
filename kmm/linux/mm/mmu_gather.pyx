"""Mirrors mm/mmu_gather.c: starting and finishing an mmu_gather, and
freeing the gathered pages and page tables after their TLB flush."""

from libc.stdlib cimport realloc, free
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.asm_generic.tlb cimport (mmu_gather, __tlb_reset_range, __tlb_adjust_range,
                                           tlb_flush_mmu_tlbonly, TLB_FLUSH_ALL)
from kmm.linux.include_.linux.mm cimport put_page
from kmm.linux.arch.x86.mm.pgtable cimport pte_free
from kmm.linux.mm.migrate cimport migrc_fix_flush, MIGRC_FIX_TLB_FINISH_MMU


cdef void inc_tlb_flush_pending(mm_struct *mm) noexcept nogil:
    """include/linux/mm_types.h: an mmu_gather on mm is in flight."""
    mm.tlb_flush_pending += 1

cdef void dec_tlb_flush_pending(mm_struct *mm) noexcept nogil:
    mm.tlb_flush_pending -= 1

cdef bint mm_tlb_flush_nested(mm_struct *mm) noexcept nogil:
    return mm.tlb_flush_pending > 1


cdef inline void __tlb_gather_mmu(mmu_gather *tlb, mm_struct *mm, bint fullmm) noexcept nogil:
    tlb.mm = mm
    tlb.fullmm = fullmm
    tlb.need_flush_all = 0
    tlb.pages = NULL
    tlb.nr_pages = 0
    tlb.max_pages = 0
    tlb.tables = NULL
    tlb.nr_tables = 0
    tlb.max_tables = 0
    __tlb_reset_range(tlb)
    inc_tlb_flush_pending(mm)


cdef void tlb_gather_mmu(mmu_gather *tlb, mm_struct *mm) noexcept nogil:
    __tlb_gather_mmu(tlb, mm, False)

cdef void tlb_gather_mmu_fullmm(mmu_gather *tlb, mm_struct *mm) noexcept nogil:
    __tlb_gather_mmu(tlb, mm, True)


cdef bint __tlb_remove_page(mmu_gather *tlb, page *p) noexcept nogil:
    """Queue a page whose last PTE was zapped; it is put after the flush.
    Returns true when the caller must flush now (host memory exhausted)."""
    cdef page **grown
    if tlb.nr_pages == tlb.max_pages:
        grown = <page **>realloc(tlb.pages, (tlb.max_pages * 2 + 64) * sizeof(page *))
        if grown == NULL:
            return True
        tlb.pages = grown
        tlb.max_pages = tlb.max_pages * 2 + 64
    tlb.pages[tlb.nr_pages] = p
    tlb.nr_pages += 1
    return False


cdef void __tlb_remove_table(mmu_gather *tlb, page *table) noexcept nogil:
    """A page table left the tree: any CPU (even a lazy one) may be walking
    it, so it is freed only after a flush that reaches all of them
    (freed_tables)."""
    cdef page **grown
    if tlb.nr_tables == tlb.max_tables:
        grown = <page **>realloc(tlb.tables, (tlb.max_tables * 2 + 16) * sizeof(page *))
        if grown == NULL:
            tlb_flush_mmu(tlb)      # flush first, then free at once
            pte_free(tlb.mm, table)
            return
        tlb.tables = grown
        tlb.max_tables = tlb.max_tables * 2 + 16
    tlb.tables[tlb.nr_tables] = table
    tlb.nr_tables += 1


# include/asm-generic/tlb.h pte_free_tlb / pmd_free_tlb / pud_free_tlb: the
# flush must cover one page at the address the freed table mapped from, and
# its stride is the span of one entry of the level that lost the table (so
# tlb_get_unmap_shift() turns a tables-only flush into 2M/1G strides).

cdef void pte_free_tlb(mmu_gather *tlb, page *pte_page, unsigned long address) noexcept nogil:
    __tlb_adjust_range(tlb, address, 4096)
    tlb.freed_tables = 1
    tlb.cleared_pmds = 1
    __tlb_remove_table(tlb, pte_page)

cdef void pmd_free_tlb(mmu_gather *tlb, page *pmd_page, unsigned long address) noexcept nogil:
    __tlb_adjust_range(tlb, address, 4096)
    tlb.freed_tables = 1
    tlb.cleared_puds = 1
    __tlb_remove_table(tlb, pmd_page)

cdef void pud_free_tlb(mmu_gather *tlb, page *pud_page, unsigned long address) noexcept nogil:
    __tlb_adjust_range(tlb, address, 4096)
    tlb.freed_tables = 1
    tlb.cleared_p4ds = 1
    __tlb_remove_table(tlb, pud_page)


cdef inline void tlb_flush_mmu_free(mmu_gather *tlb) noexcept nogil:
    cdef unsigned int i
    for i in range(tlb.nr_tables):
        pte_free(tlb.mm, tlb.tables[i])
    tlb.nr_tables = 0
    for i in range(tlb.nr_pages):
        put_page(tlb.pages[i])
    tlb.nr_pages = 0


cdef void tlb_flush_mmu(mmu_gather *tlb) noexcept nogil:
    tlb_flush_mmu_tlbonly(tlb)
    tlb_flush_mmu_free(tlb)


cdef void tlb_finish_mmu(mmu_gather *tlb) noexcept nogil:
    """If another mmu_gather ran on this mm at the same time, its PTE changes
    may not be flushed yet: flush everything, tables included."""
    if mm_tlb_flush_nested(tlb.mm):
        tlb.fullmm = 1
        __tlb_reset_range(tlb)
        tlb.freed_tables = 1
    tlb_flush_mmu(tlb)
    # CONFIG_MIGRC_FIXES: leave no deferred entry behind an mmu_gather
    # (mprotect, munmap, NUMA scanning), like the LUF series' tlb_end_vma()
    migrc_fix_flush(MIGRC_FIX_TLB_FINISH_MMU)
    free(tlb.pages)
    free(tlb.tables)
    tlb.pages = NULL
    tlb.tables = NULL
    tlb.max_pages = 0
    tlb.max_tables = 0
    dec_tlb_flush_pending(tlb.mm)
