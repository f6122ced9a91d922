"""Figures of the seed experiment (matplotlib: the `plot` extra).

One figure: counters over virtual time for each kernel (cumulative remote
flushes, IPIs received per CPU, promotions and demotions per second, node
0's free pages against its watermarks) and a bar chart of the AFTER/BEFORE
ratios next to the seed's.  PNG or SVG, chosen by the file's extension.
Everything plotted comes from the result's snapshots and counters."""

from __future__ import annotations

import pathlib

from kmm.emu.config import KmmConfigError
from kmm.experiments.seed import COUNTERS

FORMATS = (".png", ".svg")
COLORS = {"baseline": "#1f77b4", "migrc": "#d62728", "migrc+pause": "#2ca02c"}
SEED_COLOR = "#7f7f7f"
WM_STYLES = {"min": ":", "low": "-.", "high": "--", "promo": "-"}


def check_path(path) -> pathlib.Path:
    p = pathlib.Path(path)
    if p.suffix.lower() not in FORMATS:
        raise KmmConfigError(f"plot: {str(path)!r}; accepted: a file name ending in .png or .svg")
    return p


def check_available():
    """Raise KmmConfigError with the install hint when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise KmmConfigError("plot: matplotlib is not installed; install the plot extra: "
                             "pip install 'kmm[plot]' (or pip install matplotlib)") from None


def _series(snaps, key):
    return [s["t"] for s in snaps], [s[key] for s in snaps]


def _rate(snaps, key):
    ts, ys = [], []
    for a, b in zip(snaps, snaps[1:]):
        dt = b["t"] - a["t"]
        if dt > 0:
            ts.append((a["t"] + b["t"]) / 2)
            ys.append((b[key] - a[key]) / dt)
    return ts, ys


def figure(result: dict):
    check_available()
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter
    kernels = result["kernels"]
    runs = result["runs"]
    fig = Figure(figsize=(14, 21), layout="constrained")
    gs = fig.add_gridspec(5, 2, height_ratios=[1, 1, 1.25, 0.9, 0.9])
    w = result["workload"]
    fig.suptitle(f"kmm run: the seed experiment, emulated — {w['command']}, scale "
                 f"{result['scaling']['scale']:g}", fontsize=14)

    ax = fig.add_subplot(gs[0, 0])
    for k in kernels:
        ax.plot(*_series(runs[k]["snapshots"], "nr_tlb_remote_flush"), color=COLORS[k], label=k, lw=2)
    ax.set_title("nr_tlb_remote_flush (cumulative)")
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("remote flushes")
    ax.legend()
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(gs[0, 1])
    for k in kernels:
        snaps = runs[k]["snapshots"]
        t = [s["t"] for s in snaps]
        ncpu = len(snaps[0]["ipis_received_per_cpu"])
        for cpu in range(ncpu):
            ax.plot(t, [s["ipis_received_per_cpu"][cpu] for s in snaps], color=COLORS[k],
                    lw=0.8, alpha=0.55, label=f"{k} (one line per CPU)" if cpu == 0 else None)
    ax.set_title("TLB-flush IPIs received, per CPU (cumulative)")
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("nr_tlb_remote_flush_received")
    ax.legend()
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(gs[1, 0])
    for k in kernels:
        snaps = runs[k]["snapshots"]
        ax.plot(*_rate(snaps, "pgpromote_success"), color=COLORS[k], lw=1.6, label=f"{k}: promotions")
        t, d = _rate(snaps, "pgdemote_kswapd")
        ax.plot(t, [-x for x in d], color=COLORS[k], lw=1.6, ls="--", label=f"{k}: demotions (down)")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_title("promotions (pgpromote_success) up, demotions (pgdemote_kswapd) down")
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("pages / virtual s")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(gs[1, 1])
    top = 0
    for k in kernels:
        t, free = _series(runs[k]["snapshots"], "node0_free")
        ax.plot(t, free, color=COLORS[k], lw=1.4, label=f"{k}: free")
        later = sorted(free[len(free) // 10:]) or free
        top = max(top, 1.3 * later[int(0.95 * (len(later) - 1))])
    snaps = runs[kernels[0]]["snapshots"]
    for wm, ls in WM_STYLES.items():
        ax.plot(*_series(snaps, "node0_" + wm), color="black" if wm != "promo" else "#999999", lw=1,
                ls=ls, label=f"WMARK_{wm.upper()}")
    top = max(top, 2.5 * max(s["node0_promo"] for s in snaps))
    clipped = any(s["node0_free"] > top for k in kernels for s in runs[k]["snapshots"])
    ax.set_ylim(0, top)
    ax.set_title("node 0: free pages against its watermarks")
    if clipped:
        ax.text(0.01, 0.98, "the start (node 0 still empty) is off the top", transform=ax.transAxes,
                va="top", fontsize=8)
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("pages")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)

    ax = fig.add_subplot(gs[2, :])
    names = list(COUNTERS)
    groups = [(k, COLORS[k], result["ratios"][k]) for k in kernels if k in result["ratios"]]
    groups.append(("seed (published)", SEED_COLOR, result["seed_ratios"]))
    n = len(groups)
    height = 0.8 / n
    lo, hi = 0.5, 2.0
    for i, (label, color, ratios) in enumerate(groups):
        ys = [j + (i - (n - 1) / 2) * height for j in range(len(names))]
        vals = [ratios.get(c) for c in names]
        ax.barh(ys, [v - 1 if v else 0 for v in vals], left=1, height=height, color=color,
                label=f"{label} AFTER/BEFORE" if label.startswith("seed") else f"{label} / baseline")
        for y, v in zip(ys, vals):
            ax.text(v if v else 1, y, " n/a " if not v else f" {v:.3f} ", va="center", fontsize=7,
                    ha="right" if v and v < 1 else "left")
            if v:
                lo, hi = min(lo, v), max(hi, v)
    ax.set_xscale("log")
    ax.set_xlim(lo / 1.4, hi * 1.6)
    ticks = [t for t in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 20, 50, 100)
             if lo / 1.4 <= t <= hi * 1.6]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel("AFTER / BEFORE (log scale; bars start at 1 = no change)")
    ax.set_title("AFTER/BEFORE: emulated vs the seed's published numbers")
    ax.legend(loc="upper right")
    ax.grid(axis="x", alpha=0.3)

    ax = fig.add_subplot(gs[3, :])
    _cpu_time_panel(ax, result)

    ax = fig.add_subplot(gs[4, :])
    _windowed_ratio_panel(ax, result)
    return fig


WINDOWED = ("nr_tlb_remote_flush", "numa_pages_migrated", "itlb.itlb_flush", "dTLB-store-misses")
NBINS = 20


def _windowed_ratio_panel(ax, result):
    """AFTER/BEFORE per stretch of virtual time (the run's windows merged
    into NBINS bins), beside the cumulative ratio at the end: a ratio that
    still moves when the run stops is not converged."""
    win = result.get("windows", {})
    kernels = [k for k in result["kernels"] if k in result["ratios"]]
    if "baseline" not in win or not kernels:
        ax.set_axis_off()
        return
    base = win["baseline"]
    for k in kernels:
        other = win[k]
        n = min(len(base), len(other))
        step = max(1, n // NBINS)
        for j, c in enumerate(WINDOWED):
            t, r = [], []
            for i in range(0, n - step + 1, step):
                b = sum(w[c] for w in base[i:i + step])
                a = sum(w[c] for w in other[i:i + step])
                if b:
                    t.append((base[i]["t0"] + base[i + step - 1]["t1"]) / 2)
                    r.append(a / b)
            line, = ax.plot(t, r, marker="o", ms=3, lw=1.4,
                            label=f"{c} ({k})" if len(kernels) > 1 else c)
            cum = result["ratios"][k].get(c)
            if cum:
                ax.axhline(cum, color=line.get_color(), lw=0.8, ls=":")
            t, r = _full_size_windowed(result, k, c)
            if t:
                ax.plot(t, r, color=line.get_color(), marker="x", ms=4, lw=0.9, ls="--")
    ax.set_yscale("log")
    full = ((result.get("full_size") or {}).get("windows") or {})
    ax.set_title("AFTER/BEFORE per window of virtual time (dotted: the whole run's"
                 + ("; dashed: the full-size run's over the same full-size time)" if full else ")"))
    ax.set_xlabel("virtual time (s)")
    ax.set_ylabel("AFTER / BEFORE in the window")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)


def _full_size_windowed(result, kernel, counter):
    """The full-size reference's AFTER/BEFORE between its snapshots, on this
    scaled run's time axis (JSON full_size.windows); empty without one."""
    win = (result.get("full_size") or {}).get("windows") or {}
    if "baseline" not in win or kernel not in win:
        return [], []
    t, r = [], []
    for b, a in zip(win["baseline"], win[kernel]):
        if b.get(counter) and counter in a and a["t0"] == b["t0"]:
            t.append((b["t0"] + b["t1"]) / 2)
            r.append(a[counter] / b[counter])
    return t, r


