"""XSBench (ANL-CESAR), history-based, unionized energy grid: its memory
accesses at page granularity.  Emulator-only.

Data structures (GridInit.c, grid_init_do_not_profile), N nuclides and G
grid points per nuclide, each one malloc() and so one anonymous mmap whose
data start 16 bytes in (glibc's mmap'd chunk header):
  nuclide_grid            N*G NuclideGridPoint (6 doubles, 48 B), nuclide i's
                          grid is the slice [i*G, (i+1)*G), sorted by energy
  unionized_energy_array  N*G doubles, sorted
  index_grid              N*G rows of N ints: row e, column i is the index
                          in nuclide i's grid of the point below energy e
Sizes: 'small' N = 68, 'large' N = 355 (io.c); G = 11303 for both.  The
material tables (Materials.c: 12 materials, fuel with 34 (small) or 321
(large) nuclides) and pick_mat()'s probabilities are reproduced as data.

Init, in grid_init's order: the nuclide grid, then the unionized grid (copy
and qsort), then the index grid; every data page is first written once here.
XSBench's init is serial (no OpenMP region before the simulation), so the
default init='serial' has thread 0 write every page while the other threads
wait at the init barrier; init='parallel' splits each structure's pages
into contiguous per-thread chunks with a barrier after each structure.
Only first writes are emitted (re-reads by qsort and by the index-grid
construction are not).

Run: `particles` histories of `lookups` lookups each, handed out to threads
in chunks of 100 particles (`#pragma omp parallel for schedule(dynamic,
100)`).  A lookup (calculate_macro_xs) draws an energy and a material,
binary-searches the unionized grid (grid_search: ~log2(N*G) reads), then for
each nuclide of the material reads index_grid[e][nuc] and the two nuclide
grid points low and low+1.  The data accesses are loads.

Page-touch model of one lookup.  The energy's unionized index t is uniform
in 0..N*G-2 (the grid is N*G sorted uniform energies); grid_search's path
for it is reproduced exactly (A[mid] > e  <=>  mid > t).  The nuclide-grid
index is low = min(t // N, G-2): the unionized grid holds N points per
nuclide grid point, so t // N is the expected count of the nuclide's points
below the energy.  Repeated touches of a page within one lookup are
collapsed (they hit the TLB and change nothing the kernel sees), so a
lookup touches each distinct page once, in first-touch order.

Sampling.  Every index-grid touch is emitted: 1 or 2 pages per lookup, the
1.4 M-page index grid is what NUMA balancing scans, hint-faults and
promotes.  The hot, small structures are sampled per lookup: with
probability 1/sample_ueg the lookup's unionized-grid pages are emitted, and
independently with probability 1/sample_nuclide its nuclide-grid pages.
Each emitted touch therefore stands for sample_* real touches: per-page
touch counts are unbiased after weighting, every page keeps being touched,
and only the gap between touches of a hot page grows by that factor.  The
defaults (16 and 128) keep the mean gap between emitted touches of the
coldest hot page well below kernel.numa_balancing_hot_threshold_ms (1 s) at
the seed's rate (16 threads, 5.2 us per lookup, see docs/workloads.md).
The sampling draws come from bits of the lookup's random word that the
energy and material do not use, so runs that differ only in sample_*
perform the same lookups and the same index-grid accesses.

Stores (Simulation.c, libgomp, glibc; docs/workloads.md "Stores").  setup()
maps, after the data: exec's stack (Process.exec_stack: 33 pages at the
top, whose top page exec writes), a 33-page malloc heap and, per OpenMP
worker, glibc's thread stack: 8 MiB (RLIMIT_STACK's default) above a
PROT_NONE guard page.  Each thread's lookup frames lie in the page below
its stack's top page (the top holds exec's strings, or glibc's struct
pthread and static TLS).  Run stores, each one page touch:
  - every lookup starts with a store to its thread's frame page (the call
    of calculate_macro_xs; the other stores of its frames, macro_xs_vector
    and xs_vector, hit the same page and are collapsed);
  - every chunk grab (gomp_iter_dynamic_next's fetch-and-add on the team's
    work share) stores to the team's heap page, before the chunk's first
    lookup; each thread's last grab finds no work and is followed by its
    reduction into `verification`, on the main thread's frame page;
  - thread 0, entering the parallel region, writes the team
    (gomp_new_team) and each worker's stack top page (pthread_create).
The stores are emitted unsampled (a sampled store would hide the first
store after a TLB flush).  They take no virtual time of their own: a
lookup's stores share its lookup_ns with its loads; the team creation and
the final grab and reduction take none.  They draw no random numbers, so
the data accesses are those of a model without them.

Virtual time: lookup_ns per lookup (default from the seed: 50,000,000
particles x 34 lookups on 16 threads in 556.787 s, less the init's user
time); each init step's measured user time per page it touches (init_ns,
INIT_MEASURED_S).
"""

from libc.stdlib cimport calloc, free
from libc.string cimport memset
from libc.stdint cimport uint64_t

from kmm.workloads.base cimport Workload, FILL_WAIT, PHASE_INIT, PHASE_RUN, PHASE_DONE
from kmm.workloads.rng cimport rng_t, rng_seed, rng_next, rng_below

import math

import numpy as np

