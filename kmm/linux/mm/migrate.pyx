"""Mirrors mm/migrate.c (v6.6-rc5): moving folios to other pages, in batches.

migrate_pages() cuts the list into chunks of NR_MAX_BATCHED_MIGRATION
folios.  migrate_pages_batch() first unmaps every folio of a chunk (their
PTEs become migration entries; with MIGRATE_ASYNC the TLB flushes are only
batched), flushes once for the whole chunk (try_to_unmap_flush), then moves
each folio (copy, page-cache slot, flags) and rebuilds its PTEs from the
migration entries.  Folios left unmapped at the end get their old PTEs back.

The emulator's folios are order 0 and all on the LRU (no hugetlb, THP,
non-LRU movable pages, ZONE_DEVICE, swap cache, buffer heads, mlock
accounting, memcg or page_owner); the code keeps the kernel's shape and
statistics so that the migrc patch's hunks land at the same places:

- migrate_pages_batch(): `mreq = migrc_req_start()` before the unmap loop;
  `can_migrc_init()` before migrate_folio_unmap(); the can_migrc test right
  after it; migrc_mark_pending / fold_ubc_ro_to_migrc in the
  MIGRATEPAGE_UNMAP case; fold_ubc_ro() at the end of each folio;
  migrc_expand_req() on a move success; migrc_req_end(mreq) and
  migrc_undo_folios() at `out:`.
- folio_migrate_mapping(): the extra expected reference of a folio under
  migrc.
Those places are marked "(migrc, HUNK-ID: ...)" below; the seed's new
functions (mm/migrate.c#1) go before putback_movable_pages().
"""

from libc.stdlib cimport malloc, free
from kmm.linux.include_.kmm.trace cimport (KMM_SITE_DEMOTION, KMM_SITE_PROMOTION,
                                          KMM_SITE_MIGRATE_OTHER)
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.linux.include_.trace.events.migrate cimport trace_mm_migrate_pages
from kmm.linux.include_.trace.events.migrc cimport trace_migrc_flush_free_folios
from kmm.linux.include_.kmm.machine cimport KMM, NODE_DATA, kmm_machine, get_current
from kmm.linux.include_.kmm.interleave cimport (kmm_point, KMM_POINT_MIGRATE_UNMAPPED, KMM_POINT_MIGRATE_FLUSHED,
                                         KMM_POINT_MIGRC_BEFORE_FLUSH)
from kmm.linux.include_.linux.list cimport llist_head, llist_node, llist_add, llist_del_all
from kmm.linux.include_.linux.mm_types cimport migrc_req
from kmm.linux.include_.linux.mm_types_task cimport tlbflush_unmap_batch
from kmm.linux.include_.linux.nodemask cimport nodemask_t
from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch
from kmm.linux.arch.x86.include_.asm.tlbflush cimport arch_tlbbatch_clear, arch_tlbbatch_fold
from kmm.linux.arch.x86.mm.tlb cimport arch_tlbbatch_flush
from kmm.linux.mm.internal cimport (migrc_hunk, can_migrc_init, can_migrc_test, MIGRC_HUNK_MIGRATE_C_3,
                              MIGRC_HUNK_MIGRATE_C_4, MIGRC_HUNK_MIGRATE_C_5,
                              MIGRC_HUNK_MIGRATE_C_6, MIGRC_HUNK_MIGRATE_C_7,
                              MIGRC_HUNK_MIGRATE_C_8, MIGRC_HUNK_MIGRATE_C_9,
                              MIGRC_HUNK_MIGRATE_C_10)
from kmm.linux.include_.linux.list cimport (list_head, INIT_LIST_HEAD, list_add, list_add_tail,
                                      list_del, list_move, list_move_tail, list_empty,
                                      list_splice, list_splice_init, list_splice_tail,
                                      list_splice_tail_init, list_cut_before)
from kmm.linux.include_.linux.mm_types cimport (page, folio, vm_area_struct, anon_vma, address_space,
                                          PAGE_MAPPING_FLAGS)
from kmm.linux.include_.linux.mm cimport (page_to_pfn, page_to_nid, folio_nid, folio_zone, folio_pgdat,
                                    page_pgdat, folio_nr_pages, folio_get, folio_put, put_page,
                                    folio_mapping, folio_mapped, folio_test_anon, page_mapcount,
                                    page_cpupid_xchg_last, LAST_CPUPID_MASK, VM_EXEC)
from kmm.linux.include_.linux.mmzone cimport (zone, pglist_data, ZONE_MOVABLE, NR_FILE_PAGES, NR_SHMEM,
                                       NR_FILE_DIRTY, NR_ZONE_WRITE_PENDING, NR_ISOLATED_ANON,
                                       PGPROMOTE_SUCCESS, managed_zone, high_wmark_pages, zone_idx)
from kmm.linux.include_.linux.mm_inline cimport folio_is_file_lru
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.linux.include_.linux.gfp_types cimport (gfp_t, __GFP_THISNODE, __GFP_HIGHMEM, GFP_HIGHUSER_MOVABLE,
                                           __GFP_NOMEMALLOC, __GFP_NORETRY, __GFP_NOWARN,
                                           __GFP_RECLAIM)
from kmm.linux.include_.linux.page_flags cimport *
from kmm.linux.include_.linux.page_ref cimport (folio_ref_count, folio_ref_freeze, folio_ref_unfreeze,
                                          folio_ref_add)
from kmm.linux.include_.linux.pagemap cimport folio_trylock, folio_unlock
from kmm.linux.include_.linux.highmem cimport copy_highpage
from kmm.linux.include_.linux.migrate cimport MIGRATEPAGE_SUCCESS, MIGRATEPAGE_UNMAP
from kmm.linux.include_.linux.migrate_mode cimport *
from kmm.linux.include_.linux.rmap cimport (rmap_walk_control, page_vma_mapped_walk_s, DEFINE_FOLIO_VMA_WALK,
                                      PVMW_SYNC, PVMW_MIGRATION, RMAP_NONE, RMAP_EXCLUSIVE,
                                      TTU_BATCH_FLUSH)
from kmm.linux.include_.linux.swapops cimport (swp_entry_t, pte_to_swp_entry, is_migration_entry_young,
                                         is_migration_entry_dirty, is_writable_migration_entry,
                                         is_readable_migration_entry)
from kmm.linux.include_.linux.pgtable cimport ptep_get, set_pte_at
from kmm.linux.include_.linux.vmstat cimport (count_vm_events, mod_node_page_state,
                                        __mod_node_page_state, __mod_zone_page_state)
from kmm.linux.include_.linux.vm_event_item cimport (PGMIGRATE_SUCCESS, PGMIGRATE_FAIL,
                                              THP_MIGRATION_SUCCESS, THP_MIGRATION_FAIL,
                                              THP_MIGRATION_SPLIT, NUMA_PAGE_MIGRATE)
from kmm.linux.arch.x86.include_.asm.pgtable cimport (pte_t, mk_pte, pte_mkold, pte_mkdirty, pte_mkwrite)
from kmm.linux.mm.internal cimport migration_target_control
from kmm.linux.mm.page_alloc cimport __folio_alloc, zone_watermark_ok
from kmm.linux.mm.rmap cimport (rmap_walk, rmap_walk_locked, page_vma_mapped_walk, try_to_migrate,
                          try_to_unmap_flush, page_add_anon_rmap, page_add_file_rmap,
                          folio_get_anon_vma, put_anon_vma, fold_ubc_ro)
from kmm.linux.mm.swap cimport folio_add_lru
from kmm.linux.mm.vmscan cimport wakeup_kswapd, folio_isolate_lru, folio_putback_lru
from kmm.linux.mm.memory_tiers cimport node_is_toptier
from kmm.linux.include_.uapi.asm_generic.errno_base cimport (EAGAIN, ENOMEM, EBUSY, EFAULT, ENOENT,
                                                       EACCES, EEXIST)
