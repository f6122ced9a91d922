# Mirrors include/trace/events/vmscan.h: mm_vmscan_kswapd_wake(nid, zid,
# order), mm_vmscan_kswapd_sleep(nid) and mm_vmscan_lru_shrink_inactive(nid,
# nr_scanned, nr_reclaimed, stat, priority, file).
from kmm.linux.include_.kmm.trace cimport (KMM_TP_KSWAPD_WAKE, KMM_TP_KSWAPD_SLEEP,
                                          KMM_TP_LRU_SHRINK_INACTIVE)
from kmm.linux.kernel.trace.trace cimport kmm_trace
from kmm.linux.include_.linux.vmstat cimport reclaim_stat


cdef inline void trace_mm_vmscan_kswapd_wake(int nid, int zid, int order) noexcept nogil:
    kmm_trace(KMM_TP_KSWAPD_WAKE, nid, zid, order)


cdef inline void trace_mm_vmscan_kswapd_sleep(int nid) noexcept nogil:
    kmm_trace(KMM_TP_KSWAPD_SLEEP, nid, 0, 0)


cdef inline long kmm_trace_field10(unsigned int v, int shift) noexcept nogil:
    """Emulator: a count in a 10-bit field of the ring's packed word."""
    return <long>(v if v < 1023 else 1023) << shift


cdef inline void trace_mm_vmscan_lru_shrink_inactive(int nid, unsigned long nr_scanned,
                                                     unsigned long nr_reclaimed,
                                                     const reclaim_stat *stat, int priority,
                                                     bint file) noexcept nogil:
    """The ring's third word packs what the kernel stores in separate fields
    (a batch is at most SWAP_CLUSTER_MAX folios, so 10 bits each are plenty):
    nid bits 0-5, priority 6-10, file 11, nr_activate[0] 12-21,
    nr_activate[1] 22-31, nr_ref_keep 32-41, nr_dirty 42-51 (the fields
    always 0 here, reclaim_stat's writeback ones, are not stored;
    kmm/report/ftrace.py unpacks it)."""
    kmm_trace(KMM_TP_LRU_SHRINK_INACTIVE, <long>nr_scanned, <long>nr_reclaimed,
              (nid & 63) | ((priority & 31) << 6) | (<long>(file != 0) << 11) |
              kmm_trace_field10(stat.nr_activate[0], 12) |
              kmm_trace_field10(stat.nr_activate[1], 22) |
              kmm_trace_field10(stat.nr_ref_keep, 32) | kmm_trace_field10(stat.nr_dirty, 42))
