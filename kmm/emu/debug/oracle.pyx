"""The TLB-coherence oracle: recording, state, and its Python view.

Every write makes a new data version (a machine-wide counter).  The page
written carries it and so does the logical page: for anonymous memory the
slot beside its PTE, for file memory the file's per-index slot.  Copies
(migration, COW, fork) carry the version with the data.  mm code reports
what happens to data through the hooks in kmm/emu/debug/oracle.pxd, which
alone touch that storage.

An access that uses a cached TLB translation is checked (oracle.pxd
oracle_check_access, called by kmm/emu/hw/mmu.pyx) against the page tables
as they are now; the oracle records a violation when the access
- reads a page whose version is not the logical page's (an outdated copy),
- writes through a translation to a page the page tables no longer map,
- reaches a page that is free, or that was freed and allocated again since
  the translation was cached.
See docs/oracle.md.
"""

from libc.stdlib cimport realloc
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_violation
from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.emu.config import KmmStateError

KIND_NAMES = {ORACLE_STALE_READ: "stale-read", ORACLE_STALE_WRITE: "stale-write",
              ORACLE_FREED_PAGE: "freed-page", ORACLE_REUSED_PAGE: "reused-page"}


cdef void oracle_record(int kind, int cpu, mm_struct *mm, bint write, unsigned long addr,
                        unsigned long pfn, unsigned long cur_pfn, unsigned int seen,
                        unsigned int want) noexcept nogil:
    """Append one violation to the current machine's record."""
    cdef kmm_machine *m = KMM()
    cdef kmm_violation *grown
    cdef kmm_violation *v
    cdef unsigned long cap
    if m.nr_violations == m.violations_cap:
        cap = m.violations_cap * 2 + 64
        grown = <kmm_violation *>realloc(m.violations, cap * sizeof(kmm_violation))
        if grown == NULL:             # out of host memory: drop the record
            return
        m.violations = grown
        m.violations_cap = cap
    v = &m.violations[m.nr_violations]
    m.nr_violations += 1
    v.kind = kind
    v.cpu = cpu
    v.mm_id = mm.kmm_id if mm != NULL else -1
    v.write = write
    v.addr = addr
    v.pfn = pfn
    v.cur_pfn = cur_pfn
    v.seen_version = seen
    v.want_version = want
    v.time_ns = m.clock_ns


cdef Oracle oracle_view(object machine, kmm_machine *m):
    """The view Machine.oracle: machine owns m and outlives no view of it."""
    cdef Oracle o = Oracle.__new__(Oracle)
    o.m = m
    o.machine = machine
    return o


cdef class Oracle:
    """The TLB-coherence oracle's view of one machine (Machine.oracle)."""

    cdef kmm_machine *_m(self) except NULL:
        if self.m == NULL:
            raise KmmStateError("this Oracle is not attached to a machine: "
                                "use Machine.oracle (kmm.Machine(...).oracle)")
        return self.m

    @property
    def enabled(self):
        return bool(self._m().oracle_enabled)

    @enabled.setter
    def enabled(self, value):
        self._m().oracle_enabled = bool(value)

    @property
    def violations(self):
        """Every stale or dangling translation used so far (dicts), oldest first."""
        cdef kmm_machine *m = self._m()
        cdef unsigned long i
        cdef kmm_violation *v
        out = []
        for i in range(m.nr_violations):
            v = &m.violations[i]
            out.append({
                "kind": KIND_NAMES.get(v.kind, str(v.kind)), "cpu": v.cpu, "mm": v.mm_id,
                "access": "store" if v.write else "load", "addr": v.addr, "pfn": v.pfn,
                "cur_pfn": None if v.cur_pfn == <unsigned long>ORACLE_NO_PFN else v.cur_pfn,
                "seen_version": v.seen_version, "want_version": v.want_version,
                "time_ns": v.time_ns,
            })
        return out

    @property
    def checks(self):
        """Accesses through cached translations checked so far."""
        return self._m().nr_oracle_checks

    def clear(self):
        """Forget the violations recorded so far."""
        self._m().nr_violations = 0
