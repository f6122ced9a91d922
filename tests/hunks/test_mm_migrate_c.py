"""Seed patch, mm/migrate.c: the migrc functions (#1), the extra expected
reference (#3), and migrate_pages_batch's seven hunks (#4..#10); patch
3/3's pause where it guards #4.  #2 only adds a blank line: it is declared
without behaviour (HUNKS_WITHOUT_BEHAVIOUR) and has no test (the extra
reference's -EAGAIN it sits beside is tests/test_migrate.py's).

Every number is derived from the v6.6-rc5 code paths with the patch applied
(the scenario is in migrc_scenario.py): a migration runs on CPU 0 for a
process whose 16 threads run on CPUs 0..15, so arch_tlbbatch_flush() is one
flush_tlb_multi() (nr_tlb_remote_flush 1, nr_tlb_remote_flush_received 15)
plus CPU 0's own full flush (nr_tlb_local_flush_all 1)."""

import pytest

from kmm.emu import testing as T
from migrc_scenario import (MS, NODES, PAGE, NONE_PENDING, THISNODE, addrs, deferred, delta, machine,
                            pending, pfns, read_all, read_only, zone_pending)

BATCH_FLUSH = {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 15,
               "nr_tlb_local_flush_all": 1}
NO_FLUSH = {"nr_tlb_remote_flush": 0, "nr_tlb_remote_flush_received": 0,
            "nr_tlb_local_flush_all": 0}


def flushes(d):
    return {k: d[k] for k in BATCH_FLUSH}


def stale(m):
    return [(v["kind"], v["cpu"]) for v in m.oracle.violations]


# -- the request and its folios (#1, #4, #6, #8, #9) ---------------------------------

@pytest.mark.hunk("mm/migrate.c#1", "mm/migrate.c#4", "mm/migrate.c#6", "mm/migrate.c#8",
                  "mm/migrate.c#9")
def test_read_only_demotion_keeps_both_folios_and_sends_no_ipi():
    """Without migrc the batch's try_to_unmap_flush() flushes the 16 CPUs
    and migrate_folio_done() frees each source (refcount 0, buddy).  With
    it: migrc_req_start() (MR_DEMOTION), can_migrc for each folio (all PTEs
    read-only and clean), migrc_mark_pending(): folio_get(src) and PG_migrc
    on both, fold_ubc_ro_to_migrc() empties tlb_ubc_ro into the request so
    try_to_unmap_flush() has nothing to do; after each move
    migrc_expand_req() queues the source (+1 migrc_pending_nr in ITS zone:
    node 0 DMA32) and migrc_req_end() hangs the request on node 0.  The
    sources stay allocated with exactly migrc's reference: NR_FREE_PAGES
    is down by the 4 destinations.  Reads through the stale translations
    see the source, which still holds the same data: no violation."""
    off = machine(migrc=False)
    p0, a0, srcs0, dsts0, d0 = deferred(off)
    assert flushes(d0) == BATCH_FLUSH and d0["pgmigrate_success"] == 4
    assert d0["nr_free_pages"] == 0 and d0["pgfree"] == 4
    assert all(off.page(s)["refcount"] == 0 for s in srcs0)

    m = machine()
    p, a, srcs, dsts, d = deferred(m)
    assert flushes(d) == NO_FLUSH and d["pgmigrate_success"] == 4
    assert d["nr_free_pages"] == -4 and d["pgfree"] == 0
    for s, t in zip(srcs, dsts):
        src, dst = m.page(s), m.page(t)
        assert src["node"] == 0 and dst["node"] == 1
        assert src["refcount"] == off.page(s)["refcount"] + 1 == 1      # migrc's folio_get
        assert src["mapcount"] == 0 and not src["buddy"] and "lru" not in src["flags"]
        assert "migrc" in src["flags"] and "migrc" in dst["flags"]
        assert dst["refcount"] == 1 and dst["mapcount"] == 1
    assert pending(m) == {0: (4, True), 1: (0, False)}
    assert zone_pending(m) == {(0, "DMA"): 0, (0, "DMA32"): 4, (1, "DMA32"): 0}
    read_all(p, a, 4)
    assert m.oracle.violations == [] and m.check_invariants() == []


