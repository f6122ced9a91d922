"""The run engine: a workload on a machine in deterministic virtual time.

Time advances in scheduler ticks (HZ=1000: 1 ms).  In each tick every
running thread performs its workload's accesses for that much virtual time
(the workload says how long each batch stands for), through its CPU's TLB
and page tables; then each CPU takes its tick -- task_tick_numa() may queue
task_numa_work(), which runs on return to user mode in the thread's context
-- and every kswapd that is awake runs on its CPU.

Kernel work costs virtual time as the machine's cost model says
(kmm/emu/hw/cost.pxd, docs/cost-model.md; the zero preset makes it free):
whatever a CPU spends in the kernel -- its faults, task_numa_work, the IPIs
it sends and waits for, the handlers of IPIs it receives, kswapd's time on
it -- is taken from the time its thread has for the workload in that tick
or the next, so the thread performs fewer accesses and the run takes
longer.  A woken kswapd is placed on a CPU of its node (any CPU for a
CPU-less node; round robin over wakeups) and stays there until it naps or
sleeps (kswapd_try_to_sleep); it preempts that CPU's thread, borrowing its
mm lazily, and the
two share the CPU as CFS shares it between equal-weight tasks: kswapd gets
1/n of each tick with n runnable tasks on the CPU (the whole tick if the
thread has finished or waits at a barrier), one balance_pgdat() pass at a
time, and carries over what a pass overdraws (a sleeper at most two base
slices of it, as EEVDF clamps lag).

A program's threads start as its code starts them: the workload's first
thread runs alone through initialisation and the others are cloned when it
reaches the parallel phase (for XSBench, the OpenMP region), so reclaim
during initialisation sees a single-CPU mm, as on the real machine.  A
workload whose initialisation is itself parallel (wl.parallel_init: GUPS's
table fill) has all its threads from the start.

A run in which no thread can ever progress again -- every started thread
waits at a barrier, a whole tick long, twice in a row, with nothing left to
start -- is a workload bug: it raises KmmStateError instead of spinning.

The same machine seed and workload seed give the same run, bit for bit.
"""

from kmm.emu import tracing as _tracing
import math as _math
import time as _time

from kmm.linux.include_.kmm.trace cimport KMM_SITE_NUMA_SCAN
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.linux.include_.kmm.machine cimport kmm_machine, KMM
from kmm.linux.include_.linux.jiffies cimport TICK_NSEC
from kmm.linux.include_.linux.mmzone cimport pglist_data
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.emu.access cimport cpu_access_batch
from kmm.linux.kernel.sched.core cimport context_switch
from kmm.linux.arch.x86.entry.entry_64 cimport kmm_entry, kmm_exit
from kmm.linux.kernel.sched.fair cimport task_tick_numa, task_numa_work, entity_lag
from kmm.linux.mm.vmscan cimport kmm_kswapd_step, kmm_kswapd_runnable, kmm_kswapd_run_once
from kmm.emu.machine cimport Machine
from kmm.emu.process cimport Process, Thread
from kmm.emu.hw.hostmem cimport host_clock_ns
from kmm.emu.hw.cpu cimport cpu_time
from kmm.workloads.base cimport Workload, FILL_WAIT, PHASE_INIT

from kmm.emu.access import access_failure
from kmm.emu.config import KmmConfigError, KmmStateError

cdef enum:
    BATCH = 256

SNAPSHOT_COUNTERS = ("numa_pages_migrated", "pgmigrate_success", "pgdemote_kswapd",
                     "pgpromote_success", "nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
                     "nr_tlb_local_flush_all", "nr_tlb_local_flush_one", "numa_hint_faults",
                     "numa_pte_updates", "pgfault", "pgscan_kswapd", "pgsteal_kswapd", "pageoutrun")
SNAPSHOT_PERF = ("itlb.itlb_flush", "tlb_flush.dtlb_thread", "tlb_flush.stlb_any",
                 "dTLB-load-misses", "dTLB-store-misses")