from kmm.emu.config import KmmConfigError, KmmStateError
from kmm.workloads.base import check_int, check_float, HDR

# -- XSBench's parameters (io.c read_CLI, Materials.c, Simulation.c pick_mat) --
N_ISOTOPES = {"small": 68, "large": 355}
N_GRIDPOINTS = 11303
DEFAULT_LOOKUPS = 34
DEFAULT_PARTICLES = 500000
NGP_BYTES = 48                     # sizeof(NuclideGridPoint): 6 doubles

_FUEL_SMALL = (58, 59, 60, 61, 40, 42, 43, 44, 45, 46, 1, 2, 3, 7, 8, 9, 10, 29, 57, 47, 48,
               0, 62, 15, 33, 34, 52, 53, 54, 55, 56, 18, 23, 41)
_WATER = (24, 41, 4, 5)
_STEEL = (19, 20, 21, 22, 35, 36, 37, 38, 39, 25, 49, 50, 51, 11, 12, 13, 14)


def material_nuclides(size):
    """The 12 H-M materials' nuclide lists (Materials.c load_mats)."""
    fuel = _FUEL_SMALL if size == "small" else _FUEL_SMALL + tuple(range(68, 68 + 321 - 34))
    return (
        fuel,                                                        # 0 fuel
        (63, 64, 65, 66, 67),                                        # 1 cladding
        _WATER,                                                      # 2 cold borated water
        _WATER,                                                      # 3 hot borated water
        (19, 20, 21, 22, 35, 36, 37, 38, 39, 25, 27, 28, 29, 30, 31, 32, 26, 49, 50, 51,
         11, 12, 13, 14, 6, 16, 17),                                 # 4 RPV
    ) + (_WATER + _STEEL,) * 5 + (                                   # 5-9 reflectors, plates, nozzles
        _WATER + (63, 64, 65, 66, 67),                               # 10 top of FAs
        _WATER + (63, 64, 65, 66, 67),                               # 11 bottom of FAs
    )


# pick_mat(): fractions by volume; material i (1..11) is picked when the roll
# is below dist[1] + ... + dist[i], fuel (0) otherwise -- so material i's
# probability is dist[i].
MATERIAL_PROBABILITIES = (0.140, 0.052, 0.275, 0.134, 0.154, 0.064, 0.066, 0.055, 0.008,
                          0.015, 0.025, 0.013)

# -- virtual time ----------------------------------------------------------------
SEED_ELAPSED_S = 556.787113849     # the seed's `perf stat` elapsed time (mainline)
SEED_PARTICLES = 50_000_000
SEED_THREADS = 16
# XSBench v20 large's init (grid_init_do_not_profile), its user CPU time per
# step, measured: tools/measure_xsbench_init.py sampled /proc/PID/stat and
# statm of the real program (openmp-threading, gcc -O3, `-t 1 -s large`)
# every 2-5 ms; medians of six runs on the development host (2026-12-04,
# AMD EPYC, load 0.2-0.9; docs/workloads.md "Init").  Kernel time (the
# first-touch faults) is not in these: the cost model charges it.
INIT_MEASURED_S = {
    "nuclide_grid": 0.045,      # rand() fill of the nuclide grids (0.03-0.06 s)
    "nuclide_sort": 0.515,      # 355 qsorts of G points each (0.49-0.55 s)
    "unionized_grid": 0.45,     # copy of the energies, then qsort of N*G doubles (0.44-0.47 s)
    "index_grid": 1.65,         # the N*G x N index-grid loop (1.50-1.87 s)
}


def _pages(nbytes):
    return (HDR + nbytes + 4095) // 4096


def default_init_ns(n_isotopes, n_gridpoints):
    """ns of user time per page touched in each init step, at these sizes,
    from INIT_MEASURED_S (large, G = 11303).  A write step costs the same per
    page at every size; a qsort of k elements costs k log k, so its cost
    per page follows log2(k).  The unionized step's copy is a streaming pass
    like the nuclide grid's fill: it gets that step's cost per page, and the
    sort the rest of the measured time."""
    N, G = N_ISOTOPES["large"], N_GRIDPOINTS
    pn, pu, pi = (_pages(N * G * NGP_BYTES), _pages(N * G * 8), _pages(N * N * G * 4))
    gen = INIT_MEASURED_S["nuclide_grid"] * 1e9 / pn
    nsort = INIT_MEASURED_S["nuclide_sort"] * 1e9 / pn
    usort = INIT_MEASURED_S["unionized_grid"] * 1e9 / pu - gen
    log = lambda k, k0: math.log2(max(k, 2)) / math.log2(k0)
    return {"nuclide_grid": gen,
            "nuclide_sort": nsort * log(n_gridpoints, G),
            "unionized_grid": gen,
            "unionized_sort": usort * log(n_isotopes * n_gridpoints, N * G),
            "index_grid": INIT_MEASURED_S["index_grid"] * 1e9 / pi}


# lookup_ns: the seed's elapsed time less the init's user time, over its lookups
DEFAULT_LOOKUP_NS = ((SEED_ELAPSED_S - sum(INIT_MEASURED_S.values()))
                     * SEED_THREADS * 1e9 / (SEED_PARTICLES * DEFAULT_LOOKUPS))

DEFAULT_SAMPLE_UEG = 16
DEFAULT_SAMPLE_NUCLIDE = 128

