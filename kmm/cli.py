"""The kmm command line: `kmm info` (build facts), `kmm run` (the main
experiment; until it lands, `kmm run` prints the build facts) and
`kmm study PATCH [--html OUT]` (each hunk of a patch next to its mirror)."""

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
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except kmm.KmmError as e:
        print(f"kmm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
