# Emulator-only: the types of the trace ring (kmm/linux/kernel/trace/trace.pyx)
# and of flush attribution.  The tracepoints themselves sit in the mirrored
# code at the kernel's places, through the inline trace_*() functions of
# kmm/linux/include_/trace/events/*.pxd (one per kernel header).
#
# Tracing off costs one load and one predictable branch per tracepoint
# (kmm_machine.trace.mask == 0).

cdef enum:                                # tracepoints (bit numbers of trace.mask)
    KMM_TP_TLB_FLUSH = 0                  # tlb:tlb_flush (include/trace/events/tlb.h)
    KMM_TP_CSD_FUNCTION_ENTRY = 1         # csd:csd_function_entry (include/trace/events/csd.h)
    KMM_TP_MM_MIGRATE_PAGES = 2           # migrate:mm_migrate_pages (include/trace/events/migrate.h)
    KMM_TP_KSWAPD_WAKE = 3                # vmscan:mm_vmscan_kswapd_wake (include/trace/events/vmscan.h)
    KMM_TP_KSWAPD_SLEEP = 4               # vmscan:mm_vmscan_kswapd_sleep
    KMM_TP_NUMA_HINT_FAULT = 5            # kmm:numa_hint_fault (no kernel tracepoint: emulator's)
    KMM_TP_MIGRC_FLUSH = 6                # migrc:migrc_flush_free_folios (the seed patch has none: emulator's)
    KMM_TP_LRU_SHRINK_INACTIVE = 7        # vmscan:mm_vmscan_lru_shrink_inactive
    KMM_NR_TP = 8

cdef enum:                                # enum tlb_flush_reason (include/linux/mm_types.h)
    TLB_FLUSH_ON_TASK_SWITCH = 0
    TLB_REMOTE_SHOOTDOWN = 1
    TLB_LOCAL_SHOOTDOWN = 2
    TLB_LOCAL_MM_SHOOTDOWN = 3
    TLB_REMOTE_SEND_IPI = 4

cdef enum:                                # csd_function_entry's func, by name
    KMM_CSD_FLUSH_TLB_FUNC = 1
    KMM_CSD_DO_FLUSH_TLB_ALL = 2

# Flush attribution: the kernel path on whose behalf a CPU is working,
# kept per CPU (kmm_cpu.kmm_site) and carried by a flush request to the
# CPUs that receive it (flush_tlb_info.kmm_site).
cdef enum:
    KMM_SITE_OTHER = 0
    KMM_SITE_DEMOTION = 1                 # migrate_pages(MR_DEMOTION): kswapd's demote_folio_list
    KMM_SITE_PROMOTION = 2                # migrate_pages(MR_NUMA_MISPLACED): a hint fault's promotion
    KMM_SITE_MIGRATE_OTHER = 3            # migrate_pages for any other reason
    KMM_SITE_MIGRC_ALLOC = 4              # migrc_flush_free_folios from get_page_from_freelist
    KMM_SITE_MIGRC_WP = 5                 # migrc_flush_free_folios from do_wp_page
    KMM_SITE_NUMA_SCAN = 6                # task_numa_work: change_prot_numa
    KMM_SITE_MUNMAP = 7                   # munmap / unmap_region / zap
    KMM_SITE_MPROTECT = 8                 # mprotect
    KMM_SITE_RECLAIM = 9                  # shrink_folio_list's own unmap flush
    KMM_SITE_FORK = 10                    # dup_mmap
    KMM_NR_SITES = 11

cdef enum:                                # attribution columns (the vmstat counters)
    KMM_ATTR_SENT = 0                     # nr_tlb_remote_flush
    KMM_ATTR_RECEIVED = 1                 # nr_tlb_remote_flush_received
    KMM_ATTR_LOCAL_ALL = 2                # nr_tlb_local_flush_all
    KMM_ATTR_LOCAL_ONE = 3                # nr_tlb_local_flush_one
    KMM_NR_ATTR = 4


cdef struct kmm_trace_entry:
    unsigned long long ts_ns              # virtual time (the engine's tick: 1 ms resolution)
    unsigned long long seq                # order of recording
    unsigned short tp                     # KMM_TP_*
    short cpu
    int pid                               # current task (0: idle)
    int site                              # KMM_SITE_* of this CPU's work
    int _pad
    long a
    long b
    long c


cdef struct kmm_trace_state:
    unsigned int mask                     # bit per enabled tracepoint; 0: tracing off
    unsigned long long t0_ns              # record only in [t0_ns, t1_ns)
    unsigned long long t1_ns
    kmm_trace_entry *ring
    unsigned long len
    unsigned long cap
    unsigned long dropped                 # events past a full ring
    unsigned long long seq
