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

task_numa_fault() records the fault in the task's statistics and, once per
scan pass (task_numa_placement), picks the preferred node and adapts the
task's scan period (update_task_scan_period).  In tiering mode this is what
slows the scanner down: faults on the slow node return early, but a
promotion is reported on the node it reached, as a private remote fault, so
each pass doubles the scan period up to task_scan_max.  Not modelled: the
CPU-side fault statistics (NUMA_CPU/NUMA_CPUBUF, which only weigh numa_group
placement) and task_numa_migrate (a task whose preferred node is not its
own would move; here node 1 has no CPUs and the preferred node is node 0).
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
from kmm.linux.include_.linux.sched cimport PF_KTHREAD, TNF_MIGRATED, TNF_FAULT_LOCAL, TNF_MIGRATE_FAIL
from libc.string cimport memset
from kmm.linux.include_.linux.jiffies cimport HZ
from kmm.linux.mm.mmap cimport find_vma
from kmm.linux.mm.mempolicy cimport change_prot_numa
from kmm.linux.include_.linux.jiffies cimport jiffies, jiffies_to_msecs, MSEC_PER_SEC, time_after
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE, node_isset
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


cdef enum:  # enum numa_faults_stats
    NUMA_MEM = 0
    NUMA_CPU = 1
    NUMA_MEMBUF = 2
    NUMA_CPUBUF = 3
    NR_NUMA_HINT_FAULT_TYPES = 2
    NUMA_PERIOD_SLOTS = 10
    NUMA_PERIOD_THRESHOLD = 7


cdef inline int task_faults_idx(int s, int nid, int priv) noexcept nogil:
    """kernel/sched/fair.c"""
    return NR_NUMA_HINT_FAULT_TYPES * (s * KMM().nr_node_ids + nid) + priv


