"""Parameter studies: many seed-experiment runs over a grid of
configurations and seeds, on Dask (`kmm sweep`, `kmm run --seeds N`;
docs/sweep.md).

Terms.  A *configuration* is one value for every option of
run_seed_experiment() except the kernel and the seed: scale, workload and
its options, the topology (node sizes, tier ratio, CPUs), sysctls, kconfig,
the CPU model's options, the cost model, the command line, the ablated
hunks.  A *run* is (configuration, kernel, seed): one kernel's run, the
unit of work, one Dask task calling run_seed_experiment(kernels=(kernel,),
jobs=1).  Every configuration runs the baseline and the spec's other
kernels with the same seeds, so AFTER/BEFORE is taken per seed; the
summary gives each ratio's mean over the seeds and a 95% confidence
interval (Student's t).

The spec (parse_spec): `base` (fixed values), `grid` (key -> values; the
configurations are the cartesian product) and `points` (a list of
configurations, each crossed with the grid), from a YAML or TOML file
and/or the command line's --set/--vary.  Every key and value is checked,
and every configuration's machine and workload built on paper, before
anything runs; a bad one raises KmmConfigError naming it.

Determinism: each run depends only on its configuration, kernel and seed,
and the table is sorted in the spec's order (configurations as expanded,
then seeds, then kernels), not in the order runs finish; so the same spec
gives the same table whatever the number of workers, apart from the wall
times (WALL_COLUMNS).

Resumption: each finished run is appended to OUT/runs.jsonl at once (one
JSON object a line, flushed), under its key (run_key(): the JSON of the
full configuration, kernel and seed, sorted keys); a run whose key is
already in the file is not run again.  Each row carries the fingerprint of
the sources that ran it (kmm.source_fingerprint()); rows of other sources,
in the file or from a worker, are refused rather than mixed.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

from kmm.emu import config as cfg
from kmm.emu.config import KmmConfigError
from kmm.experiments import seed as exp

# -- keys ------------------------------------------------------------------------

# The configuration's own keys, in the table's column order, with what each
# means; any sysctl (vm.*, kernel.*), kconfig option (CONFIG_*) and CPU-model
# option (cpu.KEY) is a key too.
OPTION_KEYS = {
    "tier_ratio": "'1:N': node 0 = 8 GiB / N in front of the seed's 8 GiB node 1 (full size)",
    "node0_mem": "node 0's memory at full size, e.g. 2G (scaled by scale; the seed's 1G)",
    "node1_mem": "node 1's memory at full size (the seed's 8G)",
    "cpus": f"node 0's CPUs, 1..{exp.MAX_CPUS} (the seed's 16); threads default to it",
    "scale": f"memory, XSBench grid points, NUMA scan size and times, "
             f"{exp.MIN_SCALE:g}..1 (default {exp.DEFAULT_SCALE:g})",
    "workload": "xsbench, gups or trace:PATH",
    "particles": f"XSBench -p (default {exp.DEFAULT_PARTICLES:,})",
    "lookups": "XSBench -l (default 34)",
    "size": "XSBench -s: small or large (default large)",
    "threads": "workload threads, 1..cpus (default: cpus)",
    "duration": "stop each run after this many virtual seconds (none: run to the end)",
    "cost": "the cost model: zero, skylake, kvm (default kvm)",
    "cmdline": "the emulated kernel's command line, e.g. nopti",
    "ablate": "seed-patch hunks switched off on the CONFIG_MIGRC kernels: none, or hunk "
              "ids joined by '+', e.g. mm/memory.c#1+mm/rmap.c#2",
}
RUN_KEYS = {
    "kernel": "the kernels run beside the baseline: migrc, migrc+pause (patch 3/3), all",
    "seed": "machine and workload seed(s)",
}
CPU_PREFIX = "cpu."
# kconfig options that the kernel choice sets
KERNEL_KCONFIG = tuple(exp.KERNELS["baseline"])
# per-run columns that measure the host, not the emulated machine
WALL_COLUMNS = ("wall_s", "cpu_s", "kernel_wall_s")
LEVEL = 0.95
# the ratios of the summary: the comparison table's rows
SUMMARY_COUNTERS = exp.COUNTERS + (exp.TIME_PER_WORK, exp.STORES_AFTER_INIT)
# printed and plotted by default
DEFAULT_COUNTERS = ("nr_tlb_remote_flush", "numa_pages_migrated")
DEFAULT_PRINTED = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "numa_pages_migrated",
                   "itlb.itlb_flush", "dTLB-store-misses", exp.TIME_PER_WORK)
MAX_WORKERS = exp.MAX_JOBS
# With --scheduler: how long the sweep waits with no worker connected
# before it gives up (a cluster whose workers all died would wait forever).
NO_WORKERS_TIMEOUT_S = 60.0
POLL_S = 5.0
MAX_SEEDS = 10_000
SPEC_SECTIONS = ("base", "grid", "points")


def accepted_keys() -> str:
    return (", ".join(list(OPTION_KEYS) + list(RUN_KEYS)) +
            "; any sysctl (vm.*, kernel.*), kconfig option (CONFIG_*, but not "
            f"{' or '.join(KERNEL_KCONFIG)}: see kernel) or CPU option (cpu.KEY); `kmm info` "
            "lists them")


def key_kind(key) -> str:
    """'option', 'run', 'sysctl', 'kconfig' or 'cpu'; KmmConfigError for
    an unknown key."""
    if not isinstance(key, str):
        raise KmmConfigError(f"key {key!r} is not a name; accepted: {accepted_keys()}")
    if key in OPTION_KEYS:
        return "option"
    if key in RUN_KEYS:
        return "run"
    if key in cfg.SYSCTL:
        return "sysctl"
    if key in KERNEL_KCONFIG:
        raise KmmConfigError(f"{key}: is set by the kernel choice; vary the key 'kernel' "
                             f"({', '.join(exp.KERNEL_CHOICES)}) instead")
    if key in cfg.KCONFIG:
        return "kconfig"
    if key.startswith(CPU_PREFIX) and (key[len(CPU_PREFIX):] in cfg.CPU
                                       or key[len(CPU_PREFIX):] in cfg.CPU_PERF_OPTIONS):
        return "cpu"
    raise KmmConfigError(f"unknown key {key!r}; accepted: {accepted_keys()}")


# -- values ----------------------------------------------------------------------

def _none(v):
    return v is None or (isinstance(v, str) and v.strip().lower() in ("none", ""))


def size_str(b) -> str:
    """Bytes -> '2G', '512M', '64K' or the byte count."""
    for unit, n in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if b and b % n == 0:
            return f"{b // n}{unit}"
    return str(b)


def _float(key, v, check):
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            pass
    return check(v)


def _ablate(v):
    if _none(v):
        return "none"
    hunks = v.split("+") if isinstance(v, str) else v
    if not isinstance(hunks, (list, tuple)):
        raise KmmConfigError(f"ablate: {v!r}; accepted: none, or hunk ids joined by '+' "
                             f"(a list in a spec file), e.g. mm/memory.c#1+mm/rmap.c#2")
    hunks = [h.strip() if isinstance(h, str) else h for h in hunks]
    if not hunks:
        return "none"
    cfg.check_ablate(hunks, {"CONFIG_MIGRC": True})
    if len(set(hunks)) != len(hunks):
        raise KmmConfigError(f"ablate: {v!r} names a hunk twice")
    order = list(cfg.ABLATABLE)
    return "+".join(sorted(hunks, key=order.index))


def _tier_ratio(v):
    if isinstance(v, int) and not isinstance(v, bool):
        raise KmmConfigError(f"tier_ratio: {v!r}; accepted: '1:N', e.g. '1:4' (in a YAML file "
                             f"quote it: unquoted, YAML 1.1 reads 1:4 as the base-60 number 64)")
    return f"1:{exp.parse_tier_ratio(v)}"


def _cpu_value(key, v):
    name = key[len(CPU_PREFIX):]
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v)
    return cfg.check_cpu({name: v})[name]


CONVERT = {
    "scale": lambda v: _float("scale", v, exp.check_scale),
    "workload": lambda v: exp._parse_workload(v) and v,
    "particles": lambda v: None if _none(v) else cfg._int("particles", v, 1, 2**31 - 1),
    "lookups": lambda v: None if _none(v) else cfg._int("lookups", v, 1, 2**31 - 1),
    "size": lambda v: None if _none(v) else _choice("size", v, ("small", "large")),
    "threads": lambda v: None if _none(v) else cfg._int("threads", v, 1, exp.MAX_CPUS),
    "duration": lambda v: None if _none(v) else _float("duration", v, exp.check_duration),
    "cost": lambda v: _cost(v),
    "cmdline": lambda v: "" if _none(v) else cfg.check_cmdline(v)["text"],
    "node0_mem": lambda v: size_str(cfg.parse_size(v, "node0_mem")),
    "node1_mem": lambda v: size_str(cfg.parse_size(v, "node1_mem")),
    "cpus": lambda v: cfg._int("cpus", v, 1, exp.MAX_CPUS),
    "tier_ratio": lambda v: None if _none(v) else _tier_ratio(v),
    "ablate": _ablate,
    "seed": lambda v: cfg._int("seed", v, 0, 2**64 - 1),
}


def _cost(v):
    if not isinstance(v, str):
        raise KmmConfigError(f"cost: {v!r}; accepted: a preset name ({', '.join(_cost_presets())})")
    exp.check_cost(v)
    return v


def _cost_presets():
    from kmm.emu.hw.costs import PRESETS
    return list(PRESETS)


def _choice(key, v, choices):
    if v not in choices:
        raise KmmConfigError(f"{key}: {v!r}; accepted: {', '.join(choices)}")
    return v


def check_value(key, v):
    """The canonical value of `key` (a string from the command line or a
    value from a spec file), or KmmConfigError naming the key."""
    kind = key_kind(key)
    try:
        if kind == "sysctl":
            out = cfg.check_sysctl_value(key, v)
            return list(out) if isinstance(out, tuple) else out
        if kind == "kconfig":
            return cfg._bool(key, v)
        if kind == "cpu":
            return _cpu_value(key, v)
        if key == "kernel":
            return _choice("kernel", v, exp.KERNEL_CHOICES)
        return CONVERT[key](v)
    except KmmConfigError as e:
        msg = str(e)
        if not (msg.startswith(key + ":") or msg.startswith(key + "[")):
            msg = f"{key}: {msg}"
        raise KmmConfigError(msg) from None
    except (TypeError, AttributeError, ValueError):
        raise KmmConfigError(f"{key}: {v!r} is not accepted ({OPTION_KEYS.get(key, '')})") from None


# -- the spec --------------------------------------------------------------------

def load_spec_file(path) -> dict:
    """A spec file (.yaml/.yml or .toml) -> its dict."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise KmmConfigError(f"spec: {str(path)!r}; accepted: a .yaml, .yml or .toml file")
    try:
        text = p.read_text()
    except OSError as e:
        raise KmmConfigError(f"spec: cannot read {str(path)!r}: {e.strerror or e}") from None
    try:
        if suffix == ".toml":
            import tomllib
            doc = tomllib.loads(text)
        else:
            try:
                import yaml
            except ImportError:
                raise KmmConfigError("spec: reading a .yaml spec needs PyYAML: pip install "
                                     "'kmm[sweep]' (or give a .toml spec)") from None
            doc = yaml.safe_load(text)
    except KmmConfigError:
        raise
    except Exception as e:                      # the parser's own message says where
        raise KmmConfigError(f"spec: {str(path)!r} does not parse: {e}") from None
    return {} if doc is None else doc


