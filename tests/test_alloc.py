"""__alloc_pages() at the watermark edges, zonelist fallback and the NUMA
and allocation counters, derived by hand from mm/page_alloc.c v6.6.

Edges on the 16 MiB machine (one DMA zone, MIN 128, LOW 160, HIGH 192;
lowmem_reserve all 0; see conftest):
- fast path (ALLOC_WMARK_LOW): zone_watermark_fast() order 0 passes while
  free > LOW, so the allocation at free == LOW + 1 is the last fast one;
- slow path: gfp_to_alloc_flags() gives ALLOC_WMARK_MIN (+ALLOC_KSWAPD),
  wake_all_kswapds() runs first; __zone_watermark_ok() passes while
  free > MIN - adjustments:
    GFP_KERNEL              no reserves                    edge 128
    GFP_NOWAIT              ALLOC_NON_BLOCK only: no
                            MIN_RESERVE, so no reduction   edge 128
    GFP_KERNEL|__GFP_HIGH   ALLOC_MIN_RESERVE: min - min/2 edge 64
    GFP_ATOMIC              MIN_RESERVE|NON_BLOCK:
                            64 - 64/4                      edge 48
"""

import pytest

import kmm
from conftest import SMALL, SMALL_LOW, SMALL_MIN

ATOMIC_EDGE = (SMALL_MIN - SMALL_MIN // 2) - (SMALL_MIN - SMALL_MIN // 2) // 4
HIGH_EDGE = SMALL_MIN - SMALL_MIN // 2


def free_pages_of(m, nid=0):
    return m.node_free_pages(nid)


def drain_to(m, target, gfp="GFP_KERNEL", nid=0):
    """Allocate order-0 pages until the zone has `target` free pages."""
    got = []
    while free_pages_of(m, nid) > target:
        pfn = m.alloc_pages(0, nid=nid, gfp=gfp)
        assert pfn is not None
        got.append(pfn)
    assert free_pages_of(m, nid) == target
    return got


def test_hand_derived_edges():
    assert (SMALL_MIN, SMALL_LOW) == (128, 160)
    assert (HIGH_EDGE, ATOMIC_EDGE) == (64, 48)


def test_fast_path_down_to_low_then_slow_path_wakes_kswapd(small):
    drain_to(small, SMALL_LOW + 1)
    assert not small.kswapd_woken(0)
    # free == LOW + 1 > LOW: still the fast path
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is not None
    assert free_pages_of(small) == SMALL_LOW
    assert not small.kswapd_woken(0)
    # free == LOW fails the fast path: slow path wakes kswapd (the node is
    # below HIGH, so not balanced) and succeeds at MIN
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is not None
    assert small.kswapd_woken(0)
    assert free_pages_of(small) == SMALL_LOW - 1


def test_gfp_kernel_fails_exactly_at_min(small):
    got = drain_to(small, SMALL_MIN + 1)
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is not None      # 129 > 128
    assert free_pages_of(small) == SMALL_MIN
    # free == MIN: the MIN check fails and direct reclaim reclaims nothing
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is None
    assert small.alloc_pages(0, gfp="GFP_HIGHUSER_MOVABLE") is None
    assert free_pages_of(small) == SMALL_MIN
    # one page back above MIN lets exactly one more through
    small.free_pages(got[0])
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is not None
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is None
    assert small.check_invariants() == []


def test_gfp_nowait_edge_is_min(small):
    drain_to(small, SMALL_MIN + 1)
    assert small.alloc_pages(0, gfp="GFP_NOWAIT") is not None
    assert small.alloc_pages(0, gfp="GFP_NOWAIT") is None
    assert free_pages_of(small) == SMALL_MIN
    assert small.kswapd_woken(0)


def test_gfp_high_edge(small):
    drain_to(small, SMALL_MIN)
    drain_to(small, HIGH_EDGE + 1, gfp="GFP_KERNEL|__GFP_HIGH")
    assert small.alloc_pages(0, gfp="GFP_KERNEL|__GFP_HIGH") is not None
    assert free_pages_of(small) == HIGH_EDGE
    assert small.alloc_pages(0, gfp="GFP_KERNEL|__GFP_HIGH") is None


def test_gfp_atomic_edge(small):
    drain_to(small, SMALL_MIN)
    assert small.alloc_pages(0, gfp="GFP_KERNEL") is None
    drain_to(small, ATOMIC_EDGE + 1, gfp="GFP_ATOMIC")
    assert small.alloc_pages(0, gfp="GFP_ATOMIC") is not None
    assert free_pages_of(small) == ATOMIC_EDGE
    assert small.alloc_pages(0, gfp="GFP_ATOMIC") is None
    assert small.alloc_pages(0, gfp="GFP_KERNEL|__GFP_HIGH") is None
    assert small.alloc_pages(0, gfp="GFP_NOWAIT") is None
    assert free_pages_of(small) == ATOMIC_EDGE


def test_order3_low_edge(small):
    # order 3: (1 << 3) - 1 = 7 free pages do not count
    drain_to(small, SMALL_LOW + 8)
    assert small.alloc_pages(3, gfp="GFP_KERNEL") is not None     # 168 - 7 > 160
    assert not small.kswapd_woken(0)
    assert free_pages_of(small) == SMALL_LOW
    drain_to(small, SMALL_LOW + 7 - 8, gfp="GFP_KERNEL")
    assert small.kswapd_woken(0)


@pytest.mark.parametrize("free, ok", [(SMALL_MIN + 8, True), (SMALL_MIN + 7, False)])
def test_order3_min_edge(small, free, ok):
    drain_to(small, free)
    # 136 - 7 > 128 passes, 135 - 7 == 128 fails (an order-7 block is
    # still free, so it is the watermark that decides)
    assert small.zone(0, "DMA")["nr_free"][7] == 1
    assert (small.alloc_pages(3, gfp="GFP_KERNEL") is not None) == ok
    if not ok:
        # GFP_ATOMIC may go down to 48
        assert small.alloc_pages(3, gfp="GFP_ATOMIC") is not None
        assert free_pages_of(small) == free - 8


def test_pgalloc_and_pgfree_count_pages():
    m = kmm.Machine(nodes=SMALL)
    vm0 = m.vmstat()
    a = m.alloc_pages(0)
    b = m.alloc_pages(2)
    c = m.alloc_pages(5)          # order > 3: freed by __free_pages_ok()
    vm1 = m.vmstat()
    assert vm1["pgalloc_dma"] - vm0["pgalloc_dma"] == 1 + 4 + 32
    assert vm1["pgalloc_dma32"] == vm1["pgalloc_normal"] == vm1["pgalloc_movable"] == 0
    assert vm1["nr_free_pages"] == vm0["nr_free_pages"] - 37
    # zone_statistics(): once per allocation, not per page
    assert vm1["numa_hit"] - vm0["numa_hit"] == 3
    assert vm1["numa_local"] - vm0["numa_local"] == 3
    m.free_pages(a)
    m.free_pages(b, 2)
    m.free_pages(c, 5)
    vm2 = m.vmstat()
    assert vm2["pgfree"] - vm1["pgfree"] == 37
    assert vm2["nr_free_pages"] == vm0["nr_free_pages"]
    # freeing does not touch the allocation counters
    assert vm2["numa_hit"] == vm1["numa_hit"] and vm2["pgalloc_dma"] == vm1["pgalloc_dma"]


# Two nodes: node 0 (2 CPUs) pfns 0..4095 = DMA; node 1 (no CPUs) pfns
# 4096..8191 = DMA32 (16 MiB is where ZONE_DMA ends).  min_free_kbytes =
# int_sqrt(8192 * 4 * 16) = 724; pages_min 181; each zone MIN = 181 * 4096
# // 8192 = 90, tmp = max(22, 4) = 22, LOW = 112.  Node 0's DMA has no zone
# above it on its node, so its lowmem_reserve is 0.
TWO = [{"cpus": 2, "mem": "16M"}, {"cpus": 0, "mem": "16M"}]
TWO_MIN, TWO_LOW = 90, 112


@pytest.fixture
def two():
    return kmm.Machine(nodes=TWO)


def test_two_node_layout(two):
    z0, z1 = two.zone(0, "DMA"), two.zone(1, "DMA32")
    assert (z0["min"], z0["low"], z1["min"], z1["low"]) == (TWO_MIN, TWO_LOW, TWO_MIN, TWO_LOW)
    assert z0["lowmem_reserve"] == (0, 0, 0, 0)
    assert z1["start_pfn"] == 4096


def numa(m):
    v = m.vmstat()
    return {k: v[k] for k in ("numa_hit", "numa_miss", "numa_foreign", "numa_local", "numa_other")}


def test_numa_counters_local_and_remote(two):
    assert numa(two) == dict.fromkeys(numa(two), 0)
    p0 = two.alloc_pages(0, cpu=0)                # local node 0
    assert two.page(p0)["node"] == 0
    p1 = two.alloc_pages(2, nid=1, cpu=1)         # node 1 asked for, from a node-0 CPU
    assert two.page(p1)["node"] == 1
    assert numa(two) == dict(numa_hit=2, numa_miss=0, numa_foreign=0, numa_local=1, numa_other=1)
    v = two.vmstat()
    assert (v["pgalloc_dma"], v["pgalloc_dma32"]) == (1, 4)


def test_thisnode_never_falls_back_plain_falls_back(two):
    drain_to(two, TWO_MIN, gfp="GFP_KERNEL|__GFP_THISNODE", nid=0)
    n0 = numa(two)
    # node 0 is at MIN: __GFP_THISNODE uses the no-fallback zonelist
    assert two.alloc_pages(0, nid=0, gfp="GFP_KERNEL|__GFP_THISNODE") is None
    assert two.alloc_pages(0, nid=0, gfp="GFP_ATOMIC|__GFP_THISNODE") is not None
    assert two.page(two.alloc_pages(0, nid=0, gfp="GFP_ATOMIC|__GFP_THISNODE"))["node"] == 0
    assert not two.kswapd_woken(1)
    n1 = numa(two)
    assert n1["numa_hit"] - n0["numa_hit"] == 2 and n1["numa_miss"] == 0
    # a plain allocation falls back to node 1 in the fast path (node 1 is
    # above LOW), so node 1's kswapd is not woken
    pfn = two.alloc_pages(0, nid=0, gfp="GFP_KERNEL", cpu=0)
    assert two.page(pfn)["node"] == 1
    assert not two.kswapd_woken(1)
    n2 = numa(two)
    assert n2["numa_miss"] - n1["numa_miss"] == 1
    assert n2["numa_foreign"] - n1["numa_foreign"] == 1
    assert n2["numa_other"] - n1["numa_other"] == 1
    assert n2["numa_hit"] == n1["numa_hit"] and n2["numa_local"] == n1["numa_local"]


def test_node1_falls_back_to_node0(two):
    drain_to(two, TWO_MIN, gfp="GFP_KERNEL|__GFP_THISNODE", nid=1)
    assert two.alloc_pages(0, nid=1, gfp="GFP_KERNEL|__GFP_THISNODE") is None
    n0 = numa(two)
    pfn = two.alloc_pages(0, nid=1, cpu=1)
    assert two.page(pfn)["node"] == 0
    n1 = numa(two)
    # the page is node 0's and the CPU is on node 0: a miss, but local
    assert (n1["numa_miss"] - n0["numa_miss"], n1["numa_foreign"] - n0["numa_foreign"],
            n1["numa_local"] - n0["numa_local"], n1["numa_other"] - n0["numa_other"]) == (1, 1, 1, 0)


def test_fallback_exhausts_both_nodes(two):
    got = []
    while True:
        pfn = two.alloc_pages(0, gfp="GFP_KERNEL")
        if pfn is None:
            break
        got.append(pfn)
    # GFP_KERNEL stops at MIN in both zones: everything else was handed out
    assert len(got) == 8192 - 2 * TWO_MIN
    assert two.zone(0, "DMA")["free"] == TWO_MIN and two.zone(1, "DMA32")["free"] == TWO_MIN
    # node 0 first: node 1 only once node 0 failed the LOW check
    first_remote = next(i for i, p in enumerate(got) if p >= 4096)
    assert first_remote == 4096 - TWO_LOW
    assert all(p < 4096 for p in got[:first_remote])
    for pfn in got:
        two.free_pages(pfn)
    assert two.vmstat()["nr_free_pages"] == 8192
    assert two.check_invariants() == []
