from kmm.linux.include_.linux.mm_types cimport page, folio, vm_area_struct, anon_vma, mm_struct

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
cdef int anon_vma_fork(vm_area_struct *vma, vm_area_struct *pvma) noexcept nogil

# the unmap / migrate side
from kmm.linux.include_.linux.rmap cimport rmap_walk_control, page_vma_mapped_walk_s
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t
cdef anon_vma *folio_get_anon_vma(folio *f) noexcept nogil
cdef unsigned long *mm_find_pmd(mm_struct *mm, unsigned long address) noexcept nogil
cdef bint page_vma_mapped_walk(page_vma_mapped_walk_s *pvmw) noexcept nogil
cdef void rmap_walk(folio *f, rmap_walk_control *rwc) noexcept nogil
cdef void rmap_walk_locked(folio *f, rmap_walk_control *rwc) noexcept nogil
cdef void fold_ubc_ro() noexcept nogil
cdef void try_to_unmap_flush() noexcept nogil
cdef void try_to_unmap_flush_dirty() noexcept nogil
cdef void set_tlb_ubc_flush_pending(mm_struct *mm, pte_t pteval, unsigned long uaddr) noexcept nogil
cdef bint should_defer_flush(mm_struct *mm, int flags) noexcept nogil
cdef bint try_to_migrate_one(folio *f, vm_area_struct *vma, unsigned long address, void *arg) noexcept nogil
cdef void try_to_migrate(folio *f, int flags) noexcept nogil
cdef bint try_to_unmap_one(folio *f, vm_area_struct *vma, unsigned long address, void *arg) noexcept nogil
cdef void try_to_unmap(folio *f, int flags) noexcept nogil
cdef int folio_referenced(folio *f, int is_locked, void *memcg, unsigned long *vm_flags) noexcept nogil

from kmm.linux.include_.linux.list cimport list_head
cdef void kmm_read_ahead_folio_ptes(list_head *folios) noexcept nogil
