"""Dynamic similarity of a scaled run with the full-size one (docs/run.md,
"Scaling").

The scaling rule scales memory and the NUMA-balancing times by F, so each
per-page rate runs 1/F times faster and a virtual second of a scaled run
stands for 1/F seconds of the full-size run.  `similarity()` measures, for
one kernel's run, the dimensionless rates that drive the counters and sets
beside each the full-size run's value: by construction (from the
configuration, the same formula at F = 1) or by measurement (from
`full_size_reference.json`, the snapshots of a full-size `kmm run`, over
the same stretch of full-size time).  Nothing here feeds back into a run.
"""
import json
from pathlib import Path

REFERENCE = Path(__file__).with_name("full_size_reference.json")
TOL = 0.10                       # a rate more than 10% off the full size's is marked

# (key, what, source): "construction" rates follow from the configuration,
# "measured" ones from the run's snapshots
RATES = (
    ("scan_windows_per_rss", "NUMA scan windows per XSBench footprint", "construction"),
    ("scan_floor_per_period_min", "task_scan_min floor / scan_period_min", "construction"),
    ("touches_per_page_per_hot_threshold",
     "data-page touches per data page within one hot threshold", "construction"),
    ("wmark_min_fraction", "node 0 WMARK_MIN / its pages", "construction"),
    ("wmark_gap_fraction", "node 0 WMARK_HIGH - WMARK_MIN / its pages", "construction"),
    ("kswapd_batch_fraction", "reclaim batch (SWAP_CLUSTER_MAX) / node 0 pages", "construction"),
    ("scan_ptes_per_page_s", "NUMA scan PTE updates per node 0 page per full-size second", "measured"),
    ("hint_faults_per_page_s", "hint faults per node 0 page per full-size second", "measured"),
    ("promotions_per_page_s", "promotions per node 0 page per full-size second", "measured"),
    ("demotions_per_page_s", "demotions per node 0 page per full-size second", "measured"),
    ("migrc_pending_per_free", "migrc's pending pages / node 0 free pages (mean)", "measured"),
)
# What the rule gives up for the rates above, the per-event make-up of
# reclaim (docs/run.md, "Scaled runs against the full size"): measured and
# printed apart, not kept by design
GIVEN_UP = (
    ("remote_flushes_per_demotion", "nr_tlb_remote_flush per demoted page", "measured"),
    ("remote_flushes_per_kswapd_cycle", "nr_tlb_remote_flush per kswapd cycle (pageoutrun)",
     "measured"),
)


def within(here, full):
    """Whether `here` is `full` within TOL; None where either is undefined
    (None, or a zero full-size value)."""
    if here is None or full is None or full == 0:
        return None
    return abs(here / full - 1) <= TOL


def construction(machine, workload, node0_pages, wmarks):
    """The rates fixed by the configuration, at this run's sizes: `machine`
    as in the run JSON (its sysctls, and what the mirror computed or
    defines: task_scan_min()'s floor, kmm.emu.sysctl.numa_scan_floor_ms,
    and reclaim's batch, kmm.emu.sysctl.swap_cluster_max)."""
    sysctl = machine["sysctl"]
    scan_mb = sysctl["kernel.numa_balancing_scan_size_mb"]
    data_pages = sum(r["pages"] for r in workload["regions"].values())
    touches = sum(workload["expected_pages_per_lookup"].values())
    lookups_per_s = workload["threads"] * 1e9 / workload["lookup_ns"]
    return {
        "scan_windows_per_rss": data_pages / (scan_mb * 256),
        "scan_floor_per_period_min":
            machine["numa_scan_floor_ms"] / sysctl["kernel.numa_balancing_scan_period_min_ms"],
        "touches_per_page_per_hot_threshold":
            lookups_per_s * touches / data_pages * sysctl["kernel.numa_balancing_hot_threshold_ms"] / 1e3,
        "wmark_min_fraction": wmarks["min"] / node0_pages,
        "wmark_gap_fraction": (wmarks["high"] - wmarks["min"]) / node0_pages,
        "kswapd_batch_fraction": machine["swap_cluster_max"] / node0_pages,
    }


