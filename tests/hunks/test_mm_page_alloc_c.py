"""Seed patch, mm/page_alloc.c: post_alloc_hook clears PG_migrc (#1), the
watermark checks count the folios migrc holds as free (#2
__zone_watermark_ok, #3 zone_watermark_fast), get_page_from_freelist
flushes them and looks again when a zone fails its watermark (#4); and
patch 3/3's flush after `retry:` in __alloc_pages_slowpath.

Node 0's zones here: DMA (pfn 0..4095, lowmem_reserve[MOVABLE] > 0) and
DMA32 (from pfn 4096).  The four deferred sources are pfns 4100..4103 of
node 0 DMA32 (an aligned order-2 block), counted in its migrc_pending_nr.
A GFP_HIGHUSER_MOVABLE | __GFP_THISNODE allocation on node 0 walks
DMA32 then DMA at ALLOC_WMARK_LOW (fast path)."""

import pytest

import kmm
from kmm.emu import testing as T
from migrc_scenario import NONE_PENDING, THISNODE, deferred, delta, machine, pending

SMALL = [{"cpus": 16, "mem": "20M"}, {"cpus": 0, "mem": "64M"}]   # DMA32: 1024 pages
FLUSH = {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 15}


def flushes(d):
    return {k: d[k] for k in FLUSH}


def dma32(m, nid=0):
    return m.zone(nid, "DMA32")


def fill_to(m, free_plus_pending):
    """Allocate order-0 pages from node 0 DMA32 until NR_FREE_PAGES +
    migrc_pending_nr is free_plus_pending (each one passes the fast check)."""
    got = []
    while True:
        z = dma32(m)
        if z["free"] + z["migrc_pending_nr"] <= free_plus_pending:
            return got
        x = m.alloc_pages(0, nid=0, gfp=THISNODE)
        assert m.page(x)["zone"] == "DMA32"
        got.append(x)


# -- post_alloc_hook (#1) --------------------------------------------------------------

@pytest.mark.hunk("mm/page_alloc.c#1", "mm/internal.h#1")
def test_post_alloc_hook_clears_pg_migrc():
    """#1 runs migrc_init_page() (__ClearPageMigrc) on every page leaving the
    buddy allocator.  No kernel path frees a page with PG_migrc still set
    (free_pages_prepare clears every PG_* flag but hwpoison, and a
    CONFIG_DEBUG_VM kernel's check_new_pages would call such a page bad), so
    the state is injected here on a free page: with the hunk the page comes
    out without the flag, ablated it comes out with it."""
    for ablate, flags in (([], []), (["mm/page_alloc.c#1"], ["migrc"])):
        m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}], kconfig={"CONFIG_MIGRC": True},
                        ablate=ablate)
        x = m.alloc_pages(0)
        m.free_pages(x)
        T.folio_flag(m, x, "migrc", "__set")
        assert m.alloc_pages(0) == x
        assert m.page(x)["flags"] == flags


@pytest.mark.hunk("mm/page_alloc.c#1")
def test_free_pages_prepare_already_clears_pg_migrc():
    """Belt and braces: the sources migrc frees still carry PG_migrc when
    migrc_flush_free_folios() drops the last reference, and
    free_pages_prepare() clears it (PAGEFLAGS_MASK): in the buddy they have
    no flag, so even with #1 ablated they are allocated again (the same
    order-2 block, 4100..4103: without PTI's order-1 PGD the process's
    four tables take 4096..4099) without PG_migrc."""
    for ablate in ([], ["mm/page_alloc.c#1"]):
        m = machine(ablate, CONFIG_PAGE_TABLE_ISOLATION=False)
        p, a, srcs, dsts, d = deferred(m)
        assert srcs == [4100, 4101, 4102, 4103]
        assert all("migrc" in m.page(s)["flags"] for s in srcs)
        m.migrc_flush_free_folios()
        assert all(m.page(s)["refcount"] == 0 and m.page(s)["flags"] == [] for s in srcs)
        got = [m.alloc_pages(0, nid=0) for _ in srcs]
        assert got == srcs and all(m.page(s)["flags"] == [] for s in srcs)


