"""What tracing costs (docs/tracing.md): one kernel of a small seed run
(scale 0.02, 60,000 particles) with tracing off and with every tracepoint
on, alternated in pairs so that the machine's drift cancels; extra_info
carries the on/off wall ratio (median of the pairs) and the events
recorded per second.  The cost of the tracepoints compiled in but off,
against a build without them, needs two builds: docs/tracing.md has that
measurement (farm-bench, paired).

    pytest tests/bench/test_bench_tracing.py --benchmark-enable -s
"""
import statistics
import time

from kmm.emu import tracing
from kmm.emu.engine import run
from kmm.experiments import seed

PAIRS = 3


def _one(traced):
    m = seed.make_machine("migrc", 0.02)
    w = seed.make_workload(seed.workload_params("xsbench", 0.02, 60000))
    if traced:
        tracing.start(m)
    t0 = time.perf_counter()
    r = run(m, w)
    return time.perf_counter() - t0, r


def _pairs():
    ratios, events, on_s = [], 0, 0.0
    for _ in range(PAIRS):
        off, r_off = _one(False)
        on, r_on = _one(True)
        assert r_on["vmstat"] == r_off["vmstat"]          # tracing changes no counter
        ratios.append(on / off)
        events, on_s = len(r_on["trace"]["events"]), on
    return statistics.median(ratios), events, on_s


def test_bench_tracing_on_against_off(benchmark):
    ratio, events, on_s = benchmark.pedantic(_pairs, rounds=1, iterations=1)
    assert events > 0
    if benchmark.stats is not None:
        benchmark.extra_info["on_over_off_wall"] = ratio
        benchmark.extra_info["events"] = events
        benchmark.extra_info["events_per_s_traced"] = events / on_s
        print(f"\ntracing on / off: {ratio:.3f} (median of {PAIRS} pairs); {events} events")
