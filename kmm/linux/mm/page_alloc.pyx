"""Mirrors mm/page_alloc.c: the buddy allocator, watermarks and zonelists.

Emulator simplifications, each noted where it applies: no per-CPU page
lists (order-0 pages go straight to and from the buddy lists, so
NR_FREE_PAGES is exact at every step), one migratetype (MIGRATE_MOVABLE),
no CMA, no high-atomic reserves, no OOM killer (an allocation that would
OOM-kill fails instead).
"""

from kmm.linux.include_.kmm.trace cimport KMM_SITE_MIGRC_ALLOC
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.linux.include_.linux.swap cimport SWAP_CLUSTER_MAX
from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_PAGE_ALLOC, KMM_COST_PAGE_FREE
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, NODE_DATA, numa_node_id, get_current
from kmm.linux.include_.linux.gfp_types cimport *
from kmm.linux.include_.linux.gfp cimport gfp_zone
from kmm.linux.include_.linux.list cimport list_head, list_add, list_add_tail, list_del, INIT_LIST_HEAD
from kmm.linux.include_.linux.mm_types cimport page, folio
from kmm.linux.include_.linux.mmzone cimport *
from kmm.linux.include_.linux.nodemask cimport nodemask_t, node_isset, MAX_NUMNODES
from kmm.linux.include_.linux.page_flags cimport (PageBuddy, __SetPageBuddy, __ClearPageBuddy,
                                           PAGEFLAGS_MASK, PG_hwpoison, PG_reserved, NODES_PGSHIFT,
                                           folio_test_mlocked, __folio_clear_mlocked,
                                           folio_test_hwpoison, folio_test_head)
from kmm.linux.include_.linux.page_ref cimport set_page_count, page_ref_dec_and_test, page_ref_count
from kmm.linux.include_.linux.mm cimport (pfn_to_page, page_to_pfn, page_zone, page_zonenum,
                                   PageMappingFlags, page_cpupid_reset_last)
from kmm.linux.include_.linux.vmstat cimport (__mod_zone_freepage_state, zone_page_state,
                                       __count_vm_events, __count_zid_vm_events,
                                       __count_numa_events)
from kmm.linux.include_.linux.vm_event_item cimport PGALLOC_DMA, PGFREE
from kmm.linux.mm.internal cimport *
from kmm.emu.debug.oracle cimport oracle_alloc_pages
from kmm.linux.include_.linux.math cimport int_sqrt
from kmm.linux.mm.migrate cimport migrc_flush_free_folios, migrc_pause, migrc_resume, migrc_paused
from kmm.linux.mm.vmscan cimport wakeup_kswapd, try_to_free_pages
from kmm.linux.mm.fail_page_alloc cimport __should_fail_alloc_page

cdef extern from *:
    int __builtin_ctzl(unsigned long) nogil

cdef enum:
    PAGE_ALLOC_COSTLY_ORDER = 3


# ---------------------------------------------------------------------------
# Free path

cdef inline void set_buddy_order(page *p, unsigned int order) noexcept nogil:
    p.private = order
    __SetPageBuddy(p)

cdef inline unsigned int buddy_order(page *p) noexcept nogil:
    return <unsigned int>p.private

cdef inline void add_to_free_list(page *p, zone *z, unsigned int order, int mt) noexcept nogil:
    list_add(&p.lru, &z.free_area[order].free_list)
    z.free_area[order].nr_free += 1

cdef inline void add_to_free_list_tail(page *p, zone *z, unsigned int order, int mt) noexcept nogil:
    list_add_tail(&p.lru, &z.free_area[order].free_list)
    z.free_area[order].nr_free += 1

cdef inline void del_page_from_free_list(page *p, zone *z, unsigned int order) noexcept nogil:
    list_del(&p.lru)
    __ClearPageBuddy(p)
    p.private = 0
    z.free_area[order].nr_free -= 1

cdef inline unsigned long page_zone_id(const page *p) noexcept nogil:
    """include/linux/mm.h: node and zone bits together."""
    return p.flags >> NODES_PGSHIFT

cdef inline bint page_is_buddy(page *p, page *buddy, unsigned int order) noexcept nogil:
    """The buddy is free, of the same order and in the same zone."""
    if not PageBuddy(buddy) or buddy_order(buddy) != order:
        return False
    return page_zone_id(p) == page_zone_id(buddy)

