"""Mirrors mm/vmscan.c: page reclaim.  kswapd (woken by wakeup_kswapd,
balancing its node up to WMARK_PROMO in tiering mode) and direct reclaim
(try_to_free_pages, from the allocator's slow path) both scan the LRU lists
with shrink_node(); unreferenced folios are demoted to the next memory tier
when one exists (no swap device is modelled), clean unmapped page-cache
folios are dropped.
"""

from kmm.linux.include_.kmm.trace cimport KMM_SITE_RECLAIM
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.linux.include_.trace.events.vmscan cimport (trace_mm_vmscan_kswapd_wake, trace_mm_vmscan_kswapd_sleep,
                                                    trace_mm_vmscan_lru_shrink_inactive)
from kmm.linux.include_.linux.jiffies cimport jiffies, time_before, HZ
from kmm.linux.include_.linux.vm_event_item cimport KSWAPD_LOW_WMARK_HIT_QUICKLY, KSWAPD_HIGH_WMARK_HIT_QUICKLY
from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_LRU_SCAN
from kmm.linux.include_.linux.swap cimport SWAP_CLUSTER_MAX
from kmm.linux.include_.uapi.asm_generic.errno_base cimport ENOMEM
from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.gfp_types cimport gfp_t
from kmm.linux.include_.linux.mmzone cimport *
from kmm.linux.include_.linux.nodemask cimport nodemask_t
from kmm.linux.include_.linux.sched cimport task_struct, PF_KTHREAD, PF_KSWAPD, PF_MEMALLOC
from kmm.linux.kernel.fork cimport alloc_task_struct_node
from kmm.linux.mm.page_alloc cimport zone_watermark_ok_safe
from libc.stdio cimport snprintf

from kmm.linux.include_.linux.sched.sysctl cimport NUMA_BALANCING_MEMORY_TIERING


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
    """mm/vmscan.c: direct reclaim by the allocating task: SWAP_CLUSTER_MAX
    pages from the nodes of its zonelist, raising the priority until done."""
    cdef scan_control sc
    memset(&sc, 0, sizeof(scan_control))
    sc.nr_to_reclaim = SWAP_CLUSTER_MAX()
    sc.gfp_mask = gfp_mask
    sc.reclaim_idx = gfp_zone(gfp_mask)
    sc.order = order
    sc.priority = DEF_PRIORITY
    sc.may_writepage = 1
    sc.may_unmap = 1
    sc.may_swap = 1
    return do_try_to_free_pages(zl, &sc, nodemask)


cdef void shrink_zones(zonelist *zl, scan_control *sc, nodemask_t *nodemask) noexcept nogil:
    """mm/vmscan.c: shrink each node of the zonelist once per pass."""
    cdef zoneref *z = first_zones_zonelist(zl, sc.reclaim_idx, nodemask)
    cdef pglist_data *last_pgdat = NULL
    while z.zone != NULL:
        if z.zone.zone_pgdat != last_pgdat:
            last_pgdat = z.zone.zone_pgdat
            shrink_node(last_pgdat, sc)
        z = next_zones_zonelist(z + 1, sc.reclaim_idx, nodemask)


cdef unsigned long do_try_to_free_pages(zonelist *zl, scan_control *sc,
                                        nodemask_t *nodemask) noexcept nogil:
    """mm/vmscan.c: one allocation stall, priority DEF_PRIORITY down to 0."""
    __count_zid_vm_events(ALLOCSTALL_DMA, sc.reclaim_idx, 1)
    while True:
        sc.nr_scanned = 0
        shrink_zones(zl, sc, nodemask)
        if sc.nr_reclaimed >= sc.nr_to_reclaim:
            break
        sc.priority -= 1
        if sc.priority < 0:
            break
    return sc.nr_reclaimed


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
        return -ENOMEM
    tsk.flags = PF_KTHREAD | PF_MEMALLOC | PF_KSWAPD
    tsk.pgdat_node = nid
    tsk.cpu = -1
    tsk.active_mm = &KMM().init_mm
    snprintf(tsk.comm, 16, b"kswapd%d", nid)
    pgdat.kswapd = tsk
    pgdat.kswapd_wait_active = True
    pgdat.kmm_kswapd_zoneidx = MAX_NR_ZONES - 1     # kswapd()'s first highest_zoneidx
    pgdat.kmm_kswapd_cpu = -1                       # not on a CPU (the engine places it)
    return 0


# ---------------------------------------------------------------------------
# Isolating folios from the LRU for migration, putting them back, and the
# destination allocator of demotion.

from kmm.linux.include_.linux.mm_types cimport folio
from kmm.linux.include_.linux.mm cimport folio_get, folio_put, page_to_nid
from kmm.linux.include_.linux.mm_types cimport page
from kmm.linux.include_.linux.mm_inline cimport folio_is_file_lru
from kmm.linux.include_.linux.page_flags cimport folio_test_clear_lru
from kmm.linux.include_.linux.mm_inline cimport folio_lruvec, lruvec_del_folio
from kmm.linux.include_.linux.gfp_types cimport __GFP_THISNODE
from kmm.linux.mm.internal cimport migration_target_control
from kmm.linux.mm.swap cimport folio_add_lru
from kmm.linux.mm.migrate cimport alloc_migration_target


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

