"""Seed patch, include/linux/mmzone.h: zone->migrc_pending_nr."""

import pytest

import kmm
from migrc_scenario import (NONE_PENDING, PAGE, deferred, delta, machine, pending, read_all,
                            zone_pending)


@pytest.mark.hunk("include/linux/mmzone.h#1")
def test_migrc_pending_nr_starts_at_zero_in_every_zone():
    # A zone's count of folios held for a deferred TLB flush is zero at boot
    # in every populated zone of every node.
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "64M"}, {"cpus": 0, "mem": "64M"}])
    zones = m.zones()
    assert {(z["node"], z["zone"]) for z in zones} >= {(0, "DMA"), (0, "DMA32"), (1, "DMA32")}
    assert all(z["migrc_pending_nr"] == 0 for z in zones)


@pytest.mark.hunk("include/linux/mmzone.h#1")
def test_migrc_pending_nr_counts_held_sources_in_their_own_zone():
    """migrc_expand_req() increments folio_zone(src)->migrc_pending_nr,
    migrc_flush_free_folios() decrements it per source freed: 4 read-only
    pages demoted from node 0 DMA32 count there (not in the destination's
    node 1 DMA32), and drop back to 0 after the flush."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m)
    assert all(m.page(s)["zone"] == "DMA32" and m.page(s)["node"] == 0 for s in srcs)
    assert zone_pending(m) == {(0, "DMA"): 0, (0, "DMA32"): 4, (1, "DMA32"): 0}
    m.migrc_flush_free_folios()
    assert zone_pending(m) == {(0, "DMA"): 0, (0, "DMA32"): 0, (1, "DMA32"): 0}


@pytest.mark.hunk("include/linux/mmzone.h#2")
def test_requests_hang_on_their_node_and_one_flush_takes_them_all():
    """pglist_data.migrc_reqs: each migrate_pages_batch's request is
    llist_add()ed to its sources' node.  A demotion (sources on node 0) and
    a migration of node-1 pages to node 0 (sources on node 1) leave a
    request on each node; migrc_flush_free_folios(NULL) gathers both
    (llist_del_all per node) into one arch batch: one IPI round for both."""
    m = machine()
    p, a, srcs, dsts, d = deferred(m)                  # request on node 0
    q = m.spawn(threads=16)
    b = q.mmap(4)
    for i in range(4):
        q.threads[0].store(b + i * PAGE)
    assert m.migrate(q, b, 4, node=1) == 4             # writable, not deferred
    q.mprotect(b, 4, "r")                              # read-only, clean (L1TF)
    read_all(q, b, 4)
    assert m.migrate(q, b, 4, node=0, reason="numa_misplaced") == 4
    assert pending(m) == {0: (4, True), 1: (4, True)}
    before = m.vmstat()
    assert m.migrc_flush_free_folios() is True
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 1 and d["nr_tlb_remote_flush_received"] == 15
    assert d["nr_free_pages"] == 8
    assert pending(m) == NONE_PENDING
