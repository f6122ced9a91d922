"""Names of the interleaving points (kmm/linux/include_/kmm/interleave.pxd).

A point is named "function:where", after the mirrored kernel function that
reaches it.  Machine.at(name, fn) / Machine.interleave({name: fn}) run fn
there: this module holds the callbacks and runs them from the C side
(kmm_point() calls kmm_machine.interleave_fn); see docs/hazards.md.
"""

from kmm.linux.include_.kmm.interleave cimport (
    KMM_POINT_MIGRATE_UNMAPPED, KMM_POINT_MIGRATE_FLUSHED, KMM_POINT_MIGRC_BEFORE_FLUSH,
    KMM_POINT_CHANGE_PROT_BEFORE_FLUSH, KMM_POINT_ZAP_BEFORE_FLUSH, KMM_POINT_UNMAP_BEFORE_FINISH,
    KMM_POINT_DUP_MMAP_BEFORE_FLUSH, KMM_POINT_TRUNCATE_UNMAPPED, KMM_NR_POINTS)

NR_POINTS = KMM_NR_POINTS

# id -> (name, what holds at that moment)
POINTS = {
    KMM_POINT_MIGRATE_UNMAPPED: (
        "migrate_pages_batch:unmapped",
        "every folio of the batch is a migration entry; try_to_unmap_flush() not yet run, "
        "so other CPUs may still use their cached translations of the old pages"),
    KMM_POINT_MIGRATE_FLUSHED: (
        "migrate_pages_batch:flushed",
        "the batch's flush is done (migrc-deferred entries excepted); nothing copied yet"),
    KMM_POINT_MIGRC_BEFORE_FLUSH: (
        "migrc_flush_free_folios:before_flush",
        "the nodes' migrc requests are taken off their lists (gathered), not yet flushed; "
        "the held source folios are not yet freed"),
    KMM_POINT_CHANGE_PROT_BEFORE_FLUSH: (
        "change_protection_range:before_flush",
        "mprotect()/change_prot_numa() changed this VMA's PTEs; tlb_end_vma() has not "
        "flushed them yet (mmap_lock held for write by mprotect)"),
    KMM_POINT_ZAP_BEFORE_FLUSH: (
        "unmap_page_range:before_flush",
        "munmap()/exit/truncation cleared this VMA's PTEs; tlb_end_vma() has not flushed "
        "them, the pages are not freed"),
    KMM_POINT_UNMAP_BEFORE_FINISH: (
        "unmap_region:before_tlb_finish_mmu",
        "munmap(): every VMA zapped and flushed, page tables unhooked; tlb_finish_mmu() has "
        "not yet flushed the freed tables nor freed the pages and tables"),
    KMM_POINT_DUP_MMAP_BEFORE_FLUSH: (
        "dup_mmap:before_flush",
        "fork(): the child's VMAs and PTEs are copied and the parent's write-protected; "
        "flush_tlb_mm(oldmm) not yet run (both mms' mmap_lock held for write)"),
    KMM_POINT_TRUNCATE_UNMAPPED: (
        "truncate_pagecache:unmapped",
        "truncate: unmap_mapping_range() zapped every mapping of the cut pages; "
        "truncate_inode_pages_range() has not yet removed them from the page cache"),
}

POINT_NAMES = {k: v[0] for k, v in POINTS.items()}
POINT_IDS = {v[0]: k for k, v in POINTS.items()}
assert sorted(POINTS) == list(range(1, KMM_NR_POINTS))


def describe():
    """[(name, description)] in point order."""
    return [POINTS[k] for k in sorted(POINTS)]


# -- the callbacks: registered per machine, run from the C side ------------------

from kmm.emu.current cimport kmm_current, kmm_set_current
from kmm.emu.machine cimport Machine
from kmm.linux.include_.kmm.machine cimport kmm_machine
from kmm.emu.config import KmmConfigError, KmmStateError


def point_ids(points):
    """{point name: callable} -> {point id: callable}, checked."""
    if not isinstance(points, dict) or not points:
        raise KmmConfigError(f"points: {points!r}; expected a dict {{point name: callable}}")
    ids = {}
    for name, fn in points.items():
        if name not in POINT_IDS:
            raise KmmConfigError(f"point: {name!r} is not an interleaving point; accepted: "
                                 + ", ".join(POINT_IDS))
        if not callable(fn):
            raise KmmConfigError(f"point {name!r}: {fn!r} is not callable")
        ids[POINT_IDS[name]] = fn
    return ids


def register(Machine mach, dict ids):
    """Hang callbacks on points of mach; a point holds one callback."""
    for pid in ids:
        if pid in mach._points:
            raise KmmStateError(f"point {POINT_NAMES[pid]!r} already has a callback")
    mach._points.update(ids)
    mach.m.interleave_fn = _interleave_tramp


def unregister(Machine mach, dict ids):
    for pid in ids:
        mach._points.pop(pid, None)
    if not mach._points:
        mach.m.interleave_fn = NULL


cdef class Interleaving:
    """Registers callbacks on interleaving points for a with-block."""
    cdef Machine machine
    cdef dict ids
    cdef bint active

    def __cinit__(self, Machine machine, dict ids):
        self.machine = machine
        self.ids = ids
        self.active = False

    def __enter__(self):
        register(self.machine, self.ids)
        self.active = True
        return self

    def __exit__(self, exc_type, exc, tb):
        cdef Machine mach = self.machine
        if self.active:
            unregister(mach, self.ids)
            self.active = False
        # an exception no API call has re-raised yet surfaces here
        if mach._interleave_exc is not None and not mach._interleave_running:
            pending = mach._interleave_exc
            mach._interleave_exc = None
            if exc_type is None:
                raise pending
        return False


cdef void _interleave_tramp(int point) noexcept nogil:
    with gil:
        _interleave_call(point)


cdef void _interleave_call(int point) noexcept:
    """Run the callback registered at `point` on the current machine; keep
    its exception for the API call to re-raise; give the interrupted kernel
    function its machine and CPU back."""
    cdef kmm_machine *m = <kmm_machine *>kmm_current()
    cdef int cpu = m.cpu
    cdef Machine mach
    if m.interleave_owner == NULL:
        return
    mach = <Machine>m.interleave_owner
    fn = mach._points.get(point)
    if fn is None or mach._interleave_running or mach._interleave_exc is not None:
        return
    mach._interleave_running = True
    try:
        fn(POINT_NAMES[point])
    except BaseException as e:
        mach._interleave_exc = e
    mach._interleave_running = False
    kmm_set_current(m)
    m.cpu = cpu
