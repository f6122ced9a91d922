"""Text report of the seed experiment (kmm/experiments/seed.py): a header
that says what was scaled, each run's `perf stat -a` and /proc/vmstat
blocks in the seed's own format, and the comparison table.

Every function takes the experiment's JSON-able result and returns text;
nothing here computes a counter."""

from __future__ import annotations

from kmm.experiments.similarity import TOL as FULL_TOL
from kmm.experiments.seed import (CONVERGED_TOL, COUNTERS, ELAPSED, PERF_EVENTS, STORES_AFTER_INIT,
                                  TIME_PER_WORK, VMSTAT_COUNTERS, counters)

NOT_MODELLED = "not modelled"
SHORT = {"baseline": "BEFORE", "migrc": "AFTER", "migrc+pause": "AFTER+pause"}


def guest_cpu_line(m: dict) -> str:
    """The guest CPU and what the kernel made of it at boot."""
    cpu = m["cpu"]
    bugs = [b for b, k in (("Meltdown", "x86_bug_cpu_meltdown"), ("L1TF", "x86_bug_l1tf")) if cpu.get(k)]
    pti = ("page-table isolation on (kernel and user PCIDs: arch/x86/mm/pti.c, docs/tlb.md)"
           if m.get("pti") else "page-table isolation off")
    cmd = f"; cmdline '{m['cmdline']}'" if m.get("cmdline") else ""
    return (f"{', '.join(bugs) or 'no Meltdown/L1TF'}, {cpu['x86_phys_bits']} physical address bits; "
            f"{pti}{cmd}")


def header(result: dict) -> str:
    m, w, s = result["machine"], result["workload"], result["scaling"]
    nodes = ", ".join(f"node {i} {n['cpus']} CPUs + {_size(n['mem_bytes'])}"
                      for i, n in enumerate(m["nodes"]))
    sc = m["sysctl"]
    lines = [
        f"kmm run: the seed experiment, emulated (kmm {result['version']})",
        f"seed:     {result['seed']['source']}",
        f"machine:  Machine.preset('seed'): {nodes}; kernel.numa_balancing="
        f"{sc['kernel.numa_balancing']} (2 = tiering), vm.demotion_enabled="
        f"{int(sc['vm.demotion_enabled'])}, seed {m['seed']}",
        f"cpu:      {guest_cpu_line(m)}",
        f"workload: {w['command']}  (emulated {w['kind']}: docs/workloads.md)",
        f"kernels:  {', '.join(result['kernels'])} (the same mirrored code under their kconfig)",
    ]
    ablated = {k: v for k, v in m.get("ablated", {}).items() if v}
    for k, hunks in ablated.items():
        lines.append(f"ablated:  on {k}, seed-patch hunk(s) switched off: {', '.join(hunks)} "
                     f"(the baseline is whole)")
    lines.append(f"scaled (scale {s['scale']:g}):")
    width = max(len(x["what"]) for x in s["scaled"])
    for x in s["scaled"]:
        lines.append(f"  {x['what']:<{width}}  seed {x['seed']:<12} here {x['here']}")
    lines.append("not scaled:")
    for x in s["not_scaled"]:
        lines.append(f"  {x}")
    if result.get("duration") is not None:
        lines.append(f"capped:   at {result['duration']:g} virtual seconds (--duration)")
    lines.append(time_line(m.get("cost", {"preset": "zero", "overridden": []})))
    lines.append("counted:  perf events from the workload's launch (perf stat -a), "
                 "/proc/vmstat since boot (cat /proc/vmstat)")
    lines += similarity_lines(result)
    return "\n".join(lines)


def _g(v):
    return "n/a" if v is None else f"{v:.3g}"


