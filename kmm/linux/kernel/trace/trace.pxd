# Mirrors the part of kernel/trace/ (the ftrace ring buffer) that the
# emulated tracepoints need: record an event if its tracepoint is enabled.
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine

cdef void kmm_trace_record(kmm_machine *m, int tp, long a, long b, long c) noexcept nogil


cdef inline void kmm_trace(int tp, long a, long b, long c) noexcept nogil:
    """A tracepoint: one load and one branch when tracing is off."""
    cdef kmm_machine *m = KMM()
    if m.trace.mask & (1U << tp):
        kmm_trace_record(m, tp, a, b, c)


cdef inline int kmm_site_enter(int site) noexcept nogil:
    """Emulator (flush attribution): this CPU now works for `site`;
    returns the site to restore with kmm_site_exit()."""
    cdef kmm_machine *m = KMM()
    cdef int prev = m.cpus[m.cpu].kmm_site
    m.cpus[m.cpu].kmm_site = site
    return prev


cdef inline void kmm_site_exit(int prev) noexcept nogil:
    cdef kmm_machine *m = KMM()
    m.cpus[m.cpu].kmm_site = prev
