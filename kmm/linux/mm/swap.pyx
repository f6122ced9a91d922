"""Mirrors mm/swap.c: the last folio_put() and adding folios to the LRU.

The kernel batches LRU additions per CPU (folio_batch); the emulator adds
at once, so LRU counters are exact at every step.
"""

from kmm.linux.include_.linux.mm_types cimport folio
from kmm.linux.include_.linux.page_flags cimport folio_test_lru, __folio_clear_lru, folio_set_lru
from kmm.linux.include_.linux.mm_inline cimport folio_lruvec, lruvec_del_folio, lruvec_add_folio
from kmm.linux.mm.page_alloc cimport free_unref_page


cdef inline void __page_cache_release(folio *f) noexcept nogil:
    """mm/swap.c: take a dying folio off its LRU list."""
    if folio_test_lru(f):
        lruvec_del_folio(folio_lruvec(f), f)
        __folio_clear_lru(f)


cdef void __folio_put(folio *f) noexcept nogil:
    """mm/swap.c: free a folio whose refcount reached zero."""
    __page_cache_release(f)
    free_unref_page(f, 0)


cdef void folio_add_lru(folio *f) noexcept nogil:
    """mm/swap.c: put a new folio on its LRU list (lru_add_fn)."""
    folio_set_lru(f)
    lruvec_add_folio(folio_lruvec(f), f)