def similarity_lines(result: dict) -> list:
    """The similarity block: each rate the scaling rule keeps, this run's
    value beside the full-size run's (docs/run.md, "Scaling"); then, as a
    block of its own, the rates the rule gives up for them."""
    sim = result.get("similarity")
    if not sim:
        return []
    kernels = list(sim)
    ref = result.get("similarity_reference")
    span = result["runs"][kernels[0]]["virtual_s"] / result["scaling"]["scale"]
    if ref:
        src = (f"beside the full-size run's ({ref['command']}, commit {ref['commit']}) over "
               f"the same {span:.0f} s of full-size time")
    else:
        why = (result.get("full_size") or {}).get("why_not") or "no full-size reference is installed"
        src = f"(no full-size values: {why})"
    given = result.get("given_up") or {k: [] for k in kernels}
    cols = ["rate"]
    rows = [[r["what"]] for r in sim[kernels[0]] + given[kernels[0]]]
    for k in kernels:
        cols += [f"{k} here", "full"]
        for row, r in zip(rows, sim[k] + given[k]):
            row += [_g(r["here"]) + ("*" if r["kept"] is False else ""), _g(r["full"])]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = lambda cells: "  " + "  ".join(f"{v:<{widths[0]}}" if i == 0 else f"{v:>{widths[i]}}"
                                          for i, v in enumerate(cells))
    nkept = len(sim[kernels[0]])
    lines = [f"similarity: the rates the scaling rule keeps, this run's {src}; * = more than "
             f"10% off (docs/run.md, \"Scaling\")", line(cols)]
    lines += [line(row) for row in rows[:nkept]]
    if rows[nkept:]:
        lines.append("given up: what the rule trades for the rates above, the make-up of each "
                     "reclaim event, measured the same way; not predictions (docs/run.md, "
                     "\"Scaled runs against the full size\")")
        lines += [line(row) for row in rows[nkept:]]
    return lines


def time_line(cost: dict) -> str:
    """How the report's times come about, for the run's cost model."""
    scaled = cost.get("scaled") or []
    user = [op for op in cost.get("overridden", []) if op not in scaled]
    name = cost["preset"] + (f" with {', '.join(user)} overridden" if user else "")
    if scaled:
        name += f" and {', '.join(scaled)} scaled by the scaling rule"
    if cost["preset"] == "zero" and not any(cost.get("ns", {}).values()):
        return ("time:     kernel work costs no virtual time (--cost zero); 'seconds time elapsed' "
                "is the workload's own time model")
    return (f"time:     kernel work costs virtual time (cost model {name}: docs/cost-model.md); "
            f"'seconds time elapsed' is the workload's time with the kernel's in it; the "
            f"workload's own time per lookup is the seed's elapsed time per lookup, which "
            f"already holds the seed's kernel time, so absolute times run long by about the "
            f"kernel share below; AFTER/BEFORE comes from the mechanism")


def cpu_line(run: dict) -> str:
    """Where the CPUs' time went (cost model), summed over CPUs."""
    ct = run.get("cpu_time")
    if not ct:
        return ""
    t = ct["total"]
    return (f"(cpu time over all CPUs: user {t['user']:.2f} s, kernel in tasks {t['sys']:.2f} s, "
            f"interrupts {t['irq']:.2f} s, kswapd {t['kthread']:.2f} s, idle {t['idle']:.2f} s; "
            f"kernel share {100 * ct['kernel_share']:.2f}%, kswapd {100 * ct['kswapd_share']:.2f}%)")


def _size(b):
    return f"{b / 2**30:g} GiB" if b % 2**30 == 0 else f"{b / 2**20:g} MiB"


def perf_block(run: dict, command: str) -> str:
    """`perf stat -a` as the seed shows it (numbers without separators,
    '<not modelled>' where perf would print '<not supported>')."""
    lines = ["$ perf stat -a \\"]
    lines += [f"-e {e} \\" for e in PERF_EVENTS]
    lines.append(command)
    lines.append("Performance counter stats for 'system wide':")
    for e in PERF_EVENTS:
        v = run["perf"][e]
        lines.append(f"{v} {e}" if isinstance(v, int) else f"<{NOT_MODELLED}> {e}")
    lines.append(f"{run['virtual_s']:.9f} {ELAPSED}")
    return "\n".join(lines)


