"""`kmm run --jobs N`: kernels in parallel processes count exactly what
they count one after the other; errors and Ctrl-C come back clean; a
machine is freed before the next boots; the expected wall time."""

import gc
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kmm
from kmm import cli
from kmm.emu.machine import Machine
from kmm.experiments import parallel
from kmm.experiments import seed as exp
from conftest import RecordingProgress

ROOT = Path(__file__).resolve().parents[1]

# tools/golden.py's sysctls at a third of its particles: migrates from the start
TINY = dict(scale=0.01, particles=20000,
            sysctl={"kernel.numa_balancing_scan_delay_ms": 0,
                    "kernel.numa_balancing_scan_period_min_ms": 100})
KEPT = ("vmstat_all", "perf_all", "virtual_s", "oracle_violations", "finished", "snapshots",
        "perf", "vmstat", "kconfig", "title")


def _without_times(result):
    out = {k: v for k, v in result.items() if k not in ("wall_s", "runs")}
    out["runs"] = {k: {key: run[key] for key in KEPT} for k, run in result["runs"].items()}
    return out


def test_parallel_result_is_the_serial_result():
    kernels = ("baseline", "migrc", "migrc+pause")
    serial = exp.run_seed_experiment(kernels=kernels, jobs=1, **TINY)
    par = exp.run_seed_experiment(kernels=kernels, jobs=2, **TINY)     # 3 kernels on 2 processes
    assert serial["runs"]["baseline"]["vmstat_all"]["numa_pages_migrated"] > 0
    assert list(par["runs"]) == list(kernels)
    for k in kernels:
        for key in KEPT:
            assert par["runs"][k][key] == serial["runs"][k][key], (k, key)
    assert _without_times(par) == _without_times(serial)
    assert list(par) == list(serial)                                   # same keys, same order


def test_check_jobs():
    cores = exp.default_jobs(exp.MAX_JOBS)
    assert cores >= 1
    assert exp.check_jobs(None, 1) == 1
    assert exp.check_jobs(None, 3) == min(cores, 3)
    assert exp.check_jobs(64, 2) == 2 and exp.check_jobs(1, 3) == 1
    for bad in (0, 65, -1, 1.5, True, "2"):
        with pytest.raises(kmm.KmmConfigError, match=r"jobs: .*accepted: 1\.\.64"):
            exp.check_jobs(bad, 2)


