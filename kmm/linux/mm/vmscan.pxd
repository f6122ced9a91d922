from kmm.linux.include_.linux.list cimport list_head
from kmm.linux.include_.linux.gfp_types cimport gfp_t
from kmm.linux.include_.linux.mmzone cimport zone, pglist_data, zonelist
from kmm.linux.include_.linux.nodemask cimport nodemask_t
from kmm.linux.include_.linux.vmstat cimport reclaim_stat

cdef enum:
    MAX_RECLAIM_RETRIES = 16

cdef bint pgdat_balanced(pglist_data *pgdat, int order, int highest_zoneidx) noexcept nogil
cdef void wakeup_kswapd(zone *z, gfp_t gfp_flags, int order, int highest_zoneidx) noexcept nogil
cdef unsigned long try_to_free_pages(zonelist *zl, int order, gfp_t gfp_mask,
                                     nodemask_t *nodemask) noexcept nogil
cdef int kswapd_run(int nid) noexcept nogil
from kmm.linux.include_.linux.mm_types cimport folio
cdef bint folio_isolate_lru(folio *f) noexcept nogil
cdef void folio_putback_lru(folio *f) noexcept nogil
cdef folio *alloc_demote_folio(folio *src, unsigned long private) noexcept nogil
from kmm.linux.include_.linux.mm_types cimport page
cdef unsigned int demote_folio_list(list_head *demote_folios, pglist_data *pgdat) noexcept nogil
cdef unsigned int kmm_demote_folios(page **pages, long nr, int target_nid) noexcept nogil

cdef struct scan_control:
    unsigned long nr_to_reclaim
    unsigned int gfp_mask
    int order
    int priority
    int reclaim_idx
    bint may_writepage
    bint may_unmap
    bint may_swap
    unsigned int may_deactivate              # DEACTIVATE_ANON | DEACTIVATE_FILE
    bint skipped_deactivate
    bint no_demotion
    unsigned long nr_scanned
    unsigned long nr_reclaimed

cdef bint kmm_kswapd_step(pglist_data *pgdat) noexcept nogil
cdef bint kmm_kswapd_runnable(pglist_data *pgdat) noexcept nogil
cdef unsigned long kmm_kswapd_run_once(pglist_data *pgdat) noexcept nogil
cdef unsigned int shrink_folio_list(list_head *folio_list, pglist_data *pgdat,
                                    scan_control *sc, reclaim_stat *stat) noexcept nogil
cdef bint can_demote(int nid, scan_control *sc) noexcept nogil
