"""Fault injection for the page allocator (lib/fault-inject.c should_fail_ex,
mm/fail_page_alloc.c __should_fail_alloc_page, called from mm/page_alloc.c
prepare_alloc_pages), and what each allocating path does when its
allocation fails.  Every expected number is derived in the test's docstring
from the v6.6 code; the call counts come from the emulator's page-table
layout (pgd, pud, pmd, pte: one page each, GFP_KERNEL)."""

import random

import pytest

import kmm
from kmm import KmmConfigError, KmmStateError
from kmm.workloads.xsbench import XSBench

PAGE = 4096
MS = 1_000_000
GFP_KERNEL = 0x400 | 0x800 | 0x40 | 0x80              # __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_NOWAIT = 0x800                                     # __GFP_KSWAPD_RECLAIM
__GFP_HIGHMEM, __GFP_NOFAIL = 0x02, 0x8000
# every filter off: any allocation of any order may fail
ALL = dict(min_order=0, ignore_gfp_wait=False, ignore_gfp_highmem=False)
# the kernel's ignore-gfp-wait on, ignore-gfp-highmem off: only user-page
# allocations that may not reclaim fail -- migration targets of demotion
# and NUMA balancing -- while faults and page tables (which may) do not
NO_RECLAIM_USER = dict(min_order=0, ignore_gfp_highmem=False)


def one_node(fi, **kw):
    return kmm.Machine([{"cpus": 1, "mem": "16M"}], kconfig={"CONFIG_DEBUG_VM": True},
                       fault_inject={"fail_page_alloc": fi}, **kw)


def tiering(fi, nodes=None, debug_vm=True):
    return kmm.Machine(nodes or [{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "128M"}],
                       sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
                       cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40},
                       kconfig={"CONFIG_DEBUG_VM": debug_vm},
                       fault_inject={"fail_page_alloc": fi} if fi is not None else None)


def delta(before, after):
    return {k: after[k] - before[k] for k in before if isinstance(after[k], int)}


def failures(m):
    return m.fault_inject_stats()["fail_page_alloc"]["failures"]


def sites(m):
    return m.fault_inject_stats()["fail_page_alloc"]["sites"]


def allocs(m, n, order=0, gfp=GFP_KERNEL):
    """n allocations; True where the allocation failed.  Each succeeded
    block is freed again."""
    out = []
    for _ in range(n):
        pfn = m.alloc_pages(order, gfp=gfp)
        out.append(pfn is None)
        if pfn is not None:
            m.free_pages(pfn, order)
    return out


# -- the configuration -----------------------------------------------------------

def test_defaults_are_the_kernels_and_inject_nothing():
    """FAULT_ATTR_INITIALIZER: probability 0, interval 1, times 1, space 0;
    fail_page_alloc: min-order 1, ignore-gfp-wait and ignore-gfp-highmem on."""
    m = kmm.Machine([{"cpus": 1, "mem": "16M"}])
    assert m.fault_inject == {"fail_page_alloc": {
        "probability": 0, "interval": 1, "times": 1, "space": 0, "min_order": 1,
        "ignore_gfp_wait": True, "ignore_gfp_highmem": True}}
    assert not any(allocs(m, 20, order=1, gfp=GFP_NOWAIT))
    assert m.fault_inject_stats() == {"fail_page_alloc": {
        "failures": 0, "times": 1, "space": 0, "count": 0, "sites": {}}}


def test_debugfs_spellings_and_string_values_are_accepted():
    m = kmm.Machine.preset("seed", nodes=[{"cpus": 1, "mem": "16M"}], fault_inject={
        "fail_page_alloc": {"min-order": "0", "ignore-gfp-wait": "N", "times": "-1",
                            "probability": "100"}})
    fpa = m.fault_inject["fail_page_alloc"]
    assert (fpa["min_order"], fpa["ignore_gfp_wait"], fpa["times"], fpa["probability"]) == (0, False, -1, 100)