def parse_vary(text):
    """'KEY=V1,V2,...' -> (KEY, [V1, V2, ...]) (strings)."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise KmmConfigError(f"vary: {text!r} is not KEY=V1,V2,...")
    return key.strip(), [v.strip() for v in values.split(",")]


def parse_set(text):
    """'KEY=VALUE' -> (KEY, VALUE)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise KmmConfigError(f"set: {text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def _section(doc, name, kind):
    v = doc.get(name)
    if v is None:
        return kind()
    if not isinstance(v, kind):
        raise KmmConfigError(f"{name}: expected a {'mapping of keys to values' if kind is dict else 'list of mappings'}, "
                             f"got {v!r}")
    return v


def parse_spec(spec=None, vary=(), set_=(), seeds=None) -> dict:
    """The checked, expanded study: {"configs": [full configuration, ...]
    (the spec's order), "kernels": (baseline first), "seeds", "varied":
    [keys whose value differs between configurations], "base": the fixed
    values given}.  `spec` is a dict (base/grid/points), a file path, or
    None; `vary` [(key, [values])] and `set_` [(key, value)] come from the
    command line and win over the file's grid and base; `seeds` N runs
    seeds S..S+N-1 (S: the base's seed, default 0).  Nothing runs here; a
    bad spec raises KmmConfigError."""
    if spec is not None and not isinstance(spec, (dict, str, os.PathLike)):
        raise KmmConfigError(f"spec: {spec!r}; expected a dict (base/grid/points) or the path "
                             f"of a .yaml, .yml or .toml file")
    doc = spec if isinstance(spec, dict) else load_spec_file(spec) if spec is not None else {}
    if not isinstance(doc, dict):
        raise KmmConfigError(f"spec: expected a mapping with {', '.join(SPEC_SECTIONS)}, got {doc!r}")
    unknown = [k for k in doc if k not in SPEC_SECTIONS]
    if unknown:
        raise KmmConfigError(f"spec: unknown section {unknown[0]!r}; accepted: {', '.join(SPEC_SECTIONS)} "
                             f"(keys go under base: or grid:)")
    base = dict(_section(doc, "base", dict))
    grid = dict(_section(doc, "grid", dict))
    points = list(_section(doc, "points", list))
    for key, value in set_:
        base[key] = value
    for key, values in vary:
        grid[key] = values
    # check every key, and every value, in the order given
    base = {k: _check_base(k, v) for k, v in base.items()}
    grid = {k: _check_grid(k, v) for k, v in grid.items()}
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise KmmConfigError(f"points[{i}]: expected a mapping of keys to values, got {p!r}")
        for k in p:
            if key_kind(k) == "run":
                raise KmmConfigError(f"points[{i}]: {k}: applies to every configuration; give it "
                                     f"under base: or grid: (or --vary)")
            if k in grid:
                raise KmmConfigError(f"points[{i}]: {k}: is also a grid key; give it in one place")
        points[i] = {k: check_value(k, v) for k, v in p.items()}

    kernels = _kernels(base.pop("kernel", None), grid.pop("kernel", None))
    seed_list = _seeds(base.pop("seed", None), grid.pop("seed", None), seeds)
    configs, raws, seen = [], [], set()
    keys = list(grid)
    for p in points or [{}]:
        for combo in itertools.product(*(grid[k] for k in keys)):
            raw = dict(base)
            raw.update(zip(keys, combo))
            raw.update(p)
            c = configuration(raw, kernels)
            j = _json(c)
            if j not in seen:
                seen.add(j)
                configs.append(c)
                raws.append(raw)
    # the keys given different values (not those that follow from them,
    # such as node0_mem from tier_ratio), in column order
    given = {k for r in raws for k in r if len({_json(x.get(k)) for x in raws}) > 1}
    varied = [k for k in configs[0] if k in given]
    return {"configs": configs, "kernels": kernels, "seeds": seed_list, "varied": varied,
            "base": base}


def _check_base(key, v):
    if isinstance(v, list) and key not in ("kernel", "ablate", "vm.lowmem_reserve_ratio"):
        raise KmmConfigError(f"{key}: base takes one value, got the list {v!r}; give several "
                             f"under grid: (or --vary)")
    if key == "kernel":
        vs = v if isinstance(v, list) else [v]
        return [check_value(key, x) for x in vs]
    return check_value(key, v)


def _check_grid(key, values):
    if not isinstance(values, list):
        values = [values]
    if not values:
        raise KmmConfigError(f"{key}: no values given")
    out = [check_value(key, v) for v in values]
    js = [_json(v) for v in out]
    for i, j in enumerate(js):
        if j in js[:i]:
            raise KmmConfigError(f"{key}: {values[i]!r} is given twice")
    return out


def _kernels(base, grid):
    names = list(base or []) + list(grid or [])
    if not names:
        return exp.DEFAULT_KERNELS
    wanted = {"baseline"}
    for n in names:
        wanted.update(exp.KERNELS if n == "all" else [n])
    return exp.check_kernels(sorted(wanted))          # baseline first


def _seeds(base, grid, n):
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_SEEDS:
            raise KmmConfigError(f"seeds: {n!r}; accepted: 1..{MAX_SEEDS}")
        if grid is not None:
            raise KmmConfigError("seeds: the seeds are also given as a grid of 'seed'; give one")
        start = 0 if base is None else base
        return tuple(range(start, start + n))
    if grid is not None:
        return tuple(grid)
    return (0 if base is None else base,)


def _json(v) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def configuration(raw: dict, kernels=exp.DEFAULT_KERNELS) -> dict:
    """The full configuration from checked values `raw` (check_value()):
    every option filled with its default, the topology resolved (tier_ratio
    into node sizes), the workload's options after its defaults, then the
    sysctls, kconfig and CPU options given, by name.  Builds each kernel's
    machine arguments and the workload parameters on paper, so a
    configuration that cannot run is refused here."""
    scale = raw.get("scale", exp.DEFAULT_SCALE)
    nodes = exp.check_topology(raw.get("node0_mem"), raw.get("node1_mem"), raw.get("cpus"),
                               raw.get("tier_ratio"), scale)
    wp = exp.workload_params(raw.get("workload", "xsbench"), scale, raw.get("particles"),
                             raw.get("lookups"), raw.get("size"), raw.get("threads"), 0,
                             nodes[0][0])
    c = {
        "tier_ratio": raw.get("tier_ratio"),
        "node0_mem": size_str(nodes[0][1]),
        "node1_mem": size_str(nodes[1][1]),
        "cpus": nodes[0][0],
        "scale": float(scale),
        "workload": raw.get("workload", "xsbench"),
        "particles": wp.get("particles"),
        "lookups": wp.get("lookups"),
        "size": wp.get("size"),
        "threads": wp.get("threads"),
        "duration": raw.get("duration"),
        "cost": raw.get("cost", exp.DEFAULT_COST),
        "cmdline": raw.get("cmdline", ""),
        "ablate": raw.get("ablate", "none"),
    }
    for k in sorted(k for k in raw if k not in c):
        c[k] = raw[k]
    kw = experiment_kwargs(c)
    exp.check_kernels_ablate(kernels, kw["ablate"])
    for k in kernels:
        exp.machine_args(scale, kw["sysctl"], exp.kernel_kconfig(k, kw["kconfig"]), 0, kw["cost"],
                         kw["cmdline"], kw["cpu"], nodes, exp.kernel_ablate(k, kw["ablate"]))
    if wp["kind"] == "trace":
        exp.make_workload(wp)                   # read the trace now: a malformed one is refused
    return c


def experiment_kwargs(config: dict) -> dict:
    """run_seed_experiment()'s keyword arguments (all but kernels, seed,
    jobs) for a full configuration."""
    kinds = {k: key_kind(k) for k in config}
    return {
        "scale": config["scale"], "workload": config["workload"],
        "particles": config["particles"], "lookups": config["lookups"], "size": config["size"],
        "threads": config["threads"], "duration": config["duration"], "cost": config["cost"],
        "cmdline": config["cmdline"] or None,
        "node0_mem": config["node0_mem"], "node1_mem": config["node1_mem"], "cpus": config["cpus"],
        "ablate": [] if config["ablate"] == "none" else config["ablate"].split("+"),
        "sysctl": {k: v for k, v in config.items() if kinds[k] == "sysctl"},
        "kconfig": {k: v for k, v in config.items() if kinds[k] == "kconfig"},
        "cpu": {k[len(CPU_PREFIX):]: v for k, v in config.items() if kinds[k] == "cpu"},
    }


def effective(config: dict, kernel: str) -> dict:
    """The configuration `kernel` runs: the baseline never has hunks
    ablated, so configurations that differ only in `ablate` share its run."""
    return dict(config, ablate="none") if not exp.KERNELS[kernel]["CONFIG_MIGRC"] else config


def run_key(config: dict, kernel: str, seed: int) -> str:
    """A run's identity: the JSON of its full (effective) configuration,
    kernel and seed, sorted keys."""
    return _json({"config": effective(config, kernel), "kernel": kernel, "seed": seed})


def plan(study: dict) -> list:
    """[(key, config, kernel, seed)] of every run, in the table's order
    (configurations, then seeds, then kernels), each run once."""
    out, seen = [], set()
    for c in study["configs"]:
        for s in study["seeds"]:
            for k in study["kernels"]:
                key = run_key(c, k, s)
                if key not in seen:
                    seen.add(key)
                    out.append((key, effective(c, k), k, s))
    return out


# -- one run -----------------------------------------------------------------------

def measurements(result: dict, kernel: str) -> dict:
    """One kernel's run as a flat row: every perf event and /proc/vmstat
    counter, virtual time, work done, the oracle's violations, migrc's
    statistics, the kernel's share of CPU time, then the wall times."""
    run = result["runs"][kernel]
    row = {"virtual_s": run["virtual_s"], "finished": run["finished"],
           "done_fraction": run["done_fraction"], "oracle_violations": run["oracle_violations"]}
    for e, v in run["perf_all"].items():
        row[e] = v if isinstance(v, (int, float)) else None
    after = run.get("perf_after_init") or {}
    row[exp.STORES_AFTER_INIT] = after.get("dTLB-store-misses")
    row.update(run["vmstat_all"])
    for k, v in (run.get("migrc") or {}).items():
        row[f"migrc.{k}"] = v
    # the report's warnings, per run: the mechanism never acted, or
    # promotion stopped behind migrc's pending pages (run_seed_experiment)
    row["not_engaged"] = any(line.startswith(f"{kernel}:") for line in result.get("engagement", []))
    row["stalled"] = any(line.startswith(f"{kernel}:") for line in result.get("stalls", []))
    ct = run.get("cpu_time") or {}
    row["kernel_share"] = ct.get("kernel_share")
    row["kswapd_share"] = ct.get("kswapd_share")
    row["kmm_source"] = result["source"]     # where it ran: kmm.source_fingerprint()
    row["wall_s"] = run["wall_s"]
    row["cpu_s"] = run["cpu_s"]
    row["kernel_wall_s"] = run["kernel_wall_s"]
    return json.loads(json.dumps(row))         # as read back from runs.jsonl


def check_source(row_source, where):
    """Runs of different kmm sources do not mix: KmmConfigError unless
    `row_source` is this process's kmm.source_fingerprint()."""
    import kmm
    mine = kmm.source_fingerprint()
    if row_source != mine:
        what = "unknown sources (an older kmm)" if row_source is None else \
            f"kmm sources {row_source} (kmm.source_fingerprint())"
        raise KmmConfigError(f"{where} {what}; this process runs {mine}: results of different "
                             f"code would mix")


def run_one(kwargs: dict, kernel: str, seed: int) -> dict:
    """The task: one kernel's run -> measurements()."""
    result = exp.run_seed_experiment(kernels=(kernel,), seed=seed, jobs=1, **kwargs)
    return measurements(result, kernel)


def run_full(kwargs: dict, seed: int) -> dict:
    """The task of `kmm run --seeds`' first seed: the whole result."""
    return exp.run_seed_experiment(seed=seed, jobs=1, **kwargs)


def _counter(row, c):
    return row.get("virtual_s") if c == exp.ELAPSED else row.get(c)


# -- statistics ----------------------------------------------------------------------

def t_quantile(p, df):
    from scipy.stats import t
    return float(t.ppf(p, df))


def mean_ci(values, level=LEVEL) -> dict:
    """{"mean", "ci95_low", "ci95_high", "half", "n"} of a sample: Student's
    t interval, mean +- t_{(1+level)/2, n-1} * s / sqrt(n); with n = 1 the
    interval is undefined (None), with n = 0 the mean too."""
    vals = [v for v in values if v is not None]
    n = len(vals)
    if n == 0:
        return {"mean": None, "ci95_low": None, "ci95_high": None, "half": None, "n": 0}
    mean = math.fsum(vals) / n
    if n == 1:
        return {"mean": mean, "ci95_low": None, "ci95_high": None, "half": None, "n": 1}
    half = t_quantile((1 + level) / 2, n - 1) * statistics.stdev(vals) / math.sqrt(n)
    return {"mean": mean, "ci95_low": mean - half, "ci95_high": mean + half, "half": half, "n": n}


def per_seed_ratios(pairs) -> dict:
    """{counter: [AFTER/BEFORE per seed]} from [(after row, before row)]
    (measurements()), in the order given; None where a ratio is undefined."""
    out = {}
    for c in SUMMARY_COUNTERS:
        if c == exp.TIME_PER_WORK:
            out[c] = [exp.ratio(a["virtual_s"] * b["done_fraction"], b["virtual_s"] * a["done_fraction"])
                      for a, b in pairs]
        else:
            out[c] = [exp.ratio(_counter(a, c), _counter(b, c)) for a, b in pairs]
    return out


def ratio_stats(pairs) -> dict:
    """{counter: mean_ci(per-seed ratios) plus "values"}."""
    return {c: dict(mean_ci(v), values=v) for c, v in per_seed_ratios(pairs).items()}


def config_ratios(study: dict, rows: dict) -> list:
    """Per configuration (spec order): {kernel: ratio_stats()} for each
    non-baseline kernel.  `rows` maps run keys to measurements()."""
    out = []
    for c in study["configs"]:
        out.append({k: ratio_stats([(rows[run_key(c, k, s)], rows[run_key(c, "baseline", s)])
                                    for s in study["seeds"]])
                    for k in study["kernels"] if k != "baseline"})
    return out


def summarize(study: dict, ratios: list) -> list:
    """The summary rows (tidy: one per configuration, non-baseline kernel
    and counter): the configuration, kernel, counter, the AFTER/BEFORE
    ratio's mean over the seeds, its 95% interval and n (the seeds where
    the ratio is defined).  `ratios`: config_ratios()."""
    out = []
    for c, per_kernel in zip(study["configs"], ratios):
        for k, stats in per_kernel.items():
            for counter, st in stats.items():
                out.append(dict(c, kernel=k, counter=counter, mean=st["mean"], ci95_low=st["ci95_low"],
                                ci95_high=st["ci95_high"], n=st["n"]))
    return out


# -- execution -------------------------------------------------------------------------

def check_available(serial=False):
    """KmmConfigError with the install hint when Dask or scipy is missing
    (the `sweep` extra)."""
    missing = []
    for mod in (() if serial else ("distributed",)) + ("scipy.stats",):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod.split(".")[0])
    if missing:
        raise KmmConfigError(f"{' and '.join(missing)} not installed; install the sweep extra: "
                             f"pip install 'kmm[sweep]' (Dask, scipy, PyYAML)")


