# Mirrors include/linux/mmzone.h: zones, nodes (pglist_data), free areas of
# the buddy allocator, LRU lists, watermarks and the per-zone and per-node
# stat items (the subset the mirrored paths keep, in the kernel's order).

from kmm.linux.include_.linux.list cimport list_head, llist_head
from kmm.linux.include_.linux.nodemask cimport MAX_NUMNODES
from kmm.linux.include_.linux.sched cimport task_struct

from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT, PAGE_SIZE

cdef enum:
    MAX_ORDER = 10
    NR_PAGE_ORDERS = MAX_ORDER + 1
    pageblock_order = 9          # HUGETLB_PAGE_ORDER on x86-64

# x86-64: CONFIG_ZONE_DMA32, no HIGHMEM, no ZONE_DEVICE; ZONE_DMA stays in
# the enum without CONFIG_ZONE_DMA, empty (kmm/linux/mm/mm_init.pyx)
cdef enum:  # enum zone_type
    ZONE_DMA
    ZONE_DMA32
    ZONE_NORMAL
    ZONE_MOVABLE
    MAX_NR_ZONES

cdef enum:  # enum zone_watermarks
    WMARK_MIN
    WMARK_LOW
    WMARK_HIGH
    WMARK_PROMO
    NR_WMARK

cdef enum:  # enum zone_stat_item
    NR_FREE_PAGES
    NR_ZONE_INACTIVE_ANON
    NR_ZONE_ACTIVE_ANON
    NR_ZONE_INACTIVE_FILE
    NR_ZONE_ACTIVE_FILE
    NR_ZONE_UNEVICTABLE
    NR_ZONE_WRITE_PENDING
    NR_MLOCK
    NR_BOUNCE
    NR_FREE_CMA_PAGES
    NR_VM_ZONE_STAT_ITEMS

cdef enum:
    NR_ZONE_LRU_BASE = NR_ZONE_INACTIVE_ANON

cdef enum:  # enum numa_stat_item
    NUMA_HIT
    NUMA_MISS
    NUMA_FOREIGN
    NUMA_INTERLEAVE_HIT
    NUMA_LOCAL
    NUMA_OTHER
    NR_VM_NUMA_EVENT_ITEMS

cdef enum:  # enum node_stat_item
    NR_INACTIVE_ANON
    NR_ACTIVE_ANON
    NR_INACTIVE_FILE
    NR_ACTIVE_FILE
    NR_UNEVICTABLE
    NR_SLAB_RECLAIMABLE_B
    NR_SLAB_UNRECLAIMABLE_B
    NR_ISOLATED_ANON
    NR_ISOLATED_FILE
    NR_ANON_MAPPED
    NR_FILE_MAPPED
    NR_FILE_PAGES
    NR_FILE_DIRTY
    NR_WRITEBACK
    NR_SHMEM
    NR_PAGETABLE
    PGPROMOTE_SUCCESS
    PGPROMOTE_CANDIDATE
    NR_VM_NODE_STAT_ITEMS

cdef enum:
    NR_LRU_BASE = NR_INACTIVE_ANON

cdef enum:  # enum lru_list
    LRU_INACTIVE_ANON
    LRU_ACTIVE_ANON
    LRU_INACTIVE_FILE
    LRU_ACTIVE_FILE
    LRU_UNEVICTABLE
    NR_LRU_LISTS

cdef enum:
    LRU_BASE = 0
    LRU_ACTIVE = 1
    LRU_FILE = 2

cdef enum:
    ZONELIST_FALLBACK = 0
    ZONELIST_NOFALLBACK = 1
    MAX_ZONELISTS = 2
    MAX_ZONES_PER_ZONELIST = MAX_NUMNODES * MAX_NR_ZONES

# pgdat->flags / zone->flags bits used by reclaim
cdef enum:
    PGDAT_DIRTY = 0
    PGDAT_WRITEBACK = 1
    PGDAT_RECLAIM_LOCKED = 2
    ZONE_BOOSTED_WATERMARK = 0


cdef struct free_area:
    # The emulator keeps one free list per order: every page is
    # MIGRATE_MOVABLE, there are no pageblock migratetypes to fall back from.
    list_head free_list
    unsigned long nr_free

cdef struct pglist_data