@pytest.mark.parametrize("fi,words", [
    ("yes", ["fault_inject", "expected a dict"]),
    ({"failslab": {}}, ["'failslab'", "accepted: fail_page_alloc"]),
    ({"fail_page_alloc": 5}, ["fault_inject.fail_page_alloc", "expected a dict"]),
    ({"fail_page_alloc": {"verbose": 1}}, ["'verbose'", "accepted: probability, interval"]),
    ({"fail_page_alloc": {"probability": 101}}, ["probability", "101", "0..100"]),
    ({"fail_page_alloc": {"probability": 0.5}}, ["probability", "0.5", "0..100"]),
    ({"fail_page_alloc": {"times": -2}}, ["times", "-2", "-1..2147483647"]),
    ({"fail_page_alloc": {"interval": 0}}, ["interval", "1.."]),
    ({"fail_page_alloc": {"space": "lots"}}, ["space", "'lots'", "whole number"]),
    ({"fail_page_alloc": {"ignore_gfp_wait": 2}}, ["ignore_gfp_wait", "boolean"]),
])
def test_bad_configuration_is_refused_naming_key_and_accepted_values(fi, words):
    with pytest.raises(KmmConfigError) as e:
        kmm.Machine([{"cpus": 1, "mem": "16M"}], fault_inject=fi)
    for w in words:
        assert w in str(e.value)


# -- should_fail_ex's decision order ---------------------------------------------

def test_probability_zero_answers_before_interval_and_draw():
    """should_fail_ex returns at once when probability is 0: the interval
    check never counts (count stays 0) and nothing fails, whatever the
    other attributes say."""
    m = one_node(dict(ALL, probability=0, interval=2, times=-1))
    assert not any(allocs(m, 10))
    assert m.fault_inject_stats()["fail_page_alloc"]["count"] == 0


def test_times_limits_the_failures():
    """times 2: two failures (each atomic_dec_not_zero), then times is 0
    and should_fail_ex answers no before anything else."""
    m = one_node(dict(ALL, probability=100, times=2))
    assert allocs(m, 5) == [True, True, False, False, False]
    s = m.fault_inject_stats()["fail_page_alloc"]
    assert s["failures"] == 2 and s["times"] == 0


def test_space_lets_the_first_pages_through():
    """space 5, order-1 allocations (size 2): 5 > 2 -> 3, 3 > 2 -> 1, then
    1 > 2 is false: the third call goes on and fails; space stays 1, so
    every later call is a candidate again (times -1)."""
    m = one_node(dict(ALL, probability=100, times=-1, space=5))
    assert allocs(m, 5, order=1) == [False, False, True, True, True]
    assert m.fault_inject_stats()["fail_page_alloc"]["space"] == 1


def test_interval_fails_every_nth_candidate():
    """interval 3 (> 1): count goes up on every call that passed times and
    space; only when count % 3 == 0 does the call reach the draw."""
    m = one_node(dict(ALL, probability=100, times=-1, interval=3))
    assert allocs(m, 9) == [False, False, True] * 3
    s = m.fault_inject_stats()["fail_page_alloc"]
    assert s["count"] == 9 and s["failures"] == 3


def _draws_below_100(seed):
    """The machine's generator (splitmix64 from `seed`) and
    get_random_u32_below(100) on its high 32 bits, written out here."""
    mask = 2**64 - 1
    state = seed

    def u32():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return (z ^ (z >> 31)) >> 32

    while True:
        mult = 100 * u32()
        while (mult & 0xFFFFFFFF) < (2**32 - 100) % 100:
            mult = 100 * u32()
        yield mult >> 32


@pytest.mark.parametrize("seed", [0, 12345])
def test_probability_draws_from_the_machines_seeded_generator(seed):
    """probability 30: call i fails iff its draw in [0, 100) is below 30
    (should_fail_ex: `probability <= draw` means no).  A one-node machine
    draws nothing else, so the draws are the seed's splitmix64 stream."""
    m = one_node(dict(ALL, probability=30, times=-1), seed=seed)
    draws = _draws_below_100(seed)
    want = [next(draws) < 30 for _ in range(300)]
    assert allocs(m, 300) == want
    assert 60 < sum(want) < 120