def vmstat_block(run: dict) -> str:
    lines = ["$ cat /proc/vmstat", "..."]
    lines += [f"{c} {run['vmstat'][c]}" for c in VMSTAT_COUNTERS]
    lines.append("...")
    return "\n".join(lines)


def run_block(run: dict, command: str) -> str:
    title = run["title"]
    lines = [title, "-" * 42, perf_block(run, command), vmstat_block(run)]
    if run.get("interrupts_tlb"):
        # /proc/interrupts' TLB row: the shootdowns each CPU received
        lines.append("$ grep TLB: /proc/interrupts\n TLB: " +
                     " ".join(f"{n:>10}" for n in run["interrupts_tlb"]) + "   TLB shootdowns")
    done = "finished" if run["finished"] else "stopped at the --duration cap"
    lines.append(f"(oracle: {run['oracle_violations']} TLB-coherence violation(s); {done} after "
                 f"{run['virtual_s']:.3f} virtual s in {run['wall_s']:.1f} s wall)")
    if cpu_line(run):
        lines.append(cpu_line(run))
    return "\n".join(lines)


def _num(v):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return NOT_MODELLED if v == NOT_MODELLED else v
    if isinstance(v, float):
        return f"{v:,.3f}"
    return f"{v:,}"


def _ratio(r):
    return "n/a" if r is None else f"{r:.3f}"


