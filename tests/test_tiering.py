"""Memory tiering in motion: the NUMA scanner's pacing, the promotion
policy, kswapd waking and demoting, checked against kernel/sched/fair.c and
mm/vmscan.c step by step."""

import pytest

import kmm
from kmm.emu.engine import run
from kmm.workloads.xsbench import XSBench

PAGE = 4096
MB = 1 << 20
INITIAL_JIFFIES = 2**32 - 300_000          # HZ=1000: jiffies == ms since boot + this


def tiering(**kw):
    args = dict(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "64M"}],
                sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
                cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40})
    args.update(kw)
    return kmm.Machine(**args)


def test_scan_windows_advance_as_task_numa_work_paces_them():
    m = kmm.Machine(nodes=[{"cpus": 2, "mem": "128M"}],
                    sysctl={"kernel.numa_balancing": 1, "kernel.numa_balancing_scan_size_mb": 4})
    p = m.spawn(threads=2)
    npages = 16 * MB // PAGE                      # 16 MiB: 4 scan windows of 4 MiB
    a = p.mmap(npages)
    for i in range(npages):
        p.threads[0].store(a + i * PAGE)
    t = p.threads[0]
    # init_numa_balancing(): the first scan waits scan_delay (1000 ms)
    assert p.numa_scan["next_scan"] == INITIAL_JIFFIES + 1000
    assert t.task_numa_work() == 0                # not due yet
    m.advance(1.0)
    # the first tick after scan_delay of run time sets the period and queues the work
    assert t.task_tick_numa(1_100_000_000)
    # one window: scan_size_mb from the VMA start, its end rounded up to 2 MiB
    end = (a + 4 * MB + 2 * MB - 1) & ~(2 * MB - 1)
    assert t.task_numa_work() == (end - a) // PAGE
    # task_scan_start(): max(1000 / (MAX_SCAN_WINDOW 2560 / 4 MB), 1000 / windows(16/4))
    period = max(1000 // (2560 // 4), 1000 // 4)
    assert t.numa_scan_period == period == 250
    assert p.numa_scan["next_scan"] == INITIAL_JIFFIES + 1000 + period
    # the window ends 4 MiB on, rounded up to a 2 MiB boundary
    assert p.numa_scan["offset"] == end
    assert t.task_numa_work() == 0                # the mm's next scan is not due
    scanned = (end - a) // PAGE
    while p.numa_scan["seq"] == 0:
        m.advance(period / 1000)
        scanned += t.task_numa_work()
    # every page of the VMA was made PROT_NONE once before the wrap
    assert scanned >= npages
    assert m.vmstat()["numa_pte_updates"] == npages


def _hash_32(val, bits):
    """include/linux/hash.h: hash_32() with GOLDEN_RATIO_32."""
    return ((val * 0x61C88647) & 0xFFFFFFFF) >> (32 - bits)


def test_vma_scan_gate_of_v6_6_rc5():
    """kernel/sched/fair.c task_numa_work() (v6.6-rc5): a VMA's numab_state
    is set at its first scan (next_scan = now + scan_delay, the PID reset
    4 scan delays later); a hint fault records the faulting task in
    access_pids[1] (bit hash_32(pid, ilog2(BITS_PER_LONG)), mm/memory.c
    numa_migrate_prep); from the mm's third pass on, a task scans only the
    VMAs it faulted in."""
    m = kmm.Machine(nodes=[{"cpus": 2, "mem": "64M"}],
                    sysctl={"kernel.numa_balancing": 1, "kernel.numa_balancing_scan_size_mb": 4})
    p = m.spawn(threads=2)
    t0, t1 = p.threads
    a = p.mmap(256)
    for i in range(256):
        t0.store(a + i * PAGE)
    vma = lambda: next(v for v in p.vmas() if v["start"] <= a < v["end"])
    assert vma()["numab_state"] == {"next_scan": 0, "next_pid_reset": 0, "access_pids": [0, 0]}
    m.advance(1.0)
    assert t0.task_tick_numa(1_100_000_000)
    assert t0.task_numa_work() == 256             # seq 0: every VMA is scanned
    now = INITIAL_JIFFIES + 1000
    assert vma()["numab_state"] == {"next_scan": now + 1000, "next_pid_reset": now + 5000,
                                    "access_pids": [0, 0]}
    t1.load(a)                                    # a hint fault by thread 1
    assert vma()["numab_state"]["access_pids"] == [0, 1 << _hash_32(t1.pid, 6)]
    assert m.vmstat()["numa_hint_faults"] == 1
    # passes 1 and 2 (the VMA's next_scan has passed): seq < 2 scans it regardless
    while p.numa_scan["seq"] < 2:
        m.advance(t0.numa_scan_period / 1000)
        t0.task_numa_work()
    for i in range(256):
        t1.load(a + i * PAGE)                     # thread 1 takes every hint fault
    assert t1.pid != t0.pid and _hash_32(t0.pid, 6) != _hash_32(t1.pid, 6)
    # thread 0 never faulted in the VMA: from the third pass on it skips it
    m.advance(t0.numa_scan_period / 1000)
    assert t0.task_numa_work() == 0
    # thread 1 did: its scan marks the VMA again
    m.advance(max(t0.numa_scan_period, t1.numa_scan_period) / 1000)
    assert t1.task_numa_work() == 256


def test_task_tick_numa_queues_work_after_the_scan_period_of_run_time():
    m = kmm.Machine(nodes=[{"cpus": 2, "mem": "64M"}], sysctl={"kernel.numa_balancing": 1})
    p = m.spawn(threads=1)
    t = p.threads[0]
    assert t.numa_scan_period == 1000             # scan_delay until the first tick
    m.advance(2.0)
    # node_stamp starts 2 ticks (2 ms at HZ=1000) after a staggered delay;
    # the work is queued once run time passes node_stamp + period
    assert not t.task_tick_numa(1_000_000)
    assert t.task_tick_numa(3_000_000_000)


def _slow_tier_page(m):
    p = m.spawn(threads=2)
    a = p.mmap(2)
    for i in range(2):
        p.threads[0].store(a + i * PAGE)
    assert m.migrate(p, a, 2, node=1, reason="demotion") == 2
    return p, a


def test_slow_tier_page_touched_within_the_hot_threshold_is_promoted():
    m = tiering()
    p, a = _slow_tier_page(m)
    m.advance(5.0)
    assert p._change_prot_numa(a, 2) == 2         # both on node 1: stamped with the scan time
    m.advance(0.5)                                # touched 500 ms after the scan
    before = m.vmstat()
    p.threads[0].load(a)
    d = m.vmstat()["numa_pages_migrated"] - before["numa_pages_migrated"]
    assert d == 1 and m.page(p.pfn(a))["node"] == 0
    m.advance(1.5)                                # the other page: 2 s after the scan
    p.threads[0].load(a + PAGE)
    assert m.vmstat()["numa_pages_migrated"] - before["numa_pages_migrated"] == 1
    assert m.page(p.pfn(a + PAGE))["node"] == 1   # too cold: latency > hot threshold
    assert m.vmstat()["pgpromote_candidate"] - before["pgpromote_candidate"] == 1


def test_kswapd_is_woken_by_promotion_and_stops_at_promo_demoting_the_oldest():
    """Allocations fall back to node 1 when node 0 is at its low watermark
    (the fast path tries the whole zonelist first), so in tiering mode it is
    promotion that wakes kswapd0: migrate_balanced_pgdat() finds node 0
    below high and wakes it.  kswapd ages the inactive list from its tail:
    the first pass only finds young PTEs (KEEP, PG_referenced set), the next
    demotes the oldest pages until some zone is above WMARK_PROMO."""
    m = tiering(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "256M"}])
    p = m.spawn(threads=2)
    addrs = []
    while True:                                   # fill node 0 until a page lands on node 1
        a = p.mmap(1)
        p.threads[0].store(a)
        if m.page(p.pfn(a))["node"] == 1:
            break
        addrs.append(a)
    assert not m.kswapd_woken(0)
    for z in (m.zone(0, "DMA"), m.zone(0, "DMA32")):
        assert z["free"] <= z["low"] + z["lowmem_reserve"][2]

    def promote_attempt():
        m.advance(1.0)
        assert p._change_prot_numa(a, 1) == 1     # the node-1 page, stamped now
        m.advance(0.01)
        p.threads[0].load(a)                      # hot: should_numa_migrate_memory says yes
        assert m.page(p.pfn(a))["node"] == 1      # ...but node 0 is not balanced
        assert m.kswapd_woken(0)

    promote_attempt()
    before = m.vmstat()
    assert m.run_kswapd(0) == 0                   # every PTE young: all kept, referenced
    assert m.vmstat()["pgscan_kswapd"] > before["pgscan_kswapd"]
    # kswapd_try_to_sleep(): the node is still unbalanced, so no nap: it
    # stays awake to balance again at once (KSWAPD_HIGH_WMARK_HIT_QUICKLY)
    assert m.vmstat()["kswapd_high_wmark_hit_quickly"] - before["kswapd_high_wmark_hit_quickly"] == 1
    assert m.kswapd_woken(0)
    promote_attempt()
    before = m.vmstat()
    reclaimed = m.run_kswapd(0)
    after = m.vmstat()
    assert reclaimed == after["pgdemote_kswapd"] - before["pgdemote_kswapd"] > 0
    assert after["pgsteal_kswapd"] - before["pgsteal_kswapd"] == reclaimed
    # pgdat_balanced() in tiering mode: a zone above WMARK_PROMO
    assert any(z["free"] > z["promo"] for z in (m.zone(0, "DMA"), m.zone(0, "DMA32")))
    assert not m.kswapd_woken(0)
    nodes = [m.page(p.pfn(x))["node"] for x in addrs]
    demoted = nodes.count(1)
    assert demoted == reclaimed
    assert nodes == [1] * demoted + [0] * (len(addrs) - demoted)   # the oldest went first
    # balanced: kswapd naps HZ/10; woken within the nap it counts a
    # KSWAPD_LOW_WMARK_HIT_QUICKLY (and, balanced, reclaims nothing)
    before = m.vmstat()
    assert m.run_kswapd(0) == 0
    assert m.vmstat()["kswapd_low_wmark_hit_quickly"] - before["kswapd_low_wmark_hit_quickly"] == 1
    assert m.oracle.violations == []


