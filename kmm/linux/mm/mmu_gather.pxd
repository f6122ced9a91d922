from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.asm_generic.tlb cimport mmu_gather

cdef void tlb_gather_mmu(mmu_gather *tlb, mm_struct *mm) noexcept nogil
cdef void tlb_gather_mmu_fullmm(mmu_gather *tlb, mm_struct *mm) noexcept nogil
cdef void tlb_finish_mmu(mmu_gather *tlb) noexcept nogil
cdef void tlb_flush_mmu(mmu_gather *tlb) noexcept nogil
cdef bint __tlb_remove_page(mmu_gather *tlb, page *p) noexcept nogil
cdef void pte_free_tlb(mmu_gather *tlb, page *pte_page, unsigned long address) noexcept nogil
cdef void pmd_free_tlb(mmu_gather *tlb, page *pmd_page, unsigned long address) noexcept nogil
cdef void pud_free_tlb(mmu_gather *tlb, page *pud_page, unsigned long address) noexcept nogil
cdef void inc_tlb_flush_pending(mm_struct *mm) noexcept nogil
cdef void dec_tlb_flush_pending(mm_struct *mm) noexcept nogil
cdef bint mm_tlb_flush_nested(mm_struct *mm) noexcept nogil
