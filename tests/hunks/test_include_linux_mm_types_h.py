"""Seed patch, include/linux/mm_types.h: struct migrc_req (folios pending
a TLB flush, the llist node hanging it on its node, the arch batch of CPUs
to flush, and the node id)."""

import pytest

from migrc_scenario import PAGE, delta, machine, pending, pfns, read_all, read_only, zone_pending


@pytest.mark.hunk("include/linux/mm_types.h#1")
@pytest.mark.parametrize("src_node,dst_node,reason", [(0, 1, "demotion"),
                                                      (1, 0, "numa_misplaced")])
def test_a_requests_nid_is_its_sources_node(src_node, dst_node, reason):
    """migrc_expand_req() sets req->nid from the first queued source and
    migrc_req_end() hangs the request on NODE_DATA(req->nid): a demotion's
    request sits on node 0, a promotion-like MR_NUMA_MISPLACED migration
    of node-1 pages to node 0 hangs its request on node 1.  Each source is
    on req->folios, counted in its own zone.  (Read-only clean pages on
    node 1: written, demoted -- the L1TF entry drops the dirty bit --, then
    mprotect(PROT_READ); on node 0: migrc_scenario.read_only.)"""
    m = machine()
    if src_node == 0:
        p, a = read_only(m, 4)
    else:
        p = m.spawn(threads=16)
        a = p.mmap(4)
        for i in range(4):
            p.threads[0].store(a + i * PAGE)
        assert m.migrate(p, a, 4, node=1) == 4
        p.mprotect(a, 4, "r")
        read_all(p, a, 4)
    srcs = pfns(p, a, 4)
    assert all(m.page(s)["node"] == src_node for s in srcs)
    assert all(not p.pte(a + i * PAGE)["write"] and not p.pte(a + i * PAGE)["dirty"]
               for i in range(4))
    assert m.migrate(p, a, 4, node=dst_node, reason=reason) == 4
    want = {0: (0, False), 1: (0, False)}
    want[src_node] = (4, True)
    assert pending(m) == want
    zp = zone_pending(m)
    assert zp[(src_node, "DMA32")] == 4 and sum(zp.values()) == 4
    assert all(m.page(s)["refcount"] == 1 for s in srcs)


@pytest.mark.hunk("include/linux/mm_types.h#1")
@pytest.mark.parametrize("threads", [4, 16])
def test_a_requests_arch_batch_holds_the_cpus_to_flush(threads):
    """fold_ubc_ro_to_migrc() folds tlb_ubc_ro's arch batch (cpumask =
    mm_cpumask of the unmapped mm) into req->arch; the deferred flush later
    sends exactly one IPI round to those CPUs but the flusher: a process on
    CPUs 0..threads-1 flushed from CPU 0 gets threads-1 IPIs."""
    m = machine()
    p, a = read_only(m, 4, threads=threads)
    assert m.migrate(p, a, 4, node=1) == 4
    before = m.vmstat()
    assert m.migrc_flush_free_folios(cpu=0) is True
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 1
    assert d["nr_tlb_remote_flush_received"] == threads - 1
    assert d["nr_tlb_local_flush_all"] == 1