from libc.string cimport memset
from kmm.linux.include_.kmm.machine cimport get_current
from kmm.linux.include_.linux.list cimport (list_head, INIT_LIST_HEAD, list_add, list_add_tail, list_del, list_move,
                                      list_empty, list_splice, list_splice_init)
from kmm.linux.include_.linux.mm_types cimport address_space
from kmm.linux.include_.linux.mm cimport (folio_mapped, folio_test_anon, folio_mapping, folio_pgdat,
                                    page_zonenum, folio_put_testzero, VM_LOCKED, VM_EXEC)
from kmm.linux.include_.linux.page_flags cimport (folio_test_lru, folio_set_lru, folio_clear_lru,
                                            __folio_clear_lru, folio_test_active, __folio_clear_active,
                                            folio_set_active, folio_clear_active,
                                            folio_test_unevictable, __folio_clear_unevictable,
                                            folio_test_clear_referenced, folio_set_referenced,
                                            folio_test_swapbacked, folio_test_locked,
                                            folio_test_dirty, folio_set_workingset)
from kmm.linux.include_.linux.page_ref cimport folio_ref_freeze, folio_ref_unfreeze
from kmm.linux.include_.linux.mm_inline cimport lruvec_add_folio, update_lru_size
from kmm.linux.include_.linux.vmstat cimport (reclaim_stat, count_vm_event, count_vm_events, __count_vm_events,
                                        __count_zid_vm_events, __mod_node_page_state)
from kmm.linux.include_.linux.vm_event_item cimport (PGSCAN_SKIP_DMA, PGSCAN_KSWAPD, PGSCAN_DIRECT,
                                              PGSCAN_ANON, PGSCAN_FILE, PGSTEAL_KSWAPD,
                                              PGSTEAL_DIRECT, PGSTEAL_ANON, PGSTEAL_FILE,
                                              PGACTIVATE, PGDEACTIVATE, PGREFILL, PAGEOUTRUN,
                                              PGDEMOTE_KSWAPD, PGDEMOTE_DIRECT)
from kmm.linux.include_.linux.gfp_types cimport (GFP_HIGHUSER_MOVABLE, __GFP_RECLAIM, __GFP_NOWARN,
                                           __GFP_NOMEMALLOC, GFP_NOWAIT, GFP_KERNEL)
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.linux.include_.linux.migrate_mode cimport MIGRATE_ASYNC, MR_DEMOTION
from kmm.linux.mm.page_alloc cimport free_unref_page
from kmm.linux.mm.rmap cimport folio_referenced, try_to_unmap_flush, kmm_read_ahead_folio_ptes
from kmm.linux.mm.migrate cimport migrate_pages
from kmm.linux.mm.memory_tiers cimport next_demotion_node, node_get_allowed_targets
from kmm.linux.include_.linux.math cimport int_sqrt
from kmm.linux.include_.linux.gfp cimport gfp_zone
from kmm.linux.include_.linux.vm_event_item cimport ALLOCSTALL_DMA
from kmm.linux.mm.page_alloc cimport first_zones_zonelist, next_zones_zonelist


# ---------------------------------------------------------------------------
# LRU scanning, reclaim and demotion (kswapd)

cdef enum:
    DEF_PRIORITY = 12
    DEACTIVATE_ANON = 1
    DEACTIVATE_FILE = 2

cdef enum:  # enum folio_references
    FOLIOREF_RECLAIM
    FOLIOREF_RECLAIM_CLEAN
    FOLIOREF_KEEP
    FOLIOREF_ACTIVATE


cdef inline folio *lru_to_folio(list_head *head) noexcept nogil:
    """The folio at the tail of an LRU list (the oldest)."""
    return <folio *>(<char *>head.prev - <size_t>&(<folio *>NULL).lru)


cdef bint can_demote(int nid, scan_control *sc) noexcept nogil:
    """mm/vmscan.c: demotion is on and the node has somewhere to demote to."""
    if not KMM().numa_demotion_enabled:
        return False
    if sc != NULL and sc.no_demotion:
        return False
    return next_demotion_node(nid) != NUMA_NO_NODE


cdef inline bint can_reclaim_anon_pages(int nid, scan_control *sc) noexcept nogil:
    """No swap device is modelled: anon pages can only be demoted."""
    return can_demote(nid, sc)