# -- stacks and heap (see "Stores" in the module docstring) -------------------------
# glibc: a thread's default stack is RLIMIT_STACK's soft limit (8 MiB by
# default, page-rounded: __pthread_initialize_minimal) plus one guard page
# (allocate_stack: mmap PROT_NONE, then mprotect of all but the guard)
WORKER_STACK_PAGES = 2048
GUARD_PAGES = 1
# glibc malloc's first sbrk: the request plus M_TOP_PAD (128 KiB), page-rounded
HEAP_PAGES = 33

cdef enum:
    CHUNK_PARTICLES = 100          # schedule(dynamic, 100)
    NMATS = 12
    SET_BITS = 11                  # per-lookup distinct-page set: 2048 slots
    REG_NUC = 0
    REG_UEG = 1
    REG_IDX = 2
    NSTEPS = 5                     # len(INIT_STEPS)

# the init's steps in XSBench's order, each a pass over one structure: a
# first write, or a qsort's read-modify-write of pages already written
INIT_STEPS = (("nuclide_grid", REG_NUC), ("nuclide_sort", REG_NUC),
              ("unionized_grid", REG_UEG), ("unionized_sort", REG_UEG),
              ("index_grid", REG_IDX))
cdef unsigned long STORE = <unsigned long>1 << 63   # a store, in the pend buffer


cdef struct xs_thread:
    rng_t rng
    long part_next                 # next particle of the current chunk
    long part_end
    long lookups_left              # lookups left in the current particle
    # init
    int stage
    bint arrived
    long init_pos
    long init_end
    # a lookup that did not fit the caller's batch
    unsigned long *pend
    long pend_len
    long pend_pos
    double pend_ns
    # stores (see "Stores" in the module docstring)
    unsigned long stack_top        # the end of the thread's stack mapping
    unsigned long frame            # an address in the page of its lookup frames
    bint created                   # thread 0: the team and the threads are made
    bint grabbed                   # a chunk was just grabbed: its store leads the next lookup
    bint ended                     # the final grab and the reduction are emitted
    # distinct pages of the current lookup
    unsigned long *set_key
    unsigned int *set_gen
    unsigned int gen
    # counters
    long lookups
    long ueg_sampled
    long nuc_sampled
    long run_accesses
    long init_accesses
    long stack_stores
    long schedule_stores
    long other_stores              # team creation, pthread_create, reduction
    long mat_count[12]             # lookups per material


