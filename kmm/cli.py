"""The kmm command line: `kmm run` (the seed experiment: BEFORE/AFTER on the
emulated seed machine), `kmm sweep` (the same over a grid of configurations
and seeds, on Dask: docs/sweep.md), `kmm info` (build facts), `kmm study
PATCH [--html OUT]` (each hunk of a patch next to its mirror), `kmm hazards
[--json PATH]` (the hazard catalogue, docs/hazards.md) and `kmm help
[COMMAND]`.  The CLI only parses and calls: the experiment is
kmm/experiments/seed.py, the printing kmm/report/.  Every option is checked
before anything runs (output paths included); a bad one exits 2 naming it."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pathlib
import sys

import kmm
from kmm.emu import config as cfg
import kmm.emu.hw.costs


def pyx_modules() -> list[str]:
    root = pathlib.Path(kmm.__file__).resolve().parent
    return sorted(
        ".".join(("kmm",) + p.relative_to(root).with_suffix("").parts)
        for p in root.rglob("*.pyx")
    )


def build_facts() -> dict:
    from kmm.emu.machine import SIZEOF_STRUCT_PAGE, Machine

    modules = {}
    for name in pyx_modules():
        try:
            mod = importlib.import_module(name)
            f = getattr(mod, "__file__", "") or ""
            modules[name] = {"compiled": f.endswith((".so", ".pyd")), "file": f}
        except ImportError as e:  # a missing extension is a fact to report
            modules[name] = {"compiled": False, "error": str(e)}
    from kmm.experiments import seed as exp
    seed = Machine.preset("seed")
    default_cpu = Machine(nodes=[{"cpus": 1, "mem": "64M"}])
    return {
        "version": kmm.__version__,
        "source_fingerprint": kmm.source_fingerprint(),
        "modules": modules,
        "all_compiled": all(m["compiled"] for m in modules.values()),
        "sizeof_struct_page": SIZEOF_STRUCT_PAGE,
        "kconfig_defaults": {k: v[0] for k, v in cfg.KCONFIG.items()},
        "sysctl_defaults": {k: (list(v[3]) if isinstance(v[3], tuple) else v[3]) if v[3] is not None else "derived"
                            for k, v in cfg.SYSCTL.items()},
        "cpu_defaults": dict({k: v[2] for k, v in cfg.CPU.items()},
                             **{k: v[1] for k, v in cfg.CPU_PERF_OPTIONS.items()}),
        "pti": {"default_cpu": default_cpu.pti, "seed_preset": seed.pti},
        "swap_migration_ad_supported": {
            "default_cpu": default_cpu.swap_migration_ad_supported,
            "seed_preset": seed.swap_migration_ad_supported,
        },
        "swap_cluster_max": {"kernel": cfg.SWAP_CLUSTER_MAX,
                             "kmm_run_default_scale": exp.scaled_swap_cluster_max(exp.DEFAULT_SCALE)},
        "seed_preset": {
            "nodes": [{"cpus": n.cpus, "mem_bytes": n.mem_bytes} for n in seed.node_specs],
            "cpu": seed.cpu,
            "sysctl": seed.sysctl,
        },
    }


def cmd_info(args) -> int:
    facts = build_facts()
    if args.json:
        json.dump(facts, sys.stdout, indent=2, default=list)
        print()
        return 0 if facts["all_compiled"] else 1
    print(f"kmm {facts['version']} (sources {facts['source_fingerprint']})")
    print(f"sizeof(struct page) = {facts['sizeof_struct_page']} bytes")
    print("modules:")
    for name, m in facts["modules"].items():
        print(f"  {'compiled' if m['compiled'] else 'NOT COMPILED':12} {name}")
    print("kconfig defaults:")
    for k, v in facts["kconfig_defaults"].items():
        print(f"  {k}={'y' if v else 'n'}")
    print("sysctl defaults:")
    for k, v in facts["sysctl_defaults"].items():
        print(f"  {k} = {v}")
    ad = facts["swap_migration_ad_supported"]
    print(f"swap_migration_ad_supported: default CPU {ad['default_cpu']}, seed preset {ad['seed_preset']}"
          " (seed: L1TF guest with 40 physical address bits)")
    scm = facts["swap_cluster_max"]
    print(f"SWAP_CLUSTER_MAX (reclaim's batch): {scm['kernel']} pages, Machine(swap_cluster_max=N); "
          f"kmm run's scaling rule gives {scm['kernel']} x scale ({scm['kmm_run_default_scale']} at the default "
          f"scale; docs/run.md)")
    pti = facts["pti"]
    print(f"page-table isolation at boot: default CPU {'on' if pti['default_cpu'] else 'off'}, seed "
          f"preset {'on' if pti['seed_preset'] else 'off'} (seed: Meltdown, implied by L1TF; "
          f"Machine(cmdline='nopti') or kmm run --cmdline nopti turns it off)")
    return 0 if facts["all_compiled"] else 1


# -- kmm run -------------------------------------------------------------------

RUN_DESCRIPTION = """\
Run the seed experiment (migrc v4 2/3): XSBench large on the emulated seed
machine (16 CPUs + 1 GiB node 0, CPU-less 8 GiB node 1, NUMA balancing in
tiering mode, demotion on), once with the baseline kernel (BEFORE) and once
with CONFIG_MIGRC (AFTER), same seed.  Prints each run's `perf stat -a` and
/proc/vmstat blocks in the seed's format and a table of AFTER/BEFORE next to
the seed's published ratios.  --scale scales both nodes' memory, XSBench's
grid points and the NUMA scan size; --particles sets the run's length
(--particles 50000000 --scale 1 is the seed's full size).  Counters are
never scaled.  Exit 0 when the runs complete, 2 on a bad option."""


def _int_type(name, lo, hi):
    def conv(s):
        try:
            v = int(s, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not a whole number; accepted: {lo}..{hi}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is out of range; accepted: {lo}..{hi}")
        return v
    conv.__name__ = name
    return conv


def _float_type(name, check):
    def conv(s):
        try:
            v = float(s)
        except ValueError:
            v = s
        try:
            return check(v)
        except kmm.KmmConfigError as e:
            raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1]) from None
    conv.__name__ = name
    return conv


def _key_value(s):
    key, sep, value = s.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{s!r} is not KEY=VALUE")
    return key.strip(), value.strip()

check_output_path = cfg.check_output_path


def check_outputs(parser, *options):
    """Each (option, path) given must take an output file (usage error)."""
    for option, path in options:
        if path is not None:
            why = check_output_path(path)
            if why:
                parser.error(f"argument {option}: {why}")


def write_output(option, path, text):
    """Write an output file after the run; an error names the option."""
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError as e:
        raise cfg.KmmConfigError(f"{option}: cannot write {path!r}: {e.strerror or e}") from None
    print(f"kmm: wrote {path}", file=sys.stderr)


def add_run_parser(sub):
    from kmm.experiments import seed as exp
    p = sub.add_parser("run", help="the seed experiment: BEFORE (baseline) and AFTER (migrc), emulated",
                       description=RUN_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--particles", type=_int_type("particles", 1, 2**31 - 1), metavar="N",
                   help=f"XSBench -p: particles (default {exp.DEFAULT_PARTICLES:,}; the seed: "
                        f"{exp.SEED_PARTICLES:,})")
    p.add_argument("--lookups", type=_int_type("lookups", 1, 2**31 - 1), metavar="N",
                   help="XSBench -l: lookups per particle (default 34)")
    p.add_argument("--size", choices=("small", "large"), help="XSBench -s (default large, the seed's)")
    p.add_argument("--threads", type=_int_type("threads", 1, 16), metavar="N",
                   help="workload threads, 1..16 (default 16; a trace's own count)")
    p.add_argument("--duration", type=_float_type("duration", exp.check_duration), metavar="S",
                   help="stop each run after S virtual seconds (default: run to the end)")
    p.add_argument("--scale", type=_float_type("scale", exp.check_scale), default=exp.DEFAULT_SCALE,
                   metavar="F", help=f"memory, XSBench grid points and NUMA scan size, "
                                     f"{exp.MIN_SCALE:g}..1 (default {exp.DEFAULT_SCALE:g}; 1 = the seed's)")
    p.add_argument("--seed", type=_int_type("seed", 0, 2**64 - 1), default=0, metavar="N",
                   help="machine and workload seed (default 0); the same seed gives the same counters")
    p.add_argument("--kernel", choices=exp.KERNEL_CHOICES, metavar="K",
                   help=f"one of {', '.join(exp.KERNEL_CHOICES)} (all = the three); "
                        f"default: baseline and migrc, the seed's BEFORE and AFTER")
    p.add_argument("--sysctl", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="set a sysctl on every run's machine (repeatable), e.g. "
                        "vm.watermark_scale_factor=200")
    p.add_argument("--kconfig", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="set a kconfig option on every kernel (repeatable), e.g. CONFIG_DEBUG_VM=y; "
                        "CONFIG_MIGRC and CONFIG_MIGRC_PAUSE come from --kernel")
    p.add_argument("--cmdline", default=None, metavar="ARGS",
                   help="the emulated kernel's command line: 'nopti' or 'pti=off' turn off "
                        "page-table isolation (on by default: the seed's CPU has Meltdown), "
                        "'pti=on', 'pti=auto'")
    p.add_argument("--cpu", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="set an option of the emulated CPU model (repeatable), e.g. "
                        "cr3_noflush_counts=all (the flush events' options: docs/tlb.md)")
    p.add_argument("--tier-ratio", metavar="1:N",
                   help="fast:slow memory: node 0 = 8 GiB / N in front of the seed's 8 GiB node 1 "
                        "(full size, scaled by --scale), e.g. 1:4, 1:8 (the seed's), 1:16")
    p.add_argument("--node-mem", type=_key_value, action="append", default=[], metavar="N=SIZE",
                   help="node N's memory at full size (scaled by --scale), N 0 or 1, e.g. 0=2G "
                        "(repeatable; the seed's: 0=1G, 1=8G)")
    p.add_argument("--cpus", type=_int_type("cpus", 1, exp.MAX_CPUS), metavar="N",
                   help=f"node 0's CPUs, 1..{exp.MAX_CPUS} (default 16, the seed's); the "
                        f"workload's threads default to it")
    p.add_argument("--ablate", action="append", type=_ablate_hunk, metavar="HUNK",
                   help="switch this seed-patch hunk off on the CONFIG_MIGRC kernels (the "
                        "baseline stays whole), e.g. mm/memory.c#1 (repeatable)")
    p.add_argument("--workload", default="xsbench", metavar="W",
                   help="xsbench (default), gups, or trace:PATH (a .csv or .npy page trace)")
    p.add_argument("--cost", default=None, metavar="PRESET",
                   help=f"what kernel work costs in virtual time: "
                        f"{', '.join(kmm.emu.hw.costs.PRESETS)} (default {exp.DEFAULT_COST}, the "
                        f"seed's KVM guest; zero = kernel work is free; docs/cost-model.md)")
    p.add_argument("--cost-set", type=_key_value, action="append", default=[], metavar="OP=NS",
                   help="override one operation's cost in ns (repeatable), e.g. copy_page=650")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    p.add_argument("--plot", metavar="PATH", help="write the figure to PATH (.png or .svg; needs matplotlib)")
    p.add_argument("--trace", metavar="PATH",
                   help="write each kernel's tracepoints as ftrace text (trace-cmd report's "
                        "lines) to PATH (PATH.KERNEL.EXT with several kernels; docs/tracing.md)")
    p.add_argument("--perfetto", metavar="PATH",
                   help="write each kernel's timeline as a Perfetto-readable trace (Chrome JSON)")
    p.add_argument("--trace-events", metavar="LIST",
                   help="comma-separated events to trace (default all), e.g. tlb:tlb_flush,"
                        "migrate:mm_migrate_pages")
    p.add_argument("--trace-window", metavar="T0:T1",
                   help="trace only between T0 and T1 virtual seconds")
    p.add_argument("--attribution", action="store_true",
                   help="print the flush attribution table (which kernel path caused each "
                        "nr_tlb_* count) and the /proc/interrupts TLB row per kernel")
    p.add_argument("--jobs", type=_int_type("jobs", 1, exp.MAX_JOBS), metavar="N",
                   help=f"kernels run at a time, each in its own process, 1..{exp.MAX_JOBS} "
                        f"(default: one per core, at most one per kernel; 1 = one after the "
                        f"other in this process); with --seeds, the Dask worker processes "
                        f"(default: one per core); the counters do not depend on it")
    p.add_argument("--seeds", type=_int_type("seeds", 1, 1000), metavar="N",
                   help="also run seeds SEED+1..SEED+N-1 (on a local Dask cluster, --jobs "
                        "workers) and print beside each ratio its mean ± 95%% confidence "
                        "half-width over the N seeds (docs/sweep.md); the blocks are SEED's")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run, _parser=p)
    return p


def check_run_args(args):
    """Checks that need more than one option, or the config tables; each
    failure is a usage error naming the option (exit 2)."""
    from kmm.experiments import seed as exp
    from kmm.report import plots
    p = args._parser

    def fail(option, e):
        msg = str(e)
        p.error(f"argument {option}: {msg}")

    sysctl = {}
    for key, value in args.sysctl:
        try:
            sysctl[key] = kmm.emu.config.check_sysctl_value(key, value)
        except kmm.KmmConfigError as e:
            fail("--sysctl", e)
    kconfig = {}
    for key, value in args.kconfig:
        if key not in kmm.emu.config.KCONFIG:
            fail("--kconfig", f"unknown option {key!r}; accepted: "
                              + ", ".join(k for k in kmm.emu.config.KCONFIG if k not in exp.KERNELS["baseline"]))
        kconfig[key] = value
    kernels = exp.check_kernels(args.kernel or exp.DEFAULT_KERNELS)
    for k in kernels:
        try:
            kconfig = {key: kmm.emu.config._bool(key, v) for key, v in kconfig.items()}
            exp.kernel_kconfig(k, kconfig)
        except kmm.KmmConfigError as e:
            fail("--kconfig", e)
    mems = {}
    for node, size in args.node_mem:
        if node not in ("0", "1"):
            fail("--node-mem", f"node {node!r}; accepted: 0 or 1 (the seed machine's two nodes)")
        if node in mems:
            fail("--node-mem", f"node {node} given twice")
        mems[node] = size
    args.topology = {"node0_mem": mems.get("0"), "node1_mem": mems.get("1"), "cpus": args.cpus,
                     "tier_ratio": args.tier_ratio}
    try:
        exp.check_topology(scale=args.scale, **args.topology)
    except kmm.KmmConfigError as e:
        what = str(e).split(":", 1)[0]
        fail({"tier_ratio": "--tier-ratio", "cpus": "--cpus"}.get(what, "--node-mem"),
             str(e).split(": ", 1)[1])
    try:
        exp.check_kernels_ablate(kernels, args.ablate)
    except kmm.KmmConfigError as e:
        fail("--ablate", str(e).split(": ", 1)[1])
    try:
        wp = exp.workload_params(args.workload, args.scale, args.particles, args.lookups, args.size,
                                 args.threads, args.seed, args.cpus)
    except kmm.KmmConfigError as e:
        what = str(e).split(":", 1)[0]
        fail("--" + what if what in ("particles", "lookups", "size", "threads") else "--workload",
             str(e).split(": ", 1)[1])
    if wp["kind"] == "trace":
        try:                        # read the trace now: a malformed one is a bad option
            exp.make_workload(wp)
        except kmm.KmmConfigError as e:
            fail("--workload", e)
    if args.plot is not None:
        try:
            plots.check_path(args.plot)
            plots.check_available()
        except kmm.KmmConfigError as e:
            fail("--plot", str(e).split(": ", 1)[1])
    cost = {"preset": args.cost or exp.DEFAULT_COST}
    for key, value in args.cost_set:
        try:
            cost[key] = float(value)
        except ValueError:
            fail("--cost-set", f"{key}={value!r}; accepted: OP=NS with NS a number")
    try:
        args.cost_dict = exp.check_cost(cost)
    except kmm.KmmConfigError as e:
        fail("--cost" if "preset" in str(e) else "--cost-set", str(e).split(": ", 1)[1])
    try:
        kmm.emu.config.check_cmdline(args.cmdline)
    except kmm.KmmConfigError as e:
        fail("--cmdline", str(e).split(": ", 1)[1])
    cpu = {}
    for key, value in args.cpu:
        opts = kmm.emu.config.CPU_PERF_OPTIONS
        if key in opts and isinstance(opts[key][0][0], int) and value.isdigit():
            value = int(value)
        elif key in kmm.emu.config.CPU:
            value = int(value) if value.isdigit() else value
        cpu[key] = value
    try:
        args.cpu_dict = exp.check_cpu(cpu)
    except kmm.KmmConfigError as e:
        fail("--cpu", e)
    check_outputs(p, ("--json", args.json), ("--plot", args.plot), ("--trace", args.trace),
                  ("--perfetto", args.perfetto))
    from kmm.emu import tracing
    if (args.trace_events or args.trace_window) and not (args.trace or args.perfetto):
        fail("--trace-events" if args.trace_events else "--trace-window",
             "needs --trace PATH or --perfetto PATH (a file to write)")
    for opt, check, value in (("--trace-events", tracing.check_events, args.trace_events),
                              ("--trace-window", tracing.check_window, args.trace_window)):
        if value is not None:
            try:
                check(value)
            except kmm.KmmConfigError as e:
                fail(opt, str(e))
    if args.seeds is not None:
        from kmm.experiments import sweep as sw
        try:
            sw.check_available()
        except kmm.KmmConfigError as e:
            fail("--seeds", e)
        for opt, v in (("--trace", args.trace), ("--perfetto", args.perfetto)):
            if v is not None:
                fail(opt, "traces one run: it does not go with --seeds")
        if args.seed + args.seeds - 1 >= 2**64:
            fail("--seeds", f"seeds {args.seed}..{args.seed + args.seeds - 1} pass 2**64-1")
    args.sysctl_dict = sysctl
    args.kconfig_dict = kconfig
    args.kernels = kernels
    args.workers = args.jobs                  # --seeds: Dask workers (None: one per core)
    args.jobs = exp.check_jobs(args.jobs, len(kernels))
    args.expected_wall_s = exp.expected_run_wall_s(kernels, args.jobs, wp, args.duration)


def print_expected_wall(args):
    """Announce a run that will take more than a minute, on stderr, also
    with --quiet: --quiet drops the progress bar, and a long quiet run is
    where knowing its length up front matters most."""
    est = args.expected_wall_s
    if est is not None and est > 60:
        n = len(args.kernels)
        print(f"kmm: expected wall time: ~{max(1, round(est / 60))} min ({n} kernel{'s' * (n > 1)}, "
              f"{args.jobs} job{'s' * (args.jobs > 1)})", file=sys.stderr, flush=True)


def run_across_seeds(args, kw):
    """kmm run --seeds N: the same runs for seeds SEED..SEED+N-1 on Dask
    (kmm/experiments/sweep.py run_seeds)."""
    from kmm.experiments import sweep as sw
    from kmm.report import progress as prog
    kw = {k: v for k, v in kw.items() if k not in ("trace", "perfetto", "trace_events", "trace_window")}
    seeds = range(args.seed, args.seed + args.seeds)
    bar = prog.SweepProgress() if prog.enabled(args.quiet) else None
    if bar is not None:
        with bar:
            return sw.run_seeds(kw, seeds, args.workers, progress=bar)
    return sw.run_seeds(kw, seeds, args.workers)


def cmd_run(args) -> int:
    from kmm.experiments.seed import run_seed_experiment
    from kmm.report import progress as prog
    from kmm.report.tables import report
    bar = prog.RichProgress() if prog.enabled(args.quiet) else None
    kw = dict(kernels=args.kernels, scale=args.scale, workload=args.workload,
              particles=args.particles, lookups=args.lookups, size=args.size, threads=args.threads,
              duration=args.duration, seed=args.seed, sysctl=args.sysctl_dict,
              kconfig=args.kconfig_dict, cost=args.cost_dict, jobs=args.jobs, cmdline=args.cmdline,
              cpu=args.cpu_dict, trace=args.trace, perfetto=args.perfetto,
              trace_events=args.trace_events, trace_window=args.trace_window,
              ablate=args.ablate, **args.topology)
    if args.seeds is not None:
        result = run_across_seeds(args, kw)
    else:
        print_expected_wall(args)
        if bar is not None:
            with bar:
                result = run_seed_experiment(progress=bar, **kw)
        else:
            result = run_seed_experiment(**kw)
    sys.stdout.write(report(result))
    if args.attribution:
        from kmm.report.tables import attribution_table
        sys.stdout.write("\n" + attribution_table(result))
    sys.stdout.flush()
    for k in result["kernels"]:
        for path in result["runs"][k].get("trace", {}).get("files", []):
            print(f"kmm: wrote {path}", file=sys.stderr)
    if args.json:
        write_output("--json", args.json, json.dumps(result, indent=1, default=list) + "\n")
    if args.plot:
        from kmm.report import plots
        try:
            plots.save(result, args.plot)
        except OSError as e:
            raise cfg.KmmConfigError(f"--plot: cannot write {args.plot!r}: {e.strerror or e}") from None
        print(f"kmm: wrote {args.plot}", file=sys.stderr)
    return 0


def cmd_study(args) -> int:
    from kmm.study.render import study
    check_outputs(args._parser, ("--html", args.html))
    return study(args.patch, html_out=args.html)


# -- kmm hazards -----------------------------------------------------------------

MAX_ROUNDS = 10_000      # ~10 ms a round (7 kernels): the cap is a couple of minutes


def _kernel_kconfig(kernel):
    from kmm.hazards._common import KERNELS, EXTRA_KERNELS
    return KERNELS[kernel] if kernel in KERNELS else EXTRA_KERNELS[kernel][0]


def _ablate_hunk(h):
    try:
        cfg.check_ablate([h], {"CONFIG_MIGRC": True})
    except kmm.KmmConfigError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1]) from None
    return h


def add_hazards_parser(sub):
    from kmm import hazards
    from kmm.hazards._common import KERNELS, EXTRA_KERNELS
    p = sub.add_parser("hazards", help="run the hazard catalogue: scenario x kernel matrix",
                       description="Run every hazard scenario (kmm/hazards/) on the baseline, "
                                   "migrc, migrc+pause and migrc+fixes kernels and print, per "
                                   "scenario and kernel, the TLB-coherence violations and a "
                                   "one-line account of the first (docs/hazards.md).")
    p.add_argument("--json", metavar="PATH", help="also write every outcome as JSON to PATH")
    p.add_argument("--scenario", action="append", choices=hazards.SCENARIOS, metavar="NAME",
                   help=f"only this scenario (repeatable): {', '.join(hazards.SCENARIOS)}")
    p.add_argument("--kernel", action="append", choices=list(KERNELS) + list(EXTRA_KERNELS),
                   metavar="NAME", help=f"only this kernel (repeatable): "
                                        f"{', '.join(list(KERNELS) + list(EXTRA_KERNELS))}")
    p.add_argument("--ablate", action="append", type=_ablate_hunk, metavar="HUNK",
                   help="switch this seed-patch hunk off on the CONFIG_MIGRC kernels, "
                        "e.g. mm/memory.c#1 (repeatable)")
    p.add_argument("--cost", action="store_true",
                   help="also measure the fixed variant's TLB shootdowns (read-only tiering loop)")
    p.add_argument("--rounds", type=_int_type("rounds", 1, MAX_ROUNDS), metavar="N",
                   help=f"rounds of the --cost loop, 1..{MAX_ROUNDS} (default 20)")
    p.set_defaults(func=cmd_hazards, _parser=p)
    return p


def check_hazards_args(args):
    p = args._parser
    if args.rounds is not None and not args.cost:
        p.error("argument --rounds: applies with --cost only")
    if args.rounds is None:
        args.rounds = 20
    if args.ablate:
        # the hunks are the seed patch's: a named kernel without it cannot lose one
        without = [k for k in args.kernel or () if not _kernel_kconfig(k).get("CONFIG_MIGRC")]
        if without:
            p.error(f"argument --ablate: needs a kernel with CONFIG_MIGRC=y; "
                    f"{', '.join(without)} has none")
    check_outputs(p, ("--json", args.json))


def cmd_hazards(args) -> int:
    from kmm import hazards
    from kmm.hazards._common import KERNELS
    check_hazards_args(args)
    outcomes = []
    for s in args.scenario or hazards.SCENARIOS:
        mod = hazards.scenario(s)
        for k in args.kernel or KERNELS:
            ablate = args.ablate if _kernel_kconfig(k).get("CONFIG_MIGRC") else None
            outcomes.append(mod.run(k, ablate=ablate or ()))
    print(hazards.matrix_text(outcomes))
    cost = None
    if args.cost:
        from kmm.hazards.cost import cost_table, cost_text
        cost = cost_table(rounds=args.rounds)
        print(f"Cost of the fixes: {args.rounds} read-only demote/read/promote/read rounds, "
              f"16 threads x 64 pages, seed machine")
        print(cost_text(cost))
    if args.json:
        doc = {"ablated": args.ablate or [], "cost": cost,
               "scenarios": {s: {"title": hazards.scenario(s).TITLE,
                                 "objection": (hazards.scenario(s).__doc__ or "").strip()}
                             for s in (args.scenario or hazards.SCENARIOS)},
               "outcomes": [o.to_dict() for o in outcomes]}
        write_output("--json", args.json, json.dumps(doc, indent=2, default=str) + "\n")
    return 0


# -- kmm sweep ---------------------------------------------------------------------

SWEEP_DESCRIPTION = """\
Run the seed experiment over a grid of configurations and seeds, on Dask
(docs/sweep.md).  A configuration sets any option of `kmm run` (scale,
workload and its options, node sizes, tier_ratio, cpus, sysctls, kconfig,
cost, cmdline, ablated hunks); each configuration runs the baseline and the
chosen kernels with each seed, one Dask task per run, on a LocalCluster
(one worker per core) or the cluster at --scheduler.  Rows stream into
OUT/runs.jsonl as runs finish, and a run already there is not run again;
OUT/runs.csv (one row per run: the configuration, every counter, the wall
time) and OUT/summary.csv (per configuration, kernel and counter: the
AFTER/BEFORE ratio's mean over the seeds and 95% confidence interval) are
written at the end, and the summary is printed.  Every key and value is
checked before anything runs; a bad one exits 2 naming it."""


def add_sweep_parser(sub):
    from kmm.experiments import sweep as sw
    p = sub.add_parser("sweep", help="the seed experiment over a grid of configurations and seeds, on Dask",
                       description=SWEEP_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", metavar="SPEC",
                   help="a .yaml or .toml file with base: (fixed values), grid: (key: [values]) "
                        "and/or points: (a list of configurations)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a grid key and its values (repeatable; the configurations are the "
                        "cartesian product), e.g. tier_ratio=1:4,1:8,1:16 or seed=0,1,2")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="set_",
                   help="a fixed value (repeatable), e.g. scale=0.05 or duration=2")
    p.add_argument("--seeds", type=_int_type("seeds", 1, sw.MAX_SEEDS), metavar="N",
                   help="run seeds S..S+N-1 (S: the fixed seed, default 0)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the output directory (created if missing): runs.jsonl, runs.csv, "
                        "summary.csv; runs already in DIR/runs.jsonl are not run again")
    p.add_argument("--workers", type=_int_type("workers", 1, sw.MAX_WORKERS), metavar="N",
                   help="worker processes of the local Dask cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (its workers "
                        "must import the same kmm)")
    p.add_argument("--plot", metavar="PATH",
                   help="write a figure of the ratios against the first varied key, with 95%% "
                        "confidence bars (.png or .svg; needs matplotlib)")
    p.add_argument("--counter", action="append", metavar="NAME",
                   help="a counter to print and plot (repeatable); default: the printed table's "
                        f"{', '.join(sw.DEFAULT_PRINTED)}, and the figure's "
                        f"{', '.join(sw.DEFAULT_COUNTERS)}")
    p.add_argument("--quiet", action="store_true", help="no progress")
    p.set_defaults(func=cmd_sweep, _parser=p)
    return p


def check_sweep_args(args):
    from kmm.experiments import sweep as sw
    from kmm.report import plots
    p = args._parser
    try:
        vary = [sw.parse_vary(v) for v in args.vary]
        set_ = [sw.parse_set(v) for v in args.set_]
        args.study = sw.parse_spec(args.spec, vary, set_, args.seeds)
    except kmm.KmmConfigError as e:            # the message names the key (or the spec file)
        p.error(str(e))
    for c in args.counter or ():
        if c not in sw.SUMMARY_COUNTERS:
            p.error(f"argument --counter: {c!r}; accepted: {', '.join(sw.SUMMARY_COUNTERS)}")
    if args.plot is not None:
        try:
            plots.check_path(args.plot)
            plots.check_available()
        except kmm.KmmConfigError as e:
            p.error(f"argument --plot: {str(e).split(': ', 1)[1]}")
        if not args.study["varied"]:
            p.error("argument --plot: nothing varies between the configurations (only seeds or "
                    "kernels): the figure plots a ratio against a varied key")
    try:
        sw.check_available()
    except kmm.KmmConfigError as e:
        p.error(str(e))
    try:
        args.workers_n = sw.check_workers(args.workers, args.scheduler)
    except kmm.KmmConfigError as e:
        p.error(f"argument {'--workers' if args.workers is not None else '--scheduler'}: "
                f"{str(e).split(': ', 1)[1]}")
    try:
        args.outdir = sw.check_out(args.out)
    except kmm.KmmConfigError as e:
        p.error(f"argument --out: {str(e).split(': ', 1)[1]}")
    check_outputs(p, ("--plot", args.plot))     # after --out exists: the figure may go in it


def _duration(s):
    return f"{max(1, round(s))} s" if s < 90 else f"{round(s / 60)} min"


def cmd_sweep(args) -> int:
    from kmm.experiments import sweep as sw
    from kmm.report import progress as prog
    from kmm.report.tables import sweep_table
    check_sweep_args(args)
    study = args.study
    varied = study["varied"]

    def label(row):
        return ", ".join([f"{k}={row[k]}" for k in varied] + [row["kernel"], f"seed {row['seed']}"])
    todo = sw.plan(study)
    done = sw.read_rows(args.outdir.jsonl)
    pending = {key for key, *_ in todo if key not in done}
    workers = args.workers_n or 1
    est = sw.expected_wall_s(study, pending, workers)
    print(f"kmm sweep: {len(study['configs'])} configuration(s) x {len(study['seeds'])} seed(s) x "
          f"{len(study['kernels'])} kernel(s): {len(todo)} runs, {len(todo) - len(pending)} already "
          f"in {args.outdir.jsonl}"
          + (f"; expected wall time ~{_duration(est)} on {workers} worker(s)"
             if est is not None and pending and args.scheduler is None else ""),
          file=sys.stderr, flush=True)
    if args.quiet:
        bar = None
    elif prog.enabled():
        bar = prog.SweepProgress(label)
    else:
        bar = sw.LineProgress(label=label)
    if isinstance(bar, prog.SweepProgress):
        with bar:
            result = sw.sweep(study, args.out, args.workers_n, args.scheduler, progress=bar)
    else:
        result = sw.sweep(study, args.out, args.workers_n, args.scheduler, progress=bar)
    sys.stdout.write(sweep_table(result, args.counter or sw.DEFAULT_PRINTED))
    sys.stdout.flush()
    if result["foreign"]:
        print(f"kmm: {result['foreign']} run(s) in {args.outdir.jsonl} are not runs of this spec: "
              f"kept there, left out of the tables", file=sys.stderr)
    for f in result["files"]:
        print(f"kmm: wrote {f}", file=sys.stderr)
    if args.plot:
        from kmm.report import plots
        try:
            plots.save_sweep(result, args.plot, args.counter or sw.DEFAULT_COUNTERS)
        except OSError as e:
            raise cfg.KmmConfigError(f"--plot: cannot write {args.plot!r}: {e.strerror or e}") from None
        print(f"kmm: wrote {args.plot}", file=sys.stderr)
    return 0


# -- kmm, kmm help ---------------------------------------------------------------

def make_parser():
    ap = argparse.ArgumentParser(prog="kmm", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"kmm {kmm.__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    p = sub.add_parser("info", help="build facts: modules, sizeof(struct page), defaults")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info, _parser=p)
    add_run_parser(sub)
    p = sub.add_parser("study", help="each hunk of PATCH next to the emulator code that mirrors it",
                       description="Print each hunk of PATCH in patch order with its mirror(s) in "
                                   "the emulator (source, file:line) and the tests that check it; "
                                   "--html writes the same as one self-contained page. "
                                   "Exit 0 when rendered, 2 on a missing or malformed patch.")
    p.add_argument("patch", metavar="PATCH", help="a unified diff (git format-patch or mail text)")
    p.add_argument("--html", metavar="OUT", help="also write a self-contained HTML page to OUT")
    p.set_defaults(func=cmd_study, _parser=p)
    add_hazards_parser(sub)
    add_sweep_parser(sub)
    p = sub.add_parser("help", help="this help, or a command's: kmm help COMMAND")
    p.add_argument("command", nargs="?", metavar="COMMAND", choices=[c for c in sub.choices if c != "help"],
                   help="the command to describe")
    p.set_defaults(func=lambda args: cmd_help(ap, sub, args), _parser=p)
    return ap


def cmd_help(ap, sub, args) -> int:
    (sub.choices[args.command] if args.command else ap).print_help()
    return 0


def main(argv=None) -> int:
    """Run one command; returns the exit status (0 done, 1 a failed check
    or state error, 2 a usage error, 130 interrupted).  argparse's own exits
    (usage errors, --help, --version) are returned as the status too."""
    ap = make_parser()
    try:
        args, extra = ap.parse_known_args(argv)
        if extra:                   # named by the subcommand, with its usage
            args._parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.cmd == "run":
            check_run_args(args)
        return args.func(args)
    except SystemExit as e:
        return 0 if e.code is None else e.code if isinstance(e.code, int) else 2
    except kmm.KmmConfigError as e:
        print(f"kmm: error: {e}", file=sys.stderr)
        return 2
    except kmm.KmmError as e:
        print(f"kmm: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:         # e.g. `kmm hazards | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("kmm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
