"""mm/migrate.c and the NUMA hint fault path (mm/memory.c do_numa_page,
mm/mempolicy.c mpol_misplaced, kernel/sched/fair.c
should_numa_migrate_memory), checked against what the v6.6-rc5 code paths
do; the derivation is in each test's docstring."""

import pytest

import kmm
from kmm import KmmConfigError, KmmStateError
from kmm.emu import testing as T

PAGE = 4096
MS = 1_000_000
LAST_CPUPID_MASK = (1 << 21) - 1
L1TF_40 = {"x86_bug_l1tf": True, "x86_phys_bits": 40}


def tiering(**kw):
    """Seed-like: 16 CPUs on node 0, CPU-less slower node 1, tiering mode."""
    args = dict(nodes=[{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "128M"}],
                sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1}, cpu=L1TF_40)
    args.update(kw)
    return kmm.Machine(**args)


def two_cpu_nodes(mode=1, **kw):
    args = dict(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 2, "mem": "64M"}],
                sysctl={"kernel.numa_balancing": mode})
    args.update(kw)
    return kmm.Machine(**args)


def delta(before, after):
    return {k: after[k] - before[k] for k in before if isinstance(after[k], int)}


def written(m, threads=2, npages=4):
    p = m.spawn(threads=threads)
    a = p.mmap(npages)
    for i in range(npages):
        p.threads[0].store(a + i * PAGE)
    return p, a


# -- the PTE after a migration ----------------------------------------------------

@pytest.mark.parametrize("cpu,ad", [(None, True), (L1TF_40, False)], ids=["default", "l1tf-40bit"])
def test_writable_pte_stays_writable_young_dirty_only_with_ad(cpu, ad):
    """remove_migration_pte: mk_pte(vm_page_prot) (read-only PAGE_COPY) made
    writable because the entry was writable; young only if the entry kept
    it, dirty only if the folio is dirty and the entry kept it.  The folio
    itself is dirty either way: try_to_migrate_one moved the PTE's dirty bit
    to it, and folio_migrate_flags copies it."""
    m = tiering(cpu=cpu)
    assert m.swap_migration_ad_supported == ad
    p, a = written(m, npages=1)
    old = p.pfn(a)
    assert m.migrate(p, a, 1, node=1) == 1
    pte = p.pte(a)
    assert pte["present"] and pte["write"] and pte["pfn"] != old
    assert pte["young"] == ad and pte["dirty"] == ad
    pg = m.page(pte["pfn"])
    assert {"dirty", "lru", "swapbacked", "mappedtodisk"} <= set(pg["flags"])
    assert pg["refcount"] == 1 and pg["mapcount"] == 1 and pg["node"] == 1
    assert m.page(old)["refcount"] == 0             # freed
    p.threads[1].store(a)
    assert m.oracle.violations == []


def test_read_only_exclusive_page_stays_read_only_and_is_reused_on_write():
    """A PROT_NONE PTE has no write bit: its entry is readable-exclusive, so
    the rebuilt PTE is read-only but the page keeps PageAnonExclusive
    (RMAP_EXCLUSIVE); a second migration keeps it so.  A write then faults
    into do_wp_page, which reuses the page (PGREUSE), no copy."""
    m = tiering()
    p, a = written(m, npages=1)
    m._prot_numa(p, a, 1, filters=False)
    m.migrate(p, a, 1, node=1)
    assert not p.pte(a)["write"]
    m.migrate(p, a, 1, node=0)
    pte = p.pte(a)
    assert pte["present"] and not pte["write"] and m.page(pte["pfn"])["node"] == 0
    assert "mappedtodisk" in m.page(pte["pfn"])["flags"]
    before = m.vmstat()
    p.threads[1].store(a)
    d = delta(before, m.vmstat())
    assert d["pgreuse"] == 1 and p.pfn(a) == pte["pfn"] and p.pte(a)["write"]
    assert m.oracle.violations == []


# -- folio_migrate_mapping: reference counts --------------------------------------

