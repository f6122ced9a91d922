"""The scaling rule (docs/run.md, "Scaling"): memory and the NUMA-balancing
times scale together, so each dimensionless rate is the full size's."""
import math

import pytest

from kmm.experiments import seed
from kmm.emu.sysctl import numa_scan_floor_ms, swap_cluster_max
from kmm.experiments.similarity import construction


def test_seed_min_free_kbytes_is_what_the_full_size_machine_boots_with():
    """mm/page_alloc.c calculate_min_free_kbytes(): int_sqrt(lowmem_kbytes *
    16) over the full-size machine's memory; the scaling rule scales it."""
    m = seed.make_machine("baseline", 1.0)
    assert m.sysctl["vm.min_free_kbytes"] == seed.SEED_MIN_FREE_KBYTES
    lowmem_kbytes = sum(z["managed"] - z["high"] for z in m.zones()) * 4
    assert math.isqrt(lowmem_kbytes * 16) == pytest.approx(seed.SEED_MIN_FREE_KBYTES, rel=0.01)


def test_full_size_sets_no_sysctl_and_a_scaled_one_scales_the_times():
    assert seed.scaled_sysctls(1.0) == {}
    sc = seed.scaled_sysctls(0.1)
    assert sc == {"kernel.numa_balancing_scan_size_mb": 26,
                  "kernel.numa_balancing_scan_delay_ms": 100,
                  "kernel.numa_balancing_scan_period_min_ms": 100,
                  "kernel.numa_balancing_scan_period_max_ms": 6000,
                  "kernel.numa_balancing_hot_threshold_ms": 100,
                  "vm.min_free_kbytes": 1229}
    # a sysctl the user gives wins over the rule
    args = seed.machine_args(0.1, sysctl={"kernel.numa_balancing_hot_threshold_ms": 1000})
    assert args["sysctl"]["kernel.numa_balancing_hot_threshold_ms"] == 1000
    assert args["sysctl"]["kernel.numa_balancing_scan_delay_ms"] == 100


@pytest.mark.parametrize("scale", [0.05, 0.1, 0.2])
def test_constructed_rates_match_the_full_size(scale):
    """Scan windows per footprint, the scan floor against scan_period_min,
    touches per page within a hot threshold and the watermarks as fractions
    of node 0: within 10% of the full-size machine's (the rounding of the
    scan size and of the node sizes to whole MiB is the difference)."""
    def rates(f):
        m = seed.make_machine("baseline", f)
        w = seed.make_workload(seed.workload_params("xsbench", f, 1000))
        z0 = [z for z in m.zones() if z["node"] == 0]
        wm = {k: sum(z[k] for z in z0) for k in ("min", "low", "high")}
        facts = {"sysctl": m.sysctl, "numa_scan_floor_ms": numa_scan_floor_ms(m),
                 "swap_cluster_max": swap_cluster_max()}
        return construction(facts, w.describe(), sum(z["managed"] for z in z0), wm)
    full, here = rates(1.0), rates(scale)
    for key in ("scan_windows_per_rss", "scan_floor_per_period_min",
                "touches_per_page_per_hot_threshold", "wmark_min_fraction", "wmark_gap_fraction"):
        assert here[key] == pytest.approx(full[key], rel=0.10), key
    # not kept: reclaim's batch is SWAP_CLUSTER_MAX pages at every size
    assert swap_cluster_max() == 32                       # include/linux/swap.h
    assert here["kswapd_batch_fraction"] == pytest.approx(full["kswapd_batch_fraction"] / scale,
                                                          rel=0.05)


def test_scan_floor_is_max_scan_window_over_the_scan_size():
    """kernel/sched/fair.c task_scan_min(): floor = 1000 / (MAX_SCAN_WINDOW
    2560 MB/s // scan_size_mb) ms: 100 ms at 256 MB, 10 ms at 26 MB
    (98 windows: 1000 // 98), 5 ms at 13 MB (196 windows)."""
    for f, floor in ((1.0, 100), (0.1, 10), (0.05, 5)):
        assert numa_scan_floor_ms(seed.make_machine("baseline", f)) == floor


