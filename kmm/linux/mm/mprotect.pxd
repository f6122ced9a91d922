from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct, pgprot_t
from kmm.linux.include_.asm_generic.tlb cimport mmu_gather
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t

cdef bint can_change_pte_writable(vm_area_struct *vma, unsigned long addr, pte_t pte) noexcept nogil
cdef long change_pte_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long *pmd,
                           unsigned long addr, unsigned long end, pgprot_t newprot,
                           unsigned long cp_flags) noexcept nogil
cdef long change_protection_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long addr,
                                  unsigned long end, pgprot_t newprot,
                                  unsigned long cp_flags) noexcept nogil
cdef long change_protection(mmu_gather *tlb, vm_area_struct *vma, unsigned long start,
                            unsigned long end, unsigned long cp_flags) noexcept nogil
cdef int mprotect_fixup(mmu_gather *tlb, vm_area_struct *vma, vm_area_struct **pprev,
                        unsigned long start, unsigned long end,
                        unsigned long newflags) noexcept nogil
cdef int do_mprotect_pkey(mm_struct *mm, unsigned long start, unsigned long len,
                          unsigned long prot, int pkey) noexcept nogil