def default_workers() -> int:
    return exp.default_jobs(MAX_WORKERS)


def check_workers(workers, scheduler=None):
    if scheduler is not None:
        if workers is not None:
            raise KmmConfigError("workers: applies to the local cluster; with a scheduler address "
                                 "the cluster's own workers run the tasks")
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise KmmConfigError(f"scheduler: {scheduler!r}; expected an address such as "
                                 f"tcp://10.0.0.5:8786")
        return None
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise KmmConfigError(f"workers: {workers!r}; accepted: 1..{MAX_WORKERS}")
    return workers


def execute(calls, on_result, workers=None, scheduler=None, serial=False) -> dict:
    """Run `calls` [(tag, function, args)] and call on_result(tag, value)
    as each finishes (in this process, in completion order).  serial: one
    after the other here; else on Dask: a LocalCluster of `workers`
    single-threaded worker processes, or the cluster at `scheduler`.  The
    first failure is raised after the cluster is shut down (the results
    already reported stay reported).  Returns {"workers", "cluster"}."""
    if serial:
        for tag, fn, args in calls:
            on_result(tag, fn(*args))
        return {"workers": 1, "cluster": "serial (this process)"}
    import logging
    from dask.distributed import Client, LocalCluster
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as e:
            raise KmmConfigError(f"scheduler: cannot connect to {scheduler!r}: {e}") from None
    try:
        check_workers_source(client, scheduler or "the local cluster")
        n = len(client.scheduler_info(n_workers=-1)["workers"])
        if cluster is not None:
            info = {"workers": workers, "cluster": f"LocalCluster ({workers} processes x 1 thread)"}
        else:
            info = {"workers": n, "cluster": f"scheduler {scheduler} ({n} worker{'s' * (n != 1)})"}
        futures = {client.submit(fn, *args, pure=False): tag for tag, fn, args in calls}
        try:
            _collect(client, futures, on_result)
        finally:
            client.cancel(list(futures))
        return info
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_workers_source(client, where):
    """Before any task: every worker must run this process's kmm sources.
    The probe is defined here, so Dask ships it by value: it runs on a
    worker whatever kmm that worker has (a worker without this module would
    otherwise die unpickling the first task, and the sweep wait for good).
    No worker connected is refused too."""
    import kmm

    def probe():
        try:
            import kmm as k
        except ImportError:
            return "no kmm"
        f = getattr(k, "source_fingerprint", None)
        return f() if f is not None else "unknown sources (an older kmm)"
    found = client.run(probe)
    if not found:
        raise KmmConfigError(f"scheduler: {where} has no worker; start workers first "
                             f"(dask worker ADDRESS --nthreads 1)")
    mine = kmm.source_fingerprint()
    for worker, src in sorted(found.items()):
        if src != mine:
            raise KmmConfigError(f"workers: worker {worker} runs {src if ' ' in src else 'kmm sources ' + src}"
                                 f"; this process runs {mine}: install the same kmm on every worker")