cdef inline page *find_buddy_page_pfn(page *p, unsigned long pfn, unsigned int order,
                                      unsigned long *buddy_pfn) noexcept nogil:
    # mem_map is padded to a MAX_ORDER block (like the kernel's memmap,
    # which covers whole sections), so the buddy's struct page exists.
    # The buddy's pfn is reported even when it is not free: after the merge
    # loop, buddy_merge_likely() needs the buddy at the final order.
    cdef unsigned long bpfn = pfn ^ (1UL << order)
    cdef page *buddy = p + (<long>bpfn - <long>pfn)
    if buddy_pfn != NULL:
        buddy_pfn[0] = bpfn
    if page_is_buddy(p, buddy, order):
        return buddy
    return NULL

cdef inline bint buddy_merge_likely(unsigned long pfn, unsigned long buddy_pfn,
                                    page *p, unsigned int order) noexcept nogil:
    """Queue at the tail if the next-higher buddy is free: the block is likely
    to merge soon, so hand out other pages first."""
    cdef unsigned long higher_page_pfn, hbuddy
    cdef page *higher_page
    if order >= MAX_ORDER - 1:
        return False
    higher_page_pfn = buddy_pfn & pfn
    higher_page = p + (<long>higher_page_pfn - <long>pfn)
    return find_buddy_page_pfn(higher_page, higher_page_pfn, order + 1, &hbuddy) != NULL


cdef void __free_one_page(page *p, unsigned long pfn, zone *z, unsigned int order,
                          int migratetype, int fpi_flags) noexcept nogil:
    """mm/page_alloc.c: give 2^order pages back, merging with free buddies."""
    cdef unsigned long buddy_pfn = 0
    cdef unsigned long combined_pfn
    cdef page *buddy
    cdef bint to_tail
    __mod_zone_freepage_state(z, 1 << order, migratetype)
    while order < MAX_ORDER:
        buddy = find_buddy_page_pfn(p, pfn, order, &buddy_pfn)
        if buddy == NULL:
            break
        del_page_from_free_list(buddy, z, order)
        combined_pfn = buddy_pfn & pfn
        p = p + (<long>combined_pfn - <long>pfn)
        pfn = combined_pfn
        order += 1
    set_buddy_order(p, order)
    if fpi_flags & FPI_TO_TAIL:
        to_tail = True
    else:
        to_tail = buddy_merge_likely(pfn, buddy_pfn, p, order)
    if to_tail:
        add_to_free_list_tail(p, z, order, migratetype)
    else:
        add_to_free_list(p, z, order, migratetype)


cdef inline void free_one_page(zone *z, page *p, unsigned long pfn, unsigned int order,
                               int migratetype, int fpi_flags) noexcept nogil:
    __free_one_page(p, pfn, z, order, migratetype, fpi_flags)


cdef bint free_pages_prepare(page *p, unsigned int order) noexcept nogil:
    """mm/page_alloc.c: reset a page's state before it goes back to the buddy
    lists.  Clears every PG_* flag (so PG_migrc too) except PG_hwpoison.
    A hwpoisoned order-0 page is not freed at all: it must never reach
    the free lists."""
    cdef unsigned int i
    if folio_test_mlocked(p):
        __folio_clear_mlocked(p)
    if folio_test_hwpoison(p) and order == 0:
        return False
    for i in range(1, 1U << order):
        (p + i).flags &= ~(<unsigned long>PAGEFLAGS_MASK & ~(1UL << PG_hwpoison))
    if PageMappingFlags(p):
        p.mapping = 0
    page_cpupid_reset_last(p)
    p.flags &= ~(<unsigned long>PAGEFLAGS_MASK & ~(1UL << PG_hwpoison))
    return True


cdef void free_unref_page(page *p, unsigned int order) noexcept nogil:
    """mm/page_alloc.c: free a page whose last reference went away.  The
    kernel parks order-0 pages on per-CPU lists; the emulator frees them
    to the buddy lists at once."""
    cdef unsigned long pfn = page_to_pfn(p)
    kmm_charge(KMM_COST_PAGE_FREE, 1)
    if not free_pages_prepare(p, order):
        return
    __count_vm_events(PGFREE, 1 << order)
    free_one_page(page_zone(p), p, pfn, order, MIGRATE_MOVABLE, FPI_NONE)


cdef void __free_pages_ok(page *p, unsigned int order, int fpi_flags) noexcept nogil:
    cdef unsigned long pfn = page_to_pfn(p)
    kmm_charge(KMM_COST_PAGE_FREE, 1)
    if not free_pages_prepare(p, order):
        return
    free_one_page(page_zone(p), p, pfn, order, MIGRATE_MOVABLE, fpi_flags)
    __count_vm_events(PGFREE, 1 << order)


