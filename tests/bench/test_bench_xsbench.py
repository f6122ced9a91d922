"""XSBench lookups emulated per second of wall time, through the reference
driver, on the seed's machine (kmm.Machine.preset('seed'): 16 CPUs) with 16
threads, XSBench large scaled to 1/10 of its grid points (index grid
139,000 pages: still ~90x the STLB, so every index-grid touch walks the page
tables, as on the real machine).  Default sampling (docs/workloads.md).

Target: >= 10 M lookups/s on one core.  Run with --benchmark-enable to
measure; extra_info has lookups_per_s, accesses_per_s and
accesses_per_lookup."""

import kmm
from kmm.workloads.driver import Driver
from kmm.workloads.xsbench import XSBench

from benchutil import record_throughput

SCALE = 0.1
N = 1_000_000          # emulated accesses per round


def test_bench_xsbench_lookups(benchmark):
    m = kmm.Machine.preset("seed")
    w = XSBench(size="large", scale=SCALE, particles=10**8, threads=16, seed=1)
    d = Driver(m, w)
    r = d.run(until="run")
    assert r["pgfault"] == w.total_pages
    done = {"lookups": 0, "accesses": 0, "rounds": 0}

    def step():
        l0, a0 = w.stats()["lookups"], d.result()["accesses"]
        d.run(max_accesses=N)
        done["lookups"] += w.stats()["lookups"] - l0
        done["accesses"] += d.result()["accesses"] - a0
        done["rounds"] += 1

    benchmark.pedantic(step, rounds=3, iterations=1, warmup_rounds=1)
    st = w.stats()                          # the run's only stores: stacks and the schedule
    assert d.result()["run_stores"] == st["stack_stores"] + st["schedule_stores"] + st["other_stores"]
    per_round = done["lookups"] / done["rounds"]
    record_throughput(benchmark, per_round, "lookups_per_s", 10e6)
    record_throughput(benchmark, done["accesses"] / done["rounds"], "accesses_per_s")
    benchmark.extra_info["accesses_per_lookup"] = done["accesses"] / done["lookups"]
    benchmark.extra_info["scale"] = SCALE