# -- the watermark checks (#2, #3) -------------------------------------------------------

@pytest.mark.hunk("mm/page_alloc.c#2", "mm/internal.h#1")
def test_zone_watermark_ok_counts_pending_folios_as_free():
    """__zone_watermark_ok: `free_pages += migrc_pending_nr_in_zone(z)`, then
    order 0 passes iff free_pages > mark + lowmem_reserve[ZONE_NORMAL] (0
    for node 0 DMA32).  With mark = NR_FREE_PAGES the zone fails on its own
    free pages and passes only with the 4 pending ones: with migrc, not
    with #2 ablated, not without migrc.  The same with an explicit
    free_pages (the caller's count): 97 + 4 > 100."""
    for ablate, migrc, ok in (([], True, True), (["mm/page_alloc.c#2"], True, False),
                              ([], False, False)):
        m = machine(ablate, migrc=migrc)
        deferred(m)
        z = dma32(m)
        assert z["migrc_pending_nr"] == (4 if migrc else 0) and z["lowmem_reserve"][2] == 0
        assert m.watermark_ok(0, "DMA32", 0, z["free"]) is ok
        assert m.watermark_ok(0, "DMA32", 0, z["free"] - 1) is True
        assert m.watermark_ok(0, "DMA32", 0, 100, free_pages=97) is ok
        assert m.watermark_ok(0, "DMA32", 0, 100, free_pages=101) is True


@pytest.mark.hunk("mm/page_alloc.c#3", "mm/page_alloc.c#4")
@pytest.mark.parametrize("ablate,flushed", [
    (["mm/page_alloc.c#2"], False),
    (["mm/page_alloc.c#2", "mm/page_alloc.c#3"], True),
], ids=["fast-counts-pending", "fast-ablated"])
def test_zone_watermark_fast_counts_pending_folios_as_free(ablate, flushed):
    """zone_watermark_fast's order-0 check: usable_free = free_pages +
    migrc_pending_nr_in_zone(z) (#3), passing iff usable_free > low.  With
    #2 ablated (so __zone_watermark_ok, called next, does not count them),
    DMA32 at NR_FREE_PAGES = low with 4 pending: #3 alone lets the
    allocation through, nothing is flushed.  With #3 ablated too, the zone
    fails, #4 flushes the pending folios (+4 free) and the second look
    passes: the page still comes from DMA32."""
    m = machine(ablate, nodes=SMALL)
    deferred(m)
    fill_to(m, dma32(m)["low"] + 4)
    z = dma32(m)
    assert z["free"] == z["low"] and z["migrc_pending_nr"] == 4
    before = m.vmstat()
    x = m.alloc_pages(0, nid=0, gfp=THISNODE)
    d = delta(before, m.vmstat())
    assert m.page(x)["zone"] == "DMA32"
    if flushed:
        assert flushes(d) == FLUSH and pending(m) == NONE_PENDING
    else:
        assert flushes(d) == {k: 0 for k in FLUSH} and pending(m) == {0: (4, True), 1: (0, False)}


# -- get_page_from_freelist: flush, then look again (#4) ---------------------------------

@pytest.mark.hunk("mm/page_alloc.c#4")
def test_failed_watermark_flushes_pending_folios_even_when_the_retry_cannot_pass():
    """A zone failing its watermark makes #4 call
    migrc_flush_free_folios(ac->nodemask) (NULL: every node).  At order 0
    the second zone_watermark_fast() sees the same sum: the first check
    already counted the pending folios as free (#2, #3), and the flush only
    moves them from migrc_pending_nr to NR_FREE_PAGES.  So the allocation
    falls to the next zone (DMA, pfn 0) either way; only the flush differs.
    DMA32 at free + pending = low: the fast check (usable_free > low)
    fails."""
    for ablate, flushed in (([], True), (["mm/page_alloc.c#4"], False)):
        m = machine(ablate, nodes=SMALL)
        deferred(m)
        fill_to(m, dma32(m)["low"])
        before = m.vmstat()
        x = m.alloc_pages(0, nid=0, gfp=THISNODE)
        d = delta(before, m.vmstat())
        assert m.page(x)["zone"] == "DMA" and x == 0
        z = dma32(m)
        if flushed:
            assert flushes(d) == FLUSH and pending(m) == NONE_PENDING
            assert z["free"] == z["low"] and z["migrc_pending_nr"] == 0
        else:
            assert flushes(d) == {k: 0 for k in FLUSH}
            assert z["free"] == z["low"] - 4 and z["migrc_pending_nr"] == 4