def test_filters_order_and_nofail():
    """__should_fail_alloc_page with probability 100: below min-order (1)
    never; __GFP_NOFAIL never; __GFP_HIGHMEM never with ignore-gfp-highmem;
    __GFP_DIRECT_RECLAIM never with ignore-gfp-wait; anything else fails."""
    m = one_node(dict(probability=100, times=-1))
    assert allocs(m, 1, order=0, gfp=GFP_NOWAIT) == [False]              # min-order 1
    assert allocs(m, 1, order=1, gfp=GFP_NOWAIT) == [True]
    assert allocs(m, 1, order=1, gfp=GFP_NOWAIT | __GFP_NOFAIL) == [False]
    assert allocs(m, 1, order=1, gfp=GFP_NOWAIT | __GFP_HIGHMEM) == [False]
    assert allocs(m, 1, order=1, gfp=GFP_KERNEL) == [False]
    assert allocs(m, 1, order=1, gfp="GFP_HIGHUSER_MOVABLE") == [False]
    m = one_node(dict(ALL, probability=100, times=-1))
    assert allocs(m, 1, order=0, gfp=GFP_KERNEL) == [True]
    assert allocs(m, 1, order=0, gfp="GFP_HIGHUSER_MOVABLE") == [True]
    assert allocs(m, 1, order=0, gfp=GFP_KERNEL | __GFP_NOFAIL) == [False]
    assert sites(m) == {"GFP_KERNEL order 0": 1, "GFP_HIGHUSER_MOVABLE order 0": 1}
    assert m.check_invariants() == []


# -- the paths ------------------------------------------------------------------

def test_anonymous_fault_fails_with_out_of_memory_and_is_retried():
    """Every filter off, probability 100, times 1, space 7.  Calls: spawn's
    pgd_alloc (1: an order-1 block, 2 pages, with CONFIG_PAGE_TABLE_ISOLATION);
    the first store builds pud, pmd, pte tables (2-4) and takes a zeroed
    folio (5); space went 7 -> 1.  The second store's folio
    (call 6): 1 > 1 is false -> fails.  do_anonymous_page returns
    VM_FAULT_OOM: the store fails with "out of memory" (the kernel's #PF
    handler would retry), one PGFAULT counted, no page, no PTE.  times is 0
    now, so the retry succeeds."""
    m = one_node(dict(ALL, probability=100, times=1, space=7))
    p = m.spawn()
    a = p.mmap(4)
    p.threads[0].store(a)
    assert failures(m) == 0
    before = m.vmstat()
    with pytest.raises(KmmStateError, match="out of memory"):
        p.threads[0].store(a + PAGE)
    d = delta(before, m.vmstat())
    assert d["pgfault"] == 1 and d["nr_free_pages"] == 0 and d["nr_anon_pages"] == 0
    assert p.pte(a + PAGE) is None
    assert sites(m) == {"GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP order 0": 1}
    assert m.check_invariants() == [] and m.oracle.violations == []
    p.threads[0].store(a + PAGE)
    assert p.pte(a + PAGE)["present"] and m.vmstat()["nr_anon_pages"] == 2
    p.threads[0].load(a)
    assert m.oracle.violations == []


def test_pte_table_allocation_fails_the_fault():
    """ignore-gfp-wait off, ignore-gfp-highmem on: page tables (GFP_KERNEL)
    may fail, user pages (__GFP_HIGHMEM) may not.  space 5: pgd (spawn,
    2 pages: order 1 with CONFIG_PAGE_TABLE_ISOLATION), pud, pmd pass; __pte_alloc's table (call 4) fails: do_anonymous_page
    returns VM_FAULT_OOM before it allocates the folio.  NR_PAGETABLE
    counts only the tables with a constructor (v6.6: PTE and PMD, not the
    PGD or a PUD): 0 after spawn, 1 (the PMD) after the failure; the retry
    adds the PTE table."""
    m = one_node(dict(probability=100, times=1, space=5, min_order=0, ignore_gfp_wait=False))
    p = m.spawn()
    a = p.mmap(4)
    assert m.node_vmstat(0)["nr_page_table_pages"] == 0
    with pytest.raises(KmmStateError, match="out of memory"):
        p.threads[0].store(a)
    assert m.node_vmstat(0)["nr_page_table_pages"] == 1
    assert m.vmstat()["nr_anon_pages"] == 0 and p.pte(a) is None
    assert sites(m) == {"GFP_KERNEL|__GFP_ZERO|__GFP_ACCOUNT order 0": 1}
    assert m.check_invariants() == []
    p.threads[0].store(a)
    assert m.node_vmstat(0)["nr_page_table_pages"] == 2 and p.pte(a)["present"]
    p.exit()
    assert m.node_vmstat(0)["nr_page_table_pages"] == 0 and m.check_invariants() == []