def test_extra_reference_makes_the_move_fail_with_eagain():
    """An anonymous folio without swap cache must have exactly the expected
    references (1: the isolation's) when it is moved.  An extra one makes
    folio_migrate_mapping return -EAGAIN on each of the 10 move passes; the
    folio then counts as one failed page (PGMIGRATE_FAIL), gets its PTE back
    (remove_migration_ptes(src, src)) and returns to the LRU."""
    m = tiering()
    p, a = written(m, npages=2)
    pfn = p.pfn(a)
    m.folio_get(pfn)
    before = m.vmstat()
    assert m.migrate(p, a, 2, node=1) == 1
    d = delta(before, m.vmstat())
    assert d["pgmigrate_fail"] == 1 and d["pgmigrate_success"] == 1
    pte = p.pte(a)
    assert pte["present"] and pte["write"] and pte["pfn"] == pfn
    pg = m.page(pfn)
    assert pg["refcount"] == 2 and pg["mapcount"] == 1 and "lru" in pg["flags"]
    assert m.node_vmstat(0)["nr_isolated_anon"] == 0
    m.folio_put(pfn)
    for t in p.threads:
        t.load(a)
        t.store(a + PAGE)
    assert m.oracle.violations == [] and m.check_invariants() == []


# -- page-cache folios -----------------------------------------------------------------

def test_file_pages_move_their_page_cache_slot_and_node_stats():
    """folio_migrate_mapping for a page-cache folio: references frozen at
    1 + 1 (isolation + cache), the i_pages slot points at the new folio,
    which takes the cache's reference, and NR_FILE_PAGES moves to the new
    node; the old folio loses its mapping and is freed."""
    m = tiering()
    f = m.create_file(8)
    p = m.spawn(threads=2)
    a = p.mmap(8, "r", file=f)
    for i in range(8):
        p.threads[0].load(a + i * PAGE)
    old = [f.cached_pfn(i) for i in range(8)]
    n0, n1 = m.node_vmstat(0), m.node_vmstat(1)
    assert m.migrate(p, a, 8, node=1) == 8
    m0, m1 = m.node_vmstat(0), m.node_vmstat(1)
    assert m0["nr_file_pages"] - n0["nr_file_pages"] == -8
    assert m1["nr_file_pages"] - n1["nr_file_pages"] == 8
    assert m0["nr_mapped"] - n0["nr_mapped"] == -8 and m1["nr_mapped"] - n1["nr_mapped"] == 8
    for i in range(8):
        new = f.cached_pfn(i)
        assert new != old[i] and p.pfn(a + i * PAGE) == new
        pg = m.page(new)
        assert pg["node"] == 1 and pg["refcount"] == 2 and pg["mapcount"] == 1
        assert m.page(old[i])["refcount"] == 0 and m.page(old[i])["mapcount"] == 0
    assert m.file_read(f, 3) == m.page(f.cached_pfn(3))["version"]
    p.threads[1].load(a + 3 * PAGE)
    assert m.oracle.violations == []


def test_dirty_file_page_moves_its_dirty_accounting():
    """The dirty flag moves with the page-cache slot (cleared on the old
    folio, set on the new one), and NR_FILE_DIRTY / NR_ZONE_WRITE_PENDING
    move between nodes and zones."""
    m = tiering()
    f = m.create_file(2)
    p = m.spawn(threads=1)
    a = p.mmap(2, "rw", shared=True, file=f)
    p.threads[0].store(a)
    n0, n1 = m.node_vmstat(0), m.node_vmstat(1)
    wp = m.vmstat()["nr_zone_write_pending"]
    assert m.migrate(p, a, 1, node=1) == 1
    assert m.node_vmstat(0)["nr_dirty"] - n0["nr_dirty"] == -1
    assert m.node_vmstat(1)["nr_dirty"] - n1["nr_dirty"] == 1
    assert m.vmstat()["nr_zone_write_pending"] == wp
    assert "dirty" in m.page(f.cached_pfn(0))["flags"]
    pte = p.pte(a)
    assert pte["write"] and pte["pfn"] == f.cached_pfn(0)
    p.threads[0].store(a)
    assert m.oracle.violations == []


# -- reasons and counters --------------------------------------------------------------

