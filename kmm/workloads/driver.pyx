"""A minimal reference driver for workloads (emulator-only).

run_workload(machine, workload) spawns a process with workload.nthreads
threads (thread i on CPU i), calls workload.setup(), then round-robins
batches across the threads: fill() a batch, perform it with
cpu_access_batch() (kmm/emu/access.pyx) on the thread's CPU, until every thread has finished.  No
virtual clock, NUMA scanning or kswapd: the run engine does that.  The
Driver class does the same in steps (run(until='run') stops when the init
phase is over), for tests and benchmarks.

Counts returned: accesses (loads, stores; per phase), pgfault (the vmstat
delta), and per region the touches and the distinct pages touched (a
per-page touch-count array per region, kept in C)."""

from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy

import numpy as np

from kmm.emu.machine cimport Machine
from kmm.emu.access cimport cpu_access_batch
from kmm.workloads.base cimport (Workload, FILL_WAIT, PHASE_INIT, PHASE_RUN, PHASE_DONE,
                                 WL_MAX_REGIONS)

from kmm.emu.config import KmmConfigError, KmmStateError
from kmm.workloads.base import check_int

from kmm.emu.access import access_failure


cdef class Driver:
    """Round-robin a set-up workload's threads through cpu_access()."""
    cdef Machine machine
    cdef Workload wl
    cdef readonly object process
    cdef int *cpus
    cdef unsigned long *addrs
    cdef unsigned char *writes
    cdef readonly long batch
    cdef long long loads[3]               # per phase (init, run)
    cdef long long stores[3]
    cdef long long outside                # accesses in no region
    cdef long long reg_touch[8][3]        # [region][phase]
    cdef unsigned int *counts[8]
    cdef list _count_arrays
    cdef double *vtime
    cdef long long pgfault
    # recording (tests): thread, addr, write of every access
    cdef bint record
    cdef readonly bint count_pages
    cdef long long rec_len, rec_cap
    cdef unsigned long *rec_addr
    cdef unsigned char *rec_write
    cdef int *rec_thread

    def __cinit__(self):
        self.cpus = NULL
        self.addrs = NULL
        self.writes = NULL
        self.vtime = NULL
        self.rec_addr = NULL
        self.rec_write = NULL
        self.rec_thread = NULL

    def __init__(self, Machine machine, Workload workload, process=None, batch=256, record=False,
                 count_pages=True):
        """Spawn the process (unless given, already set up) and set the
        workload up in it.  count_pages=False skips the per-page touch
        counts (distinct_pages and page_counts() then stay 0)."""
        cdef int r, t
        check_int("batch", batch, 1, 1 << 20)
        self.machine = machine
        self.wl = workload
        self.batch = batch
        self.record = bool(record)
        self.count_pages = bool(count_pages)
        if process is None:
            if workload.is_setup:
                raise KmmStateError("workload is already set up: pass its process")
            process = machine.spawn(threads=workload.nthreads)
            workload.setup(machine, process)
        elif not workload.is_setup:
            workload.setup(machine, process)
        if not workload.parallel_started:
            workload.start_parallel(process)
        self.process = process
        self.cpus = <int *>calloc(workload.nthreads, sizeof(int))
        self.vtime = <double *>calloc(workload.nthreads, sizeof(double))
        self.addrs = <unsigned long *>calloc(batch, sizeof(unsigned long))
        self.writes = <unsigned char *>calloc(batch, 1)
        if self.cpus == NULL or self.vtime == NULL or self.addrs == NULL or self.writes == NULL:
            raise MemoryError("driver buffers")
        for t in range(workload.nthreads):
            self.cpus[t] = process.threads[t].cpu
        self._count_arrays = []
        for r, reg in enumerate(workload.regions()):
            arr = np.zeros(reg["npages"], dtype=np.uint32)
            self._count_arrays.append(arr)
            self.counts[r] = <unsigned int *><size_t>arr.ctypes.data

    def __dealloc__(self):
        free(self.cpus)
        free(self.addrs)
        free(self.writes)
        free(self.vtime)
        free(self.rec_addr)
        free(self.rec_write)
        free(self.rec_thread)

    cdef int _record(self, int thread, long k) noexcept nogil:
        cdef long long cap
        cdef long j
        if self.rec_len + k > self.rec_cap:
            cap = self.rec_cap * 2
            if cap < self.rec_len + k + 4096:
                cap = self.rec_len + k + 4096
            self.rec_addr = <unsigned long *>realloc(self.rec_addr, cap * sizeof(unsigned long))
            self.rec_write = <unsigned char *>realloc(self.rec_write, cap)
            self.rec_thread = <int *>realloc(self.rec_thread, cap * sizeof(int))
            if self.rec_addr == NULL or self.rec_write == NULL or self.rec_thread == NULL:
                return -1
            self.rec_cap = cap
        for j in range(k):
            self.rec_addr[self.rec_len + j] = self.addrs[j]
            self.rec_write[self.rec_len + j] = self.writes[j]
            self.rec_thread[self.rec_len + j] = thread
        self.rec_len += k
        return 0

    def run(self, max_accesses=None, until=None):
        """Run until every thread has finished, max_accesses accesses have
        been performed (whole batches: it may run over by < batch), or
        until='run' and the init phase is over.  Returns the cumulative
        counts (see result())."""
        cdef Workload wl = self.wl
        cdef int T = wl.nthreads, t, rc = 0, ph, reg, err_thread = -1
        cdef long k, j, n
        cdef bint err_write = False
        cdef long long limit, done_now = 0
        cdef unsigned long a, err_addr = 0
        cdef bint progressed, live, stop_at_run, deadlock = False, oom = False
        cdef unsigned long *addrs = self.addrs
        cdef unsigned char *writes = self.writes
        if until not in (None, "run"):
            raise KmmConfigError(f"until: {until!r}; accepted: None, 'run'")
        if max_accesses is None:
            limit = -1
        else:
            limit = check_int("max_accesses", max_accesses, 0)
        stop_at_run = until == "run"
        if not self.process.alive:
            raise KmmStateError("the workload's process has exited")
        before = self.machine.vmstat()["pgfault"]
        self.machine._enter()
        with nogil:
            while limit < 0 or done_now < limit:
                if stop_at_run:
                    live = False
                    for t in range(T):
                        if wl.thread_phase_c(t) == PHASE_INIT:
                            live = True
                    if not live:
                        break
                progressed = False
                live = False
                for t in range(T):
                    if wl.thread_phase_c(t) == PHASE_DONE:
                        continue
                    if stop_at_run and wl.thread_phase_c(t) != PHASE_INIT:
                        live = True         # the init barrier has opened
                        progressed = True
                        break
                    k = wl.fill(t, addrs, writes, self.batch)
                    if k == 0:
                        continue
                    live = True
                    if k == FILL_WAIT:
                        continue
                    progressed = True
                    ph = wl.batch_phase(t)
                    self.vtime[t] += wl.batch_ns(t)
                    if self.record and self._record(t, k) != 0:
                        oom = True
                        break
                    n = cpu_access_batch(self.cpus[t], addrs, writes, k, &rc)
                    if rc != 0:
                        err_thread = t
                        err_addr = addrs[n]
                        err_write = writes[n]
                    for j in range(n):
                        a = addrs[j]
                        if writes[j]:
                            self.stores[ph] += 1
                        else:
                            self.loads[ph] += 1
                        reg = wl.region_of(a)
                        if reg < 0:
                            self.outside += 1
                        else:
                            self.reg_touch[reg][ph] += 1
                            if self.count_pages:
                                self.counts[reg][(a - wl._region_base[reg]) >> 12] += 1
                    done_now += k
                    if rc != 0:
                        break
                if rc != 0 or oom:
                    break
                if not live:
                    break
                if not progressed:
                    deadlock = True
                    break
        self.pgfault += self.machine.vmstat()["pgfault"] - before
        self.machine._after()
        if oom:
            raise MemoryError("driver: recording buffer")
        if rc != 0:
            raise access_failure(rc, self.cpus[err_thread], err_addr, err_write)
        if deadlock:
            raise KmmStateError("driver: every unfinished thread waits at a barrier")
        return self.result()

    def result(self):
        """Cumulative counts since the driver was made."""
        wl = self.wl
        regions = {}
        for r, reg in enumerate(wl.regions()):
            c = self._count_arrays[r]
            regions[reg["name"]] = {
                "npages": reg["npages"],
                "distinct_pages": int(np.count_nonzero(c)),
                "init_touches": self.reg_touch[r][PHASE_INIT],
                "run_touches": self.reg_touch[r][PHASE_RUN],
            }
        return {
            "accesses": sum(self.loads[p] + self.stores[p] for p in range(2)),
            "loads": self.loads[0] + self.loads[1], "stores": self.stores[0] + self.stores[1],
            "init_loads": self.loads[PHASE_INIT], "init_stores": self.stores[PHASE_INIT],
            "run_loads": self.loads[PHASE_RUN], "run_stores": self.stores[PHASE_RUN],
            "outside_regions": self.outside,
            "pgfault": self.pgfault,
            "distinct_pages": sum(v["distinct_pages"] for v in regions.values()),
            "regions": regions,
            "virtual_ns": [self.vtime[t] for t in range(wl.nthreads)],
            "phase": wl.phase,
            "done_fraction": wl.done_fraction(),
            "workload": wl.stats(),
        }

    def page_counts(self):
        """{region name: uint32 array of touches per page} (copies)."""
        return {reg["name"]: self._count_arrays[r].copy()
                for r, reg in enumerate(self.wl.regions())}

    def recorded(self):
        """(thread, addr, write) numpy arrays of every access (record=True)."""
        cdef long long n = self.rec_len
        th = np.empty(n, dtype=np.int32)
        ad = np.empty(n, dtype=np.uint64)
        wr = np.empty(n, dtype=np.uint8)
        if n:
            memcpy(<void *><size_t>th.ctypes.data, self.rec_thread, n * sizeof(int))
            memcpy(<void *><size_t>ad.ctypes.data, self.rec_addr, n * sizeof(unsigned long))
            memcpy(<void *><size_t>wr.ctypes.data, self.rec_write, n)
        return th, ad, wr


def run_workload(machine, workload, max_accesses=None, batch=256, record=False):
    """Spawn a process for workload (thread i on CPU i), set it up and run
    it to the end (or max_accesses).  Returns the counts of Driver.result(),
    plus 'driver' (for page_counts()/recorded())."""
    d = Driver(machine, workload, batch=batch, record=record)
    out = d.run(max_accesses=max_accesses)
    out["driver"] = d
    return out
