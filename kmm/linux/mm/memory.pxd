from kmm.linux.include_.linux.mm_types cimport page, folio, mm_struct, vm_area_struct
from kmm.linux.include_.linux.mm cimport vm_fault, vm_fault_t
from kmm.linux.include_.asm_generic.tlb cimport mmu_gather

cdef bint is_zero_pfn(unsigned long pfn) noexcept nogil
cdef page *vm_normal_page(vm_area_struct *vma, unsigned long addr, unsigned long pte) noexcept nogil
cdef void kmm_read_ahead_pte_pages(unsigned long *pmd, unsigned long addr, unsigned long end,
                                   bint protnone_too) noexcept nogil
cdef int __pte_alloc(mm_struct *mm, unsigned long *pmd) noexcept nogil
cdef unsigned long *pte_alloc_walk(mm_struct *mm, unsigned long addr) noexcept nogil
cdef vm_fault_t handle_mm_fault(vm_area_struct *vma, unsigned long address,
                                unsigned int flags) noexcept nogil
cdef vm_fault_t do_wp_page(vm_fault *vmf) noexcept nogil
cdef vm_fault_t do_numa_page(vm_fault *vmf) noexcept nogil
cdef void unmap_page_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long addr,
                           unsigned long end) noexcept nogil
cdef void unmap_vmas(mmu_gather *tlb, vm_area_struct *vma, unsigned long start_addr,
                     unsigned long end_addr) noexcept nogil
cdef void free_pgd_range(mmu_gather *tlb, mm_struct *mm, unsigned long addr, unsigned long end,
                         unsigned long floor, unsigned long ceiling) noexcept nogil
cdef void free_all_pgtables(mm_struct *mm) noexcept nogil
cdef int copy_page_range(vm_area_struct *dst_vma, vm_area_struct *src_vma) noexcept nogil
from kmm.linux.include_.linux.mm_types cimport address_space
cdef void zap_page_range_single(vm_area_struct *vma, unsigned long address,
                                unsigned long size) noexcept nogil
cdef void unmap_mapping_pages(address_space *mapping, unsigned long start, unsigned long nr,
                              bint even_cows) noexcept nogil
cdef void unmap_mapping_range(address_space *mapping, unsigned long holebegin,
                              unsigned long holelen, int even_cows) noexcept nogil
