"""The hazard catalogue: scenarios built from the reviewers' objections to
migrc (and to its successor LUF), each run on the baseline kernel, migrc
v4, migrc + patch 3/3 (pause) and migrc + CONFIG_MIGRC_FIXES.

Every scenario module has NAME, TITLE, a docstring with the objection and
where it was raised, and run(kernel, ablate=(), kconfig=None) -> Outcome.
Nothing about the outcome is written down in advance: it is what the
TLB-coherence oracle recorded while the scenario ran.  See docs/hazards.md.
"""

import importlib

from kmm.hazards._common import KERNELS, Outcome, machine

SCENARIOS = ("mprotect_upgrade", "page_cache_write", "shared_mapping_write", "munmap_reuse",
             "source_reuse", "fork_cow", "truncate", "flush_race")


def scenario(name):
    if name not in SCENARIOS:
        raise KeyError(f"no hazard scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return importlib.import_module(f"kmm.hazards.{name}")


def run_catalogue(scenarios=None, kernels=None):
    """Run every scenario on every kernel; a list of Outcomes."""
    out = []
    for s in scenarios or SCENARIOS:
        mod = scenario(s)
        for k in kernels or KERNELS:
            out.append(mod.run(k))
    return out


def matrix_text(outcomes):
    """The catalogue as text: one block per scenario, one line per kernel
    (violations by kind, then the one-line account)."""
    lines = []
    kernels = []
    for o in outcomes:
        if o.kernel not in kernels:
            kernels.append(o.kernel)
    width = max(len(k) for k in kernels)
    by = {}
    for o in outcomes:
        by.setdefault(o.scenario, []).append(o)
    head = f"{'scenario':22} " + "  ".join(f"{k:>{max(len(k), 5)}}" for k in kernels)
    lines.append(head)
    lines.append("-" * len(head))
    for s, outs in by.items():
        cells = {o.kernel: o.nr_violations for o in outs}
        lines.append(f"{s:22} " + "  ".join(f"{cells.get(k, ''):>{max(len(k), 5)}}" for k in kernels))
    lines.append("")
    for s, outs in by.items():
        mod = scenario(s)
        lines.append(f"{s}: {mod.TITLE}")
        for o in outs:
            kinds = ", ".join(f"{n} {k}" for k, n in o.kinds().items())
            lines.append(f"  {o.kernel:{width}}  {o.nr_violations:3}{' (' + kinds + ')' if kinds else ''}  "
                         f"{o.account}")
        lines.append("")
    return "\n".join(lines)