cdef inline void free_the_page(page *p, unsigned int order) noexcept nogil:
    if order <= PAGE_ALLOC_COSTLY_ORDER:
        free_unref_page(p, order)
    else:
        __free_pages_ok(p, order, FPI_NONE)


cdef void __free_pages(page *p, unsigned int order) noexcept nogil:
    """mm/page_alloc.c: drop a reference to a 2^order block.  If someone
    else still holds the first page of a non-compound block, the rest of
    the block is freed now, in halves from the top."""
    cdef bint head = folio_test_head(p)
    if page_ref_dec_and_test(p):
        free_the_page(p, order)
    elif not head:
        while order > 0:
            order -= 1
            free_the_page(p + (1 << order), order)


cdef void __free_pages_core(page *p, unsigned int order) noexcept nogil:
    """mm/page_alloc.c: hand boot memory to the buddy allocator."""
    cdef unsigned int nr_pages = 1U << order
    cdef unsigned int i
    for i in range(nr_pages):
        (p + i).flags &= ~(1UL << PG_reserved)
        set_page_count(p + i, 0)
    page_zone(p).managed_pages += nr_pages
    set_page_count(p, 1)
    page_ref_dec_and_test(p)
    __free_pages_ok(p, order, FPI_TO_TAIL)


# ---------------------------------------------------------------------------
# Allocation from the buddy lists

cdef inline void expand(zone *z, page *p, unsigned int low, unsigned int high,
                        int migratetype) noexcept nogil:
    """Split a 2^high block: the upper halves go back on the free lists."""
    cdef unsigned long size = 1UL << high
    while high > low:
        high -= 1
        size >>= 1
        add_to_free_list(&p[size], z, high, migratetype)
        set_buddy_order(&p[size], high)


cdef page *__rmqueue_smallest(zone *z, unsigned int order, int migratetype) noexcept nogil:
    """mm/page_alloc.c: the smallest free block of at least 2^order pages."""
    cdef unsigned int current_order
    cdef free_area *area
    cdef page *p
    for current_order in range(order, NR_PAGE_ORDERS):
        area = &z.free_area[current_order]
        if free_area_empty(area):
            continue
        p = <page *>(<char *>area.free_list.next - <size_t>&(<page *>NULL).lru)
        del_page_from_free_list(p, z, current_order)
        expand(z, p, order, current_order, migratetype)
        return p
    return NULL


cdef inline void zone_statistics(zone *preferred_zone, zone *z, long nr_account) noexcept nogil:
    cdef int local_stat = NUMA_LOCAL
    if zone_to_nid(z) != numa_node_id():
        local_stat = NUMA_OTHER
    if zone_to_nid(z) == zone_to_nid(preferred_zone):
        __count_numa_events(z, NUMA_HIT, nr_account)
    else:
        __count_numa_events(z, NUMA_MISS, nr_account)
        __count_numa_events(preferred_zone, NUMA_FOREIGN, nr_account)
    __count_numa_events(z, local_stat, nr_account)


cdef page *rmqueue(zone *preferred_zone, zone *z, unsigned int order, gfp_t gfp_flags,
                   unsigned int alloc_flags, int migratetype) noexcept nogil:
    """mm/page_alloc.c (rmqueue + rmqueue_buddy): take a block off the zone."""
    cdef page *p = __rmqueue_smallest(z, order, migratetype)
    if p == NULL:
        return NULL
    __mod_zone_freepage_state(z, -(1 << order), migratetype)
    __count_zid_vm_events(PGALLOC_DMA, page_zonenum(p), 1 << order)
    zone_statistics(preferred_zone, z, 1)
    return p


cdef void post_alloc_hook(page *p, unsigned int order, gfp_t gfp_flags) noexcept nogil:
    """mm/page_alloc.c: a block leaves the allocator: private cleared, one ref."""
    cdef unsigned int i
    p.private = 0
    set_page_count(p, 1)
    oracle_alloc_pages(p, order)
    if migrc_hunk(MIGRC_HUNK_PAGE_ALLOC_C_1):
        for i in range(1U << order):         # mm/page_alloc.c#1
            migrc_init_page(p + i)


cdef void prep_new_page(page *p, unsigned int order, gfp_t gfp_flags,
                        unsigned int alloc_flags) noexcept nogil:
    post_alloc_hook(p, order, gfp_flags)


# ---------------------------------------------------------------------------
# Watermarks

cdef inline long __zone_watermark_unusable_free(zone *z, unsigned int order,
                                                unsigned int alloc_flags) noexcept nogil:
    cdef long unusable_free = (1L << order) - 1
    if not (alloc_flags & ALLOC_RESERVES):
        unusable_free += z.nr_reserved_highatomic
    return unusable_free