def measured(snaps, t_end, scale):
    """Rates over the snapshots up to virtual time t_end, per full-size
    second (a virtual second here is 1/scale of them)."""
    seen = upto(snaps, t_end)
    first, last = snaps[0], seen[-1]
    full_s = (last["t"] - first["t"]) / scale
    pages = last["node0_managed"]
    if full_s <= 0:
        return {k: None for k, _, src in RATES + GIVEN_UP if src == "measured"}
    d = lambda k: last.get(k, 0) - first.get(k, 0)
    pend = [s["node0_migrc_pending"] / s["node0_free"] for s in seen if s.get("node0_free")]
    cycles = d("pageoutrun")
    return {
        # numa_pte_updates, not numa_scan_seq: a default run covers two or
        # three scan passes, too few to compare as a count
        "scan_ptes_per_page_s": d("numa_pte_updates") / pages / full_s,
        "hint_faults_per_page_s": d("numa_hint_faults") / pages / full_s,
        "promotions_per_page_s": d("pgpromote_success") / pages / full_s,
        "demotions_per_page_s": d("pgdemote_kswapd") / pages / full_s,
        "migrc_pending_per_free": sum(pend) / len(pend) if pend else None,
        # neither is kept (docs/run.md, "Scaled runs against the full
        # size"): a demoting reclaim batch flushes once, and a batch of
        # SWAP_CLUSTER_MAX x F folios holds a demoted one less often than
        # a batch of 32; kswapd's cycles are shorter and more frequent
        "remote_flushes_per_demotion":
            d("nr_tlb_remote_flush") / d("pgdemote_kswapd") if d("pgdemote_kswapd") else None,
        "remote_flushes_per_kswapd_cycle": d("nr_tlb_remote_flush") / cycles if cycles else None,
    }


# The inputs a full-size value depends on besides the length and the
# scale; the seed is left out: at full size seeds 0-4 give the same ratios
# over the first 93 s within 4% (docs/run.md), and the reference's seed is
# printed beside its values
SAME_INPUTS = ("workload", "size", "lookups_per_particle", "threads", "nodes", "sysctl",
               "kconfig", "cost", "cmdline", "cpu", "ablate")


def reference_for(inputs, reference):
    """(reference, None) when `reference` ran the configuration of a run
    with `inputs` (its JSON `inputs`), else (None, why): no reference, or
    the first input that differs."""
    if reference is None:
        return None, "no full-size reference is installed"
    theirs = reference.get("inputs")
    if theirs is None:
        return None, "the installed full-size reference does not record its inputs"
    for key in SAME_INPUTS:
        if inputs.get(key) != theirs.get(key):
            return None, (f"this run's {key} ({_short(inputs.get(key))}) is not the full-size "
                          f"reference's ({_short(theirs.get(key))})")
    return reference, None


def _short(v):
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def upto(snaps, t_end):
    """The snapshots at or before t_end (at least the first)."""
    return [s for s in snaps if s["t"] <= t_end + 1e-9] or snaps[:1]


def span(result):
    """The full-size seconds a run covers: its longest kernel's virtual
    time / scale."""
    return max((r["snapshots"][-1]["t"] - r["snapshots"][0]["t"]) / result["scaling"]["scale"]
               for r in result["runs"].values())


def reach(result, reference):
    """(the full-size seconds `result` covers, the full-size seconds up to
    the reference's last snapshot within them): a value is read there."""
    want = span(result)
    snaps = reference["runs"]["baseline"]["snapshots"]
    return want, upto(snaps, snaps[0]["t"] + want)[-1]["t"] - snaps[0]["t"]


def covers(result, reference):
    """(reference, None) when the reference's snapshots reach within TOL of
    the end of the full-size span `result` covers (they are ~4.6 s apart),
    else (None, why): too short a run has no full-size value to compare."""
    want, got = reach(result, reference)
    if want - got > TOL * want:
        snaps = reference["runs"]["baseline"]["snapshots"]
        return None, (f"the full-size reference's snapshots, {snaps[1]['t'] - snaps[0]['t']:.1f} s "
                      f"apart, reach {got:.1f} of this run's {want:.1f} full-size s")
    return reference, None


