"""`kmm sweep` and `kmm run --seeds`: the spec's keys and values are
checked before anything runs; a sweep on a 2-worker Dask LocalCluster
gives the table of the same runs done one after the other; a rerun runs
only what is missing from the output; the confidence intervals are
Student's t.

The runs are tiny (scale 0.02, 0.3 virtual s: ~0.3 s each), so the whole
file takes a few tens of seconds, most of it starting Dask clusters."""

import csv
import json
import math
import sys

import pytest

import kmm
from kmm import cli
from kmm.experiments import seed as exp
from kmm.experiments import sweep as sw

TINY = {"scale": 0.02, "duration": 0.3}
# the 2 x 2 x 2 study: tier ratio x seed x kernel (baseline and migrc)
GRID = {"base": TINY, "grid": {"tier_ratio": ["1:8", "1:16"], "seed": [0, 1]}}


def without_wall(rows):
    return [{k: v for k, v in r.items() if k not in sw.WALL_COLUMNS} for r in rows]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# -- the spec --------------------------------------------------------------------------

BAD = [
    (123, r"spec: 123; expected a dict \(base/grid/points\) or the path"),
    ({"grid": {"tier": ["1:4"]}}, r"unknown key 'tier'; accepted: tier_ratio, .*cpu\.KEY"),
    ({"base": {"CONFIG_MIGRC": "y"}}, r"CONFIG_MIGRC: is set by the kernel choice; vary the key 'kernel'"),
    ({"grid": {"tier_ratio": ["1:4", "4:1"]}}, r"tier_ratio: '4:1'; accepted: '1:N'"),
    ({"grid": {"tier_ratio": [64]}}, r"tier_ratio: 64; .*YAML 1\.1 reads 1:4 as the base-60 number 64"),
    ({"base": {"tier_ratio": "1:4", "node0_mem": "2G"}}, r"tier_ratio: .*cannot be given with node0_mem"),
    ({"base": {"node0_mem": "2Q"}}, r"node0_mem: '2Q' is not a size"),
    ({"base": {"node1_mem": "8M", "scale": 0.1}}, r"node1_mem: node 1 would have 8 MiB at full size, "
                                                   r"0 MiB at scale 0\.1; a node needs at least 4 MiB"),
    ({"base": {"cpus": 8, "threads": 16}}, r"threads: 16; accepted: 1\.\.8 \(node 0's CPUs: cpus=8\)"),
    ({"grid": {"cpus": [0, 4]}}, r"cpus: 0 is out of range; accepted: 1\.\.16"),
    ({"base": {"ablate": "mm/memory.c#1", "kernel": "baseline"}},
     r"ablate: .*only a kernel with CONFIG_MIGRC has; kernels: baseline"),
    ({"grid": {"ablate": ["none", "mm/nope.c#1"]}}, r"ablate: 'mm/nope.c#1' cannot be switched off"),
    ({"grid": {"kernel": ["migrc", "mainline"]}}, r"kernel: 'mainline'; accepted: baseline, migrc"),
    ({"grid": {"scale": [0.1, 2]}}, r"scale: 2 is out of range"),
    ({"grid": {"vm.watermark_scale_factor": [10, 0]}}, r"vm.watermark_scale_factor: 0 is out of range"),
    ({"base": {"CONFIG_MIGRC_FIXES": "y"}}, r"kconfig: CONFIG_MIGRC_FIXES=y needs CONFIG_MIGRC=y "
                                            r"\(for the baseline kernel\)"),
    ({"base": {"cpu.itlb_per_structure": 3}}, r"cpu\.itlb_per_structure: 3; accepted: 1, 2"),
    ({"base": {"workload": "gups", "particles": 10}}, r"particles: applies to the xsbench workload only"),
    ({"base": {"duration": 0}}, r"duration: 0; accepted: a positive number"),
    ({"base": {"scale": [0.1, 0.2]}}, r"scale: base takes one value"),
    ({"grid": {"seed": [1, "1"]}}, r"seed: '1' is given twice"),
    ({"grid": {"seed": []}}, r"seed: no values given"),
    ({"points": [{"seed": 3}]}, r"points\[0\]: seed: applies to every configuration"),
    ({"points": [{"scale": 0.05}], "grid": {"scale": [0.1]}}, r"points\[0\]: scale: is also a grid key"),
    ({"runs": 3}, r"spec: unknown section 'runs'; accepted: base, grid, points"),
]


