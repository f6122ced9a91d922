#!/usr/bin/env python3
"""Compare two pytest-benchmark JSON files (--benchmark-json output).

    python tools/bench_compare.py OLD.json NEW.json [--threshold 0.10] [--stat mean]

Prints one row per benchmark: OLD and NEW time (the chosen statistic, in
seconds), NEW/OLD, and a verdict: 'REGRESSION' when NEW/OLD > 1 +
threshold, 'faster' when NEW/OLD < 1 / (1 + threshold), else 'same'.
Benchmarks in only one file are listed and not judged.

Exit status: 0 no regression, 1 at least one regression, 2 bad input
(a file that is not pytest-benchmark JSON, a bad option).
"""

from __future__ import annotations

import argparse
import json
import sys

STATS = ("mean", "median", "min", "max")


class BadInput(Exception):
    pass


def load(path) -> dict:
    """{fullname: stats dict} of one pytest-benchmark JSON file."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise BadInput(f"{path}: not pytest-benchmark JSON (no 'benchmarks' list)")
    out = {}
    for b in data["benchmarks"]:
        try:
            out[b.get("fullname") or b["name"]] = b["stats"]
        except (KeyError, TypeError):
            raise BadInput(f"{path}: a benchmark entry without 'name' or 'stats'") from None
    return out


def compare(old: dict, new: dict, stat="mean", threshold=0.10):
    """[(name, old, new, ratio or None, verdict)] in a stable order."""
    rows = []
    for name in sorted(set(old) | set(new)):
        if name not in new:
            rows.append((name, old[name][stat], None, None, "only in OLD"))
        elif name not in old:
            rows.append((name, None, new[name][stat], None, "only in NEW"))
        else:
            o, n = old[name][stat], new[name][stat]
            r = n / o if o else None
            if r is None:
                verdict = "n/a"
            elif r > 1 + threshold:
                verdict = "REGRESSION"
            elif r < 1 / (1 + threshold):
                verdict = "faster"
            else:
                verdict = "same"
            rows.append((name, o, n, r, verdict))
    return rows


def _t(v):
    if v is None:
        return "-"
    for unit, f in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if v * f >= 1:
            return f"{v * f:.3f} {unit}"
    return f"{v * 1e9:.3f} ns"


def table(rows, stat) -> str:
    head = ("benchmark", f"OLD {stat}", f"NEW {stat}", "NEW/OLD", "verdict")
    body = [(n, _t(o), _t(nw), "-" if r is None else f"{r:.3f}", v) for n, o, nw, r, v in rows]
    w = [max(len(x[i]) for x in [head] + body) for i in range(5)]
    lines = ["  ".join(h.ljust(w[i]) if i in (0, 4) else h.rjust(w[i]) for i, h in enumerate(head)).rstrip()]
    lines.append("  ".join("-" * x for x in w))
    for row in body:
        lines.append("  ".join(c.ljust(w[i]) if i in (0, 4) else c.rjust(w[i]) for i, c in enumerate(row)).rstrip())
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", metavar="OLD.json")
    ap.add_argument("new", metavar="NEW.json")
    ap.add_argument("--threshold", type=float, default=0.10,
                    help="relative slow-down that counts as a regression (default 0.10 = 10%%)")
    ap.add_argument("--stat", choices=STATS, default="mean", help="statistic to compare (default mean)")
    a = ap.parse_args(argv)
    if not a.threshold >= 0:
        ap.error(f"argument --threshold: {a.threshold} is negative; accepted: a number >= 0")
    try:
        old, new = load(a.old), load(a.new)
    except BadInput as e:
        print(f"bench_compare: error: {e}", file=sys.stderr)
        return 2
    rows = compare(old, new, a.stat, a.threshold)
    print(table(rows, a.stat))
    bad = [r for r in rows if r[4] == "REGRESSION"]
    print(f"\n{len(bad)} regression(s) beyond {a.threshold:.0%} of {len(rows)} benchmark(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