from kmm.linux.include_.linux.err cimport IS_ERR, PTR_ERR
from kmm.linux.include_.linux.mempolicy cimport MPOL_MF_MOVE_ALL
from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.linux.include_.linux.sched.sysctl cimport NUMA_BALANCING_MEMORY_TIERING
from kmm.linux.mm.gup cimport follow_page, FOLL_GET, FOLL_DUMP
from kmm.linux.mm.mmap cimport vma_lookup


# mm/migrate.c: what migrate_folio_unmap() records in dst->private (with
# the anon_vma pointer) for the move step.
cdef enum:
    PAGE_WAS_MAPPED = 1 << 0
    PAGE_WAS_MLOCKED = 1 << 1
    PAGE_OLD_STATES = PAGE_WAS_MAPPED | PAGE_WAS_MLOCKED


cdef inline folio *list_entry_folio(list_head *p) noexcept nogil:
    """list_entry(p, struct folio, lru) (include/linux/list.h): the folio
    whose lru is p, as migrate.c's list_for_each_entry_safe() walks see it
    (not vmscan's lru_to_folio, the tail of a list)."""
    return <folio *>(<char *>p - <size_t>&(<folio *>NULL).lru)


# ---------------------------------------------------------------------------
# The seed patch (mm/migrate.c#1): keep both the source and the destination
# of a read-only migration until one deferred TLB flush covers them.

cdef void migrc_mark_pending(folio *fsrc, folio *fdst) noexcept nogil:
    """mm/migrate.c (migrc): hold the source (one more reference) and mark
    both folios; ->lru is still in use, so the request is joined later."""
    folio_get(fsrc)
    __folio_set_migrc(fsrc)
    __folio_set_migrc(fdst)


cdef bint migrc_under_processing(folio *fsrc, folio *fdst) noexcept nogil:
    """mm/migrate.c (migrc): only a source AND destination both marked are
    this migration's; a source marked alone was deferred by an earlier one."""
    return folio_test_migrc(fsrc) and folio_test_migrc(fdst)


cdef void migrc_undo_folios(folio *fsrc, folio *fdst) noexcept nogil:
    """mm/migrate.c (migrc): the folio was not moved; the batch's flush has
    run, so drop the marks and the extra reference."""
    __folio_clear_migrc(fsrc)
    __folio_clear_migrc(fdst)
    folio_put(fsrc)


cdef void migrc_expand_req(folio *fsrc, folio *fdst, migrc_req *req) noexcept nogil:
    """mm/migrate.c (migrc): queue a moved source on the request and count
    it as pending in its zone."""
    if req.nid == -1:
        req.nid = folio_nid(fsrc)
    if req.nid != folio_nid(fsrc):              # WARN_ON(): one node per request
        KMM().migrc_nr_warnings += 1
    list_add(&fsrc.lru, &req.folios)
    folio_zone(fsrc).migrc_pending_nr += 1
    KMM().kmm_migrc_deferred += 1               # emulator stat


cdef migrc_req *migrc_req_start() noexcept nogil:
    """mm/migrate.c (migrc): a new, empty request (kmalloc may fail: NULL)."""
    cdef migrc_req *req = <migrc_req *>malloc(sizeof(migrc_req))
    if req == NULL:
        return NULL
    arch_tlbbatch_clear(&req.arch)
    INIT_LIST_HEAD(&req.folios)
    req.nid = -1
    return req


cdef void migrc_req_end(migrc_req *req) noexcept nogil:
    """mm/migrate.c (migrc): hang a non-empty request on its node."""
    if req == NULL:
        return
    if list_empty(&req.folios):
        free(req)
        return
    llist_add(&req.llnode, &NODE_DATA(req.nid).migrc_reqs)


cdef inline migrc_req *llnode_to_req(llist_node *n) noexcept nogil:
    return <migrc_req *>(<char *>n - <size_t>&(<migrc_req *>NULL).llnode)


cdef void migrc_gather(list_head *folios, arch_tlbflush_unmap_batch *arch,
                       llist_head *reqs) noexcept nogil:
    """mm/migrate.c (migrc): take every request of a node: their CPUs into
    arch, their folios onto folios."""
    cdef llist_node *nodes = llist_del_all(reqs)
    cdef llist_node *nxt
    cdef migrc_req *req
    while nodes != NULL:
        nxt = nodes.next
        req = llnode_to_req(nodes)
        arch_tlbbatch_fold(arch, &req.arch)
        list_splice(&req.folios, folios)
        free(req)
        nodes = nxt


cdef bint migrc_flush_free_folios(nodemask_t *nodes) noexcept nogil:
    """mm/migrate.c (migrc): do the deferred TLB flush of the given nodes'
    requests (all nodes if NULL) and release the source folios held for it.
    Returns whether anything was pending."""
    cdef kmm_machine *m = KMM()
    cdef nodemask_t all_nodes
    cdef arch_tlbflush_unmap_batch arch
    cdef list_head folios
    cdef list_head *pos
    cdef list_head *nxt
    cdef folio *f
    cdef int nid
    cdef long nr_freed
    INIT_LIST_HEAD(&folios)
    if nodes == NULL:
        all_nodes = (1ULL << m.nr_node_ids) - 1     # node_possible_map
        nodes = &all_nodes
    arch_tlbbatch_clear(&arch)
    for nid in range(m.nr_node_ids):
        if (nodes[0] >> nid) & 1:
            migrc_gather(&folios, &arch, &NODE_DATA(nid).migrc_reqs)
    if list_empty(&folios):
        if m.kconfig.CONFIG_MIGRC_FIXES and m.migrc_inflight_cnt and \
                not (m.migrc_fixes_off >> MIGRC_FIX_INFLIGHT) & 1:
            # CONFIG_MIGRC_FIXES: another caller took the requests off the
            # lists and has not flushed yet; returning now would let our
            # caller (do_wp_page) make a page writable while those CPUs
            # still hold read-only translations of the old copy.
            migrc_flush_inflight()
        return False
    if m.kconfig.CONFIG_MIGRC_FIXES:
        arch_tlbbatch_fold(&m.migrc_inflight, &arch)
        m.migrc_inflight_cnt += 1
    kmm_point(KMM_POINT_MIGRC_BEFORE_FLUSH)           # emulator-only interleaving point
    m.kmm_migrc_flushes += 1                    # emulator stat
    arch_tlbbatch_flush(&arch)
    nr_freed = 0
    if m.kconfig.CONFIG_MIGRC_FIXES:
        m.migrc_inflight_cnt -= 1
        if m.migrc_inflight_cnt == 0:
            arch_tlbbatch_clear(&m.migrc_inflight)
    pos = folios.next
    while pos != &folios:
        nxt = pos.next
        f = list_entry_folio(pos)
        folio_zone(f).migrc_pending_nr -= 1
        folio_put(f)
        nr_freed += 1
        pos = nxt
    trace_migrc_flush_free_folios(nr_freed, m.cpus[m.cpu].kmm_site)
    return True


cdef void migrc_flush_inflight() noexcept nogil:
    """CONFIG_MIGRC_FIXES: flush the CPUs of requests another
    migrc_flush_free_folios() has gathered but not yet flushed (the LUF
    series avoids the same race by keeping each batch until its generation
    is known flushed)."""
    cdef kmm_machine *m = KMM()
    cdef arch_tlbflush_unmap_batch arch
    arch_tlbbatch_clear(&arch)
    arch_tlbbatch_fold(&arch, &m.migrc_inflight)
    arch_tlbbatch_flush(&arch)
    m.migrc_fix_flushes[MIGRC_FIX_INFLIGHT] += 1


