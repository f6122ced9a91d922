"""The kmm command line: `kmm info` (build facts), `kmm run` (the main
experiment; until it lands, `kmm run` prints the build facts),
`kmm study PATCH [--html OUT]` (each hunk of a patch next to its mirror) and
`kmm hazards [--json PATH]` (the hazard catalogue, docs/hazards.md)."""

from __future__ import annotations

import argparse
import importlib
import json
import pathlib
import sys

import kmm
from kmm import config as cfg


def pyx_modules() -> list[str]:
    root = pathlib.Path(kmm.__file__).resolve().parent
    return sorted(
        ".".join(("kmm",) + p.relative_to(root).with_suffix("").parts)
        for p in root.rglob("*.pyx")
    )


def build_facts() -> dict:
    from kmm.machine import SIZEOF_STRUCT_PAGE, Machine

    modules = {}
    for name in pyx_modules():
        try:
            mod = importlib.import_module(name)
            f = getattr(mod, "__file__", "") or ""
            modules[name] = {"compiled": f.endswith((".so", ".pyd")), "file": f}
        except ImportError as e:  # a missing extension is a fact to report
            modules[name] = {"compiled": False, "error": str(e)}
    seed = Machine.preset("seed")
    default_cpu = Machine(nodes=[{"cpus": 1, "mem": "64M"}])
    return {
        "version": kmm.__version__,
        "modules": modules,
        "all_compiled": all(m["compiled"] for m in modules.values()),
        "sizeof_struct_page": SIZEOF_STRUCT_PAGE,
        "kconfig_defaults": {k: v[0] for k, v in cfg.KCONFIG.items()},
        "sysctl_defaults": {k: (list(v[3]) if isinstance(v[3], tuple) else v[3]) if v[3] is not None else "derived"
                            for k, v in cfg.SYSCTL.items()},
        "cpu_defaults": {k: v[2] for k, v in cfg.CPU.items()},
        "swap_migration_ad_supported": {
            "default_cpu": default_cpu.swap_migration_ad_supported,
            "seed_preset": seed.swap_migration_ad_supported,
        },
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
    print(f"kmm {facts['version']}")
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
    return 0 if facts["all_compiled"] else 1


def cmd_study(args) -> int:
    from kmm.study.render import study
    return study(args.patch, html_out=args.html)


def cmd_hazards(args) -> int:
    from kmm import hazards
    from kmm.hazards._common import KERNELS, EXTRA_KERNELS
    for s in args.scenario or ():
        if s not in hazards.SCENARIOS:
            raise cfg.KmmConfigError(f"--scenario: {s!r}; accepted: {', '.join(hazards.SCENARIOS)}")
    for k in args.kernel or ():
        if k not in KERNELS and k not in EXTRA_KERNELS:
            raise cfg.KmmConfigError(f"--kernel: {k!r}; accepted: "
                                     f"{', '.join(list(KERNELS) + list(EXTRA_KERNELS))}")
    cfg.check_ablate(args.ablate or [])
    outcomes = []
    for s in args.scenario or hazards.SCENARIOS:
        mod = hazards.scenario(s)
        for k in args.kernel or KERNELS:
            outcomes.append(mod.run(k, ablate=args.ablate or ()))
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
        pathlib.Path(args.json).write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kmm", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("info", help="build facts: modules, sizeof(struct page), defaults")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("run", help="the seed experiment (arrives with a later issue; prints build facts for now)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("study", help="each hunk of PATCH next to the emulator code that mirrors it",
                       description="Print each hunk of PATCH in patch order with its mirror(s) in "
                                   "the emulator (source, file:line) and the tests that check it; "
                                   "--html writes the same as one self-contained page. "
                                   "Exit 0 when rendered, 2 on a missing or malformed patch.")
    p.add_argument("patch", metavar="PATCH", help="a unified diff (git format-patch or mail text)")
    p.add_argument("--html", metavar="OUT", help="also write a self-contained HTML page to OUT")
    p.set_defaults(func=cmd_study)
    p = sub.add_parser("hazards", help="run the hazard catalogue: scenario x kernel matrix",
                       description="Run every hazard scenario (kmm/hazards/) on the baseline, "
                                   "migrc, migrc+pause and migrc+fixes kernels and print, per "
                                   "scenario and kernel, the TLB-coherence violations and a "
                                   "one-line account of the first (docs/hazards.md).")
    p.add_argument("--json", metavar="PATH", help="also write every outcome as JSON to PATH")
    p.add_argument("--scenario", action="append", metavar="NAME", help="only this scenario (repeatable)")
    p.add_argument("--kernel", action="append", metavar="NAME", help="only this kernel (repeatable)")
    p.add_argument("--ablate", action="append", metavar="HUNK",
                   help="switch this seed-patch hunk off, e.g. mm/memory.c#1 (repeatable)")
    p.add_argument("--cost", action="store_true",
                   help="also measure the fixed variant's TLB shootdowns (read-only tiering loop)")
    p.add_argument("--rounds", type=int, default=20, help="rounds of the --cost loop (default 20)")
    p.set_defaults(func=cmd_hazards)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except kmm.KmmError as e:
        print(f"kmm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