cdef int run_tick(Machine mach, Workload w, list threads, double *budget, double *ran,
                  bint *done, bint *waited, unsigned long *kswapd_rr) except -1:
    """One tick of every started thread; returns how many have not finished.
    waited[t]: thread t spent the whole tick at a barrier (its first fill()
    returned FILL_WAIT)."""
    cdef unsigned long addrs[256]
    cdef unsigned char writes[256]
    cdef Thread th
    cdef int t, rc = 0, running = 0
    cdef long n, i = 0
    cdef bint first
    cdef double ns
    cdef cpu_time *ct
    for t in range(len(threads)):
        th = threads[t]
        ct = &mach.m.cpus[th.cpu].kmm_time
        waited[t] = False
        if done[t]:
            ct.pending_ns = 0              # the idle CPU absorbs its kernel work
            continue
        # kernel work on this CPU since the thread's last batch is its time lost
        budget[t] += TICK_NSEC - ct.pending_ns
        ct.pending_ns = 0
        first = True
        while budget[t] > 0:
            with nogil:
                n = w.fill(t, addrs, writes, BATCH)
            if n == 0:
                done[t] = True
                break
            if n == FILL_WAIT:
                budget[t] = 0                  # idle at the barrier for the rest of the tick
                waited[t] = first
                break
            first = False
            with nogil:
                i = cpu_access_batch(th.cpu, addrs, writes, n, &rc)
            if rc:
                raise access_failure(rc, th.cpu, addrs[i], writes[i])
            ns = w.batch_ns(t)
            ct.user_ns += ns
            budget[t] -= ns + ct.pending_ns
            ct.pending_ns = 0
            ran[t] += ns                   # se.sum_exec_runtime, in whole ns
            th.task.se_sum_exec_runtime += <unsigned long long>ran[t]
            ran[t] -= <unsigned long long>ran[t]
        if not done[t]:
            running += 1
        # the threads' shares of the tick run one after the other, but on
        # the machine they run at the same time: a kswapd that a promotion
        # woke runs its share of the tick in slices between them, as soon
        # as it has CPU time, not after the whole tick
        kswapd_slice(mach, threads, done, waited, kswapd_rr, len(threads))
    return running


cdef void kernel_tick(Machine mach, list threads, bint *done, bint *waited) except *:
    """Scheduler ticks on every CPU with a thread (kswapd ran its share of
    the tick in slices, kswapd_slice); a CPU with no thread to run absorbs
    the kernel time that landed on it."""
    cdef kmm_machine *m = mach.m
    cdef Thread th
    cdef task_struct *curr
    cdef int t, cpu, site, saved = m.cpu
    cdef bint busy[64]                       # a workload thread runs there
    cdef long long t0 = host_clock_ns()
    for th in threads:
        m.cpu = th.cpu
        curr = m.cpus[th.cpu].current_task
        if curr == th.task:
            kmm_entry(th.cpu)                # the tick's interrupt
            if task_tick_numa(curr):
                site = kmm_site_enter(KMM_SITE_NUMA_SCAN)
                task_numa_work(curr)         # task_work on return to user mode
                kmm_site_exit(site)
            kmm_exit(th.cpu)
    for cpu in range(m.nr_cpu_ids):
        busy[cpu] = False
    for t in range(len(threads)):
        if not (done[t] or waited[t]):
            busy[(<Thread>threads[t]).cpu] = True
    for cpu in range(m.nr_cpu_ids):
        if not busy[cpu]:
            m.cpus[cpu].kmm_time.pending_ns = 0
    m.cpu = saved
    m.kmm_host_kernel_ns += host_clock_ns() - t0