cdef bint inactive_is_low(lruvec *lv, int inactive_lru) noexcept nogil:
    """mm/vmscan.c: the inactive list is smaller than active/ratio, where
    the ratio grows with the square root of the list sizes in GiB."""
    cdef unsigned long inactive = lv.pgdat.vm_stat[NR_LRU_BASE + inactive_lru]
    cdef unsigned long active = lv.pgdat.vm_stat[NR_LRU_BASE + inactive_lru + LRU_ACTIVE]
    cdef unsigned long gb = (inactive + active) >> (30 - PAGE_SHIFT)
    cdef unsigned long ratio = int_sqrt(10 * gb) if gb else 1
    return inactive * ratio < active


cdef unsigned long isolate_lru_folios(unsigned long nr_to_scan, lruvec *lv, list_head *dst,
                                      unsigned long *nr_scanned, scan_control *sc,
                                      int lru) noexcept nogil:
    """mm/vmscan.c: take up to nr_to_scan folios off the tail of one LRU list
    (skipping zones above reclaim_idx), each with a reference held."""
    cdef list_head *src = &lv.lists[lru]
    cdef list_head skipped
    cdef list_head *move_to
    cdef unsigned long nr_taken = 0, scan = 0, total_scan = 0
    cdef unsigned long nr_zone_taken[4]
    cdef unsigned long nr_skipped[4]
    cdef folio *f
    cdef int zid
    INIT_LIST_HEAD(&skipped)
    for zid in range(MAX_NR_ZONES):
        nr_zone_taken[zid] = 0
        nr_skipped[zid] = 0
    while scan < nr_to_scan and not list_empty(src):
        f = lru_to_folio(src)
        move_to = src
        total_scan += 1
        if page_zonenum(f) > sc.reclaim_idx:
            nr_skipped[page_zonenum(f)] += 1
            move_to = &skipped
        else:
            scan += 1
            if folio_test_lru(f) and (sc.may_unmap or not folio_mapped(f)) and f._refcount > 0:
                folio_get(f)
                folio_clear_lru(f)
                nr_taken += 1
                nr_zone_taken[page_zonenum(f)] += 1
                move_to = dst
        list_move(&f.lru, move_to)
    if not list_empty(&skipped):
        list_splice(&skipped, src)
        for zid in range(MAX_NR_ZONES):
            if nr_skipped[zid]:
                __count_zid_vm_events(PGSCAN_SKIP_DMA, zid, nr_skipped[zid])
    for zid in range(MAX_NR_ZONES):
        if nr_zone_taken[zid]:
            update_lru_size(lv, lru, zid, -<long>nr_zone_taken[zid])
    nr_scanned[0] = total_scan
    kmm_charge(KMM_COST_LRU_SCAN, total_scan)
    return nr_taken


cdef unsigned int move_folios_to_lru(lruvec *lv, list_head *lst) noexcept nogil:
    """mm/vmscan.c: put isolated folios back on their LRU lists (dropping
    the isolation reference); those nobody else holds are freed."""
    cdef unsigned int nr_moved = 0
    cdef folio *f
    while not list_empty(lst):
        f = lru_to_folio(lst)
        list_del(&f.lru)
        folio_set_lru(f)
        if folio_put_testzero(f):
            __folio_clear_lru_flags(f)
            free_unref_page(f, 0)
            continue
        lruvec_add_folio(folio_lruvec(f), f)
        nr_moved += 1
    return nr_moved


cdef inline void __folio_clear_lru_flags(folio *f) noexcept nogil:
    __folio_clear_lru(f)
    if folio_test_active(f):
        __folio_clear_active(f)
    if folio_test_unevictable(f):
        __folio_clear_unevictable(f)


cdef int folio_check_references(folio *f, scan_control *sc) noexcept nogil:
    """mm/vmscan.c: referenced since the last scan?  (folio_referenced()
    clears the young bits it counts; on x86 without a TLB flush.)"""
    cdef unsigned long vm_flags = 0
    cdef int referenced_ptes = folio_referenced(f, 1, NULL, &vm_flags)
    cdef bint referenced_folio = folio_test_clear_referenced(f)
    if vm_flags & VM_LOCKED:
        return FOLIOREF_ACTIVATE
    if referenced_ptes == -1:
        return FOLIOREF_KEEP
    if referenced_ptes:
        folio_set_referenced(f)
        if referenced_folio or referenced_ptes > 1:
            return FOLIOREF_ACTIVATE
        if (vm_flags & VM_EXEC) and not folio_test_swapbacked(f):
            return FOLIOREF_ACTIVATE
        return FOLIOREF_KEEP
    if referenced_folio and not folio_test_swapbacked(f):
        return FOLIOREF_RECLAIM_CLEAN
    return FOLIOREF_RECLAIM


cdef unsigned int demote_folio_list(list_head *demote_folios, pglist_data *pgdat) noexcept nogil:
    """mm/vmscan.c: migrate the reclaim candidates to the next tier
    (MR_DEMOTION, asynchronous, no reclaim on the target)."""
    return __demote_folio_list(demote_folios, pgdat, next_demotion_node(pgdat.node_id))


