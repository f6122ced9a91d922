"""What boot leaves behind: every page free and counted as freed
(memblock_free_all -> __free_pages_core -> __free_pages_ok counts PGFREE),
the zonelists, memory tiers and demotion targets, and
swap_migration_ad_supported (mm/swapfile.c swapfile_init with x86's
arch_max_swapfile_size)."""

import pytest

import kmm
from kmm.emu import testing as T

SEED_PAGES = (1 << 30) // 4096 + (8 << 30) // 4096       # 2359296


@pytest.fixture(scope="module")
def seed():
    return kmm.Machine.preset("seed")


def test_seed_topology(seed):
    assert seed.nr_node_ids == 2
    assert seed.nr_cpus == 16
    assert seed.node_cpus(0) == list(range(16)) and seed.node_cpus(1) == []
    assert seed.max_pfn == SEED_PAGES
    assert seed.sysctl["kernel.numa_balancing"] == 2
    assert seed.sysctl["vm.demotion_enabled"] is True


def test_every_page_free_after_boot(seed):
    vm = seed.vmstat()
    assert vm["nr_free_pages"] == SEED_PAGES
    assert vm["pgfree"] == SEED_PAGES
    assert sum(vm[f"pgalloc_{z}"] for z in ("dma", "dma32", "normal", "movable")) == 0
    assert seed.node_free_pages(0) == (1 << 30) // 4096
    assert seed.node_free_pages(1) == (8 << 30) // 4096
    # every page is in a free block: node 0 is 256 whole order-10 blocks,
    # node 1 768 + 1280
    assert [z["nr_free"][10] for z in seed.zones()] == [4, 252, 768, 1280]
    assert all(sum(z["nr_free"][:10]) == 0 for z in seed.zones())
    assert seed.check_invariants() == []


def test_boot_frees_in_largest_aligned_blocks():
    # a node that is not a whole number of order-10 blocks: 4M + 12K + 4M
    # node 1 starts at pfn 1027 (ffs 0 -> order 0), then 1028 (order 2),
    # 1032 (3), 1040 (4), 1056 (5), 1088 (6), 1152 (7), 1280 (8), 1536 (9),
    # then 2048 (10) ... up to pfn 2051 where it ends: 2048 can only be
    # order 1 (2048..2049), then 2050 (order 0).
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": 4 * 1024 * 1024 + 3 * 4096},
                           {"cpus": 0, "mem": "4M"}])
    # node 0: pfns 0..1026: 0 (o10), 1024 (o1), 1026 (o0)
    assert m.zone(0, "DMA")["nr_free"] == (1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1)
    # node 1: pfns 1027..2050
    assert m.zone(1, "DMA")["nr_free"] == (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0)
    vm = m.vmstat()
    assert vm["nr_free_pages"] == vm["pgfree"] == 1027 + 1024
    assert m.check_invariants() == []


def test_without_config_zone_dma_dma32_starts_at_pfn_0():
    """arch/x86/Kconfig ZONE_DMA=n: no zone below 16 MiB, so node 0 is one
    ZONE_DMA32 (pfn 0..262143: 256 order-10 blocks), its zonelist has that
    zone alone, /proc/vmstat has no *_dma lines (TEXT_FOR_DMA() is empty),
    and a __GFP_DMA request maps to ZONE_NORMAL (OPT_ZONE_DMA)."""
    m = kmm.Machine.preset("seed", kconfig={"CONFIG_ZONE_DMA": False})
    z = [(z["node"], z["zone"], z["start_pfn"], z["spanned"]) for z in m.zones()]
    assert z == [(0, "DMA32", 0, 262144), (1, "DMA32", 262144, 786432),
                 (1, "Normal", 1 << 20, 1310720)]
    assert m.zone(0, "DMA32")["nr_free"][10] == 256
    assert T.zonelist(m, 0, thisnode=True) == [(0, 1)]
    vm = m.vmstat()
    assert "pgalloc_dma" not in vm and "allocstall_dma" not in vm and "pgskip_dma" not in vm
    assert "pgalloc_dma32" in vm
    # as ZONE_DMA (index 0) the request would find no zone at all
    assert m.alloc_pages(0, nid=0, gfp="GFP_DMA") is not None
    assert m.vmstat()["pgalloc_dma32"] == 1
    # with it (the default) node 0's DMA zone is the first 16 MiB, and
    # DMA32's managed pages / sysctl_lowmem_reserve_ratio[DMA] (256) of it
    # are kept from DMA32/movable requests: 258048 // 256 = 1008
    d = kmm.Machine.preset("seed").zone(0, "DMA")
    assert (d["start_pfn"], d["spanned"]) == (0, 4096)
    assert d["lowmem_reserve"][1:] == (1008, 1008, 1008)


