# Mirrors include/linux/mm_inline.h: which LRU list a folio belongs on, and
# adding/removing it with the node and zone LRU counters kept in step.

from kmm.linux.include_.linux.list cimport list_add, list_add_tail, list_del
from kmm.linux.include_.linux.mm_types cimport folio
from kmm.linux.include_.linux.mmzone cimport (lruvec, pglist_data, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE,
                                       LRU_ACTIVE, LRU_UNEVICTABLE, NR_LRU_BASE, NR_ZONE_LRU_BASE)
from kmm.linux.include_.linux.page_flags cimport (folio_test_swapbacked, folio_test_active,
                                           folio_test_unevictable)
from kmm.linux.include_.linux.mm cimport folio_pgdat, folio_zone, folio_nr_pages, page_zonenum
from kmm.linux.include_.linux.vmstat cimport __mod_node_page_state, __mod_zone_page_state


cdef inline bint folio_is_file_lru(folio *f) noexcept nogil:
    return not folio_test_swapbacked(f)

cdef inline int folio_lru_list(folio *f) noexcept nogil:
    cdef int lru
    if folio_test_unevictable(f):
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_FILE if folio_is_file_lru(f) else LRU_INACTIVE_ANON
    if folio_test_active(f):
        lru += LRU_ACTIVE
    return lru

cdef inline lruvec *folio_lruvec(folio *f) noexcept nogil:
    return &folio_pgdat(f).__lruvec

cdef inline void update_lru_size(lruvec *lv, int lru, int zid, long nr_pages) noexcept nogil:
    __mod_node_page_state(lv.pgdat, NR_LRU_BASE + lru, nr_pages)
    __mod_zone_page_state(&lv.pgdat.node_zones[zid], NR_ZONE_LRU_BASE + lru, nr_pages)

cdef inline void lruvec_add_folio(lruvec *lv, folio *f) noexcept nogil:
    cdef int lru = folio_lru_list(f)
    update_lru_size(lv, lru, page_zonenum(f), folio_nr_pages(f))
    list_add(&f.lru, &lv.lists[lru])

cdef inline void lruvec_add_folio_tail(lruvec *lv, folio *f) noexcept nogil:
    cdef int lru = folio_lru_list(f)
    update_lru_size(lv, lru, page_zonenum(f), folio_nr_pages(f))
    list_add_tail(&f.lru, &lv.lists[lru])

cdef inline void lruvec_del_folio(lruvec *lv, folio *f) noexcept nogil:
    cdef int lru = folio_lru_list(f)
    list_del(&f.lru)
    update_lru_size(lv, lru, page_zonenum(f), -folio_nr_pages(f))
