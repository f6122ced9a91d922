"""Page faults, page tables and munmap (mm/memory.c, mm/mmap.c), checked
against what the kernel's code paths do, step by step."""

import pytest

import kmm
from kmm.emu import testing as T

PAGE = 4096


def machine(**kw):
    args = dict(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "64M"}],
                kconfig={"CONFIG_DEBUG_VM": True})
    args.update(kw)
    return kmm.Machine(**args)


def vm(m):
    return m.vmstat()


def test_anon_write_fault_maps_a_new_exclusive_page():
    m = machine()
    p = m.spawn()
    addr = p.mmap(4, "rw")
    before = vm(m)
    p.threads[0].store(addr)
    after = vm(m)
    pte = p.pte(addr)
    # do_anonymous_page: mk_pte(vm_page_prot = PAGE_COPY, which has _PAGE_ACCESSED)
    # + pte_mkwrite(pte_mkdirty()); the store then finds it in the walk.
    assert pte["present"] and pte["write"] and pte["dirty"] and pte["young"] and pte["user"]
    page = m.page(pte["pfn"])
    assert page["node"] == 0                       # MPOL_LOCAL: the faulting CPU's node
    assert page["mapcount"] == 1 and page["refcount"] == 1
    # PG_anon_exclusive is PG_mappedtodisk's bit; PG_swapbacked; on the LRU
    assert {"mappedtodisk", "swapbacked", "lru"} <= set(page["flags"])
    assert after["pgfault"] - before["pgfault"] == 1
    assert after["nr_anon_pages"] - before["nr_anon_pages"] == 1
    assert after["nr_inactive_anon"] - before["nr_inactive_anon"] == 1   # no MGLRU: inactive
    assert p.rss == (1, 0)
    # one data page and, for a first mapping, one table page per level
    # (PUD, PMD, PTE tables under the PGD allocated at spawn); NR_PAGETABLE
    # counts the two with a constructor (v6.6 pagetable_pmd/pte_ctor), not the PUD
    assert after["nr_page_table_pages"] - before["nr_page_table_pages"] == 2


def test_anon_read_fault_maps_the_zero_page_then_cow_on_write():
    m = machine()
    p = m.spawn()
    addr = p.mmap(1, "rw")
    p.threads[0].load(addr)
    pte = p.pte(addr)
    assert pte["present"] and pte["special"] and not pte["write"]
    assert p.rss == (0, 0)
    before = vm(m)
    p.threads[0].store(addr)
    after = vm(m)
    pte2 = p.pte(addr)
    assert pte2["present"] and pte2["write"] and pte2["dirty"] and not pte2["special"]
    assert pte2["pfn"] != pte["pfn"]
    assert p.rss == (1, 0)
    # wp_page_copy: ptep_clear_flush() of the cached zero-page translation;
    # the mm is loaded on this CPU only, so one local single-page flush
    assert after["nr_tlb_local_flush_one"] - before["nr_tlb_local_flush_one"] == 1
    assert after["nr_tlb_remote_flush"] == before["nr_tlb_remote_flush"]
    assert after["pgfault"] - before["pgfault"] == 1
    assert m.oracle.violations == []


def test_write_to_read_only_mapping_and_outside_any_vma_segfault():
    m = machine()
    p = m.spawn()
    addr = p.mmap(1, "r")
    p.threads[0].load(addr)
    with pytest.raises(kmm.KmmStateError, match="segmentation fault"):
        p.threads[0].store(addr)
    with pytest.raises(kmm.KmmStateError, match="segmentation fault"):
        p.threads[0].load(addr + 16 * PAGE)


def test_private_file_mapping_read_then_cow():
    m = machine()
    f = m.create_file(8)
    p = m.spawn()
    addr = p.mmap(8, "rw", file=f)
    before = vm(m)
    p.threads[0].load(addr + 2 * PAGE)
    after = vm(m)
    pte = p.pte(addr + 2 * PAGE)
    assert pte["present"] and not pte["write"]         # PAGE_COPY: read-only
    page = m.page(pte["pfn"])
    assert page["refcount"] == 2                       # page cache + the mapping
    assert page["mapcount"] == 1
    assert after["nr_file_pages"] - before["nr_file_pages"] == 1
    assert after["nr_mapped"] - before["nr_mapped"] == 1
    assert p.rss == (0, 1)
    assert f.cached_pfn(2) == pte["pfn"]
    # write: do_wp_page on a non-anon page copies it (wp_page_copy)
    p.threads[0].store(addr + 2 * PAGE)
    pte2 = p.pte(addr + 2 * PAGE)
    assert pte2["write"] and pte2["pfn"] != pte["pfn"]
    assert p.rss == (1, 0)
    old = m.page(pte["pfn"])
    assert old["refcount"] == 1 and old["mapcount"] == 0   # only the page cache holds it
    assert "mappedtodisk" in m.page(pte2["pfn"])["flags"]   # the copy is AnonExclusive
    assert m.oracle.violations == []


def test_shared_file_mapping_write_notify():
    m = machine()
    f = m.create_file(4)
    p = m.spawn()
    addr = p.mmap(4, "rw", shared=True, file=f)
    # first touch is a read: write-notify keeps the PTE read-only
    p.threads[0].load(addr)
    assert not p.pte(addr)["write"]
    before = vm(m)
    p.threads[0].store(addr)
    after = vm(m)
    pte = p.pte(addr)
    assert pte["write"] and pte["dirty"]
    assert pte["pfn"] == f.cached_pfn(0)               # no copy for a shared mapping
    assert after["pgreuse"] - before["pgreuse"] == 1   # wp_page_shared -> wp_page_reuse
    assert after["nr_dirty"] - before["nr_dirty"] == 1
    assert "dirty" in m.page(pte["pfn"])["flags"]
    # a first-touch write goes through do_shared_fault: writable at once
    p.threads[0].store(addr + PAGE)
    assert p.pte(addr + PAGE)["write"]
    # write(2) and read(2) see what the mapping wrote
    v = m.file_read(f, 0)
    m.file_write(f, 0)
    assert m.file_read(f, 0) != v
    p.threads[0].load(addr)                            # same page: coherent
    assert m.oracle.violations == []


