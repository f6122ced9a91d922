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

from kmm.include_.kmm.machine cimport KMM, kmm_machine, NODE_DATA, cpu_to_node
from kmm.include_.linux.mm cimport (LAST_CPUPID_MASK, PAGE_ACCESS_TIME_MASK, cpu_pid_to_cpupid,
                                    cpupid_to_cpu, cpupid_pid_unset, __cpupid_match_pid,
                                    page_cpupid_xchg_last, xchg_page_access_time, folio_nr_pages)
from kmm.include_.linux.mmzone cimport (zone, pglist_data, WMARK_PROMO, ZONE_MOVABLE,
                                       PGPROMOTE_CANDIDATE, PAGE_SHIFT, populated_zone, wmark_pages)
from kmm.include_.linux.vmstat cimport mod_node_page_state, node_page_state
from kmm.include_.linux.jiffies cimport jiffies, jiffies_to_msecs, MSEC_PER_SEC
from kmm.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.mm.memory_tiers cimport node_is_toptier
from kmm.mm.page_alloc cimport zone_watermark_ok

cdef enum:
    NUMA_BALANCING_DISABLED = 0x0
    NUMA_BALANCING_NORMAL = 0x1
    NUMA_BALANCING_MEMORY_TIERING = 0x2
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