def test_promotions_slow_the_scan_down_to_task_scan_max():
    """kernel/sched/fair.c in tiering mode: a fault on the slow node returns
    early from task_numa_fault, but a promotion is reported on node 0 (the
    node it reached), as private (last_cpupid reset for slow pages) and
    remote (the page was not on this CPU's node).  The first such fault of a
    new scan pass (mm numa_scan_seq moved) runs task_numa_placement ->
    update_task_scan_period with no local and no shared faults: the period
    doubles (capped at task_scan_max) and the mm's next scan moves to now +
    the new period.  Later faults of the same pass change nothing; the next
    pass doubles again."""
    m = tiering(sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1,
                        "kernel.numa_balancing_scan_size_mb": 1})
    p = m.spawn(threads=1)
    t = p.threads[0]
    n = 8
    a = p.mmap(n)
    for i in range(n):
        t.store(a + i * PAGE)
    assert m.migrate(p, a, n, node=1, reason="demotion") == n
    m.advance(1.0)
    assert t.task_tick_numa(1_100_000_000)          # first tick past scan_delay
    # one 1 MB window covers the 8 pages and wraps the scan: seq 0 -> 1
    assert t.task_numa_work() == n and p.numa_scan["seq"] == 1
    # task_scan_start = task_scan_min: max(1000 / (2560 / 1), 1000 / 1 window) = 1000
    assert t.numa_scan_period == 1000
    # task_scan_max: max(task_scan_min, 60000 / 1 window) = 60000
    m.advance(0.1)
    t.load(a)                                       # promoted: the pass's first report
    assert m.page(p.pfn(a))["node"] == 0
    assert t.numa_scan_period == 2000
    now = p.numa_scan["next_scan"] - 2000
    assert now == INITIAL_JIFFIES + 1100            # pushed to now + the new period
    t.load(a + PAGE)                                # same pass: no change
    assert t.numa_scan_period == 2000
    m.advance(2.0)
    t.load(a + 2 * PAGE)                            # 2.1 s after its stamp: too cold, stays
    assert m.page(p.pfn(a + 2 * PAGE))["node"] == 1 and t.numa_scan_period == 2000
    # the next pass marks that page again (the five others are still PROT_NONE,
    # the two promoted ones are on the top tier: both skipped) and wraps
    assert t.task_numa_work() == 1 and p.numa_scan["seq"] == 2
    m.advance(0.1)
    t.load(a + 2 * PAGE)
    assert m.page(p.pfn(a + 2 * PAGE))["node"] == 0
    assert t.numa_scan_period == 4000