def comparison(result: dict) -> str:
    """Each counter BEFORE, AFTER, AFTER/BEFORE, and the seed's published
    AFTER/BEFORE; then the oracle's violations and the wall time."""
    kernels = result["kernels"]
    runs = result["runs"]
    vals = {k: counters(runs[k]) for k in kernels}
    ratio_kernels = [k for k in kernels if k in result["ratios"]]
    # kmm run --seeds N: each ratio's mean ± 95% half-width (n) over the seeds
    across = result.get("ratios_across_seeds")
    nseeds = len(result.get("across_seeds", {}).get("seeds", ()))
    # a scaled run: the full-size run's ratios over the same full-size span
    fs = result.get("full_size") or {}
    full = fs.get("ratios")
    per = 2 + (across is not None) + (full is not None)
    cols = [f"{SHORT[k]} ({k})" for k in kernels]
    for k in ratio_kernels:
        cols += [f"{SHORT[k]}/BEFORE", "2nd half"]
        if full is not None:
            cols.append("full size")
        if across is not None:
            cols.append(f"{nseeds} seeds: mean ± CI (n)")
    cols.append("seed AFTER/BEFORE")
    half = result.get("ratios_second_half", {})
    conv = result.get("converged", {})

    def ratio_cells(k, c):
        extra = [mean_ci_cell(across[k].get(c))] if across is not None else []
        if full is not None:
            off = "!" if fs["agrees"][k][c] is False else ""
            extra.insert(0, _ratio(full[k][c]) + off)
        if c == ELAPSED and capped:
            return ["capped", ""] + ["capped"] * len(extra)
        mark = "*" if conv.get(k, {}).get(c) is False else ""
        return [_ratio(result["ratios"][k][c]) + mark, _ratio(half.get(k, {}).get(c))] + extra
    capped = not all(runs[k]["finished"] for k in kernels)
    notes = result.get("notes", {})
    marks = {}                       # reason -> its footnote number, in row order
    for c in COUNTERS:
        if c in notes:
            marks.setdefault(notes[c]["reason"], len(marks) + 1)
    rows = []
    for c in COUNTERS:
        row = [_num(vals[k][c]) for k in kernels]
        for k in ratio_kernels:
            row += ratio_cells(k, c)
        row.append(_ratio(result["seed_ratios"][c]))
        rows.append((f"{c} [{marks[notes[c]['reason']]}]" if c in notes else c, row))
        if c == "dTLB-store-misses" and all(runs[k].get("perf_after_init") for k in kernels):
            row = [_num(runs[k]["perf_after_init"]["dTLB-store-misses"]) for k in kernels]
            for k in ratio_kernels:
                row += [_ratio(result["ratios"][k].get(STORES_AFTER_INIT)), ""]
                if full is not None:
                    row.append("")
                if across is not None:
                    row.append(mean_ci_cell(across[k].get(STORES_AFTER_INIT)))
            rows.append(("  after init (run phase)", row + ["n/a"]))
    if capped:
        # the same virtual time for every kernel: compare the work done in it,
        # as time per unit of work (elapsed AFTER/BEFORE were both to finish)
        row = [f"{runs[k]['done_fraction']:.6f}" for k in kernels]
        for k in ratio_kernels:
            row += [_ratio(result["ratios"][k].get(TIME_PER_WORK)), ""]
            if full is not None:
                row.append("")
            if across is not None:
                row.append(mean_ci_cell(across[k].get(TIME_PER_WORK)))
        row.append(_ratio(result["seed_ratios"][ELAPSED]))
        rows.append(("work done (ratio: time per work)", row))
    tail = [("oracle violations", [str(runs[k]["oracle_violations"]) for k in kernels]
             + [""] * (per * len(ratio_kernels) + 1)),
            ("wall time (s)", [f"{runs[k]['wall_s']:.1f}" for k in kernels]
             + [""] * (per * len(ratio_kernels) + 1))]
    name_w = max(len(c) for c, _ in rows + tail)
    widths = [max(len(col), *(len(r[i]) for _, r in rows + tail)) for i, col in enumerate(cols)]
    out = [f"Not engaged: {line}" for line in result.get("engagement", [])]
    out += [f"Stalled: {line}" for line in result.get("stalls", [])]
    if ratio_kernels and result["scaling"]["scale"] < 1.0:
        out += scaled_lines(result)
    if ratio_kernels:
        out.append("Comparison: " + "; ".join(
            f"{SHORT[k]}/BEFORE = {k} / baseline" for k in ratio_kernels)
            + "; 2nd half = the same over the second half of virtual time, and * marks a ratio "
              f"that differs from it by more than {CONVERGED_TOL:.0%} (not converged); "
              "seed AFTER/BEFORE = the seed's published numbers (reference data, not emulated)")
        if across is not None:
            seeds = result["across_seeds"]["seeds"]
            out.append(f"{nseeds} seeds: the same ratio, kernel against baseline with the same "
                       f"seed, for seeds {seeds[0]}..{seeds[-1]}: mean ± 95% confidence half-width "
                       f"(Student's t; n = the seeds where it is defined); the blocks and the other "
                       f"columns are seed {seeds[0]}'s (docs/sweep.md)")
            for what, key in (("Stalled", "stalled"), ("Not engaged", "not_engaged")):
                for k, which in result["across_seeds"].get(key, {}).items():
                    if which:
                        out.append(f"{what} across seeds: {k} in {len(which)} of {nseeds} seeds "
                                   f"({', '.join(map(str, which))}); the mean mixes those runs "
                                   f"with the others")
    else:
        out.append("Comparison: no baseline run, so no AFTER/BEFORE; seed AFTER/BEFORE = the "
                   "seed's published numbers (reference data, not emulated)")
    line = f"{'counter':<{name_w}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cols, widths))
    out.append(line)
    out.append("-" * len(line))
    for c, row in rows:
        out.append(f"{c:<{name_w}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(row, widths)))
    out.append("-" * len(line))
    for c, row in tail:
        out.append((f"{c:<{name_w}}  " + "  ".join(f"{v:>{w}}" for v, w in zip(row, widths))).rstrip())
    if marks:
        out.append("Rows marked [n] count only part of what the seed counted (the rest: not "
                   "modelled); docs/run.md:")
        kinds = {notes[c]["reason"]: notes[c]["modelled"] for c in notes}
        for reason, n in marks.items():
            what = "not modelled" if kinds[reason] == "none" else "in part"
            out.append(f"  [{n}] {what}: {reason}")
    return "\n".join(out)


def scaled_lines(result: dict) -> list:
    """What a scaled run's ratios say about the full size: the "full size"
    column's source and marks, or why the run has none."""
    fs = result.get("full_size") or {}
    if fs.get("ratios") is None:
        why = fs.get("why_not") or "this workload has no full-size reference"
        return [f"Scaled: no full-size value to set beside these ratios ({why}), so nothing here "
                f"says how far they hold at full size: run the same options with --scale 1 "
                f"(docs/run.md, \"Scaled runs against the full size\")"]
    ref = fs["reference"]
    off = sorted({c for k in fs["agrees"] for c, ok in fs["agrees"][k].items() if ok is False},
                 key=COUNTERS.index)
    lines = [f"Scaled: full size = the emulator's own full-size run of these options "
             f"({ref['command']}, seed {ref['seed']}, commit {ref['commit']}) over the same "
             f"{fs['span_s']:.0f} s of full-size time (to its last snapshot in them, at "
             f"{fs['reference_s']:.1f} s); ! marks a ratio more than {FULL_TOL:.0%} "
             f"off it, which this scaled run does not predict (docs/run.md, \"What no linear "
             f"scaling can keep\")" + (f": {', '.join(off)}" if off else "")]
    if off:
        # the same span at full size: the scaled run's particles / F
        seed = result["machine"]["seed"]
        lines[0] += (f"; for those, run the same span at full size: kmm run --scale 1 --particles "
                     f"{round(result['workload']['particles'] / result['scaling']['scale'])}"
                     + (f" --seed {seed}" if seed else ""))
    if "nr_tlb_remote_flush" not in off and "migrc" in fs["ratios"]:
        lines.append("Scaled: nr_tlb_remote_flush agrees as a total; its two parts, the demotion "
                     "flushes migrc cannot defer and its deferred flushes, are moved by the rule "
                     "in opposite directions (--attribution; docs/run.md)")
    return lines


def report(result: dict) -> str:
    """The whole text report."""
    parts = [header(result)]
    for k in result["kernels"]:
        parts.append(run_block(result["runs"][k], result["workload"]["command"]))
    parts.append(comparison(result))
    return "\n\n".join(parts) + "\n"


def attribution_table(result: dict) -> str:
    """Per kernel, which kernel path caused each nr_tlb_* count (the rows sum
    to /proc/vmstat's), and the TLB row of /proc/interrupts per CPU."""
    cols = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "nr_tlb_local_flush_all",
            "nr_tlb_local_flush_one")
    heads = ("flushes sent", "IPIs received", "local full", "local one")
    out = []
    for k in result["kernels"]:
        run = result["runs"][k]
        att = run.get("attribution") or {}
        width = max([len("total (/proc/vmstat)")] + [len(s) for s in att])
        out.append(f"Flush attribution, {k}: the kernel path each nr_tlb_* count came from "
                   f"(docs/tracing.md)")
        out.append(f"  {'site':<{width}}  " + "  ".join(f"{h:>14}" for h in heads))
        for site, row in att.items():
            out.append(f"  {site:<{width}}  " + "  ".join(f"{row[c]:>14,}" for c in cols))
        out.append(f"  {'total (/proc/vmstat)':<{width}}  " +
                   "  ".join(f"{run['vmstat_all'][c]:>14,}" for c in cols))
        tlb = run.get("interrupts_tlb")
        if tlb:
            out.append(f"/proc/interrupts, {k}:")
            out.append("       " + "".join(f"{'CPU' + str(i):>10}" for i in range(len(tlb))))
            out.append("  TLB: " + "".join(f"{n:>10}" for n in tlb) + "   TLB shootdowns")
        out.append("")
    return "\n".join(out)