def written(m, npages=4):
    p = m.spawn(threads=2)
    a = p.mmap(npages)
    for i in range(npages):
        p.threads[0].store(a + i * PAGE)
    return p, a


@pytest.mark.parametrize("reason,nr_fail,nr_injected", [("demotion", 1, 2), ("numa_misplaced", 4, 4)])
def test_migration_target_failure_stops_the_batch_and_puts_folios_back(reason, nr_fail, nr_injected):
    """Faults may reclaim (ignored); the no-reclaim migration targets fail.
    Demotion (demote_folio_list's migrate_pages on the 4 folios): the first
    folio's migrate_folio_unmap gets no destination -- alloc_demote_folio
    tried twice, __GFP_THISNODE then the allowed lower tiers -- so -ENOMEM;
    migrate_pages_batch has nothing unmapped yet and stops: nr_failed_pages
    += 1 + nr_retry_pages (0), PGMIGRATE_FAIL 1, not 4 -- the other folios
    are never tried.  NUMA misplaced (migrate_misplaced_page, one page at a
    time as hint faults hand them over): each is its own migrate_pages with
    one alloc_misplaced_dst_folio try -> 4 failures, PGMIGRATE_FAIL 4.
    Every folio is put back: same node, writable PTE, nothing isolated."""
    m = tiering(dict(NO_RECLAIM_USER, probability=100, times=-1))
    p, a = written(m)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1, reason=reason) == 0
    d = delta(before, m.vmstat())
    assert d["pgmigrate_fail"] == nr_fail and d["pgmigrate_success"] == 0
    assert d["pgdemote_direct"] == 0 and failures(m) == nr_injected
    assert all("__GFP_HIGHMEM" in s and "__GFP_DIRECT_RECLAIM" not in s for s in sites(m))
    for i in range(4):
        pte = p.pte(a + i * PAGE)
        assert pte["write"] and m.page(pte["pfn"])["node"] == 0
    for nid in (0, 1):
        assert m.node_vmstat(nid)["nr_isolated_anon"] == 0
    p.threads[1].load(a)
    assert m.check_invariants() == [] and m.oracle.violations == []


@pytest.mark.parametrize("mode", ["async", "sync"])
def test_alloc_migration_target_failure(mode):
    """move_pages(2)'s target (alloc_migration_target, GFP_HIGHUSER_MOVABLE
    | __GFP_THISNODE) may reclaim, so only with ignore-gfp-wait off; space
    10 lets spawn (its order-1 pgd: 2), the first store (3 tables + 1 page) and three more
    pages (3) through: the 9th call, the first target, fails.
    do_move_pages_to_node hands the 4 folios to one migrate_pages.  async:
    one batch, -ENOMEM.  sync (the kernel's mode for move_pages):
    migrate_pages_sync's first (async) batch gets
    -ENOMEM, adds its nr_failed_pages and returns at once -- no per-folio
    retry.  Both: PGMIGRATE_FAIL 1, one failure injected."""
    m = tiering(dict(ALL, probability=100, times=-1, space=10))
    p, a = written(m)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1, reason="syscall", mode=mode) == 0
    d = delta(before, m.vmstat())
    assert d["pgmigrate_fail"] == 1 and d["pgmigrate_success"] == 0
    assert sites(m) == {"GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_THISNODE order 0": 1}
    assert all(m.page(p.pfn(a + i * PAGE))["node"] == 0 for i in range(4))
    assert m.check_invariants() == [] and m.oracle.violations == []