def _collect(client, futures, on_result):
    """on_result(tag, value) for each future as it finishes; gives up
    (KmmConfigError) once no worker has been connected for
    NO_WORKERS_TIMEOUT_S (every worker died or left), instead of waiting
    for good.  A task's own exception is raised as it is."""
    from dask.distributed import wait
    pending = set(futures)
    alone_since = None
    while pending:
        try:
            done, pending = wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = ()
        for f in done:
            on_result(futures[f], f.result())
        if done or client.scheduler_info(n_workers=-1)["workers"]:
            alone_since = None
        elif alone_since is None:
            alone_since = time.monotonic()
        elif time.monotonic() - alone_since > NO_WORKERS_TIMEOUT_S:
            raise KmmConfigError(f"scheduler: no worker for {NO_WORKERS_TIMEOUT_S:.0f} s with "
                                 f"{len(pending)} run(s) left (the workers died or left); runs "
                                 f"already written to --out's runs.jsonl are kept: rerun to resume")


def read_rows(path) -> dict:
    """{run_key: row} from a runs.jsonl; an unfinished last line (a run
    cut short while writing) is dropped from the file."""
    rows = {}
    p = Path(path)
    if not p.exists():
        return rows
    data = p.read_bytes()
    good = 0
    for line in data.splitlines(keepends=True):
        try:
            row = json.loads(line)
            rows[row["run_key"]] = row
        except (ValueError, KeyError, TypeError):
            if line.endswith(b"\n"):
                lineno = data[:good].count(b"\n") + 1
                raise KmmConfigError(f"out: {str(p)!r} line {lineno} is not a run of kmm sweep; "
                                     f"move the file away") from None
            break                              # a cut-off last line: rerun that run
        good += len(line)
    if good < len(data):
        with open(p, "r+b") as f:
            f.truncate(good)
    return rows