CPU_PARTS = (("sys", "kernel (in the task)", ""), ("irq", "interrupts (IPIs)", "xx"),
             ("kthread", "kswapd", ".."))


def _cpu_time_panel(ax, result):
    """Per CPU and kernel: the share of the run's virtual time spent in the
    kernel, split into kernel work in the task, interrupts and kswapd (the
    rest is the workload's own time, or idle)."""
    kernels = result["kernels"]
    runs = result["runs"]
    n = len(kernels)
    width = 0.8 / n
    for i, k in enumerate(kernels):
        per_cpu = runs[k]["cpu_time"]["per_cpu"]
        v = runs[k]["virtual_s"] or 1.0
        xs = [c + (i - (n - 1) / 2) * width for c in range(len(per_cpu))]
        bottom = [0.0] * len(per_cpu)
        for part, label, hatch in CPU_PARTS:
            h = [100 * c[part] / v for c in per_cpu]
            ax.bar(xs, h, width, bottom=bottom, color=COLORS[k], alpha=0.45 + 0.2 * (hatch == ""),
                   hatch=hatch, edgecolor="black", lw=0.3, label=f"{k}: {label}")
            bottom = [b + x for b, x in zip(bottom, h)]
    cost = result["machine"].get("cost", {}).get("preset", "zero")
    ax.set_title(f"kernel time per CPU, % of the run (cost model: {cost}; the rest is the "
                 f"workload's own time or idle)")
    ax.set_xlabel("CPU")
    ax.set_ylabel("% of virtual time")
    ax.set_xticks(range(len(runs[kernels[0]]["cpu_time"]["per_cpu"])))
    ax.legend(fontsize=7, ncol=n)
    ax.grid(axis="y", alpha=0.3)


