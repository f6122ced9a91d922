"""The whole seed experiment (kmm/experiments/seed.py: both kernels, machine
boot, XSBench init and lookups, the report's data), end to end, at two
scales:

- tiny: scale 0.01, 200,000 particles (2.3 virtual s each; the first
  promotions come at ~2 s).  Runs once as a test in the normal suite.
- default: what `kmm run` runs (scale 0.1, 800,000 particles, 9.3 virtual s
  each; ~45 s).  Measured only with --benchmark-enable (skipped in the
  normal suite, which must stay fast).

Both run the kernels in this process, one after the other (jobs=1): the
benchmarks time the emulator, not how many cores the machine has.

extra_info: virtual_s, wall_per_virtual_s (per kernel) and the remote-flush
ratio, so a speed-up that changed what is counted shows up.

    pytest tests/bench --benchmark-enable --benchmark-json=bench.json
"""

import pytest

from kmm.experiments import seed as exp


def _record(benchmark, result):
    runs = result["runs"]
    virtual = sum(r["virtual_s"] for r in runs.values())
    benchmark.extra_info["virtual_s"] = virtual
    benchmark.extra_info["wall_per_virtual_s"] = sum(r["wall_s"] for r in runs.values()) / virtual
    benchmark.extra_info["nr_tlb_remote_flush"] = {k: r["vmstat"]["nr_tlb_remote_flush"]
                                                   for k, r in runs.items()}
    benchmark.extra_info["oracle_violations"] = sum(r["oracle_violations"] for r in runs.values())


def test_bench_experiment_tiny(benchmark):
    result = benchmark.pedantic(exp.run_seed_experiment, kwargs=dict(scale=0.01, particles=200_000, jobs=1),
                                rounds=3, iterations=1, warmup_rounds=0)
    assert set(result["runs"]) == {"baseline", "migrc"}
    assert all(r["finished"] and r["oracle_violations"] == 0 for r in result["runs"].values())
    _record(benchmark, result)


def test_bench_experiment_default(benchmark):
    if benchmark.disabled:
        pytest.skip("the default-scale experiment (~45 s) runs only with --benchmark-enable")
    result = benchmark.pedantic(exp.run_seed_experiment, kwargs=dict(jobs=1), rounds=1, iterations=1,
                                warmup_rounds=0)
    assert result["scaling"]["scale"] == exp.DEFAULT_SCALE
    assert all(r["finished"] for r in result["runs"].values())
    _record(benchmark, result)