cdef class XSBench(Workload):
    """XSBench -m history -G unionized (see the module docstring)."""
    cdef readonly str size
    cdef readonly long n_isotopes, n_gridpoints, particles, lookups
    cdef readonly double scale, lookup_ns
    cdef readonly dict init_ns               # ns per page touched, per init step
    cdef readonly int sample_ueg, sample_nuclide
    cdef readonly str init
    cdef long n_union                      # N*G
    cdef unsigned long ueg_mask, nuc_mask
    cdef unsigned long nbase, ubase, ibase # data addresses (region + HDR)
    cdef unsigned long region_pages[3]
    cdef int nmat[12]
    cdef int *mat_nucs                     # [12][max_nucs]
    cdef int max_nucs
    cdef unsigned long first_off[12]
    cdef unsigned long min_off[12]
    cdef unsigned long max_off[12]
    cdef unsigned int mat_cum[12]          # pick_mat thresholds in 1/65536
    cdef long pend_cap
    cdef xs_thread *th
    # init: the steps' structures, lengths (page touches) and costs; per
    # stage (serial: one; parallel: one per step) and thread a range of the
    # steps' touches, numbered across the steps
    cdef int step_region[NSTEPS]
    cdef long step_pages[NSTEPS]
    cdef double step_ns[NSTEPS]
    cdef int nstages
    cdef long *stage_begin
    cdef long *stage_end
    cdef int stage_arrivals[8]
    cdef long init_total, init_done
    # run
    cdef long next_chunk, nchunks, lookups_total, lookups_done
    # the heap page of libgomp's team (its work share's `next`) and the
    # main thread's frame page holding the shared `verification`
    cdef unsigned long team, result, heap_base
    cdef bint parallel_ready                # start_parallel() has mapped the workers' stacks
    cdef readonly dict expected_pages

    def __init__(self, size="large", particles=DEFAULT_PARTICLES, lookups=DEFAULT_LOOKUPS,
                 threads=16, seed=0, scale=1.0, sample_ueg=DEFAULT_SAMPLE_UEG,
                 sample_nuclide=DEFAULT_SAMPLE_NUCLIDE, lookup_ns=None,
                 init_ns=None, init="serial"):
        if size not in N_ISOTOPES:
            raise KmmConfigError(f"size: {size!r}; accepted: 'small', 'large'")
        check_int("particles", particles, 1, 2**31 - 1)
        check_int("lookups", lookups, 1, 2**31 - 1)
        check_int("threads", threads, 1, 64)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 1:
            raise KmmConfigError(f"scale: {scale!r}; accepted: a number in (0, 1] "
                                 f"(the fraction of the {N_GRIDPOINTS} grid points kept)")
        for what, k in (("sample_ueg", sample_ueg), ("sample_nuclide", sample_nuclide)):
            if isinstance(k, bool) or not isinstance(k, int) or k not in (1 << i for i in range(9)):
                raise KmmConfigError(f"{what}: {k!r}; accepted: a power of two 1..256 "
                                     f"(emit 1 in {what} lookups' touches)")
        if init not in ("serial", "parallel"):
            raise KmmConfigError(f"init: {init!r}; accepted: 'serial' (XSBench's), 'parallel'")
        self.lookup_ns = DEFAULT_LOOKUP_NS if lookup_ns is None else check_float("lookup_ns", lookup_ns)
        self._set_seed(seed)
        self.size = size
        self.init = init
        self.parallel_init = init == "parallel"
        self.n_isotopes = N_ISOTOPES[size]
        self.scale = float(scale)
        self.n_gridpoints = max(2, int(round(N_GRIDPOINTS * self.scale)))
        self.init_ns = default_init_ns(self.n_isotopes, self.n_gridpoints)
        if init_ns is not None:
            if not isinstance(init_ns, dict) or not set(init_ns) <= set(self.init_ns):
                raise KmmConfigError(f"init_ns: {init_ns!r}; accepted: a dict of ns per page "
                                     f"touched for some of {list(self.init_ns)}")
            for k, v in init_ns.items():
                self.init_ns[k] = check_float(f"init_ns[{k!r}]", v)
        self.particles = particles
        self.lookups = lookups
        self.sample_ueg = sample_ueg
        self.sample_nuclide = sample_nuclide
        self.ueg_mask = sample_ueg - 1
        self.nuc_mask = sample_nuclide - 1
        self.n_union = self.n_isotopes * self.n_gridpoints
        nb = self.region_bytes()
        for r, name in enumerate(("nuclide_grid", "unionized_grid", "index_grid")):
            self.region_pages[r] = _pages(nb[name])
        self._init_threads(threads)
        self._init_materials()
        self.pend_cap = 64 + 3 * self.max_nucs + 8 + threads
        self._run_needs_parallel = True            # the workers' stacks come with the region
        self.th = <xs_thread *>calloc(threads, sizeof(xs_thread))
        if self.th == NULL:
            raise MemoryError("XSBench: thread state")
        for t in range(threads):
            self.th[t].pend = <unsigned long *>calloc(self.pend_cap, sizeof(unsigned long))
            self.th[t].set_key = <unsigned long *>calloc(1 << SET_BITS, sizeof(unsigned long))
            self.th[t].set_gen = <unsigned int *>calloc(1 << SET_BITS, sizeof(unsigned int))
            if self.th[t].pend == NULL or self.th[t].set_key == NULL or self.th[t].set_gen == NULL:
                raise MemoryError("XSBench: thread state")
        self._init_stages()
        self.nchunks = (particles + CHUNK_PARTICLES - 1) // CHUNK_PARTICLES
        self.lookups_total = particles * lookups
        # Expected distinct pages per (unsampled) lookup, from the model
        # itself over 4096 stratified energies and the material mix, with
        # stand-in bases (only the offsets within pages matter).
        self.nbase = (<unsigned long>1 << 40) + HDR
        self.ubase = (<unsigned long>2 << 40) + HDR
        self.ibase = (<unsigned long>3 << 40) + HDR
        self.expected_pages = self._expected_pages(4096)
        self.ns_per_access = self.lookup_ns / self._accesses_per_lookup()

    def _accesses_per_lookup(self):
        """Expected emitted accesses per lookup: its data pages after
        sampling, its stack store and its share of a chunk grab."""
        e = self.expected_pages
        return (e["index_grid"] + e["unionized_grid"] / self.sample_ueg
                + e["nuclide_grid"] / self.sample_nuclide
                + 1 + 1.0 / (CHUNK_PARTICLES * self.lookups))

    def __dealloc__(self):
        cdef int t
        if self.th != NULL:
            for t in range(self.nthreads):
                free(self.th[t].pend)
                free(self.th[t].set_key)
                free(self.th[t].set_gen)
            free(self.th)
        free(self.mat_nucs)
        free(self.stage_begin)
        free(self.stage_end)

    def region_bytes(self):
        """Bytes of each structure (XSBench's formulas with N, G)."""
        n, g = self.n_isotopes, self.n_gridpoints
        return {"nuclide_grid": n * g * NGP_BYTES, "unionized_grid": n * g * 8,
                "index_grid": n * n * g * 4}

    def _layout(self):
        return [("nuclide_grid", self.region_pages[REG_NUC]),
                ("unionized_grid", self.region_pages[REG_UEG]),
                ("index_grid", self.region_pages[REG_IDX])]

    def _after_setup(self):
        self.nbase = self._region_base[REG_NUC] + HDR
        self.ubase = self._region_base[REG_UEG] + HDR
        self.ibase = self._region_base[REG_IDX] + HDR

    def setup(self, machine, process):
        """The data regions (Workload.setup), then the mappings the main
        thread writes to: exec's stack, whose top page exec writes (the
        argument strings), and the malloc heap.  The workers' stacks come
        when the parallel region starts (start_parallel)."""
        cdef unsigned long lo
        Workload.setup(self, machine, process)
        lo, top = process.exec_stack()
        self.th[0].stack_top = top
        process.threads[0].store(self.th[0].stack_top - 8)    # copy_strings(): the file name
        self.heap_base = process.mmap(HEAP_PAGES, "rw")
        self.team = self.heap_base + self._team_offset()
        self.th[0].frame = self.th[0].stack_top - 4096 - 8
        self.result = self.th[0].frame

    def _start_parallel(self, process):
        """The OpenMP region starts (GOMP_parallel_loop_dynamic): thread 0
        creates each worker (pthread_create: glibc's allocate_stack maps its
        stack and guard page, then the worker is cloned); until then thread 0
        waits at the region's start (fill() returns FILL_WAIT)."""
        cdef int t
        cdef unsigned long lo
        for t in range(1, self.nthreads):
            lo = process.mmap(GUARD_PAGES + WORKER_STACK_PAGES, "none")
            process.mprotect(lo + GUARD_PAGES * 4096, WORKER_STACK_PAGES, "rw")
            self.th[t].stack_top = lo + (GUARD_PAGES + WORKER_STACK_PAGES) * 4096
            self.th[t].frame = self.th[t].stack_top - 4096 - 8
        self.parallel_ready = True

    def _team_offset(self):
        """Where libgomp's team lands in the heap: after XSBench's own
        arrays (load_num_nucs, load_mats, load_concs: 12 ints, 12 x
        max_num_nucs ints and doubles), each behind a 16-byte chunk header."""
        return 3 * 16 + 12 * 4 + 12 * self.max_nucs * (4 + 8)

    def stacks(self):
        """Per thread after setup: its stack mapping's top (`top`), the
        address of its lookup frames (`frame`) and, for the workers, the
        guard page's start (`guard`; None for the main thread, whose stack
        is exec's)."""
        cdef int t
        if not self.is_setup:
            raise KmmStateError("stacks: call setup(machine, process) first")
        return [{"thread": t, "top": self.th[t].stack_top, "frame": self.th[t].frame,
                 "guard": None if t == 0 else
                 self.th[t].stack_top - (GUARD_PAGES + WORKER_STACK_PAGES) * 4096}
                for t in range(self.nthreads)]

    def heap(self):
        """The heap mapping after setup: {'addr', 'npages', 'team'} (team:
        the work share's address, written once per chunk grab)."""
        if not self.is_setup:
            raise KmmStateError("heap: call setup(machine, process) first")
        return {"addr": self.heap_base, "npages": HEAP_PAGES, "team": self.team}

    cdef _init_materials(self):
        mats = material_nuclides(self.size)
        self.max_nucs = max(len(m) for m in mats)
        self.mat_nucs = <int *>calloc(NMATS * self.max_nucs, sizeof(int))
        if self.mat_nucs == NULL:
            raise MemoryError("XSBench: materials")
        cum = 0.0
        for i, nucs in enumerate(mats):
            self.nmat[i] = len(nucs)
            for j, nuc in enumerate(nucs):
                self.mat_nucs[i * self.max_nucs + j] = nuc
            self.first_off[i] = nucs[0] * 4
            self.min_off[i] = min(nucs) * 4
            self.max_off[i] = max(nucs) * 4
            if i > 0:
                cum += MATERIAL_PROBABILITIES[i]
                self.mat_cum[i] = int(round(cum * 65536))

    cdef _init_stages(self):
        cdef int T = self.nthreads, s, t
        for s, (name, reg) in enumerate(INIT_STEPS):
            self.step_region[s] = reg
            self.step_pages[s] = self.region_pages[reg]
            self.step_ns[s] = self.init_ns[name]
        sizes = [self.step_pages[s] for s in range(NSTEPS)]
        self.init_total = sum(sizes)
        self.nstages = 1 if self.init == "serial" else NSTEPS
        self.stage_begin = <long *>calloc(self.nstages * T, sizeof(long))
        self.stage_end = <long *>calloc(self.nstages * T, sizeof(long))
        if self.stage_begin == NULL or self.stage_end == NULL:
            raise MemoryError("XSBench: init stages")
        if self.init == "serial":
            self.stage_begin[0] = 0
            self.stage_end[0] = self.init_total
        else:
            start = 0
            for s in range(NSTEPS):
                for t in range(T):
                    self.stage_begin[s * T + t] = start + sizes[s] * t // T
                    self.stage_end[s * T + t] = start + sizes[s] * (t + 1) // T
                start += sizes[s]
        for t in range(T):
            self.th[t].stage = 0
            self.th[t].init_pos = self.stage_begin[t]
            self.th[t].init_end = self.stage_end[t]
            self._thread_phase[t] = PHASE_INIT
            if self.stage_begin[t] == self.stage_end[t]:
                # nothing to initialise (serial init: threads 1.. do not
                # exist before the parallel region): already at the barrier
                self.th[t].arrived = True
                self.stage_arrivals[0] += 1

    @property
    def init_touches(self):
        """Page touches of the whole init: every step's pages."""
        return self.init_total

    def init_virtual_s(self):
        """The init's own (user) time in virtual seconds: every step's page
        touches at its cost, on one thread (serial) or split evenly."""
        total = sum(self.step_pages[s] * self.step_ns[s] for s in range(NSTEPS)) / 1e9
        return total if self.init == "serial" else total / self.nthreads

    # -- one lookup -------------------------------------------------------------
    cdef inline int _pick_mat(self, unsigned int roll16) noexcept nogil:
        cdef int i
        for i in range(1, NMATS):
            if roll16 < self.mat_cum[i]:
                return i
        return 0

    cdef inline bint _set_add(self, xs_thread *th, unsigned long page) noexcept nogil:
        """Add page to the lookup's distinct-page set; False if present."""
        cdef unsigned int mask = (1 << SET_BITS) - 1
        cdef unsigned int h = <unsigned int>((page * <uint64_t>0x9E3779B97F4A7C15ULL) >> (64 - SET_BITS))
        while th.set_gen[h] == th.gen:
            if th.set_key[h] == page:
                return False
            h = (h + 1) & mask
        th.set_gen[h] = th.gen
        th.set_key[h] = page
        return True

    cdef inline long _index_pages(self, unsigned long row, int mat, unsigned long *out) noexcept nogil:
        """The index-grid row's pages read by material mat, first-touched
        first: the row is N*4 < 4096 bytes, so its entries lie on 1 or 2 pages."""
        cdef unsigned long first = row + self.first_off[mat]
        cdef unsigned long lo = row + self.min_off[mat]
        cdef unsigned long hi = row + self.max_off[mat]
        out[0] = first
        if (lo >> 12) == (hi >> 12):
            return 1
        out[1] = hi if (first >> 12) == (lo >> 12) else lo
        return 2

    cdef long _emit(self, xs_thread *th, long t, int mat, bint su, bint sn,
                    unsigned long *out) noexcept nogil:
        """The distinct pages lookup (t, mat) touches, in first-touch order
        (one address per page); the unionized grid's only if su, the nuclide
        grids' only if sn."""
        cdef unsigned long row = self.ibase + <unsigned long>t * self.n_isotopes * 4
        cdef unsigned long a, g
        cdef long k = 0, lo, hi, mid, low, G = self.n_gridpoints
        cdef int j, nuc
        cdef int *nucs
        if not su and not sn:
            return self._index_pages(row, mat, out)
        th.gen += 1
        if th.gen == 0:                              # wrapped: clear the set
            memset(th.set_gen, 0, (1 << SET_BITS) * sizeof(unsigned int))
            th.gen = 1
        if su:
            # grid_search(N*G, energy, unionized_energy_array)
            lo = 0
            hi = self.n_union - 1
            while hi - lo > 1:
                mid = lo + (hi - lo) // 2
                a = self.ubase + <unsigned long>mid * 8
                if self._set_add(th, a >> 12):
                    out[k] = a
                    k += 1
                if mid > t:
                    hi = mid
                else:
                    lo = mid
            th.ueg_sampled += 1
        if not sn:
            return k + self._index_pages(row, mat, out + k)
        th.nuc_sampled += 1
        low = t // self.n_isotopes
        if low > G - 2:
            low = G - 2
        nucs = self.mat_nucs + mat * self.max_nucs
        for j in range(self.nmat[mat]):
            nuc = nucs[j]
            a = row + <unsigned long>nuc * 4                  # index_grid[t][nuc]
            if self._set_add(th, a >> 12):
                out[k] = a
                k += 1
            g = self.nbase + <unsigned long>(nuc * G + low) * 48   # low and high = low + 1
            if self._set_add(th, g >> 12):
                out[k] = g
                k += 1
            g += 2 * 48 - 8                                   # high's last double
            if self._set_add(th, g >> 12):
                out[k] = g
                k += 1
        return k

    def _expected_pages(self, int samples):
        """Mean distinct pages per lookup in each structure, touching
        everything, over stratified energies and the material mix."""
        cdef xs_thread *th = &self.th[0]
        cdef rng_t r
        cdef unsigned long *out = th.pend
        cdef long i, k, j, t, n1 = self.n_union - 1
        cdef int mat, reg
        cdef double w
        cdef double acc[3]
        acc[0] = acc[1] = acc[2] = 0.0
        rng_seed(&r, 0, 0)
        samples = min(samples, n1)
        for i in range(samples):
            t = ((i * n1) + <long>rng_below(rng_next(&r) >> 32, n1)) // samples
            for mat in range(NMATS):
                w = MATERIAL_PROBABILITIES[mat] / samples
                k = self._emit(th, t, mat, True, True, out)
                for j in range(k):
                    reg = (out[j] >> 40) - 1
                    acc[reg] += w
        th.ueg_sampled = th.nuc_sampled = 0
        return {"nuclide_grid": acc[REG_NUC], "unionized_grid": acc[REG_UEG],
                "index_grid": acc[REG_IDX]}

    def touch_profile(self, long nlookups, seed=12345):
        """Touches per page per lookup, touching everything (no sampling),
        estimated over nlookups random lookups without a machine: a dict of
        float64 arrays, one per structure.  For documentation and checks of
        the sampling rates (docs/workloads.md)."""
        cdef xs_thread *th = &self.th[0]
        cdef rng_t r
        cdef uint64_t x
        cdef long i, k, j, t
        cdef int mat, reg
        cdef unsigned long a
        cdef unsigned long bases[3]
        bases[0] = self.nbase - HDR
        bases[1] = self.ubase - HDR
        bases[2] = self.ibase - HDR
        arrays = [np.zeros(self.region_pages[q], dtype=np.float64) for q in range(3)]
        cdef double[::1] c0 = arrays[0], c1 = arrays[1], c2 = arrays[2]
        saved = (th.ueg_sampled, th.nuc_sampled)
        rng_seed(&r, seed, 0)
        for i in range(nlookups):
            x = rng_next(&r)
            t = <long>rng_below(x >> 32, self.n_union - 1)
            mat = self._pick_mat(<unsigned int>((x >> 16) & 0xFFFF))
            k = self._emit(th, t, mat, True, True, th.pend)
            for j in range(k):
                a = th.pend[j]
                for reg in range(3):
                    if a - bases[reg] < (self.region_pages[reg] << 12):
                        break
                if reg == 0:
                    c0[(a - bases[0]) >> 12] += 1
                elif reg == 1:
                    c1[(a - bases[1]) >> 12] += 1
                else:
                    c2[(a - bases[2]) >> 12] += 1
        th.ueg_sampled, th.nuc_sampled = saved
        return {"nuclide_grid": arrays[0] / nlookups, "unionized_grid": arrays[1] / nlookups,
                "index_grid": arrays[2] / nlookups}

    # -- fill() -----------------------------------------------------------------
    cdef inline int _init_step(self, long g, long *off) noexcept nogil:
        """The init step of touch number g, and g's page within its structure."""
        cdef int s
        for s in range(NSTEPS - 1):
            if g < self.step_pages[s]:
                break
            g -= self.step_pages[s]
        else:
            s = NSTEPS - 1
        off[0] = g
        return s

    cdef long _fill_init(self, int thread, xs_thread *th, unsigned long *addrs,
                         unsigned char *writes, long n) noexcept nogil:
        cdef long k = 0, m, i, off
        cdef int T = self.nthreads, s
        cdef unsigned long base
        cdef double ns = 0
        while True:
            if th.init_pos < th.init_end:
                m = th.init_end - th.init_pos
                if m > n - k:
                    m = n - k
                s = self._init_step(th.init_pos, &off)
                if m > self.step_pages[s] - off:
                    m = self.step_pages[s] - off
                base = self._region_base[self.step_region[s]] + (<unsigned long>off << 12)
                for i in range(m):
                    addrs[k + i] = base + (<unsigned long>i << 12)
                    writes[k + i] = 1
                ns += m * self.step_ns[s]
                th.init_pos += m
                k += m
                self.init_done += m
                th.init_accesses += m
                if k == n:
                    break
                continue
            if not th.arrived:
                th.arrived = True
                self.stage_arrivals[th.stage] += 1
                if th.stage == self.nstages - 1 and self.stage_arrivals[th.stage] == T:
                    # the last arrival opens the final barrier: the run
                    # phase starts for every thread at once
                    for i in range(T):
                        self._thread_phase[i] = PHASE_RUN
            if k > 0:
                break
            if self.stage_arrivals[th.stage] < T:
                return FILL_WAIT
            if self._thread_phase[thread] == PHASE_RUN:
                return self._fill_run(thread, th, addrs, writes, n)
            th.stage += 1
            th.arrived = False
            th.init_pos = self.stage_begin[th.stage * T + thread]
            th.init_end = self.stage_end[th.stage * T + thread]
        self._batch_ns[thread] = ns
        self._batch_phase[thread] = PHASE_INIT
        return k

    cdef long _fill_run(self, int thread, xs_thread *th, unsigned long *addrs,
                        unsigned char *writes, long n) noexcept nogil:
        cdef long k = 0, m, t, c, j
        cdef double ns = 0.0
        cdef uint64_t r
        cdef unsigned long v
        cdef int mat
        cdef bint su, sn
        if not self.parallel_ready:
            return FILL_WAIT           # the region starts when the runner has mapped the stacks
        while k < n:
            if th.pend_pos < th.pend_len:
                m = th.pend_len - th.pend_pos
                if m > n - k:
                    m = n - k
                for j in range(m):
                    v = th.pend[th.pend_pos + j]
                    addrs[k + j] = v & ~STORE
                    writes[k + j] = v >> 63
                th.pend_pos += m
                k += m
                ns += m * th.pend_ns
                continue
            if thread == 0 and not th.created:
                # GOMP_parallel_loop_dynamic: gomp_new_team() writes the
                # team, then pthread_create() writes each worker's
                # struct pthread and TLS at the top of its stack
                th.created = True
                th.pend[0] = self.team | STORE
                for j in range(1, self.nthreads):
                    th.pend[j] = (self.th[j].stack_top - 8) | STORE
                self._pend(th, self.nthreads, 0.0)
                th.other_stores += self.nthreads
                continue
            if th.lookups_left == 0:
                if th.part_next < th.part_end:
                    th.part_next += 1
                    th.lookups_left = self.lookups
                    continue
                # gomp_iter_dynamic_next: fetch-and-add on the work share
                if self.next_chunk >= self.nchunks:
                    if th.ended:
                        break
                    # the grab that finds no work, then the reduction's
                    # atomic add into the main thread's `verification`
                    th.ended = True
                    th.pend[0] = self.team | STORE
                    th.pend[1] = self.result | STORE
                    self._pend(th, 2, 0.0)
                    th.schedule_stores += 1
                    th.other_stores += 1
                    continue
                c = self.next_chunk
                self.next_chunk += 1
                th.grabbed = True
                rng_seed(&th.rng, self._seed, c)
                th.part_next = c * CHUNK_PARTICLES
                th.part_end = th.part_next + CHUNK_PARTICLES
                if th.part_end > self.particles:
                    th.part_end = self.particles
                continue
            # one lookup: t from bits 32..63, the material from 16..31,
            # the sampling decisions from 0..7 (unionized) and 8..15 (nuclide)
            r = rng_next(&th.rng)
            t = <long>rng_below(r >> 32, self.n_union - 1)
            mat = self._pick_mat(<unsigned int>((r >> 16) & 0xFFFF))
            su = (r & self.ueg_mask) == 0
            sn = ((r >> 8) & self.nuc_mask) == 0
            th.lookups_left -= 1
            th.lookups += 1
            th.mat_count[mat] += 1
            self.lookups_done += 1
            th.stack_stores += 1
            th.schedule_stores += th.grabbed
            # its stores first: the chunk grab that handed it out, then the
            # call of calculate_macro_xs (return address, macro_xs_vector)
            if not su and not sn and n - k >= 4:
                if th.grabbed:
                    addrs[k] = self.team
                    writes[k] = 1
                    k += 1
                addrs[k] = th.frame
                writes[k] = 1
                k += 1
                m = self._emit(th, t, mat, False, False, addrs + k)
                memset(writes + k, 0, m)
                k += m
                ns += self.lookup_ns
            else:
                j = 0
                if th.grabbed:
                    th.pend[j] = self.team | STORE
                    j += 1
                th.pend[j] = th.frame | STORE
                j += 1
                m = j + self._emit(th, t, mat, su, sn, th.pend + j)
                self._pend(th, m, self.lookup_ns / m)
            th.grabbed = False
        if k == 0:
            self._thread_phase[thread] = PHASE_DONE
            self._batch_ns[thread] = 0.0
            return 0
        th.run_accesses += k
        self._batch_ns[thread] = ns
        self._batch_phase[thread] = PHASE_RUN
        return k

    cdef inline void _pend(self, xs_thread *th, long m, double ns_each) noexcept nogil:
        th.pend_len = m
        th.pend_pos = 0
        th.pend_ns = ns_each

    cdef long fill(self, int thread, unsigned long *addrs, unsigned char *writes,
                   long n) noexcept nogil:
        cdef xs_thread *th = &self.th[thread]
        cdef int ph = self._thread_phase[thread]
        self._batch_ns[thread] = 0.0
        if n <= 0 or ph == PHASE_DONE:
            return 0
        if ph == PHASE_INIT:
            return self._fill_init(thread, th, addrs, writes, n)
        return self._fill_run(thread, th, addrs, writes, n)

    # -- Python level -------------------------------------------------------------
    def done_fraction(self):
        return <double>self.lookups_done / self.lookups_total

    def init_fraction(self):
        return <double>self.init_done / self.init_total if self.init_total else 1.0

    def stats(self):
        cdef int t
        return {
            "lookups": self.lookups_done,
            "lookups_total": self.lookups_total,
            "ueg_sampled_lookups": sum(self.th[t].ueg_sampled for t in range(self.nthreads)),
            "nuclide_sampled_lookups": sum(self.th[t].nuc_sampled for t in range(self.nthreads)),
            "init_accesses": sum(self.th[t].init_accesses for t in range(self.nthreads)),
            "run_accesses": sum(self.th[t].run_accesses for t in range(self.nthreads)),
            "stack_stores": sum(self.th[t].stack_stores for t in range(self.nthreads)),
            "schedule_stores": sum(self.th[t].schedule_stores for t in range(self.nthreads)),
            "other_stores": sum(self.th[t].other_stores for t in range(self.nthreads)),
            "lookups_per_thread": [self.th[t].lookups for t in range(self.nthreads)],
            "lookups_per_material": [sum(self.th[t].mat_count[i] for t in range(self.nthreads))
                                     for i in range(NMATS)],
        }

    def describe(self):
        nb = self.region_bytes()
        e = self.expected_pages
        return {
            "workload": "xsbench", "size": self.size, "nuclides": self.n_isotopes,
            "gridpoints": self.n_gridpoints, "scale": self.scale,
            "particles": self.particles, "lookups_per_particle": self.lookups,
            "lookups_total": self.lookups_total, "threads": self.nthreads, "seed": self.seed,
            "grid_type": "unionized", "simulation_method": "history",
            "schedule_chunk_particles": CHUNK_PARTICLES, "init": self.init,
            "sample_ueg": self.sample_ueg, "sample_nuclide": self.sample_nuclide,
            "lookup_ns": self.lookup_ns, "init_ns": dict(self.init_ns),
            "init_steps": [name for name, _ in INIT_STEPS], "init_s": self.init_virtual_s(),
            "ns_per_access": self.ns_per_access,
            "regions": {name: {"bytes": nb[name], "pages": p} for name, p in self._layout()},
            "expected_pages_per_lookup": dict(e),
            "expected_accesses_per_lookup": self._accesses_per_lookup(),
            "worker_stack_pages": WORKER_STACK_PAGES, "guard_pages": GUARD_PAGES,
            "heap_pages": HEAP_PAGES,
        }