# -- kmm sweep, kmm run --seeds ---------------------------------------------------

def mean_ci_cell(st) -> str:
    """'mean ± half (n)' of a ratio across seeds (kmm/experiments/sweep.py
    mean_ci); '± n/a' with one seed, 'n/a' with none."""
    if st is None or st.get("mean") is None:
        return "n/a"
    half = "n/a" if st.get("half") is None else f"{st['half']:.3f}"
    return f"{st['mean']:.3f} ± {half} ({st['n']})"


def _plain(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _grid(cols, rows, left=1):
    """Plain-text columns: the first `left` left-aligned, the rest right."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]

    def line(cells):
        return "  ".join(f"{v:<{w}}" if i < left else f"{v:>{w}}"
                         for i, (v, w) in enumerate(zip(cells, widths))).rstrip()
    head = line(cols)
    return [head, "-" * len(head)] + [line(r) for r in rows]


def sweep_table(result: dict, counters) -> str:
    """The sweep's summary: per configuration and non-baseline kernel, each
    counter's AFTER/BEFORE as mean ± 95% CI half-width (n seeds), the runs
    that stalled; then the baseline's counts (mean over the seeds)."""
    from kmm.experiments.sweep import run_key
    varied = result["varied"]
    nconf, nseeds, nk = len(result["configs"]), len(result["seeds"]), len(result["kernels"])
    seeds = result["seeds"]
    seed_text = (f"seeds {seeds[0]}..{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
                 and len(seeds) > 1 else f"seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}")
    out = [f"kmm sweep: {nconf} configuration{'s' * (nconf > 1)} x {nseeds} seed{'s' * (nseeds > 1)} "
           f"x {nk} kernel{'s' * (nk > 1)} ({', '.join(result['kernels'])}): {len(result['runs'])} runs, "
           f"{result['ran']} run now and {result['reused']} read back from the output; "
           f"{result['cluster']}; {result['wall_s']:.1f} s wall"]
    base = ", ".join(f"{k}={_plain(v)}" for k, v in result.get("base", {}).items())
    out.append(f"fixed:  {base or 'the defaults of kmm run'}; {seed_text}")
    rows_by_key = {r["run_key"]: r for r in result["runs"]}
    cols = list(varied) + ["kernel"] + list(counters) + ["stalled"]
    rows = []
    for c, per_kernel in zip(result["configs"], result["ratios"]):
        for k, stats in per_kernel.items():
            cells = [_plain(c[v]) for v in varied] + [k]
            for counter in counters:
                cells.append(mean_ci_cell(stats[counter]))
            runs = [rows_by_key[run_key(c, k, s)] for s in seeds]
            cells.append(f"{sum(1 for r in runs if r.get('stalled'))}/{len(runs)}")
            rows.append(cells)
    if rows:
        out.append(f"AFTER/BEFORE per seed (the kernel against the baseline, same seed): mean ± 95% "
                   f"confidence half-width (n seeds; Student's t); stalled = runs whose promotion "
                   f"stopped behind migrc's pending pages (docs/hazards.md)")
        out += _grid(cols, rows, left=len(varied) + 1)
    cols = list(varied) + ["kernel"] + list(counters)
    rows = []
    for c in result["configs"]:
        base_runs = [rows_by_key[run_key(c, "baseline", s)] for s in seeds]
        cells = [_plain(c[v]) for v in varied] + ["baseline"]
        for counter in counters:
            vals = [_count(r, counter) for r in base_runs]
            vals = [v for v in vals if v is not None]
            mean = sum(vals) / len(vals) if vals else None
            cells.append("n/a" if mean is None else f"{mean:.3f}" if isinstance(vals[0], float)
                         else f"{round(mean):,}")
        rows.append(cells)
    if "baseline" in result["kernels"]:
        out.append("")
        out.append("BEFORE: the baseline's counts, mean over the seeds (time per work: virtual s "
                   "per whole run)")
        out += _grid(cols, rows, left=len(varied) + 1)
    return "\n".join(out) + "\n"


def _count(row, counter):
    from kmm.experiments.seed import ELAPSED, TIME_PER_WORK
    if counter in (ELAPSED,):
        return row.get("virtual_s")
    if counter == TIME_PER_WORK:
        return row["virtual_s"] / row["done_fraction"] if row.get("done_fraction") else None
    return row.get(counter)
