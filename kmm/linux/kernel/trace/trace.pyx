"""kernel/trace/: the ring the emulated tracepoints write to (one per
machine, kmm_machine.trace), in C.  Each enabled event is stamped with the
virtual time, the CPU, the current task's pid and the CPU's attribution
site; events outside the time window are not kept, and events past a full
ring are counted as dropped (ftrace's ring would overwrite: here the
oldest events are kept, so a trace always starts where it was asked to).
The Python side (kmm/emu/tracing.py) enables it and reads it out."""

from kmm.linux.include_.kmm.machine cimport kmm_machine
from kmm.linux.include_.kmm.trace cimport kmm_trace_entry


cdef void kmm_trace_record(kmm_machine *m, int tp, long a, long b, long c) noexcept nogil:
    """kernel/trace/ring_buffer.c, reduced: reserve an entry and fill it."""
    cdef kmm_trace_entry *e
    cdef unsigned long long now = m.clock_ns
    if now < m.trace.t0_ns or now >= m.trace.t1_ns:
        return
    if m.trace.len >= m.trace.cap:
        m.trace.dropped += 1
        return
    e = &m.trace.ring[m.trace.len]
    m.trace.len += 1
    e.ts_ns = now
    e.seq = m.trace.seq
    m.trace.seq += 1
    e.tp = <unsigned short>tp
    e.cpu = <short>m.cpu
    e.pid = m.cpus[m.cpu].current_task.pid if m.cpus[m.cpu].current_task != NULL else 0
    e.site = m.cpus[m.cpu].kmm_site
    e.a = a
    e.b = b
    e.c = c
