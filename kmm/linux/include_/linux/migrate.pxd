# Mirrors include/linux/migrate.h: the results of a folio's migration steps
# and the callbacks that allocate and free destination folios.  The
# functions are in kmm/linux/mm/migrate.pyx (mm/migrate.c).

from kmm.linux.include_.linux.mm_types cimport folio

cdef enum:
    MIGRATEPAGE_SUCCESS = 0
    MIGRATEPAGE_UNMAP = 1    # the source is unmapped, the move is still to do

# new_folio_t / free_folio_t: the allocator of a destination folio for src,
# and how to give back one that was not used (NULL: folio_put)
ctypedef folio *(*new_folio_t)(folio *src, unsigned long private) noexcept nogil
ctypedef void (*free_folio_t)(folio *dst, unsigned long private) noexcept nogil
