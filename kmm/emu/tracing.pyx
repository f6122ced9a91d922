"""The emulator's side of tracing and flush attribution: switch the C trace
ring of a machine on and off (kmm/linux/kernel/trace/trace.pyx), read it
out as a numpy array, and read the per-site attribution of the nr_tlb_*
counters.  Formatting lives in kmm/report/ftrace.py and
kmm/report/perfetto.py.  docs/tracing.md has the events and their fields."""

from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

import numpy as np

from kmm.emu.machine cimport Machine
from kmm.emu.config import KmmConfigError
from kmm.linux.include_.kmm.machine cimport kmm_machine
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.kmm.trace cimport (kmm_trace_entry, KMM_NR_TP, KMM_NR_SITES,
                                          KMM_NR_ATTR)

# tracepoint names as trace-cmd prints them, by KMM_TP_* number, with
# their systems (the kernel's where there is one)
EVENTS = ("tlb_flush", "csd_function_entry", "mm_migrate_pages", "mm_vmscan_kswapd_wake",
          "mm_vmscan_kswapd_sleep", "numa_hint_fault", "migrc_flush_free_folios",
          "mm_vmscan_lru_shrink_inactive")
SYSTEMS = ("tlb", "csd", "migrate", "vmscan", "vmscan", "kmm", "migrc", "vmscan")
SITES = ("other", "demotion", "promotion", "migrate (other reasons)",
         "migrc flush from get_page_from_freelist", "migrc flush from do_wp_page",
         "NUMA scan (change_prot_numa)", "munmap / exit", "mprotect", "reclaim unmap",
         "fork (dup_mmap)")
ATTR_COLUMNS = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
                "nr_tlb_local_flush_all", "nr_tlb_local_flush_one")
DTYPE = np.dtype([("ts_ns", np.uint64), ("seq", np.uint64), ("tp", np.uint16),
                  ("cpu", np.int16), ("pid", np.int32), ("site", np.int32), ("_pad", np.int32),
                  ("a", np.int64), ("b", np.int64), ("c", np.int64)])
DEFAULT_CAPACITY = 4_000_000            # events (56 bytes each: 224 MB at most)

assert len(EVENTS) == KMM_NR_TP and len(SITES) == KMM_NR_SITES
assert len(ATTR_COLUMNS) == KMM_NR_ATTR and DTYPE.itemsize == sizeof(kmm_trace_entry)


cdef Machine _machine(mach):
    if not isinstance(mach, Machine):
        raise KmmConfigError(f"machine: {mach!r} is not a kmm.Machine")
    (<Machine>mach)._live()
    return <Machine>mach


def check_events(events):
    """The tracepoint mask of `events` (None: all), names as EVENTS or
    'system:name'; a bad name is a KmmConfigError naming it."""
    if events is None:
        return (1 << KMM_NR_TP) - 1
    if isinstance(events, str):
        events = [e for e in events.split(",") if e]
    mask = 0
    for e in events:
        name = e.split(":", 1)[1] if ":" in e else e
        if name not in EVENTS or (":" in e and e.split(":", 1)[0] != SYSTEMS[EVENTS.index(name)]):
            raise KmmConfigError(f"trace event {e!r}: unknown; accepted: "
                                 f"{', '.join(f'{s}:{n}' for s, n in zip(SYSTEMS, EVENTS))}")
        mask |= 1 << EVENTS.index(name)
    if not mask:
        raise KmmConfigError("trace events: none given")
    return mask


def check_window(window):
    """(t0, t1) in virtual seconds from a 'T0:T1' string or a pair; None is
    the whole run."""
    if window is None:
        return 0.0, float("inf")
    try:
        t0, t1 = (window.split(":") if isinstance(window, str) else window)
        t0 = float(t0) if str(t0) != "" else 0.0
        t1 = float(t1) if str(t1) != "" else float("inf")
    except (ValueError, TypeError):
        raise KmmConfigError(f"trace window {window!r}: expected 'T0:T1' in virtual seconds")
    if not (0 <= t0 < t1):
        raise KmmConfigError(f"trace window {window!r}: expected 0 <= T0 < T1")
    return t0, t1


def start(mach, events=None, window=None, capacity=DEFAULT_CAPACITY):
    """Start recording `events` (names, default all) in the virtual-time
    window (seconds since the machine booted) into a ring of `capacity`
    events; restarts an empty ring if one is running."""
    cdef kmm_machine *m = _machine(mach).m
    mask = check_events(events)
    t0, t1 = check_window(window)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= 50_000_000:
        raise KmmConfigError(f"trace capacity {capacity!r}: expected 1..50000000 events")
    stop(mach)
    m.trace.ring = <kmm_trace_entry *>malloc(capacity * sizeof(kmm_trace_entry))
    if m.trace.ring == NULL:
        raise MemoryError("trace ring")
    m.trace.cap = capacity
    m.trace.len = 0
    m.trace.dropped = 0
    m.trace.seq = 0
    m.trace.t0_ns = <unsigned long long>(t0 * 1e9)
    m.trace.t1_ns = <unsigned long long>-1 if t1 == float("inf") else <unsigned long long>(t1 * 1e9)
    m.trace.mask = mask


def stop(mach):
    """Stop recording and free the ring."""
    cdef kmm_machine *m = _machine(mach).m
    m.trace.mask = 0
    if m.trace.ring != NULL:
        free(m.trace.ring)
    m.trace.ring = NULL
    m.trace.len = m.trace.cap = 0


def read(mach):
    """The events recorded so far: (numpy array of DTYPE, dropped count)."""
    cdef kmm_machine *m = _machine(mach).m
    out = np.empty(m.trace.len, dtype=DTYPE)
    cdef unsigned char[::1] buf = out.view(np.uint8)
    if m.trace.len:
        memcpy(&buf[0], m.trace.ring, m.trace.len * sizeof(kmm_trace_entry))
    return out, m.trace.dropped


def enabled(mach):
    return _machine(mach).m.trace.mask != 0


def attribution(mach):
    """{site: {nr_tlb_* column: count}} for every site that caused one."""
    cdef kmm_machine *m = _machine(mach).m
    out = {}
    for s in range(KMM_NR_SITES):
        row = {ATTR_COLUMNS[c]: m.kmm_attr[s][c] for c in range(KMM_NR_ATTR)}
        if any(row.values()):
            out[SITES[s]] = row
    return out


def comms(mach):
    """{pid: comm} of the tasks on the CPUs now (current and idle) and of
    each node's kswapd: the names a trace prints for its pids."""
    cdef kmm_machine *m = _machine(mach).m
    cdef task_struct *t
    cdef int c, k, nid
    out = {0: "<idle>"}
    for c in range(m.nr_cpu_ids):
        for k in range(2):
            t = m.cpus[c].current_task if k == 0 else m.cpus[c].idle
            if t != NULL and t.pid:
                out[t.pid] = t.comm.decode(errors="replace")
    for nid in range(m.nr_node_ids):
        if m.node_data[nid] != NULL and m.node_data[nid].kswapd != NULL:
            t = m.node_data[nid].kswapd
            out[t.pid] = t.comm.decode(errors="replace")
    return out