def test_xsbench_run_promotes_and_demotes():
    """A scaled seed-like run: after initialisation, both directions run;
    promotions come in bursts, one per scan pass, as the scan period
    grows (test_promotions_slow_the_scan_down_to_task_scan_max)."""
    m = kmm.Machine(nodes=[{"cpus": 16, "mem": "40M"}, {"cpus": 0, "mem": "320M"}],
                    sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1,
                            "kernel.numa_balancing_scan_size_mb": 10},
                    cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40})
    w = XSBench(size="large", scale=0.04, particles=300_000, threads=16)
    r = run(m, w, snapshot_every=0.5)
    v = r["vmstat"]
    assert r["finished"] and r["oracle_violations"] == 0
    assert v["numa_pages_migrated"] > 0 and v["pgdemote_kswapd"] > 0
    assert v["pgmigrate_success"] == v["numa_pages_migrated"] + v["pgdemote_kswapd"]
    snaps = r["snapshots"]
    late = [(b["numa_pages_migrated"] - a["numa_pages_migrated"],
             b["pgdemote_kswapd"] - a["pgdemote_kswapd"])
            for a, b in zip(snaps, snaps[1:]) if a["t"] >= 1.5]
    assert late and any(pr > 0 and de > 0 for pr, de in late)
    # each batched flush reaches the other 15 CPUs at most
    assert v["nr_tlb_remote_flush_received"] <= 15 * v["nr_tlb_remote_flush"]


