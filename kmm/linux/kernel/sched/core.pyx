"""Mirrors kernel/sched/core.c: each CPU's idle task (swapper/N), which runs
on the kernel's init_mm until a user task is switched in; the proc handler
of kernel.numa_balancing."""

from libc.string cimport strncpy
from libc.stdio cimport snprintf
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_CONTEXT_SWITCH
from kmm.linux.include_.linux.sched cimport task_struct, PF_KTHREAD
from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.linux.include_.linux.mmzone cimport pglist_data, PGPROMOTE_CANDIDATE
from kmm.linux.include_.linux.vmstat cimport node_page_state
from kmm.linux.include_.linux.jiffies cimport jiffies, jiffies_to_msecs
from kmm.linux.include_.linux.sched.sysctl cimport NUMA_BALANCING_MEMORY_TIERING


cdef void init_idle(task_struct *idle, int cpu) noexcept nogil:
    cdef kmm_machine *m = KMM()
    idle.flags |= PF_KTHREAD
    idle.cpu = cpu
    idle.on_cpu = 1
    idle.mm = NULL
    idle.active_mm = &m.init_mm
    snprintf(idle.comm, 16, b"swapper/%d", cpu)
    m.cpus[cpu].idle = idle
    m.cpus[cpu].current_task = idle


cdef void context_switch(task_struct *prev, task_struct *next) noexcept nogil:
    """kernel/sched/core.c (with finish_task_switch's mm drop): switch this
    CPU from prev to next.  A kernel thread borrows the previous mm lazily
    (enter_lazy_tlb) and keeps it alive with a lazy reference; a user task
    loads its own mm (switch_mm_irqs_off)."""
    cdef kmm_machine *m = KMM()
    cdef mm_struct *prev_mm = NULL
    kmm_charge(KMM_COST_CONTEXT_SWITCH, 1)
    if next.mm == NULL:
        enter_lazy_tlb(prev.active_mm, next)
        next.active_mm = prev.active_mm
        if prev.mm != NULL:
            prev.active_mm.mm_count += 1          # mmgrab_lazy_tlb()
        else:
            prev.active_mm = NULL
    else:
        switch_mm_irqs_off(prev.active_mm, next.mm, next)
        next.active_mm = next.mm
        if prev.mm == NULL:
            prev_mm = prev.active_mm
            prev.active_mm = NULL
    prev.on_cpu = 0
    next.on_cpu = 1
    next.cpu = m.cpu
    m.cpus[m.cpu].current_task = next
    if prev_mm != NULL and prev_mm != &m.init_mm:
        mmdrop(prev_mm)                           # mmdrop_lazy_tlb()


from kmm.linux.arch.x86.mm.tlb cimport switch_mm_irqs_off, enter_lazy_tlb
from kmm.linux.kernel.fork cimport mmdrop


# ---------------------------------------------------------------------------
# CONFIG_NUMA_BALANCING && CONFIG_PROC_SYSCTL: kernel.numa_balancing

cdef void reset_memory_tiering() noexcept nogil:
    """kernel/sched/core.c: tiering mode starts afresh on every node: no
    adapted hot threshold (the sysctl's applies), and the threshold's
    period (numa_promotion_adjust_threshold) starts now, counting promotion
    candidates from their present number."""
    cdef kmm_machine *m = KMM()
    cdef pglist_data *pgdat
    cdef int nid
    for nid in range(m.nr_node_ids):           # for_each_online_pgdat()
        pgdat = m.node_data[nid]
        pgdat.nbp_threshold = 0
        pgdat.nbp_th_nr_cand = node_page_state(pgdat, PGPROMOTE_CANDIDATE)
        pgdat.nbp_th_start = jiffies_to_msecs(jiffies())


cdef int sysctl_numa_balancing(int state) noexcept nogil:
    """kernel/sched/core.c: the write half of kernel.numa_balancing's proc
    handler (state already parsed and range-checked): turning memory
    tiering on resets its state (reset_memory_tiering) before the mode
    changes.  (The sched_numa_balancing static key is the mode being
    non-zero: the mirror reads the mode.)"""
    cdef kmm_machine *m = KMM()
    if not (m.sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING) and \
            (state & NUMA_BALANCING_MEMORY_TIERING):
        reset_memory_tiering()
    m.sysctl_numa_balancing_mode = state
    return 0
