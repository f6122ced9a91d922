# Emulator-only tracepoints (the kernel and the seed patch have none here):
# migrc_flush_free_folios (folios freed, the caller's KMM_SITE_*) and the
# NUMA hint fault (address, the page's node, whether it was promoted).
from kmm.linux.include_.kmm.trace cimport KMM_TP_MIGRC_FLUSH, KMM_TP_NUMA_HINT_FAULT
from kmm.linux.kernel.trace.trace cimport kmm_trace


cdef inline void trace_migrc_flush_free_folios(long nr_folios, int caller) noexcept nogil:
    kmm_trace(KMM_TP_MIGRC_FLUSH, nr_folios, caller, 0)


cdef inline void trace_kmm_numa_hint_fault(unsigned long addr, int page_nid, bint migrated) noexcept nogil:
    kmm_trace(KMM_TP_NUMA_HINT_FAULT, <long>addr, page_nid, migrated)
