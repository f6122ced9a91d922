#!/usr/bin/env python3
"""Check the hunk map against a patch: every hunk has a mirror whose source
is found and at least one test in tests/hunks/ (docs/study.md).

usage: python tools/check_hunk_map.py [PATCH]

PATCH defaults to the seed patch, ../shared/seed/migrc-v4-2of3.patch next to
the repository root.  Exit 0 when the map is complete, 1 listing the
problems, 2 on a missing, unreadable or malformed patch.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / ".." / "shared" / "seed" / "migrc-v4-2of3.patch"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("patch", nargs="?", default=str(SEED), help="the patch (default: the seed patch)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))              # run from a checkout without installing
    import kmm
    from kmm.study import hunkmap
    from kmm.study.patch import parse_patch
    try:
        patch = parse_patch(args.patch)
    except kmm.KmmError as e:
        print(f"check_hunk_map: error: {e}", file=sys.stderr)
        return 2
    hmap = hunkmap.load()
    problems = hunkmap.check(patch, hmap)
    n, mirrored, tested, without = hunkmap.summary(patch, hmap)
    for p in problems:
        print(p)
    line = f"{n} hunks, {mirrored} mirrored, {tested} tested"
    if without:
        line += f", {without} without behaviour"
    print(f"{line}: " + ("hunk map complete" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