def test_promotion_failure_keeps_the_page_on_the_slow_tier():
    """A node-1 page (moved there by move_pages, which may reclaim, so not
    failed) made PROT_NONE and touched 10 ms later: do_numa_page counts
    NUMA_HINT_FAULTS; should_numa_migrate_memory says hot
    (PGPROMOTE_CANDIDATE); migrate_misplaced_page isolates it and
    migrate_pages gets -ENOMEM from alloc_misplaced_dst_folio: the page is
    put back (NR_ISOLATED back to 0), PGMIGRATE_FAIL 1, no
    NUMA_PAGE_MIGRATE, no PGPROMOTE_SUCCESS.  do_numa_page maps the same
    page again, read-only (writable was dropped before the attempt); a
    store then reuses it."""
    m = tiering(dict(NO_RECLAIM_USER, probability=100, times=-1))
    p, a = written(m, npages=1)
    assert m.migrate(p, a, 1, node=1, reason="syscall") == 1
    assert m._prot_numa(p, a, 1) == 1
    m._clock_advance_ns(10 * MS)
    old = p.pte(a)["pfn"]
    before, n0 = m.vmstat(), m.node_vmstat(0)
    p.threads[0].load(a)
    d, n = delta(before, m.vmstat()), delta(n0, m.node_vmstat(0))
    assert d["numa_hint_faults"] == 1 and n["pgpromote_candidate"] == 1
    assert d["pgmigrate_fail"] == 1 and d["pgmigrate_success"] == 0
    assert d["numa_pages_migrated"] == 0 and n["pgpromote_success"] == 0
    assert failures(m) == 1
    pte = p.pte(a)
    assert pte["present"] and not pte["protnone"] and not pte["write"] and pte["pfn"] == old
    assert m.page(old)["node"] == 1 and m.node_vmstat(1)["nr_isolated_anon"] == 0
    before = m.vmstat()
    p.threads[1].store(a)
    assert delta(before, m.vmstat())["pgreuse"] == 1 and p.pfn(a) == old
    assert m.check_invariants() == [] and m.oracle.violations == []


def kswapd_scene(fi):
    """Node 0 filled until a page lands on node 1, and kswapd0 run once:
    every PTE was young, so all were kept (PG_referenced set, young bits
    cleared).  The next run finds them unreferenced: demotion candidates."""
    m = tiering(fi, nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "256M"}], debug_vm=False)
    p = m.spawn(threads=2)
    addrs = []
    while True:
        a = p.mmap(1)
        p.threads[0].store(a)
        if m.page(p.pfn(a))["node"] == 1:
            break
        addrs.append(a)
    assert m.run_kswapd(0) == 0
    return m, p, addrs


def test_kswapd_demotion_failure_keeps_the_pages_and_reclaim_goes_on():
    """kswapd0's shrink_folio_list puts the unreferenced folios on
    demote_folios; demote_folio_list's migrate_pages stops at the first
    folio: alloc_demote_folio's two tries both fail (2 injected),
    -ENOMEM, PGMIGRATE_FAIL 1, PGDEMOTE_KSWAPD 0.  The folios return to
    folio_list and are retried without demotion: anonymous, no swap ->
    activated (PGACTIVATE), none reclaimed.  So over the whole run:
    injected == 2 * PGMIGRATE_FAIL, no PGSTEAL, no page leaves node 0,
    nothing stays isolated.  (Without injection the same run demotes.)"""
    m, p, addrs = kswapd_scene(dict(NO_RECLAIM_USER, probability=100, times=-1))
    before, f0 = m.vmstat(), failures(m)
    assert m.run_kswapd(0) == 0
    d = delta(before, m.vmstat())
    assert d["pgmigrate_fail"] > 0 and failures(m) - f0 == 2 * d["pgmigrate_fail"]
    assert d["pgdemote_kswapd"] == d["pgsteal_kswapd"] == d["pgmigrate_success"] == 0
    assert d["pgactivate"] > 0
    assert {m.page(p.pfn(a))["node"] for a in addrs} == {0}
    for nid in (0, 1):
        assert m.node_vmstat(nid)["nr_isolated_anon"] == 0
    for a in addrs[::97]:
        p.threads[1].load(a)
    assert m.check_invariants() == [] and m.oracle.violations == []

    m, p, addrs = kswapd_scene(None)
    before = m.vmstat()
    assert m.run_kswapd(0) > 0
    assert delta(before, m.vmstat())["pgdemote_kswapd"] > 0


