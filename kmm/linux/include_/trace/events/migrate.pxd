# Mirrors include/trace/events/migrate.h: mm_migrate_pages(succeeded,
# failed, thp_succeeded, thp_failed, thp_split, mode, reason) -- no THP
# here, so those three are 0 and not stored.
from kmm.linux.include_.kmm.trace cimport KMM_TP_MM_MIGRATE_PAGES
from kmm.linux.kernel.trace.trace cimport kmm_trace


cdef inline void trace_mm_migrate_pages(unsigned long succeeded, unsigned long failed,
                                        int mode, int reason) noexcept nogil:
    kmm_trace(KMM_TP_MM_MIGRATE_PAGES, <long>succeeded, <long>failed, (mode << 8) | reason)
