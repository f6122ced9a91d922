"""Compare the key AFTER/BEFORE ratios of scaled runs under the scaling rule
with the full-size run's over the same stretch of full-size time.

    python tools/scaling_study.py --scales 0.05 0.1 0.2          # runs them (jobs 2)
    python tools/scaling_study.py --from run_0.05.json run_0.1.json ...
    python tools/scaling_study.py --seed 1 --dma-reserve-kept        # the DMA reserve kept

Each scaled run covers the full run's first 93 s (8,000,000 x F particles:
the default run's span); the full-size side comes from the installed
reference (kmm/experiments/full_size_reference.json), its snapshots cut at
the same full-size second.  Prints one row per scale and one for the full
size, with the load average; the last two columns are each kernel's
nr_tlb_remote_flush per kswapd cycle (pageoutrun), the rate behind the
flush ratios' dependence on the scale (docs/run.md).
"""
import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kmm.experiments import seed  # noqa: E402
from kmm.experiments.similarity import (full_size_ratios, load_reference, span,  # noqa: E402
                                        upto)

KEYS = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "numa_pages_migrated",
        "nr_tlb_local_flush_all", "itlb.itlb_flush")
FULL_PARTICLES_SPAN = 8_000_000          # the default run's 800,000 at F = 0.1


def per_cycle(first, last):
    """Remote flushes per kswapd cycle between two snapshots."""
    cycles = last.get("pageoutrun", 0) - first.get("pageoutrun", 0)
    return (last["nr_tlb_remote_flush"] - first["nr_tlb_remote_flush"]) / cycles if cycles else None


def ratios_of(result):
    """(full-size seconds covered, {key: AFTER/BEFORE, and the per-cycle
    flushes}) of a run's JSON."""
    runs = result["runs"]
    out = {k: result["ratios"]["migrc"][k] for k in KEYS}
    for k in ("baseline", "migrc"):
        out[f"{k} per cycle"] = per_cycle(runs[k]["snapshots"][0], runs[k]["snapshots"][-1])
    return span(result), out


def full_ratios(ref, result):
    """The same from the full-size reference over the run's full-size span
    (similarity.full_size_ratios: its last snapshot within the span), with
    whatever options the run had."""
    out = {k: full_size_ratios(result, ref, KEYS)["migrc"][k] for k in KEYS}
    for k in ("baseline", "migrc"):
        snaps = ref["runs"][k]["snapshots"]
        out[f"{k} per cycle"] = per_cycle(snaps[0], upto(snaps, snaps[0]["t"] + span(result))[-1])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", type=float, nargs="*", default=[0.05, 0.1, 0.2])
    ap.add_argument("--from", dest="files", nargs="*", help="run JSONs instead of running")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dma-reserve-kept", action="store_true",
                    help="vm.lowmem_reserve_ratio[DMA] = 256 x F, so that the DMA zone keeps its "
                         "full-size reserve (docs/run.md: no scaled run stalls; not the rule)")
    a = ap.parse_args(argv)
    results = []
    if a.files:
        results = [json.loads(Path(p).read_text()) for p in a.files]
    else:
        for f in a.scales:
            sysctl = ({"vm.lowmem_reserve_ratio": (max(1, round(256 * f)), 256, 32, 0)}
                      if a.dma_reserve_kept else None)
            results.append(seed.run_seed_experiment(
                scale=f, particles=int(round(FULL_PARTICLES_SPAN * f)), jobs=a.jobs,
                seed=a.seed, sysctl=sysctl))
    ref = load_reference()
    cols = KEYS + ("baseline per cycle", "migrc per cycle")
    fmt = lambda v: f"{v if v is not None else float('nan'):>22.3f}"
    print(f"{'scale':>6} {'full s':>7}  " + "  ".join(f"{k[:22]:>22}" for k in cols))
    for r in sorted(results, key=lambda r: r["scaling"]["scale"]):
        full_s, rat = ratios_of(r)
        print(f"{r['scaling']['scale']:>6g} {full_s:>7.0f}  " + "  ".join(fmt(rat[k]) for k in cols))
        if ref:
            fr = full_ratios(ref, r)
            print(f"{'1':>6} {full_s:>7.0f}  " + "  ".join(fmt(fr[k]) for k in cols))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
