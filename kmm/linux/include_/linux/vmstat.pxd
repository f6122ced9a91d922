# Mirrors include/linux/vmstat.h: event counters (per CPU, summed on read)
# and the zone / node page-state counters.

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mmzone cimport zone, pglist_data, NR_FREE_PAGES
from kmm.linux.include_.linux.vm_event_item cimport PGALLOC_DMA


# What shrink_folio_list() did with a batch (mm/vmscan.c fills it; the
# vmscan:mm_vmscan_lru_shrink_inactive tracepoint prints it).  No writeback
# is modelled, so nr_writeback, nr_congested, nr_immediate and nr_pageout
# stay 0; nothing here is unmapped outside migration, so nr_unmap_fail and
# nr_lazyfree_fail stay 0 too.
cdef struct reclaim_stat:
    unsigned int nr_dirty
    unsigned int nr_unqueued_dirty
    unsigned int nr_congested
    unsigned int nr_writeback
    unsigned int nr_immediate
    unsigned int nr_pageout
    unsigned int nr_activate[2]      # [0] anon, [1] file
    unsigned int nr_ref_keep
    unsigned int nr_unmap_fail
    unsigned int nr_lazyfree_fail

cdef inline void __count_vm_event(int item) noexcept nogil:
    cdef kmm_machine *m = KMM()
    m.cpus[m.cpu].vm_event_states.event[item] += 1

cdef inline void count_vm_event(int item) noexcept nogil:
    __count_vm_event(item)

cdef inline void __count_vm_events(int item, long delta) noexcept nogil:
    cdef kmm_machine *m = KMM()
    m.cpus[m.cpu].vm_event_states.event[item] += delta

cdef inline void count_vm_events(int item, long delta) noexcept nogil:
    __count_vm_events(item, delta)

cdef inline void count_vm_numa_event(int item) noexcept nogil:
    """include/linux/vmstat.h (CONFIG_NUMA_BALANCING)"""
    count_vm_event(item)

cdef inline void count_vm_numa_events(int item, long delta) noexcept nogil:
    """include/linux/vmstat.h (CONFIG_NUMA_BALANCING)"""
    count_vm_events(item, delta)

cdef inline void count_vm_tlb_event(int item) noexcept nogil:
    """include/linux/vmstat.h: counts only with CONFIG_DEBUG_TLBFLUSH."""
    if KMM().kconfig.CONFIG_DEBUG_TLBFLUSH:
        count_vm_event(item)

cdef inline void count_vm_tlb_events(int item, long delta) noexcept nogil:
    """include/linux/vmstat.h: counts only with CONFIG_DEBUG_TLBFLUSH."""
    if KMM().kconfig.CONFIG_DEBUG_TLBFLUSH:
        count_vm_events(item, delta)

cdef inline void __count_zid_vm_events(int item_base, int zid, long delta) noexcept nogil:
    """The FOR_ALL_ZONES items (PGALLOC, ALLOCSTALL, PGSCAN_SKIP): item_base is
    the item of ZONE_DMA (e.g. PGALLOC_DMA)."""
    __count_vm_events(item_base + zid, delta)

cdef inline void __count_numa_event(zone *z, int item) noexcept nogil:
    z.vm_numa_event[item] += 1

cdef inline void __count_numa_events(zone *z, int item, long delta) noexcept nogil:
    z.vm_numa_event[item] += delta

cdef inline void __mod_zone_page_state(zone *z, int item, long delta) noexcept nogil:
    z.vm_stat[item] += delta

cdef inline void mod_zone_page_state(zone *z, int item, long delta) noexcept nogil:
    z.vm_stat[item] += delta

cdef inline long zone_page_state(const zone *z, int item) noexcept nogil:
    return z.vm_stat[item]

cdef inline void __mod_node_page_state(pglist_data *pgdat, int item, long delta) noexcept nogil:
    pgdat.vm_stat[item] += delta

cdef inline void mod_node_page_state(pglist_data *pgdat, int item, long delta) noexcept nogil:
    pgdat.vm_stat[item] += delta

cdef inline long node_page_state(const pglist_data *pgdat, int item) noexcept nogil:
    return pgdat.vm_stat[item]

cdef inline void __mod_zone_freepage_state(zone *z, long nr_pages, int migratetype) noexcept nogil:
    __mod_zone_page_state(z, NR_FREE_PAGES, nr_pages)