def test_numa_misplaced_reason_counts_numa_page_migrate_and_promotions():
    """Machine.migrate(reason="numa_misplaced") hands each page to
    migrate_misplaced_page (the hint-fault entry): PGMIGRATE_SUCCESS from
    migrate_pages, NUMA_PAGE_MIGRATE (count_vm_numa_events) per page moved,
    and PGPROMOTE_SUCCESS since node 1 is a slow tier and node 0 the top
    tier.  migrate_folio_done ends the NR_ISOLATED accounting (not so for
    demotion: the caller does)."""
    m = tiering()
    p, a = written(m, npages=4)
    assert m.migrate(p, a, 4, node=1, reason="demotion") == 4
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=0, reason="numa_misplaced") == 4
    d = delta(before, m.vmstat())
    assert d["pgmigrate_success"] == 4 and d["numa_pages_migrated"] == 4
    assert d["pgpromote_success"] == 4
    for nid in (0, 1):
        v = m.node_vmstat(nid)
        assert v["nr_isolated_anon"] == 0 and v["nr_isolated_file"] == 0
    assert all(m.page(p.pfn(a + i * PAGE))["node"] == 0 for i in range(4))


def test_syscall_reason_moves_pages_like_move_pages():
    """Machine.migrate(reason="syscall") is move_pages(2)'s
    do_move_pages_to_node: alloc_migration_target with
    GFP_HIGHUSER_MOVABLE | __GFP_THISNODE on the node, MIGRATE_SYNC,
    MR_SYSCALL.  migrate_pages_sync tries the batch in MIGRATE_ASYNC first,
    which moves both; only PGMIGRATE_SUCCESS counts, and migrate_folio_done
    ends the NR_ISOLATED accounting.  The PTEs stay writable."""
    m = tiering()
    p, a = written(m, npages=2)
    before = m.vmstat()
    assert m.migrate(p, a, 2, node=1, reason="syscall", mode="sync") == 2
    d = delta(before, m.vmstat())
    assert d["pgmigrate_success"] == 2 and d["numa_pages_migrated"] == 0
    assert d["pgpromote_success"] == 0 and d["pgmigrate_fail"] == 0
    assert m.node_vmstat(0)["nr_isolated_anon"] == 0
    for i in range(2):
        pte = p.pte(a + i * PAGE)
        assert pte["write"] and m.page(pte["pfn"])["node"] == 1
    p.threads[1].store(a)
    assert m.oracle.violations == [] and m.check_invariants() == []



def test_move_pages_returns_the_pages_not_migrated_when_a_run_fails():
    """do_pages_move (mm/migrate.c): when migrating a queued run fails, the
    call gives up at once (goto out, past out_flush) and returns the pages
    not migrated: move_pages_and_store_status adds the pages not yet tried
    (nr_pages - i) to migrate_pages()'s count.  Page 0 has an extra
    reference, so its move fails with -EAGAIN on every pass: 1 failed.
    - pages [0, 1, 2] -> node 1, page 1 already there: page 0 queued;
      page 1 is not (status[1] = 1) and flushes the run: 1 + (3 - 1) = 3,
      minus page 1 (accounted for) = 2; page 2 is never looked at.
    - pages [0, 2] -> nodes [1, 0]: the node change flushes the run of
      page 0: 1 + (2 - 1) = 2, before page 2 is looked at.
    Statuses not reached keep the zeroed buffer's 0."""
    m = tiering()
    p, a = written(m, npages=3)
    assert m.migrate(p, a + PAGE, 1, node=1) == 1
    held = p.pfn(a)
    m.folio_get(held)
    pages = [a, a + PAGE, a + 2 * PAGE]
    before = m.vmstat()
    assert T.run_do_pages_move(p, pages, [1, 1, 1]) == (2, [0, 1, 0])
    assert T.run_do_pages_move(p, [a, a + 2 * PAGE], [1, 0]) == (2, [0, 0])
    d = delta(before, m.vmstat())
    assert d["pgmigrate_success"] == 0 and d["pgmigrate_fail"] == 2
    assert [m.page(p.pfn(x))["node"] for x in pages] == [0, 1, 0]
    assert p.pfn(a) == held and m.page(held)["refcount"] == 2
    assert m.node_vmstat(0)["nr_isolated_anon"] == 0
    m.folio_put(held)
    assert m.oracle.violations == [] and m.check_invariants() == []

