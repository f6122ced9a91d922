"""Mirrors kernel/sched/fair.c, the NUMA-balancing part that decides on a
hint fault whether a page should move (should_numa_migrate_memory) and
records the fault (task_numa_fault).

Memory tiering (sysctl kernel.numa_balancing & 2): a page on a slower tier
is promoted when the target node has plenty of free memory, or when it was
touched within the hot threshold after the scanner stamped it -- the
threshold adapting to the promotion rate limit -- and the rate limit allows.

Classic NUMA balancing: the page's last_cpupid filter.  NUMA groups
(task_numa_group, numa_group fault statistics) are not modelled: a task has
no numa_group, so a shared fault is always allowed.

task_numa_fault() keeps only its early returns: the per-task fault
statistics, task placement and scan-period adaptation that follow are not
modelled (the emulator's tasks never move between nodes).
"""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, NODE_DATA, cpu_to_node
from kmm.linux.include_.linux.mm cimport (LAST_CPUPID_MASK, PAGE_ACCESS_TIME_MASK, cpu_pid_to_cpupid,
                                    cpupid_to_cpu, cpupid_pid_unset, __cpupid_match_pid,
                                    page_cpupid_xchg_last, xchg_page_access_time, folio_nr_pages)
from kmm.linux.include_.linux.mmzone cimport (zone, pglist_data, WMARK_PROMO, ZONE_MOVABLE,
                                       PGPROMOTE_CANDIDATE, PAGE_SHIFT, populated_zone, wmark_pages)
from kmm.linux.include_.linux.vmstat cimport mod_node_page_state, node_page_state
from kmm.linux.include_.kmm.machine cimport get_current
from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct, MM_FILEPAGES, MM_ANONPAGES, MM_SHMEMPAGES
from kmm.linux.include_.linux.mm cimport (VM_IO, VM_PFNMAP, VM_HUGETLB, VM_MIXEDMAP, VM_READ, VM_WRITE,
                                    VM_ACCESS_FLAGS)
from kmm.linux.include_.linux.sched cimport PF_KTHREAD
from kmm.linux.include_.linux.jiffies cimport HZ
from kmm.linux.mm.mmap cimport find_vma
from kmm.linux.mm.mempolicy cimport change_prot_numa
from kmm.linux.include_.linux.jiffies cimport jiffies, jiffies_to_msecs, MSEC_PER_SEC
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.linux.mm.memory_tiers cimport node_is_toptier
from kmm.linux.mm.page_alloc cimport zone_watermark_ok

from kmm.linux.include_.linux.sched.sysctl cimport (NUMA_BALANCING_DISABLED, NUMA_BALANCING_NORMAL,
                                                NUMA_BALANCING_MEMORY_TIERING)

cdef enum:
    NUMA_MIGRATION_ADJUST_STEPS = 16


cdef inline bint cpupid_valid(int cpupid) noexcept nogil:
    return cpupid_to_cpu(cpupid) < KMM().nr_cpu_ids


cdef bint pgdat_free_space_enough(pglist_data *pgdat) noexcept nogil:
    """kernel/sched/fair.c: does some zone of pgdat have at least
    max(1 GiB, node size / 16) free above its promotion watermark?  Then
    promotion needs no hot-page filter."""
    cdef int z
    cdef zone *zn
    cdef unsigned long enough_wmark
    enough_wmark = max(1UL * 1024 * 1024 * 1024 >> PAGE_SHIFT, pgdat.node_present_pages >> 4)
    for z in range(pgdat.nr_zones - 1, -1, -1):
        zn = &pgdat.node_zones[z]
        if not populated_zone(zn):
            continue
        if zone_watermark_ok(zn, 0, wmark_pages(zn, WMARK_PROMO) + enough_wmark, ZONE_MOVABLE, 0):
            return True
    return False