cdef bint __zone_watermark_ok(zone *z, unsigned int order, unsigned long mark,
                              int highest_zoneidx, unsigned int alloc_flags,
                              long free_pages) noexcept nogil:
    """mm/page_alloc.c: may 2^order pages go while free_pages stay above mark?"""
    cdef long min = <long>mark
    cdef unsigned int o
    if migrc_hunk(MIGRC_HUNK_PAGE_ALLOC_C_2):
        free_pages += migrc_pending_nr_in_zone(z)     # mm/page_alloc.c#2
    free_pages -= __zone_watermark_unusable_free(z, order, alloc_flags)
    if alloc_flags & ALLOC_RESERVES:
        if alloc_flags & ALLOC_MIN_RESERVE:
            min -= min // 2
            if alloc_flags & ALLOC_NON_BLOCK:
                min -= min // 4
        if alloc_flags & ALLOC_OOM:
            min -= min // 2
    if free_pages <= min + z.lowmem_reserve[highest_zoneidx]:
        return False
    if order == 0:
        return True
    for o in range(order, NR_PAGE_ORDERS):
        if z.free_area[o].nr_free and not free_area_empty(&z.free_area[o]):
            return True
    return False


cdef bint zone_watermark_ok(zone *z, unsigned int order, unsigned long mark,
                            int highest_zoneidx, unsigned int alloc_flags) noexcept nogil:
    return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags,
                               zone_page_state(z, NR_FREE_PAGES))


cdef bint zone_watermark_fast(zone *z, unsigned int order, unsigned long mark,
                              int highest_zoneidx, unsigned int alloc_flags,
                              gfp_t gfp_mask) noexcept nogil:
    """mm/page_alloc.c: the order-0 fast check, then the full one."""
    cdef long free_pages = zone_page_state(z, NR_FREE_PAGES)
    cdef long usable_free, reserved
    if order == 0:
        usable_free = free_pages
        if migrc_hunk(MIGRC_HUNK_PAGE_ALLOC_C_3):
            usable_free = free_pages + migrc_pending_nr_in_zone(z)   # mm/page_alloc.c#3
        reserved = __zone_watermark_unusable_free(z, 0, alloc_flags)
        usable_free -= min(usable_free, reserved)
        if usable_free > <long>mark + z.lowmem_reserve[highest_zoneidx]:
            return True
    if __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages):
        return True
    if (order == 0 and (alloc_flags & ALLOC_MIN_RESERVE) and z.watermark_boost
            and (alloc_flags & ALLOC_WMARK_MASK) == WMARK_MIN):
        mark = z._watermark[WMARK_MIN]
        return __zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages)
    return False


cdef bint zone_watermark_ok_safe(zone *z, unsigned int order, unsigned long mark,
                                 int highest_zoneidx) noexcept nogil:
    """The kernel re-reads the exact (not per-CPU-drifted) free count here;
    the emulator's count is always exact."""
    return __zone_watermark_ok(z, order, mark, highest_zoneidx, 0,
                               zone_page_state(z, NR_FREE_PAGES))


cdef unsigned long nr_free_zone_pages(int offset) noexcept nogil:
    """Pages above the high watermark in zones <= offset, along the local
    node's fallback zonelist (which covers every node)."""
    cdef zonelist *zl = node_zonelist(numa_node_id(), GFP_KERNEL)
    cdef zoneref *z = first_zones_zonelist(zl, offset, NULL)
    cdef unsigned long total = 0, size, high
    while z.zone != NULL:
        size = zone_managed_pages(z.zone)
        high = high_wmark_pages(z.zone)
        if size > high:
            total += size - high
        z = next_zones_zonelist(z + 1, offset, NULL)
    return total


cdef unsigned long nr_free_buffer_pages() noexcept nogil:
    return nr_free_zone_pages(gfp_zone(GFP_USER))




cdef void calculate_min_free_kbytes() noexcept nogil:
    """mm/page_alloc.c: min_free_kbytes = sqrt(lowmem_kbytes * 16), clamped
    to [128, 262144], unless the user set a larger value."""
    cdef kmm_machine *m = KMM()
    cdef unsigned long lowmem_kbytes = nr_free_buffer_pages() * (PAGE_SIZE >> 10)
    cdef long new_min_free_kbytes = <long>int_sqrt(lowmem_kbytes * 16)
    if new_min_free_kbytes > m.user_min_free_kbytes:
        m.min_free_kbytes = <int>max(128, min(new_min_free_kbytes, 262144))