cdef void kswapd_slice(Machine mach, list threads, bint *done, bint *waited,
                       unsigned long *kswapd_rr, int nslices) except *:
    """One of a tick's nslices: every kswapd with work is placed on a CPU of
    its node if it has none (woken from sleep), gets 1/nslices of its fair
    share of that CPU for a tick (TICK_NSEC / runnable tasks there), and
    runs while its share lasts (kswapd_preempt).  Over a tick a kswapd gets
    the same CPU time as one grant per tick would give it, but a kswapd
    woken early in the tick starts early, as the scheduler would wake it."""
    cdef kmm_machine *m = mach.m
    cdef pglist_data *pgdat
    cdef int nid, t, cpu, nr_running, saved = m.cpu
    cdef long long t0 = host_clock_ns()
    for nid in range(m.nr_node_ids):
        pgdat = m.node_data[nid]
        if not kmm_kswapd_runnable(pgdat):
            continue
        if pgdat.kmm_kswapd_cpu < 0:         # wakes from sleep: placed on a CPU of its node
            cpus = mach.node_cpus(nid) or list(range(m.nr_cpu_ids))
            pgdat.kmm_kswapd_cpu = cpus[kswapd_rr[nid] % len(cpus)]
            kswapd_rr[nid] += 1
            # a sleeper keeps its lag as EEVDF clamps it (entity_lag()); the
            # fluid share banks no credit while asleep, so only a debt
            pgdat.kmm_kswapd_vruntime_ns = min(0, entity_lag(pgdat.kmm_kswapd_vruntime_ns))
        cpu = pgdat.kmm_kswapd_cpu
        nr_running = 1
        for t in range(len(threads)):
            if not (done[t] or waited[t]) and (<Thread>threads[t]).cpu == cpu:
                nr_running += 1
        pgdat.kmm_kswapd_vruntime_ns += TICK_NSEC // nr_running // nslices
        if pgdat.kmm_kswapd_vruntime_ns > 0:
            kswapd_preempt(m, pgdat, cpu, False)
    m.cpu = saved
    m.kmm_host_kernel_ns += host_clock_ns() - t0


cdef unsigned long kswapd_preempt(kmm_machine *m, pglist_data *pgdat, int cpu,
                                  bint to_the_end) noexcept:
    """kswapd preempts the task on cpu (borrowing its mm lazily) and runs
    balance passes while it has CPU time left (pgdat.kmm_kswapd_vruntime_ns;
    to_the_end: one whole balance, Machine.run_kswapd); the task is switched
    back in.  A kswapd that naps or sleeps leaves its CPU.  Returns the
    pages reclaimed so far in this balance."""
    cdef int saved = m.cpu
    cdef task_struct *curr
    cdef cpu_time *ct = &m.cpus[cpu].kmm_time
    cdef long long used
    cdef bint more = True
    m.cpu = cpu
    curr = m.cpus[cpu].current_task
    kmm_entry(cpu)                           # the tick or wakeup that preempts curr
    context_switch(curr, pgdat.kswapd)
    used = ct.kthread_ns
    if to_the_end:
        kmm_kswapd_run_once(pgdat)
    while more and not to_the_end and pgdat.kmm_kswapd_vruntime_ns > <long long>(ct.kthread_ns - used):
        more = kmm_kswapd_step(pgdat)
    context_switch(pgdat.kswapd, curr)
    kmm_exit(cpu)
    if not to_the_end:
        pgdat.kmm_kswapd_vruntime_ns -= <long long>ct.kthread_ns - used
    if not kmm_kswapd_runnable(pgdat):
        pgdat.kmm_kswapd_cpu = -1
    m.cpu = saved
    return pgdat.kmm_kswapd_nr_reclaimed


def run_kswapd(Machine mach, int nid, int cpu):
    """Machine.run_kswapd(): the engine's kswapd step, once, on cpu."""
    mach._enter()
    return kswapd_preempt(mach.m, mach.m.node_data[nid], cpu, True)


