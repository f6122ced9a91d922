"""mm/rmap.c, the unmap side: try_to_migrate's PTE handling, the batched
TLB flushes of cleared PTEs (tlb_ubc, patch 1/3's tlb_ubc_ro), the rmap
walks, folio_referenced.  Each expected number is derived from the v6.6-rc5
code paths; the derivation is in the test's docstring."""

import pytest

import kmm
from kmm.emu import testing as T

PAGE = 4096
TLB_EVENTS = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
              "nr_tlb_local_flush_all", "nr_tlb_local_flush_one")


def seed_like(**kw):
    """The seed's layout at a small size: 16 CPUs on node 0, a CPU-less
    slower node 1, tiering NUMA balancing, demotion on, an L1TF-affected CPU
    with 40 physical address bits (no A/D bits in migration entries)."""
    args = dict(nodes=[{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "128M"}],
                sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
                cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40})
    args.update(kw)
    return kmm.Machine(**args)


def delta(before, after):
    return {k: after[k] - before[k] for k in before if isinstance(after[k], int)}


def tlb(d):
    return {k: d[k] for k in TLB_EVENTS}


def written(m, threads=16, npages=32, **spawn):
    """A process with `threads` threads (thread i on CPU i) whose thread 0
    wrote npages pages."""
    p = m.spawn(threads=threads, **spawn)
    a = p.mmap(npages)
    for i in range(npages):
        p.threads[0].store(a + i * PAGE)
    return p, a


def touch_all(p, a, npages):
    for t in p.threads:
        for i in range(npages):
            t.load(a + i * PAGE)
        t.store(a + (t.index % npages) * PAGE)


# -- batched flushes ------------------------------------------------------------

def test_batched_demotion_of_32_pages_is_one_shootdown():
    """MIGRATE_ASYNC unmaps with TTU_BATCH_FLUSH; the mm is in all 16 CPUs'
    mm_cpumask, so should_defer_flush() is true for every PTE: each cleared
    PTE only joins current->tlb_ubc (one tlb_gen bump each).  The batch's one
    try_to_unmap_flush() -> arch_tlbbatch_flush -> one flush_tlb_multi:
    nr_tlb_remote_flush 1, received on the 15 other CPUs (counted per target
    before any early return), and the initiator's full local flush (its mm
    generation moved): nr_tlb_local_flush_all 1.  Threads 1..15 never touched
    the pages: what counts is mm_cpumask, not TLB contents."""
    m = seed_like()
    p, a = written(m)
    before = m.vmstat()
    recv0 = m.vm_events_per_cpu("nr_tlb_remote_flush_received")
    assert m.migrate(p, a, 32, node=1, reason="demotion", cpu=0) == 32
    d = delta(before, m.vmstat())
    assert tlb(d) == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 15,
                      "nr_tlb_local_flush_all": 1, "nr_tlb_local_flush_one": 0}
    recv = [x - y for x, y in zip(m.vm_events_per_cpu("nr_tlb_remote_flush_received"), recv0)]
    assert recv == [0] + [1] * 15
    assert d["pgmigrate_success"] == 32 and d["pgmigrate_fail"] == 0
    assert all(m.page(p.pfn(a + i * PAGE))["node"] == 1 for i in range(32))
    touch_all(p, a, 32)
    assert m.oracle.violations == []


def test_prot_none_ptes_need_no_flush_at_all():
    """NUMA-hint PTEs are PROT_NONE without _PAGE_PRESENT: pte_accessible()
    is false (no mmu_gather in flight), so set_tlb_ubc_flush_pending() returns
    at once -- no batch entry, no flush_required -- and try_to_unmap_flush()
    has nothing to do (kernel-semantics, point 3)."""
    m = seed_like()
    p, a = written(m)
    touch_all(p, a, 32)
    assert m._prot_numa(p, a, 32, filters=False) == 32
    before = m.vmstat()
    assert m.migrate(p, a, 32, node=1) == 32
    d = delta(before, m.vmstat())
    assert all(v == 0 for v in tlb(d).values())
    assert d["pgmigrate_success"] == 32
    touch_all(p, a, 32)
    assert m.oracle.violations == []


