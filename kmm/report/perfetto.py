"""A run's trace as a Perfetto-readable timeline: Chrome trace-event JSON
(the format ui.perfetto.dev and trace_processor_shell open directly; no
dependency, and a test reads it back with json).  One track per CPU with
its flushes sent and received, hint faults, migrations, kswapd and migrc
events as instants; counter tracks from the run's snapshots: free pages
per node, migrc's pending pages, promotions and demotions per second."""
import json

import numpy as np

from kmm.emu import tracing
from kmm.report.ftrace import TLB_FLUSH_REASONS, fields

PID = 1


def _name(tp, a):
    name = tracing.EVENTS[tp]
    if name == "tlb_flush":
        return f"tlb_flush: {TLB_FLUSH_REASONS[a]}"
    if name == "csd_function_entry":
        return "flush IPI received" if a == 1 else "flush_tlb_all IPI received"
    return name


def events(run, trace, title):
    """The trace-event list of one kernel's run."""
    out = [{"ph": "M", "pid": PID, "name": "process_name", "args": {"name": title}}]
    ev = trace["events"]
    for cpu in sorted(set(int(c) for c in ev["cpu"])):
        out.append({"ph": "M", "pid": PID, "tid": cpu, "name": "thread_name",
                    "args": {"name": f"CPU {cpu}"}})
    for e in ev[np.argsort(ev["seq"], kind="stable")]:
        tp, a, b, c = int(e["tp"]), int(e["a"]), int(e["b"]), int(e["c"])
        out.append({"ph": "i", "s": "t", "pid": PID, "tid": int(e["cpu"]),
                    "ts": int(e["ts_ns"]) / 1e3, "name": _name(tp, a), "cat": tracing.SYSTEMS[tp],
                    "args": {"fields": fields(tp, a, b, c), "pid": int(e["pid"]),
                             "site": tracing.SITES[int(e["site"])]}})
    snaps = run["snapshots"]
    for prev, s in zip(snaps, snaps[1:]):
        dt = s["t"] - prev["t"]
        ts = s["t"] * 1e6
        out.append({"ph": "C", "pid": PID, "ts": ts, "name": "free pages per node",
                    "args": {f"node {i}": n for i, n in enumerate(s["free_per_node"])}})
        out.append({"ph": "C", "pid": PID, "ts": ts, "name": "migrc pending pages",
                    "args": {"pending": s.get("node0_migrc_pending", 0)}})
        if dt > 0:
            out.append({"ph": "C", "pid": PID, "ts": ts, "name": "migrations per s",
                        "args": {"promotions": (s["pgpromote_success"] - prev["pgpromote_success"]) / dt,
                                 "demotions": (s["pgdemote_kswapd"] - prev["pgdemote_kswapd"]) / dt}})
    return out


def write(path, run, trace, title):
    with open(path, "w") as f:
        json.dump({"traceEvents": events(run, trace, title), "displayTimeUnit": "ms",
                   "otherData": {"kmm": title, "dropped": int(trace["dropped"])}}, f)