cdef void migrc_fix_flush(int where) noexcept nogil:
    """CONFIG_MIGRC_FIXES: a flush point the seed patch lacks (named after
    the kernel function that calls it, see MIGRC_FIX_* in migrate.pxd): do
    every deferred flush and free the held folios before going on, as the
    LUF series' luf_flush() calls do.  Nothing to do (and no IPI) when
    nothing is pending."""
    cdef kmm_machine *m = KMM()
    if not m.kconfig.CONFIG_MIGRC_FIXES or (m.migrc_fixes_off >> where) & 1:
        return
    if migrc_flush_free_folios(NULL):
        m.migrc_fix_flushes[where] += 1


cdef void fold_ubc_ro_to_migrc(migrc_req *req) noexcept nogil:
    """mm/migrate.c (migrc): move what tlb_ubc_ro gathered for this folio
    into the request instead of the batch's flush."""
    cdef tlbflush_unmap_batch *tlb_ubc_ro = &get_current().tlb_ubc_ro
    if not tlb_ubc_ro.flush_required:
        return
    arch_tlbbatch_fold(&req.arch, &tlb_ubc_ro.arch)
    arch_tlbbatch_clear(&tlb_ubc_ro.arch)
    tlb_ubc_ro.flush_required = False


# ---------------------------------------------------------------------------
# Patch 3/3 (CONFIG_MIGRC_PAUSE): no new deferrals while an allocation is
# struggling, and what a paused batch gathered is flushed with the batch.

cdef void migrc_pause() noexcept nogil:
    KMM().migrc_pause_cnt += 1

cdef void migrc_resume() noexcept nogil:
    KMM().migrc_pause_cnt -= 1

cdef bint migrc_paused() noexcept nogil:
    return KMM().migrc_pause_cnt != 0


cdef void fold_migrc_to_ubc(migrc_req *req) noexcept nogil:
    """Patch 3/3: a request half-built when migrc got paused hands its CPUs
    to tlb_ubc, so the batch's own flush covers them."""
    cdef tlbflush_unmap_batch *tlb_ubc = &get_current().tlb_ubc
    if req == NULL:
        return
    arch_tlbbatch_fold(&tlb_ubc.arch, &req.arch)
    arch_tlbbatch_clear(&req.arch)
    tlb_ubc.flush_required = True


HUNKS = {
    "mm/migrate.c#1": ("migrc_mark_pending", "migrc_under_processing", "migrc_undo_folios",
                       "migrc_expand_req", "migrc_req_start", "migrc_req_end", "migrc_gather",
                       "migrc_flush_free_folios", "fold_ubc_ro_to_migrc"),
    "mm/migrate.c#2": ("folio_expected_refs",),
    "mm/migrate.c#3": ("folio_migrate_mapping",),
    "mm/migrate.c#4": ("migrate_pages_batch",),
    "mm/migrate.c#5": ("migrate_pages_batch",),
    "mm/migrate.c#6": ("migrate_pages_batch",),
    "mm/migrate.c#7": ("migrate_pages_batch",),
    "mm/migrate.c#8": ("migrate_pages_batch",),
    "mm/migrate.c#9": ("migrate_pages_batch",),
    "mm/migrate.c#10": ("migrate_pages_batch",),
}
# #2 only adds a blank line to folio_expected_refs(): nothing to test.
HUNKS_WITHOUT_BEHAVIOUR = ("mm/migrate.c#2",)

# ---------------------------------------------------------------------------
# Putting isolated folios back, and rebuilding PTEs from migration entries

cdef void putback_movable_pages(list_head *l) noexcept nogil:
    """mm/migrate.c: return isolated folios to the LRU (every folio here is
    an LRU folio: no hugetlb, no non-LRU movable pages)."""
    cdef list_head *pos = l.next
    cdef list_head *nxt
    cdef folio *f
    while pos != l:
        nxt = pos.next
        f = list_entry_folio(pos)
        list_del(&f.lru)
        mod_node_page_state(folio_pgdat(f), NR_ISOLATED_ANON + folio_is_file_lru(f),
                            -folio_nr_pages(f))
        folio_putback_lru(f)
        pos = nxt


cdef bint remove_migration_pte(folio *f, vm_area_struct *vma, unsigned long addr,
                               void *old) noexcept nogil:
    """mm/migrate.c: turn the migration entry for `old` in vma back into a
    PTE, mapping f (the new folio, or old itself when undoing).

    The PTE is built from vma->vm_page_prot -- read-only for a private
    mapping -- and is writable only if the entry was a writable one.  It is
    old unless the entry kept the young bit, dirty only if the folio is dirty
    and the entry kept the dirty bit (both need swap_migration_ad_supported).
    An anonymous folio gets an exclusive rmap unless the entry was plain
    readable.  The entry was not present, so nothing is flushed.  The
    oracle's version slot beside the PTE is left as it is: it holds the
    logical page's version, which the migration does not change."""
    cdef page_vma_mapped_walk_s pvmw
    cdef int rmap_flags
    cdef pte_t old_pte, pte
    cdef swp_entry_t entry
    cdef page *new
    DEFINE_FOLIO_VMA_WALK(&pvmw, <folio *>old, vma, addr, PVMW_SYNC | PVMW_MIGRATION)
    while page_vma_mapped_walk(&pvmw):
        rmap_flags = RMAP_NONE
        new = f                                    # folio_page(folio, 0)
        folio_get(f)
        pte = mk_pte(new, vma.vm_page_prot)
        old_pte = ptep_get(pvmw.pte)
        entry = pte_to_swp_entry(old_pte)
        if not is_migration_entry_young(entry):
            pte = pte_mkold(pte)
        if folio_test_dirty(f) and is_migration_entry_dirty(entry):
            pte = pte_mkdirty(pte)
        if is_writable_migration_entry(entry):
            pte = pte_mkwrite(pte)
        if folio_test_anon(f) and not is_readable_migration_entry(entry):
            rmap_flags |= RMAP_EXCLUSIVE
        if folio_test_anon(f):
            page_add_anon_rmap(new, vma, pvmw.address, rmap_flags)
        else:
            page_add_file_rmap(new, vma, False)
        set_pte_at(vma.vm_mm, pvmw.address, pvmw.pte, pte)
    return True


cdef void remove_migration_ptes(folio *src, folio *dst, bint locked) noexcept nogil:
    """mm/migrate.c: replace every migration entry for src by a PTE mapping
    dst (the walk goes over dst's rmap, which equals src's by now)."""
    cdef rmap_walk_control rwc
    rwc.arg = <void *>src
    rwc.rmap_one = remove_migration_pte
    rwc.done = NULL
    rwc.invalid_vma = NULL
    rwc.try_lock = False
    rwc.contended = False
    if locked:
        rmap_walk_locked(dst, &rwc)
    else:
        rmap_walk(dst, &rwc)


# ---------------------------------------------------------------------------
# Moving one folio's mapping, data and flags

cdef inline int folio_expected_refs(address_space *mapping, folio *f) noexcept nogil:
    """mm/migrate.c: the references a folio has when only migration holds
    it: the isolation's, plus the page cache's, plus one for private data."""
    cdef int refs = 1
    if mapping == NULL:
        return refs
    refs += folio_nr_pages(f)
    if folio_test_private(f):
        refs += 1
    return refs


cdef inline bint mapping_can_writeback(address_space *mapping) noexcept nogil:
    """include/linux/backing-dev.h: every emulated file accounts dirty pages
    for writeback (page-writeback.c folio_account_dirtied)."""
    return True