cdef int numa_hint_fault_latency(page *pg) noexcept nogil:
    """kernel/sched/fair.c: ms since the scanner stamped the page (the stamp
    becomes now); the page's hotness in tiering mode."""
    cdef unsigned int time, last_time
    time = jiffies_to_msecs(jiffies())
    last_time = <unsigned int>xchg_page_access_time(pg, <int>time)
    return <int>((time - last_time) & PAGE_ACCESS_TIME_MASK)


cdef bint numa_promotion_rate_limit(pglist_data *pgdat, unsigned long rate_limit, int nr) noexcept nogil:
    """kernel/sched/fair.c: count nr more promotion candidates on pgdat
    (PGPROMOTE_CANDIDATE); true if this 1 s window already had rate_limit
    pages of candidates."""
    cdef unsigned long nr_cand
    cdef unsigned int now, start
    now = jiffies_to_msecs(jiffies())
    mod_node_page_state(pgdat, PGPROMOTE_CANDIDATE, nr)
    nr_cand = node_page_state(pgdat, PGPROMOTE_CANDIDATE)
    start = <unsigned int>pgdat.nbp_rl_start
    if now - start > MSEC_PER_SEC:
        pgdat.nbp_rl_start = now
        pgdat.nbp_rl_nr_cand = nr_cand
    if nr_cand - pgdat.nbp_rl_nr_cand >= rate_limit:
        return True
    return False


cdef void numa_promotion_adjust_threshold(pglist_data *pgdat, unsigned long rate_limit,
                                          unsigned int ref_th) noexcept nogil:
    """kernel/sched/fair.c: once per scan_period_max, move the hot threshold
    by one step (2 * ref_th / 16) so the candidates per period approach
    rate_limit * period: down if there were more than 110%, up (at most to
    2 * ref_th) if fewer than 90%."""
    cdef kmm_machine *m = KMM()
    cdef unsigned int now, start, th_period, unit_th, th
    cdef unsigned long nr_cand, ref_cand, diff_cand
    now = jiffies_to_msecs(jiffies())
    th_period = m.sysctl_numa_balancing_scan_period_max
    start = <unsigned int>pgdat.nbp_th_start
    if now - start > th_period:
        pgdat.nbp_th_start = now
        ref_cand = rate_limit * m.sysctl_numa_balancing_scan_period_max // MSEC_PER_SEC
        nr_cand = node_page_state(pgdat, PGPROMOTE_CANDIDATE)
        diff_cand = nr_cand - pgdat.nbp_th_nr_cand
        unit_th = ref_th * 2 // NUMA_MIGRATION_ADJUST_STEPS
        th = pgdat.nbp_threshold if pgdat.nbp_threshold else ref_th
        if diff_cand > ref_cand * 11 // 10:
            th = max(th - unit_th, unit_th)
        elif diff_cand < ref_cand * 9 // 10:
            th = min(th + unit_th, ref_th * 2)
        pgdat.nbp_th_nr_cand = nr_cand
        pgdat.nbp_threshold = th