@pytest.mark.hunk("mm/page_alloc.c#4")
def test_flush_frees_the_block_a_high_order_allocation_retries_into():
    """Where the second look does change the outcome: order 2.  DMA32 is
    left with thousands of free pages but every free block below order 2
    (every other page freed, then the order >= 2 blocks allocated), so
    __zone_watermark_ok passes the count and fails the free_area walk.  The
    pending sources 4100..4103 form an aligned order-2 block: #4's flush
    frees them, they merge, the second zone_watermark_fast() finds
    free_area[2] non-empty and `goto try_this_zone` returns pfn 4100.
    Ablated: DMA32 is skipped and the block comes from DMA.  (Without
    PTI's order-1 PGD, so that the tables take 4096..4099.)"""
    for ablate in ([], ["mm/page_alloc.c#4"]):
        m = machine(ablate, nodes=SMALL, CONFIG_PAGE_TABLE_ISOLATION=False)
        p, a, srcs, dsts, d = deferred(m)
        assert srcs == [4100, 4101, 4102, 4103]
        for x in fill_to(m, dma32(m)["low"] + 1):
            if x & 1:
                m.free_pages(x)
        while any(dma32(m)["nr_free"][2:]):
            assert m.page(m.alloc_pages(2, nid=0, gfp=THISNODE))["zone"] == "DMA32"
        z = dma32(m)
        assert z["free"] > 400 and z["migrc_pending_nr"] == 4
        before = m.vmstat()
        x = m.alloc_pages(2, nid=0, gfp=THISNODE)
        d = delta(before, m.vmstat())
        if not ablate:
            assert x == 4100 and flushes(d) == FLUSH and pending(m) == NONE_PENDING
        else:
            assert m.page(x)["zone"] == "DMA" and flushes(d) == {k: 0 for k in FLUSH}
            assert pending(m) == {0: (4, True), 1: (0, False)}


# -- patch 3/3: __alloc_pages_slowpath ---------------------------------------------------

def test_patch3_failed_allocation_after_retry_flushes_pending_folios():
    """Patch 3/3: after `retry:`, a get_page_from_freelist() that fails
    pauses migrc and calls migrc_flush_free_folios(NULL); migrc resumes when
    the allocation ends.  With #4 ablated (so get_page_from_freelist itself
    never flushes), filling node 0 until an allocation fails: with
    CONFIG_MIGRC_PAUSE the failing allocation flushed and freed the 4
    sources (the allocation still fails: they were counted as free
    already); without it they stay pending.  Either way migrc is not left
    paused."""
    for pause in (True, False):
        m = machine(["mm/page_alloc.c#4"], pause=pause, nodes=SMALL)
        deferred(m)
        while True:
            before = m.vmstat()
            x = m.alloc_pages(0, nid=0, gfp=THISNODE)
            if x is None:
                break
            assert pending(m) == {0: (4, True), 1: (0, False)}
        d = delta(before, m.vmstat())
        if pause:
            assert flushes(d) == FLUSH and d["nr_free_pages"] == 4
            assert pending(m) == NONE_PENDING
        else:
            assert flushes(d) == {k: 0 for k in FLUSH} and d["nr_free_pages"] == 0
            assert pending(m) == {0: (4, True), 1: (0, False)}
        assert T.run_migrc_paused(m) is False
