"""Scenarios shared by the seed-patch (migrc) hunk tests.

The machine is the seed's shape at a smaller size: node 0 has 16 CPUs and
64 MiB (ZONE_DMA pfn 0..4095, ZONE_DMA32 pfn 4096..16383), node 1 is
CPU-less (128 MiB, DMA32 only), NUMA balancing in tiering mode, demotion
on, and the seed's L1TF guest CPU with 40 physical address bits, so
migration entries keep neither the young nor the dirty bit
(migrate_misplaced_page / try_to_migrate_one: swap_migration_ad_supported()
is false).

How a page becomes one migrc can defer (`read_only`): written by thread 0
(writable, dirty), demoted to node 1 (the PTE comes back writable but clean:
no dirty bit in the entry), made PROT_NONE by the NUMA scan
(change_prot_numa), then touched 10 ms later: do_numa_page promotes it to
node 0 and the PTE is rebuilt from a readable (not writable) migration
entry, because pte_modify(PAGE_NONE) dropped the write bit: read-only AND
clean.  Every thread then reads it, so all 16 TLBs cache the read-only
translation.  Demoting such a page puts its PTE in current->tlb_ubc_ro
(patch 1/3: !pte_write && !pte_dirty) and nothing in tlb_ubc.
"""

import kmm

PAGE = 4096
MS = 1_000_000
L1TF_40 = {"x86_bug_l1tf": True, "x86_phys_bits": 40}
NODES = [{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "128M"}]
THISNODE = "GFP_HIGHUSER_MOVABLE|__GFP_THISNODE"


def machine(ablate=(), migrc=True, pause=False, nodes=NODES, **kconfig):
    """The test machine; CONFIG_MIGRC on unless migrc=False."""
    kc = {"CONFIG_MIGRC": migrc, "CONFIG_DEBUG_TLBFLUSH": True, **kconfig}
    if pause:
        kc["CONFIG_MIGRC_PAUSE"] = True
    return kmm.Machine(nodes=nodes, sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
                       cpu=L1TF_40, kconfig=kc, ablate=list(ablate))


def delta(before, after):
    return {k: after[k] - before[k] for k in before if isinstance(after[k], int)}


def addrs(a, n):
    return [a + i * PAGE for i in range(n)]


def read_all(p, a, n, threads=None):
    for t in (p.threads if threads is None else threads):
        for x in addrs(a, n):
            t.load(x)


def read_only(m, n=4, threads=16, p=None):
    """n anonymous pages on node 0 mapped read-only and clean, cached by
    every thread's TLB (see the module docstring).  Returns (p, a)."""
    if p is None:
        p = m.spawn(threads=threads)
    a = p.mmap(n)
    for x in addrs(a, n):
        p.threads[0].store(x)
    assert m.migrate(p, a, n, node=1) == n
    assert p._change_prot_numa(a, n) == n
    m._clock_advance_ns(10 * MS)
    before = m.vmstat()["numa_pages_migrated"]
    for x in addrs(a, n):
        p.threads[0].load(x)                    # hint fault: promoted to node 0
    assert m.vmstat()["numa_pages_migrated"] - before == n
    for x in addrs(a, n):
        pte = p.pte(x)
        assert pte["present"] and not pte["write"] and not pte["dirty"]
        assert m.page(pte["pfn"])["node"] == 0
    read_all(p, a, n)
    return p, a


def pfns(p, a, n):
    return [p.pfn(x) for x in addrs(a, n)]


def deferred(m, n=4, threads=16, node=1, reason="demotion", cpu=0):
    """read_only() pages migrated once more (a demotion by default): with
    migrc this is the migration whose flush is deferred.  Returns
    (p, a, srcs, dsts, vmstat delta of the migration)."""
    p, a = read_only(m, n, threads)
    srcs = pfns(p, a, n)
    before = m.vmstat()
    assert m.migrate(p, a, n, node=node, reason=reason, cpu=cpu) == n
    d = delta(before, m.vmstat())
    return p, a, srcs, pfns(p, a, n), d


def pending(m):
    """{nid: (folios pending in the node's zones, requests hung)}"""
    return {nid: (v["pending"], v["has_requests"]) for nid, v in m.migrc_pending().items()}


def zone_pending(m):
    return {(z["node"], z["zone"]): z["migrc_pending_nr"] for z in m.zones()}


NONE_PENDING = {0: (0, False), 1: (0, False)}