cdef bint should_numa_migrate_memory(task_struct *p, page *pg, int src_nid, int dst_cpu) noexcept nogil:
    """kernel/sched/fair.c: should a hint fault by dst_cpu move pg (on
    src_nid) to dst_cpu's node?

    A slower-tier page in tiering mode: yes if the target has plenty of
    free memory; else only if it is hot (hint-fault latency below the
    adaptive threshold) and the promotion rate limit allows.  Otherwise the
    classic filter on last_cpupid: first or private faults early in the
    task's life migrate at once; later, two faults in a row from the same
    node are needed.  Note that in v6.6 a top-tier page takes the classic
    path even in tiering-only mode (the scanner does not make such pages
    PROT_NONE in that mode, so their hint faults do not happen)."""
    cdef kmm_machine *m = KMM()
    cdef int dst_nid = cpu_to_node(dst_cpu)
    cdef int last_cpupid, this_cpupid
    cdef pglist_data *pgdat
    cdef unsigned long rate_limit
    cdef unsigned int latency, th, def_th

    # pages on a slow tier move by hotness, not by private/shared
    if (m.sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING) and not node_is_toptier(src_nid):
        pgdat = NODE_DATA(dst_nid)
        if pgdat_free_space_enough(pgdat):
            # the workload changed: reset the hot threshold
            pgdat.nbp_threshold = 0
            return True
        def_th = m.sysctl_numa_balancing_hot_threshold
        rate_limit = (<unsigned long>m.sysctl_numa_balancing_promote_rate_limit) << (20 - PAGE_SHIFT)
        numa_promotion_adjust_threshold(pgdat, rate_limit, def_th)
        th = pgdat.nbp_threshold if pgdat.nbp_threshold else def_th
        latency = <unsigned int>numa_hint_fault_latency(pg)
        if latency >= th:
            return False
        return not numa_promotion_rate_limit(pgdat, rate_limit, folio_nr_pages(pg))

    this_cpupid = cpu_pid_to_cpupid(dst_cpu, p.pid)
    last_cpupid = page_cpupid_xchg_last(pg, this_cpupid)

    if not (m.sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING) and \
            not node_is_toptier(src_nid) and not cpupid_valid(last_cpupid):
        return False

    # first faults, or private ones, migrate at once early in the task's life
    # (two passes of the two-stage filter below)
    if (p.numa_preferred_nid == NUMA_NO_NODE or p.numa_scan_seq <= 4) and \
            (cpupid_pid_unset(last_cpupid) or __cpupid_match_pid(p.pid, last_cpupid)):
        return True

    # two-stage filter: the previous fault must have come from the same node
    if not cpupid_pid_unset(last_cpupid) and cpu_to_node(cpupid_to_cpu(last_cpupid)) != dst_nid:
        return False

    # private faults always migrate
    if __cpupid_match_pid(p.pid, last_cpupid):
        return True

    # a shared fault without a numa_group (never set up here): allow
    return True


cdef void task_numa_fault(int last_cpupid, int mem_node, int pages, int flags) noexcept nogil:
    """kernel/sched/fair.c: account a NUMA hint fault to the current task.
    Only the early returns are mirrored: NUMA balancing off, kernel threads,
    and slower-tier memory in tiering mode (no statistics for it).  The
    fault statistics and task placement that follow are not modelled."""
    cdef kmm_machine *m = KMM()
    if m.sysctl_numa_balancing_mode == NUMA_BALANCING_DISABLED:   # sched_numa_balancing
        return
    if m.cpus[m.cpu].current_task.mm == NULL:
        return
    if not node_is_toptier(mem_node) and \
            ((m.sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING) or
             not cpupid_valid(last_cpupid)):
        return
    # (p->numa_faults, numa_group, task_numa_placement: not modelled)


# ---------------------------------------------------------------------------
# The NUMA scanner: task_tick_numa() queues task_numa_work(), which marks a
# window of the address space PROT_NONE so the next touches take hint faults.

from kmm.linux.include_.uapi.linux.sched cimport CLONE_VM
from kmm.linux.include_.linux.jiffies cimport TICK_NSEC

cdef enum:
    MAX_SCAN_WINDOW = 2560          # MB/s
    VMA_PID_RESET_PERIOD = 4 * HZ   # jiffies


cdef inline unsigned long get_mm_rss(mm_struct *mm) noexcept nogil:
    return mm.rss_stat[MM_FILEPAGES] + mm.rss_stat[MM_ANONPAGES] + mm.rss_stat[MM_SHMEMPAGES]