@pytest.mark.parametrize("spec,what", BAD, ids=[str(s) for s, _ in BAD])
def test_bad_spec_is_refused_naming_the_key(spec, what):
    with pytest.raises(kmm.KmmConfigError, match=what):
        sw.parse_spec(spec)


def test_bad_spec_refused_before_any_run(monkeypatch, tmp_path):
    def boom(*a, **k):
        raise AssertionError("a run started")
    monkeypatch.setattr(exp, "run_seed_experiment", boom)
    # the second configuration is the bad one: nothing may run for the first either
    with pytest.raises(kmm.KmmConfigError, match="node0_mem"):
        sw.sweep({"base": TINY, "grid": {"node0_mem": ["1G", "1M"]}}, out=tmp_path, serial=True)
    assert not (tmp_path / "runs.jsonl").exists() or (tmp_path / "runs.jsonl").read_text() == ""


CLI_BAD = [
    (["--vary", "tier=1:4"], "unknown key 'tier'"),
    (["--vary", "tier_ratio=1:4,1:x"], "tier_ratio: '1:x'; accepted: '1:N'"),
    (["--vary", "tier_ratio"], "vary: 'tier_ratio' is not KEY=V1,V2,..."),
    (["--set", "tier_ratio=1:4", "--set", "node1_mem=4G"], "cannot be given with node1_mem"),
    (["--set", "ablate=mm/memory.c#1", "--set", "kernel=baseline"], "only a kernel with CONFIG_MIGRC"),
    (["--vary", "seed=0,1", "--seeds", "3"], "seeds: the seeds are also given as a grid"),
    (["--seeds", "0"], "argument --seeds: 0 is out of range"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "argument --workers: applies to the local"),
    (["--workers", "0"], "argument --workers: 0 is out of range"),
    (["--counter", "nr_tlb_flushes"], "argument --counter: 'nr_tlb_flushes'; accepted: "),
    (["--plot", "f.pdf", "--vary", "cpus=8,16"], "argument --plot: 'f.pdf'; accepted:"),
    (["--plot", "f.png"], "argument --plot: nothing varies"),
]