class _Out:
    """The output directory's files."""

    def __init__(self, out):
        self.dir = Path(out)
        self.jsonl = self.dir / "runs.jsonl"
        self.csv = self.dir / "runs.csv"
        self.summary = self.dir / "summary.csv"


def check_out(out):
    """Create the output directory if needed (its parent must exist) and
    check that each output file can be written."""
    if out is None:
        return None
    if not isinstance(out, (str, os.PathLike)) or not str(out):
        raise KmmConfigError(f"out: {out!r}; expected a directory path")
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise KmmConfigError(f"out: {str(d)!r} is a file; give a directory")
    if not d.exists():
        try:
            d.mkdir()
        except OSError as e:
            raise KmmConfigError(f"out: cannot create {str(d)!r}: {e.strerror or e}") from None
    o = _Out(d)
    for p in (o.jsonl, o.csv, o.summary):
        why = cfg.check_output_path(str(p))
        if why:
            raise KmmConfigError(f"out: {why}")
    return o


def sweep(study, out=None, workers=None, scheduler=None, serial=False, progress=None) -> dict:
    """Run a study (parse_spec()'s dict, or a spec for it) and return
    {"runs": rows in the table's order, "summary": summarize(), "ratios":
    config_ratios() (aligned with "configs"), "configs",
    "kernels", "seeds", "varied", "ran": runs executed now, "reused": runs
    read from OUT/runs.jsonl, "workers", "cluster", "wall_s"}.  With `out`,
    rows stream into OUT/runs.jsonl and the tables go to OUT/runs.csv and
    OUT/summary.csv.  `progress`, if given, has start(total, done),
    advance(row) and finish()."""
    if not isinstance(study, dict) or "configs" not in study:
        study = parse_spec(study)
    check_available(serial)
    workers = check_workers(workers, scheduler) if not serial else 1
    o = check_out(out)
    todo = plan(study)
    rows = read_rows(o.jsonl) if o is not None else {}
    for row in rows.values():
        check_source(row.get("kmm_source"), f"out: {str(o.jsonl)!r} holds runs of")
    wanted = {key for key, *_ in todo}
    reused = sum(1 for key in rows if key in wanted)
    pending = [(key, c, k, s) for key, c, k, s in todo if key not in rows]
    calls = [((key, c, k, s), run_one, (experiment_kwargs(c), k, s)) for key, c, k, s in pending]
    wall0 = time.perf_counter()
    jf = open(o.jsonl, "a") if o is not None else None

    def on_result(tag, meas):
        key, c, k, s = tag
        check_source(meas.get("kmm_source"), "workers: a worker runs")
        row = dict(c, kernel=k, seed=s, **meas, run_key=key)
        rows[key] = row
        if jf is not None:
            jf.write(json.dumps(row) + "\n")
            jf.flush()
        if progress is not None:
            progress.advance(row)
    if progress is not None:
        progress.start(len(todo), reused)
    try:
        info = execute(calls, on_result, workers, scheduler, serial) if calls else \
            {"workers": workers, "cluster": "none needed (every run was in the output)"}
    finally:
        if jf is not None:
            jf.close()
        if progress is not None:
            progress.finish()
    table = [rows[key] for key, *_ in todo]
    ratios = config_ratios(study, rows)
    summary = summarize(study, ratios)
    result = {"runs": table, "summary": summary, "ratios": ratios, "configs": study["configs"],
              "base": study["base"],
              "kernels": list(study["kernels"]), "seeds": list(study["seeds"]),
              "varied": study["varied"], "ran": len(calls), "reused": reused,
              "workers": info["workers"], "cluster": info["cluster"],
              "wall_s": time.perf_counter() - wall0,
              "foreign": sum(1 for key in rows if key not in wanted)}
    if o is not None:
        write_csv(o.csv, [{k: v for k, v in r.items() if k != "run_key"} for r in table])
        write_csv(o.summary, summary)
        result["files"] = [str(o.jsonl), str(o.csv), str(o.summary)]
    return result


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


