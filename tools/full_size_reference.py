"""Write kmm/experiments/full_size_reference.json from a full-size run.

    kmm run --scale 1 --particles 50000000 --json full.json
    python tools/full_size_reference.py full.json --note "2026-12-04, load 1-2"

The file keeps the full-size run's snapshots of the counters that the
similarity block (kmm/experiments/similarity.py) measures, so that a
scaled `kmm run` can set its rates beside the full size's over the same
stretch of full-size time, and docs/run.md can compare its ratios with the
full run's.  Rewrite it when a mechanism change moves the full-size run.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kmm.experiments.similarity import REFERENCE, make_reference  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_json")
    ap.add_argument("--note", default="", help="when and how it ran (date, load)")
    ap.add_argument("--out", default=str(REFERENCE))
    a = ap.parse_args(argv)
    result = json.loads(Path(a.run_json).read_text())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    ref = make_reference(result, commit or "unknown", a.note)
    Path(a.out).write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    print(f"wrote {a.out}: {sum(len(r['snapshots']) for r in ref['runs'].values())} snapshots")


if __name__ == "__main__":
    sys.exit(main())