cdef int folio_migrate_mapping(address_space *mapping, folio *newfolio, folio *f,
                               int extra_count) noexcept nogil:
    """mm/migrate.c: give newfolio folio's place.  An anonymous folio (no
    swap cache) must have exactly the expected references, else -EAGAIN
    (someone else holds it).  A page-cache folio's references are frozen at
    the expected count (-EAGAIN if they are not that), its page-cache slot
    is pointed at newfolio, which takes the cache's reference and the dirty
    flag, and the node/zone file statistics move with it."""
    cdef int expected_count = folio_expected_refs(mapping, f) + extra_count
    cdef long nr = folio_nr_pages(f)
    cdef zone *oldzone
    cdef zone *newzone
    cdef bint dirty
    if migrc_hunk(MIGRC_HUNK_MIGRATE_C_3) and migrc_under_processing(f, newfolio):
        expected_count += 1                      # mm/migrate.c#3: migrc holds one more
    if mapping == NULL:
        # anonymous page without a mapping
        if folio_ref_count(f) != expected_count:
            return -EAGAIN
        # no turning back from here
        newfolio.index = f.index
        newfolio.mapping = f.mapping
        if folio_test_swapbacked(f):
            __folio_set_swapbacked(newfolio)
        return MIGRATEPAGE_SUCCESS

    oldzone = folio_zone(f)
    newzone = folio_zone(newfolio)
    if not folio_ref_freeze(f, expected_count):
        return -EAGAIN
    # nobody else can look at the folio now: no turning back
    newfolio.index = f.index
    newfolio.mapping = f.mapping
    folio_ref_add(newfolio, nr)                    # the page cache's reference
    if folio_test_swapbacked(f):
        __folio_set_swapbacked(newfolio)
    # (no swap cache: one xarray entry)

    # move dirty while the references are frozen and newfolio is not visible
    dirty = folio_test_dirty(f)
    if dirty:
        folio_clear_dirty(f)
        folio_set_dirty(newfolio)

    mapping.i_pages[f.index] = newfolio            # xas_store()

    # the old folio loses the cache's reference; it is not the last one
    folio_ref_unfreeze(f, expected_count - nr)

    # Account the folio in its new zone; the other counters follow the
    # mappings and references as they are made and dropped.
    if newzone != oldzone:
        __mod_node_page_state(oldzone.zone_pgdat, NR_FILE_PAGES, -nr)
        __mod_node_page_state(newzone.zone_pgdat, NR_FILE_PAGES, nr)
        if folio_test_swapbacked(f) and not folio_test_swapcache(f):
            __mod_node_page_state(oldzone.zone_pgdat, NR_SHMEM, -nr)
            __mod_node_page_state(newzone.zone_pgdat, NR_SHMEM, nr)
        if dirty and mapping_can_writeback(mapping):
            __mod_node_page_state(oldzone.zone_pgdat, NR_FILE_DIRTY, -nr)
            __mod_zone_page_state(oldzone, NR_ZONE_WRITE_PENDING, -nr)
            __mod_node_page_state(newzone.zone_pgdat, NR_FILE_DIRTY, nr)
            __mod_zone_page_state(newzone, NR_ZONE_WRITE_PENDING, nr)
    return MIGRATEPAGE_SUCCESS


cdef void folio_migrate_flags(folio *newfolio, folio *f) noexcept nogil:
    """mm/migrate.c: copy the folio's state to newfolio.  last_cpupid moves
    too, except that in memory-tiering mode it is reset when the folio
    crosses between the top tier and a slower one (there it holds the page's
    access time, not a cpupid)."""
    cdef int cpupid
    cdef bint f_toptier, t_toptier
    if folio_test_error(f):
        folio_set_error(newfolio)
    if folio_test_referenced(f):
        folio_set_referenced(newfolio)
    if folio_test_uptodate(f):
        folio_set_uptodate(newfolio)               # folio_mark_uptodate()
    if folio_test_clear_active(f):
        folio_set_active(newfolio)
    elif folio_test_clear_unevictable(f):
        folio_set_unevictable(newfolio)
    if folio_test_workingset(f):
        folio_set_workingset(newfolio)
    if folio_test_checked(f):
        folio_set_checked(newfolio)
    # PG_anon_exclusive (PG_mappedtodisk) travels in the migration entries;
    # an unmapped folio may still carry it: copy the bit.
    if folio_test_mappedtodisk(f):
        folio_set_mappedtodisk(newfolio)
    # dirty, where folio_migrate_mapping() did not move it already
    if folio_test_dirty(f):
        folio_set_dirty(newfolio)
    if folio_test_young(f):
        folio_set_young(newfolio)
    if folio_test_idle(f):
        folio_set_idle(newfolio)

    # NUMA information follows the data, so the page is not migrated again
    # at once
    cpupid = page_cpupid_xchg_last(f, -1)
    if KMM().sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING:
        f_toptier = node_is_toptier(page_to_nid(f))
        t_toptier = node_is_toptier(page_to_nid(newfolio))
        if f_toptier != t_toptier:
            cpupid = -1
    page_cpupid_xchg_last(newfolio, cpupid)

    # (no KSM)
    if folio_test_swapcache(f):
        folio_clear_swapcache(f)
    folio_clear_private(f)
    f.private = 0
    if folio_test_writeback(newfolio):
        folio_clear_writeback(newfolio)            # folio_end_writeback()
    # PG_readahead shares PG_reclaim's bit: set it after writeback ended
    if folio_test_readahead(f):
        folio_set_readahead(newfolio)
    # (no page_owner, no memcg)


cdef void folio_migrate_copy(folio *newfolio, folio *f) noexcept nogil:
    """mm/migrate.c: copy the data (folio_copy: its version, for the oracle),
    then the state."""
    copy_highpage(newfolio, f)                     # folio_copy()
    folio_migrate_flags(newfolio, f)


cdef int migrate_folio_extra(address_space *mapping, folio *dst, folio *src, int mode,
                             int extra_count) noexcept nogil:
    """mm/migrate.c"""
    cdef int rc = folio_migrate_mapping(mapping, dst, src, extra_count)
    if rc != MIGRATEPAGE_SUCCESS:
        return rc
    if mode != MIGRATE_SYNC_NO_COPY:
        folio_migrate_copy(dst, src)
    else:
        folio_migrate_flags(dst, src)
    return MIGRATEPAGE_SUCCESS


cdef int migrate_folio(address_space *mapping, folio *dst, folio *src, int mode) noexcept nogil:
    """mm/migrate.c: migration of a folio without private data: anonymous
    folios, and the emulator's files (their address_space_operations use
    migrate_folio, as shmem's do)."""
    return migrate_folio_extra(mapping, dst, src, mode, 0)


cdef int move_to_new_folio(folio *dst, folio *src, int mode) noexcept nogil:
    """mm/migrate.c: move src's mapping, data and state to dst (both
    locked).  On success a page-cache src loses its mapping pointer; an
    anonymous one keeps it until it is freed (statistics need PageAnon)."""
    cdef int rc = -EAGAIN
    cdef address_space *mapping = folio_mapping(src)
    # every folio is an LRU folio (no __PageMovable pages)
    if mapping == NULL:
        rc = migrate_folio(mapping, dst, src, mode)
    else:
        rc = migrate_folio(mapping, dst, src, mode)   # mapping->a_ops->migrate_folio
    if rc == MIGRATEPAGE_SUCCESS:
        if not (src.mapping & PAGE_MAPPING_FLAGS):
            src.mapping = 0
        # flush_dcache_folio() is empty on x86
    return rc


# ---------------------------------------------------------------------------
# One folio: unmap, then move

cdef inline void __migrate_folio_record(folio *dst, int old_page_state,
                                        anon_vma *av) noexcept nogil:
    """mm/migrate.c: remember, in the unused dst->private, what the move
    step must know about src."""
    dst.private = <unsigned long>av + <unsigned long>old_page_state


cdef inline void __migrate_folio_extract(folio *dst, int *old_page_state,
                                         anon_vma **anon_vmap) noexcept nogil:
    cdef unsigned long private = dst.private
    anon_vmap[0] = <anon_vma *>(private & ~(<unsigned long>PAGE_OLD_STATES))
    old_page_state[0] = private & PAGE_OLD_STATES
    dst.private = 0


