# Mirrors include/linux/sched.h: struct task_struct (the members the mirrored
# mm paths use) and the PF_* task flags.

from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.linux.include_.linux.mm_types_task cimport tlbflush_unmap_batch

cdef enum:
    PF_MEMALLOC = 0x00000800
    PF_KSWAPD = 0x00020000
    PF_KTHREAD = 0x00200000

# task_numa_fault() flags (include/linux/sched.h)
cdef enum:
    TNF_MIGRATED = 0x01
    TNF_NO_GROUP = 0x02
    TNF_SHARED = 0x04
    TNF_FAULT_LOCAL = 0x08
    TNF_MIGRATE_FAIL = 0x10

cdef enum:
    TASK_COMM_LEN = 16

cdef struct task_struct:
    int pid
    int tgid
    unsigned int flags           # PF_*
    int cpu                      # CPU it runs on (the emulator pins threads)
    int on_cpu
    mm_struct *mm                # NULL for kernel threads
    mm_struct *active_mm         # the mm whose page tables are loaded
    char comm[16]
    # patch 1/3 split the batch: tlb_ubc for writable/dirty PTEs, tlb_ubc_ro
    # for clean read-only ones; the seed patch adds can_migrc.
    tlbflush_unmap_batch tlb_ubc
    tlbflush_unmap_batch tlb_ubc_ro
    bint can_migrc
    # NUMA balancing (kernel/sched/fair.c)
    int numa_scan_seq
    unsigned int numa_scan_period
    unsigned int numa_scan_period_max
    unsigned long long node_stamp
    unsigned long long se_sum_exec_runtime    # se.sum_exec_runtime: ns this task has run
    unsigned long long numa_work_pending_ns   # emulator: when task_numa_work is queued (0 = none)
    int numa_preferred_nid
    unsigned long numa_migrate_retry          # jiffies
    # p->numa_faults (kzalloc'd on the first recorded fault: kmm_numa_faults_on):
    # NR_NUMA_HINT_FAULT_STATS (4) x MAX_NUMNODES (8) x NR_NUMA_HINT_FAULT_TYPES (2)
    unsigned long numa_faults[64]
    bint kmm_numa_faults_on
    unsigned long numa_faults_locality[3]     # remote, local, failed to migrate
    unsigned long total_numa_faults
    unsigned long numa_pages_migrated
    int pgdat_node                            # kswapd: its node; -1 otherwise
