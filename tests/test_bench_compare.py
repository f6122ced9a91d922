"""tools/bench_compare.py: the table, the regression verdict and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "bench_compare.py"


def bench_json(path, means):
    path.write_text(json.dumps({"benchmarks": [
        {"name": n.split("::")[-1], "fullname": n,
         "stats": {"mean": m, "median": m, "min": m, "max": m}} for n, m in means.items()]}))
    return path


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def test_no_regression(tmp_path):
    old = bench_json(tmp_path / "old.json", {"t::a": 1.0, "t::b": 0.002})
    new = bench_json(tmp_path / "new.json", {"t::a": 1.05, "t::b": 0.001})
    p = run(old, new)
    assert p.returncode == 0, p.stderr
    rows = {ln.split()[0]: ln.split() for ln in p.stdout.splitlines() if ln.startswith("t::")}
    assert rows["t::a"][-2:] == ["1.050", "same"]
    assert rows["t::b"][-2:] == ["0.500", "faster"]
    assert "1.000 s" in p.stdout and "2.000 ms" in p.stdout
    assert "0 regression(s) beyond 10%" in p.stdout


def test_regression_exits_1(tmp_path):
    old = bench_json(tmp_path / "old.json", {"t::a": 1.0, "t::gone": 1.0})
    new = bench_json(tmp_path / "new.json", {"t::a": 1.25, "t::new": 1.0})
    p = run(old, new)
    assert p.returncode == 1
    assert "REGRESSION" in p.stdout and "only in OLD" in p.stdout and "only in NEW" in p.stdout
    assert run(old, new, "--threshold", "0.3").returncode == 0


def test_bad_input_exits_2(tmp_path):
    good = bench_json(tmp_path / "good.json", {"t::a": 1.0})
    (tmp_path / "bad.json").write_text("{}")
    p = run(good, tmp_path / "bad.json")
    assert p.returncode == 2 and "not pytest-benchmark JSON" in p.stderr
    p = run(good, tmp_path / "missing.json")
    assert p.returncode == 2 and "cannot read" in p.stderr
    p = run(good, good, "--threshold", "-1")
    assert p.returncode == 2 and "--threshold" in p.stderr
    assert "Traceback" not in p.stderr
