# Mirrors include/linux/pagemap.h: the folio lock.  Nothing in the emulator
# sleeps, so a lock is only ever tried: a locked folio belongs to an
# operation in progress (or to a test that locked it on purpose).

from kmm.linux.include_.linux.mm_types cimport folio
from kmm.linux.include_.linux.page_flags cimport folio_test_set_locked, folio_clear_locked


cdef inline bint folio_trylock(folio *f) noexcept nogil:
    return not folio_test_set_locked(f)

cdef inline void folio_unlock(folio *f) noexcept nogil:
    folio_clear_locked(f)