cdef struct zone:
    unsigned long _watermark[4]              # NR_WMARK
    unsigned long watermark_boost
    unsigned long nr_reserved_highatomic
    long lowmem_reserve[4]                   # MAX_NR_ZONES
    int node
    pglist_data *zone_pgdat
    unsigned long zone_start_pfn
    unsigned long managed_pages
    unsigned long spanned_pages
    unsigned long present_pages
    const char *name
    free_area free_area[11]                  # NR_PAGE_ORDERS
    unsigned long flags
    long vm_stat[10]                         # NR_VM_ZONE_STAT_ITEMS
    long vm_numa_event[6]                    # NR_VM_NUMA_EVENT_ITEMS
    int migrc_pending_nr                     # seed patch: deferred-flush folios held in this zone

cdef struct zoneref:
    zone *zone
    int zone_idx

cdef struct zonelist:
    zoneref _zonerefs[33]                    # MAX_ZONES_PER_ZONELIST + 1, NULL-terminated

cdef struct lruvec:
    list_head lists[5]                       # NR_LRU_LISTS
    pglist_data *pgdat

cdef struct pglist_data:
    zone node_zones[4]                       # MAX_NR_ZONES
    zonelist node_zonelists[2]               # MAX_ZONELISTS
    int nr_zones                             # highest populated zone index + 1
    unsigned long node_start_pfn
    unsigned long node_present_pages
    unsigned long node_spanned_pages
    int node_id
    # kswapd
    task_struct *kswapd
    bint kswapd_wait_active                  # emulator: kswapd is sleeping on kswapd_wait
    bint kswapd_woken                        # emulator: a wakeup is pending
    int kswapd_order
    int kswapd_highest_zoneidx
    int kswapd_failures
    # emulator: balance_pgdat()'s loop state while kswapd balances the node
    # one pass at a time (mm/vmscan.c kmm_kswapd_step; the engine shares its CPU)
    bint kmm_kswapd_balancing
    int kmm_kswapd_order
    int kmm_kswapd_zoneidx
    int kmm_kswapd_priority
    unsigned long kmm_kswapd_nr_reclaimed
    unsigned long kmm_kswapd_nap_until       # kswapd_try_to_sleep()'s HZ/10 nap ends (jiffies; 0: none)
    int kmm_kswapd_cpu                       # the CPU it runs on while balancing
    long long kmm_kswapd_vruntime_ns         # CPU time it is owed (> 0) or overdrew
    lruvec __lruvec
    unsigned long flags
    long vm_stat[18]                         # NR_VM_NODE_STAT_ITEMS
    # NUMA-balancing promotion rate limit and threshold (memory tiering)
    unsigned long nbp_rl_start
    unsigned long nbp_rl_nr_cand
    unsigned int nbp_threshold
    unsigned long nbp_th_start
    unsigned long nbp_th_nr_cand
    # seed patch: migrc requests whose source folios live on this node
    llist_head migrc_reqs


cdef inline unsigned long zone_managed_pages(const zone *z) noexcept nogil:
    return z.managed_pages

cdef inline bint populated_zone(const zone *z) noexcept nogil:
    return z.present_pages != 0

cdef inline bint managed_zone(const zone *z) noexcept nogil:
    return z.managed_pages != 0

cdef inline unsigned long wmark_pages(const zone *z, int i) noexcept nogil:
    return z._watermark[i] + z.watermark_boost

cdef inline unsigned long min_wmark_pages(const zone *z) noexcept nogil:
    return z._watermark[WMARK_MIN] + z.watermark_boost

cdef inline unsigned long low_wmark_pages(const zone *z) noexcept nogil:
    return z._watermark[WMARK_LOW] + z.watermark_boost

cdef inline unsigned long high_wmark_pages(const zone *z) noexcept nogil:
    return z._watermark[WMARK_HIGH] + z.watermark_boost

cdef inline unsigned long promo_wmark_pages(const zone *z) noexcept nogil:
    return z._watermark[WMARK_PROMO] + z.watermark_boost

cdef inline int zone_idx(const zone *z) noexcept nogil:
    return <int>(z - &z.zone_pgdat.node_zones[0])

cdef inline int zone_to_nid(const zone *z) noexcept nogil:
    return z.node

cdef inline bint zone_spans_pfn(const zone *z, unsigned long pfn) noexcept nogil:
    return z.zone_start_pfn <= pfn < z.zone_start_pfn + z.spanned_pages

cdef inline bint free_area_empty(free_area *area) noexcept nogil:
    return area.free_list.next == &area.free_list

cdef inline int is_file_lru(int lru) noexcept nogil:
    return lru == LRU_INACTIVE_FILE or lru == LRU_ACTIVE_FILE

cdef inline int is_active_lru(int lru) noexcept nogil:
    return lru == LRU_ACTIVE_ANON or lru == LRU_ACTIVE_FILE
