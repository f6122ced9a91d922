"""GUPS-like random access (HPCC RandomAccess's shape): random
read-modify-write of 8-byte words of one table.  Emulator-only.

One anonymous region of table_bytes (a multiple of 8; whole pages mapped).
Init: the table is written once, page by page, split into contiguous
per-thread chunks (table[i] = i in parallel: every thread exists from
the start, parallel_init), then a barrier.  Run: thread i
performs its share of `updates` (split evenly, the first threads taking the
remainder); an update picks a word uniformly at random from the thread's own
xoshiro256** stream (seeded from seed and i) and emits a load then a store
of that word (table[w] ^= r): always on the same page, in the same batch.

Virtual time: update_ns per update (split over its load and store) and
init_ns_per_page per init page.  Both are placeholders (a random DRAM access
and a page's first-touch fault plus 512 stores), not calibrated.
"""

from libc.stdlib cimport calloc, free
from libc.stdint cimport uint64_t

from kmm.workloads.base cimport Workload, FILL_WAIT, PHASE_INIT, PHASE_RUN, PHASE_DONE
from kmm.workloads.rng cimport rng_t, rng_seed, rng_next

from kmm.emu.config import KmmConfigError, parse_size
from kmm.workloads.base import check_int, check_float

DEFAULT_UPDATE_NS = 100.0
DEFAULT_INIT_NS_PER_PAGE = 1000.0


cdef struct gups_thread:
    rng_t rng
    long init_pos
    long init_end
    bint arrived
    long updates_left
    bint pending_store
    unsigned long pending_addr
    long updates_done


cdef class GUPS(Workload):
    """Random read-modify-write of a table (see the module docstring)."""
    cdef readonly unsigned long table_bytes, words, npages
    cdef readonly long updates
    cdef readonly double update_ns, init_ns_per_page
    cdef gups_thread *th
    cdef int arrivals
    cdef long init_done, updates_done

    def __init__(self, table="64M", updates=None, threads=1, seed=0,
                 update_ns=DEFAULT_UPDATE_NS, init_ns_per_page=DEFAULT_INIT_NS_PER_PAGE):
        cdef int t
        if isinstance(table, int) and not isinstance(table, bool):
            nbytes = table
            if nbytes <= 0 or nbytes % 8:
                raise KmmConfigError(f"table: {table!r}; accepted: a positive byte count that is "
                                     f"a multiple of 8, or a size like '64M'")
        else:
            nbytes = parse_size(table, "table")
            if nbytes == 0:
                raise KmmConfigError(f"table: {table!r}; accepted: a positive size like '64M'")
        if nbytes > (1 << 36):
            raise KmmConfigError(f"table: {table!r}; accepted: at most 64 GiB")
        check_int("threads", threads, 1, 64)
        self.table_bytes = nbytes
        self.words = nbytes // 8
        self.npages = (nbytes + 4095) // 4096
        if updates is None:
            updates = 4 * self.words           # HPCC RandomAccess: 4 updates per word
        check_int("updates", updates, 0, 2**62)
        self.updates = updates
        self.update_ns = check_float("update_ns", update_ns)
        self.init_ns_per_page = check_float("init_ns_per_page", init_ns_per_page)
        self._set_seed(seed)
        self._init_threads(threads)
        self.parallel_init = True              # table[i] = i is a parallel loop
        self.ns_per_access = self.update_ns / 2
        self.th = <gups_thread *>calloc(threads, sizeof(gups_thread))
        if self.th == NULL:
            raise MemoryError("GUPS: thread state")
        for t in range(threads):
            rng_seed(&self.th[t].rng, self._seed, t)
            self.th[t].init_pos = self.npages * t // threads
            self.th[t].init_end = self.npages * (t + 1) // threads
            self.th[t].updates_left = updates // threads + (1 if t < updates % threads else 0)
            self._thread_phase[t] = PHASE_INIT
        for t in range(threads):
            if self.th[t].init_pos == self.th[t].init_end:
                self._arrive(&self.th[t])

    def __dealloc__(self):
        free(self.th)

    def _layout(self):
        return [("table", self.npages)]

    cdef void _arrive(self, gups_thread *th) noexcept nogil:
        """th is at the init barrier; the last arrival starts the run phase
        for every thread."""
        cdef int i
        if th.arrived:
            return
        th.arrived = True
        self.arrivals += 1
        if self.arrivals == self.nthreads:
            for i in range(self.nthreads):
                self._thread_phase[i] = PHASE_RUN

    cdef long fill(self, int thread, unsigned long *addrs, unsigned char *writes,
                   long n) noexcept nogil:
        cdef gups_thread *th = &self.th[thread]
        cdef unsigned long base = self._region_base[0], a
        cdef long k = 0, m, i
        cdef double ns = 0.0
        self._batch_ns[thread] = 0.0
        if n <= 0 or self._thread_phase[thread] == PHASE_DONE:
            return 0
        if self._thread_phase[thread] == PHASE_INIT:
            if th.init_pos < th.init_end:
                m = th.init_end - th.init_pos
                if m > n:
                    m = n
                for i in range(m):
                    addrs[i] = base + (<unsigned long>(th.init_pos + i) << 12)
                    writes[i] = 1
                th.init_pos += m
                self.init_done += m
                if th.init_pos == th.init_end:
                    self._arrive(th)
                self._batch_ns[thread] = m * self.init_ns_per_page
                self._batch_phase[thread] = PHASE_INIT
                return m
            self._arrive(th)
            if self._thread_phase[thread] == PHASE_INIT:
                return FILL_WAIT
        if th.pending_store:
            addrs[0] = th.pending_addr
            writes[0] = 1
            th.pending_store = False
            k = 1
            ns = self.update_ns / 2
        while k < n and th.updates_left > 0:
            # table[r % words] ^= r: load, then store, of one word
            a = base + (rng_next(&th.rng) % self.words) * 8
            th.updates_left -= 1
            th.updates_done += 1
            self.updates_done += 1
            addrs[k] = a
            writes[k] = 0
            k += 1
            if k < n:
                addrs[k] = a
                writes[k] = 1
                k += 1
                ns += self.update_ns
            else:
                th.pending_store = True
                th.pending_addr = a
                ns += self.update_ns / 2
        if k == 0:
            self._thread_phase[thread] = PHASE_DONE
            return 0
        self._batch_ns[thread] = ns
        self._batch_phase[thread] = PHASE_RUN
        return k

    def done_fraction(self):
        return <double>self.updates_done / self.updates if self.updates else 1.0

    def init_fraction(self):
        return <double>self.init_done / self.npages

    def stats(self):
        cdef int t
        return {"updates": self.updates_done, "updates_total": self.updates,
                "updates_per_thread": [self.th[t].updates_done for t in range(self.nthreads)]}

    def describe(self):
        return {"workload": "gups", "table_bytes": self.table_bytes, "words": self.words,
                "pages": self.npages, "updates": self.updates, "threads": self.nthreads,
                "seed": self.seed, "update_ns": self.update_ns,
                "init_ns_per_page": self.init_ns_per_page, "ns_per_access": self.ns_per_access}
