"""Seed patch, mm/rmap.c: can_migrc_fail() in set_tlb_ubc_flush_pending()'s
`pte_write(pteval) || writable` branch (#2): a folio with any writable or
dirty mapping is not deferred.  #1 only drops a blank line before
fold_ubc_ro(): declared without behaviour, no test (fold_ubc_ro itself is
tests/test_tlb.py's test_batch_ro_fold_and_clear)."""

import pytest

from kmm.emu import testing as T
from migrc_scenario import NONE_PENDING, delta, machine, pending


@pytest.mark.hunk("mm/rmap.c#2", "include/linux/sched.h#1")
def test_writable_mapping_fails_can_migrc():
    """A page written by every thread: try_to_migrate_one() finds a writable,
    dirty PTE, so set_tlb_ubc_flush_pending() puts it in tlb_ubc and #2
    sets current->can_migrc = false.  Ablated, can_migrc stays true, but the
    folio is still not deferred: can_migrc_test() also needs a read-only
    mapping (tlb_ubc_ro.flush_required), and there is none."""
    for ablate, can in (([], False), (["mm/rmap.c#2"], True)):
        m = machine(ablate)
        p = m.spawn(threads=16)
        a = p.mmap(1)
        for t in p.threads:
            t.store(a)
        before = m.vmstat()
        assert m.migrate(p, a, 1, node=1, cpu=5) == 1
        assert T.task_can_migrc(m, 5) is can
        assert delta(before, m.vmstat())["nr_tlb_remote_flush"] == 1
        assert pending(m) == NONE_PENDING


@pytest.mark.hunk("mm/rmap.c#2")
def test_dirty_read_only_mapping_fails_can_migrc():
    """`writable = pte_dirty(pteval)`: "if the PTE was dirty then it's best
    to assume it's writable".  A page written, then mprotect()ed read-only,
    keeps its dirty bit: its PTE goes to tlb_ubc and #2 fails can_migrc
    (ablated: true, but with no read-only mapping nothing is deferred)."""
    for ablate, can in (([], False), (["mm/rmap.c#2"], True)):
        m = machine(ablate)
        p = m.spawn(threads=16)
        a = p.mmap(1)
        p.threads[0].store(a)
        p.mprotect(a, 1, "r")
        for t in p.threads:
            t.load(a)
        pte = p.pte(a)
        assert not pte["write"] and pte["dirty"]
        assert m.migrate(p, a, 1, node=1, cpu=5) == 1
        assert T.task_can_migrc(m, 5) is can
        assert pending(m) == NONE_PENDING


def shared_file_page(m):
    """One file page mapped read-only by process A (CPUs 0..3, reading) and
    writable by process B (CPUs 4..7, writing): its rmap walk finds a clean
    read-only PTE (tlb_ubc_ro) and a writable dirty one (tlb_ubc)."""
    f = m.create_file(1)
    pa = m.spawn(threads=4, cpus=[0, 1, 2, 3])
    pb = m.spawn(threads=4, cpus=[4, 5, 6, 7])
    ra = pa.mmap(1, prot="r", shared=True, file=f)
    rb = pb.mmap(1, prot="rw", shared=True, file=f)
    for t in pa.threads:
        t.load(ra)
    for t in pb.threads:
        t.store(rb)
    assert not pa.pte(ra)["write"] and not pa.pte(ra)["dirty"]
    assert pb.pte(rb)["write"] and pb.pte(rb)["dirty"]
    return pa, ra, pb, rb


@pytest.mark.hunk("mm/rmap.c#2")
def test_one_writable_mapping_keeps_the_whole_folio_out_of_migrc():
    """With #2 the writable mapping in B fails can_migrc, the folio is not
    deferred and the batch flushes both processes' CPUs (the migration runs
    on CPU 8: 8 flush IPIs).  Ablated, the read-only PTE alone decides: the
    folio is deferred, A's CPUs are folded into the request and only B's 4
    CPUs are flushed; B's PTE comes back writable (a writable migration
    entry) on the destination, B writes there without a fault, and A's 4
    CPUs read the old copy from the held source."""
    for ablate in ([], ["mm/rmap.c#2"]):
        m = machine(ablate)
        pa, ra, pb, rb = shared_file_page(m)
        src = pa.pfn(ra)
        before = m.vmstat()
        assert m.migrate(pa, ra, 1, node=1, cpu=8) == 1
        d = delta(before, m.vmstat())
        assert d["nr_tlb_remote_flush"] == 1
        dst = pa.pfn(ra)
        assert pb.pfn(rb) == dst and pb.pte(rb)["write"]
        pb.threads[0].store(rb)
        for t in pa.threads:
            t.load(ra)
        v = m.oracle.violations
        if not ablate:
            assert d["nr_tlb_remote_flush_received"] == 8 and pending(m) == NONE_PENDING
            assert v == []
        else:
            assert d["nr_tlb_remote_flush_received"] == 4
            assert pending(m) == {0: (1, True), 1: (0, False)}
            assert [(x["kind"], x["cpu"], x["pfn"], x["cur_pfn"]) for x in v] == [
                ("stale-read", c, src, dst) for c in range(4)]