@pytest.mark.hunk("mm/migrate.c#1")
def test_flush_gathers_every_request_into_one_flush_and_frees_the_sources():
    """Two deferred demotions hang two requests on node 0.
    migrc_flush_free_folios(NULL) walks node_possible_map, migrc_gather()
    folds every request's arch batch into one and splices their folios, then
    ONE arch_tlbbatch_flush() and a folio_put() per source with
    migrc_pending_nr decremented: 8 sources freed, one IPI round.  The
    destinations keep PG_migrc: nothing in the flush clears it (only
    do_wp_page's migrc_unpend_if_pending() or freeing does).  A second call
    finds nothing and returns false without flushing."""
    m = machine()
    p, a = read_only(m, 8)
    srcs = pfns(p, a, 8)
    assert m.migrate(p, a, 4, node=1) == 4
    assert m.migrate(p, a + 4 * PAGE, 4, node=1) == 4
    dsts = pfns(p, a, 8)
    assert pending(m) == {0: (8, True), 1: (0, False)}
    before = m.vmstat()
    assert m.migrc_flush_free_folios() is True
    d = delta(before, m.vmstat())
    assert flushes(d) == BATCH_FLUSH
    assert d["nr_free_pages"] == 8 and d["pgfree"] == 8
    assert pending(m) == NONE_PENDING and zone_pending(m)[(0, "DMA32")] == 0
    assert all(m.page(s)["refcount"] == 0 and m.page(s)["flags"] == [] for s in srcs)
    assert all("migrc" in m.page(t)["flags"] for t in dsts)
    before = m.vmstat()
    assert m.migrc_flush_free_folios() is False
    assert flushes(delta(before, m.vmstat())) == NO_FLUSH
    read_all(p, a, 8)
    assert m.oracle.violations == []


# -- folio_migrate_mapping (#3; #2 is a blank line: no behaviour) ----------------------------------------------------