cdef void __setup_per_zone_wmarks() noexcept nogil:
    """mm/page_alloc.c: MIN in proportion to the zone's share of lowmem,
    LOW/HIGH/PROMO each a further max(MIN/4, managed * scale / 10000)."""
    cdef kmm_machine *m = KMM()
    cdef unsigned long pages_min = m.min_free_kbytes >> (PAGE_SHIFT - 10)
    cdef unsigned long lowmem_pages = 0
    cdef unsigned long long tmp, scaled
    cdef unsigned long min_pages
    cdef zone *z
    cdef int nid, zid
    for nid in range(m.nr_node_ids):
        for zid in range(MAX_NR_ZONES):
            z = &m.node_data[nid].node_zones[zid]
            if zid != ZONE_MOVABLE:
                lowmem_pages += zone_managed_pages(z)
    for nid in range(m.nr_node_ids):
        for zid in range(MAX_NR_ZONES):
            z = &m.node_data[nid].node_zones[zid]
            tmp = <unsigned long long>pages_min * zone_managed_pages(z)
            if lowmem_pages:
                tmp //= lowmem_pages
            if zid == ZONE_MOVABLE:
                min_pages = zone_managed_pages(z) // 1024
                min_pages = max(SWAP_CLUSTER_MAX(), min(min_pages, 128UL))
                z._watermark[WMARK_MIN] = min_pages
            else:
                z._watermark[WMARK_MIN] = tmp
            # mult_frac(managed, watermark_scale_factor, 10000)
            scaled = (zone_managed_pages(z) // 10000) * m.watermark_scale_factor + \
                ((zone_managed_pages(z) % 10000) * m.watermark_scale_factor) // 10000
            tmp = max(tmp >> 2, scaled)
            z.watermark_boost = 0
            z._watermark[WMARK_LOW] = min_wmark_pages(z) + tmp
            z._watermark[WMARK_HIGH] = low_wmark_pages(z) + tmp
            z._watermark[WMARK_PROMO] = high_wmark_pages(z) + tmp


cdef void setup_per_zone_wmarks() noexcept nogil:
    __setup_per_zone_wmarks()


cdef void setup_per_zone_lowmem_reserve() noexcept nogil:
    """mm/page_alloc.c: what a lower zone keeps back from allocations that
    could have used a higher zone: managed pages above it / ratio."""
    cdef kmm_machine *m = KMM()
    cdef pglist_data *pgdat
    cdef zone *z
    cdef int nid, i, j, ratio
    cdef bint clear
    cdef unsigned long managed_pages
    for nid in range(m.nr_node_ids):
        pgdat = m.node_data[nid]
        for i in range(MAX_NR_ZONES - 1):
            z = &pgdat.node_zones[i]
            ratio = m.sysctl_lowmem_reserve_ratio[i]
            clear = ratio == 0 or zone_managed_pages(z) == 0
            managed_pages = 0
            for j in range(i + 1, MAX_NR_ZONES):
                managed_pages += zone_managed_pages(&pgdat.node_zones[j])
                z.lowmem_reserve[j] = 0 if clear else managed_pages // ratio



# The proc handlers of the watermark sysctls (page_alloc_sysctl_table).  A
# handler here is the write half: proc_dointvec_minmax's parsing and range
# check are the caller's (Machine.set_sysctl validates against the table's
# extra1/extra2), the value arrives as an int.

cdef int min_free_kbytes_sysctl_handler(int value) noexcept nogil:
    """mm/page_alloc.c: vm.min_free_kbytes.  The value is also the user's
    floor, which calculate_min_free_kbytes() (memory hotplug) keeps; the
    watermarks are recomputed."""
    cdef kmm_machine *m = KMM()
    m.min_free_kbytes = value
    m.user_min_free_kbytes = m.min_free_kbytes
    setup_per_zone_wmarks()
    return 0


cdef int watermark_scale_factor_sysctl_handler(int value) noexcept nogil:
    """mm/page_alloc.c: vm.watermark_scale_factor; the watermarks are
    recomputed."""
    KMM().watermark_scale_factor = value
    setup_per_zone_wmarks()
    return 0


cdef int lowmem_reserve_ratio_sysctl_handler(const int *values) noexcept nogil:
    """mm/page_alloc.c: vm.lowmem_reserve_ratio (one ratio per zone); a
    ratio below 1 means no reserve (0); the reserves are recomputed."""
    cdef kmm_machine *m = KMM()
    cdef int i
    for i in range(MAX_NR_ZONES):
        m.sysctl_lowmem_reserve_ratio[i] = values[i]
        if m.sysctl_lowmem_reserve_ratio[i] < 1:
            m.sysctl_lowmem_reserve_ratio[i] = 0
    setup_per_zone_lowmem_reserve()
    return 0

cdef void init_per_zone_wmark_min() noexcept nogil:
    calculate_min_free_kbytes()
    setup_per_zone_wmarks()
    setup_per_zone_lowmem_reserve()


# ---------------------------------------------------------------------------
# Zonelists (mm/page_alloc.c build_zonelists; iterators from mm/mmzone.c)

# Nodes already put first in a distance group of some zonelist (static in
# the kernel too; cleared by build_all_zonelists()).
cdef int node_load[MAX_NUMNODES]


cdef inline int node_distance(int a, int b) noexcept nogil:
    return 10 if a == b else 20                 # LOCAL_DISTANCE, REMOTE_DISTANCE


cdef int find_next_best_node(int node, nodemask_t *used) noexcept nogil:
    """Nearest unused node; ties go to higher-numbered nodes after this one,
    then to nodes without CPUs, then to the less loaded node, as the
    kernel's penalties order them."""
    cdef kmm_machine *m = KMM()
    cdef int n, best_node = -1
    cdef long val, min_val = 1L << 60
    if not node_isset(node, used[0]):
        used[0] |= 1ULL << node
        return node
    for n in range(m.nr_node_ids):
        if node_isset(n, used[0]) or not node_isset(n, m.node_states_memory):
            continue
        val = node_distance(node, n)
        val += (n < node)
        if node_isset(n, m.node_states_cpu):
            val += 1                            # PENALTY_FOR_NODE_WITH_CPUS
        val *= MAX_NUMNODES
        val += node_load[n]
        if val < min_val:
            min_val = val
            best_node = n
    if best_node >= 0:
        used[0] |= 1ULL << best_node
    return best_node


cdef int build_zonerefs_node(pglist_data *pgdat, zoneref *zonerefs) noexcept nogil:
    cdef int zid = MAX_NR_ZONES
    cdef int nr = 0
    while zid > 0:
        zid -= 1
        if managed_zone(&pgdat.node_zones[zid]):
            zonerefs[nr].zone = &pgdat.node_zones[zid]
            zonerefs[nr].zone_idx = zid
            nr += 1
    return nr


cdef void build_zonelists(pglist_data *pgdat) noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef nodemask_t used = 0
    cdef int node, nr = 0, i
    cdef int local_node = pgdat.node_id, prev_node = pgdat.node_id
    cdef zoneref *zr = pgdat.node_zonelists[ZONELIST_FALLBACK]._zonerefs
    for i in range(m.nr_node_ids):
        node = find_next_best_node(local_node, &used)
        if node < 0:
            break
        # the first node of each distance group gets a penalty, so the
        # next node's zonelist starts that group elsewhere (round robin)
        if node_distance(local_node, node) != node_distance(local_node, prev_node):
            node_load[node] += 1
        prev_node = node
        nr += build_zonerefs_node(m.node_data[node], zr + nr)
    zr[nr].zone = NULL
    zr[nr].zone_idx = 0
    zr = pgdat.node_zonelists[ZONELIST_NOFALLBACK]._zonerefs
    nr = build_zonerefs_node(pgdat, zr)
    zr[nr].zone = NULL
    zr[nr].zone_idx = 0


cdef void build_all_zonelists() noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef int nid
    for nid in range(MAX_NUMNODES):
        node_load[nid] = 0
    for nid in range(m.nr_node_ids):
        build_zonelists(m.node_data[nid])


cdef zoneref *next_zones_zonelist(zoneref *z, int highest_zoneidx,
                                  nodemask_t *nodes) noexcept nogil:
    """mm/mmzone.c: the next zoneref at or after z allowed by the limits."""
    if nodes == NULL:
        while z.zone != NULL and z.zone_idx > highest_zoneidx:
            z += 1
    else:
        while z.zone != NULL and (z.zone_idx > highest_zoneidx
                                  or not node_isset(zone_to_nid(z.zone), nodes[0])):
            z += 1
    return z


cdef zoneref *first_zones_zonelist(zonelist *zl, int highest_zoneidx,
                                   nodemask_t *nodes) noexcept nogil:
    return next_zones_zonelist(zl._zonerefs, highest_zoneidx, nodes)


cdef zonelist *node_zonelist(int nid, gfp_t flags) noexcept nogil:
    return &NODE_DATA(nid).node_zonelists[ZONELIST_NOFALLBACK if flags & __GFP_THISNODE
                                          else ZONELIST_FALLBACK]


# ---------------------------------------------------------------------------
# The allocator

cdef page *get_page_from_freelist(gfp_t gfp_mask, unsigned int order, int alloc_flags,
                                  alloc_context *ac) noexcept nogil:
    """mm/page_alloc.c: first zone of the zonelist that passes its watermark."""
    cdef zoneref *z = ac.preferred_zoneref
    cdef zone *zn
    cdef page *p
    cdef unsigned long mark
    cdef int site
    z = next_zones_zonelist(z, ac.highest_zoneidx, ac.nodemask)
    while z.zone != NULL:
        zn = z.zone
        mark = wmark_pages(zn, alloc_flags & ALLOC_WMARK_MASK)
        if not zone_watermark_fast(zn, order, mark, ac.highest_zoneidx, alloc_flags, gfp_mask):
            if migrc_hunk(MIGRC_HUNK_PAGE_ALLOC_C_4):
                # mm/page_alloc.c#4: free the held source folios, then look
                # at the zone again with the updated counters
                site = kmm_site_enter(KMM_SITE_MIGRC_ALLOC)
                migrc_flush_free_folios(ac.nodemask)
                kmm_site_exit(site)
                if zone_watermark_fast(zn, order, mark, ac.highest_zoneidx, alloc_flags, gfp_mask):
                    p = rmqueue(ac.preferred_zoneref.zone, zn, order, gfp_mask, alloc_flags,
                                ac.migratetype)
                    if p != NULL:
                        prep_new_page(p, order, gfp_mask, alloc_flags)
                        return p
                    z = next_zones_zonelist(z + 1, ac.highest_zoneidx, ac.nodemask)
                    continue
            if not (alloc_flags & ALLOC_NO_WATERMARKS):
                # node_reclaim_mode is 0 (the default): try the next zone.
                z = next_zones_zonelist(z + 1, ac.highest_zoneidx, ac.nodemask)
                continue
        p = rmqueue(ac.preferred_zoneref.zone, zn, order, gfp_mask, alloc_flags,
                    ac.migratetype)
        if p != NULL:
            prep_new_page(p, order, gfp_mask, alloc_flags)
            return p
        z = next_zones_zonelist(z + 1, ac.highest_zoneidx, ac.nodemask)
    return NULL


cdef unsigned int gfp_to_alloc_flags(gfp_t gfp_mask, unsigned int order) noexcept nogil:
    """mm/page_alloc.c: the slow path's flags: the MIN watermark, and the
    reserves a caller may dip into when it cannot reclaim."""
    cdef unsigned int alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
    if not (gfp_mask & __GFP_DIRECT_RECLAIM):
        if not (gfp_mask & __GFP_NOMEMALLOC):
            alloc_flags |= ALLOC_NON_BLOCK
            if order > 0:
                alloc_flags |= ALLOC_HIGHATOMIC
        if alloc_flags & ALLOC_MIN_RESERVE:
            alloc_flags &= ~ALLOC_CPUSET
    return alloc_flags


cdef void wake_all_kswapds(unsigned int order, gfp_t gfp_mask, alloc_context *ac) noexcept nogil:
    """mm/page_alloc.c: wake kswapd of every node the zonelist may use, once
    per node."""
    cdef zoneref *z = first_zones_zonelist(ac.zonelist, ac.highest_zoneidx, ac.nodemask)
    cdef pglist_data *last_pgdat = NULL
    while z.zone != NULL:
        if z.zone.zone_pgdat != last_pgdat:
            wakeup_kswapd(z.zone, gfp_mask, order, ac.highest_zoneidx)
            last_pgdat = z.zone.zone_pgdat
        z = next_zones_zonelist(z + 1, ac.highest_zoneidx, ac.nodemask)


cdef page *__alloc_pages_slowpath(gfp_t gfp_mask, unsigned int order,
                                  alloc_context *ac) noexcept nogil:
    """mm/page_alloc.c: wake kswapd, retry at WMARK_MIN, then direct reclaim
    if the caller may block.  No compaction, no OOM killer: where the kernel
    would OOM-kill, this returns NULL.  With patch 3/3 (CONFIG_MIGRC_PAUSE),
    a failed attempt after retry: pauses migrc and frees every held folio;
    migrc resumes when the allocation ends (got_pg / nopage)."""
    cdef int site
    cdef bint can_direct_reclaim = (gfp_mask & __GFP_DIRECT_RECLAIM) != 0
    cdef unsigned int alloc_flags = gfp_to_alloc_flags(gfp_mask, order)
    cdef page *p = NULL
    cdef unsigned long progress
    cdef int no_progress_loops = 0
    cdef bint paused = False
    if alloc_flags & ALLOC_KSWAPD:
        wake_all_kswapds(order, gfp_mask, ac)
    p = get_page_from_freelist(gfp_mask, order, alloc_flags & ~ALLOC_NO_WATERMARKS, ac)
    if p != NULL:
        return p
    while True:  # retry:
        if alloc_flags & ALLOC_KSWAPD:
            wake_all_kswapds(order, gfp_mask, ac)
        p = get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
        if p != NULL:
            break                                   # got_pg
        if KMM().kconfig.CONFIG_MIGRC and KMM().kconfig.CONFIG_MIGRC_PAUSE and not paused:
            migrc_pause()                           # patch 3/3
            paused = True
            site = kmm_site_enter(KMM_SITE_MIGRC_ALLOC)
            migrc_flush_free_folios(NULL)
            kmm_site_exit(site)
        if not can_direct_reclaim:
            break                                   # nopage
        # __alloc_pages_direct_reclaim
        progress = try_to_free_pages(ac.zonelist, order, gfp_mask, ac.nodemask)
        if progress:
            p = get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
            if p != NULL:
                break
        if gfp_mask & __GFP_NORETRY:
            break
        # should_reclaim_retry(): give up after MAX_RECLAIM_RETRIES rounds
        # without progress.
        if progress == 0:
            no_progress_loops += 1
        if no_progress_loops > 16:
            break
    if paused:
        migrc_resume()
    return p


cdef bint should_fail_alloc_page(gfp_t gfp_mask, unsigned int order) noexcept nogil:
    """mm/page_alloc.c: the fault-injection hook (mm/fail_page_alloc.c)."""
    return __should_fail_alloc_page(gfp_mask, order)


cdef inline bint prepare_alloc_pages(gfp_t gfp_mask, unsigned int order, int preferred_nid,
                                     nodemask_t *nodemask, alloc_context *ac) noexcept nogil:
    ac.highest_zoneidx = gfp_zone(gfp_mask)
    ac.zonelist = node_zonelist(preferred_nid, gfp_mask)
    ac.nodemask = nodemask
    ac.migratetype = MIGRATE_MOVABLE
    # an injected failure fails the whole allocation: no reclaim, no retry
    if should_fail_alloc_page(gfp_mask, order):
        return False
    ac.spread_dirty_pages = (gfp_mask & __GFP_WRITE) != 0
    ac.preferred_zoneref = first_zones_zonelist(ac.zonelist, ac.highest_zoneidx, ac.nodemask)
    return True


cdef page *__alloc_pages(gfp_t gfp, unsigned int order, int preferred_nid,
                         nodemask_t *nodemask) noexcept nogil:
    """mm/page_alloc.c: the zoned buddy allocator's entry point."""
    cdef alloc_context ac
    cdef unsigned int alloc_flags = ALLOC_WMARK_LOW
    cdef page *p
    if order > MAX_ORDER:
        return NULL
    kmm_charge(KMM_COST_PAGE_ALLOC, 1)
    gfp &= __GFP_BITS_MASK
    if not prepare_alloc_pages(gfp, order, preferred_nid, nodemask, &ac):
        return NULL
    if ac.preferred_zoneref.zone == NULL:
        return NULL
    # alloc_flags_nofragment(): ALLOC_KSWAPD from the gfp mask (the
    # emulator has no migratetypes, so ALLOC_NOFRAGMENT has nothing to do).
    alloc_flags |= gfp & __GFP_KSWAPD_RECLAIM
    p = get_page_from_freelist(gfp, order, alloc_flags, &ac)
    if p != NULL:
        return p
    ac.nodemask = nodemask
    return __alloc_pages_slowpath(gfp, order, &ac)


cdef folio *__folio_alloc(gfp_t gfp, unsigned int order, int preferred_nid,
                          nodemask_t *nodemask) noexcept nogil:
    return __alloc_pages(gfp | __GFP_COMP, order, preferred_nid, nodemask)


cdef page *alloc_pages_node(int nid, gfp_t gfp_mask, unsigned int order) noexcept nogil:
    if nid == -1:
        nid = numa_node_id()
    return __alloc_pages(gfp_mask, order, nid, NULL)


HUNKS = {
    "mm/page_alloc.c#1": ("post_alloc_hook",),
    "mm/page_alloc.c#2": ("__zone_watermark_ok",),
    "mm/page_alloc.c#3": ("zone_watermark_fast",),
    "mm/page_alloc.c#4": ("get_page_from_freelist",),
}
