"""The workload interface (emulator-only; see base.pyx and docs/workloads.md)."""

cdef enum:
    FILL_WAIT = -1          # fill(): the thread waits at a barrier; ask again later
    PHASE_INIT = 0
    PHASE_RUN = 1
    PHASE_DONE = 2
    WL_MAX_REGIONS = 8


cdef class Workload:
    cdef readonly int nthreads
    cdef readonly object seed
    cdef unsigned long long _seed
    # Average virtual nanoseconds per emitted run-phase access (see base.pyx).
    cdef public double ns_per_access
    cdef double *_batch_ns                 # per thread: virtual ns of the last fill()
    cdef unsigned char *_batch_phase       # per thread: phase of the last fill()'s accesses
    cdef unsigned char *_thread_phase      # per thread: PHASE_INIT / PHASE_RUN / PHASE_DONE
    cdef int _nregions
    cdef unsigned long _region_base[8]     # WL_MAX_REGIONS
    cdef unsigned long _region_npages[8]
    cdef list _region_names
    cdef readonly bint is_setup
    # The init phase runs in the program's parallel region (every thread
    # initialises its share): the run engine starts all threads at once.
    # Otherwise thread 0 initialises alone and the others start when it
    # leaves PHASE_INIT (see kmm/emu/engine.pyx).
    cdef public bint parallel_init
    cdef readonly bint parallel_started     # start_parallel() has run
    cdef bint _run_needs_parallel           # the run phase waits for start_parallel() (XSBench)
    cdef object _process                    # the process setup() mapped the regions in

    cdef long fill(self, int thread, unsigned long *addrs, unsigned char *writes,
                   long n) noexcept nogil
    cdef double batch_ns(self, int thread) noexcept nogil
    cdef int batch_phase(self, int thread) noexcept nogil
    cdef int thread_phase_c(self, int thread) noexcept nogil
    cdef int region_of(self, unsigned long addr) noexcept nogil
    cdef int _init_threads(self, int nthreads) except -1
