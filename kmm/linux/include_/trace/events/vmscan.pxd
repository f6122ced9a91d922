# Mirrors include/trace/events/vmscan.h: mm_vmscan_kswapd_wake(nid, zid,
# order) and mm_vmscan_kswapd_sleep(nid).
from kmm.linux.include_.kmm.trace cimport KMM_TP_KSWAPD_WAKE, KMM_TP_KSWAPD_SLEEP
from kmm.linux.kernel.trace.trace cimport kmm_trace


cdef inline void trace_mm_vmscan_kswapd_wake(int nid, int zid, int order) noexcept nogil:
    kmm_trace(KMM_TP_KSWAPD_WAKE, nid, zid, order)


cdef inline void trace_mm_vmscan_kswapd_sleep(int nid) noexcept nogil:
    kmm_trace(KMM_TP_KSWAPD_SLEEP, nid, 0, 0)