cdef void migrate_folio_undo_src(folio *src, int page_was_mapped, anon_vma *av, bint locked,
                                 list_head *ret) noexcept nogil:
    """mm/migrate.c: give src its PTEs back after a failure."""
    if page_was_mapped:
        remove_migration_ptes(src, src, False)
    if av != NULL:
        put_anon_vma(av)
    if locked:
        folio_unlock(src)
    if ret != NULL:
        list_move_tail(&src.lru, ret)


cdef void migrate_folio_undo_dst(folio *dst, bint locked, free_folio_t put_new_folio,
                                 unsigned long private) noexcept nogil:
    """mm/migrate.c: give back an unused destination."""
    if locked:
        folio_unlock(dst)
    if put_new_folio != NULL:
        put_new_folio(dst, private)
    else:
        folio_put(dst)


cdef void migrate_folio_done(folio *src, int reason) noexcept nogil:
    """mm/migrate.c: src is done with (migrated, or freed under us): end its
    NR_ISOLATED accounting -- except for demotion, whose caller (reclaim)
    accounts the isolated folios itself -- and drop the isolation reference."""
    if reason != MR_DEMOTION:
        mod_node_page_state(folio_pgdat(src), NR_ISOLATED_ANON + folio_is_file_lru(src),
                            -folio_nr_pages(src))
    if reason != MR_MEMORY_FAILURE:
        folio_put(src)


cdef int migrate_folio_unmap(new_folio_t get_new_folio, free_folio_t put_new_folio,
                             unsigned long private, folio *src, folio **dstp, int mode,
                             int reason, list_head *ret) noexcept nogil:
    """mm/migrate.c: lock src, get a destination, and replace src's PTEs by
    migration entries.  Returns MIGRATEPAGE_UNMAP (src unmapped, dst in
    *dstp), MIGRATEPAGE_SUCCESS (src was freed meanwhile), -ENOMEM (no
    destination), -EAGAIN (try again: locked, or still mapped) or another
    error (-EBUSY: under writeback in a non-SYNC mode).

    MIGRATE_ASYNC unmaps with TTU_BATCH_FLUSH: the flushes wait for the
    batch's try_to_unmap_flush().  CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH (an
    emulator knob) unmaps without it, flushing each PTE at once as kernels
    before commit 7e12beb8 ("mm/migrate: batch flushing TLB") did."""
    cdef folio *dst
    cdef int rc = -EAGAIN
    cdef int old_page_state = 0
    cdef anon_vma *av = NULL
    cdef bint locked = False
    cdef bint dst_locked = False
    cdef int ttu

    if folio_ref_count(src) == 1:
        # the folio was freed from under us: done
        folio_clear_active(src)
        folio_clear_unevictable(src)
        list_del(&src.lru)
        migrate_folio_done(src, reason)
        return MIGRATEPAGE_SUCCESS

    dst = get_new_folio(src, private)
    if dst == NULL:
        return -ENOMEM
    dstp[0] = dst
    dst.private = 0

    while True:                                    # (a block left by "goto out")
        if not folio_trylock(src):
            # nothing sleeps in the emulator: a locked folio is busy
            break
        locked = True
        if folio_test_mlocked(src):
            old_page_state |= PAGE_WAS_MLOCKED

        if folio_test_writeback(src):
            # only a fully synchronous migration waits for writeback
            if mode != MIGRATE_SYNC and mode != MIGRATE_SYNC_NO_COPY:
                rc = -EBUSY
                break
            # folio_wait_writeback(): the emulator has no I/O in flight to
            # wait for

        # Once unmapped, src's mapcount is 0 and nothing keeps its anon_vma
        # alive: hold a reference until the migration is over.
        if folio_test_anon(src):
            av = folio_get_anon_vma(src)

        # block others from using dst before its PTEs exist
        if not folio_trylock(dst):
            break
        dst_locked = True

        if src.mapping == 0:
            if folio_test_private(src):
                # try_to_free_buffers(): no buffer heads here
                break
        elif folio_mapped(src):
            # establish migration entries
            ttu = TTU_BATCH_FLUSH if mode == MIGRATE_ASYNC else 0
            if KMM().kconfig.CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH:
                ttu = 0
            try_to_migrate(src, ttu)
            old_page_state |= PAGE_WAS_MAPPED

        if not folio_mapped(src):
            __migrate_folio_record(dst, old_page_state, av)
            return MIGRATEPAGE_UNMAP
        break

    # out: a folio that was not unmapped goes back to the right list unless
    # it is to be retried
    if rc == -EAGAIN:
        ret = NULL
    migrate_folio_undo_src(src, old_page_state & PAGE_WAS_MAPPED, av, locked, ret)
    migrate_folio_undo_dst(dst, dst_locked, put_new_folio, private)
    return rc


cdef int migrate_folio_move(free_folio_t put_new_folio, unsigned long private, folio *src,
                            folio *dst, int mode, int reason, list_head *ret) noexcept nogil:
    """mm/migrate.c: move the unmapped src to dst and map dst where src was
    mapped.  On success src is released; on -EAGAIN dst goes back to its
    place in the batch for a retry; on another error both are undone."""
    cdef int rc
    cdef int old_page_state = 0
    cdef anon_vma *av = NULL
    cdef list_head *prev

    __migrate_folio_extract(dst, &old_page_state, &av)
    prev = dst.lru.prev
    list_del(&dst.lru)

    rc = move_to_new_folio(dst, src, mode)
    if rc == MIGRATEPAGE_SUCCESS:
        # on the LRU at once (the kernel does it before the PTEs exist so an
        # mlocked folio's count is rebuilt by remove_migration_ptes)
        folio_add_lru(dst)
        if old_page_state & PAGE_WAS_MAPPED:
            remove_migration_ptes(src, dst, False)
        folio_unlock(dst)
        # dst's references are its mappings' (and the page cache's) now
        folio_put(dst)
        # src has only the isolation's reference left: it will be freed
        list_del(&src.lru)
        if av != NULL:
            put_anon_vma(av)
        folio_unlock(src)
        migrate_folio_done(src, reason)
        return rc

    # out:
    if rc == -EAGAIN:
        list_add(&dst.lru, prev)
        __migrate_folio_record(dst, old_page_state, av)
        return rc
    migrate_folio_undo_src(src, old_page_state & PAGE_WAS_MAPPED, av, True, ret)
    migrate_folio_undo_dst(dst, True, put_new_folio, private)
    return rc


# ---------------------------------------------------------------------------
# Lists of folios