cdef unsigned int task_nr_scan_windows(task_struct *p) noexcept nogil:
    """kernel/sched/fair.c: the task's RSS in scan_size windows (at least 1)."""
    cdef unsigned long nr_scan_pages = (<unsigned long>KMM().sysctl_numa_balancing_scan_size) << (20 - 12)
    cdef unsigned long rss = get_mm_rss(p.mm)
    if rss == 0:
        rss = nr_scan_pages
    rss = (rss + nr_scan_pages - 1) // nr_scan_pages * nr_scan_pages
    return <unsigned int>(rss // nr_scan_pages)


cdef unsigned int task_scan_min(task_struct *p) noexcept nogil:
    """Never scan faster than MAX_SCAN_WINDOW MB/s, nor cover the RSS more
    often than scan_period_min."""
    cdef unsigned int scan_size = KMM().sysctl_numa_balancing_scan_size
    cdef unsigned int windows = 1
    cdef unsigned int floor, scan
    if scan_size < MAX_SCAN_WINDOW:
        windows = MAX_SCAN_WINDOW // scan_size
    floor = 1000 // windows
    scan = KMM().sysctl_numa_balancing_scan_period_min // task_nr_scan_windows(p)
    return max(floor, scan)


cdef unsigned int task_scan_start(task_struct *p) noexcept nogil:
    """No numa_group is modelled: the start period is task_scan_min()."""
    return task_scan_min(p)


cdef unsigned int task_scan_max(task_struct *p) noexcept nogil:
    cdef unsigned int smin = task_scan_min(p)
    cdef unsigned int smax = KMM().sysctl_numa_balancing_scan_period_max // task_nr_scan_windows(p)
    return max(smin, smax)


cdef inline void reset_ptenuma_scan(task_struct *p) noexcept nogil:
    p.mm.numa_scan_seq += 1
    p.mm.numa_scan_offset = 0


cdef inline bint vma_is_accessed(vm_area_struct *vma) noexcept nogil:
    """kernel/sched/fair.c (v6.6-rc5): scan a VMA only if this task took a
    hint fault in it lately (pid hash bits), or early in the mm's life."""
    cdef task_struct *p = get_current()
    cdef unsigned long pids
    if p.mm.numa_scan_seq < 2:
        return True
    pids = vma.numab_state.access_pids[0] | vma.numab_state.access_pids[1]
    return (pids >> (hash_32(p.pid, 6))) & 1


cdef inline unsigned int hash_32(unsigned int val, unsigned int bits) noexcept nogil:
    """include/linux/hash.h"""
    return (val * 0x61C88647U) >> (32 - bits)


cdef inline bint vma_migratable(vm_area_struct *vma) noexcept nogil:
    return not (vma.vm_flags & (VM_IO | VM_PFNMAP))


cdef void task_numa_work(task_struct *p) noexcept nogil:
    """kernel/sched/fair.c: run in the task's context on return to user
    mode: if the mm's scan is due, mark up to scan_size MB (and at most 8x
    that of virtual space) PROT_NONE from where the last scan stopped."""
    cdef mm_struct *mm = p.mm
    cdef unsigned long now = jiffies()
    cdef unsigned long migrate, next_scan, start, end
    cdef long pages, virtpages
    cdef unsigned long nr_pte_updates
    cdef vm_area_struct *vma
    p.numa_work_pending_ns = 0
    if mm == NULL:
        return
    if mm.numa_next_scan == 0:
        mm.numa_next_scan = now + KMM().sysctl_numa_balancing_scan_delay
    migrate = mm.numa_next_scan
    if now < migrate:
        return
    if p.numa_scan_period == 0:
        p.numa_scan_period_max = task_scan_max(p)
        p.numa_scan_period = task_scan_start(p)
    next_scan = now + p.numa_scan_period
    mm.numa_next_scan = next_scan
    p.node_stamp += 2 * TICK_NSEC
    pages = (<long>KMM().sysctl_numa_balancing_scan_size) << (20 - 12)
    virtpages = pages * 8
    if pages == 0:
        return
    start = mm.numa_scan_offset
    vma = find_vma(mm, start)
    if vma == NULL:
        reset_ptenuma_scan(p)
        start = 0
        vma = mm.mmap
    while vma != NULL:
        if not vma_migratable(vma) or (vma.vm_flags & (VM_HUGETLB | VM_MIXEDMAP)):
            vma = vma.vm_next
            continue
        if vma.vm_file != NULL and (vma.vm_flags & (VM_READ | VM_WRITE)) == VM_READ:
            vma = vma.vm_next
            continue
        if not (vma.vm_flags & VM_ACCESS_FLAGS):
            vma = vma.vm_next
            continue
        if vma.numab_state.next_scan == 0:
            vma.numab_state.next_scan = now + KMM().sysctl_numa_balancing_scan_delay
            vma.numab_state.next_pid_reset = vma.numab_state.next_scan + VMA_PID_RESET_PERIOD
        if mm.numa_scan_seq and now < vma.numab_state.next_scan:
            vma = vma.vm_next
            continue
        if mm.numa_scan_seq and now > vma.numab_state.next_pid_reset:
            vma.numab_state.next_pid_reset += VMA_PID_RESET_PERIOD
            vma.numab_state.access_pids[0] = vma.numab_state.access_pids[1]
            vma.numab_state.access_pids[1] = 0
        if not vma_is_accessed(vma):
            vma = vma.vm_next
            continue
        while True:
            start = max(start, vma.vm_start)
            end = (start + (<unsigned long>pages << 12) + (1UL << 21) - 1) & ~((1UL << 21) - 1)
            end = min(end, vma.vm_end)
            nr_pte_updates = change_prot_numa(vma, start, end)
            if nr_pte_updates:
                pages -= (end - start) >> 12
            virtpages -= (end - start) >> 12
            start = end
            if pages <= 0 or virtpages <= 0:
                break
            if end == vma.vm_end:
                break
        if pages <= 0 or virtpages <= 0:
            break
        vma = vma.vm_next
    if vma != NULL:
        mm.numa_scan_offset = start
    else:
        reset_ptenuma_scan(p)


cdef bint task_tick_numa(task_struct *curr) noexcept nogil:
    """kernel/sched/fair.c: on a scheduler tick, queue task_numa_work() once
    the task has run for its scan period and the mm's scan is due.  Returns
    whether work was queued (it runs on return to user mode)."""
    cdef unsigned long long now, period
    if curr.mm == NULL or (curr.flags & PF_KTHREAD) or curr.numa_work_pending_ns:
        return False
    now = curr.se_sum_exec_runtime
    period = <unsigned long long>curr.numa_scan_period * 1000000
    if now > curr.node_stamp + period:
        if curr.node_stamp == 0:
            curr.numa_scan_period = task_scan_start(curr)
        curr.node_stamp += period
        if jiffies() >= curr.mm.numa_next_scan:
            curr.numa_work_pending_ns = KMM().clock_ns
            return True
    return False


cdef void init_numa_balancing(unsigned long clone_flags, task_struct *p) noexcept nogil:
    """kernel/sched/fair.c (from sched_fork): the first scan waits
    scan_delay; a new thread of an existing mm (CLONE_VM) staggers its first
    tick by the mm's users so the threads do not all scan at once.  (The
    kernel's min_t() there compares task_scan_max()'s milliseconds with a
    nanosecond product; mirrored as it is.)"""
    cdef mm_struct *mm = p.mm
    cdef unsigned long long delay
    p.node_stamp = 0
    p.numa_scan_seq = mm.numa_scan_seq if mm != NULL else 0
    p.numa_scan_period = KMM().sysctl_numa_balancing_scan_delay
    p.numa_work_pending_ns = 0
    p.se_sum_exec_runtime = 0
    if mm != NULL and mm.mm_users == 1:
        mm.numa_next_scan = jiffies() + KMM().sysctl_numa_balancing_scan_delay
        mm.numa_scan_seq = 0
    if not (clone_flags & CLONE_VM):
        p.numa_preferred_nid = NUMA_NO_NODE
        return
    if mm != NULL:
        delay = min(<unsigned long long>task_scan_max(p),
                    <unsigned long long>p.numa_scan_period * mm.mm_users * 1000000)
        delay += 2 * TICK_NSEC
        p.node_stamp = delay
