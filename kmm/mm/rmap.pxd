from kmm.include_.linux.mm_types cimport page, folio, vm_area_struct, anon_vma, mm_struct

cdef int anon_vma_prepare(vm_area_struct *vma) noexcept nogil
cdef void unlink_anon_vmas(vm_area_struct *vma) noexcept nogil
cdef void put_anon_vma(anon_vma *av) noexcept nogil
cdef unsigned long vma_address(page *p, vm_area_struct *vma) noexcept nogil
cdef void folio_add_new_anon_rmap(folio *f, vm_area_struct *vma, unsigned long address) noexcept nogil
cdef void page_add_anon_rmap(page *p, vm_area_struct *vma, unsigned long address, int flags) noexcept nogil
cdef void page_add_file_rmap(page *p, vm_area_struct *vma, bint compound) noexcept nogil
cdef void page_remove_rmap(page *p, vm_area_struct *vma, bint compound) noexcept nogil
cdef void page_move_anon_rmap(page *p, vm_area_struct *vma) noexcept nogil
cdef void flush_tlb_batched_pending(mm_struct *mm) noexcept nogil
cdef int anon_vma_clone(vm_area_struct *dst, vm_area_struct *src) noexcept nogil
