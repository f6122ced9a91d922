"""The TLB-coherence oracle.

Every write makes a new data version (a machine-wide counter).  The page
written carries it (page->kmm_version) and so does the logical page: for
anonymous memory the slot beside its PTE (pte_kmm_ver), for file memory the
file's per-index slot (address_space->kmm_versions).  Copies (migration,
COW) copy the version with the data.

An access that uses a cached TLB translation is checked by kmm/emu/hw/mmu.pyx
against the page tables as they are now; the oracle records a violation
when the access
- reads a page whose version is not the logical page's (an outdated copy),
- writes through a translation to a page the page tables no longer map,
- reaches a page that is free, or that was freed and allocated again since
  the translation was cached (kmm_alloc_gen changed).
"""

from libc.stdlib cimport realloc
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_violation
from kmm.linux.include_.linux.mm_types cimport page, mm_struct, address_space

KIND_NAMES = {ORACLE_STALE_READ: "stale-read", ORACLE_STALE_WRITE: "stale-write",
              ORACLE_FREED_PAGE: "freed-page", ORACLE_REUSED_PAGE: "reused-page"}


cdef unsigned int kmm_new_version() noexcept nogil:
    cdef kmm_machine *m = KMM()
    m.kmm_next_version += 1
    if m.kmm_next_version == 0:          # 0 means "never written"; skip it on wrap
        m.kmm_next_version = 1
    return m.kmm_next_version


cdef void oracle_record(int kind, int cpu, mm_struct *mm, bint write, unsigned long addr,
                        unsigned long pfn, unsigned long cur_pfn, unsigned int seen,
                        unsigned int want) noexcept nogil:
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


cdef unsigned int *file_version_slot(address_space *mapping, unsigned long index) noexcept nogil:
    return &mapping.kmm_versions[index]


def violations():
    """The recorded violations of the current machine, oldest first."""
    cdef kmm_machine *m = KMM()
    cdef unsigned long i
    cdef kmm_violation *v
    out = []
    for i in range(m.nr_violations):
        v = &m.violations[i]
        out.append({
            "kind": KIND_NAMES.get(v.kind, str(v.kind)), "cpu": v.cpu, "mm": v.mm_id,
            "access": "store" if v.write else "load", "addr": v.addr, "pfn": v.pfn,
            "cur_pfn": None if v.cur_pfn == <unsigned long>-1 else v.cur_pfn,
            "seen_version": v.seen_version, "want_version": v.want_version,
            "time_ns": v.time_ns,
        })
    return out