def write_csv(path, rows):
    """Rows (dicts) as CSV; the columns in the order they first appear."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([_cell(r.get(c)) for c in cols])


def expected_wall_s(study, pending_keys=None, workers=1):
    """The expected wall seconds of the study's runs (all, or those in
    `pending_keys`) on `workers` workers, from the wall-time model of
    kmm/experiments/seed.py (XSBench only; None otherwise)."""
    total = 0.0
    for key, c, k, s in plan(study):
        if pending_keys is not None and key not in pending_keys:
            continue
        kw = experiment_kwargs(c)
        wp = exp.workload_params(kw["workload"], kw["scale"], kw["particles"], kw["lookups"],
                                 kw["size"], kw["threads"], s, kw["cpus"])
        one = exp.expected_run_wall_s((k,), 1, wp, kw["duration"])
        if one is None:
            return None
        total += one
    return total / max(1, workers)


# -- kmm run --seeds N -------------------------------------------------------------------

def run_seeds(kwargs: dict, seeds, workers=None, scheduler=None, serial=False, progress=None) -> dict:
    """run_seed_experiment(**kwargs) for each seed of `seeds` (one Dask task
    per kernel and seed; the first seed's kernels in one task that returns
    the whole result) -> the first seed's result, with
    "ratios_across_seeds" {kernel: {counter: mean_ci() + values}} and
    "across_seeds" {"seeds", "level", "workers", "cluster", "wall_s", and per
    kernel the seeds whose run "stalled" or was "not_engaged"}."""
    kwargs = dict(kwargs)
    kernels = exp.check_kernels(kwargs.pop("kernels", exp.DEFAULT_KERNELS))
    kwargs.pop("jobs", None)
    kwargs.pop("seed", None)
    seeds = list(seeds)
    check_available(serial)
    workers = check_workers(workers, scheduler) if not serial else 1
    calls = [(("full", seeds[0], None), run_full, (dict(kwargs, kernels=kernels), seeds[0]))]
    calls += [(("run", s, k), run_one, (kwargs, k, s)) for s in seeds[1:] for k in kernels]
    per_seed = {s: {} for s in seeds}
    full = {}
    wall0 = time.perf_counter()

    def on_result(tag, value):
        what, s, k = tag
        check_source(value.get("source") if what == "full" else value.get("kmm_source"),
                     "workers: a worker runs")
        if what == "full":
            full["result"] = value
            for k in kernels:
                per_seed[s][k] = measurements(value, k)
                if progress is not None:
                    progress.advance(dict(kernel=k, seed=s, **per_seed[s][k]))
        else:
            per_seed[s][k] = value
            if progress is not None:
                progress.advance(dict(kernel=k, seed=s, **value))
    if progress is not None:
        progress.start(len(seeds) * len(kernels), 0)
    try:
        info = execute(calls, on_result, workers, scheduler, serial)
    finally:
        if progress is not None:
            progress.finish()
    result = full["result"]
    across = {}
    if "baseline" in kernels:
        for k in kernels:
            if k != "baseline":
                across[k] = ratio_stats([(per_seed[s][k], per_seed[s]["baseline"]) for s in seeds])
    result["ratios_across_seeds"] = across
    result["across_seeds"] = {
        "seeds": seeds, "level": LEVEL, "workers": info["workers"], "cluster": info["cluster"],
        "wall_s": time.perf_counter() - wall0,
        # the report's warnings, per kernel: the seeds whose run stalled or never engaged
        "stalled": {k: [s for s in seeds if per_seed[s][k]["stalled"]] for k in kernels},
        "not_engaged": {k: [s for s in seeds if per_seed[s][k]["not_engaged"]] for k in kernels}}
    return result


# -- progress ---------------------------------------------------------------------------

def run_label(row) -> str:
    return f"{row['kernel']} seed {row['seed']}"


class LineProgress:
    """One line per finished run on a stream (stderr by default): when
    there is no terminal for a progress bar."""

    def __init__(self, stream=None, label=run_label):
        self.stream = stream or sys.stderr
        self.label = label

    def start(self, total, done):
        self.total, self.done, self.t0 = total, done, time.perf_counter()

    def advance(self, row):
        self.done += 1
        print(f"kmm: run {self.done}/{self.total} done: {self.label(row)} "
              f"({row.get('wall_s', 0):.1f} s wall; {time.perf_counter() - self.t0:.0f} s in all)",
              file=self.stream, flush=True)

    def finish(self):
        pass