def small_target(npages):
    m = kmm.Machine([{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "4M"}],
                    sysctl={"kernel.numa_balancing": 2})
    p = m.spawn(threads=2)
    a = p.mmap(npages)
    for i in range(npages):
        p.threads[0].store(a + i * PAGE)
    return m, p, a


def test_out_of_memory_on_the_target_stops_the_batch():
    """migrate_misplaced_page -> numamigrate_isolate_page refuses a page
    once migrate_balanced_pgdat finds no zone of the 4 MiB target above its
    high watermark + 1 page (the target's free pages run out page by
    page): the later pages are not isolated, so nothing counts in
    PGMIGRATE_FAIL; tiering mode wakes the target's kswapd instead.  The others keep their PTEs; nothing
    stays isolated."""
    m, p, a = small_target(2000)
    before = m.vmstat()
    n = m.migrate(p, a, 2000, node=1, reason="numa_misplaced")
    d = delta(before, m.vmstat())
    assert 512 < n < 1024
    assert d["pgmigrate_success"] == n and d["pgmigrate_fail"] == 0
    nodes = [m.page(p.pfn(a + i * PAGE))["node"] for i in range(2000)]
    assert nodes[:n] == [1] * n and nodes[n:] == [0] * (2000 - n)
    assert all(p.pte(a + i * PAGE)["write"] for i in range(0, 2000, 97))
    assert m.kswapd_woken(1)                      # numamigrate_isolate_page, tiering mode
    for nid in (0, 1):
        assert m.node_vmstat(nid)["nr_isolated_anon"] == 0
    for i in range(0, 2000, 7):
        p.threads[1].load(a + i * PAGE)
    assert m.oracle.violations == [] and m.check_invariants() == []


def test_demotion_falls_back_to_any_node_once_the_target_filled():
    """alloc_demote_folio saves mtc->nmask, clears it for the __GFP_THISNODE
    try and restores it only when that try fails.  After the first success
    mtc->nmask stays NULL, so every later fallback allocation is free to use
    any node of the target's zonelist: once the 4 MiB lower tier is full,
    v6.6 "demotes" the remaining folios onto node 0, their own top-tier node.
    They count as migrated; the target's kswapd is woken (GFP_NOWAIT)."""
    m, p, a = small_target(2000)
    old = [p.pfn(a + i * PAGE) for i in range(2000)]
    before = m.vmstat()
    assert m.migrate(p, a, 2000, node=1, reason="demotion") == 2000
    d = delta(before, m.vmstat())
    assert d["pgmigrate_success"] == 2000 and d["pgmigrate_fail"] == 0
    new = [p.pfn(a + i * PAGE) for i in range(2000)]
    nodes = [m.page(x)["node"] for x in new]
    k = nodes.count(1)
    assert 512 < k < 1024 and nodes == [1] * k + [0] * (2000 - k)
    assert all(x != y for x, y in zip(old, new))
    assert m.kswapd_woken(1)
    for i in range(0, 2000, 7):
        p.threads[1].load(a + i * PAGE)
    assert m.oracle.violations == [] and m.check_invariants() == []


def test_last_cpupid_moves_with_the_page_but_not_across_tiers_in_tiering_mode():
    """folio_migrate_flags: last_cpupid is copied; in tiering mode it is
    reset to -1 when the page crosses between top and slow tier (the slow
    tier keeps the access time there)."""
    m = tiering()
    p, a = written(m, npages=1)
    m._prot_numa(p, a, 1, filters=False)
    m.migrate(p, a, 1, node=1)
    m._prot_numa(p, a, 1)                          # stamps the slow-tier page
    stamp = m.page(p.pte(a)["pfn"])["last_cpupid"]
    assert stamp != LAST_CPUPID_MASK
    m.migrate(p, a, 1, node=0)
    assert m.page(p.pfn(a))["last_cpupid"] == LAST_CPUPID_MASK


# -- NUMA hint faults --------------------------------------------------------------------

