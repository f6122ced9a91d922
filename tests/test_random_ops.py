"""Random allocation/free sequences on a small two-node machine with
CONFIG_DEBUG_VM (the emulator checks its invariants after every API
operation), against a model kept here: which blocks are allocated, how
many pages are free, what the counters must say, and that at the end,
with everything freed, every zone's free lists are as they were at boot.

KMM_HYPOTHESIS_EXAMPLES sets the number of examples (default 25)."""

import os

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import kmm

EXAMPLES = int(os.environ.get("KMM_HYPOTHESIS_EXAMPLES", "25"))

# 4 MiB per node: 1024 pages each, so bulk allocations reach the
# watermarks and fall back to the other node.  Shaped like the seed:
# node 0 has the CPUs, node 1 none.
NODES = [{"cpus": 2, "mem": "4M"}, {"cpus": 0, "mem": "4M"}]
NIDS = [None, 0, 1]
TOTAL = 2 * 1024
GFPS = ["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE", "GFP_ATOMIC", "GFP_NOWAIT",
        "GFP_KERNEL|__GFP_THISNODE", "GFP_HIGHUSER_MOVABLE|__GFP_THISNODE",
        "GFP_ATOMIC|__GFP_THISNODE", "GFP_NOWAIT|__GFP_THISNODE"]


class AllocFree(RuleBasedStateMachine):
    @initialize()
    def boot(self):
        self.m = kmm.Machine(nodes=NODES, kconfig={"CONFIG_DEBUG_VM": True})
        self.boot_lists = {(z["node"], z["zone"]): z["nr_free"] for z in self.m.zones()}
        self.vm0 = self.m.vmstat()
        self.blocks = {}            # pfn -> order
        self.pages = set()          # every allocated pfn
        self.allocs = 0
        self.alloc_pages_total = 0
        self.freed_pages_total = 0

    def _alloc(self, order, nid, gfp, cpu):
        before = self.m.vmstat()["nr_free_pages"]
        pfn = self.m.alloc_pages(order, nid=nid, gfp=gfp, cpu=cpu)
        if pfn is None:
            event("allocation failed")
            assert self.m.vmstat()["nr_free_pages"] == before
            return False
        assert pfn % (1 << order) == 0
        span = set(range(pfn, pfn + (1 << order)))
        assert not span & self.pages, "handed out a page that is in use"
        want_nid = nid if nid is not None else self.m.cpu_to_node(cpu)
        if "__GFP_THISNODE" in gfp:
            assert self.m.page(pfn)["node"] == want_nid
        elif self.m.page(pfn)["node"] != want_nid:
            event("fell back to the other node")
        self.blocks[pfn] = order
        self.pages |= span
        self.allocs += 1
        self.alloc_pages_total += 1 << order
        return True

    @rule(order=st.integers(0, 3), nid=st.sampled_from(NIDS),
          gfp=st.sampled_from(GFPS), cpu=st.integers(0, 1))
    def alloc(self, order, nid, gfp, cpu):
        self._alloc(order, nid, gfp, cpu)

    @rule(order=st.integers(0, 3), n=st.integers(1, 200), nid=st.sampled_from(NIDS),
          gfp=st.sampled_from(GFPS))
    def alloc_many(self, order, n, nid, gfp):
        for _ in range(n):
            if not self._alloc(order, nid, gfp, 0):
                break

    @precondition(lambda self: self.blocks)
    @rule(data=st.data())
    def free(self, data):
        pfn = data.draw(st.sampled_from(sorted(self.blocks)))
        order = self.blocks.pop(pfn)
        if data.draw(st.booleans()) and order == 0:
            self.m.folio_put(pfn)
        else:
            self.m.free_pages(pfn, order)
        self.pages -= set(range(pfn, pfn + (1 << order)))
        self.freed_pages_total += 1 << order

    @precondition(lambda self: len(self.blocks) > 8)
    @rule(data=st.data())
    def free_many(self, data):
        for pfn in data.draw(st.lists(st.sampled_from(sorted(self.blocks)), unique=True, max_size=64)):
            order = self.blocks.pop(pfn)
            self.m.free_pages(pfn, order)
            self.pages -= set(range(pfn, pfn + (1 << order)))
            self.freed_pages_total += 1 << order

    @invariant()
    def counters_match_model(self):
        if not hasattr(self, "m"):
            return
        vm = self.m.vmstat()
        allocated = sum(1 << o for o in self.blocks.values())
        assert allocated == len(self.pages)
        assert vm["nr_free_pages"] == TOTAL - allocated
        assert sum(self.m.node_free_pages(n) for n in range(2)) == TOTAL - allocated
        pgalloc = sum(vm[f"pgalloc_{z}"] for z in ("dma", "dma32", "normal", "movable"))
        assert pgalloc == self.alloc_pages_total
        assert vm["pgfree"] - self.vm0["pgfree"] == self.freed_pages_total
        # zone_statistics(): one hit or miss per allocation, and a foreign
        # for every miss; one local or other per allocation
        assert vm["numa_hit"] + vm["numa_miss"] == self.allocs
        assert vm["numa_foreign"] == vm["numa_miss"]
        assert vm["numa_local"] + vm["numa_other"] == self.allocs
        for z in self.m.zones():
            assert z["free"] == sum(n << o for o, n in enumerate(z["nr_free"]))

    def teardown(self):
        if not hasattr(self, "m"):
            return
        for pfn, order in list(self.blocks.items()):
            self.m.free_pages(pfn, order)
        assert self.m.vmstat()["nr_free_pages"] == TOTAL
        assert {(z["node"], z["zone"]): z["nr_free"] for z in self.m.zones()} == self.boot_lists
        assert self.m.check_invariants() == []


AllocFree.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestAllocFree = AllocFree.TestCase