def save(result: dict, path) -> pathlib.Path:
    p = check_path(path)
    fig = figure(result)
    fig.savefig(p, dpi=110)
    return p


# -- kmm sweep ---------------------------------------------------------------------

def _x_values(configs, key):
    """The distinct values of `key` in the configurations' order, and
    whether they are all numbers (a numeric axis) or not (categories)."""
    xs = list(dict.fromkeys(c[key] for c in configs))
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    return xs, numeric


def sweep_figure(result: dict, counters, x=None):
    """One panel per counter: its AFTER/BEFORE (mean over the seeds, bars:
    95% confidence interval) against the varied parameter `x` (default: the
    first varied key), a line per non-baseline kernel and per value of the
    other varied keys; the seed's published ratio dashed."""
    check_available()
    from matplotlib.figure import Figure
    from kmm.experiments.seed import seed_ratios
    varied = result["varied"]
    if not varied:
        raise KmmConfigError("plot: nothing varies between the configurations: the figure plots "
                             "a ratio against a varied parameter")
    x = x or varied[0]
    others = [v for v in varied if v != x]
    xs, numeric = _x_values(result["configs"], x)
    seed = seed_ratios()
    fig = Figure(figsize=(4.6 * len(counters), 3.9), layout="constrained")
    nseeds = len(result["seeds"])
    fig.suptitle(f"kmm sweep: AFTER/BEFORE against {x}; mean over {nseeds} seed"
                 f"{'s' * (nseeds > 1)}, bars: 95% confidence interval", fontsize=10)
    from kmm.experiments.sweep import run_key
    rows = {r["run_key"]: r for r in result["runs"]}
    for i, counter in enumerate(counters):
        ax = fig.add_subplot(1, len(counters), i + 1)
        lines = {}
        stalled = [[], []]                  # the per-seed ratios: (x, y) of runs that stalled
        normal = [[], []]
        for c, per_kernel in zip(result["configs"], result["ratios"]):
            for k, stats in per_kernel.items():
                label = k + "".join(f", {o}={c[o]}" for o in others)
                lines.setdefault(label, (k, []))[1].append((c[x], stats[counter]))
                xpos = c[x] if numeric else xs.index(c[x])
                for s, v in zip(result["seeds"], stats[counter]["values"]):
                    if v is not None:
                        dest = stalled if rows[run_key(c, k, s)].get("stalled") else normal
                        dest[0].append(xpos)
                        dest[1].append(v)
        ax.scatter(*normal, s=12, color="black", alpha=0.45, zorder=3, label="one seed")
        if stalled[0]:
            ax.scatter(*stalled, s=18, marker="x", color="black", alpha=0.6, zorder=3,
                       label="one seed, promotion stalled")
        for j, (label, (k, pts)) in enumerate(lines.items()):
            px = [p if numeric else xs.index(p) for p, _ in pts]
            ys = [st["mean"] for _, st in pts]
            err = [[0 if st["ci95_low"] is None else st["mean"] - st["ci95_low"] for _, st in pts],
                   [0 if st["ci95_high"] is None else st["ci95_high"] - st["mean"] for _, st in pts]]
            keep = [n for n, y in enumerate(ys) if y is not None]
            ax.errorbar([px[n] for n in keep], [ys[n] for n in keep],
                        yerr=[[err[0][n] for n in keep], [err[1][n] for n in keep]],
                        marker="o", capsize=4, lw=1.5, label=label,
                        color=COLORS.get(k) if len(lines) <= len(COLORS) and not others else None)
        if seed.get(counter) is not None:
            ax.axhline(seed[counter], color=SEED_COLOR, ls="--", lw=1, label="seed (published)")
        ax.axhline(1.0, color="black", lw=0.6, alpha=0.5)
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(v) for v in xs])
            ax.set_xlim(-0.5, len(xs) - 0.5)
        ax.set_xlabel(x)
        ax.set_ylabel("AFTER/BEFORE")
        ax.set_title(counter, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def save_sweep(result: dict, path, counters, x=None) -> pathlib.Path:
    p = check_path(path)
    fig = sweep_figure(result, counters, x)
    fig.savefig(p, dpi=90)
    return p