cdef unsigned int __demote_folio_list(list_head *demote_folios, pglist_data *pgdat,
                                      int target_nid) noexcept nogil:
    """demote_folio_list()'s body with the target node as a parameter, so
    that kmm_demote_folios (a demotion to a node the caller names) runs
    the kernel's code: the target control, the allowed lower tiers of
    pgdat, alloc_demote_folio, PGDEMOTE_*."""
    cdef unsigned int nr_succeeded = 0
    cdef nodemask_t allowed_mask
    cdef migration_target_control mtc
    if list_empty(demote_folios) or target_nid == NUMA_NO_NODE:
        return 0
    node_get_allowed_targets(pgdat, &allowed_mask)
    mtc.gfp_mask = (GFP_HIGHUSER_MOVABLE & ~__GFP_RECLAIM) | __GFP_NOWARN | \
        __GFP_NOMEMALLOC | GFP_NOWAIT
    mtc.nid = target_nid
    mtc.nmask = &allowed_mask
    migrate_pages(demote_folios, alloc_demote_folio, NULL, <unsigned long>&mtc,
                  MIGRATE_ASYNC, MR_DEMOTION, &nr_succeeded)
    __count_vm_events(PGDEMOTE_KSWAPD if get_current().flags & PF_KSWAPD else PGDEMOTE_DIRECT,
                      nr_succeeded)
    return nr_succeeded


cdef unsigned int shrink_folio_list(list_head *folio_list, pglist_data *pgdat,
                                    scan_control *sc, reclaim_stat *stat) noexcept nogil:
    """mm/vmscan.c: decide each isolated folio's fate.  Unreferenced ones are
    demoted when a lower tier exists; with no swap, anon folios that cannot
    be demoted are activated; clean unmapped file folios are dropped.  *stat
    gets what was done with the batch."""
    cdef list_head ret_folios, demote_folios, free_folios
    cdef int site
    cdef unsigned int nr_reclaimed = 0
    cdef bint do_demote_pass = can_demote(pgdat.node_id, sc)
    cdef folio *f
    cdef int references
    INIT_LIST_HEAD(&ret_folios)
    INIT_LIST_HEAD(&demote_folios)
    INIT_LIST_HEAD(&free_folios)
    memset(stat, 0, sizeof(reclaim_stat))
    kmm_read_ahead_folio_ptes(folio_list)        # host speed only
    while True:  # retry:
        while not list_empty(folio_list):
            f = lru_to_folio(folio_list)
            list_del(&f.lru)
            if folio_test_locked(f):
                list_add(&f.lru, &ret_folios)                 # keep
                continue
            if not sc.may_unmap and folio_mapped(f):
                list_add(&f.lru, &ret_folios)
                continue
            # folio_check_dirty_writeback(): only file LRU folios count
            # (no writeback is modelled: a dirty one is unqueued dirty)
            if folio_is_file_lru(f) and folio_test_dirty(f):
                stat.nr_dirty += 1
                stat.nr_unqueued_dirty += 1
            references = folio_check_references(f, sc)
            if references == FOLIOREF_ACTIVATE:
                folio_set_active(f)
                stat.nr_activate[folio_is_file_lru(f)] += 1
                list_add(&f.lru, &ret_folios)
                continue
            if references == FOLIOREF_KEEP:
                stat.nr_ref_keep += 1
                list_add(&f.lru, &ret_folios)
                continue
            if do_demote_pass:
                list_add(&f.lru, &demote_folios)
                continue
            if folio_test_anon(f) and folio_test_swapbacked(f):
                # add_to_swap() fails: there is no swap device
                folio_set_active(f)
                stat.nr_activate[0] += 1
                list_add(&f.lru, &ret_folios)
                continue
            if folio_mapped(f) or folio_test_dirty(f) or not __remove_mapping(folio_mapping(f), f):
                list_add(&f.lru, &ret_folios)                 # no writeback modelled
                continue
            nr_reclaimed += 1
            list_add(&f.lru, &free_folios)
        # migrate the candidates; those that could not move take the
        # normal path on a second pass
        nr_reclaimed += demote_folio_list(&demote_folios, pgdat)
        if not list_empty(&demote_folios):
            list_splice_init(&demote_folios, folio_list)
            if do_demote_pass:
                do_demote_pass = False
                continue
        break
    site = kmm_site_enter(KMM_SITE_RECLAIM)
    try_to_unmap_flush()
    kmm_site_exit(site)
    while not list_empty(&free_folios):           # free_unref_page_list()
        f = lru_to_folio(&free_folios)
        list_del(&f.lru)
        free_unref_page(f, 0)
    list_splice(&ret_folios, folio_list)
    count_vm_events(PGACTIVATE, stat.nr_activate[0] + stat.nr_activate[1])
    return nr_reclaimed


