"""A run's trace (kmm/emu/tracing.pyx) as text in trace-cmd report's line
format, `TASK-PID [CPU] TIMESTAMP: EVENT: FIELDS`, each event's fields
printed as its kernel TP_printk prints them (docs/tracing.md).  The
timestamp is virtual time in seconds."""
import numpy as np

from kmm.emu import tracing

TLB_FLUSH_REASONS = ("flush on task switch", "remote shootdown", "local shootdown",
                     "local mm shootdown", "remote ipi send")
MIGRATE_MODES = ("MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC", "MIGRATE_SYNC_NO_COPY")
MIGRATE_REASONS = ("compaction", "memory_failure", "memory_hotplug", "syscall_or_cpuset",
                   "mempolicy_mbind", "numa_misplaced", "contig_range", "longterm_pin",
                   "demotion")
CSD_FUNCS = {1: "flush_tlb_func", 2: "do_flush_tlb_all"}
# include/trace/events/vmscan.h: show_reclaim_flags(), in its order
RECLAIM_WB_FLAGS = ((0x1, "RECLAIM_WB_ANON"), (0x2, "RECLAIM_WB_FILE"), (0x10, "RECLAIM_WB_MIXED"),
                    (0x4, "RECLAIM_WB_SYNC"), (0x8, "RECLAIM_WB_ASYNC"))


def shrink_inactive_fields(c):
    """The packed third word of mm_vmscan_lru_shrink_inactive (layout in
    kmm/linux/include_/trace/events/vmscan.pxd) as a dict of the kernel's
    field names."""
    return {"nid": c & 63, "priority": (c >> 6) & 31, "file": (c >> 11) & 1,
            "nr_activate_anon": (c >> 12) & 1023, "nr_activate_file": (c >> 22) & 1023,
            "nr_ref_keep": (c >> 32) & 1023, "nr_dirty": (c >> 42) & 1023}


def fields(tp, a, b, c):
    """One event's fields, as the kernel prints them."""
    name = tracing.EVENTS[tp]
    if name == "tlb_flush":
        return f"pages:{b} reason:{TLB_FLUSH_REASONS[a]} ({a})"
    if name == "csd_function_entry":
        return f"func={CSD_FUNCS.get(a, a)}, csd=0000000000000000"
    if name == "mm_migrate_pages":
        mode, reason = c >> 8, c & 0xff
        return (f"nr_succeeded={a} nr_failed={b} nr_thp_succeeded=0 nr_thp_failed=0 "
                f"nr_thp_split=0 mode={MIGRATE_MODES[mode]} reason={MIGRATE_REASONS[reason]}")
    if name == "mm_vmscan_kswapd_wake":
        return f"nid={a} order={c}"
    if name == "mm_vmscan_kswapd_sleep":
        return f"nid={a}"
    if name == "numa_hint_fault":
        return f"addr=0x{a & 0xffffffffffffffff:x} page_nid={b} migrated={c}"
    if name == "mm_vmscan_lru_shrink_inactive":
        f = shrink_inactive_fields(c)
        # trace_reclaim_flags(file): the list's type, always with RECLAIM_WB_ASYNC
        flags = (0x2 if f["file"] else 0x1) | 0x8
        return (f"nid={f['nid']} nr_scanned={a} nr_reclaimed={b} nr_dirty={f['nr_dirty']} "
                f"nr_writeback=0 nr_congested=0 nr_immediate=0 "
                f"nr_activate_anon={f['nr_activate_anon']} nr_activate_file={f['nr_activate_file']} "
                f"nr_ref_keep={f['nr_ref_keep']} nr_unmap_fail=0 priority={f['priority']} "
                f"flags={'|'.join(n for bit, n in RECLAIM_WB_FLAGS if flags & bit)}")
    if name == "migrc_flush_free_folios":
        return f"nr_folios={a} caller={tracing.SITES[b]}"
    return f"a={a} b={b} c={c}"


def lines(trace, workload_name="task"):
    """Yield the trace's lines in recording order."""
    comms = trace["comms"]
    ev = trace["events"]
    for e in ev[np.argsort(ev["seq"], kind="stable")]:
        pid = int(e["pid"])
        comm = comms.get(pid) or (workload_name if pid else "<idle>")
        sec = int(e["ts_ns"]) / 1e9
        name = tracing.EVENTS[e["tp"]]
        yield (f"{comm:>16}-{pid:<7d} [{int(e['cpu']):03d}] {sec:12.6f}: {name}: "
               f"{fields(int(e['tp']), int(e['a']), int(e['b']), int(e['c']))}")


def write(path, trace, title, workload_name="task"):
    """Write one kernel's trace to `path` (a header line naming the kernel
    and what was dropped, then the events)."""
    with open(path, "w") as f:
        f.write(f"# kmm trace: {title}; {len(trace['events'])} events, "
                f"{trace['dropped']} dropped (ring full); virtual time in s\n")
        for ln in lines(trace, workload_name):
            f.write(ln + "\n")
