from kmm.linux.include_.linux.mm_types cimport folio
cdef bint folio_mark_dirty(folio *f) noexcept nogil