@pytest.mark.hunk("mm/migrate.c#3")
def test_move_expects_migrcs_extra_reference():
    """A folio under migrc carries migrc_mark_pending()'s folio_get(), so
    its count at the move is 2 (isolation + migrc).  #3 adds one to
    expected_count when both folios are marked (migrc_under_processing).
    Ablated: folio_ref_count != expected_count on all 10 passes, -EAGAIN,
    each folio fails (PGMIGRATE_FAIL 4, nothing migrated), #10 unmarks and
    drops migrc's reference, the PTEs come back to the sources (read-only),
    the empty request is freed and nothing is pending."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m)
    assert d["pgmigrate_success"] == 4 and d["pgmigrate_fail"] == 0

    m = machine(["mm/migrate.c#3"])
    p, a = read_only(m)
    srcs = pfns(p, a, 4)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1) == 0
    d = delta(before, m.vmstat())
    assert d["pgmigrate_fail"] == 4 and d["pgmigrate_success"] == 0
    assert d["nr_free_pages"] == 0                       # the 4 destinations freed again
    assert pfns(p, a, 4) == srcs
    for s in srcs:
        pg = m.page(s)
        assert pg["refcount"] == 1 and pg["mapcount"] == 1 and "migrc" not in pg["flags"]
        assert "lru" in pg["flags"]
    assert pending(m) == NONE_PENDING
    read_all(p, a, 4)
    assert m.oracle.violations == []


# -- migrate_pages_batch: which migrations get a request (#4; patch 3/3) ---------------

@pytest.mark.hunk("mm/migrate.c#4")
@pytest.mark.parametrize("reason,deferred_", [("demotion", True), ("numa_misplaced", True),
                                              ("syscall", False)])
def test_only_demotion_and_numa_misplaced_start_a_request(reason, deferred_):
    """`if (reason == MR_DEMOTION || reason == MR_NUMA_MISPLACED) mreq =
    migrc_req_start();`.  move_pages(2) (MR_SYSCALL, MIGRATE_SYNC: its
    first MIGRATE_ASYNC round is migrate_pages_batch with the same reason)
    gets no request, so can_migrc is false and the batch flushes the 16
    CPUs as in v6.6."""
    m = machine()
    p, a = read_only(m)
    srcs = pfns(p, a, 4)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1, reason=reason,
                     mode="sync" if reason == "syscall" else "async") == 4
    d = delta(before, m.vmstat())
    if deferred_:
        assert flushes(d) == NO_FLUSH and pending(m) == {0: (4, True), 1: (0, False)}
        assert all(m.page(s)["refcount"] == 1 for s in srcs)
    else:
        assert flushes(d) == BATCH_FLUSH and pending(m) == NONE_PENDING
        assert all(m.page(s)["refcount"] == 0 for s in srcs)
    assert all(m.page(t)["node"] == 1 for t in pfns(p, a, 4))


@pytest.mark.hunk("mm/migrate.c#4")
def test_without_a_request_nothing_is_deferred():
    """#4 ablated: mreq stays NULL, so `can_migrc = mreq && ...` is false for
    every folio: the demotion flushes like v6.6 and frees its sources."""
    m = machine(["mm/migrate.c#4"])
    p, a, srcs, dsts, d = deferred(m)
    assert flushes(d) == BATCH_FLUSH and d["pgfree"] == 4
    assert pending(m) == NONE_PENDING
    assert all("migrc" not in m.page(t)["flags"] for t in dsts)


@pytest.mark.hunk("mm/migrate.c#4")
def test_patch3_no_request_while_paused():
    """Patch 3/3 (CONFIG_MIGRC_PAUSE) starts a request only when
    !migrc_paused().  Paused (as by a struggling allocation), a read-only
    demotion flushes at once; resumed, the next one is deferred again."""
    m = machine(pause=True)
    p, a = read_only(m, 8)
    T.run_migrc_pause(m)
    assert T.run_migrc_paused(m)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1) == 4
    assert flushes(delta(before, m.vmstat())) == BATCH_FLUSH
    assert pending(m) == NONE_PENDING
    T.run_migrc_resume(m)
    before = m.vmstat()
    assert m.migrate(p, a + 4 * PAGE, 4, node=1) == 4
    assert flushes(delta(before, m.vmstat())) == NO_FLUSH
    assert pending(m) == {0: (4, True), 1: (0, False)}


@pytest.mark.hunk("mm/migrate.c#6")
def test_patch3_paused_mid_batch_hands_the_request_to_the_batch_flush():
    """Patch 3/3: if migrc got paused while the request was being built
    (here: between the unmap loop and the flush), fold_migrc_to_ubc() moves
    the request's CPUs into tlb_ubc, so try_to_unmap_flush() covers them
    (one IPI round).  The folios were already marked, so #8 still queues
    them: they stay pending until the next migrc_flush_free_folios(), which
    then has no CPU left to flush."""
    m = machine(pause=True)
    p, a = read_only(m)
    srcs = pfns(p, a, 4)

    def hook(point):
        if point == "unmapped":
            T.run_migrc_pause(m)

    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1, hook=hook) == 4
    assert flushes(delta(before, m.vmstat())) == BATCH_FLUSH
    assert pending(m) == {0: (4, True), 1: (0, False)}
    assert all("migrc" in m.page(s)["flags"] for s in srcs)
    T.run_migrc_resume(m)
    before = m.vmstat()
    assert m.migrc_flush_free_folios() is True
    d = delta(before, m.vmstat())
    assert flushes(d) == NO_FLUSH and d["pgfree"] == 4
    read_all(p, a, 4)
    assert m.oracle.violations == []


# -- can_migrc per folio (#5) -------------------------------------------------------------

@pytest.mark.hunk("mm/migrate.c#5")
def test_can_migrc_decides_nothing_when_ablated():
    """#5 ablated: can_migrc_init() and the can_migrc test are gone, so
    can_migrc is false: the request (#4) is started and freed empty by
    migrc_req_end(); the batch flushes."""
    m = machine(["mm/migrate.c#5"])
    p, a, srcs, dsts, d = deferred(m)
    assert flushes(d) == BATCH_FLUSH and pending(m) == NONE_PENDING
    assert all(m.page(s)["refcount"] == 0 for s in srcs)


@pytest.mark.hunk("mm/migrate.c#5", "mm/migrate.c#1")
def test_a_folio_still_marked_is_not_deferred_again():
    """Condition 4 of can_migrc: !folio_test_migrc(folio).  The flush frees
    the sources but leaves PG_migrc on the destinations; migrating such a
    destination again (it is read-only and cached everywhere) is case 1 of
    migrc_under_processing's comment: not deferred, flushed at once, and
    since the new destination is not marked, #3 adds no reference."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m)
    m.migrc_flush_free_folios()
    assert all("migrc" in m.page(t)["flags"] for t in dsts)
    read_all(p, a, 4)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=0, reason="numa_misplaced") == 4
    d = delta(before, m.vmstat())
    # migrate_misplaced_page() hands migrate_pages() one folio at a time:
    # each is its own batch, flushed at once on the 16 CPUs caching it
    assert flushes(d) == {k: 4 * v for k, v in BATCH_FLUSH.items()} and d["pgmigrate_success"] == 4
    assert pending(m) == NONE_PENDING
    assert all(m.page(t)["refcount"] == 0 for t in dsts)
    assert all("migrc" not in m.page(x)["flags"] for x in pfns(p, a, 4))