def demoted_and_scanned(m, delay_ms):
    """A page written on node 0, demoted to node 1, stamped PROT_NONE by
    the (test) scanner, and delay_ms later touched."""
    p, a = written(m, npages=1)
    assert m.migrate(p, a, 1, node=1) == 1
    assert m._prot_numa(p, a, 1) == 1
    m._clock_advance_ns(delay_ms * MS)
    return p, a


def test_hint_fault_promotes_a_hot_slow_tier_page_and_maps_it_read_only():
    """do_numa_page: NUMA_HINT_FAULTS (not local: the page is on node 1);
    mpol_misplaced: the default policy prefers this CPU's node 0;
    should_numa_migrate_memory: slow tier, node 0 is not roomy (needs 1 GiB
    free), latency 100 ms < threshold -> candidate (PGPROMOTE_CANDIDATE) and
    not rate-limited; migrate_misplaced_page: PGMIGRATE_SUCCESS,
    NUMA_PAGE_MIGRATE and PGPROMOTE_SUCCESS on node 0.  The PROT_NONE PTE is
    not accessible, so no flush at all.  The PTE is rebuilt read-only; the
    next write reuses the page."""
    m = tiering()
    p, a = demoted_and_scanned(m, 100)
    old = p.pte(a)["pfn"]
    before, n0 = m.vmstat(), m.node_vmstat(0)
    p.threads[0].load(a)
    d = delta(before, m.vmstat())
    assert d["numa_hint_faults"] == 1 and d["numa_hint_faults_local"] == 0
    assert d["numa_pages_migrated"] == 1 and d["pgmigrate_success"] == 1
    n = delta(n0, m.node_vmstat(0))
    assert n["pgpromote_success"] == 1 and n["pgpromote_candidate"] == 1
    assert d["nr_tlb_remote_flush"] == 0 and d["nr_tlb_local_flush_one"] == 0
    pte = p.pte(a)
    assert pte["present"] and not pte["protnone"] and not pte["write"]
    assert pte["pfn"] != old and m.page(pte["pfn"])["node"] == 0
    assert m.page(pte["pfn"])["last_cpupid"] == LAST_CPUPID_MASK
    before = m.vmstat()
    p.threads[1].store(a)
    assert delta(before, m.vmstat())["pgreuse"] == 1 and p.pfn(a) == pte["pfn"]
    p.threads[0].load(a)
    assert m.oracle.violations == []


def test_hint_fault_on_a_cold_page_restores_it_writable():
    """Latency 2000 ms >= the threshold: not migrated.  out_map restores the
    VMA's protection, young, and writable because can_change_pte_writable
    allows it for an exclusive anonymous page; no candidate is counted."""
    m = tiering()
    p, a = demoted_and_scanned(m, 2000)
    old = p.pte(a)["pfn"]
    before, n0 = m.vmstat(), m.node_vmstat(0)
    p.threads[0].load(a)
    d = delta(before, m.vmstat())
    assert d["numa_hint_faults"] == 1 and d["numa_pages_migrated"] == 0
    assert d["pgmigrate_success"] == 0
    assert m.node_vmstat(0)["pgpromote_candidate"] == n0["pgpromote_candidate"]
    pte = p.pte(a)
    assert pte["present"] and pte["write"] and pte["young"] and pte["pfn"] == old
    p.threads[0].store(a)
    assert m.oracle.violations == []


def test_hot_threshold_moves_one_step_up_at_the_first_promotion_check():
    """numa_promotion_adjust_threshold runs when now - nbp_th_start exceeds
    scan_period_max (60 s).  Switching tiering on (kernel.numa_balancing 2,
    written at boot) ran reset_memory_tiering(): nbp_th_start = boot time.
    60 s later the first check adjusts: no candidates yet (< 90% of the
    reference) -> the threshold rises one step of 2 * 1000 / 16 ms to 1125.
    A page touched 1100 ms after its scan is therefore still hot; the next
    check is within the new period (started by that adjustment), so 1130 ms
    is cold."""
    m = tiering()
    m._clock_advance_ns(60_000 * MS)
    p, a = demoted_and_scanned(m, 1100)
    before = m.vmstat()
    p.threads[0].load(a)
    assert delta(before, m.vmstat())["numa_pages_migrated"] == 1
    q, b = demoted_and_scanned(m, 1130)
    before = m.vmstat()
    q.threads[0].load(b)
    assert delta(before, m.vmstat())["numa_pages_migrated"] == 0


