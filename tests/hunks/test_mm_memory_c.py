"""Seed patch, mm/memory.c: do_wp_page gives up the deferral before a page
under migrc becomes writable (`if (folio && migrc_unpend_if_pending(folio))
migrc_flush_free_folios(NULL);`).

The folios are 4 read-only anonymous pages demoted with a deferred flush
(migrc_scenario.deferred): their sources on node 0 are held, all 16 CPUs
still cache translations to them.  Thread 3 (CPU 3) stores to the first
page: a write-protection fault into do_wp_page, which reuses the page
(PageAnonExclusive: PGREUSE) and makes the PTE writable."""

import pytest

from migrc_scenario import (NONE_PENDING, PAGE, deferred, delta, machine, pending, pfns, read_all,
                            read_only)

OTHERS = [c for c in range(16) if c != 3]


@pytest.mark.hunk("mm/memory.c#1", "mm/internal.h#1")
def test_write_fault_on_a_deferred_folio_flushes_and_frees_everything():
    """migrc_unpend_if_pending(dst) test-and-clears PG_migrc on the written
    folio, then migrc_flush_free_folios(NULL) does the deferred flush from
    CPU 3 (one flush_tlb_multi to the 15 others, CPU 3's own full flush) and
    frees all 4 held sources: NR_FREE_PAGES +4, nothing pending.  Only the
    written folio loses its mark.  Every CPU then reads the new data."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m)
    before = m.vmstat()
    p.threads[3].store(a)
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 1 and d["nr_tlb_remote_flush_received"] == 15
    assert d["nr_tlb_local_flush_all"] == 1
    assert d["nr_free_pages"] == 4 and d["pgfree"] == 4 and d["pgreuse"] == 1
    assert pending(m) == NONE_PENDING
    assert all(m.page(s)["refcount"] == 0 for s in srcs)
    assert "migrc" not in m.page(dsts[0])["flags"]
    assert all("migrc" in m.page(t)["flags"] for t in dsts[1:])
    pte = p.pte(a)
    assert pte["write"] and pte["pfn"] == dsts[0]
    read_all(p, a, 4)
    assert m.oracle.violations == [] and m.check_invariants() == []


@pytest.mark.hunk("mm/memory.c#1")
def test_without_the_hunk_other_cpus_read_the_old_copy():
    """Ablated: the write goes to the destination without any flush; the 15
    other CPUs still translate the address to the held source and read the
    data from before the write (stale-read, on the source pfn, while the
    page tables map the destination)."""
    m = machine(["mm/memory.c#1"])
    p, a, srcs, dsts, d = deferred(m)
    before = m.vmstat()
    p.threads[3].store(a)
    assert delta(before, m.vmstat())["nr_tlb_remote_flush"] == 0
    assert pending(m) == {0: (4, True), 1: (0, False)}
    for t in p.threads:
        t.load(a)
    v = m.oracle.violations
    assert [(x["kind"], x["cpu"]) for x in v] == [("stale-read", c) for c in OTHERS]
    assert all(x["pfn"] == srcs[0] and x["cur_pfn"] == dsts[0] for x in v)


@pytest.mark.hunk("mm/memory.c#1")
def test_write_fault_on_a_folio_not_under_migrc_keeps_the_deferral():
    """The flush is tied to the folio being written: a write fault on a
    read-only page that migrc does not hold (promoted, never demoted) finds
    no PG_migrc, so the 4 deferred sources stay pending and no IPI is
    sent (the RO -> RW upgrade needs no flush)."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m, n=4)
    # a fifth read-only page of the same process, not migrated since its promotion
    _, b = read_only(m, 1, p=p)
    assert pending(m) == {0: (4, True), 1: (0, False)}
    before = m.vmstat()
    p.threads[3].store(b)
    d = delta(before, m.vmstat())
    assert d["pgreuse"] == 1 and d["nr_tlb_remote_flush"] == 0
    assert pending(m) == {0: (4, True), 1: (0, False)}
    assert p.pte(b)["write"]
    read_all(p, a, 4)
    assert m.oracle.violations == []


@pytest.mark.hunk("mm/memory.c#1")
def test_stale_mark_after_a_flush_costs_nothing():
    """After migrc_flush_free_folios() ran for another reason, the
    destinations keep PG_migrc.  A write to one clears the mark and calls
    the flush, which finds no request: no IPI, nothing freed."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m)
    assert m.migrc_flush_free_folios() is True
    before = m.vmstat()
    p.threads[3].store(a + PAGE)
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 0 and d["nr_free_pages"] == 0
    assert "migrc" not in m.page(dsts[1])["flags"]
    assert pfns(p, a, 4) == dsts
