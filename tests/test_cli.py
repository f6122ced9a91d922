"""The kmm command line as a whole: --version, help, unknown arguments,
output paths checked before anything runs, the integer options' ranges and
every reproducer of the "never crash, never hang, never lie" issue.

The reproducers run as real processes with a timeout, so a traceback, a
segfault or a hang fails the test instead of taking pytest down."""

import json
import os
import subprocess
import sys

import pytest

import kmm
from kmm import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kmm_proc(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "kmm.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "binary.csv").write_bytes(b"thread,page,write\n\x7fELF\x02\x01\x01\x00\xd0\xff\n")
    (d / "dir.csv").mkdir()
    (d / "out").mkdir()
    return d


# (argv, the option the message must name, a fragment of the message); every one used to be
# a traceback after the run, a table of zeros, or a wrong usage message
REPRODUCERS = [
    (["run", "--workload", "trace:{d}/binary.csv"], "--workload", "binary.csv line 2: not text"),
    (["run", "--workload", "trace:{d}/dir.csv"], "--workload", "dir.csv: is a directory"),
    (["run", "--workload", "trace:{d}/missing.csv"], "--workload", "does not exist"),
    (["run", "--json", "."], "--json", "'.' is a directory"),
    (["run", "--json", "{d}/out"], "--json", "is a directory"),
    (["run", "--plot", "{d}/out"], "--plot", "accepted: a file name ending in .png or .svg"),
    (["hazards", "--json", "/nonexistent/dir/h.json"], "--json", "does not exist"),
    (["hazards", "--json", "."], "--json", "'.' is a directory"),
    (["hazards", "--cost", "--rounds", "-1"], "--rounds", "accepted: 1..10000"),
    (["hazards", "--cost", "--rounds", "0"], "--rounds", "accepted: 1..10000"),
    (["hazards", "--cost", "--rounds", "10001"], "--rounds", "accepted: 1..10000"),
    (["hazards", "--cost", "--rounds", "two"], "--rounds", "not a whole number"),
    (["hazards", "--rounds", "3"], "--rounds", "applies with --cost only"),
    (["hazards", "--scenario", "nope"], "--scenario", "invalid choice: 'nope'"),
    (["hazards", "--kernel", "nope"], "--kernel", "invalid choice: 'nope'"),
    (["hazards", "--ablate", "mm/nope.c#1"], "--ablate", "no such hunk"),
    (["hazards", "--kernel", "baseline", "--ablate", "mm/memory.c#1"], "--ablate",
     "needs a kernel with CONFIG_MIGRC=y; baseline has none"),
    (["study", "../shared/seed/migrc-v4-2of3.patch", "--html", "."], "--html", "is a directory"),
    (["study", "../shared/seed/migrc-v4-2of3.patch", "--html", "/nonexistent/d/s.html"], "--html",
     "does not exist"),
]
if os.path.exists("/proc/version"):      # opens for writing as root, but refuses every write
    REPRODUCERS += [(["run", "--json", "/proc/version"], "--json", "cannot write '/proc/version'"),
                    (["hazards", "--json", "/proc/version"], "--json", "cannot write")]


@pytest.mark.parametrize("argv,option,what", REPRODUCERS, ids=[" ".join(a) for a, _, _ in REPRODUCERS])
def test_reproducer_is_a_usage_error_before_anything_runs(files, argv, option, what):
    p = kmm_proc(*(a.format(d=files) for a in argv))
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert f"kmm {argv[0]}: error: argument {option}: " in p.stderr and what in p.stderr, p.stderr
    assert p.stdout == ""                           # nothing ran: no report, no matrix


def test_version():
    p = kmm_proc("--version")
    assert (p.returncode, p.stdout.strip()) == (0, f"kmm {kmm.__version__}")


@pytest.mark.parametrize("argv", [["help"], ["--help"], ["help", "run"], ["run", "--help"],
                                  ["help", "hazards"], ["hazards", "-h"]])
def test_help_exits_0(argv):
    p = kmm_proc(*argv)
    assert p.returncode == 0 and p.stderr == ""
    sub = argv[-1] if argv[0] == "help" and len(argv) > 1 else argv[0] if argv[0] != "help" else None
    if sub in ("run", "hazards"):
        assert p.stdout.startswith(f"usage: kmm {sub} ")
    else:
        assert p.stdout.startswith("usage: kmm ") and "info" in p.stdout and "hazards" in p.stdout


@pytest.mark.parametrize("argv,usage,what", [
    ([], "usage: kmm ", "the following arguments are required: COMMAND"),
    (["nope"], "usage: kmm ", "invalid choice: 'nope'"),
    (["help", "nope"], "usage: kmm help ", "invalid choice: 'nope'"),
    (["run", "extra"], "usage: kmm run ", "kmm run: error: unrecognized arguments: extra"),
    (["run", "--bogus", "x"], "usage: kmm run ", "kmm run: error: unrecognized arguments: --bogus x"),
    (["info", "extra"], "usage: kmm info ", "kmm info: error: unrecognized arguments: extra"),
    (["hazards", "extra"], "usage: kmm hazards ", "kmm hazards: error: unrecognized arguments: extra"),
    (["study"], "usage: kmm study ", "required: PATCH"),
    (["study", "a.patch", "b.patch"], "usage: kmm study ", "unrecognized arguments: b.patch"),
])
def test_usage_errors_name_the_subcommand(argv, usage, what, capsys):
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(usage) and what in err, err


def test_output_probe_leaves_no_file(tmp_path):
    new = tmp_path / "new.json"
    assert cli.check_output_path(str(new)) is None
    assert not new.exists()                         # created by the probe, removed again
    old = tmp_path / "old.json"
    old.write_text("kept")
    assert cli.check_output_path(str(old)) is None
    assert old.read_text() == "kept"                # append-mode probe: nothing truncated
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if not os.access(ro, os.W_OK):               # root writes anyway
            assert "cannot write" in cli.check_output_path(str(ro / "x.json"))
    finally:
        ro.chmod(0o755)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_output_nobody_reads_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    p = kmm_proc("hazards", "--json", str(fifo), timeout=60)
    assert p.returncode == 2 and "argument --json: cannot write" in p.stderr, p.stderr


def test_hazards_writes_json_and_ablates_only_migrc_kernels(tmp_path, capsys):
    out = tmp_path / "h.json"
    assert cli.main(["hazards", "--scenario", "fork_cow", "--ablate", "mm/memory.c#1",
                     "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    ablated = {o["kernel"]: o["ablated"] for o in doc["outcomes"]}
    assert ablated == {"baseline": [], "migrc": ["mm/memory.c#1"], "migrc+pause": ["mm/memory.c#1"],
                       "migrc+fixes": ["mm/memory.c#1"]}
    assert f"kmm: wrote {out}" in capsys.readouterr().err


def test_hazards_cost_one_round(capsys):
    assert cli.main(["hazards", "--scenario", "fork_cow", "--kernel", "baseline",
                     "--cost", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "Cost of the fixes: 1 read-only" in out
    # one demote + one promote of 64 pages: 128 migrations on the baseline kernel
    row = next(ln for ln in out.splitlines() if ln.startswith("baseline ") and len(ln.split()) == 6)
    assert row.split()[4] == "128"