# -- randomized runs ------------------------------------------------------------------

def _retry(op, tries=100):
    """Run op until it does not fail with out of memory (as the kernel's #PF
    handler retries a fault that returned VM_FAULT_OOM); returns how many
    attempts failed."""
    for n in range(tries):
        try:
            op()
            return n
        except KmmStateError as e:
            if "out of memory" not in str(e):
                raise
    raise AssertionError(f"{op} failed {tries} times")


@pytest.mark.parametrize("seed,probability", [(1, 5), (2, 5), (3, 30)])
def test_random_operations_with_every_path_failing_now_and_then(seed, probability):
    """Baseline kernel, CONFIG_DEBUG_VM (the invariants are checked after
    every operation), 5% or 30% of every allocation failing (all filters off):
    random spawns, forks, exits, stores and loads, munmaps, migrations for
    each reason, NUMA hint faults and kswapd runs.  Operations that run out
    of memory say so (KmmStateError "out of memory"); an access is retried.
    Each path had failures injected, the invariants and the oracle held,
    and nothing stays isolated."""
    rng = random.Random(seed)
    m = tiering(dict(ALL, probability=probability, times=-1),
                nodes=[{"cpus": 4, "mem": "16M"}, {"cpus": 0, "mem": "32M"}])
    procs, regions = [], []           # regions: (proc, addr, npages)
    refused = 0

    def free_cpu():
        busy = {t.cpu for q in procs for t in q.threads}
        return next((c for c in range(4) if c not in busy), None)

    for step in range(600):
        op = rng.choice(["spawn", "fork", "exit", "mmap", "touch", "touch", "touch", "munmap",
                         "migrate", "migrate", "hint", "hint", "kswapd"])
        try:
            if op in ("spawn", "fork") and free_cpu() is not None:
                if op == "spawn" or not procs:
                    procs.append(m.spawn(cpus=[free_cpu()]))
                else:
                    procs.append(rng.choice(procs).fork(cpus=[free_cpu()]))
            elif op == "exit" and len(procs) > 1:
                q = procs.pop(rng.randrange(len(procs)))
                regions = [r for r in regions if r[0] is not q]
                q.exit()
            elif op == "mmap" and procs:
                q = rng.choice(procs)
                n = rng.randint(1, 256)
                regions.append((q, q.mmap(n), n))
            elif op == "touch" and regions:
                q, a, n = rng.choice(regions)
                for _ in range(rng.randint(1, 64)):
                    addr, write = a + rng.randrange(n) * PAGE, rng.random() < 0.7
                    t = q.threads[0]
                    _retry(lambda: t.store(addr) if write else t.load(addr))
            elif op == "munmap" and regions:
                q, a, n = regions.pop(rng.randrange(len(regions)))
                q.munmap(a, n)
            elif op == "migrate" and regions:
                q, a, n = rng.choice(regions)
                m.migrate(q, a, n, node=rng.choice([0, 1]),
                          reason=rng.choice(["demotion", "numa_misplaced", "syscall"]))
            elif op == "hint" and regions:
                q, a, n = rng.choice(regions)
                q._change_prot_numa(a, n)
                m.advance(0.01)
                for i in range(0, n, 3):
                    _retry(lambda: q.threads[0].load(a + i * PAGE))
            elif op == "kswapd":
                m.run_kswapd(0)
        except KmmStateError as e:
            if "out of memory" not in str(e):
                raise
            refused += 1
        assert m.oracle.violations == [], (step, op)
    assert m.check_invariants() == []
    for nid in (0, 1):
        assert m.node_vmstat(nid)["nr_isolated_anon"] == 0
    by = sites(m)
    paths = {
        "fault": [s for s in by if s.startswith("GFP_HIGHUSER_MOVABLE|__GFP_ZERO")],
        "page table": [s for s in by if s.startswith("GFP_KERNEL|__GFP_ZERO|__GFP_ACCOUNT")],
        "demotion": [s for s in by if s.startswith("GFP_NOWAIT|__GFP_HIGHMEM")],
        "misplaced": [s for s in by if "__GFP_NORETRY" in s],
        "move_pages": [s for s in by if s.startswith("GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_THISNODE")],
    }
    assert all(paths.values()), by
    assert sum(by.values()) == failures(m) > 0 and refused > 0
    # each failed target ends its batch with -ENOMEM, which counts the
    # folio (and any waiting for a retry) in PGMIGRATE_FAIL; a demotion
    # fails only when its fallback try fails too
    n = {k: sum(by[s] for s in v) for k, v in paths.items()}
    fallback = sum(by[s] for s in paths["demotion"] if "__GFP_THISNODE" not in s)
    assert m.vmstat()["pgmigrate_fail"] >= n["misplaced"] + n["move_pages"] + fallback


