"""The workload interface: per-thread generators of memory accesses.

Emulator-only code (not a kernel mirror).  A run engine drives a Workload
like this (kmm/workloads/driver.pyx is a minimal reference driver):

    proc = machine.spawn(threads=wl.nthreads)       # thread i on CPU i
    wl.setup(machine, proc)                         # mmaps the regions
    loop:
        k = wl.fill(i, addrs, writes, n)            # C level, nogil
        k > 0:      addrs[0..k) are the thread's next k accesses (absolute
                    user virtual addresses), writes[j] is 1 for a store;
                    perform them with cpu_access(cpu_i, addrs[j], writes[j])
                    and advance thread i's virtual clock by wl.batch_ns(i)
        k == 0:     thread i has finished (it stays finished)
        k == FILL_WAIT (-1): thread i waits at a barrier for the others
                    (e.g. the end of an initialisation); call again after
                    running the other threads.  The call that returns it
                    records the arrival; a barrier opens in the call of its
                    last arrival, which does not return FILL_WAIT.  A thread released from a
                    barrier resumes at the virtual time the last thread
                    arrived: an engine keeping per-thread clocks should
                    advance a waiting thread's clock to that point.

Contract of fill():
- n >= 1; it writes at most n accesses.  It is not reentrant (one engine
  thread at a time) and does no Python work.
- A batch never mixes phases: every access of one batch belongs to
  wl.batch_phase(i) (PHASE_INIT or PHASE_RUN).  The init phase ends at a
  barrier; its accesses are emitted, not yet performed, when fill() returns,
  so an engine that wants the barrier to mean "performed" performs each
  batch before calling fill() again for any thread (the reference driver
  does).
- Virtual time: wl.batch_ns(i) is the virtual time, in ns, that the k
  accesses of thread i's last batch stand for (exact, including the
  sampling weights: a sampled XSBench lookup's emitted accesses share that
  lookup's time).  wl.ns_per_access is the run phase's average (virtual ns
  per emitted access, an expectation computed by each model); use it where a
  per-access constant is wanted.  Each model documents where its numbers
  come from.
- Deterministic: the same parameters, seed and sequence of fill() calls
  give the same accesses.  Models that hand out work dynamically (XSBench's
  `schedule(dynamic, 100)`) depend on the order in which threads call
  fill(), as the real program depends on its scheduling.

Which threads exist during init: wl.parallel_init is True when the init
phase is the program's parallel region (every thread writes its share:
the engine starts all threads at once); False when thread 0 initialises
alone (the engine starts the others when thread 0 leaves PHASE_INIT).
Before it starts them, the runner calls wl.start_parallel(process), where a
model maps what the region's threads need (XSBench: their stacks); a model
that needs that may return FILL_WAIT from thread 0 until it has happened.
The reference driver (driver.pyx) starts every thread at once and calls it
right after setup().

Python level: setup(machine, process), nthreads, seed, parallel_init, phase ('init', 'run',
'done'), thread_phase(i), done_fraction() (the run phase's progress, 0.0
during init, 1.0 when finished), init_fraction(), describe() (parameters as
a JSON-able dict), regions() and next_batch() (fill() for tests and tools).
"""

from libc.stdlib cimport calloc, free

import numpy as np

from kmm.emu.config import KmmConfigError, KmmStateError

PHASE_NAMES = ("init", "run", "done")
WAIT = FILL_WAIT
HDR = 16     # glibc malloc: an mmap'd chunk's user data starts 16 bytes in


def check_int(what, v, lo, hi=None):
    """A whole number in lo..hi (not a bool), else KmmConfigError."""
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise KmmConfigError(f"{what}: {v!r}; accepted: a whole number {rng}")
    return v


def check_float(what, v, lo_exclusive=0.0):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > lo_exclusive \
            or v != v or v == float("inf"):
        raise KmmConfigError(f"{what}: {v!r}; accepted: a finite number > {lo_exclusive}")
    return float(v)


