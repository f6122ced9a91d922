"""fork(): kernel/fork.c dup_mm/dup_mmap, mm/memory.c copy_page_range,
mm/rmap.c anon_vma_fork, as the v6.6 code paths do them."""

import pytest

import kmm
from kmm import KmmConfigError, KmmStateError
from kmm.emu import testing as T

PAGE = 4096


def machine(**kw):
    kc = {"CONFIG_DEBUG_VM": True}
    kc.update(kw.pop("kconfig", {}))
    return kmm.Machine.preset("seed", kconfig=kc, **kw)


def test_fork_shares_anonymous_pages_read_only_in_both():
    m = machine()
    p = m.spawn(threads=2)
    a = p.mmap(4)
    for i in range(4):
        p.threads[0].store(a + i * PAGE)
    assert p.pte(a)["write"] and p.pte(a)["dirty"]
    pfn = p.pfn(a)
    assert "mappedtodisk" in m.page(pfn)["flags"]     # PG_anon_exclusive aliases PG_mappedtodisk
    c = p.fork()
    # copy_present_pte: COW mapping -> write-protected in parent and child;
    # the child's PTE is old; the parent keeps its dirty bit
    assert not p.pte(a)["write"] and not c.pte(a)["write"]
    assert p.pte(a)["dirty"] and not c.pte(a)["young"]
    assert c.pfn(a) == pfn
    page = m.page(pfn)
    assert page["mapcount"] == 2 and page["refcount"] == 2
    assert "mappedtodisk" not in page["flags"]       # page_try_dup_anon_rmap: possibly shared now
    assert c.rss == p.rss == (4, 0)
    assert [(v["start"], v["end"]) for v in c.vmas()] == [(v["start"], v["end"]) for v in p.vmas()]
    assert m.check_invariants() == []


def test_fork_flushes_the_parent_mm():
    """dup_mmap() ends with flush_tlb_mm(oldmm): one IPI round to the
    parent's other CPUs, whose translations (now write-protected) go."""
    m = machine()
    p = m.spawn(threads=4)
    a = p.mmap(2)
    for t in p.threads:
        t.store(a)
    v0 = m.vmstat()
    p.fork(cpu=0)
    v1 = m.vmstat()
    assert v1["nr_tlb_remote_flush"] - v0["nr_tlb_remote_flush"] == 1
    assert v1["nr_tlb_remote_flush_received"] - v0["nr_tlb_remote_flush_received"] == 3
    for cpu in range(1, 4):
        assert T.tlb_probe(m, cpu, a) is None


def test_copy_on_write_after_fork_keeps_each_side_its_data():
    m = machine()
    p = m.spawn(threads=2)
    a = p.mmap(2)
    p.threads[0].store(a)
    p.threads[1].load(a)
    c = p.fork(threads=2)
    c.threads[1].store(a)                    # do_wp_page -> wp_page_copy in the child
    assert c.pfn(a) != p.pfn(a)
    p.threads[0].store(a)                    # the parent's page is exclusive again -> reuse
    for t in p.threads + c.threads:
        t.load(a)
        t.load(a + PAGE)                     # never touched: zero page / fault
    assert m.oracle.violations == []
    assert p.pte(a)["version"] != c.pte(a)["version"]
    assert m.check_invariants() == []


def test_rmap_finds_the_child_and_migration_moves_both_mappings():
    """anon_vma_fork links the child's VMA under the parent's anon_vma, so
    try_to_migrate unmaps both PTEs and remove_migration_ptes maps both."""
    m = machine()
    p = m.spawn(threads=2)
    a = p.mmap(3)
    for i in range(3):
        p.threads[0].store(a + i * PAGE)
    c = p.fork(threads=2)
    assert m.migrate(p, a, 3, node=1) == 3
    for i in range(3):
        assert p.pfn(a + i * PAGE) == c.pfn(a + i * PAGE)
        assert m.page(p.pfn(a + i * PAGE))["node"] == 1
        assert m.page(p.pfn(a + i * PAGE))["mapcount"] == 2
    for t in p.threads + c.threads:
        t.load(a)
    assert m.oracle.violations == []
    assert m.check_invariants() == []


def test_fork_of_file_and_migration_entries_and_exit():
    m = machine()
    f = m.create_file(4)
    p = m.spawn(threads=2)
    a = p.mmap(2)
    b = p.mmap(4, "rw", shared=True, file=f)
    p.threads[0].store(a)
    p.threads[0].store(b)
    seen = {}

    def fork_mid_migration(point):
        if point == "unmapped":
            seen["child"] = p.fork(cpus=[5])      # copies a writable migration entry
    m.migrate(p, a, 1, node=1, hook=fork_mid_migration)
    c = seen["child"]
    # copy_nonpresent_pte made the writable entry readable in both, so
    # remove_migration_ptes mapped the new page read-only in both
    assert not p.pte(a)["write"] and not c.pte(a)["write"]
    assert p.pfn(a) == c.pfn(a)
    # a shared file VMA has no anon_vma: its PTEs are not copied
    assert c.pte(b) is None
    c.threads[0].store(b)
    assert c.pfn(b) == p.pfn(b)
    c.exit()
    p.threads[1].store(a)
    assert m.oracle.violations == []
    assert m.check_invariants() == []


def test_fork_arguments():
    m = machine()
    p = m.spawn(threads=15)
    with pytest.raises(KmmConfigError):
        p.fork(threads=0)
    with pytest.raises(KmmConfigError):
        p.fork(cpus=[1, 2])
    with pytest.raises(KmmStateError, match="idle"):
        p.fork(threads=2)                    # only CPU 15 is idle
    c = p.fork()
    assert c.threads[0].cpu == 15