cdef unsigned long shrink_inactive_list(unsigned long nr_to_scan, lruvec *lv, scan_control *sc,
                                        int lru) noexcept nogil:
    """mm/vmscan.c: isolate a batch from the inactive tail and reclaim it."""
    cdef list_head folio_list
    cdef unsigned long nr_scanned = 0, nr_taken
    cdef unsigned int nr_reclaimed
    cdef reclaim_stat stat
    cdef pglist_data *pgdat = lv.pgdat
    cdef bint file = is_file_lru(lru)
    cdef bint kswapd = (get_current().flags & PF_KSWAPD) != 0
    INIT_LIST_HEAD(&folio_list)
    nr_taken = isolate_lru_folios(nr_to_scan, lv, &folio_list, &nr_scanned, sc, lru)
    __mod_node_page_state(pgdat, NR_ISOLATED_FILE if file else NR_ISOLATED_ANON, nr_taken)
    __count_vm_events(PGSCAN_KSWAPD if kswapd else PGSCAN_DIRECT, nr_scanned)
    __count_vm_events(PGSCAN_FILE if file else PGSCAN_ANON, nr_scanned)
    sc.nr_scanned += nr_scanned
    if nr_taken == 0:
        return 0
    nr_reclaimed = shrink_folio_list(&folio_list, pgdat, sc, &stat)
    move_folios_to_lru(lv, &folio_list)
    __mod_node_page_state(pgdat, NR_ISOLATED_FILE if file else NR_ISOLATED_ANON, -<long>nr_taken)
    __count_vm_events(PGSTEAL_KSWAPD if kswapd else PGSTEAL_DIRECT, nr_reclaimed)
    __count_vm_events(PGSTEAL_FILE if file else PGSTEAL_ANON, nr_reclaimed)
    trace_mm_vmscan_lru_shrink_inactive(pgdat.node_id, nr_scanned, nr_reclaimed, &stat,
                                        sc.priority, file)
    return nr_reclaimed


cdef void shrink_active_list(unsigned long nr_to_scan, lruvec *lv, scan_control *sc,
                             int lru) noexcept nogil:
    """mm/vmscan.c: age the active list: move its tail to the inactive list
    (only referenced executable file folios stay active)."""
    cdef list_head l_hold, l_active, l_inactive
    cdef unsigned long nr_scanned = 0, nr_taken
    cdef unsigned long vm_flags
    cdef unsigned int nr_rotated = 0, nr_deactivate = 0, nr_activate = 0
    cdef folio *f
    cdef bint file = is_file_lru(lru)
    INIT_LIST_HEAD(&l_hold)
    INIT_LIST_HEAD(&l_active)
    INIT_LIST_HEAD(&l_inactive)
    nr_taken = isolate_lru_folios(nr_to_scan, lv, &l_hold, &nr_scanned, sc, lru)
    __mod_node_page_state(lv.pgdat, NR_ISOLATED_FILE if file else NR_ISOLATED_ANON, nr_taken)
    __count_vm_events(PGREFILL, nr_scanned)
    kmm_read_ahead_folio_ptes(&l_hold)           # host speed only
    while not list_empty(&l_hold):
        f = lru_to_folio(&l_hold)
        list_del(&f.lru)
        vm_flags = 0
        if folio_referenced(f, 0, NULL, &vm_flags):
            if (vm_flags & VM_EXEC) and file:
                nr_rotated += 1
                list_add(&f.lru, &l_active)
                continue
        folio_clear_active(f)
        folio_set_workingset(f)
        list_add(&f.lru, &l_inactive)
    nr_activate = move_folios_to_lru(lv, &l_active)
    nr_deactivate = move_folios_to_lru(lv, &l_inactive)
    __count_vm_events(PGACTIVATE, nr_activate)
    __count_vm_events(PGDEACTIVATE, nr_deactivate)
    __mod_node_page_state(lv.pgdat, NR_ISOLATED_FILE if file else NR_ISOLATED_ANON, -<long>nr_taken)


cdef unsigned long shrink_list(int lru, unsigned long nr_to_scan, lruvec *lv,
                               scan_control *sc) noexcept nogil:
    if is_active_lru(lru):
        if sc.may_deactivate & (1 << is_file_lru(lru)):
            shrink_active_list(nr_to_scan, lv, sc, lru)
        else:
            sc.skipped_deactivate = 1
        return 0
    return shrink_inactive_list(nr_to_scan, lv, sc, lru)


cdef void get_scan_count(lruvec *lv, scan_control *sc, unsigned long *nr) noexcept nogil:
    """mm/vmscan.c, simplified: each evictable list is scanned in proportion
    to its size >> priority (SCAN_EQUAL); anon lists only when anon pages
    can be reclaimed (demoted: no swap is modelled).  The kernel weighs anon
    against file by swappiness and refault cost; the emulated workloads are
    anon-only, where both give the same answer."""
    cdef int lru
    cdef bint anon_ok = sc.may_swap and can_reclaim_anon_pages(lv.pgdat.node_id, sc)
    for lru in range(NR_LRU_LISTS):
        nr[lru] = 0
        if lru == LRU_UNEVICTABLE:
            continue
        if not is_file_lru(lru) and not anon_ok:
            continue
        nr[lru] = <unsigned long>lv.pgdat.vm_stat[NR_LRU_BASE + lru] >> sc.priority
        if nr[lru] == 0 and sc.priority == 0:
            nr[lru] = <unsigned long>lv.pgdat.vm_stat[NR_LRU_BASE + lru]