cdef class Workload:
    """Base class of the workload models (see the module docstring)."""

    def __cinit__(self, *args, **kwargs):
        self._batch_ns = NULL
        self._batch_phase = NULL
        self._thread_phase = NULL
        self._nregions = 0
        self._region_names = []
        self.is_setup = False
        self.parallel_init = False
        self.parallel_started = False
        self.nthreads = 0
        self.ns_per_access = 0.0

    def __dealloc__(self):
        free(self._batch_ns)
        free(self._batch_phase)
        free(self._thread_phase)

    cdef int _init_threads(self, int nthreads) except -1:
        self.nthreads = nthreads
        self._batch_ns = <double *>calloc(nthreads, sizeof(double))
        self._batch_phase = <unsigned char *>calloc(nthreads, 1)
        self._thread_phase = <unsigned char *>calloc(nthreads, 1)
        if self._batch_ns == NULL or self._batch_phase == NULL or self._thread_phase == NULL:
            raise MemoryError("workload: per-thread state")
        return 0

    def _set_seed(self, seed):
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise KmmConfigError(f"seed: {seed!r}; accepted: a whole number in 0..2**64-1")
        self.seed = seed
        self._seed = seed

    # -- C level -----------------------------------------------------------
    cdef long fill(self, int thread, unsigned long *addrs, unsigned char *writes,
                   long n) noexcept nogil:
        return 0

    cdef double batch_ns(self, int thread) noexcept nogil:
        return self._batch_ns[thread]

    cdef int batch_phase(self, int thread) noexcept nogil:
        return self._batch_phase[thread]

    cdef int thread_phase_c(self, int thread) noexcept nogil:
        return self._thread_phase[thread]

    cdef int region_of(self, unsigned long addr) noexcept nogil:
        """Index of the region holding addr, or -1."""
        cdef int r
        for r in range(self._nregions):
            if addr - self._region_base[r] < (self._region_npages[r] << 12):
                return r
        return -1

    # -- setup -----------------------------------------------------------------
    def setup(self, machine, process):
        """mmap the workload's regions (anonymous, private, rw) in process,
        whose threads 0..nthreads-1 will run it (the run engine clones
        threads 1.. when the parallel phase starts).  Returns None."""
        from kmm.emu.machine import Machine
        if self.is_setup:
            raise KmmStateError(f"{type(self).__name__}.setup: already set up; "
                                f"a workload runs once (make a new one)")
        if not isinstance(machine, Machine):
            raise KmmConfigError(f"machine: {machine!r} is not a kmm.Machine")
        if getattr(process, "machine", None) is not machine:
            raise KmmConfigError("process: not a process of this machine")
        if not process.alive:
            raise KmmStateError(f"process {process.pid} has exited")
        if self.nthreads > machine.nr_cpus:
            raise KmmConfigError(f"threads: {self.nthreads}; the machine has {machine.nr_cpus} CPUs")
        need = self.total_pages
        free_pages = sum(machine.node_free_pages(n) for n in range(machine.nr_node_ids))
        if need > free_pages:
            raise KmmConfigError(
                f"{type(self).__name__}: needs {need} pages ({need * 4096 / 2**20:.1f} MiB) of "
                f"data; the machine has {free_pages} free pages: use a smaller size/scale or a "
                f"bigger machine")
        for name, npages in self._layout():
            addr = process.mmap(npages, "rw")
            self._add_region(name, addr, npages)
        self._after_setup()
        self._process = process
        self.is_setup = True

    def _add_region(self, name, unsigned long addr, unsigned long npages):
        if self._nregions == WL_MAX_REGIONS:
            raise KmmConfigError(f"a workload has at most {WL_MAX_REGIONS} regions")
        self._region_base[self._nregions] = addr
        self._region_npages[self._nregions] = npages
        self._region_names.append(name)
        self._nregions += 1

    def _layout(self):
        """[(region name, pages)] in mmap order; the models override it."""
        return []

    def _after_setup(self):
        pass

    def start_parallel(self, process=None):
        """The parallel region starts: called once, after setup() and
        before the threads other than thread 0 are cloned (right after
        setup() when parallel_init), in the process setup() was given
        (the default)."""
        if not self.is_setup:
            raise KmmStateError(f"{type(self).__name__}.start_parallel: call setup() first")
        if self.parallel_started:
            raise KmmStateError(f"{type(self).__name__}.start_parallel: already started")
        if process is None:
            process = self._process
        elif process is not self._process:
            raise KmmConfigError(f"{type(self).__name__}.start_parallel: {process!r} is not the "
                                 f"process the workload was set up in")
        if not process.alive:
            raise KmmStateError(f"process {process.pid} has exited")
        self._start_parallel(process)
        self.parallel_started = True

    def _start_parallel(self, process):
        """What the region's threads need mapped; the models override it."""
        pass

    @property
    def total_pages(self):
        """Data pages of all regions."""
        return sum(p for _, p in self._layout())

    def regions(self):
        """[{'name', 'addr', 'npages'}] after setup."""
        return [{"name": self._region_names[r], "addr": self._region_base[r],
                 "npages": self._region_npages[r]} for r in range(self._nregions)]

    # -- progress ----------------------------------------------------------------
    @property
    def phase(self):
        """'init' while any thread initialises (or waits at the init barrier),
        'done' when every thread has finished, else 'run'."""
        cdef int t, lo = PHASE_DONE
        for t in range(self.nthreads):
            lo = min(lo, self._thread_phase[t])
        return PHASE_NAMES[lo]

    def thread_phase(self, thread):
        check_int("thread", thread, 0, self.nthreads - 1)
        return PHASE_NAMES[self._thread_phase[thread]]

    def done_fraction(self):
        """Fraction of the run phase's work handed out (0.0 .. 1.0)."""
        return 0.0

    def init_fraction(self):
        """Fraction of the init phase's accesses handed out (1.0 if none)."""
        return 1.0

    def describe(self):
        return {"workload": type(self).__name__, "threads": self.nthreads, "seed": self.seed,
                "ns_per_access": self.ns_per_access}

    def stats(self):
        """Model-specific counters (dict)."""
        return {}

    # -- Python access to fill() (tests, tools) -----------------------------------
    def next_batch(self, thread, n=256):
        """fill() from Python: (k, addrs, writes, batch_ns) with k as fill()
        returns it and numpy arrays of the k accesses."""
        cdef long k
        if not self.is_setup:
            raise KmmStateError("next_batch: call setup(machine, process) first")
        check_int("thread", thread, 0, self.nthreads - 1)
        check_int("n", n, 1, 1 << 24)
        addrs = np.zeros(n, dtype=np.uint64)
        writes = np.zeros(n, dtype=np.uint8)
        cdef unsigned long[::1] a = addrs
        cdef unsigned char[::1] w = writes
        k = self.fill(thread, &a[0], &w[0], n)
        if k == FILL_WAIT and self._run_needs_parallel and not self.parallel_started and \
                self.thread_phase_c(thread) != PHASE_INIT:
            raise KmmStateError(f"next_batch: thread {thread} waits for the parallel region; "
                                f"call start_parallel() first (the run engine does)")
        if k <= 0:
            return k, addrs[:0], writes[:0], 0.0
        return k, addrs[:k], writes[:k], self._batch_ns[thread]