def snapshot(Machine mach):
    """Counters at this point of virtual time, for plots."""
    vm = mach.vmstat()
    snap = {"t": mach.m.clock_ns / 1e9}
    for k in SNAPSHOT_COUNTERS:
        snap[k] = vm.get(k, 0)
    perf = mach.perf()
    for k in SNAPSHOT_PERF:
        snap[k] = perf[k]
    snap["ipis_received_per_cpu"] = mach.vm_events_per_cpu("nr_tlb_remote_flush_received")
    z0 = [z for z in mach.zones() if z["node"] == 0]
    snap["node0_free"] = sum(z["free"] for z in z0)
    snap["free_per_node"] = [sum(z["free"] for z in mach.zones() if z["node"] == nid)
                             for nid in range(len(mach.node_specs))]
    snap["node0_managed"] = sum(z["managed"] for z in z0)
    snap["node0_migrc_pending"] = sum(z["migrc_pending_nr"] for z in z0)
    # per zone: what decides whether an allocation that falls through to
    # a zone fails its watermark there (docs/hazards.md, the DMA zone)
    snap["node0_zones"] = {z["zone"]: {"free": z["free"], "migrc_pending": z["migrc_pending_nr"],
                                       "low": z["low"],
                                       # against a movable request (index 3: ZONE_MOVABLE)
                                       "lowmem_reserve": z["lowmem_reserve"][3]}
                           for z in z0}
    snap["numa_scan_seq"] = max([p.numa_scan["seq"] for p in mach.processes] or [0])
    for wm in ("min", "low", "high", "promo"):
        snap["node0_" + wm] = sum(z[wm] for z in z0)
    return snap


def cpu_time_split(before, after, virtual_s):
    """Where each CPU's time went during a run, in seconds: user (the
    workload), sys (kernel work in its threads), irq (IPI handlers),
    kthread (kswapd), idle (the rest of the run's virtual time); with the
    totals over CPUs and kswapd's share of all CPU time."""
    keys = ("user", "sys", "irq", "kthread")
    per_cpu = []
    for b, a in zip(before, after):
        d = {k: (a[k + "_ns"] - b[k + "_ns"]) / 1e9 for k in keys}
        d["idle"] = max(0.0, virtual_s - sum(d.values()))
        per_cpu.append(d)
    total = {k: sum(c[k] for c in per_cpu) for k in keys + ("idle",)}
    busy = sum(total[k] for k in keys)
    return {"per_cpu": per_cpu, "total": total,
            "kswapd_share": total["kthread"] / busy if busy else 0.0,
            "kernel_share": (total["sys"] + total["irq"] + total["kthread"]) / busy if busy else 0.0}


cdef int _no_progress(Workload w, list threads, bint *done) except -1:
    """Every started thread waits at a barrier and none can release it: say
    which threads wait and which were never started."""
    cdef int t
    waiting = [t for t in range(len(threads)) if not done[t]]
    missing = list(range(len(threads), w.nthreads))
    msg = (f"engine: no thread of {type(w).__name__} can progress: thread(s) "
           f"{waiting} wait at a barrier (phase {w.phase!r})")
    if missing:
        msg += (f" for thread(s) {missing}, which start only when thread 0 leaves its init "
                f"phase (a parallel initialisation must set parallel_init)")
    raise KmmStateError(msg)