cdef int migrate_pages_batch(list_head *from_, new_folio_t get_new_folio,
                             free_folio_t put_new_folio, unsigned long private, int mode,
                             int reason, list_head *ret_folios, list_head *split_folios,
                             migrate_pages_stats *stats, int nr_pass) noexcept nogil:
    """mm/migrate.c: unmap as many folios of `from_` as possible (up to
    nr_pass passes over those that say -EAGAIN), flush the TLBs once for all
    of them, then move them (again up to nr_pass passes).  Folios still
    unmapped at the end get their PTEs back and return to ret_folios.
    Returns the number of folios not migrated, or -ENOMEM.  Batches of more
    than one folio are for MIGRATE_ASYNC only (the caller's job)."""
    cdef int retry = 1
    cdef int thp_retry = 1
    cdef int nr_failed = 0
    cdef int nr_retry_pages = 0
    cdef int npass = 0
    cdef bint is_thp = False
    cdef folio *f
    cdef folio *dst = NULL
    cdef list_head *pos
    cdef list_head *nxt
    cdef list_head *dpos
    cdef list_head *dpos2
    cdef int rc, rc_saved = 0, nr_pages
    cdef list_head unmap_folios
    cdef list_head dst_folios
    cdef bint nosplit = (reason == MR_NUMA_MISPLACED)
    cdef int jump = 0                              # 1: goto move, 2: goto out
    cdef int old_page_state
    cdef anon_vma *av
    cdef migrc_req *mreq = NULL
    cdef bint can_migrc = False
    INIT_LIST_HEAD(&unmap_folios)
    INIT_LIST_HEAD(&dst_folios)
    # mm/migrate.c#4: migrc only for NUMA migrations (demotion, promotion);
    # patch 3/3: no new request while migrc is paused
    if migrc_hunk(MIGRC_HUNK_MIGRATE_C_4) and (reason == MR_DEMOTION or reason == MR_NUMA_MISPLACED) \
            and not (KMM().kconfig.CONFIG_MIGRC_PAUSE and migrc_paused()):
        mreq = migrc_req_start()

    while npass < nr_pass and retry and not jump:
        retry = 0
        thp_retry = 0
        nr_retry_pages = 0
        pos = from_.next
        while pos != from_:
            nxt = pos.next
            f = list_entry_folio(pos)
            is_thp = False                         # order-0 folios only
            nr_pages = folio_nr_pages(f)

            if migrc_hunk(MIGRC_HUNK_MIGRATE_C_5):
                can_migrc_init()                   # mm/migrate.c#5
            rc = migrate_folio_unmap(get_new_folio, put_new_folio, private, f, &dst, mode,
                                     reason, ret_folios)
            # mm/migrate.c#5: a request exists, every mapping was read-only
            # (and there was one), and the folio is not held by migrc already
            can_migrc = migrc_hunk(MIGRC_HUNK_MIGRATE_C_5) and mreq != NULL and \
                can_migrc_test() and not folio_test_migrc(f)
            #
            # Success: the folio will be freed; Unmap: the folio goes on
            # unmap_folios, dst on dst_folios; -EAGAIN, -ENOMEM: it stays on
            # from_; another error: it went to ret_folios.
            if rc == -ENOMEM:
                # Memory is low: do not try the other folios; move the ones
                # unmapped so far, then stop.  (A large folio would be split
                # here, unless nosplit.)
                nr_failed += 1
                stats.nr_thp_failed += is_thp
                stats.nr_failed_pages += nr_pages + nr_retry_pages
                stats.nr_thp_failed += thp_retry
                rc_saved = rc
                jump = 2 if list_empty(&unmap_folios) else 1
                break
            elif rc == -EAGAIN:
                retry += 1
                thp_retry += is_thp
                nr_retry_pages += nr_pages
            elif rc == MIGRATEPAGE_SUCCESS:
                stats.nr_succeeded += nr_pages
                stats.nr_thp_succeeded += is_thp
            elif rc == MIGRATEPAGE_UNMAP:
                list_move_tail(&f.lru, &unmap_folios)
                list_add_tail(&dst.lru, &dst_folios)
                if can_migrc and migrc_hunk(MIGRC_HUNK_MIGRATE_C_6):
                    # mm/migrate.c#6: ->lru is busy: only mark now, queue
                    # on the request after a successful move
                    migrc_mark_pending(f, dst)
                    fold_ubc_ro_to_migrc(mreq)
            else:
                # permanent failure (-EBUSY...): the folio went to
                # ret_folios and is not retried
                nr_failed += 1
                stats.nr_thp_failed += is_thp
                stats.nr_failed_pages += nr_pages
            if migrc_hunk(MIGRC_HUNK_MIGRATE_C_7):
                fold_ubc_ro()                      # mm/migrate.c#7: the rest goes to tlb_ubc
            pos = nxt
        npass += 1
    if not jump:
        nr_failed += retry
        stats.nr_thp_failed += thp_retry
        stats.nr_failed_pages += nr_retry_pages

    if jump != 2:
        # move:
        kmm_point(KMM_POINT_MIGRATE_UNMAPPED)      # emulator-only interleaving point
        # flush the TLBs for every unmapped folio
        if KMM().kconfig.CONFIG_MIGRC_PAUSE and migrc_paused():
            fold_migrc_to_ubc(mreq)                # patch 3/3: paused mid-batch
        try_to_unmap_flush()
        kmm_point(KMM_POINT_MIGRATE_FLUSHED)       # emulator-only interleaving point

        retry = 1
        npass = 0
        while npass < nr_pass and retry:
            retry = 0
            thp_retry = 0
            nr_retry_pages = 0
            dpos = dst_folios.next
            dpos2 = dpos.next
            pos = unmap_folios.next
            while pos != &unmap_folios:
                nxt = pos.next
                f = list_entry_folio(pos)
                dst = list_entry_folio(dpos)
                is_thp = False
                nr_pages = folio_nr_pages(f)
                rc = migrate_folio_move(put_new_folio, private, f, dst, mode, reason,
                                        ret_folios)
                # Success: the folio will be freed; -EAGAIN: it stays on
                # unmap_folios; another error: it went to ret_folios.
                if rc == -EAGAIN:
                    retry += 1
                    thp_retry += is_thp
                    nr_retry_pages += nr_pages
                elif rc == MIGRATEPAGE_SUCCESS:
                    stats.nr_succeeded += nr_pages
                    stats.nr_thp_succeeded += is_thp
                    if migrc_hunk(MIGRC_HUNK_MIGRATE_C_8) and migrc_under_processing(f, dst):
                        migrc_expand_req(f, dst, mreq)     # mm/migrate.c#8
                else:
                    nr_failed += 1
                    stats.nr_thp_failed += is_thp
                    stats.nr_failed_pages += nr_pages
                dpos = dpos2
                dpos2 = dpos.next
                pos = nxt
            npass += 1
        nr_failed += retry
        stats.nr_thp_failed += thp_retry
        stats.nr_failed_pages += nr_retry_pages

        rc = rc_saved if rc_saved else nr_failed
    else:
        rc = rc_saved

    # out:
    if migrc_hunk(MIGRC_HUNK_MIGRATE_C_9):
        migrc_req_end(mreq)                        # mm/migrate.c#9
    elif mreq != NULL and list_empty(&mreq.folios):
        free(mreq)
    # clean up the folios left unmapped: their PTEs come back
    dpos = dst_folios.next
    dpos2 = dpos.next
    pos = unmap_folios.next
    while pos != &unmap_folios:
        nxt = pos.next
        f = list_entry_folio(pos)
        dst = list_entry_folio(dpos)
        old_page_state = 0
        av = NULL
        if migrc_hunk(MIGRC_HUNK_MIGRATE_C_10) and migrc_under_processing(f, dst):
            migrc_undo_folios(f, dst)              # mm/migrate.c#10
        __migrate_folio_extract(dst, &old_page_state, &av)
        migrate_folio_undo_src(f, old_page_state & PAGE_WAS_MAPPED, av, True, ret_folios)
        list_del(&dst.lru)
        migrate_folio_undo_dst(dst, True, put_new_folio, private)
        dpos = dpos2
        dpos2 = dpos.next
        pos = nxt
    return rc


cdef int migrate_pages_sync(list_head *from_, new_folio_t get_new_folio,
                            free_folio_t put_new_folio, unsigned long private, int mode,
                            int reason, list_head *ret_folios, list_head *split_folios,
                            migrate_pages_stats *stats) noexcept nogil:
    """mm/migrate.c: first the whole list as one MIGRATE_ASYNC batch with
    NR_MAX_MIGRATE_ASYNC_RETRY passes; then each folio that failed, alone,
    in the requested mode with NR_MAX_MIGRATE_SYNC_RETRY passes (the first
    round's failures are not counted: they are retried)."""
    cdef int rc, nr_failed = 0
    cdef list_head folios
    cdef migrate_pages_stats astats
    INIT_LIST_HEAD(&folios)
    astats.nr_succeeded = 0
    astats.nr_failed_pages = 0
    astats.nr_thp_succeeded = 0
    astats.nr_thp_failed = 0
    astats.nr_thp_split = 0
    rc = migrate_pages_batch(from_, get_new_folio, put_new_folio, private, MIGRATE_ASYNC,
                             reason, &folios, split_folios, &astats, NR_MAX_MIGRATE_ASYNC_RETRY)
    stats.nr_succeeded += astats.nr_succeeded
    stats.nr_thp_succeeded += astats.nr_thp_succeeded
    stats.nr_thp_split += astats.nr_thp_split
    if rc < 0:
        stats.nr_failed_pages += astats.nr_failed_pages
        stats.nr_thp_failed += astats.nr_thp_failed
        list_splice_tail(&folios, ret_folios)
        return rc
    stats.nr_thp_failed += astats.nr_thp_split
    nr_failed += astats.nr_thp_split
    # then every failed folio alone, synchronously
    list_splice_tail_init(&folios, from_)
    while not list_empty(from_):
        list_move(from_.next, &folios)
        rc = migrate_pages_batch(&folios, get_new_folio, put_new_folio, private, mode, reason,
                                 ret_folios, split_folios, stats, NR_MAX_MIGRATE_SYNC_RETRY)
        list_splice_tail_init(&folios, ret_folios)
        if rc < 0:
            return rc
        nr_failed += rc
    return nr_failed


