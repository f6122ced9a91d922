"""mprotect(2) (mm/mprotect.c) and NUMA hinting's change_prot_numa
(mm/mempolicy.c), checked against what the v6.6 code paths do.

How the flush numbers come about (derivations the tests rely on):
- change_pte_range adds a PTE to the mmu_gather's range only when x86
  pte_needs_flush(old, new) says so: never if the old entry was not present,
  else when DIRTY/PRESENT were cleared or RW/USER/NX/GLOBAL(=PROTNONE)/...
  changed in either direction.  Making a PTE writable (R -> RW) is such a
  change, so it is flushed too; an unchanged PTE (zero page, a page that
  stays read-only) is not.
- x86 has no CONFIG_MMU_GATHER_MERGE_VMAS: tlb_end_vma() flushes each
  VMA's range with flush_tlb_mm_range(), so the 33-page ceiling applies per
  VMA, and on a multi-CPU mm each VMA costs one IPI round
  (nr_tlb_remote_flush += 1, _received += one per other non-lazy CPU).
- The caller's CPU is thread 0's (CPU 0): it counts nr_tlb_local_flush_one
  per page of a ranged flush, or nr_tlb_local_flush_all once for a full one.
"""

import pytest

import kmm
from kmm import KmmConfigError, KmmStateError
from kmm.emu import testing as T

PAGE = 4096
TLB = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
       "nr_tlb_local_flush_all", "nr_tlb_local_flush_one")
VM_READ, VM_WRITE, VM_EXEC = 0x1, 0x2, 0x4
LAST_CPUPID_MASK = (1 << 21) - 1


def machine(**kw):
    args = dict(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "64M"}],
                kconfig={"CONFIG_DEBUG_VM": True})
    args.update(kw)
    return kmm.Machine(**args)


def seed16(**sysctl):
    """The seed's machine (16 CPUs on node 0, CPU-less node 1).  Without
    CONFIG_DEBUG_VM: checking 9 GiB of struct pages after every access
    would dominate the run time (tests call m.check_invariants() once)."""
    return kmm.Machine.preset("seed", sysctl=sysctl)


def tiered(mode):
    """Top tier: node 0 (4M, 2 CPUs); slow tier: node 1 (16M, no CPU)."""
    return kmm.Machine(nodes=[{"cpus": 2, "mem": "4M"}, {"cpus": 0, "mem": "16M"}],
                       kconfig={"CONFIG_DEBUG_VM": True},
                       sysctl={"kernel.numa_balancing": mode})


def fill_node(m, nid):
    """Allocate node nid down to its min watermark, so that later faults
    fall back to the next node of the zonelist."""
    while m.alloc_pages(nid=nid, gfp="GFP_NOWAIT|__GFP_THISNODE") is not None:
        pass


def delta(m, before, keys=None):
    after = m.vmstat()
    return {k: after[k] - before[k] for k in (keys or after) if isinstance(after[k], int)}


def tlb(m, before):
    return delta(m, before, TLB)


def touch(p, addr, npages, write=True, threads=None):
    for t in (threads or p.threads):
        for i in range(npages):
            (t.store if write else t.load)(addr + i * PAGE)


def spans(p):
    return [(v["start"], v["end"], v["flags"] & 7) for v in p.vmas()]


def segfaults(t, addr, write):
    with pytest.raises(KmmStateError, match="segmentation fault"):
        (t.store if write else t.load)(addr)


# -- RW -> R: the flush and its ceiling -------------------------------------