def _positive_seconds(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and _math.isfinite(v) and 0 < v < 1e9


def run(machine, workload, until=None, progress=None, snapshot_every=0.1):
    """Run the workload on the machine until it finishes or `until` virtual seconds
    have passed.  progress(virtual_s, done_fraction) is called every 100
    virtual ms.  Returns a dict: vmstat, perf, virtual_s, wall_s,
    oracle_violations, snapshots, finished."""
    cdef kmm_machine *m
    cdef Machine mach
    cdef Workload w
    cdef Process proc
    cdef double budget[64]
    cdef double ran[64]
    cdef bint done[64]
    cdef bint waited[64]
    cdef unsigned long kswapd_rr[8]
    cdef unsigned long long until_ns, next_snap, next_progress, start_ns
    cdef int t, running, stuck = 0
    cdef bint progressed
    if not isinstance(machine, Machine):
        raise KmmConfigError(f"machine: {machine!r} is not a kmm.Machine")
    mach = machine
    if not isinstance(workload, Workload):
        raise KmmConfigError(f"workload: {workload!r} is not a kmm workload (e.g. "
                             f"kmm.workloads.gups.GUPS(...))")
    w = workload
    m = mach.m
    if m == NULL:
        raise KmmStateError("Machine: not initialised; use Machine(nodes=[...])")
    if w.nthreads > m.nr_cpu_ids:
        raise KmmConfigError(f"threads: {w.nthreads}; the machine has {m.nr_cpu_ids} CPUs")
    if until is not None and not _positive_seconds(until):
        raise KmmConfigError(f"until: {until!r}; expected a positive number of virtual seconds")
    if not _positive_seconds(snapshot_every):
        raise KmmConfigError(f"snapshot_every: {snapshot_every!r}; expected positive virtual seconds")
    if progress is not None and not callable(progress):
        raise KmmConfigError(f"progress: {progress!r}; expected None or a callable")
    wall0 = _time.perf_counter()
    proc = mach.spawn(threads=1, cpus=[0])
    w.setup(mach, proc)
    threads = [proc.threads[0]]
    perf_run_start = None                      # perf counters when the parallel region starts
    if w.parallel_init:
        # the initialisation is the first parallel region: all threads now
        perf_run_start = mach.perf()
        w.start_parallel(proc)
        for t in range(1, w.nthreads):
            threads.append(proc.add_thread(t))
    for t in range(64):
        budget[t] = 0
        ran[t] = 0
        done[t] = False
        waited[t] = False
    for t in range(8):
        kswapd_rr[t] = 0
    for t in range(m.nr_cpu_ids):
        m.cpus[t].kmm_time.pending_ns = 0      # set-up before the run is not the workload's time
    start_ns = m.clock_ns
    kernel_ns0 = m.kmm_host_kernel_ns
    times0 = mach.cpu_time()
    until_ns = start_ns + <unsigned long long>(until * 1e9) if until is not None else <unsigned long long>-1
    next_snap = start_ns
    next_progress = start_ns
    try:
        snaps = []
        while True:
            mach._enter()
            if m.clock_ns >= next_snap:
                snaps.append(snapshot(mach))
                next_snap += <unsigned long long>(snapshot_every * 1e9)
            if len(threads) < w.nthreads and w.thread_phase_c(0) != PHASE_INIT:
                # the parallel region starts: thread 0 makes the others
                perf_run_start = mach.perf()
                w.start_parallel(proc)
                for t in range(len(threads), w.nthreads):
                    threads.append(proc.add_thread(t))
                mach._enter()
                stuck = 0
            running = run_tick(mach, w, threads, budget, ran, done, waited, kswapd_rr)
            m.clock_ns += TICK_NSEC
            progressed = False
            for t in range(len(threads)):
                if not (waited[t] or done[t]):
                    progressed = True
            if running and not progressed:
                stuck += 1
                if stuck == 2:
                    _no_progress(w, threads, done)
            else:
                stuck = 0
            kernel_tick(mach, threads, done, waited)
            if progress is not None and m.clock_ns >= next_progress:
                progress((m.clock_ns - start_ns) / 1e9, w.done_fraction())
                next_progress += 100000000
            if running == 0 and len(threads) == w.nthreads:
                break
            if m.clock_ns >= until_ns:
                break
        snaps.append(snapshot(mach))
        result = {
            "virtual_s": (m.clock_ns - start_ns) / 1e9,
            "wall_s": _time.perf_counter() - wall0,
            "kernel_wall_s": (m.kmm_host_kernel_ns - kernel_ns0) / 1e9,
            "cpu_time": cpu_time_split(times0, mach.cpu_time(), (m.clock_ns - start_ns) / 1e9),
            "vmstat": mach.vmstat(),
            "perf": mach.perf(),
            "perf_run_start": perf_run_start,
            "oracle_violations": len(mach.oracle.violations),
            "snapshots": snaps,
            "finished": running == 0,
            "done_fraction": w.done_fraction(),
            "attribution": _tracing.attribution(mach),
            # /proc/interrupts' TLB row: irq_tlb_count, bumped where
            # flush_tlb_func() counts a receipt
            "interrupts_tlb": mach.vm_events_per_cpu("nr_tlb_remote_flush_received"),
        }
        if _tracing.enabled(mach):
            # read out before the workload's threads exit: their names
            events, dropped = _tracing.read(mach)
            # the workload's threads have no comm of their own: its name
            comms = {pid: c or type(w).__name__ for pid, c in _tracing.comms(mach).items()}
            result["trace"] = {"events": events, "dropped": dropped, "comms": comms}
    finally:
        if proc.alive:
            proc.exit()                # also when an access or the workload fails
    result["wall_s"] = _time.perf_counter() - wall0
    return result
