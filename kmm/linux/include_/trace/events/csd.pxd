# Mirrors include/trace/events/csd.h: csd_function_entry, on the CPU that
# runs a cross-CPU call's function (here the TLB shootdown handlers);
# b is the CPU that asked.
from kmm.linux.include_.kmm.trace cimport KMM_TP_CSD_FUNCTION_ENTRY
from kmm.linux.kernel.trace.trace cimport kmm_trace


cdef inline void trace_csd_function_entry(int func, int initiating_cpu) noexcept nogil:
    kmm_trace(KMM_TP_CSD_FUNCTION_ENTRY, func, initiating_cpu, 0)
