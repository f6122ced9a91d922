"""The seed experiment's speed per kernel at the default scale and at the
seed's full size (issue "The seed experiment at its own size"):

- default: one kernel (baseline) of the default `kmm run` (scale 0.1,
  800,000 particles, 9.3 virtual s), with the zero and the kvm cost model.
- full size: the first 20 virtual s of `kmm run --scale 1 --particles
  50000000` (XSBench's 5 s of serial init, then 15 s of lookups with NUMA
  balancing promoting and demoting), one kernel.  ~20-30 s of wall time and
  ~210 MB: it runs only with --benchmark-enable and KMM_BENCH_FULL=1, so
  that CI can skip it.

extra_info per run: emulated accesses, accesses per wall second and wall
ns per access (everything included: boot, init, kernel paths, workload
generation), wall s per virtual s over the whole run and over the lookup
phase's last 40% (the rate that decides a long run), the kernel-path share
(host time in page faults and the ticks' NUMA scans and kswapd, over the
run's wall time), and the remote-flush count so that a speed-up that
changed what is counted shows up.

    pytest tests/bench/test_bench_scale.py --benchmark-enable -s
    KMM_BENCH_FULL=1 pytest tests/bench/test_bench_scale.py --benchmark-enable -s
"""

import os
import time

import pytest

from kmm.experiments import seed as exp


class _Clock:
    """The experiment's progress protocol, recording (virtual s, wall s)."""

    def __init__(self):
        self.points = []

    def start(self, kernel, expected):
        t0 = time.perf_counter()
        self.points = [(0.0, 0.0)]
        return lambda v, f: self.points.append((v, time.perf_counter() - t0))

    def finish(self, kernel, run):
        pass


def _run(benchmark, scale, particles, duration=None, cost=None):
    clock = _Clock()
    result = benchmark.pedantic(
        exp.run_seed_experiment,
        kwargs=dict(kernels=("baseline",), scale=scale, particles=particles, duration=duration,
                    jobs=1, progress=clock, cost=cost),
        rounds=1, iterations=1, warmup_rounds=0)
    run = result["runs"]["baseline"]
    perf = run["perf_all"]
    accesses = perf["dTLB-loads"] + perf["dTLB-stores"]
    assert accesses > 0 and run["oracle_violations"] == 0
    pts = clock.points
    v_end = pts[-1][0]
    a = min(pts, key=lambda p: abs(p[0] - 0.6 * v_end))
    b = pts[-1]
    info = benchmark.extra_info
    info["scale"] = scale
    info["virtual_s"] = run["virtual_s"]
    info["accesses"] = accesses
    info["accesses_per_s"] = accesses / run["wall_s"]
    info["ns_per_access"] = run["wall_s"] / accesses * 1e9
    info["wall_s_per_virtual_s"] = run["wall_s"] / run["virtual_s"]
    info["lookup_wall_s_per_virtual_s"] = (b[1] - a[1]) / (b[0] - a[0])
    info["kernel_path_share"] = run["kernel_wall_s"] / run["wall_s"]
    info["nr_tlb_remote_flush"] = run["vmstat"]["nr_tlb_remote_flush"]
    info["cost"] = result["machine"]["cost"]["preset"]
    info["load_average"] = os.getloadavg()
    print(f"\nscale {scale}: {info['ns_per_access']:.0f} ns/access, "
          f"{info['wall_s_per_virtual_s']:.2f} wall s/virtual s "
          f"(lookups {info['lookup_wall_s_per_virtual_s']:.2f}), "
          f"kernel {info['kernel_path_share']:.0%}, load {info['load_average'][0]:.2f}")
    return run


@pytest.mark.parametrize("cost", ["zero", "kvm"])
def test_bench_seed_default_kernel(benchmark, cost):
    """zero: the emulator without time effects (the cost model's own
    accounting overhead is the difference to the code before it); kvm: the
    default run's kernel."""
    if benchmark.disabled:
        pytest.skip("the default-scale kernel (~10 s) runs only with --benchmark-enable")
    run = _run(benchmark, exp.DEFAULT_SCALE, exp.DEFAULT_PARTICLES, cost=cost)
    assert run["finished"]


def test_bench_seed_full_size_slice(benchmark):
    if benchmark.disabled or os.environ.get("KMM_BENCH_FULL") != "1":
        pytest.skip("the full-size slice (~30 s, 210 MB) runs only with --benchmark-enable "
                    "and KMM_BENCH_FULL=1")
    run = _run(benchmark, 1.0, 50_000_000, duration=20)
    assert run["virtual_s"] == 20