def test_seed_zonelists(seed):
    # local node first, each node's zones from the highest down
    assert T.zonelist(seed, 0) == [(0, 1), (0, 0), (1, 2), (1, 1)]
    assert T.zonelist(seed, 1) == [(1, 2), (1, 1), (0, 1), (0, 0)]
    assert T.zonelist(seed, 0, thisnode=True) == [(0, 1), (0, 0)]
    assert T.zonelist(seed, 1, thisnode=True) == [(1, 2), (1, 1)]


def test_zonelist_order_prefers_cpuless_nodes_and_round_robins():
    """find_next_best_node(): distance 20 for every remote node, +1 for a
    lower node number, +1 for a node with CPUs (PENALTY_FOR_NODE_WITH_CPUS),
    times MAX_NUMNODES, + node_load (the first node of each distance group
    of a zonelist gets +1 for the zonelists built after it).
      node 0: 2 (160) and 3 (160) tie, 2 wins; load[2] = 1; then 3, then 1 (168)
      node 1: 3 (160) beats 2 (161); load[3] = 1; then 2, then 0 (176)
      node 2: 3 (161) first; load[3] = 2; 0 and 1 tie at 176: 0, then 1
      node 3: 2 (168 + 1) first; then 0, 1"""
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "4M"}, {"cpus": 1, "mem": "4M"},
                           {"cpus": 0, "mem": "4M"}, {"cpus": 0, "mem": "4M"}])
    order = {nid: [n for n, _ in T.zonelist(m, nid)] for nid in range(4)}
    assert order == {0: [0, 2, 3, 1], 1: [1, 3, 2, 0], 2: [2, 3, 0, 1], 3: [3, 2, 0, 1]}


def test_memory_tiers(seed):
    assert seed.node_is_toptier(0) is True
    assert seed.node_is_toptier(1) is False
    assert seed.next_demotion_node(0) == 1
    assert seed.next_demotion_node(1) == -1


def test_memory_tiers_three_nodes():
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "4M"}, {"cpus": 0, "mem": "4M"},
                           {"cpus": 1, "mem": "4M"}])
    assert [m.node_is_toptier(n) for n in range(3)] == [True, False, True]
    assert m.next_demotion_node(0) == 1 and m.next_demotion_node(2) == 1
    assert m.next_demotion_node(1) == -1


def test_single_node_has_no_demotion_target(small):
    assert small.node_is_toptier(0) is True
    assert small.next_demotion_node(0) == -1
    assert small.sysctl["kernel.numa_balancing"] == 0


# arch_max_swapfile_size() with L1TF: l1tf_pfn_limit() = 2^(cache_bits - 1
# - 12), shifted left by PAGE_SHIFT - SWP_OFFSET_FIRST_BIT = 12 - 9 = 3:
# 2^(cache_bits - 10) pages.  swap_migration_ad_supported needs at least
# 2^SWP_MIG_TOTAL_BITS = 2^(MAX_PHYSMEM_BITS 46 - PAGE_SHIFT 12 + 2) = 2^36.
@pytest.mark.parametrize("cpu, supported", [
    (None, True),                                          # no L1TF: 2^50 offsets
    ({"x86_bug_l1tf": True, "x86_phys_bits": 46}, True),   # 2^36 >= 2^36
    ({"x86_bug_l1tf": True, "x86_phys_bits": 45}, False),  # 2^35
    ({"x86_bug_l1tf": True, "x86_phys_bits": 40}, False),  # the seed's guest
    ({"x86_bug_l1tf": False, "x86_phys_bits": 40}, True),
    ({"x86_bug_l1tf": True, "x86_phys_bits": 40, "x86_cache_bits": 46}, True),
])
def test_swap_migration_ad_supported(cpu, supported):
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "4M"}], cpu=cpu)
    assert m.swap_migration_ad_supported is supported


def test_seed_swap_migration_ad_unsupported(seed):
    assert seed.swap_migration_ad_supported is False
    assert {k: seed.cpu[k] for k in ("x86_bug_l1tf", "x86_phys_bits", "x86_cache_bits")} == \
        {"x86_bug_l1tf": True, "x86_phys_bits": 40, "x86_cache_bits": 40}
    # v6.6 marks L1TF only on Meltdown CPUs, and then PTI is on by default
    assert seed.cpu["x86_bug_cpu_meltdown"] is True and seed.pti is True
