"""Seed patch, mm/internal.h: migrc_init_page, migrc_unpend_if_pending,
can_migrc_init/fail/test, migrc_pending_nr_in_zone and the declaration of
migrc_flush_free_folios.  (migrc_init_page is exercised with post_alloc_hook
in test_mm_page_alloc_c.py, migrc_unpend_if_pending with do_wp_page in
test_mm_memory_c.py, migrc_pending_nr_in_zone with the watermark checks.)

can_migrc_test() is `current->can_migrc && current->tlb_ubc_ro.flush_required`:
no writable or dirty mapping AND at least one read-only one whose flush was
deferred.  These tests show the second half."""

import pytest

from kmm.emu import testing as T
from migrc_scenario import (NONE_PENDING, PAGE, addrs, delta, machine, pending, pfns,
                            read_all, read_only)


@pytest.mark.hunk("mm/internal.h#1")
def test_no_accessible_mapping_means_nothing_to_defer():
    """A page whose only PTE is PROT_NONE (the NUMA scan's): no TLB can cache
    it, set_tlb_ubc_flush_pending() returns at !pte_accessible(), so
    can_migrc stays true (can_migrc_init) but tlb_ubc_ro is empty:
    can_migrc_test() is false, the folio is migrated and freed at once,
    with no flush at all."""
    m = machine()
    p = m.spawn(threads=16)
    a = p.mmap(4)
    for x in addrs(a, 4):
        p.threads[0].store(x)
    read_all(p, a, 4)
    assert m.migrate(p, a, 4, node=1) == 4
    assert p._change_prot_numa(a, 4) == 4
    srcs = [p.pte(x)["pfn"] for x in addrs(a, 4)]
    assert all(p.pte(x)["protnone"] for x in addrs(a, 4))
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=0, reason="numa_misplaced", cpu=2) == 4
    d = delta(before, m.vmstat())
    assert T.task_can_migrc(m, 2) is True
    assert d["nr_tlb_remote_flush"] == 0 and d["nr_tlb_local_flush_all"] == 0
    assert pending(m) == NONE_PENDING
    assert all(m.page(s)["refcount"] == 0 for s in srcs)


@pytest.mark.hunk("mm/internal.h#1")
def test_single_cpu_mm_is_flushed_at_once_not_deferred():
    """should_defer_flush() batches only when another CPU may cache the mm
    (arch_tlbbatch_should_defer).  A one-thread process migrated on its own
    CPU: try_to_migrate_one() uses ptep_clear_flush(), a local INVLPG per
    page (NR_TLB_LOCAL_FLUSH_ONE), never set_tlb_ubc_flush_pending(), so
    tlb_ubc_ro is empty and nothing is deferred: migrc saves only IPIs."""
    m = machine()
    p, a = read_only(m, 4, threads=1)
    srcs = pfns(p, a, 4)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1, cpu=0) == 4
    d = delta(before, m.vmstat())
    assert d["nr_tlb_local_flush_one"] == 4 and d["nr_tlb_remote_flush"] == 0
    assert T.task_can_migrc(m, 0) is True
    assert pending(m) == NONE_PENDING
    assert all(m.page(s)["refcount"] == 0 for s in srcs)


@pytest.mark.hunk("mm/internal.h#1", "include/linux/sched.h#1")
def test_can_migrc_init_resets_per_folio():
    """can_migrc_init() before each folio's unmap: in a batch of a writable
    folio followed by a read-only one, current->can_migrc ends true (the
    read-only folio is deferred) although the first folio failed it; a
    later migration of a writable folio leaves it false."""
    m = machine()
    p, a = read_only(m, 1)
    w = p.mmap(2)
    assert w == a - 2 * PAGE
    for t in p.threads:
        t.store(w)
        t.store(w + PAGE)
    assert m.migrate(p, w + PAGE, 2, node=1, cpu=4) == 2   # writable, then read-only
    assert T.task_can_migrc(m, 4) is True
    assert pending(m) == {0: (1, True), 1: (0, False)}
    assert m.migrate(p, w, 1, node=1, cpu=4) == 1
    assert T.task_can_migrc(m, 4) is False
    assert pending(m) == {0: (1, True), 1: (0, False)}