def test_promotion_rate_limit_refuses_after_the_window_quota():
    """numa_promotion_rate_limit: 1 MB/s is 256 pages per 1 s window.  The
    first candidate opens the window (nbp_rl_nr_cand = the count including
    itself), and candidate k is refused once k - 1 >= 256: 256 promotions,
    then none until the window moves on."""
    m = tiering(sysctl={"kernel.numa_balancing": 2,
                        "kernel.numa_balancing_promote_rate_limit_MBps": 1})
    p = m.spawn(threads=1)
    a = p.mmap(300)
    for i in range(300):
        p.threads[0].store(a + i * PAGE)
    assert m.migrate(p, a, 300, node=1) == 300
    assert m._prot_numa(p, a, 300) == 300
    m._clock_advance_ns(10 * MS)
    before = m.vmstat()
    for i in range(300):
        p.threads[0].load(a + i * PAGE)
    d = delta(before, m.vmstat())
    assert d["numa_hint_faults"] == 300
    assert d["numa_pages_migrated"] == 256
    assert sum(m.page(p.pte(a + i * PAGE)["pfn"])["node"] == 0 for i in range(300)) == 256
    assert d["pgpromote_candidate"] == 300


def test_full_target_wakes_kswapd_and_keeps_the_page():
    """migrate_balanced_pgdat: no zone of node 0 stays above high + 1 ->
    in tiering mode numamigrate_isolate_page wakes node 0's kswapd (to
    demote) and refuses.  do_numa_page cleared `writable` before trying, so
    the PTE is restored in place READ-ONLY even for an exclusive page."""
    m = tiering()
    p, a = demoted_and_scanned(m, 10)
    while m.alloc_pages(nid=0, gfp="__GFP_MOVABLE|__GFP_THISNODE") is not None:
        pass
    assert not m.kswapd_woken(0)
    before = m.vmstat()
    p.threads[0].load(a)
    d = delta(before, m.vmstat())
    assert d["numa_hint_faults"] == 1 and d["numa_pages_migrated"] == 0
    assert m.kswapd_woken(0)
    pte = p.pte(a)
    assert pte["present"] and not pte["write"] and m.page(pte["pfn"])["node"] == 1


def test_local_hint_fault_in_normal_mode_is_not_misplaced():
    """The default policy is MPOL_PREFERRED of the CPU's node: a page
    already there is not misplaced (should_numa_migrate_memory is not even
    asked, so last_cpupid stays unset).  NUMA_HINT_FAULTS_LOCAL counts."""
    m = two_cpu_nodes(mode=1)
    p, a = written(m, threads=1, npages=1)
    pfn = p.pfn(a)
    assert m._prot_numa(p, a, 1) == 0                # single-user mm: local pages are skipped
    assert m._prot_numa(p, a, 1, filters=False) == 1
    before = m.vmstat()
    p.threads[0].load(a)
    d = delta(before, m.vmstat())
    assert d["numa_hint_faults"] == 1 and d["numa_hint_faults_local"] == 1
    assert d["numa_pages_migrated"] == 0
    assert p.pte(a)["write"] and p.pfn(a) == pfn
    assert m.page(pfn)["last_cpupid"] == LAST_CPUPID_MASK


def test_classic_hint_fault_migrates_a_remote_page_and_keeps_the_cpupid():
    """Normal NUMA balancing, two CPU nodes: a page on node 1 touched from CPU
    0.  should_numa_migrate_memory's classic path: last_cpupid unset and the
    task young -> migrate.  Top tier to top tier: no PGPROMOTE_SUCCESS.  The
    new page carries the cpupid the fault stored (not tiering: it moves)."""
    m = two_cpu_nodes(mode=1)
    p = m.spawn(threads=2, cpus=[2, 0])
    a = p.mmap(1)
    p.threads[0].store(a)                           # on node 1 (CPU 2)
    assert m.page(p.pfn(a))["node"] == 1
    assert m._prot_numa(p, a, 1, cpu=0) == 1
    before = m.vmstat()
    p.threads[1].load(a)                            # CPU 0, node 0
    d = delta(before, m.vmstat())
    assert d["numa_hint_faults"] == 1 and d["numa_pages_migrated"] == 1
    assert d["pgpromote_success"] == 0
    new = m.page(p.pfn(a))
    assert new["node"] == 0
    assert new["last_cpupid"] == ((0 << 8) | (p.threads[1].pid & 0xff))
    p.threads[0].store(a)
    assert m.oracle.violations == []