cdef void shrink_lruvec(lruvec *lv, scan_control *sc) noexcept nogil:
    """mm/vmscan.c: scan the lists in SWAP_CLUSTER_MAX batches until the
    target is reclaimed or the scan budget is spent, then age anon."""
    cdef unsigned long nr[5]
    cdef unsigned long nr_to_scan, nr_reclaimed = 0
    cdef int lru
    get_scan_count(lv, sc, nr)
    while nr[LRU_INACTIVE_ANON] or nr[LRU_ACTIVE_FILE] or nr[LRU_INACTIVE_FILE]:
        for lru in range(LRU_UNEVICTABLE):
            if nr[lru]:
                nr_to_scan = min(nr[lru], SWAP_CLUSTER_MAX())
                nr[lru] -= nr_to_scan
                nr_reclaimed += shrink_list(lru, nr_to_scan, lv, sc)
        if nr_reclaimed >= sc.nr_to_reclaim:
            break
    sc.nr_reclaimed += nr_reclaimed
    if can_reclaim_anon_pages(lv.pgdat.node_id, sc) and inactive_is_low(lv, LRU_INACTIVE_ANON):
        shrink_active_list(SWAP_CLUSTER_MAX(), lv, sc, LRU_ACTIVE_ANON)


cdef void prepare_scan_count(pglist_data *pgdat, scan_control *sc) noexcept nogil:
    """Deactivate a type's active list only when its inactive list is low."""
    cdef lruvec *lv = &pgdat.__lruvec
    sc.may_deactivate = 0
    if inactive_is_low(lv, LRU_INACTIVE_ANON):
        sc.may_deactivate |= DEACTIVATE_ANON
    if inactive_is_low(lv, LRU_INACTIVE_FILE):
        sc.may_deactivate |= DEACTIVATE_FILE


cdef void shrink_node(pglist_data *pgdat, scan_control *sc) noexcept nogil:
    """mm/vmscan.c: one round over the node's LRU lists; any progress makes
    the node hopeful again for kswapd (kswapd_failures = 0)."""
    cdef unsigned long nr_reclaimed = sc.nr_reclaimed
    prepare_scan_count(pgdat, sc)
    shrink_lruvec(&pgdat.__lruvec, sc)
    if sc.nr_reclaimed - nr_reclaimed:
        pgdat.kswapd_failures = 0


cdef void age_active_anon(pglist_data *pgdat, scan_control *sc) noexcept nogil:
    if not can_reclaim_anon_pages(pgdat.node_id, sc):
        return
    if inactive_is_low(&pgdat.__lruvec, LRU_INACTIVE_ANON):
        shrink_active_list(SWAP_CLUSTER_MAX(), &pgdat.__lruvec, sc, LRU_ACTIVE_ANON)


cdef bint kswapd_shrink_node(pglist_data *pgdat, scan_control *sc) noexcept nogil:
    """mm/vmscan.c: reclaim up to the sum of the zones' high watermarks."""
    cdef zone *z
    cdef int zid
    sc.nr_to_reclaim = 0
    for zid in range(sc.reclaim_idx + 1):
        z = &pgdat.node_zones[zid]
        if not managed_zone(z):
            continue
        sc.nr_to_reclaim += max(high_wmark_pages(z), SWAP_CLUSTER_MAX())
    shrink_node(pgdat, sc)
    return sc.nr_scanned >= sc.nr_to_reclaim


cdef void kmm_balance_pgdat_start(pglist_data *pgdat, int order, int highest_zoneidx) noexcept nogil:
    """mm/vmscan.c balance_pgdat()'s set-up: kswapd's scan control starts at
    DEF_PRIORITY with nothing reclaimed.  The loop's state lives in the
    pgdat so that kswapd can run one pass at a time (kmm_balance_pgdat_step)."""
    count_vm_event(PAGEOUTRUN)
    pgdat.kmm_kswapd_balancing = True
    pgdat.kmm_kswapd_order = order
    pgdat.kmm_kswapd_zoneidx = highest_zoneidx
    pgdat.kmm_kswapd_priority = DEF_PRIORITY
    pgdat.kmm_kswapd_nr_reclaimed = 0