cdef void update_task_scan_period(task_struct *p, unsigned long shared,
                                  unsigned long private) noexcept nogil:
    """kernel/sched/fair.c: scan slower when the task had no local or shared
    faults (or failed migrations) since the last pass, doubling the period
    up to numa_scan_period_max and pushing the mm's next scan out by it;
    otherwise move the period by slots of a tenth, towards 70% local."""
    cdef unsigned int period_slot
    cdef int lr_ratio, ps_ratio, diff, slot, ratio
    cdef long newp
    cdef unsigned long remote = p.numa_faults_locality[0]
    cdef unsigned long local = p.numa_faults_locality[1]
    if local + shared == 0 or p.numa_faults_locality[2]:
        p.numa_scan_period = min(p.numa_scan_period_max, p.numa_scan_period << 1)
        p.mm.numa_next_scan = jiffies() + p.numa_scan_period       # msecs_to_jiffies, HZ=1000
        return
    period_slot = (p.numa_scan_period + NUMA_PERIOD_SLOTS - 1) // NUMA_PERIOD_SLOTS
    lr_ratio = <int>((local * NUMA_PERIOD_SLOTS) // (local + remote))
    ps_ratio = <int>((private * NUMA_PERIOD_SLOTS) // (private + shared))
    if ps_ratio >= NUMA_PERIOD_THRESHOLD:
        slot = ps_ratio - NUMA_PERIOD_THRESHOLD
        diff = (slot if slot else 1) * <int>period_slot
    elif lr_ratio >= NUMA_PERIOD_THRESHOLD:
        slot = lr_ratio - NUMA_PERIOD_THRESHOLD
        diff = (slot if slot else 1) * <int>period_slot
    else:
        ratio = max(lr_ratio, ps_ratio)
        diff = -(NUMA_PERIOD_THRESHOLD - ratio) * <int>period_slot
    newp = <long>p.numa_scan_period + diff
    newp = max(newp, <long>task_scan_min(p))
    newp = min(newp, <long>task_scan_max(p))
    p.numa_scan_period = <unsigned int>newp
    p.numa_faults_locality[0] = 0
    p.numa_faults_locality[1] = 0
    p.numa_faults_locality[2] = 0


cdef void task_numa_placement(task_struct *p) noexcept nogil:
    """kernel/sched/fair.c: once per scan pass of the mm (numa_scan_seq):
    decay the memory-fault statistics and fold in the faults since the last
    pass, make the node with the most faults the preferred one (a CPU-less
    node's nearest node with CPUs instead), then adapt the scan period."""
    cdef kmm_machine *m = KMM()
    cdef int seq = p.mm.numa_scan_seq
    cdef int nid, priv, max_nid = NUMA_NO_NODE, mem_idx, membuf_idx
    cdef unsigned long max_faults = 0, faults
    cdef unsigned long fault_types[2]
    cdef long diff
    if p.numa_scan_seq == seq:
        return
    p.numa_scan_seq = seq
    p.numa_scan_period_max = task_scan_max(p)
    fault_types[0] = 0
    fault_types[1] = 0
    for nid in range(m.nr_node_ids):
        faults = 0
        for priv in range(NR_NUMA_HINT_FAULT_TYPES):
            mem_idx = task_faults_idx(NUMA_MEM, nid, priv)
            membuf_idx = task_faults_idx(NUMA_MEMBUF, nid, priv)
            diff = <long>p.numa_faults[membuf_idx] - <long>(p.numa_faults[mem_idx] // 2)
            fault_types[priv] += p.numa_faults[membuf_idx]
            p.numa_faults[membuf_idx] = 0
            p.numa_faults[task_faults_idx(NUMA_CPUBUF, nid, priv)] = 0
            p.numa_faults[mem_idx] += diff
            faults += p.numa_faults[mem_idx]
            p.total_numa_faults += diff
        if faults > max_faults:
            max_faults = faults
            max_nid = nid
    if max_nid != NUMA_NO_NODE and not node_isset(max_nid, m.node_states_cpu):
        # node_distance() is the same for every pair of nodes here (no SLIT):
        # the first node with CPUs is the nearest
        for nid in range(m.nr_node_ids):
            if node_isset(nid, m.node_states_cpu):
                max_nid = nid
                break
    if max_faults and max_nid != p.numa_preferred_nid:
        p.numa_preferred_nid = max_nid                 # sched_setnuma()
    update_task_scan_period(p, fault_types[0], fault_types[1])


cdef void numa_migrate_preferred(task_struct *p) noexcept nogil:
    """kernel/sched/fair.c: retry placement at most every min(1 s, a
    sixteenth of the scan period); a task already on its preferred node
    stays (task_numa_migrate, for one that is not, is not modelled)."""
    cdef unsigned long interval = HZ
    if p.numa_preferred_nid == NUMA_NO_NODE or not p.kmm_numa_faults_on:
        return
    interval = min(interval, <unsigned long>(p.numa_scan_period // 16))
    p.numa_migrate_retry = jiffies() + interval


cdef void task_numa_fault(int last_cpupid, int mem_node, int pages, int flags) noexcept nogil:
    """kernel/sched/fair.c: account a NUMA hint fault to the current task:
    nothing for slower-tier memory in tiering mode; otherwise private (first
    access, or the same pid) or shared, local or remote, into the task's
    statistics, with placement and scan-period adaptation when due.  (A
    shared fault would join a numa_group in the kernel: not modelled.)"""
    cdef kmm_machine *m = KMM()
    cdef task_struct *p = m.cpus[m.cpu].current_task
    cdef int cpu_node = m.cpus[m.cpu].node
    cdef int local = 1 if flags & TNF_FAULT_LOCAL else 0
    cdef int priv
    if m.sysctl_numa_balancing_mode == NUMA_BALANCING_DISABLED:   # sched_numa_balancing
        return
    if p.mm == NULL:
        return
    if not node_is_toptier(mem_node) and \
            ((m.sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING) or
             not cpupid_valid(last_cpupid)):
        return
    if not p.kmm_numa_faults_on:
        memset(p.numa_faults, 0, sizeof(p.numa_faults))
        p.kmm_numa_faults_on = True
        p.total_numa_faults = 0
        p.numa_faults_locality[0] = 0
        p.numa_faults_locality[1] = 0
        p.numa_faults_locality[2] = 0
    if last_cpupid == (-1 & LAST_CPUPID_MASK):
        priv = 1
    else:
        priv = __cpupid_match_pid(p.pid, last_cpupid)
    if time_after(jiffies(), p.numa_migrate_retry):
        task_numa_placement(p)
        numa_migrate_preferred(p)
    if flags & TNF_MIGRATED:
        p.numa_pages_migrated += pages
    if flags & TNF_MIGRATE_FAIL:
        p.numa_faults_locality[2] += pages
    p.numa_faults[task_faults_idx(NUMA_MEMBUF, mem_node, priv)] += pages
    p.numa_faults[task_faults_idx(NUMA_CPUBUF, cpu_node, priv)] += pages
    p.numa_faults_locality[local] += pages


# ---------------------------------------------------------------------------
# The NUMA scanner: task_tick_numa() queues task_numa_work(), which marks a
# window of the address space PROT_NONE so the next touches take hint faults.

from kmm.linux.include_.uapi.linux.sched cimport CLONE_VM
from kmm.linux.include_.linux.jiffies cimport TICK_NSEC

cdef enum:
    MAX_SCAN_WINDOW = 2560          # MB/s


cdef inline unsigned long VMA_PID_RESET_PERIOD() noexcept nogil:
    """kernel/sched/fair.c: four scan delays, in ms (= jiffies at HZ=1000)."""
    return 4 * <unsigned long>KMM().sysctl_numa_balancing_scan_delay


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


cdef unsigned int kmm_task_scan_floor() noexcept nogil:
    """task_scan_min()'s floor (ms), split out so that the emulator can
    report it: never scan faster than MAX_SCAN_WINDOW MB/s."""
    cdef unsigned int scan_size = KMM().sysctl_numa_balancing_scan_size
    cdef unsigned int windows = 1
    if scan_size < MAX_SCAN_WINDOW:
        windows = MAX_SCAN_WINDOW // scan_size
    return 1000 // windows


cdef unsigned int task_scan_min(task_struct *p) noexcept nogil:
    """Never scan faster than MAX_SCAN_WINDOW MB/s (the floor), nor cover
    the RSS more often than scan_period_min."""
    cdef unsigned int scan = KMM().sysctl_numa_balancing_scan_period_min // task_nr_scan_windows(p)
    return max(kmm_task_scan_floor(), scan)


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
    cdef unsigned long long runtime = p.se_sum_exec_runtime
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
            vma.numab_state.next_pid_reset = vma.numab_state.next_scan + VMA_PID_RESET_PERIOD()
        if mm.numa_scan_seq and now < vma.numab_state.next_scan:
            vma = vma.vm_next
            continue
        if mm.numa_scan_seq and now > vma.numab_state.next_pid_reset:
            vma.numab_state.next_pid_reset += VMA_PID_RESET_PERIOD()
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
    # at least 32x as much time running other code as scanning: scanning
    # overhead stays under 3% (the scan's time is its charged kernel time)
    if p.se_sum_exec_runtime != runtime:
        p.node_stamp += 32 * (p.se_sum_exec_runtime - runtime)


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
    p.numa_migrate_retry = 0
    p.kmm_numa_faults_on = False                 # p->numa_faults = NULL
    p.numa_pages_migrated = 0
    p.total_numa_faults = 0
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


# ---------------------------------------------------------------------------
# EEVDF (v6.6): the base slice and the lag a sleeping entity keeps.  The
# emulator shares a CPU between kswapd and a workload thread as a fluid
# share per tick (kmm/emu/engine.pyx); these say how much debt kswapd keeps
# across a sleep.

cdef unsigned int get_update_sysctl_factor() noexcept nogil:
    """kernel/sched/fair.c: SCHED_TUNABLESCALING_LOG, the default:
    1 + ilog2(min(online CPUs, 8))."""
    cdef unsigned int cpus = min(<unsigned int>KMM().nr_cpu_ids, 8u), factor = 1
    while cpus > 1:
        cpus >>= 1
        factor += 1
    return factor


cdef long long sysctl_sched_base_slice() noexcept nogil:
    """kernel/sched/fair.c: normalized_sysctl_sched_base_slice (0.75 ms)
    scaled by get_update_sysctl_factor() (update_sysctl())."""
    return 750000LL * get_update_sysctl_factor()


cdef long long entity_lag(long long vlag) noexcept nogil:
    """kernel/sched/fair.c: a nice-0 entity's lag, clamped to
    max(2 * its slice, TICK_NSEC) either way (calc_delta_fair is the
    identity at nice 0)."""
    cdef long long limit = max(2 * sysctl_sched_base_slice(), <long long>TICK_NSEC)
    return max(-limit, min(limit, vlag))