# -- mid-migration accesses -----------------------------------------------------------

def test_accesses_between_unmap_flush_and_move():
    """Between the batch's unmap and its flush, a CPU may still use its
    cached translation (the PTE is a migration entry of the same page): its
    store lands on the old page before the copy, so nothing is lost.  After
    the flush, an access walks into the migration entry and would wait
    (migration_entry_wait)."""
    m = tiering()
    p = m.spawn(threads=3)
    a = p.mmap(2)
    p.threads[0].store(a)
    p.threads[0].store(a + PAGE)
    p.threads[1].store(a)                           # CPU 1 caches a writable, dirty entry
    events = []

    def hook(point):
        events.append(point)
        if point == "unmapped":
            assert p.pte(a)["migration"] == "writable"
            p.threads[1].store(a)                   # through the TLB
            p.threads[1].load(a)
        else:
            with pytest.raises(KmmStateError, match="under migration"):
                p.threads[2].load(a + PAGE)
    assert m.migrate(p, a, 2, node=1, hook=hook) == 2
    assert events == ["unmapped", "flushed"]
    for t in p.threads:
        t.load(a)
        t.load(a + PAGE)
    assert m.oracle.violations == []


def test_hook_exception_is_reraised_after_the_migration_completes():
    m = tiering()
    p, a = written(m, npages=1)

    def hook(point):
        raise ValueError(point)
    with pytest.raises(ValueError, match="unmapped"):
        m.migrate(p, a, 1, node=1, hook=hook)
    assert m.page(p.pfn(a))["node"] == 1            # the migration itself went through
    with pytest.raises(KmmStateError, match="again"):
        m.migrate(p, a, 1, node=0, hook=lambda pt: m.migrate(p, a, 1, node=0))


def try_access(t, addr, write):
    """An access from a hook: through the TLB it goes on; a page walk meets
    the migration entry, where the task would wait."""
    try:
        t.store(addr) if write else t.load(addr)
    except KmmStateError as e:
        assert "under migration" in str(e)


def test_threads_keep_working_around_repeated_migrations():
    """The TLB-coherence oracle over a mixed sequence: 4 threads store and
    load 48 anonymous pages and 16 file pages while ranges go back and forth
    between the nodes (demotion and NUMA-misplaced, batched), some PTEs
    PROT_NONE."""
    m = tiering(nodes=[{"cpus": 4, "mem": "64M"}, {"cpus": 0, "mem": "64M"}])
    f = m.create_file(16)
    p = m.spawn(threads=4)
    a = p.mmap(48)
    b = p.mmap(16, "rw", shared=True, file=f)
    for i in range(48):
        p.threads[i % 4].store(a + i * PAGE)
    for i in range(16):
        p.threads[i % 4].load(b + i * PAGE)
    for rnd in range(6):
        lo = (rnd * 7) % 40
        if rnd % 3 == 2:
            m._prot_numa(p, a + lo * PAGE, 8, filters=False)
        m.migrate(p, a + lo * PAGE, 8 + rnd, node=1 if rnd % 2 == 0 else 0,
                  reason="demotion" if rnd % 2 == 0 else "numa_misplaced", cpu=rnd % 4,
                  hook=lambda pt: try_access(p.threads[(rnd + 1) % 4], a + (lo + 1) * PAGE,
                                             pt == "unmapped"))
        m.migrate(p, b, 16, node=1 - (rnd % 2))
        for t in p.threads:
            for i in range(0, 48, 3):
                t.load(a + i * PAGE)
            t.store(a + ((t.index * 5 + rnd) % 48) * PAGE)
            t.load(b + ((t.index + rnd) % 16) * PAGE)
    assert m.oracle.violations == []
    assert m.check_invariants() == []
    p.exit()
    assert m.check_invariants() == []