@pytest.mark.parametrize("n", [1, 10, 33])
def test_rw_to_r_flushes_locally_page_by_page_up_to_33(n):
    """One CPU in mm_cpumask: flush_tlb_mm_range runs flush_tlb_func
    locally, a ranged flush of n <= 33 pages: nr_tlb_local_flush_one += n."""
    m = machine()
    p = m.spawn()
    a = p.mmap(n, "rw")
    touch(p, a, n)
    v = m.vmstat()
    p.mprotect(a, n, "r")
    assert tlb(m, v) == {"nr_tlb_remote_flush": 0, "nr_tlb_remote_flush_received": 0,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": n}
    for i in range(n):
        pte = p.pte(a + i * PAGE)
        assert pte["present"] and not pte["write"] and pte["dirty"]
    assert spans(p) == [(a, a + n * PAGE, VM_READ)]
    # the cached writable translations are gone: every store faults
    for i in range(n):
        p.threads[0].load(a + i * PAGE)
        segfaults(p.threads[0], a + i * PAGE, True)
    assert m.oracle.violations == []


@pytest.mark.parametrize("n", [34, 64])
def test_rw_to_r_of_34_pages_flushes_the_whole_mm(n):
    """More than tlb_single_page_flush_ceiling (33) pages: one full flush."""
    m = machine()
    p = m.spawn()
    a = p.mmap(n, "rw")
    touch(p, a, n)
    v = m.vmstat()
    p.mprotect(a, n, "r")
    d = tlb(m, v)
    assert d["nr_tlb_local_flush_all"] == 1 and d["nr_tlb_local_flush_one"] == 0
    segfaults(p.threads[0], a + (n - 1) * PAGE, True)


def test_rw_to_r_on_16_cpus_one_ipi_round():
    """mm_cpumask holds all 16 CPUs: one flush_tlb_multi (remote_flush 1),
    15 CPUs receive it, the initiator flushes its 8 pages locally."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    touch(p, a, 8, write=True, threads=p.threads[:1])
    touch(p, a, 8, write=False)                   # every CPU caches every page
    v = m.vmstat()
    p.mprotect(a, 8, "r")
    assert tlb(m, v) == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 15,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    for t in p.threads:
        for i in range(8):
            t.load(a + i * PAGE)
            segfaults(t, a + i * PAGE, True)
    assert m.oracle.violations == []


def test_mprotect_over_two_vmas_flushes_once_per_vma():
    """Two VMAs (rwx below rw): tlb_end_vma flushes after each, so two IPI
    rounds; the second VMA, now with the first's flags, merges into it
    (vma_merge case 7)."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(4, "rw")
    b = p.mmap(4, "rwx")
    assert b + 4 * PAGE == a and len(p.vmas()) == 2
    touch(p, b, 8, write=True, threads=p.threads[:1])
    touch(p, b, 8, write=False)
    v = m.vmstat()
    p.mprotect(b, 8, "r")
    assert tlb(m, v) == {"nr_tlb_remote_flush": 2, "nr_tlb_remote_flush_received": 30,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    assert spans(p) == [(b, a + 4 * PAGE, VM_READ)]
    for t in p.threads:
        segfaults(t, b, True)
        segfaults(t, a + 3 * PAGE, True)
    assert m.oracle.violations == []


def test_lazy_cpus_get_no_ipi_and_catch_up_on_return():
    """v6.6-rc5 native_flush_tlb_multi skips lazy CPUs unless tables were
    freed: with CPUs 8..15 idle (lazy, still in mm_cpumask), only 7 CPUs
    receive the mprotect flush.  A lazy CPU whose thread comes back finds
    its ASID slot behind the mm's tlb_gen and flushes in switch_mm, so its
    old writable translation is not used."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    touch(p, a, 8, write=True, threads=p.threads[:1])
    touch(p, a, 8, write=False)
    for c in range(8, 16):
        m.idle(c)
    assert p.mm_cpumask == list(range(16))
    v = m.vmstat()
    p.mprotect(a, 8, "r")
    assert tlb(m, v) == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 7,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    assert T.tlb_probe(m, 8, a) is not None          # still cached while lazy
    t8 = p.threads[8]
    t8.run()
    assert T.tlb_probe(m, 8, a) is None
    segfaults(t8, a, True)
    t8.load(a)
    assert m.oracle.violations == []


# -- R -> RW: write access without a fault ------------------------------------

def test_r_to_rw_makes_exclusive_anon_ptes_writable_and_flushes():
    """mprotect_fixup passes MM_CP_TRY_CHANGE_WRITABLE (a private writable
    VMA wants manual write upgrade): can_change_pte_writable is true for
    AnonExclusive pages, so their PTEs become writable at once and the
    next stores take no fault.  Setting _PAGE_RW is a flush_on_change bit
    of x86 pte_flags_need_flush, so the range is flushed (n pages)."""
    m = machine()
    p = m.spawn()
    a = p.mmap(8, "rw")
    touch(p, a, 8)
    p.mprotect(a, 8, "r")
    v = m.vmstat()
    p.mprotect(a, 8, "rw")
    assert tlb(m, v)["nr_tlb_local_flush_one"] == 8
    assert all(p.pte(a + i * PAGE)["write"] for i in range(8))
    v = m.vmstat()
    touch(p, a, 8)
    assert delta(m, v, ["pgfault", "pgreuse"]) == {"pgfault": 0, "pgreuse": 0}
    assert spans(p) == [(a, a + 8 * PAGE, VM_READ | VM_WRITE)]
    assert m.oracle.violations == []


def test_r_to_rw_leaves_zero_page_and_file_ptes_read_only_without_flush():
    """The zero page has no struct page (vm_normal_page NULL) and a private
    file page is not anonymous: can_change_pte_writable is false, the PTE
    comes out as it was (PAGE_COPY == PAGE_READONLY bits), so
    pte_needs_flush is false.  The PTEs still count as changed."""
    m = machine()
    f = m.create_file(4)
    p = m.spawn()
    a = p.mmap(4, "rw")
    fa = p.mmap(4, "rw", file=f)
    touch(p, a, 4, write=False)                    # zero page
    touch(p, fa, 4, write=False)                   # page cache pages
    v = m.vmstat()
    p.mprotect(a, 4, "r")
    p.mprotect(fa, 4, "r")
    p.mprotect(a, 4, "rw")
    p.mprotect(fa, 4, "rw")
    assert all(x == 0 for x in tlb(m, v).values())
    assert not p.pte(a)["write"] and p.pte(a)["special"]
    assert not p.pte(fa)["write"]
    v = m.vmstat()
    p.threads[0].store(a)                          # now the COW fault
    p.threads[0].store(fa)
    assert delta(m, v, ["pgfault"])["pgfault"] == 2
    assert m.oracle.violations == []


def test_shared_file_mapping_dirty_ptes_become_writable_clean_ones_not():
    """Shared writable file mapping (write-notify): can_change_pte_writable
    is pte_dirty.  A page written before keeps a dirty PTE and is made
    writable by R -> RW; a page only read stays read-only, so its first
    write still reaches page_mkwrite."""
    m = machine()
    f = m.create_file(2)
    p = m.spawn()
    a = p.mmap(2, "rw", shared=True, file=f)
    p.threads[0].store(a)
    p.threads[0].load(a + PAGE)
    p.mprotect(a, 2, "r")
    assert not p.pte(a)["write"]
    p.mprotect(a, 2, "rw")
    assert p.pte(a)["write"] and not p.pte(a + PAGE)["write"]
    v = m.vmstat()
    p.threads[0].store(a + PAGE)
    assert delta(m, v, ["pgfault", "pgreuse"]) == {"pgfault": 1, "pgreuse": 1}
    assert m.oracle.violations == []


# -- VMAs: split and merge ------------------------------------------------------

def test_mprotect_splits_a_vma_into_three_and_merges_back():
    m = machine()
    p = m.spawn()
    a = p.mmap(8, "rw")
    touch(p, a, 8)
    before = spans(p)
    flags = p.vmas()[0]["flags"]
    p.mprotect(a + 2 * PAGE, 3, "r")
    assert spans(p) == [(a, a + 2 * PAGE, 3), (a + 2 * PAGE, a + 5 * PAGE, 1),
                        (a + 5 * PAGE, a + 8 * PAGE, 3)]
    # anonymous VMAs keep linear page offsets across the split
    assert all(v["pgoff"] == v["start"] // PAGE for v in p.vmas())
    segfaults(p.threads[0], a + 3 * PAGE, True)
    p.threads[0].store(a + PAGE)
    p.threads[0].store(a + 6 * PAGE)
    p.mprotect(a + 2 * PAGE, 3, "rw")              # vma_merge case 6: prev absorbs curr and next
    assert spans(p) == before
    assert p.vmas()[0]["flags"] == flags           # VM_ACCOUNT kept: mergeable again
    assert p.vmas()[0]["pgoff"] == a // PAGE
    touch(p, a, 8)
    assert p.rss == (8, 0)
    assert m.check_invariants() == [] and m.oracle.violations == []


def test_vma_merge_cases_5_7_4_8():
    """The mprotect cases of vma_merge: 5 (prev takes curr's head), 7 (prev
    takes all of curr), 4 (next takes prev's tail), 8 (next takes all of
    curr)."""
    m = machine()
    p = m.spawn()
    a = p.mmap(12, "rw")
    touch(p, a, 12)
    p.mprotect(a, 2, "r")
    assert spans(p) == [(a, a + 2 * PAGE, 1), (a + 2 * PAGE, a + 12 * PAGE, 3)]
    p.mprotect(a + 2 * PAGE, 2, "r")               # case 5
    assert spans(p) == [(a, a + 4 * PAGE, 1), (a + 4 * PAGE, a + 12 * PAGE, 3)]
    p.mprotect(a + 4 * PAGE, 8, "r")               # case 7
    assert spans(p) == [(a, a + 12 * PAGE, 1)]
    p.mprotect(a, 8, "rw")                         # split: [a, a+8) rw, [a+8, a+12) r
    assert spans(p) == [(a, a + 8 * PAGE, 3), (a + 8 * PAGE, a + 12 * PAGE, 1)]
    p.mprotect(a + 6 * PAGE, 2, "r")               # case 4
    assert spans(p) == [(a, a + 6 * PAGE, 3), (a + 6 * PAGE, a + 12 * PAGE, 1)]
    p.mprotect(a, 6, "r")                          # case 8 (nothing below a)
    assert spans(p) == [(a, a + 12 * PAGE, 1)]
    assert all(v["pgoff"] == v["start"] // PAGE for v in p.vmas())
    touch(p, a, 12, write=False)
    assert p.rss == (12, 0)
    assert m.check_invariants() == [] and m.oracle.violations == []


# -- PROT_NONE --------------------------------------------------------------------

def test_prot_none_then_access_segfaults_and_data_survives():
    m = machine()
    p = m.spawn(threads=2)
    a = p.mmap(4, "rw")
    touch(p, a, 4)
    v = m.vmstat()
    p.mprotect(a, 4, "none")
    # present -> PROT_NONE clears PRESENT: flushed on both CPUs
    assert tlb(m, v) == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 1,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 4}
    pte = p.pte(a)
    assert pte["protnone"] and not pte["present"]
    for t in p.threads:
        segfaults(t, a, False)
        segfaults(t, a + 3 * PAGE, True)
    v = m.vmstat()
    p.mprotect(a, 4, "rw")
    # PROT_NONE -> anything: the old entry was not present, nothing to flush
    assert all(x == 0 for x in tlb(m, v).values())
    touch(p, a, 4, write=False)
    touch(p, a, 4)
    assert m.oracle.violations == []


# -- errors and argument checks ------------------------------------------------

def test_mprotect_errors():
    m = machine()
    p = m.spawn()
    a = p.mmap(8, "rw")
    p.munmap(a + 4 * PAGE, 2)                      # hole at a+4, a+5
    with pytest.raises(KmmStateError, match="ENOMEM"):
        p.mprotect(a, 8, "r")
    # the kernel leaves the VMAs before the hole changed
    assert spans(p) == [(a, a + 4 * PAGE, 1), (a + 6 * PAGE, a + 8 * PAGE, 3)]
    with pytest.raises(KmmStateError, match="ENOMEM"):
        p.mprotect(a + 4 * PAGE, 1, "r")           # nothing mapped there
    f = m.create_file(2, writable=False)
    s = p.mmap(2, "r", shared=True, file=f)        # no VM_MAYWRITE
    with pytest.raises(KmmStateError, match="EACCES"):
        p.mprotect(s, 2, "rw")
    priv = p.mmap(2, "r", file=f)                  # private: may be written (COW)
    p.mprotect(priv, 2, "rw")
    assert m.oracle.violations == []


@pytest.mark.parametrize("args, what", [
    ((1, 1, "r"), "addr"), ((0x1000, 0, "r"), "npages"), ((0x1000, True, "r"), "npages"),
    ((0x1000, 1, "rw-"), "prot"), ((0x1000, 1, 3), "prot"), ((-4096, 1, "r"), "addr"),
    ((1 << 47, 1, "r"), "addr"), ((0x1000, 1 << 40, "r"), "npages"),
])
def test_mprotect_arguments_checked(args, what):
    m = machine()
    p = m.spawn()
    with pytest.raises(KmmConfigError, match=what):
        p.mprotect(*args)


def test_change_prot_numa_and_munmap_arguments_checked():
    m = machine()
    p = m.spawn()
    a = p.mmap(1, "rw")
    for cpu in (2, -1, True, "0", None, 1.0):
        with pytest.raises(KmmConfigError, match="cpu"):
            p._change_prot_numa(a, 1, cpu=cpu)
    with pytest.raises(KmmConfigError, match="cpu"):
        p.mprotect(a, 1, "r", cpu=5)
    with pytest.raises(KmmConfigError, match="cpu"):
        p.munmap(a, 1, cpu="x")
    with pytest.raises(KmmConfigError, match="addr"):
        p._change_prot_numa(a + 1, 1)
    with pytest.raises(KmmConfigError, match="npages"):
        p._change_prot_numa(a, -1)
    assert p._change_prot_numa(a, 1) == 0          # nothing mapped yet: no PTE
    p.exit()
    with pytest.raises(KmmStateError):
        p.mprotect(a, 1, "r")
    with pytest.raises(KmmStateError):
        p._change_prot_numa(a, 1)


# -- change_prot_numa ----------------------------------------------------------

def test_change_prot_numa_makes_ptes_protnone_and_counts_updates():
    """Two threads (mm_users 2, so no single-threaded skip), normal NUMA
    balancing (mode 1): every present anon PTE becomes PROT_NONE
    (pte_protnone, not present), numa_pte_updates += 8, one IPI round for
    the VMA.  A second pass finds them protnone: nothing changes, no flush."""
    m = machine()
    p = m.spawn(threads=2)
    assert p.mm_users == 2 and m.sysctl["kernel.numa_balancing"] == 1
    a = p.mmap(8, "rw")
    touch(p, a, 8, threads=p.threads[:1])
    touch(p, a, 8, write=False)
    v = m.vmstat()
    assert p._change_prot_numa(a, 8) == 8
    d = delta(m, v)
    assert d["numa_pte_updates"] == 8
    assert {k: d[k] for k in TLB} == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 1,
                                      "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    for i in range(8):
        pte = p.pte(a + i * PAGE)
        assert pte["protnone"] and not pte["present"] and pte["dirty"]
        assert T.tlb_probe(m, 0, a + i * PAGE) is None and T.tlb_probe(m, 1, a + i * PAGE) is None
    assert p.tlb_flush_pending == 0               # the gather is finished
    v = m.vmstat()
    assert p._change_prot_numa(a, 8) == 0
    assert delta(m, v, TLB + ("numa_pte_updates",)) == dict.fromkeys(TLB + ("numa_pte_updates",), 0)


def test_change_prot_numa_skips():
    """prot_numa skips: the zero page (no struct page), a private file
    page still shared with the page cache (COW mapping, page_count 2), a
    dirty file page, and -- single-threaded task -- pages on the node its
    CPU is on (target_node)."""
    m = machine()
    f = m.create_file(4)
    p = m.spawn(threads=2)
    z = p.mmap(2, "rw")
    touch(p, z, 2, write=False)                    # zero page
    priv = p.mmap(2, "rw", file=f, offset=0)
    touch(p, priv, 2, write=False)                 # page cache + this PTE: refcount 2
    sh = p.mmap(2, "rw", shared=True, file=f, offset=2)
    p.threads[0].store(sh)                         # dirty file page
    p.threads[0].load(sh + PAGE)                   # clean file page: updated
    assert m.page(p.pte(priv)["pfn"])["refcount"] == 2
    assert p._change_prot_numa(sh, 2) == 1
    assert p.pte(sh + PAGE)["protnone"] and p.pte(sh)["present"]
    assert p._change_prot_numa(z, 2) == 0 and p.pte(z)["present"]
    assert p._change_prot_numa(priv, 2) == 0 and p.pte(priv)["present"]
    # single-threaded: pages on node 0, task on CPU 0 (node 0): all skipped
    q = m.spawn(threads=1, cpus=[1])
    b = q.mmap(4, "rw")
    touch(q, b, 4)
    assert q.mm_users == 1
    assert q._change_prot_numa(b, 4, cpu=1) == 0
    assert all(q.pte(b + i * PAGE)["present"] for i in range(4))
    assert m.oracle.violations == []


def test_change_prot_numa_single_thread_off_node_pages_are_updated():
    """target_node only skips pages on the task's own node: with node 0 full,
    the pages come from node 1 and are made PROT_NONE (mode 1, normal)."""
    m = tiered(1)
    p = m.spawn()
    fill_node(m, 0)
    a = p.mmap(4, "rw")
    touch(p, a, 4)
    assert {m.page(p.pfn(a + i * PAGE))["node"] for i in range(4)} == {1}
    assert p._change_prot_numa(a, 4) == 4


def test_tiering_mode_skips_top_tier_and_stamps_slow_tier_pages():
    """kernel.numa_balancing = 2 (memory tiering without NORMAL): every
    top-tier page is skipped, even for a multi-threaded task; slow-tier
    pages become PROT_NONE and get the scan time (jiffies_to_msecs, here
    the virtual clock in ms) in their last_cpupid bits.  With mode 3 the
    top-tier pages are updated too."""
    m = tiered(2)
    p = m.spawn(threads=2)
    a = p.mmap(8, "rw")
    touch(p, a, 4, threads=p.threads[:1])          # pages 0-3 on node 0
    fill_node(m, 0)
    for i in range(4, 8):
        p.threads[0].store(a + i * PAGE)           # pages 4-7 fall back to node 1
    nodes = [m.page(p.pfn(a + i * PAGE))["node"] for i in range(8)]
    assert nodes == [0] * 4 + [1] * 4
    assert all(m.page(p.pfn(a + i * PAGE))["last_cpupid"] == LAST_CPUPID_MASK for i in range(8))
    v = m.vmstat()
    assert p._change_prot_numa(a, 8) == 4
    assert delta(m, v, ["numa_pte_updates"])["numa_pte_updates"] == 4
    for i in range(4):
        pte = p.pte(a + i * PAGE)
        assert pte["present"] and pte["write"]
    # jiffies at HZ=1000 start at INITIAL_JIFFIES (2**32 - 300000), so the
    # stamp is jiffies_to_msecs(jiffies) truncated to the cpupid bits
    initial_jiffies = 2**32 - 300_000
    stamp = (initial_jiffies + m.clock_ns // 1_000_000) & LAST_CPUPID_MASK
    for i in range(4, 8):
        pte = p.pte(a + i * PAGE)
        assert pte["protnone"] and not pte["present"]
        assert m.page(pte["pfn"])["last_cpupid"] == stamp
    m.set_sysctl("kernel.numa_balancing", 3)
    assert p._change_prot_numa(a, 8) == 4          # now the top-tier ones
    assert all(p.pte(a + i * PAGE)["protnone"] for i in range(8))
    assert m.oracle.violations == []


def test_hint_fault_restores_the_pte():
    """A load through a PROT_NONE PTE of an accessible VMA is a NUMA hint
    fault: do_numa_page counts numa_hint_faults (and _local when the page
    is on the faulting CPU's node), finds no better node (no placement
    policy yet) and restores the VMA's protection: young, and writable
    since the page is AnonExclusive in a writable private VMA.  Nothing is
    flushed (the old entry was not present)."""
    m = machine()
    p = m.spawn(threads=2)
    a = p.mmap(2, "rw")
    touch(p, a, 2, threads=p.threads[:1])
    p._change_prot_numa(a, 2)
    v = m.vmstat()
    p.threads[1].load(a)
    d = delta(m, v)
    assert d["numa_hint_faults"] == 1 and d["numa_hint_faults_local"] == 1 and d["pgfault"] == 1
    assert all(d[k] == 0 for k in TLB)
    pte = p.pte(a)
    assert pte["present"] and not pte["protnone"] and pte["young"] and pte["write"]
    v = m.vmstat()
    p.threads[0].store(a)                          # already writable: no fault
    p.threads[0].store(a + PAGE)                   # the other page: its own hint fault
    d = delta(m, v)
    assert d["pgfault"] == 1 and d["numa_hint_faults"] == 1
    assert p.pte(a + PAGE)["write"]
    assert m.oracle.violations == []


def test_hint_fault_in_read_only_vma_and_on_slow_tier():
    """In a read-only VMA the restored PTE is read-only; a slow-tier page's
    fault is not local."""
    m = tiered(2)
    p = m.spawn(threads=2)
    fill_node(m, 0)
    a = p.mmap(2, "rw")
    touch(p, a, 2, threads=p.threads[:1])
    p.mprotect(a, 2, "r")
    assert p._change_prot_numa(a, 2) == 2
    v = m.vmstat()
    p.threads[0].load(a)
    d = delta(m, v)
    assert d["numa_hint_faults"] == 1 and d["numa_hint_faults_local"] == 0
    assert p.pte(a)["present"] and not p.pte(a)["write"]
    segfaults(p.threads[0], a, True)
    # a write fault on the other PROT_NONE page of a read-only VMA: SIGSEGV
    segfaults(p.threads[0], a + PAGE, True)
    assert p.pte(a + PAGE)["protnone"]
    assert m.oracle.violations == []


def test_change_prot_numa_on_16_cpus():
    """One IPI round for the VMA; afterwards no CPU caches the pages, and
    each thread's first access to a page is a hint fault."""
    m = seed16(**{"kernel.numa_balancing": 1})
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    touch(p, a, 8, threads=p.threads[:1])
    touch(p, a, 8, write=False)
    v = m.vmstat()
    assert p._change_prot_numa(a, 8) == 8
    assert tlb(m, v) == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 15,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    assert all(T.tlb_probe(m, c, a + i * PAGE) is None for c in range(16) for i in range(8))
    v = m.vmstat()
    touch(p, a, 8, write=False)
    d = delta(m, v)
    assert d["numa_hint_faults"] == 8                # the first thread to reach each page
    assert all(d[k] == 0 for k in TLB)
    assert m.oracle.violations == []


def test_change_prot_numa_in_tiering_seed_machine_skips_node0():
    """The seed machine runs kernel.numa_balancing = 2: its anonymous pages
    on node 0 (top tier) are never made PROT_NONE."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    touch(p, a, 8, threads=p.threads[:1])
    v = m.vmstat()
    assert p._change_prot_numa(a, 8) == 0
    assert all(x == 0 for x in tlb(m, v).values())