@pytest.mark.parametrize("argv,what", CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_bad_sweep_option_exits_2_naming_it(argv, what, tmp_path, capsys):
    assert cli.main(["sweep", "--out", str(tmp_path / "o")] + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kmm sweep ") and what in err, err
    assert "Traceback" not in err


def test_bad_out_and_spec_file_exit_2(tmp_path, capsys):
    assert cli.main(["sweep", "--out", str(tmp_path / "no" / "such")]) == 2
    assert "argument --out: cannot create" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert cli.main(["sweep", "--out", str(tmp_path / "f")]) == 2
    assert "argument --out: " in (err := capsys.readouterr().err) and "is a file" in err
    bad = tmp_path / "s.json"
    bad.write_text("{}")
    assert cli.main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "spec: " in capsys.readouterr().err


def test_yaml_and_toml_specs(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text("base:\n  scale: 0.05\n  duration: 2\ngrid:\n  tier_ratio: ['1:4', '1:16']\n"
                 "  seed: [0, 1, 2]\npoints:\n  - {cpus: 8, threads: 8}\n  - {cpus: 16}\n")
    s = sw.parse_spec(str(y))
    assert [(c["cpus"], c["threads"], c["tier_ratio"], c["node0_mem"]) for c in s["configs"]] == [
        (8, 8, "1:4", "2G"), (8, 8, "1:16", "512M"), (16, 16, "1:4", "2G"), (16, 16, "1:16", "512M")]
    assert s["seeds"] == (0, 1, 2) and s["kernels"] == ("baseline", "migrc")
    assert s["varied"] == ["tier_ratio", "cpus", "threads"]
    t = tmp_path / "s.toml"
    t.write_text('[base]\nscale = 0.05\n[grid]\ntier_ratio = ["1:4", "1:16"]\nkernel = ["all"]\n')
    s = sw.parse_spec(str(t))
    assert len(s["configs"]) == 2 and s["kernels"] == tuple(exp.KERNELS)
    # the command line wins over the file
    s = sw.parse_spec(str(t), vary=[("tier_ratio", ["1:2"])], set_=[("scale", "0.1")])
    assert [(c["tier_ratio"], c["scale"]) for c in s["configs"]] == [("1:2", 0.1)]
    # unquoted 1:4 is a YAML 1.1 base-60 number: refused with the hint
    y.write_text("grid:\n  tier_ratio: [1:4, 1:8]\n")
    with pytest.raises(kmm.KmmConfigError, match="quote it"):
        sw.parse_spec(str(y))


def test_configuration_is_complete_and_canonical():
    a = sw.parse_spec({"base": {"scale": "0.05", "vm.watermark_scale_factor": "200"}})["configs"][0]
    b = sw.parse_spec({"base": {"scale": 0.05, "vm.watermark_scale_factor": 200}})["configs"][0]
    assert a == b and sw.run_key(a, "migrc", 0) == sw.run_key(b, "migrc", 0)
    assert a["particles"] == exp.DEFAULT_PARTICLES and a["threads"] == 16 and a["node0_mem"] == "1G"
    kw = sw.experiment_kwargs(a)
    assert kw["sysctl"] == {"vm.watermark_scale_factor": 200} and kw["ablate"] == []


def test_ablation_spares_the_baseline_and_shares_its_run():
    s = sw.parse_spec({"base": TINY, "grid": {"ablate": ["none", "mm/memory.c#1"], "seed": [0, 1]}})
    runs = sw.plan(s)
    # 2 configurations x 2 seeds: 2 migrc runs each, 1 baseline run per seed, shared
    assert len(runs) == 6
    assert [c["ablate"] for _, c, k, _ in runs if k == "baseline"] == ["none", "none"]
    assert sorted(c["ablate"] for _, c, k, _ in runs if k == "migrc") == \
        ["mm/memory.c#1", "mm/memory.c#1", "none", "none"]


# -- statistics -------------------------------------------------------------------------

def test_confidence_interval_by_hand():
    assert sw.t_quantile(0.975, 4) == pytest.approx(2.776, abs=5e-4)
    st = sw.mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, s = sqrt(2.5), half = 2.776 * s / sqrt(5)
    assert st["mean"] == 3.0 and st["n"] == 5
    assert st["half"] == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5), rel=2e-4)
    assert st["half"] == pytest.approx(1.963, abs=1e-3)
    assert (st["ci95_low"], st["ci95_high"]) == (3.0 - st["half"], 3.0 + st["half"])
    one = sw.mean_ci([0.25, None])
    assert one["mean"] == 0.25 and one["n"] == 1 and one["half"] is None and one["ci95_low"] is None
    assert sw.mean_ci([None])["mean"] is None and sw.mean_ci([])["n"] == 0


# -- the 2 x 2 x 2 sweep on Dask --------------------------------------------------------

@pytest.fixture(scope="module")
def dask_sweep(tmp_path_factory):
    """The 2 x 2 x 2 study through `kmm sweep` on a 2-worker LocalCluster,
    with its figure inside the output directory, which --out creates."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    d = tmp_path_factory.mktemp("sweep")
    out, err = io.StringIO(), io.StringIO()
    argv = ["sweep", "--out", str(d / "out"), "--set", "scale=0.02", "--set", "duration=0.3",
            "--vary", "tier_ratio=1:8,1:16", "--vary", "seed=0,1", "--workers", "2",
            "--plot", str(d / "out" / "f.png"), "--quiet"]
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(argv)
    return {"rc": rc, "out": out.getvalue(), "err": err.getvalue(), "dir": d / "out", "png": d / "out" / "f.png"}


@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("serial")
    return sw.sweep(GRID, out=d, serial=True), d


def test_dask_sweep_equals_the_serial_runs(dask_sweep, serial_sweep):
    assert dask_sweep["rc"] == 0, dask_sweep["err"]
    serial, sdir = serial_sweep
    assert len(serial["runs"]) == 8 and serial["ran"] == 8
    assert [(r["tier_ratio"], r["seed"], r["kernel"]) for r in serial["runs"]] == [
        (t, s, k) for t in ("1:8", "1:16") for s in (0, 1) for k in ("baseline", "migrc")]
    # the runs migrate, so the comparison compares something
    assert all(r["numa_pages_migrated"] > 0 and r["oracle_violations"] == 0 for r in serial["runs"])
    # the JSON lines came back in completion order; in the table's order they are the serial rows
    rows = sw.read_rows(dask_sweep["dir"] / "runs.jsonl")
    study = sw.parse_spec(GRID)
    dask_rows = [rows[key] for key, *_ in sw.plan(study)]
    assert without_wall(dask_rows) == without_wall(serial["runs"])
    # and so are the CSV tables, row for row, and the summaries
    a, b = read_csv(dask_sweep["dir"] / "runs.csv"), read_csv(sdir / "runs.csv")
    assert len(a) == 8 and list(a[0]) == list(b[0])
    assert without_wall(a) == without_wall(b)
    assert read_csv(dask_sweep["dir"] / "summary.csv") == read_csv(sdir / "summary.csv")
    assert {"wall_s", "virtual_s", "nr_tlb_remote_flush", "pgpromote_success", "tier_ratio",
            "node0_mem", "kernel", "seed"} <= set(a[0])


def test_sweep_prints_the_summary_and_plots(dask_sweep, serial_sweep):
    out = dask_sweep["out"]
    assert "2 configurations x 2 seeds x 2 kernels (baseline, migrc): 8 runs, 8 run now" in out
    assert "LocalCluster (2 processes x 1 thread)" in out
    lines = [ln for ln in out.splitlines() if ln.startswith(("1:8 ", "1:16 "))]
    assert len(lines) == 4 and all("migrc" in ln and " ± " in ln and "(2)" in ln for ln in lines[:2])
    serial, _ = serial_sweep
    st = serial["ratios"][1]["migrc"]["nr_tlb_remote_flush"]
    assert f"{st['mean']:.3f} ± {st['half']:.3f} (2)" in lines[1]
    assert dask_sweep["png"].stat().st_size > 10_000
    # the summary: per configuration, the mean of the per-seed ratios
    runs = serial["runs"]
    per_seed = [exp.ratio(runs[i + 1]["nr_tlb_remote_flush"], runs[i]["nr_tlb_remote_flush"])
                for i in (4, 6)]
    assert st["values"] == per_seed and st["mean"] == pytest.approx(sum(per_seed) / 2)


def test_resumption_runs_only_the_missing_runs(serial_sweep, tmp_path):
    serial, sdir = serial_sweep
    d = tmp_path / "out"
    d.mkdir()
    lines = (sdir / "runs.jsonl").read_text().splitlines(keepends=True)
    kept = [ln for i, ln in enumerate(lines) if i not in (1, 4, 6)]
    # and the last run was cut off while it was written
    (d / "runs.jsonl").write_text("".join(kept) + lines[6][:40])
    again = sw.sweep(GRID, out=d, serial=True)
    assert (again["ran"], again["reused"]) == (3, 5)
    assert without_wall(again["runs"]) == without_wall(serial["runs"])
    assert len((d / "runs.jsonl").read_text().splitlines()) == 8
    # everything there: nothing runs, no cluster starts
    third = sw.sweep(GRID, out=d, workers=2)
    assert third["ran"] == 0 and third["reused"] == 8 and third["runs"] == again["runs"]


def test_runs_of_other_sources_are_refused(serial_sweep, tmp_path, monkeypatch):
    """Rows carry kmm.source_fingerprint(); a file written by other sources
    is refused before anything runs, and so is a run that comes back from a
    worker with other sources (here: this process pretends to be another
    build)."""
    import kmm
    serial, sdir = serial_sweep
    assert {r["kmm_source"] for r in serial["runs"]} == {kmm.source_fingerprint()}
    d = tmp_path / "out"
    d.mkdir()
    (d / "runs.jsonl").write_text((sdir / "runs.jsonl").read_text())
    mine = kmm.source_fingerprint()
    monkeypatch.setattr(kmm, "_fingerprint", "0123456789abcdef")
    with pytest.raises(kmm.KmmConfigError, match=f"holds runs of kmm sources {mine} .*"
                                                 "this process runs 0123456789abcdef"):
        sw.sweep(GRID, out=d, serial=True)
    monkeypatch.setattr(kmm, "_fingerprint", mine)
    monkeypatch.setattr(sw, "run_one", lambda kwargs, kernel, seed: {"kmm_source": "feedfacefeedface"})
    with pytest.raises(kmm.KmmConfigError, match=f"workers: a worker runs kmm sources feedfacefeedface "
                                                 f".*this process runs {mine}"):
        sw.sweep(GRID, serial=True)


def test_workers_of_other_sources_or_none_are_refused_before_any_task(monkeypatch):
    """The workers are probed before any task: a LocalCluster's worker runs
    the installed sources, which differ from what this process pretends to
    run; a scheduler with no worker is refused rather than waited on."""
    from dask.distributed import Client, LocalCluster
    import kmm
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        sw.check_workers_source(client, "test")                   # same sources: fine
        monkeypatch.setattr(kmm, "_fingerprint", "0123456789abcdef")
        with pytest.raises(kmm.KmmConfigError, match=r"workers: worker tcp://\S+ runs kmm sources "
                                                     r"\w+; this process runs 0123456789abcdef"):
            sw.check_workers_source(client, "test")
    with LocalCluster(n_workers=0, dashboard_address=":0") as cluster, Client(cluster) as client:
        with pytest.raises(kmm.KmmConfigError, match="scheduler: test has no worker"):
            sw.check_workers_source(client, "test")


# -- kmm run --seeds ---------------------------------------------------------------------

def test_run_seeds_prints_confidence_intervals(tmp_path, capsys):
    js = tmp_path / "r.json"
    rc = cli.main(["run", "--seeds", "2", "--duration", "0.3", "--scale", "0.02", "--jobs", "2",
                   "--quiet", "--json", str(js)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "2 seeds: mean ± CI (n)" in out and "for seeds 0..1: mean ± 95% confidence" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("nr_tlb_remote_flush ["))
    assert " ± " in row and "(2)" in row
    result = json.loads(js.read_text())
    across = result["ratios_across_seeds"]["migrc"]["nr_tlb_remote_flush"]
    assert across["n"] == 2 and len(across["values"]) == 2
    # the first seed's ratio is the printed single-seed one, the run kmm run makes
    assert across["values"][0] == result["ratios"]["migrc"]["nr_tlb_remote_flush"]
    plain = exp.run_seed_experiment(scale=0.02, duration=0.3, jobs=1)
    assert plain["ratios"] == result["ratios"]
    assert result["across_seeds"]["seeds"] == [0, 1]


@pytest.mark.parametrize("argv,option,what", [
    (["--seeds", "2", "--trace", "t.txt"], "--trace", "does not go with --seeds"),
    (["--seeds", "0"], "--seeds", "out of range"),
    (["--tier-ratio", "1:4", "--node-mem", "0=2G"], "--tier-ratio", "cannot be given with node0_mem"),
    (["--node-mem", "2=1G"], "--node-mem", "accepted: 0 or 1"),
    (["--cpus", "8", "--threads", "12"], "--threads", "accepted: 1..8"),
    (["--ablate", "mm/memory.c#1", "--kernel", "baseline"], "--ablate", "only a kernel with CONFIG_MIGRC"),
])
def test_run_topology_and_seeds_options_are_checked(argv, option, what, capsys):
    assert cli.main(["run"] + argv) == 2
    err = capsys.readouterr().err
    assert f"argument {option}:" in err and what in err, err


def test_without_dask_is_a_clear_usage_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)        # import fails
    assert cli.main(["sweep", "--out", str(tmp_path / "o")]) == 2
    assert "distributed not installed; install the sweep extra: pip install 'kmm[sweep]'" in \
        capsys.readouterr().err
    assert cli.main(["run", "--seeds", "2"]) == 2
    assert "argument --seeds: distributed not installed" in capsys.readouterr().err