# -- argument checks --------------------------------------------------------------------

def test_migrate_rejects_bad_arguments():
    m = tiering()
    other = tiering()
    p, a = written(m, npages=1)
    q = other.spawn()
    bad = [
        (dict(proc=None), "proc"), (dict(proc=q), "proc"),
        (dict(addr=a + 1), "addr"), (dict(addr=-PAGE), "addr"), (dict(npages=0), "npages"),
        (dict(npages=True), "npages"), (dict(node=2), "nid"), (dict(node="1"), "nid"),
        (dict(reason="reclaim"), "reason"), (dict(reason=None), "reason"),
        (dict(cpu=16), "cpu"), (dict(cpu=-1), "cpu"), (dict(hook=3), "hook"),
    ]
    for override, what in bad:
        args = dict(proc=p, addr=a, npages=1, node=1, reason="demotion", cpu=0)
        args.update(override)
        with pytest.raises(KmmConfigError, match=what):
            m.migrate(args.pop("proc"), args.pop("addr"), args.pop("npages"), **args)
    with pytest.raises(KmmConfigError):
        m._prot_numa(p, a, 0)
    with pytest.raises(KmmConfigError):
        m._clock_advance_ns(-1)
    with pytest.raises(KmmConfigError):
        m.node_vmstat(5)
    with pytest.raises(KmmConfigError):
        T.run_folio_referenced(m, 10**12)
    assert m.migrate(p, a + 64 * PAGE, 4, node=1) == 0   # nothing mapped there
    p.exit()
    with pytest.raises(KmmStateError):
        m.migrate(p, a, 1)
    with pytest.raises(KmmConfigError):
        kmm.Machine([{"cpus": 1, "mem": "4M"}], kconfig={"CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH": "maybe"})


def test_hint_fault_migration_inside_the_hook_does_not_reenter_it():
    """A hook may cause another migration (here a NUMA hint fault that
    promotes a page of another range); that inner migrate_pages runs the
    hook points too, but the hook is not called again from inside itself."""
    m = tiering()
    p, a = demoted_and_scanned(m, 10)
    b = p.mmap(1)
    p.threads[0].store(b)
    calls = []

    def hook(point):
        calls.append(point)
        if point == "flushed":
            p.threads[1].load(a)                    # hint fault -> promotion
    assert m.migrate(p, b, 1, node=1, hook=hook) == 1
    assert calls == ["unmapped", "flushed"]
    assert m.page(p.pfn(a))["node"] == 0 and m.page(p.pfn(b))["node"] == 1
    assert m.vmstat()["numa_pages_migrated"] == 1
    p.threads[0].load(b)
    assert m.oracle.violations == []


def test_sync_mode_retries_leftovers_alone_and_unflushed_batching():
    """migrate_pages_sync: the list first goes through one MIGRATE_ASYNC batch
    of 3 passes (its unmaps deferred: one shootdown), and a folio still there
    is retried alone in MIGRATE_SYNC with 7 passes, unmapped with no
    TTU_BATCH_FLUSH (ptep_clear_flush: a shootdown of its own).  An extra
    reference makes both rounds fail: only the sync round's failure counts."""
    m = tiering()
    p, a = written(m, threads=16, npages=4)
    pfn = p.pfn(a)
    m.folio_get(pfn)
    before = m.vmstat()
    assert m.migrate(p, a, 4, node=1, mode="sync") == 3
    d = delta(before, m.vmstat())
    assert d["pgmigrate_success"] == 3 and d["pgmigrate_fail"] == 1
    assert d["nr_tlb_remote_flush"] == 2
    assert p.pfn(a) == pfn and p.pte(a)["write"]
    m.folio_put(pfn)
    before = m.vmstat()
    # demotion batches per source node: node 1's three folios, then node 0's one
    assert m.migrate(p, a, 4, node=0, mode="sync_light") == 4
    assert delta(before, m.vmstat())["nr_tlb_remote_flush"] == 2
    with pytest.raises(KmmConfigError, match="mode"):
        m.migrate(p, a, 1, mode="SYNC")
    for t in p.threads:
        t.load(a)
    assert m.oracle.violations == []