def test_munmap_frees_pages_and_tables_after_the_flushes():
    m = machine()
    p = m.spawn()
    free0 = m.vmstat()["nr_free_pages"]
    addr = p.mmap(10, "rw")
    for i in range(10):
        p.threads[0].store(addr + i * PAGE)
    before = vm(m)
    p.munmap(addr, 10)
    after = vm(m)
    assert p.rss == (0, 0)
    assert p.pte(addr) is None
    # The only VMA is gone (no prev, no next: floor 0, no ceiling), so
    # free_pgtables() frees the PTE, PMD and PUD tables of its span too,
    # after the final flush: 10 data pages + 3 table pages come back and
    # only the PGD (the mm's own) remains.
    assert after["nr_free_pages"] - before["nr_free_pages"] == 13
    assert after["nr_page_table_pages"] - before["nr_page_table_pages"] == -2   # PMD, PTE
    assert m.vmstat()["nr_free_pages"] == free0
    # single-CPU mm: tlb_end_vma flushes the 10-page range locally, page by
    # page; tlb_finish_mmu then flushes for the freed tables, over a range
    # from the PUD table's 512G-aligned address up to the PTE table's (more
    # than 33 strides), so that one is a full flush.
    assert after["nr_tlb_local_flush_one"] - before["nr_tlb_local_flush_one"] == 10
    assert after["nr_tlb_local_flush_all"] - before["nr_tlb_local_flush_all"] == 1
    assert after["nr_tlb_remote_flush"] == before["nr_tlb_remote_flush"]


def test_munmap_of_34_pages_flushes_the_whole_mm():
    m = machine()
    p = m.spawn()
    addr = p.mmap(34, "rw")
    for i in range(34):
        p.threads[0].store(addr + i * PAGE)
    before = vm(m)
    p.munmap(addr, 34)
    after = vm(m)
    # more than tlb_single_page_flush_ceiling (33) pages: a full flush at
    # tlb_end_vma, and a second one for the freed tables (as above)
    assert after["nr_tlb_local_flush_all"] - before["nr_tlb_local_flush_all"] == 2
    assert after["nr_tlb_local_flush_one"] == before["nr_tlb_local_flush_one"]


def test_munmap_middle_splits_the_vma():
    m = machine()
    p = m.spawn()
    addr = p.mmap(8, "rw")
    for i in range(8):
        p.threads[0].store(addr + i * PAGE)
    p.munmap(addr + 2 * PAGE, 3)
    spans = [(v["start"], v["end"]) for v in p.vmas()]
    assert spans == [(addr, addr + 2 * PAGE), (addr + 5 * PAGE, addr + 8 * PAGE)]
    assert p.rss == (5, 0)
    p.threads[0].load(addr + PAGE)
    p.threads[0].load(addr + 6 * PAGE)
    with pytest.raises(kmm.KmmStateError):
        p.threads[0].load(addr + 3 * PAGE)


def test_adjacent_anonymous_mmaps_merge():
    m = machine()
    p = m.spawn()
    a = p.mmap(4, "rw")
    b = p.mmap(4, "rw")
    assert b + 4 * PAGE == a                           # top-down placement
    assert [(v["start"], v["end"]) for v in p.vmas()] == [(b, a + 4 * PAGE)]
    c = p.mmap(4, "r")                                 # different flags: no merge
    assert len(p.vmas()) == 2 and c + 4 * PAGE == b


def test_exit_returns_every_page():
    m = machine()
    free0 = m.vmstat()["nr_free_pages"]
    p = m.spawn(threads=2)
    addr = p.mmap(16, "rw")
    for i in range(16):
        p.threads[i % 2].store(addr + i * PAGE)
    p.exit()
    assert m.vmstat()["nr_free_pages"] == free0
    assert m.check_invariants() == []
    with pytest.raises(kmm.KmmStateError):
        p.threads[0].load(addr)


def test_oracle_flags_a_hand_made_stale_translation():
    m = machine(kconfig={})
    p = m.spawn(threads=2)
    addr = p.mmap(1, "rw")
    t0, t1 = p.threads
    t0.store(addr)
    t0.load(addr)                       # CPU 0 caches the translation
    T.debug_move_page_noflush(p, addr)    # PTE changed, flush skipped on purpose
    t1.store(addr)                      # CPU 1 walks: writes the new page
    assert m.oracle.violations == []
    t0.load(addr)                       # CPU 0 still uses the old page
    v = m.oracle.violations
    assert len(v) == 1 and v[0]["kind"] == "stale-read" and v[0]["cpu"] == 0
    assert v[0]["pfn"] != v[0]["cur_pfn"] and v[0]["cur_pfn"] == p.pfn(addr)
    t0.store(addr)                      # and a store through it is lost
    assert m.oracle.violations[-1]["kind"] == "stale-write"


def test_oracle_flags_use_of_a_freed_page():
    m = machine(kconfig={})
    p = m.spawn()
    addr = p.mmap(1, "rw")
    p.threads[0].store(addr)
    T.debug_move_page_noflush(p, addr, free_old=True)
    p.threads[0].load(addr)
    assert [v["kind"] for v in m.oracle.violations] == ["freed-page"]
    m.alloc_pages()                     # the old page is reallocated...
    p.threads[0].load(addr)
    assert m.oracle.violations[-1]["kind"] == "reused-page"