def test_vma_pid_reset_follows_the_scan_delay():
    """kernel/sched/fair.c: VMA_PID_RESET_PERIOD is 4 * scan_delay (ms)."""
    m = seed.make_machine("baseline", 0.1)
    p = m.spawn(threads=1)
    a = p.mmap(16)
    for i in range(16):
        p.threads[0].store(a + i * 4096)
    m.advance(0.2)
    t = p.threads[0]
    assert t.task_tick_numa(200_000_000)
    t.task_numa_work()
    v = next(v for v in p.vmas() if v["start"] <= a < v["end"])["numab_state"]
    assert v["next_pid_reset"] - v["next_scan"] == 4 * 100


FULL_SPAN_PARTICLES = 4_000_000          # x F: the full run's first ~46 s at every scale
KEPT_RATES = ("scan_ptes_per_page_s", "hint_faults_per_page_s", "promotions_per_page_s",
              "demotions_per_page_s")


@pytest.fixture(scope="module")
def scaled_runs():
    return {f: seed.run_seed_experiment(scale=f, particles=int(FULL_SPAN_PARTICLES * f), jobs=2)
            for f in (0.1, 0.2)}


@pytest.mark.parametrize("scale", [0.1, 0.2])
def test_scaled_runs_keep_the_measured_rates(scaled_runs, scale):
    """Under the rule, the NUMA scan's PTE updates, hint faults, promotions
    and demotions per node 0 page per full-size second, over the full run's
    first ~46 s, are the full-size reference's within 10% in both kernels
    (measured 2026-12-04: 1-8% off), and seed 0's migrc does not stall.
    What the rule does not keep (migrc's deferred flushes per demotion,
    hence the flush ratios) is not asserted: docs/run.md, "Scaled runs
    against the full size"."""
    r = scaled_runs[scale]
    assert r["similarity_reference"] is not None and not r["stalls"]
    for kernel, rows in r["similarity"].items():
        rates = {row["key"]: row for row in rows}
        for key in KEPT_RATES:
            assert rates[key]["kept"], (kernel, key, rates[key]["here"], rates[key]["full"])


def test_pages_migrated_ratio_does_not_depend_on_the_scale(scaled_runs):
    """numa_pages_migrated AFTER/BEFORE at 0.1 and 0.2 within 10% of each
    other (measured: 1.126 and 1.101 over the first ~46 full-size s)."""
    a, b = (scaled_runs[f]["ratios"]["migrc"]["numa_pages_migrated"] for f in (0.1, 0.2))
    assert a == pytest.approx(b, rel=0.10)


def test_flushes_per_kswapd_cycle_grow_with_the_node(scaled_runs):
    """What the rule does not keep, and why the flush ratios depend on the
    scale (mm/vmscan.c): a kswapd cycle (balance_pgdat(), counted as
    pageoutrun) scans each priority's size >> priority folios in batches
    of at most SWAP_CLUSTER_MAX pages, and the baseline sends one shootdown
    per batch that demoted; SWAP_CLUSTER_MAX is 32 pages at every size, so
    twice the node runs more batches per cycle (measured over the full run's
    first ~93 s: 9.5 at 0.1, 15.0 at 0.2, ~70 at full size), while migrc's
    deferred flushes come about once per cycle.  The block marks the rate
    as not kept."""
    per = {}
    for f in (0.1, 0.2):
        row = next(r for r in scaled_runs[f]["similarity"]["baseline"]
                   if r["key"] == "remote_flushes_per_kswapd_cycle")
        per[f] = row["here"]
        assert row["full"] is not None and row["kept"] is False
        assert per[f] < row["full"]
    assert per[0.2] > 1.3 * per[0.1]