@pytest.mark.hunk("mm/migrate.c#5")
def test_can_migrc_is_per_folio():
    """can_migrc_init() runs before each folio's unmap: a writable folio
    (tlb_ubc, can_migrc_fail) first in the same batch as read-only ones
    does not spoil them: the read-only ones are deferred, the writable one
    is flushed by the batch."""
    m = machine()
    p, a = read_only(m, 3)
    w = p.mmap(1)
    assert w == a - PAGE                         # mmap is top-down: one range, one batch
    for t in p.threads:
        t.store(w)
    before = m.vmstat()
    assert m.migrate(p, w, 4, node=1) == 4
    d = delta(before, m.vmstat())
    assert flushes(d) == BATCH_FLUSH
    assert pending(m) == {0: (3, True), 1: (0, False)}
    assert "migrc" not in m.page(p.pfn(w))["flags"]
    read_all(p, w, 4)
    assert m.oracle.violations == []


# -- mark and fold (#6), fold per folio (#7) ---------------------------------------------

@pytest.mark.hunk("mm/migrate.c#6")
def test_unmarked_folios_are_flushed_by_the_batch():
    """#6 ablated: can_migrc is computed but nothing is marked or folded:
    tlb_ubc_ro is folded into tlb_ubc at the end of each folio (#7) and
    flushed by the batch; no source is held; the empty request is freed."""
    m = machine(["mm/migrate.c#6"])
    p, a, srcs, dsts, d = deferred(m)
    assert flushes(d) == BATCH_FLUSH and d["pgfree"] == 4
    assert pending(m) == NONE_PENDING
    assert all(m.page(s)["refcount"] == 0 for s in srcs)
    assert all("migrc" not in m.page(t)["flags"] for t in dsts)


NODES3 = NODES + [{"cpus": 0, "mem": "64M"}]     # a second CPU-less node, 2


