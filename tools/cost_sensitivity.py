"""The cost model's sensitivity table (docs/cost-model.md): the default
`kmm run` (both kernels) once with a preset's costs, then once with each
costed operation halved and once doubled; prints a markdown table of the
key results and writes them as JSON.

    python tools/cost_sensitivity.py [--preset kvm] [--json PATH] [--scale F --particles N]
                                     [--duration S] [--seeds K] [--ops op,op,...]

Each run is a whole default experiment (~10 s of wall time with two cores),
so the table takes ~6 minutes for the kvm preset's 15 operations.  The
preset is also run with seeds 1..K (default 4): the spread over seeds is
the run's own noise, against which a cost's effect has to be read."""

import argparse
import json
import sys

KEY_RATIOS = ("nr_tlb_remote_flush", "numa_pages_migrated", "nr_tlb_local_flush_all",
              "seconds time elapsed")


def summary(result):
    base = result["runs"]["baseline"]
    r = result["ratios"]["migrc"]
    out = {c: r[c] for c in KEY_RATIOS}
    out["promotions_per_s"] = base["vmstat_all"]["pgpromote_success"] / base["virtual_s"]
    out["kernel_share"] = base["cpu_time"]["kernel_share"]
    out["kswapd_share"] = base["cpu_time"]["kswapd_share"]
    out["elapsed_s"] = base["virtual_s"]
    if not base["finished"]:             # capped: time per unit of work instead
        out["seconds time elapsed"] = r["time per work"]
    return out


def main():
    from kmm.emu.hw import costs
    from kmm.experiments import seed as exp
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="kvm", choices=[p for p in costs.PRESETS if p != "zero"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--scale", type=float, default=exp.DEFAULT_SCALE)
    ap.add_argument("--particles", type=int, default=exp.DEFAULT_PARTICLES)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--ops", default=None, help="comma-separated operations (default: all costed)")
    a = ap.parse_args()
    ns = {op: v for op, v, _, _ in costs.table(a.preset)}

    def run(over, seed=0):
        cost = dict(over, preset=a.preset)
        res = exp.run_seed_experiment(scale=a.scale, particles=a.particles, duration=a.duration,
                                      cost=cost, seed=seed)
        return summary(res)

    rows = {"zero": summary(exp.run_seed_experiment(scale=a.scale, particles=a.particles,
                                                    duration=a.duration, cost="zero")),
            a.preset: run({})}
    for seed in range(1, a.seeds + 1):
        rows[f"{a.preset}, seed {seed}"] = run({}, seed)
    ops = a.ops.split(",") if a.ops else list(ns)
    for op, v in ns.items():
        if v == 0 or op not in ops:
            continue
        for f, tag in ((0.5, "x0.5"), (2.0, "x2")):
            rows[f"{op} {tag}"] = run({op: v * f})
            print(f"{op} {tag}: {rows[f'{op} {tag}']}", file=sys.stderr, flush=True)
    cols = KEY_RATIOS + ("promotions_per_s", "kernel_share", "kswapd_share", "elapsed_s")
    print("| costs | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, s in rows.items():
        cells = ["n/a" if s[c] is None else
                 f"{s[c]:.3f}" if c in KEY_RATIOS or c == "elapsed_s" else
                 (f"{s[c]:,.0f}" if c == "promotions_per_s" else f"{100 * s[c]:.2f}%") for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"preset": a.preset, "ns": ns, "scale": a.scale, "particles": a.particles,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
