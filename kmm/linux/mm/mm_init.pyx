"""Mirrors mm/mm_init.c: sizing each node's zones and initialising its
struct pages at boot.

Zones follow x86-64's limits (ZONE_DMA below 16 MiB if CONFIG_ZONE_DMA,
ZONE_DMA32 below 4 GiB, ZONE_NORMAL above); no ZONE_MOVABLE (no
kernelcore= / movablecore=).
Nodes are laid out back to back from pfn 0 with no PCI hole, and no memory
is reserved at boot, so every present page is managed.
"""

from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.list cimport INIT_LIST_HEAD
from kmm.linux.include_.linux.mm_types cimport page
from kmm.linux.include_.linux.mmzone cimport *
from kmm.linux.include_.linux.page_flags cimport PG_reserved
from kmm.linux.include_.linux.page_ref cimport init_page_count
from kmm.linux.include_.linux.mm cimport set_page_links, page_mapcount_reset, page_cpupid_reset_last
from kmm.emu.debug.oracle cimport oracle_page_init

cdef const char *zone_names[4]
zone_names[0] = "DMA"
zone_names[1] = "DMA32"
zone_names[2] = "Normal"
zone_names[3] = "Movable"


cdef inline void zone_range(int zid, unsigned long *lo, unsigned long *hi) noexcept nogil:
    """arch/x86/mm/init.c zone_sizes_init(): each zone's pfn limits.  Without
    CONFIG_ZONE_DMA the kernel has no ZONE_DMA and ZONE_DMA32 starts at 0;
    here ZONE_DMA stays in the enum, empty (an unpopulated zone is skipped
    everywhere a missing one would be)."""
    cdef unsigned long dma_end = MAX_DMA_PFN if KMM().kconfig.CONFIG_ZONE_DMA else 0
    if zid == ZONE_DMA:
        lo[0], hi[0] = 0, dma_end
    elif zid == ZONE_DMA32:
        lo[0], hi[0] = dma_end, MAX_DMA32_PFN
    elif zid == ZONE_NORMAL:
        lo[0], hi[0] = MAX_DMA32_PFN, <unsigned long>-1
    else:
        lo[0], hi[0] = 0, 0


cdef inline void __init_single_page(page *p, unsigned long pfn, int zid, int nid) noexcept nogil:
    p.flags = 0
    set_page_links(p, zid, nid)
    init_page_count(p)
    page_mapcount_reset(p)
    page_cpupid_reset_last(p)
    INIT_LIST_HEAD(&p.lru)
    p.mapping = 0
    p.index = 0
    p.private = 0
    oracle_page_init(p)


cdef inline void zone_init_free_lists(zone *z) noexcept nogil:
    cdef int order
    for order in range(NR_PAGE_ORDERS):
        INIT_LIST_HEAD(&z.free_area[order].free_list)
        z.free_area[order].nr_free = 0


cdef void free_area_init_node(int nid, unsigned long start_pfn, unsigned long end_pfn) noexcept nogil:
    """mm/mm_init.c: size the node's zones from its pfn range, initialise
    their free lists and the node's struct pages (reserved, refcount 1,
    until memblock_free_all() releases them)."""
    cdef pglist_data *pgdat = KMM().node_data[nid]
    cdef zone *z
    cdef unsigned long lo, hi, zs, ze, pfn
    cdef int zid, lru
    pgdat.node_id = nid
    pgdat.node_start_pfn = start_pfn
    pgdat.node_spanned_pages = end_pfn - start_pfn
    pgdat.node_present_pages = end_pfn - start_pfn
    pgdat.kswapd_highest_zoneidx = MAX_NR_ZONES
    pgdat.nr_zones = 0
    pgdat.__lruvec.pgdat = pgdat
    for lru in range(NR_LRU_LISTS):
        INIT_LIST_HEAD(&pgdat.__lruvec.lists[lru])
    pgdat.migrc_reqs.first = NULL
    for zid in range(MAX_NR_ZONES):
        z = &pgdat.node_zones[zid]
        z.node = nid
        z.zone_pgdat = pgdat
        z.name = zone_names[zid]
        zone_init_free_lists(z)
        zone_range(zid, &lo, &hi)
        zs = max(lo, start_pfn)
        ze = min(hi, end_pfn)
        if zs >= ze:
            z.zone_start_pfn = 0
            z.spanned_pages = 0
            z.present_pages = 0
            continue
        z.zone_start_pfn = zs
        z.spanned_pages = ze - zs
        z.present_pages = ze - zs
        z.managed_pages = 0          # grows as memblock_free_all() frees pages
        pgdat.nr_zones = zid + 1
        for pfn in range(zs, ze):
            __init_single_page(&KMM().mem_map[pfn], pfn, zid, nid)
            KMM().mem_map[pfn].flags |= 1UL << PG_reserved
