"""Truncation: mm/truncate.c truncate_setsize -> truncate_pagecache ->
unmap_mapping_range / truncate_inode_pages_range, filemap_remove_folio."""

import pytest

import kmm
from kmm import KmmConfigError, KmmStateError
from kmm.emu import testing as T

PAGE = 4096


def machine():
    return kmm.Machine(nodes=[{"cpus": 4, "mem": "64M"}], kconfig={"CONFIG_DEBUG_VM": True})


def test_truncate_drops_the_tail_from_the_page_cache_and_every_mapping():
    m = machine()
    f = m.create_file(8)
    p = m.spawn(threads=2)
    q = m.spawn(threads=2, cpus=[2, 3])
    a = p.mmap(8, "r", shared=True, file=f)
    b = q.mmap(8, "rw", shared=False, file=f)
    for i in range(8):
        p.threads[0].load(a + i * PAGE)
        q.threads[0].load(b + i * PAGE)
    q.threads[1].store(b + 6 * PAGE)          # a private COW copy of page 6
    m.file_write(f, 5)                        # page 5 dirty in the page cache
    nr_file = m.vmstat()["nr_file_pages"]
    nr_dirty = m.vmstat()["nr_dirty"]
    assert f.nrpages == 8 and f.size == 8
    m.truncate(f, 4)
    assert f.size == 4 and f.nrpages == 4
    assert [f.cached_pfn(i) is None for i in range(8)] == [False] * 4 + [True] * 4
    assert m.vmstat()["nr_file_pages"] == nr_file - 4
    assert m.vmstat()["nr_dirty"] == nr_dirty - 1
    for i in range(4, 8):
        assert p.pte(a + i * PAGE) is None
        assert q.pte(b + i * PAGE) is None        # even_cows: the COW copy goes too
    for i in range(4):
        assert p.pte(a + i * PAGE) is not None
    with pytest.raises(KmmStateError, match="fault"):
        p.threads[1].load(a + 5 * PAGE)           # past i_size: SIGBUS
    assert m.file_read(f, 5) is None              # read(2) past EOF
    assert m.check_invariants() == []


def test_regrowing_gives_new_data_and_the_oracle_agrees():
    m = machine()
    f = m.create_file(4)
    p = m.spawn(threads=2)
    a = p.mmap(4, "r", shared=True, file=f)
    old = m.file_read(f, 3)
    p.threads[0].load(a + 3 * PAGE)
    p.threads[1].load(a + 3 * PAGE)
    m.truncate(f, 2)
    m.truncate(f, 4)                          # back to 4 pages: zeros past the old cut
    assert m.file_read(f, 3) != old
    m.file_write(f, 2)
    for t in p.threads:
        t.load(a + 2 * PAGE)
        t.load(a + 3 * PAGE)
    assert m.oracle.violations == []
    assert m.check_invariants() == []


def test_truncate_flushes_through_the_zap_and_passes_the_points():
    m = machine()
    f = m.create_file(4)
    p = m.spawn(threads=4)
    a = p.mmap(4, "r", shared=True, file=f)
    for t in p.threads:
        t.load(a + 3 * PAGE)
    seen = []

    def at_truncate(point):
        seen.append(point)
        assert f.cached_pfn(3) is not None           # still in the page cache
        assert p.pte(a + 3 * PAGE) is None           # but mapped nowhere
        assert all(T.tlb_probe(m, c, a + 3 * PAGE) is None for c in range(4))

    v0 = m.vmstat()
    with m.interleave({"truncate_pagecache:unmapped": at_truncate,
                       "unmap_page_range:before_flush": lambda pt: seen.append(pt)}):
        m.truncate(f, 3, cpu=0)
    # the second unmap_mapping_range() zaps again (nothing there now)
    assert seen == ["unmap_page_range:before_flush", "truncate_pagecache:unmapped",
                    "unmap_page_range:before_flush"]
    assert m.vmstat()["nr_tlb_remote_flush"] > v0["nr_tlb_remote_flush"]


def test_truncate_arguments():
    m = machine()
    f = m.create_file(4)
    other = machine().create_file(1)
    with pytest.raises(KmmConfigError):
        m.truncate(f, 5)
    with pytest.raises(KmmConfigError):
        m.truncate(f, -1)
    with pytest.raises(KmmConfigError):
        m.truncate(other, 0)
    m.truncate(f, 0)
    assert f.size == 0 and f.nrpages == 0
    m.file_write(f, 2)                        # write(2) past EOF extends i_size
    assert f.size == 3