def test_lazy_cpu_gets_no_ipi():
    """A CPU that went idle keeps the mm loaded lazily and stays in
    mm_cpumask, so it is in the batch, but arch_tlbbatch_flush's
    flush_tlb_multi (freed_tables=0) skips lazy CPUs (tlb_is_not_lazy): 14
    receipts, none on the idle CPU."""
    m = seed_like()
    p, a = written(m)
    m.idle(5)
    assert 5 in p.mm_cpumask
    recv0 = m.vm_events_per_cpu("nr_tlb_remote_flush_received")
    before = m.vmstat()
    m.migrate(p, a, 32, node=1)
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 1 and d["nr_tlb_remote_flush_received"] == 14
    recv = [x - y for x, y in zip(m.vm_events_per_cpu("nr_tlb_remote_flush_received"), recv0)]
    assert recv[5] == 0 and recv[0] == 0 and sum(recv) == 14


def test_single_cpu_mm_flushes_each_page_locally():
    """Only CPU 0 has the mm: arch_tlbbatch_should_defer() is false, so each
    PTE goes through ptep_clear_flush -> flush_tlb_page: a ranged local flush
    of one page each (the generation is exactly one ahead), no IPI."""
    m = seed_like()
    p, a = written(m, threads=1)
    before = m.vmstat()
    m.migrate(p, a, 32, node=1, cpu=0)
    d = tlb(delta(before, m.vmstat()))
    assert d == {"nr_tlb_remote_flush": 0, "nr_tlb_remote_flush_received": 0,
                 "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 32}


def test_migration_from_another_cpu_defers_and_sends_one_ipi():
    """Migrating from CPU 3 (running its idle task, like kswapd would): the
    mm is on CPU 0 only, which is "another CPU", so flushes are deferred and
    the batch ends in one IPI to CPU 0."""
    m = seed_like()
    p, a = written(m, threads=1)
    before = m.vmstat()
    m.migrate(p, a, 32, node=1, cpu=3)
    d = tlb(delta(before, m.vmstat()))
    assert d == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 1,
                 "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 0}
    p.threads[0].load(a)
    assert m.oracle.violations == []


def test_no_batch_knob_flushes_every_pte():
    """CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH: migrate_folio_unmap passes no
    TTU_BATCH_FLUSH, as before commit 7e12beb8: every PTE is flushed by
    ptep_clear_flush -> flush_tlb_mm_range -> flush_tlb_multi: 32 remote
    flushes, 15 receipts each, and 32 one-page local flushes."""
    m = seed_like(kconfig={"CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH": True})
    p, a = written(m)
    before = m.vmstat()
    assert m.migrate(p, a, 32, node=1) == 32
    d = tlb(delta(before, m.vmstat()))
    assert d == {"nr_tlb_remote_flush": 32, "nr_tlb_remote_flush_received": 32 * 15,
                 "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 32}
    touch_all(p, a, 32)
    assert m.oracle.violations == []


# -- which batch a cleared PTE joins (patch 1/3) -----------------------------------

def _batches_at_unmap(m, p, a, npages):
    seen = {}

    def hook(point):
        if point == "unmapped":
            seen["ubc"] = T.tlb_batch_cpus(m, 0)
            seen["ubc_ro"] = T.tlb_batch_cpus(m, 0, ro=True)
            seen["entry"] = p.pte(a)
    m.migrate(p, a, npages, node=1 if m.page(p.pfn(a))["node"] == 0 else 0, hook=hook)
    return seen


@pytest.mark.parametrize("ad", [False, True], ids=["l1tf-40bit", "ad-supported"])
def test_clean_read_only_ptes_go_to_tlb_ubc_ro_only_without_ad_bits(ad):
    """set_tlb_ubc_flush_pending: pte_write || pte_dirty -> tlb_ubc, else
    tlb_ubc_ro.  A written page's PTE is dirty and writable: tlb_ubc.  After a
    NUMA-hint (PROT_NONE) migration the PTE is rebuilt read-only; without
    A/D bits in migration entries it is also clean, so the next migration
    puts it in tlb_ubc_ro.  With A/D support the entry kept the dirty bit
    and the folio is dirty: the rebuilt PTE is dirty, tlb_ubc again.  Either
    way try_to_unmap_flush folds tlb_ubc_ro first: one shootdown."""
    cpu = None if ad else {"x86_bug_l1tf": True, "x86_phys_bits": 40}
    m = seed_like(cpu=cpu)
    assert m.swap_migration_ad_supported == ad
    p, a = written(m, npages=4)
    s = _batches_at_unmap(m, p, a, 4)
    assert s["ubc"] == list(range(16)) and s["ubc_ro"] == []
    m._prot_numa(p, a, 4, filters=False)
    m.migrate(p, a, 4, node=0)                      # back to node 0, entries readable-exclusive
    pte = p.pte(a)
    assert pte["present"] and not pte["write"] and pte["dirty"] == ad
    touch = p.threads[1]
    for i in range(4):
        touch.load(a + i * PAGE)                    # young, still clean
    before = m.vmstat()
    s = _batches_at_unmap(m, p, a, 4)
    if ad:
        assert s["ubc"] == list(range(16)) and s["ubc_ro"] == []
    else:
        assert s["ubc"] == [] and s["ubc_ro"] == list(range(16))
    assert s["entry"]["migration"] == "readable-exclusive"
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 1 and d["nr_tlb_remote_flush_received"] == 15
    assert T.tlb_batch_cpus(m, 0) == [] and T.tlb_batch_cpus(m, 0, ro=True) == []
    touch_all(p, a, 4)
    assert m.oracle.violations == []


# -- migration entries ----------------------------------------------------------------

def test_migration_entry_kinds_mid_migration():
    """try_to_migrate_one: writable entry for a writable PTE; readable-exclusive
    for an exclusive anonymous page mapped read-only (a PROT_NONE PTE has no
    write bit); readable for a page-cache page mapped read-only.  young and
    dirty travel in the entry only with A/D support (default CPU here)."""
    m = seed_like(cpu=None)
    f = m.create_file(2)
    p = m.spawn(threads=2)
    a = p.mmap(2)
    b = p.mmap(1, "r", file=f)
    p.threads[0].store(a)
    p.threads[0].store(a + PAGE)
    p.threads[1].load(b)
    m._prot_numa(p, a + PAGE, 1, filters=False)
    seen = {}

    def hook(point):
        if point == "unmapped":
            for name, addr in (("w", a), ("protnone", a + PAGE), ("file", b)):
                seen[name] = p.pte(addr)
    pfns = {addr: p.pte(addr)["pfn"] for addr in (a, a + PAGE, b)}
    assert m.migrate(p, a, 2, node=1, hook=hook) == 2
    seen_a = dict(seen)
    assert m.migrate(p, b, 1, node=1, hook=hook) == 1
    assert seen_a["w"]["migration"] == "writable" and seen_a["w"]["young"] and seen_a["w"]["dirty"]
    assert seen_a["w"]["pfn"] == pfns[a]
    assert seen_a["protnone"]["migration"] == "readable-exclusive"
    assert seen["file"]["migration"] == "readable" and not seen["file"]["dirty"]
    assert seen["file"]["pfn"] == pfns[b]
    # rebuilt: writable only from the writable entry
    assert p.pte(a)["write"] and not p.pte(a + PAGE)["write"] and not p.pte(b)["write"]
    assert f.cached_pfn(0) == p.pfn(b)


def test_pinned_page_cannot_be_shared_and_stays_mapped():
    """page_try_share_anon_rmap fails for a page that may be DMA-pinned
    (refcount >= GUP_PIN_COUNTING_BIAS): try_to_migrate_one puts the PTE
    back and stops; the folio stays mapped, migrate_folio_unmap says -EAGAIN
    on each of the 10 passes, then it counts as one failed page."""
    m = seed_like()
    p, a = written(m, npages=1)
    pfn = p.pfn(a)
    for _ in range(1024):
        m.folio_get(pfn)
    before = m.vmstat()
    assert m.migrate(p, a, 1, node=1) == 0
    d = delta(before, m.vmstat())
    assert d["pgmigrate_fail"] == 1 and d["pgmigrate_success"] == 0
    pte = p.pte(a)
    assert pte["present"] and pte["write"] and pte["pfn"] == pfn
    assert "mappedtodisk" in m.page(pfn)["flags"]          # still AnonExclusive
    for _ in range(1024):
        m.folio_put(pfn)
    assert m.page(pfn)["refcount"] == 1
    assert m.node_vmstat(0)["nr_isolated_anon"] == 0
    p.threads[3].store(a)
    assert m.oracle.violations == []


# -- rmap walks ----------------------------------------------------------------------

def test_file_page_mapped_by_two_processes_is_remapped_in_both():
    """rmap_walk_file visits every VMA on mapping->i_mmap: the other process's
    PTE becomes a migration entry too, and both are rebuilt to the new page,
    which the page cache now holds (refcount: cache + 2 mappings)."""
    m = seed_like()
    f = m.create_file(4)
    p1 = m.spawn(cpus=[0])
    p2 = m.spawn(cpus=[1])
    a1 = p1.mmap(4, "r", file=f)
    a2 = p2.mmap(4, "r", shared=True, file=f)
    p1.threads[0].load(a1 + PAGE)
    p2.threads[0].load(a2 + PAGE)
    old = f.cached_pfn(1)
    assert p1.pfn(a1 + PAGE) == p2.pfn(a2 + PAGE) == old
    assert m.migrate(p1, a1, 4, node=1) == 1
    new = f.cached_pfn(1)
    assert new != old and m.page(new)["node"] == 1
    assert p1.pfn(a1 + PAGE) == p2.pfn(a2 + PAGE) == new
    pg = m.page(new)
    assert pg["mapcount"] == 2 and pg["refcount"] == 3
    assert m.page(old)["refcount"] == 0
    p2.threads[0].load(a2 + PAGE)
    p1.threads[0].load(a1 + PAGE)
    assert m.oracle.violations == []


def test_anon_pages_of_a_split_vma_are_found_through_the_shared_anon_vma():
    """munmap of the middle splits the VMA; both parts keep the anon_vma
    (anon_vma_clone), and rmap_walk_anon picks the VMA covering each page's
    index."""
    m = seed_like()
    p, a = written(m, threads=2, npages=8)
    p.munmap(a + 2 * PAGE, 3)
    assert len(p.vmas()) == 2
    assert m.migrate(p, a, 8, node=1) == 5
    for i in (0, 1, 5, 6, 7):
        assert m.page(p.pfn(a + i * PAGE))["node"] == 1
        p.threads[1].load(a + i * PAGE)
    assert p.rss == (5, 0)
    assert m.oracle.violations == []


# -- folio_referenced --------------------------------------------------------------

def test_folio_referenced_clears_young_without_flushing():
    """folio_referenced_one -> ptep_clear_flush_young, which on x86 clears the
    accessed bit without a TLB flush.  A CPU that keeps the translation
    cached does not set the bit again, so a later access through the TLB is
    invisible to the next folio_referenced."""
    m = seed_like()
    p, a = written(m, threads=2, npages=1)
    pfn = p.pfn(a)
    before = m.vmstat()
    ref, flags = T.run_folio_referenced(m, pfn)
    assert ref == 1 and flags & 0x3 == 0x3            # VM_READ | VM_WRITE of the VMA
    assert not p.pte(a)["young"]
    assert all(v == 0 for v in tlb(delta(before, m.vmstat())).values())
    assert T.run_folio_referenced(m, pfn) == (0, 0)
    p.threads[0].load(a)                               # TLB hit: no page walk
    assert T.run_folio_referenced(m, pfn)[0] == 0
    p.threads[1].load(a)                               # a walk sets the bit
    assert T.run_folio_referenced(m, pfn)[0] == 1


def test_deferred_flush_is_remembered_by_the_mm_for_the_next_zap():
    """set_tlb_ubc_flush_pending also bumps the pending count in
    mm->tlb_flush_batched.  The next zap_pte_range of that mm calls
    flush_tlb_batched_pending, which finds pending != flushed and does a
    flush_tlb_mm (full, freed_tables: one more shootdown) before the
    munmap's own ranged one -- although the batch was flushed long ago.
    Then flushed == pending and later zaps pay only their own flush."""
    m = seed_like()
    p, a = written(m)
    before = m.vmstat()
    p.munmap(a, 4)                                  # the PTE table stays (shared)
    assert delta(before, m.vmstat())["nr_tlb_remote_flush"] == 1
    m.migrate(p, a + 8 * PAGE, 8, node=1)
    before = m.vmstat()
    p.munmap(a + 4 * PAGE, 4)                       # pages not even migrated
    d = delta(before, m.vmstat())
    assert d["nr_tlb_remote_flush"] == 2 and d["nr_tlb_remote_flush_received"] == 2 * 15
    before = m.vmstat()
    p.munmap(a + 8 * PAGE, 4)
    assert delta(before, m.vmstat())["nr_tlb_remote_flush"] == 1