def test_direct_reclaim_demotes_when_a_thisnode_allocation_stalls():
    """An allocation that may not fall back (__GFP_THISNODE) and finds node 0
    at WMARK_MIN stalls in direct reclaim (try_to_free_pages): the
    allocating task scans node 0's LRU itself, demotes unreferenced pages
    to node 1 and then gets its page.  Counted as allocstall_<zone>,
    pgscan_direct, pgsteal_direct, pgdemote_direct."""
    m = tiering(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "256M"}])
    p = m.spawn(threads=2)
    while True:                                   # node 0 down to its low watermark
        a = p.mmap(1)
        p.threads[0].store(a)
        if m.page(p.pfn(a))["node"] == 1:
            break
    before = m.vmstat()
    got = []
    for _ in range(400):                          # through MIN into direct reclaim
        pfn = m.alloc_pages(nid=0, gfp="GFP_HIGHUSER_MOVABLE|__GFP_THISNODE")
        assert pfn is not None and m.page(pfn)["node"] == 0
        got.append(pfn)
    after = m.vmstat()
    d = {k: after[k] - before[k] for k in before if isinstance(before[k], int)}
    assert d["allocstall_dma32"] + d["allocstall_normal"] + d["allocstall_movable"] >= 1
    assert d["pgscan_direct"] > 0 and d["pgdemote_direct"] > 0
    assert d["pgsteal_direct"] == d["pgdemote_direct"]
    assert d["pgdemote_kswapd"] == 0              # kswapd was woken but never ran here
    assert m.oracle.violations == []
