#!/usr/bin/env python3
"""Estimate the wall time of the full-scale seed experiment
(`kmm run --particles 50000000 --scale 1`, both kernels) by running a
fraction of it and extrapolating.

For each kernel, runs the full-scale experiment for --duration virtual
seconds (default 20: XSBench's 5.1 s of serial init and ~15 s of lookups
with NUMA balancing promoting and demoting), records wall time against
virtual time, and extrapolates the lookup phase linearly from its last
--window virtual seconds to the run's full virtual length (556.8 s):

    estimate = wall(duration) + (full - duration) * d(wall)/d(virtual)

Prints a table and, with --json, writes the measurements.  The estimate
assumes the steady state of the measured window holds to the end.  Each
kernel's line ends with its row for the rate model that `kmm run` uses for
its expected wall time (WALL_RATES in kmm/experiments/seed.py: scale, boot
wall s, wall s per virtual s of the lookup phase), and the last line puts
the model's expectation beside the extrapolation.  The kernels run one at a
time here, so that each rate is one process's.

    python tools/estimate_full_scale.py [--duration 20] [--window 8] [--kernel baseline migrc]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))    # run from a checkout without installing
from kmm.experiments import seed as exp  # noqa: E402


class Recorder:
    def __init__(self):
        self.points = []
        self.t0 = None

    def start(self, kernel, expected):
        self.t0 = time.perf_counter()
        self.points = [(0.0, 0.0)]
        return lambda v, f: self.points.append((v, time.perf_counter() - self.t0))

    def finish(self, kernel, run):
        self.points.append((run["virtual_s"], time.perf_counter() - self.t0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0, help="virtual seconds to run (default 20)")
    ap.add_argument("--window", type=float, default=8.0,
                    help="virtual seconds at the end of the run to take the rate from (default 8)")
    ap.add_argument("--kernel", nargs="+", default=list(exp.DEFAULT_KERNELS), choices=list(exp.KERNELS))
    ap.add_argument("--particles", type=int, default=exp.SEED_PARTICLES)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--json", metavar="PATH")
    a = ap.parse_args(argv)
    out = {"duration": a.duration, "window": a.window, "particles": a.particles, "scale": a.scale,
           "kernels": {}}
    total = 0.0
    rates = []
    for k in a.kernel:
        rec = Recorder()
        t0 = time.perf_counter()
        r = exp.run_seed_experiment(kernels=[k], scale=a.scale, particles=a.particles,
                                    duration=a.duration, progress=rec, jobs=1)
        setup_wall = time.perf_counter() - t0 - r["runs"][k]["wall_s"]
        full = r["workload"]["expected_virtual_s"]
        pts = rec.points
        v_end, w_end = pts[-1]
        v_a = max(0.0, v_end - a.window)
        w_a = min(pts, key=lambda p: abs(p[0] - v_a))
        rate = (w_end - w_a[1]) / (v_end - w_a[0])
        est = setup_wall + w_end + (full - v_end) * rate
        total += est
        rates.append(rate)
        run = r["runs"][k]
        out["kernels"][k] = {"virtual_s": v_end, "wall_s": w_end, "setup_wall_s": setup_wall,
                             "wall_per_virtual_s": rate, "full_virtual_s": full, "estimate_s": est,
                             "points": pts, "vmstat": run["vmstat"],
                             "oracle_violations": run["oracle_violations"]}
        print(f"{k:12} ran {v_end:.1f} virtual s in {w_end:.1f} s wall (+{setup_wall:.1f} s setup); "
              f"last {v_end - w_a[0]:.1f} virtual s at {rate:.2f} wall s per virtual s; "
              f"full {full:.1f} virtual s -> estimate {est:.0f} s ({est / 60:.1f} min); "
              f"migrated {run['vmstat']['numa_pages_migrated']}, "
              f"remote flushes {run['vmstat']['nr_tlb_remote_flush']}; "
              f"WALL_RATES row: ({a.scale:g}, {setup_wall:.2f}, {rate:.2f})", flush=True)
    out["estimate_total_s"] = total
    print(f"estimate for {', '.join(a.kernel)}: {total:.0f} s ({total / 60:.1f} min) "
          f"one after the other, against the 5-minute target")
    w = exp.make_workload(exp.workload_params("xsbench", a.scale, a.particles))
    full, init = exp.expected_virtual_s(w), exp.xsbench_init_virtual_s(w)
    jobs = exp.check_jobs(None, len(a.kernel))
    model = {j: exp.expected_wall_s(a.kernel, j, full, a.scale, init) for j in sorted({1, jobs})}
    out["model_s"] = model
    print("the rate model (seed.WALL_RATES) expects "
          + ", ".join(f"{m:.0f} s ({m / 60:.1f} min) with {j} job{'s' * (j > 1)}" for j, m in model.items())
          + f"; the rate measured here was {sum(rates) / len(rates):.2f} wall s per virtual s, "
          f"the model's {exp.wall_rate(a.scale)[1]:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
