from kmm.linux.include_.linux.mm_types cimport folio

cdef void __folio_put(folio *f) noexcept nogil
cdef void folio_add_lru(folio *f) noexcept nogil
