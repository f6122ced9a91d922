from kmm.linux.include_.linux.mm_types cimport folio, address_space
from kmm.linux.include_.linux.mm cimport vm_fault, vm_fault_t

cdef folio *filemap_get_folio(address_space *mapping, unsigned long index) noexcept nogil
cdef int filemap_add_folio(address_space *mapping, folio *f, unsigned long index,
                           unsigned int gfp) noexcept nogil
cdef folio *filemap_read_folio(address_space *mapping, unsigned long index) noexcept nogil
cdef vm_fault_t filemap_fault(vm_fault *vmf) noexcept nogil
cdef vm_fault_t filemap_page_mkwrite(vm_fault *vmf) noexcept nogil
cdef long filemap_read(address_space *mapping, unsigned long index, unsigned int *version) noexcept nogil
cdef long generic_perform_write(address_space *mapping, unsigned long index) noexcept nogil
cdef void folio_cancel_dirty(folio *f) noexcept nogil
cdef void __filemap_remove_folio(folio *f, void *shadow) noexcept nogil
cdef void filemap_remove_folio(folio *f) noexcept nogil
