"""`kmm run`: option parsing and refusals, the report's blocks and table,
the JSON schema, the plot file, determinism, and the README's Quick start.

The runs here are tiny (scale 0.01: 14,458 XSBench pages on a 10 MiB +
81 MiB machine); they exercise every printed number's path without the
default run's ~1 minute."""

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kmm
from kmm import cli
from kmm.experiments import seed as exp
from kmm.report import plots, tables
from conftest import RecordingProgress

ROOT = Path(__file__).resolve().parents[1]
MAIL = ROOT / ".." / "shared" / "seed" / "migrc-v4-2of3.lkml.txt"

# scan from the start and every 100 ms, so a 0.7-virtual-s run migrates
TINY = ["--scale", "0.01", "--particles", "60000", "--quiet",
        "--sysctl", "kernel.numa_balancing_scan_delay_ms=0",
        "--sysctl", "kernel.numa_balancing_scan_period_min_ms=100"]


def run_cli(argv, capsys):
    rc = cli.main(["run"] + argv)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny default-kernels run through the CLI with --json and --plot."""
    d = tmp_path_factory.mktemp("run")
    js, png = d / "r.json", d / "r.png"
    plots.check_available()
    import io
    from contextlib import redirect_stderr, redirect_stdout
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(["run"] + TINY + ["--json", str(js), "--plot", str(png)])
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue(), "json": js, "png": png,
            "result": json.loads(js.read_text())}


# -- refusals ------------------------------------------------------------------

BAD = [
    (["--scale", "0"], "--scale", "out of range"),
    (["--scale", "2"], "--scale", "out of range"),
    (["--scale", "lots"], "--scale", "not a number"),
    (["--particles", "0"], "--particles", "accepted: 1.."),
    (["--particles", "1e6"], "--particles", "not a whole number"),
    (["--lookups", "-3"], "--lookups", "accepted: 1.."),
    (["--size", "medium"], "--size", "invalid choice"),
    (["--threads", "17"], "--threads", "accepted: 1..16"),
    (["--duration", "0"], "--duration", "positive"),
    (["--duration", "nan"], "--duration", "positive"),
    (["--seed", "-1"], "--seed", "accepted: 0.."),
    (["--kernel", "mainline"], "--kernel", "invalid choice"),
    (["--sysctl", "vm.watermark_scale_factor"], "--sysctl", "is not KEY=VALUE"),
    (["--sysctl", "vm.nope=1"], "--sysctl", "unknown key 'vm.nope'"),
    (["--sysctl", "vm.watermark_scale_factor=0"], "--sysctl", "accepted: 1..3000"),
    (["--kconfig", "CONFIG_MIGRC=y"], "--kconfig", "set by the kernel choice"),
    (["--kconfig", "CONFIG_NOPE=y"], "--kconfig", "unknown option 'CONFIG_NOPE'"),
    (["--kconfig", "CONFIG_DEBUG_VM=maybe"], "--kconfig", "not a boolean"),
    (["--kconfig", "CONFIG_MIGRC_FIXES=y"], "--kconfig", "for the baseline kernel"),
    (["--workload", "stream"], "--workload", "accepted: xsbench, gups, trace:PATH"),
    (["--workload", "trace:/nonexistent/t.csv"], "--workload", "does not exist"),
    (["--workload", "gups", "--particles", "10"], "--particles", "xsbench workload only"),
    (["--json", "/nonexistent/dir/r.json"], "--json", "does not exist"),
    (["--json", "."], "--json", "'.' is a directory"),
    (["--json", ""], "--json", "an empty path"),
    (["--plot", "r.pdf"], "--plot", "accepted: a file name ending in .png or .svg"),
    (["--plot", "/nonexistent/dir/r.png"], "--plot", "does not exist"),
    (["--cost", "guest"], "--cost", "preset 'guest'; accepted: zero, skylake, kvm"),
    (["--cost-set", "copy_page=fast"], "--cost-set", "accepted: OP=NS"),
    (["--cost-set", "tlb=5"], "--cost-set", "unknown operation 'tlb'"),
    (["--cost-set", "copy_page=-1"], "--cost-set", "accepted: ns from 0 to 1e9"),
    (["--cost-set", "copy_page"], "--cost-set", "is not KEY=VALUE"),
    (["--cmdline", "pti=maybe"], "--cmdline", "unknown or malformed parameter 'pti=maybe'"),
    (["--cpu", "cr3_noflush_counts=some"], "--cpu", "cpu.cr3_noflush_counts: 'some'; accepted: none"),
    (["--cpu", "itlb_per_structure=3"], "--cpu", "cpu.itlb_per_structure: 3; accepted: 1, 2"),
    (["--cpu", "x86_bug_cpu_meltdown=0"], "--cpu", "x86_bug_l1tf=1 needs cpu.x86_bug_cpu_meltdown=1"),
    (["--cpu", "bogus=1"], "--cpu", "unknown key 'bogus'"),
    (["--trace", "t.txt", "--trace-events", "tlb:bogus"], "--trace-events", "'tlb:bogus': unknown"),
    (["--trace", "t.txt", "--trace-window", "3:1"], "--trace-window", "expected 0 <= T0 < T1"),
    (["--trace-window", "0:1"], "--trace-window", "needs --trace PATH or --perfetto PATH"),
    (["--perfetto", "/nonexistent/dir/t.json"], "--perfetto", "does not exist"),
]


@pytest.mark.parametrize("argv,option,what", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_option_is_a_usage_error(argv, option, what, capsys):
    assert cli.main(["run"] + argv) == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err and what in err, err
    assert err.startswith("usage: kmm run ") and "Traceback" not in err


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # import fails
    assert cli.main(["run", "--plot", "r.png"]) == 2
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err and "kmm[plot]" in err


def test_bad_option_in_a_real_process_exits_2_without_traceback():
    p = subprocess.run([sys.executable, "-m", "kmm.cli", "run", "--scale", "5"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "argument --scale:" in p.stderr and "Traceback" not in p.stderr
    assert p.stdout == ""


def test_defaults_parse():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    cli.add_run_parser(sub)
    a = ap.parse_args(["run"])
    assert a.scale == exp.DEFAULT_SCALE and a.particles is None and a.kernel is None
    assert a.workload == "xsbench" and a.seed == 0 and not a.quiet


# -- the report ------------------------------------------------------------------

def test_tiny_run_prints_both_blocks_for_both_kernels(tiny):
    out = tiny["out"]
    assert tiny["rc"] == 0
    assert "Traceback" not in tiny["err"]
    for k in ("baseline", "migrc"):
        assert exp.KERNEL_TITLES[k] in out
    assert out.count("$ perf stat -a \\") == 2
    assert out.count("Performance counter stats for 'system wide':") == 2
    assert out.count("$ cat /proc/vmstat") == 2
    assert out.count("./XSBench -g 113 -p 60000") == 3          # header + each perf block
    for e in exp.PERF_EVENTS:
        assert out.count(f"-e {e} \\") == 2
    r = tiny["result"]
    for k in ("baseline", "migrc"):
        run = r["runs"][k]
        for e in exp.PERF_EVENTS[:-1]:
            assert f"\n{run['perf'][e]} {e}\n" in out
        assert "\n<not modelled> iTLB-load-misses\n" in out
        assert f"\n{run['virtual_s']:.9f} seconds time elapsed\n" in out
        for c in exp.VMSTAT_COUNTERS:
            assert f"\n{c} {run['vmstat'][c]}\n" in out
    # the order of each block is the seed's
    start = out.index("Performance counter stats")
    block = out[start:out.index("seconds time elapsed", start)]
    assert [ln.split()[-1] for ln in block.splitlines()[1:-1]] == list(exp.PERF_EVENTS)


def test_tiny_run_migrates(tiny):
    # the tiny run really exercises the counters the seed compares
    for k in ("baseline", "migrc"):
        v = tiny["result"]["runs"][k]["vmstat"]
        assert v["numa_pages_migrated"] > 0 and v["pgmigrate_success"] >= v["numa_pages_migrated"]
        assert v["nr_tlb_remote_flush"] > 0 and v["nr_tlb_remote_flush_received"] > 0
        assert tiny["result"]["runs"][k]["oracle_violations"] == 0


def test_comparison_table(tiny):
    out, r = tiny["out"], tiny["result"]
    table = out[out.index("Comparison:"):]
    head = table.splitlines()[1]
    for col in ("BEFORE (baseline)", "AFTER (migrc)", "AFTER/BEFORE", "2nd half", "seed AFTER/BEFORE"):
        assert col in head
    rows = {ln.split()[0]: [x for x in ln.split()[1:] if not x.startswith("[")]
            for ln in table.splitlines()[3:] if ln and ln[0] not in "-R "}
    for c in exp.COUNTERS:
        assert c.split()[0] in rows or c == "seconds time elapsed"
    row = rows["nr_tlb_remote_flush"]
    b, a = r["runs"]["baseline"]["vmstat"]["nr_tlb_remote_flush"], r["runs"]["migrc"]["vmstat"]["nr_tlb_remote_flush"]
    # the cumulative ratio, * when it is more than 10% from the second half's
    hb = exp.second_half(r["runs"]["baseline"], "nr_tlb_remote_flush")
    ha = exp.second_half(r["runs"]["migrc"], "nr_tlb_remote_flush")
    star = "*" if abs((ha / hb) / (a / b) - 1) > 0.10 else ""
    assert row == [f"{b:,}", f"{a:,}", f"{a / b:.3f}{star}", f"{ha / hb:.3f}", f"{192913 / 751464:.3f}"]
    assert rows["iTLB-load-misses"] == ["not", "modelled", "not", "modelled", "n/a", "n/a",
                                        f"{377180518 / 608486259:.3f}"]
    # every row the seed counts more of than the emulator can carries its footnote
    for c, note in exp.ROW_NOTES.items():
        line = [ln for ln in table.splitlines() if ln.startswith(c + " [")]
        assert line, c
        n = line[0].split("[", 1)[1].split("]")[0]
        what = "not modelled" if note[0] == "none" else "in part"
        assert f"  [{n}] {what}: {note[1]}" in table
    assert [ln for ln in table.splitlines() if ln.startswith("numa_pages_migrated ")]  # no mark
    # the run phase's store misses: the whole run's less those at the region's start
    after = [ln for ln in table.splitlines() if ln.startswith("  after init")][0].split()[4:6]
    assert not [ln for ln in out.splitlines() if ln.startswith("Not engaged")]   # migrc deferred
    assert after == [f"{r['runs'][k]['perf_after_init']['dTLB-store-misses']:,}"
                     for k in ("baseline", "migrc")]
    assert "oracle violations" in table
    viol = [ln for ln in table.splitlines() if ln.startswith("oracle violations")][0].split()[2:]
    assert viol == [str(r["runs"][k]["oracle_violations"]) for k in ("baseline", "migrc")]


def test_header_says_what_was_scaled(tiny):
    head = tiny["out"][:tiny["out"].index("BEFORE - mainline")]
    assert "scaled (scale 0.01):" in head
    for what in ("node 0 memory", "node 1 memory", "grid points per nuclide", "particles",
                 "kernel.numa_balancing_scan_size_mb"):
        assert what in head
    assert "never multiplied or extrapolated" in head
    assert "node 0 16 CPUs + 10 MiB, node 1 0 CPUs + 81 MiB" in head
    # the seed's guest CPU and what v6.6 made of it at boot
    assert "\ncpu:      Meltdown, L1TF, 40 physical address bits; page-table isolation on " in head


# -- JSON ---------------------------------------------------------------------------

def test_json_schema(tiny):
    r = tiny["result"]
    assert {"machine", "workload", "runs", "ratios", "seed_ratios", "version"} <= set(r)
    assert r["version"] == kmm.__version__
    assert r["machine"]["nodes"] == [{"cpus": 16, "mem_bytes": 10 << 20}, {"cpus": 0, "mem_bytes": 81 << 20}]
    assert r["machine"]["sysctl"]["kernel.numa_balancing"] == 2
    assert r["machine"]["sysctl"]["vm.demotion_enabled"] is True
    assert r["machine"]["sysctl"]["kernel.numa_balancing_scan_delay_ms"] == 0
    assert r["workload"]["kind"] == "xsbench" and r["workload"]["particles"] == 60000
    assert set(r["runs"]) == {"baseline", "migrc"}
    for k, run in r["runs"].items():
        assert list(run["perf"]) == list(exp.PERF_EVENTS)           # names exactly as printed
        assert list(run["vmstat"]) == list(exp.VMSTAT_COUNTERS)
        for key in ("virtual_s", "wall_s"):
            assert isinstance(run[key], float) and run[key] > 0
        assert isinstance(run["oracle_violations"], int)
        assert run["perf"]["iTLB-load-misses"] == "not modelled"
        assert all(isinstance(v, int) for e, v in run["perf"].items() if e != "iTLB-load-misses")
        assert run["kconfig"]["CONFIG_MIGRC"] is (k == "migrc")
    assert set(r["ratios"]) == {"migrc"}
    assert list(r["ratios"]["migrc"]) == list(exp.COUNTERS) + [exp.TIME_PER_WORK,
                                                               exp.STORES_AFTER_INIT]
    assert r["notes"]["iTLB-load-misses"] == {"modelled": "none",
                                              "reason": "no instruction fetch is emulated"}
    for run in r["runs"].values():
        after, whole = run["perf_after_init"]["dTLB-store-misses"], run["perf"]["dTLB-store-misses"]
        assert 0 < after < whole                 # the init's writes miss too
    assert r["machine"]["pti"] is True and r["machine"]["cmdline"] == ""
    # windows: consecutive snapshots' deltas of every printed counter, summing to the run's
    for k, run in r["runs"].items():
        win = r["windows"][k]
        assert len(win) == len(run["snapshots"]) - 1
        first, last = run["snapshots"][0], run["snapshots"][-1]
        assert last["itlb.itlb_flush"] == run["perf"]["itlb.itlb_flush"]
        for c in exp.WINDOW_COUNTERS:
            assert sum(w[c] for w in win) == last[c] - first[c]
        assert run["migrc"]["deferred_folios"] > 0 if k == "migrc" else run["migrc"] == {
            "deferred_folios": 0, "deferred_flushes": 0}
    half = r["ratios_second_half"]["migrc"]
    assert half["iTLB-load-misses"] is None and half["seconds time elapsed"] is None
    for c, ok in r["converged"]["migrc"].items():
        cum = r["ratios"]["migrc"][c]
        assert ok is (None if cum is None or half[c] is None else abs(half[c] / cum - 1) <= 0.10)
    assert r["engagement"] == []
    # the tiny run finishes: time per unit of work is the elapsed ratio
    runs = r["runs"]
    assert runs["baseline"]["done_fraction"] == runs["migrc"]["done_fraction"] == 1.0
    assert r["ratios"]["migrc"][exp.TIME_PER_WORK] == \
        runs["migrc"]["virtual_s"] / runs["baseline"]["virtual_s"]
    assert r["ratios"]["migrc"]["iTLB-load-misses"] is None
    assert list(r["seed_ratios"]) == list(exp.COUNTERS)
    assert math.isclose(r["seed_ratios"]["nr_tlb_remote_flush"], 192913 / 751464)
    # every printed counter name is a JSON key
    for name in exp.COUNTERS:
        assert name in tiny["out"]


def test_seed_reference_is_quoted_from_the_mail():
    if not MAIL.exists():
        pytest.skip(f"seed mail not found at {MAIL.resolve()}")
    text = MAIL.read_text()
    before = text[text.index("BEFORE - mainline"):text.index("AFTER - mainline")]
    after = text[text.index("AFTER - mainline"):text.index("Signed-off-by")]
    for c, (b, a) in exp.SEED_REFERENCE.items():
        if c in exp.VMSTAT_COUNTERS:                    # /proc/vmstat: "name value"
            line = lambda v: f"\n{c} {v}\n"
        else:                                           # perf stat: "value name"
            line = lambda v: f"\n{v:.9f} {c}\n" if isinstance(v, float) else f"\n{v} {c}\n"
        assert line(b) in before, c
        assert line(a) in after, c


# -- plots ----------------------------------------------------------------------------

def test_plot_png_written(tiny):
    data = tiny["png"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000


def test_plot_svg(tiny, tmp_path):
    p = plots.save(tiny["result"], tmp_path / "r.svg")
    text = p.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text


# -- determinism ------------------------------------------------------------------------

def _counters_only(result):
    runs = {}
    for k, run in result["runs"].items():
        runs[k] = {key: v for key, v in run.items() if key not in ("wall_s", "cpu_s", "kernel_wall_s")}
    return runs, result["ratios"]


def test_same_seed_same_counters(tiny, tmp_path, capsys):
    js = tmp_path / "again.json"
    rc, out, err = run_cli(TINY + ["--json", str(js)], capsys)
    assert rc == 0
    again = json.loads(js.read_text())
    assert _counters_only(again) == _counters_only(tiny["result"])


# -- other kernels and workloads ----------------------------------------------------------

def test_all_kernels(capsys):
    rc, out, err = run_cli(["--scale", "0.01", "--particles", "20000", "--quiet", "--kernel", "all",
                            "--duration", "0.2"], capsys)
    assert rc == 0
    for k in exp.KERNELS:
        assert exp.KERNEL_TITLES[k] in out
    assert out.count("$ perf stat -a \\") == 3
    head = out[out.index("Comparison:"):].splitlines()[1]
    assert "AFTER/BEFORE" in head and "AFTER+pause/BEFORE" in head
    assert "stopped at the --duration cap after 0.200 virtual s" in out


def test_single_kernel_has_no_ratios(capsys, tmp_path):
    js = tmp_path / "m.json"
    rc, out, err = run_cli(["--scale", "0.01", "--particles", "5000", "--quiet", "--kernel", "migrc",
                            "--json", str(js)], capsys)
    assert rc == 0 and "no baseline run" in out
    assert json.loads(js.read_text())["ratios"] == {}


def test_trace_workload(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text("thread,page,write\n" + "".join(f"{i % 2},{i % 50},{i % 3 == 0:d}\n" for i in range(400)))
    rc, out, err = run_cli(["--scale", "0.01", "--quiet", f"--workload=trace:{csv}"], capsys)
    assert rc == 0, err
    assert f"./replay {csv} --threads 2" in out and out.count("$ cat /proc/vmstat") == 2


def test_malformed_trace_is_a_usage_error(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("thread,page,write\n0,1,2\n")
    assert cli.main(["run", f"--workload=trace:{csv}"]) == 2
    err = capsys.readouterr().err
    assert "argument --workload:" in err and "line 2" in err and "Traceback" not in err


def test_gups_workload(capsys):
    rc, out, err = run_cli(["--scale", "0.004", "--quiet", "--workload", "gups", "--threads", "4",
                            "--duration", "0.002"], capsys)
    assert rc == 0, err
    assert "./gups --table" in out and "stopped at the --duration cap" in out


def test_progress_protocol():
    p = RecordingProgress()
    r = exp.run_seed_experiment(scale=0.01, particles=20000, progress=p, jobs=1)
    seen = p.seen
    starts = [s for s in seen if s[0] == "start"]
    assert [s[1] for s in starts] == ["baseline", "migrc"]
    # the workload's time alone: a lower bound, kernel time comes on top
    assert starts[0][2] <= r["runs"]["baseline"]["virtual_s"] <= 1.1 * starts[0][2]
    fr = [s[3] for s in seen if s[0] == "update" and s[1] == "baseline"]
    assert fr == sorted(fr) and 0 < fr[-1] < 1
    assert seen[-1] == ("finish", "migrc", r["runs"]["migrc"]["virtual_s"])


def test_progress_only_on_a_terminal(monkeypatch):
    import io
    from kmm.report import progress
    assert progress.enabled(quiet=True) is False
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert progress.enabled() is False            # output is not a terminal
    bar = progress.RichProgress()                 # and it draws without a terminal too
    with bar:
        up = bar.start("baseline", 2.0)
        up(1.0, 0.5)
        bar.finish("baseline", {"virtual_s": 2.0})


# -- README ---------------------------------------------------------------------------------

def test_readme_quick_start_is_pip_install_and_kmm_run():
    readme = (ROOT / "README.md").read_text()
    quick = readme[readme.index("## Quick start"):]
    quick = quick[:quick.index("\n## ", 3)]
    assert re.search(r"^pip install \. && kmm run\b", quick, re.M)
    main_job = readme[readme.index("## The main job: `kmm run`"):]
    assert "AFTER/BEFORE" in main_job and "seed AFTER/BEFORE" in main_job


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_progress_bar_drawn_on_a_terminal():
    import os
    master, slave = os.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-m", "kmm.cli", "run", "--scale", "0.01",
                              "--particles", "20000"], stdout=slave, stderr=slave, stdin=slave,
                             env={**os.environ, "COLUMNS": "150", "TERM": "xterm"})
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:                   # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert p.wait(timeout=120) == 0
    finally:
        os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert "virtual s" in screen and "ETA" in screen and "baseline" in screen
    assert "Comparison:" in screen