cdef bint kmm_balance_pgdat_step(pglist_data *pgdat) noexcept nogil:
    """mm/vmscan.c: one pass of balance_pgdat()'s loop: stop if the node is
    balanced (WMARK_PROMO in tiering mode); otherwise age the active anon
    list, shrink the node and raise the priority unless the pass scanned
    what it meant to reclaim and reclaimed something.  Returns True when
    the balance is over (balanced, or priority 1 done)."""
    cdef scan_control sc
    cdef unsigned long nr_reclaimed
    cdef bint raise_priority = True, done = False
    memset(&sc, 0, sizeof(scan_control))
    sc.gfp_mask = GFP_KERNEL
    sc.order = pgdat.kmm_kswapd_order
    sc.may_unmap = 1
    sc.may_swap = 1
    sc.may_writepage = 1
    sc.reclaim_idx = pgdat.kmm_kswapd_zoneidx
    sc.priority = pgdat.kmm_kswapd_priority
    sc.nr_reclaimed = pgdat.kmm_kswapd_nr_reclaimed
    nr_reclaimed = sc.nr_reclaimed
    if pgdat_balanced(pgdat, sc.order, sc.reclaim_idx):
        pgdat.kmm_kswapd_balancing = False             # goto out: no failure counted
        return True
    else:
        age_active_anon(pgdat, &sc)
        sc.nr_scanned = 0
        # scanned as much as it meant to reclaim: no need to press harder
        if kswapd_shrink_node(pgdat, &sc):
            raise_priority = False
        if raise_priority or sc.nr_reclaimed - nr_reclaimed == 0:
            sc.priority -= 1
        done = sc.priority < 1
    pgdat.kmm_kswapd_priority = sc.priority
    pgdat.kmm_kswapd_nr_reclaimed = sc.nr_reclaimed
    if done:                                           # priority 1 done, not balanced
        pgdat.kmm_kswapd_balancing = False
        if sc.nr_reclaimed == 0:
            pgdat.kswapd_failures += 1
    return done


cdef bint prepare_kswapd_sleep(pglist_data *pgdat, int order, int highest_zoneidx) noexcept nogil:
    """mm/vmscan.c: kswapd may sleep if the node is hopeless (left to direct
    reclaim) or balanced."""
    if pgdat.kswapd_failures >= MAX_RECLAIM_RETRIES:
        return True
    return pgdat_balanced(pgdat, order, highest_zoneidx)


cdef inline int kswapd_highest_zoneidx(pglist_data *pgdat, int prev_highest_zoneidx) noexcept nogil:
    """mm/vmscan.c: the requested zone, or the last one if none was asked."""
    cdef int curr_idx = pgdat.kswapd_highest_zoneidx
    return prev_highest_zoneidx if curr_idx == MAX_NR_ZONES else curr_idx


cdef inline bint _kswapd_may_sleep(pglist_data *pgdat) noexcept nogil:
    """prepare_kswapd_sleep() with what the kswapd() loop reads at its top:
    the order and zone requested so far (during the last balance too)."""
    return prepare_kswapd_sleep(pgdat, pgdat.kswapd_order,
                                kswapd_highest_zoneidx(pgdat, pgdat.kmm_kswapd_zoneidx))


cdef inline void _kswapd_balance_request(pglist_data *pgdat) noexcept nogil:
    """The kswapd() loop's top: take the requested order and zone (the last
    balance's zone if none was asked), reset the request, balance."""
    cdef int highest_zoneidx = kswapd_highest_zoneidx(pgdat, pgdat.kmm_kswapd_zoneidx)
    trace_mm_vmscan_kswapd_wake(pgdat.node_id, highest_zoneidx, pgdat.kswapd_order)
    kmm_balance_pgdat_start(pgdat, pgdat.kswapd_order, highest_zoneidx)
    pgdat.kswapd_order = 0
    pgdat.kswapd_highest_zoneidx = MAX_NR_ZONES
    pgdat.kswapd_woken = False
    pgdat.kswapd_wait_active = False


cdef bint kmm_kswapd_runnable(pglist_data *pgdat) noexcept nogil:
    """The kswapd thread has something to do now: woken, in a balance, or
    at the end of its nap (kswapd_try_to_sleep's timeout)."""
    return pgdat.kswapd_woken or pgdat.kmm_kswapd_balancing or (
        pgdat.kmm_kswapd_nap_until != 0 and not time_before(jiffies(), pgdat.kmm_kswapd_nap_until))


