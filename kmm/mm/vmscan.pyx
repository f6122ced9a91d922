"""Mirrors mm/vmscan.c: waking kswapd and the balance test it stops at.

Reclaim itself (kswapd's balance_pgdat, demotion, direct reclaim) arrives
with the memory-tiering work; until then try_to_free_pages() reclaims
nothing, which the allocator's slow path treats as no progress.
"""

from kmm.include_.kmm.machine cimport KMM
from kmm.include_.linux.gfp_types cimport gfp_t
from kmm.include_.linux.mmzone cimport *
from kmm.include_.linux.nodemask cimport nodemask_t
from kmm.include_.linux.sched cimport task_struct, PF_KTHREAD, PF_KSWAPD, PF_MEMALLOC
from kmm.kernel.fork cimport alloc_task_struct_node
from kmm.mm.page_alloc cimport zone_watermark_ok_safe
from libc.stdio cimport snprintf

cdef enum:
    NUMA_BALANCING_MEMORY_TIERING = 0x2


cdef bint pgdat_balanced(pglist_data *pgdat, int order, int highest_zoneidx) noexcept nogil:
    """mm/vmscan.c: some zone up to highest_zoneidx is above its high
    watermark (WMARK_PROMO in memory-tiering mode)."""
    cdef long mark = -1
    cdef zone *z
    cdef int i
    for i in range(highest_zoneidx + 1):
        z = &pgdat.node_zones[i]
        if not managed_zone(z):
            continue
        if KMM().sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING:
            mark = wmark_pages(z, WMARK_PROMO)
        else:
            mark = high_wmark_pages(z)
        if zone_watermark_ok_safe(z, order, mark, highest_zoneidx):
            return True
    return mark == -1


cdef inline bint pgdat_watermark_boosted(pglist_data *pgdat, int highest_zoneidx) noexcept nogil:
    cdef int i
    for i in range(highest_zoneidx, -1, -1):
        if pgdat.node_zones[i].watermark_boost:
            return True
    return False


cdef void wakeup_kswapd(zone *z, gfp_t gfp_flags, int order, int highest_zoneidx) noexcept nogil:
    """mm/vmscan.c: raise the node's kswapd order/zone and wake it, unless it
    is already awake, hopeless, or the node is balanced."""
    cdef pglist_data *pgdat
    cdef int curr_idx
    if not managed_zone(z):
        return
    pgdat = z.zone_pgdat
    curr_idx = pgdat.kswapd_highest_zoneidx
    if curr_idx == MAX_NR_ZONES or curr_idx < highest_zoneidx:
        pgdat.kswapd_highest_zoneidx = highest_zoneidx
    if pgdat.kswapd_order < order:
        pgdat.kswapd_order = order
    if not pgdat.kswapd_wait_active:
        return
    if pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES or (
            pgdat_balanced(pgdat, order, highest_zoneidx)
            and not pgdat_watermark_boosted(pgdat, highest_zoneidx)):
        return
    # wake_up_interruptible(&pgdat->kswapd_wait)
    pgdat.kswapd_wait_active = False
    pgdat.kswapd_woken = True


cdef unsigned long try_to_free_pages(zonelist *zl, int order, gfp_t gfp_mask,
                                     nodemask_t *nodemask) noexcept nogil:
    """mm/vmscan.c: direct reclaim.  Not yet mirrored: reclaims nothing."""
    return 0


cdef int kswapd_run(int nid) noexcept nogil:
    """mm/vmscan.c: start the node's kswapd thread; it goes to sleep on
    kswapd_wait until an allocation wakes it.  Returns -ENOMEM (-12) on
    failure."""
    cdef pglist_data *pgdat = KMM().node_data[nid]
    cdef task_struct *tsk
    if pgdat.kswapd != NULL:
        return 0
    tsk = alloc_task_struct_node(nid)
    if tsk == NULL:
        return -12
    tsk.flags = PF_KTHREAD | PF_MEMALLOC | PF_KSWAPD
    tsk.pgdat_node = nid
    tsk.cpu = -1
    tsk.active_mm = &KMM().init_mm
    snprintf(tsk.comm, 16, b"kswapd%d", nid)
    pgdat.kswapd = tsk
    pgdat.kswapd_wait_active = True
    return 0


# ---------------------------------------------------------------------------
# Isolating folios from the LRU for migration, putting them back, and the
# destination allocator of demotion.

from kmm.include_.linux.mm_types cimport folio
from kmm.include_.linux.mm cimport folio_get, folio_put
from kmm.include_.linux.page_flags cimport folio_test_clear_lru
from kmm.include_.linux.mm_inline cimport folio_lruvec, lruvec_del_folio
from kmm.include_.linux.gfp_types cimport __GFP_THISNODE
from kmm.mm.internal cimport migration_target_control
from kmm.mm.swap cimport folio_add_lru
from kmm.mm.migrate cimport alloc_migration_target


cdef bint folio_isolate_lru(folio *f) noexcept nogil:
    """mm/vmscan.c: take a folio off its LRU list, with a reference for the
    isolator; false if it was not on one (someone else isolated it).  The
    caller accounts NR_ISOLATED_*."""
    if folio_test_clear_lru(f):
        folio_get(f)
        lruvec_del_folio(folio_lruvec(f), f)
        return True
    return False


cdef void folio_putback_lru(folio *f) noexcept nogil:
    """mm/vmscan.c: return an isolated folio to the LRU and drop the
    isolation reference."""
    folio_add_lru(f)
    folio_put(f)


cdef folio *alloc_demote_folio(folio *src, unsigned long private) noexcept nogil:
    """mm/vmscan.c: a demotion target: first the preferred target node only
    (__GFP_THISNODE), so that kswapd there is woken to make room rather than
    spilling to other lower-tier nodes; then any allowed lower-tier node.
    demote_folio_list's gfp mask forbids direct reclaim."""
    cdef migration_target_control *mtc = <migration_target_control *>private
    cdef nodemask_t *allowed_mask = mtc.nmask
    cdef folio *dst
    mtc.nmask = NULL
    mtc.gfp_mask |= __GFP_THISNODE
    dst = alloc_migration_target(src, private)
    if dst != NULL:
        return dst
    mtc.gfp_mask &= ~__GFP_THISNODE
    mtc.nmask = allowed_mask
    return alloc_migration_target(src, private)
