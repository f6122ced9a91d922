"""The golden-counter run: a small seed experiment whose every counter is
kept in tests/golden/seed_tiny.json.

Performance work and restructuring must not change a counter; the test
tests/test_golden.py runs this again and compares.  Rewrite the files only
for a change that is meant to change the mechanism, and say so in the
commit:  python tools/golden.py --write  (rewrites every file)
"""
import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
# one file per variant: the cost models zero (kernel work free: the
# mechanism without time effects; when the cost model came in, this file did
# not change) and kvm (`kmm run`'s default), and kvm on a kernel built
# without CONFIG_PAGE_TABLE_ISOLATION (when PTI came in, its file was the kvm
# file from before, unchanged)
VARIANTS = {"zero": {"cost": "zero"}, "kvm": {"cost": "kvm"},
            "kvm_nopti": {"cost": "kvm", "kconfig": {"CONFIG_PAGE_TABLE_ISOLATION": False}}}
PATHS = {"zero": GOLDEN / "seed_tiny.json", "kvm": GOLDEN / "seed_tiny_kvm.json",
         "kvm_nopti": GOLDEN / "seed_tiny_kvm_nopti.json"}
PATH = PATHS["zero"]

# scale 0.01 (10 MiB + 81 MiB), 60,000 particles, scanning from the start
# every 100 ms: ~0.7 virtual s with promotions, demotions and (migrc)
# deferred flushes, in a few seconds of wall time
PARAMS = dict(kernels=("baseline", "migrc", "migrc+pause"), scale=0.01, particles=60000,
              sysctl={"kernel.numa_balancing_scan_delay_ms": 0,
                      "kernel.numa_balancing_scan_period_min_ms": 100})
KEPT = ("perf_all", "vmstat_all", "virtual_s", "oracle_violations", "finished", "snapshots")


def golden_run(variant="zero"):
    from kmm.experiments import seed as exp
    result = exp.run_seed_experiment(**VARIANTS[variant], **PARAMS)
    return {k: {key: run[key] for key in KEPT} for k, run in result["runs"].items()}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tools/golden.py --write")
    for variant, path in PATHS.items():
        path.write_text(json.dumps(golden_run(variant), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")