cdef int migrate_pages(list_head *from_, new_folio_t get_new_folio, free_folio_t put_new_folio,
                       unsigned long private, int mode, int reason,
                       unsigned int *ret_succeeded) noexcept nogil:
    """mm/migrate.c: migrate the isolated folios on `from_`, in chunks of
    NR_MAX_BATCHED_MIGRATION base pages: MIGRATE_ASYNC as one batch of
    NR_MAX_MIGRATE_PAGES_RETRY passes, other modes via migrate_pages_sync().
    Folios not migrated are left on `from_` for the caller to put back.
    Counts PGMIGRATE_SUCCESS / PGMIGRATE_FAIL in base pages.  Returns the
    number of folios not migrated, or a negative error."""
    cdef int rc, rc_gather = 0
    cdef int nr_pages
    cdef list_head *pos
    cdef list_head *cut
    cdef list_head folios
    cdef list_head ret_folios
    cdef list_head split_folios
    cdef migrate_pages_stats stats
    cdef int site = kmm_site_enter(KMM_SITE_DEMOTION if reason == MR_DEMOTION else
                                   KMM_SITE_PROMOTION if reason == MR_NUMA_MISPLACED else
                                   KMM_SITE_MIGRATE_OTHER)
    INIT_LIST_HEAD(&folios)
    INIT_LIST_HEAD(&ret_folios)
    INIT_LIST_HEAD(&split_folios)
    stats.nr_succeeded = 0
    stats.nr_failed_pages = 0
    stats.nr_thp_succeeded = 0
    stats.nr_thp_failed = 0
    stats.nr_thp_split = 0
    if KMM().kmm_debug_migrate_mode:
        # emulator-only, for tests: Machine.migrate(mode=...) runs the
        # caller's migration in another mode
        mode = KMM().kmm_debug_migrate_mode - 1
    # (migrate_hugetlbs(): no hugetlb folios)

    while True:                                    # again:
        nr_pages = 0
        cut = NULL
        pos = from_.next
        while pos != from_:
            nr_pages += folio_nr_pages(list_entry_folio(pos))
            if nr_pages >= NR_MAX_BATCHED_MIGRATION:
                cut = pos.next
                break
            pos = pos.next
        if cut != NULL:
            list_cut_before(&folios, from_, cut)
        else:
            list_splice_init(from_, &folios)
        if mode == MIGRATE_ASYNC:
            rc = migrate_pages_batch(&folios, get_new_folio, put_new_folio, private, mode, reason,
                                     &ret_folios, &split_folios, &stats,
                                     NR_MAX_MIGRATE_PAGES_RETRY)
        else:
            rc = migrate_pages_sync(&folios, get_new_folio, put_new_folio, private, mode, reason,
                                    &ret_folios, &split_folios, &stats)
        list_splice_tail_init(&folios, &ret_folios)
        if rc < 0:
            rc_gather = rc
            list_splice_tail(&split_folios, &ret_folios)
            break
        # (split_folios stays empty: nothing is large)
        rc_gather += rc
        if list_empty(from_):
            break

    # out: permanent failures go back on the caller's list
    list_splice(&ret_folios, from_)
    if list_empty(from_):
        rc_gather = 0
    count_vm_events(PGMIGRATE_SUCCESS, stats.nr_succeeded)
    count_vm_events(PGMIGRATE_FAIL, stats.nr_failed_pages)
    count_vm_events(THP_MIGRATION_SUCCESS, stats.nr_thp_succeeded)
    count_vm_events(THP_MIGRATION_FAIL, stats.nr_thp_failed)
    count_vm_events(THP_MIGRATION_SPLIT, stats.nr_thp_split)
    trace_mm_migrate_pages(stats.nr_succeeded, stats.nr_failed_pages, mode, reason)
    if ret_succeeded != NULL:
        ret_succeeded[0] = stats.nr_succeeded
    kmm_site_exit(site)
    return rc_gather


cdef folio *alloc_migration_target(folio *src, unsigned long private) noexcept nogil:
    """mm/migrate.c: a destination on mtc->nid (src's node if none) within
    mtc->nmask, with mtc->gfp_mask (+__GFP_HIGHMEM for a ZONE_MOVABLE
    source, so the copy may stay in a movable zone)."""
    cdef migration_target_control *mtc = <migration_target_control *>private
    cdef gfp_t gfp_mask = mtc.gfp_mask
    cdef int nid = mtc.nid
    if nid == NUMA_NO_NODE:
        nid = folio_nid(src)
    if zone_idx(folio_zone(src)) == ZONE_MOVABLE:
        gfp_mask |= __GFP_HIGHMEM
    return __folio_alloc(gfp_mask, 0, nid, mtc.nmask)


# ---------------------------------------------------------------------------
# move_pages(2): moving the pages at given addresses to given nodes

cdef int do_move_pages_to_node(list_head *pagelist, int node) noexcept nogil:
    """mm/migrate.c: migrate the queued pages to node (MIGRATE_SYNC,
    MR_SYSCALL, alloc_migration_target on node only); those not migrated go
    back to the LRU.  Returns migrate_pages()'s result: the number not
    migrated, or -errno."""
    cdef migration_target_control mtc
    cdef int err
    mtc.nid = node
    mtc.nmask = NULL
    mtc.gfp_mask = GFP_HIGHUSER_MOVABLE | __GFP_THISNODE
    err = migrate_pages(pagelist, alloc_migration_target, NULL, <unsigned long>&mtc,
                        MIGRATE_SYNC, MR_SYSCALL, NULL)
    if err:
        putback_movable_pages(pagelist)
    return err


cdef int add_page_for_migration(mm_struct *mm, unsigned long addr, int node,
                                list_head *pagelist, bint migrate_all) noexcept nogil:
    """mm/migrate.c: queue the page mapped at addr for a move to node:
    isolated from the LRU onto pagelist, counted in NR_ISOLATED_*.
    Returns 1 if queued, 0 if it is already on node, -EFAULT (no VMA, or a
    hole/zero page), -ENOENT (nothing present), -EACCES (mapped more than
    once and not migrate_all, i.e. no MPOL_MF_MOVE_ALL), -EBUSY (not on an
    LRU list: someone else isolated it)."""
    cdef vm_area_struct *vma
    cdef page *p
    cdef int err = -EFAULT
    # (mmap_read_lock: mirrored code runs one operation at a time)
    vma = vma_lookup(mm, addr)
    if vma == NULL:                 # (every emulated VMA is vma_migratable())
        return err
    p = follow_page(vma, addr, FOLL_GET | FOLL_DUMP)   # FOLL_DUMP: skip the zero page
    if IS_ERR(p):
        return PTR_ERR(p)
    if p == NULL:
        return -ENOENT
    err = 0
    if page_to_nid(p) != node:
        err = -EACCES
        if page_mapcount(p) <= 1 or migrate_all:
            # (no hugetlb pages; the head of an order-0 page is itself)
            if not folio_isolate_lru(p):               # isolate_lru_page()
                err = -EBUSY
            else:
                err = 1
                list_add_tail(&p.lru, pagelist)
                mod_node_page_state(page_pgdat(p), NR_ISOLATED_ANON + folio_is_file_lru(p),
                                    folio_nr_pages(p))
    # drop follow_page's reference: the isolation holds its own
    put_page(p)
    return err


