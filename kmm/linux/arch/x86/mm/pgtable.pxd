from kmm.linux.include_.linux.mm_types cimport page, mm_struct

cdef page *pte_alloc_one(mm_struct *mm) noexcept nogil
cdef page *pmd_alloc_one(mm_struct *mm) noexcept nogil
cdef page *pud_alloc_one(mm_struct *mm) noexcept nogil
cdef void pte_free(mm_struct *mm, page *pte_page) noexcept nogil
cdef page *pgd_alloc(mm_struct *mm) noexcept nogil
cdef void pgd_free(mm_struct *mm, page *pgd) noexcept nogil
from kmm.linux.include_.linux.mm_types cimport vm_area_struct
cdef bint ptep_clear_flush_young(vm_area_struct *vma, unsigned long address,
                                 unsigned long *ptep) noexcept nogil