def test_xsbench_run_with_migration_targets_failing():
    """A scaled seed-like XSBench run with 10% of the allocations that may
    not reclaim failing (ignore-gfp-highmem off, ignore-gfp-wait at its
    default): demotion and promotion targets fail, faults and page tables
    do not.  The run finishes; the oracle sees nothing on the baseline;
    the invariants hold.  Counted as the kernel counts: every promotion
    failure is one single-folio migrate_pages with -ENOMEM (PGMIGRATE_FAIL
    1 each), every demotion -ENOMEM (both of alloc_demote_folio's tries
    failed) at least 1, so PGMIGRATE_FAIL >= their sum; successes stay
    split between promotion and demotion.  The NUMA scan starts at once and
    repeats every 100 ms: with the default 1 s delay the 1.09 s run has one
    pass, and it goes to the 15 OpenMP worker stacks, which glibc maps last
    and so below the data (each stack with a written page costs the pass
    its whole 8 MiB of scan budget)."""
    m = kmm.Machine(nodes=[{"cpus": 16, "mem": "40M"}, {"cpus": 0, "mem": "320M"}],
                    sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1,
                            "kernel.numa_balancing_scan_size_mb": 10,
                            "kernel.numa_balancing_scan_delay_ms": 0,
                            "kernel.numa_balancing_scan_period_min_ms": 100},
                    cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40},
                    fault_inject={"fail_page_alloc": dict(NO_RECLAIM_USER, probability=10, times=-1)})
    r = m.run(XSBench(size="large", scale=0.04, particles=80_000, threads=16))
    v = r["vmstat"]
    assert r["finished"] and r["oracle_violations"] == 0 and m.check_invariants() == []
    by = sites(m)
    misplaced = sum(n for s, n in by.items() if "__GFP_NORETRY" in s)
    demote_thisnode = sum(n for s, n in by.items() if s.startswith("GFP_NOWAIT") and "THISNODE" in s)
    demote_any = sum(n for s, n in by.items() if s.startswith("GFP_NOWAIT") and "THISNODE" not in s)
    assert misplaced > 0 and demote_thisnode > 0
    assert misplaced + demote_thisnode + demote_any == failures(m)
    assert v["pgmigrate_fail"] >= misplaced + demote_any
    assert v["pgmigrate_success"] == v["numa_pages_migrated"] + v["pgdemote_kswapd"] > 0


def test_xsbench_run_ends_at_a_failed_fault_with_the_state_intact():
    """Every filter off: the first allocations are the workload's page
    tables and pages, and a failed fault ends Machine.run with "out of
    memory" (the engine does not retry the access as the kernel's #PF
    handler would) -- with the invariants intact."""
    m = kmm.Machine(nodes=[{"cpus": 4, "mem": "40M"}, {"cpus": 0, "mem": "80M"}],
                    sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
                    fault_inject={"fail_page_alloc": dict(ALL, probability=10, times=-1)})
    with pytest.raises(KmmStateError, match="out of memory"):
        m.run(XSBench(size="small", scale=0.04, particles=10_000, threads=4))
    assert failures(m) >= 1 and m.check_invariants() == [] and m.oracle.violations == []