cdef bint kmm_kswapd_step(pglist_data *pgdat) noexcept nogil:
    """The kswapd thread (mm/vmscan.c kswapd(), kswapd_try_to_sleep()), one
    pass of its balance at a time so that the engine can share its CPU as
    the scheduler would.  Woken (also out of its nap, counted as
    KSWAPD_LOW_WMARK_HIT_QUICKLY), it takes the request and balances.  After
    a balance it naps HZ/10 if the node is balanced (or hopeless), else it
    balances again at once (KSWAPD_HIGH_WMARK_HIT_QUICKLY); at the nap's
    end it sleeps until woken if the node is still balanced, else it
    balances again (KSWAPD_HIGH_WMARK_HIT_QUICKLY).  Returns True while it
    has more to do now."""
    if not pgdat.kmm_kswapd_balancing:
        if pgdat.kswapd_woken:
            if pgdat.kmm_kswapd_nap_until:
                count_vm_event(KSWAPD_LOW_WMARK_HIT_QUICKLY)      # woken in the nap
                pgdat.kmm_kswapd_nap_until = 0
        elif pgdat.kmm_kswapd_nap_until and not time_before(jiffies(), pgdat.kmm_kswapd_nap_until):
            pgdat.kmm_kswapd_nap_until = 0
            if _kswapd_may_sleep(pgdat):
                trace_mm_vmscan_kswapd_sleep(pgdat.node_id)
                return False                                   # schedule(): sleeps until woken
            count_vm_event(KSWAPD_HIGH_WMARK_HIT_QUICKLY)
        else:
            return False
        _kswapd_balance_request(pgdat)
    if not kmm_balance_pgdat_step(pgdat):
        return True
    # kswapd_try_to_sleep()
    if _kswapd_may_sleep(pgdat):
        pgdat.kswapd_wait_active = True                          # on kswapd_wait, wakeable
        pgdat.kmm_kswapd_nap_until = jiffies() + HZ // 10
        return False
    count_vm_event(KSWAPD_HIGH_WMARK_HIT_QUICKLY)
    pgdat.kswapd_woken = True                                  # no sleep: balances again
    return True


cdef unsigned long kmm_kswapd_run_once(pglist_data *pgdat) noexcept nogil:
    """One balance of the kswapd thread, woken for it if it was not
    (Machine.run_kswapd); afterwards it naps, or stays awake to balance
    again if the node is still unbalanced.  Returns the pages reclaimed."""
    if not pgdat.kmm_kswapd_balancing:
        pgdat.kswapd_woken = True
        pgdat.kswapd_wait_active = False
    while kmm_kswapd_step(pgdat) and pgdat.kmm_kswapd_balancing:
        pass
    return pgdat.kmm_kswapd_nr_reclaimed


cdef bint __remove_mapping(address_space *mapping, folio *f) noexcept nogil:
    """mm/vmscan.c: drop a clean, unmapped page-cache folio from its file if
    nobody but the page cache and reclaim's isolation holds it (refcount
    frozen at 2 -> 0)."""
    if mapping == NULL:
        return False
    if not folio_ref_freeze(f, 2):
        return False
    if folio_test_dirty(f):
        folio_ref_unfreeze(f, 2)
        return False
    # __filemap_remove_folio()
    mapping.i_pages[f.index] = NULL
    mapping.nrpages -= 1
    __mod_node_page_state(folio_pgdat(f), NR_FILE_PAGES, -1)
    f.mapping = 0
    return True


# ---------------------------------------------------------------------------
# Emulator entry (Machine.migrate(reason="demotion")): reclaim's demotion of
# folios picked by address rather than from the LRU tail.

cdef unsigned int kmm_demote_folios(page **pages, long nr, int target_nid) noexcept nogil:
    """Demote the given folios (each with a reference the caller took) to
    target_nid, one source node at a time, framed as shrink_inactive_list
    frames shrink_folio_list: each folio isolated (folio_isolate_lru;
    skipped if someone else has it) and the caller's reference dropped (the
    isolation holds its own), NR_ISOLATED_* raised for those taken,
    demote_folio_list's code, the folios not demoted back on the LRU,
    NR_ISOLATED_* dropped.  Returns the number demoted."""
    cdef list_head folios[8]                     # MAX_NUMNODES
    cdef long taken[8][2]
    cdef long i
    cdef int nid, f
    cdef unsigned int nr_succeeded = 0
    cdef pglist_data *pgdat
    cdef page *p
    for nid in range(8):
        INIT_LIST_HEAD(&folios[nid])
        taken[nid][0] = 0
        taken[nid][1] = 0
    for i in range(nr):
        p = pages[i]
        if folio_isolate_lru(p):
            nid = page_to_nid(p)
            f = folio_is_file_lru(p)
            taken[nid][f] += 1
            list_add_tail(&p.lru, &folios[nid])
        folio_put(p)
    for nid in range(KMM().nr_node_ids):
        if list_empty(&folios[nid]):
            continue
        pgdat = KMM().node_data[nid]
        __mod_node_page_state(pgdat, NR_ISOLATED_ANON, taken[nid][0])
        __mod_node_page_state(pgdat, NR_ISOLATED_FILE, taken[nid][1])
        nr_succeeded += __demote_folio_list(&folios[nid], pgdat, target_nid)
        while not list_empty(&folios[nid]):       # back on the LRU, in list order
            p = <page *>(<char *>folios[nid].next - <size_t>&(<page *>NULL).lru)
            list_del(&p.lru)
            folio_putback_lru(p)
        __mod_node_page_state(pgdat, NR_ISOLATED_ANON, -taken[nid][0])
        __mod_node_page_state(pgdat, NR_ISOLATED_FILE, -taken[nid][1])
    return nr_succeeded
