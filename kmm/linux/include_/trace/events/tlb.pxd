# Mirrors include/trace/events/tlb.h: TRACE_EVENT(tlb_flush, reason, pages),
# printed "pages:%ld reason:%s (%d)"; pages is TLB_FLUSH_ALL (-1) for a
# full flush.
from kmm.linux.include_.kmm.trace cimport KMM_TP_TLB_FLUSH
from kmm.linux.kernel.trace.trace cimport kmm_trace


cdef inline void trace_tlb_flush(int reason, long pages) noexcept nogil:
    kmm_trace(KMM_TP_TLB_FLUSH, reason, pages, 0)
