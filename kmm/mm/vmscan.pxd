from kmm.include_.linux.gfp_types cimport gfp_t
from kmm.include_.linux.mmzone cimport zone, pglist_data, zonelist
from kmm.include_.linux.nodemask cimport nodemask_t

cdef enum:
    MAX_RECLAIM_RETRIES = 16

cdef bint pgdat_balanced(pglist_data *pgdat, int order, int highest_zoneidx) noexcept nogil
cdef void wakeup_kswapd(zone *z, gfp_t gfp_flags, int order, int highest_zoneidx) noexcept nogil
cdef unsigned long try_to_free_pages(zonelist *zl, int order, gfp_t gfp_mask,
                                     nodemask_t *nodemask) noexcept nogil
cdef int kswapd_run(int nid) noexcept nogil
from kmm.include_.linux.mm_types cimport folio
cdef bint folio_isolate_lru(folio *f) noexcept nogil
cdef void folio_putback_lru(folio *f) noexcept nogil
cdef folio *alloc_demote_folio(folio *src, unsigned long private) noexcept nogil