cdef int move_pages_and_store_status(int node, list_head *pagelist, int *status, int start,
                                     int i, unsigned long nr_pages) noexcept nogil:
    """mm/migrate.c: move what is queued; on success pages [start, i) are
    reported on node.  A partial failure makes move_pages(2) give up:
    the pages not yet tried count as not migrated too."""
    cdef int err, k
    if list_empty(pagelist):
        return 0
    err = do_move_pages_to_node(pagelist, node)
    if err:
        if err > 0:
            err += nr_pages - i
        return err
    for k in range(start, i):       # store_status()
        status[k] = node
    return 0


cdef int do_pages_move(mm_struct *mm, unsigned long nr_pages, const unsigned long *pages,
                       const int *nodes, int *status, int flags) noexcept nogil:
    """mm/migrate.c: move_pages(2) with a node list: queue runs of pages
    going to the same node and migrate each run when the node changes or a
    page is not queued (already there, or an error stored in its status).
    Returns 0, the number of pages not migrated, or -errno.  The caller has
    checked the nodes (N_MEMORY, allowed by the task's cpuset)."""
    cdef list_head pagelist
    cdef int current_node = NUMA_NO_NODE
    cdef int start = 0, err = 0, err1, node
    cdef unsigned long i = 0
    INIT_LIST_HEAD(&pagelist)
    # (lru_cache_disable(): the emulator has no per-CPU LRU batches)
    while i < nr_pages:
        node = nodes[i]
        if current_node == NUMA_NO_NODE:
            current_node = node
            start = i
        elif node != current_node:
            err = move_pages_and_store_status(current_node, &pagelist, status, start, i, nr_pages)
            if err:
                return err          # goto out: nothing is left queued
            start = i
            current_node = node
        err = add_page_for_migration(mm, pages[i], current_node, &pagelist,
                                     (flags & MPOL_MF_MOVE_ALL) != 0)
        if err > 0:
            i += 1                  # queued
            continue
        if err == -EEXIST:          # not a move_pages(2) errno
            err = -EFAULT
        status[i] = err if err else current_node
        err = move_pages_and_store_status(current_node, &pagelist, status, start, i, nr_pages)
        if err:
            if err > 0:
                err -= 1            # page i is accounted for
            return err              # goto out: nothing is left queued
        current_node = NUMA_NO_NODE
        i += 1
    # out_flush: do not overwrite an earlier error
    err1 = move_pages_and_store_status(current_node, &pagelist, status, start, i, nr_pages)
    if err >= 0:
        err = err1
    return err


# ---------------------------------------------------------------------------
# NUMA balancing: a misplaced page found by a hint fault (CONFIG_NUMA_BALANCING)

cdef bint migrate_balanced_pgdat(pglist_data *pgdat, unsigned long nr_migrate_pages) noexcept nogil:
    """mm/migrate.c: is the target node roomy enough, i.e. does some managed
    zone stay above its high watermark after nr_migrate_pages more pages (so
    that the migration does not wake its kswapd)?"""
    cdef int z
    cdef zone *zn
    for z in range(pgdat.nr_zones - 1, -1, -1):
        zn = &pgdat.node_zones[z]
        if not managed_zone(zn):
            continue
        if not zone_watermark_ok(zn, 0, high_wmark_pages(zn) + nr_migrate_pages, ZONE_MOVABLE, 0):
            continue
        return True
    return False


cdef folio *alloc_misplaced_dst_folio(folio *src, unsigned long data) noexcept nogil:
    """mm/migrate.c: a destination on node `data` only, without reclaim of
    any kind (not even waking kswapd) and without reserves."""
    cdef int nid = <int>data
    cdef gfp_t gfp = __GFP_THISNODE
    gfp |= GFP_HIGHUSER_MOVABLE | __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN
    gfp &= ~__GFP_RECLAIM
    return __folio_alloc(gfp, 0, nid, NULL)       # __folio_alloc_node()


cdef int numamigrate_isolate_page(pglist_data *pgdat, page *p) noexcept nogil:
    """mm/migrate.c: isolate p for migration to pgdat, unless pgdat is nearly
    full -- then, in memory-tiering mode, wake pgdat's kswapd to demote
    cold pages and make room for later promotions.  The caller's reference
    is dropped once the isolation holds its own.  Returns 1 if isolated."""
    cdef int nr_pages = folio_nr_pages(p)
    cdef int z
    if not migrate_balanced_pgdat(pgdat, nr_pages):
        if not (KMM().sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING):
            return 0
        z = pgdat.nr_zones - 1
        while z >= 0:
            if managed_zone(&pgdat.node_zones[z]):
                break
            z -= 1
        if z < 0:
            return 0
        wakeup_kswapd(&pgdat.node_zones[z], 0, 0, ZONE_MOVABLE)
        return 0
    if not folio_isolate_lru(p):                   # isolate_lru_page()
        return 0
    mod_node_page_state(page_pgdat(p), NR_ISOLATED_ANON + folio_is_file_lru(p), nr_pages)
    put_page(p)
    return 1


cdef int migrate_misplaced_page(page *p, vm_area_struct *vma, int node) noexcept nogil:
    """mm/migrate.c: move a page a NUMA hint fault found on the wrong node to
    `node` (MIGRATE_ASYNC, MR_NUMA_MISPLACED).  Refused: file pages mapped
    by several processes with exec permission (shared libraries), and dirty
    file pages.  The caller's reference is dropped.  A success counts
    NUMA_PAGE_MIGRATE (numa_pages_migrated) besides migrate_pages()'s
    PGMIGRATE_SUCCESS, and a promotion from a slower tier counts
    PGPROMOTE_SUCCESS on the target node.  Returns 1 if migrated."""
    cdef pglist_data *pgdat = NODE_DATA(node)
    cdef int isolated
    cdef int nr_remaining
    cdef unsigned int nr_succeeded = 0
    cdef list_head migratepages
    cdef int nr_pages = folio_nr_pages(p)
    INIT_LIST_HEAD(&migratepages)

    # don't migrate file pages mapped in several processes with exec
    # permission: probably shared libraries
    if page_mapcount(p) != 1 and folio_is_file_lru(p) and (vma.vm_flags & VM_EXEC):
        put_page(p)
        return 0
    # nor dirty file pages: not every filesystem moves them in MIGRATE_ASYNC
    if folio_is_file_lru(p) and folio_test_dirty(p):
        put_page(p)
        return 0

    isolated = numamigrate_isolate_page(pgdat, p)
    if not isolated:
        put_page(p)
        return 0

    list_add(&p.lru, &migratepages)
    nr_remaining = migrate_pages(&migratepages, alloc_misplaced_dst_folio, NULL,
                                 <unsigned long>node, MIGRATE_ASYNC, MR_NUMA_MISPLACED,
                                 &nr_succeeded)
    if nr_remaining:
        if not list_empty(&migratepages):
            list_del(&p.lru)
            mod_node_page_state(page_pgdat(p), NR_ISOLATED_ANON + folio_is_file_lru(p),
                                -nr_pages)
            folio_putback_lru(p)                   # putback_lru_page()
        isolated = 0
    if nr_succeeded:
        count_vm_events(NUMA_PAGE_MIGRATE, nr_succeeded)   # count_vm_numa_events()
        # p is the old page: its node is still the source node
        if not node_is_toptier(page_to_nid(p)) and node_is_toptier(node):
            mod_node_page_state(pgdat, PGPROMOTE_SUCCESS, nr_succeeded)
    return isolated
