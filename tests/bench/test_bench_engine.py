"""XSBench through the run engine on a seed-like machine scaled by 0.1
(memory, data and NUMA scan size): lookups emulated per second of wall
time (issue target: >= 10 M/s on one core) and the wall time one virtual
second costs.  Measure with --benchmark-enable."""

import kmm
from kmm.workloads.xsbench import XSBench

from benchutil import record_throughput

PARTICLES = 60_000
LOOKUPS = 34


def _machine():
    return kmm.Machine(nodes=[{"cpus": 16, "mem": "102M"}, {"cpus": 0, "mem": "819M"}],
                       sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1,
                               "kernel.numa_balancing_scan_size_mb": 25},
                       cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40})


def _run():
    m = _machine()
    w = XSBench(size="large", scale=0.1, particles=PARTICLES, lookups=LOOKUPS, threads=16)
    return m.run(w)


def test_bench_xsbench_engine(benchmark):
    r = benchmark.pedantic(_run, rounds=1, iterations=1)
    assert r["finished"] and r["oracle_violations"] == 0
    lookups = PARTICLES * LOOKUPS
    record_throughput(benchmark, lookups, "lookups_per_s", 10e6)
    stats = benchmark.stats
    if stats is not None and stats.stats.mean > 0:
        benchmark.extra_info["wall_s_per_virtual_s"] = stats.stats.mean / r["virtual_s"]
        benchmark.extra_info["virtual_s"] = r["virtual_s"]