def marked_then_unmarked(m):
    """A demotion batch [A, B] from node 1 (the 3-node machine) whose first
    folio is still marked PG_migrc and whose second is deferrable.  Both
    pages are written by thread 0 and demoted to node 1 while writable
    (can_migrc fails: not deferred, unmarked; the PTEs come back writable
    and clean).  A (the lower address) is then made read-only and clean as
    read_only() does (PROT_NONE, promoted to node 0 by a hint fault, read
    by every thread), demoted to node 1 again (deferred:
    migrc_mark_pending() marks its destination) and flushed
    (migrc_flush_free_folios(): the held source freed, the destination
    keeps PG_migrc).  B is mprotect()ed read-only.  Every thread reads
    both, so all 16 TLBs cache two read-only clean translations.
    Returns (p, a, [A's pfn, B's pfn] on node 1)."""
    p = m.spawn(threads=16)
    a = p.mmap(2)
    for x in addrs(a, 2):
        p.threads[0].store(x)
    assert m.migrate(p, a, 2, node=1) == 2                   # both writable: not deferred
    # A as read_only() makes it: PROT_NONE, promoted by a hint fault, read back
    assert p._change_prot_numa(a, 1) == 1
    m._clock_advance_ns(10 * MS)
    p.threads[0].load(a)
    assert m.page(p.pfn(a))["node"] == 0
    read_all(p, a, 1)
    assert m.migrate(p, a, 1, node=1) == 1                   # A deferred ...
    assert m.migrc_flush_free_folios() is True               # ... flushed, still marked
    p.mprotect(a + PAGE, 1, "r")                             # B read-only, clean
    read_all(p, a, 2)
    srcs = pfns(p, a, 2)
    assert [m.page(x)["node"] for x in srcs] == [1, 1]
    assert "migrc" in m.page(srcs[0])["flags"] and "migrc" not in m.page(srcs[1])["flags"]
    for x in addrs(a, 2):
        pte = p.pte(x)
        assert pte["present"] and not pte["write"] and not pte["dirty"]
    assert pending(m) == {0: (0, False), 1: (0, False), 2: (0, False)}
    return p, a, srcs


@pytest.mark.hunk("mm/migrate.c#7")
def test_fold_ubc_ro_per_folio_keeps_a_flushed_folio_out_of_the_request():
    """One demotion batch [A, B] from node 1 to node 2 on CPU 0
    (marked_then_unmarked).  A is not deferred: can_migrc needs
    !folio_test_migrc(A).  Its read-only PTEs went to tlb_ubc_ro during its
    unmap, and #7's fold_ubc_ro() at the end of A's iteration moves them to
    tlb_ubc.  B is deferred: migrc_mark_pending() and
    fold_ubc_ro_to_migrc() take only B's CPUs.  So the batch's
    try_to_unmap_flush() flushes the 16 CPUs once (A), A's source is freed
    after its move (refcount 0), B's is held by migrc (refcount 1, pending
    in node 1, the request hung on node 1), and the threads' reads of A
    find fresh translations.  Ablated, A's entries are still in
    tlb_ubc_ro when B is deferred, fold_ubc_ro_to_migrc() carries them into
    B's request: no flush at all, A's source is freed anyway, and all 16
    CPUs then read the freed page through their stale translations."""
    for ablate, flush, violations in (([], BATCH_FLUSH, []),
                                      (["mm/migrate.c#7"], NO_FLUSH, ["freed-page"] * 16)):
        m = machine(ablate, nodes=NODES3)
        p, a, srcs = marked_then_unmarked(m)
        before = m.vmstat()
        assert m.migrate(p, a, 2, node=2) == 2
        d = delta(before, m.vmstat())
        assert flushes(d) == flush
        assert d["pgdemote_direct"] == 2 and d["pgmigrate_success"] == 2
        assert [m.page(x)["node"] for x in pfns(p, a, 2)] == [2, 2]
        assert pending(m) == {0: (0, False), 1: (1, True), 2: (0, False)}         # B is held
        assert m.page(srcs[0])["refcount"] == 0 and m.page(srcs[1])["refcount"] == 1
        assert "migrc" in m.page(srcs[1])["flags"] and "migrc" in m.page(p.pfn(a + PAGE))["flags"]
        for t in p.threads:
            t.load(a)
        assert [v["kind"] for v in m.oracle.violations] == violations
        assert all(v["pfn"] == srcs[0] for v in m.oracle.violations)


# -- queue on success (#8), hang the request (#9) ------------------------------------------

def store_then_read(m, p, a):
    """Thread 3 writes the first page (do_wp_page), then every thread reads it."""
    before = m.vmstat()
    p.threads[3].store(a)
    d = delta(before, m.vmstat())
    for t in p.threads:
        t.load(a)
    return d