def test_bad_jobs_refused_before_any_run(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a run started")
    monkeypatch.setattr(exp, "run_kernel", boom)
    with pytest.raises(kmm.KmmConfigError, match="jobs: 0"):
        exp.run_seed_experiment(jobs=0, **TINY)


@pytest.mark.parametrize("argv,what", [(["--jobs", "0"], "accepted: 1..64"),
                                       (["--jobs", "65"], "accepted: 1..64"),
                                       (["--jobs", "two"], "not a whole number")])
def test_bad_jobs_option_is_a_usage_error(argv, what, capsys):
    assert cli.main(["run"] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kmm run ") and "argument --jobs:" in err and what in err


def test_child_error_is_the_serial_error():
    """A KmmError raised in a child is raised in the parent as the same
    class and message (the CLI prints it and exits as for a serial run)."""
    wp = exp.workload_params("xsbench", 0.01, 5000)
    wp["particles"] = 0                 # past the checks: XSBench refuses it inside the run
    args = (0.01, wp, None, 0, None, None)
    with pytest.raises(kmm.KmmConfigError) as serial:
        exp.run_kernel("baseline", *args)
    with pytest.raises(kmm.KmmConfigError) as par:
        parallel.run_kernels(("baseline", "migrc"), 2, args)
    assert str(par.value) == str(serial.value) and "particles" in str(par.value)


def test_parallel_progress_protocol():
    p = RecordingProgress()
    r = exp.run_seed_experiment(jobs=2, progress=p, scale=0.01, particles=60000)
    seen = p.seen
    for k in ("baseline", "migrc"):
        mine = [s for s in seen if s[1] == k]
        assert mine[0][0] == "start" and mine[-1] == ("finish", k, r["runs"][k]["virtual_s"])
        assert math.isclose(mine[0][2], r["runs"][k]["virtual_s"], rel_tol=0.05)
        fr = [s[3] for s in mine if s[0] == "update"]
        assert fr == sorted(fr) and all(0 < f < 1 for f in fr)
        assert [s[0] for s in mine].count("start") == 1


def _machines():
    return sum(isinstance(o, Machine) for o in gc.get_objects())


def test_machine_freed_when_run_kernel_returns():
    """Nothing keeps a run's Machine: not the run dict, the progress
    closure nor the snapshots.  The automatic collector is off, so only
    run_kernel itself can have freed the machine's reference cycles."""
    kept = []

    class Keep:                              # holds on to everything it is given
        def start(self, kernel, expected):
            def update(v, f):
                kept.append((v, f))
            kept.append(update)
            return update

        def finish(self, kernel, run):
            kept.append(run)

    wp = exp.workload_params("xsbench", 0.01, 20000)
    gc.collect()
    before = _machines()
    gc.disable()
    try:
        m = exp.make_machine("baseline", 0.01)
        del m                                # a machine lives in cycles: the count sees it
        assert _machines() == before + 1
        gc.collect()
        assert _machines() == before
        out = exp.run_kernel("baseline", 0.01, wp, progress=Keep())
        assert _machines() == before
    finally:
        gc.enable()
    assert out[0]["virtual_s"] > 0 and len(kept) > 2


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmd:
                out.append(int(d))
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads children from /proc")
def test_ctrl_c_stops_the_children():
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) ends
    the parent with "kmm: interrupted" and exit 130, and the children too."""
    p = subprocess.Popen([sys.executable, "-m", "kmm.cli", "run", "--quiet", "--jobs", "2",
                          "--scale", "0.01", "--particles", "20000000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         start_new_session=True)
    try:
        kids = []
        for _ in range(600):                 # until both children run (a minute at most)
            kids = _children(p.pid)
            if len(kids) == 2 or p.poll() is not None:
                break
            time.sleep(0.1)
        assert len(kids) == 2, "no two child processes"
        time.sleep(1)
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130 and "kmm: interrupted" in err and "Traceback" not in err, err
    for _ in range(100):
        if not any(os.path.exists(f"/proc/{k}") for k in kids):
            break
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{k}") for k in kids)


# -- the expected wall time --------------------------------------------------------

def test_wall_rate_interpolates_the_measured_table():
    for scale, boot, rate in exp.WALL_RATES:
        assert exp.wall_rate(scale) == pytest.approx((boot, rate))
    (s0, b0, r0), (s1, b1, r1) = exp.WALL_RATES[:2]
    mid = math.sqrt(s0 * s1)                 # halfway in log(scale)
    assert exp.wall_rate(mid) == pytest.approx(((b0 + b1) / 2, (r0 + r1) / 2))
    assert exp.wall_rate(exp.MIN_SCALE) == exp.wall_rate(exp.WALL_RATES[0][0])


def test_expected_wall_s():
    boot, rate = exp.wall_rate(1.0)
    one = exp.expected_wall_s(1, 1, 100.0, 1.0, init_virtual_s=5.0)
    assert one == pytest.approx(boot + exp.INIT_WALL_PER_VIRTUAL_S * 5 + rate * 95)
    assert exp.expected_wall_s(2, 1, 100.0, 1.0, 5.0) == pytest.approx(2 * one)
    par = exp.CHILD_START_S + one * exp.PARALLEL_SLOWDOWN
    assert exp.expected_wall_s(2, 2, 100.0, 1.0, 5.0, cores=2) == pytest.approx(par)
    assert exp.expected_wall_s(3, 2, 100.0, 1.0, 5.0, cores=2) == pytest.approx(2 * par)
    # more jobs than cores: one round, the cores shared
    assert exp.expected_wall_s(3, 3, 100.0, 1.0, 5.0, cores=2) == \
        pytest.approx(exp.CHILD_START_S + one * exp.PARALLEL_SLOWDOWN * 1.5)
    wp = exp.workload_params("gups", 0.01)
    assert exp.expected_run_wall_s(("baseline",), 1, wp) is None      # not measured on GUPS


def test_long_run_announces_its_wall_time(monkeypatch, capsys):
    """The seed's full size: the expected wall time is printed before the
    runs, also with --quiet."""
    def stop(**kw):
        raise kmm.KmmStateError("stopped by the test")
    monkeypatch.setattr(exp, "run_seed_experiment", stop)
    assert cli.main(["run", "--quiet", "--scale", "1", "--particles", "50000000",
                     "--jobs", "2"]) == 1
    err = capsys.readouterr().err
    est = exp.expected_run_wall_s(("baseline", "migrc"), 2,
                                  exp.workload_params("xsbench", 1.0, 50_000_000))
    assert est > 60
    line = f"kmm: expected wall time: ~{round(est / 60)} min (2 kernels, 2 jobs)\n"
    assert err.startswith(line), err
    assert err.index(line) < err.index("stopped by the test")


def test_short_run_announces_nothing(monkeypatch, capsys):
    monkeypatch.setattr(exp, "run_seed_experiment", lambda **kw: (_ for _ in ()).throw(
        kmm.KmmStateError("stopped by the test")))
    assert cli.main(["run", "--quiet", "--scale", "0.01", "--particles", "20000"]) == 1
    assert "expected wall time" not in capsys.readouterr().err