def full_size_ratios(result, reference, counters):
    """{kernel: {counter: AFTER/BEFORE}}: the full-size reference's ratios
    over the same stretch of full-size time as each kernel of `result` (a
    scaled run) covers; None where the reference has no such kernel or
    counter, or where its baseline count is zero."""
    scale = result["scaling"]["scale"]
    runs, ref = result["runs"], reference["runs"]

    def delta(kernel, c):
        snaps = runs[kernel]["snapshots"]
        ref_snaps = ref[kernel]["snapshots"]
        first = ref_snaps[0]
        last = upto(ref_snaps, first["t"] + (snaps[-1]["t"] - snaps[0]["t"]) / scale)[-1]
        return last[c] - first[c] if c in last and c in first else None

    out = {}
    for k in result["ratios"]:
        out[k] = {}
        for c in counters:
            a = delta(k, c) if k in ref else None
            b = delta("baseline", c)
            out[k][c] = a / b if a is not None and b else None
    return out


def full_size_windows(result, reference, counters):
    """{kernel: [{"t0", "t1", counter: delta}]}: the full-size reference's
    counts between its consecutive snapshots over the full-size span of
    `result` (a scaled run), for the baseline and each kernel with a ratio
    that the reference ran; t0 and t1 in `result`'s virtual time (full-size
    time x scale), so that they sit on its own windows' axis."""
    scale, full_s = result["scaling"]["scale"], span(result)
    out = {}
    for k in ["baseline", *result["ratios"]]:
        if k not in reference["runs"]:
            continue
        snaps = reference["runs"][k]["snapshots"]
        snaps = upto(snaps, snaps[0]["t"] + full_s)
        out[k] = [dict({"t0": a["t"] * scale, "t1": b["t"] * scale},
                       **{c: b[c] - a[c] for c in counters if c in a and c in b})
                  for a, b in zip(snaps, snaps[1:])]
    return out


def load_reference(path=REFERENCE):
    """The full-size run's record, or None when there is none."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def similarity(run, machine, workload, scale, reference=None):
    """(kept, given_up) for one kernel's run: [{key, what, source, here,
    full, kept}] for the rates the scaling rule keeps (RATES) and for those
    it gives up for them (GIVEN_UP).  `run` and `machine` as in the run
    JSON (its snapshots; the sysctls and the scan floor), `workload` its
    describe().  `full` is None where the reference has no value; `kept`
    whether `here` is `full` within TOL."""
    snaps = run["snapshots"]
    first = snaps[0]
    wm = {k: first["node0_" + k] for k in ("min", "low", "high")}
    here = construction(machine, workload, first["node0_managed"], wm)
    here.update(measured(snaps, snaps[-1]["t"], scale))
    full = dict(reference["construction"]) if reference else {}
    if reference:
        kernel = run["kernel"] if run["kernel"] in reference["runs"] else "baseline"
        ref_snaps = reference["runs"][kernel]["snapshots"]
        # the same stretch of full-size time as this run covers
        full.update(measured(ref_snaps, ref_snaps[0]["t"] + (snaps[-1]["t"] - first["t"]) / scale, 1.0))
    rows = lambda table: [{"key": key, "what": what, "source": source, "here": here.get(key),
                           "full": full.get(key), "kept": within(here.get(key), full.get(key))}
                          for key, what, source in table]
    return rows(RATES), rows(GIVEN_UP)


def make_reference(result, commit, note):
    """The record `load_reference()` reads, from a full-size run's JSON."""
    if result["scaling"]["scale"] != 1.0:
        raise ValueError("the reference must come from a full-size run (--scale 1)")
    # what measured() reads, and every printed counter a snapshot holds
    keys = ("t", "node0_managed", "node0_free", "node0_min", "node0_low", "node0_high",
            "node0_migrc_pending", "numa_scan_seq", "numa_pte_updates", "numa_hint_faults",
            "pgpromote_success", "pgdemote_kswapd", "pageoutrun", *result["counters"])
    runs = {}
    for k, run in result["runs"].items():
        runs[k] = {"snapshots": [{key: s[key] for key in keys if key in s} for s in run["snapshots"]],
                   "virtual_s": run["virtual_s"]}
    first = result["runs"]["baseline"]["snapshots"][0]
    wm = {k: first["node0_" + k] for k in ("min", "low", "high")}
    return {"commit": commit, "note": note, "command": "kmm run --scale 1 --particles %d" %
            result["workload"]["particles"], "inputs": result["inputs"], "seed": result["machine"]["seed"],
            "construction": construction(result["machine"], result["workload"],
                                         first["node0_managed"], wm),
            "runs": runs}