@pytest.mark.hunk("mm/migrate.c#8")
def test_unqueued_sources_leak_and_a_write_leaves_stale_copies():
    """#8 ablated: the folios are marked (and hold migrc's reference) but
    migrc_expand_req() never queues them, so migrc_req_end() frees the empty
    request together with the CPUs folded into it.  Nothing counts the
    sources (migrc_pending_nr 0) and nothing will ever free them: NR_FREE
    stays 4 lower after a flush.  A write to a page makes do_wp_page call
    migrc_flush_free_folios(), which finds nothing: no IPI, and the 15 other
    CPUs read the old copy."""
    m = machine(["mm/migrate.c#8"])
    p, a, srcs, dsts, d = deferred(m)
    assert flushes(d) == NO_FLUSH and d["nr_free_pages"] == -4
    assert pending(m) == NONE_PENDING
    assert all(m.page(s)["refcount"] == 1 and "migrc" in m.page(s)["flags"] for s in srcs)
    before = m.vmstat()
    assert m.migrc_flush_free_folios() is False
    assert delta(before, m.vmstat())["nr_free_pages"] == 0
    d = store_then_read(m, p, a)
    assert d["nr_tlb_remote_flush"] == 0
    assert stale(m) == [("stale-read", c) for c in range(16) if c != 3]


@pytest.mark.hunk("mm/migrate.c#9")
def test_a_request_never_hung_leaves_pending_in_limbo():
    """#9 ablated: the request is filled (migrc_pending_nr counts 4 in
    node 0 DMA32) but never llist_add()ed to NODE_DATA(nid)->migrc_reqs.
    No flush can reach it: migrc_flush_free_folios() returns false and
    pending stays 4 for good (the watermarks keep counting those pages as
    free); a write sends no IPI and the other CPUs read the old copy."""
    m = machine(["mm/migrate.c#9"])
    p, a, srcs, dsts, d = deferred(m)
    assert flushes(d) == NO_FLUSH
    assert pending(m) == {0: (4, False), 1: (0, False)}
    assert m.migrc_flush_free_folios() is False
    assert pending(m) == {0: (4, False), 1: (0, False)}
    assert all(m.page(s)["refcount"] == 1 for s in srcs)
    d = store_then_read(m, p, a)
    assert d["nr_tlb_remote_flush"] == 0
    assert pending(m) == {0: (4, False), 1: (0, False)}
    assert stale(m) == [("stale-read", c) for c in range(16) if c != 3]


# -- undo for folios not moved (#10) -------------------------------------------------------

@pytest.mark.hunk("mm/migrate.c#10")
def test_folios_that_fail_to_move_are_unmarked():
    """The folio is marked at unmap; someone takes a reference before the
    move (the hook at "flushed"), so folio_migrate_mapping() fails with
    -EAGAIN on every pass.  At out:, #10's migrc_undo_folios() clears
    PG_migrc on both and drops migrc's reference before the source gets its
    PTE back: refcount = mapping + ours = 2.  Ablated, the source keeps
    PG_migrc and migrc's reference (3): leaked, and never deferred again.
    Either way the destination is freed, and free_pages_prepare() clears
    its PG_migrc (the page is a clean buddy page)."""
    for ablate, refs, marked in (([], 2, False), (["mm/migrate.c#10"], 3, True)):
        m = machine(ablate)
        p, a = read_only(m, 1)
        src = p.pfn(a)
        dst = m.alloc_pages(0, nid=1, gfp=THISNODE)    # where the destination will be
        m.free_pages(dst)
        seen = []

        def hook(point):
            if point == "flushed":
                seen.append((m.page(src)["flags"], m.page(dst)["flags"]))
                m.folio_get(src)

        before = m.vmstat()
        assert m.migrate(p, a, 1, node=1, hook=hook) == 0
        d = delta(before, m.vmstat())
        assert d["pgmigrate_fail"] == 1 and flushes(d) == NO_FLUSH
        assert "migrc" in seen[0][0] and "migrc" in seen[0][1]
        pg = m.page(src)
        assert p.pfn(a) == src and pg["refcount"] == refs and ("migrc" in pg["flags"]) == marked
        assert m.page(dst)["buddy"] and m.page(dst)["flags"] == []
        assert pending(m) == NONE_PENDING
        m.folio_put(src)
        read_all(p, a, 1)
        assert m.oracle.violations == []
