"""munmap(2) (mm/mmap.c do_vmi_munmap -> unmap_region, mm/memory.c
zap_pte_range / free_pgtables, mm/mmu_gather.c) on multi-CPU mms, checked
against the v6.6 code paths.

The shape of an unmap's flushes:
1. unmap_vmas: zap_pte_range clears each present PTE (a PROT_NONE one
   included: x86 pte_present covers _PAGE_PROTNONE) and records it with
   tlb_remove_tlb_entry; tlb_end_vma flushes that VMA's range with
   freed_tables = 0, so lazy CPUs are skipped (v6.6-rc5 tlb_is_not_lazy).
2. free_pgtables -> free_pgd_range frees the page tables nobody else can
   share (pte/pmd/pud_free_tlb set freed_tables) and tlb_finish_mmu flushes
   again, now with freed_tables = 1: every CPU in mm_cpumask gets it, lazy
   ones included (they switch to init_mm and leave the mask).
3. Only then are the gathered pages and tables freed.
No step looks at pte_accessible(): an unmap flushes PROT_NONE entries like
any other present entry (and its own tlb_gather_mmu raised
tlb_flush_pending, which would make them pte_accessible anyway).
"""

import random

import pytest

import kmm
from kmm import KmmStateError
from kmm.emu import testing as T

PAGE = 4096
TLB = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
       "nr_tlb_local_flush_all", "nr_tlb_local_flush_one")


def seed16(**sysctl):
    return kmm.Machine.preset("seed", sysctl=sysctl)


def small(**kw):
    return kmm.Machine(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 0, "mem": "64M"}],
                       kconfig={"CONFIG_DEBUG_VM": True}, **kw)


def delta(m, before, keys=None):
    after = m.vmstat()
    return {k: after[k] - before[k] for k in (keys or after) if isinstance(after[k], int)}


def tlb(m, before):
    return delta(m, before, TLB)


def touch(p, addr, npages, write=True, threads=None):
    for t in (threads or p.threads):
        for i in range(npages):
            (t.store if write else t.load)(addr + i * PAGE)


def segfaults(t, addr, write=False):
    with pytest.raises(KmmStateError, match="segmentation fault"):
        (t.store if write else t.load)(addr)


def cached_anywhere(m, addr, pfns):
    """Does any CPU still hold a translation of addr to one of pfns?"""
    return any(T.tlb_probe(m, c, addr) in pfns for c in range(m.nr_cpus))


def test_munmap_16_cpus_table_kept_one_ipi_round_then_free():
    """Unmapping the top half of a VMA: the remaining half shares the PTE
    table (floor = its end), so no table is freed and there is one flush,
    at tlb_end_vma: nr_tlb_remote_flush 1, received by the 15 other CPUs,
    8 local pages.  The 8 pages return to the free lists only after it, and
    no CPU keeps a translation to them."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(16, "rw")
    touch(p, a, 16, threads=p.threads[:1])
    touch(p, a, 16, write=False)
    top = a + 8 * PAGE
    pfns = {p.pfn(top + i * PAGE) for i in range(8)}
    v = m.vmstat()
    p.munmap(top, 8)
    d = delta(m, v)
    assert {k: d[k] for k in TLB} == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 15,
                                      "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    assert d["nr_free_pages"] == 8 and d["nr_page_table_pages"] == 0
    assert all(m.page(pfn)["refcount"] == 0 for pfn in pfns)      # freed (maybe merged into a buddy)
    assert not any(cached_anywhere(m, top + i * PAGE, pfns) for i in range(8))
    for t in p.threads:
        segfaults(t, top)
        t.load(a + 7 * PAGE)
        t.store(a)
    assert p.rss == (8, 0)
    assert m.oracle.violations == [] and m.check_invariants() == []


def test_munmap_16_cpus_tables_freed_two_ipi_rounds():
    """Unmapping a process's only VMA also frees its PTE, PMD and PUD
    tables: a second flush with freed_tables at tlb_finish_mmu (its range
    spans 512G-aligned .. PTE table: full), so two IPI rounds."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    touch(p, a, 8, threads=p.threads[:1])
    touch(p, a, 8, write=False)
    v = m.vmstat()
    p.munmap(a, 8)
    d = delta(m, v)
    assert {k: d[k] for k in TLB} == {"nr_tlb_remote_flush": 2, "nr_tlb_remote_flush_received": 30,
                                      "nr_tlb_local_flush_all": 1, "nr_tlb_local_flush_one": 8}
    # the PUD table is a plain page: NR_PAGETABLE counts the PMD and PTE tables
    assert d["nr_free_pages"] == 8 + 3 and d["nr_page_table_pages"] == -2
    for t in p.threads:
        segfaults(t, a)
    # new faults rebuild the tables
    b = p.mmap(1, "rw")
    p.threads[5].store(b)
    assert m.oracle.violations == [] and m.check_invariants() == []


def test_lazy_cpus_skipped_for_ptes_but_flushed_for_freed_tables():
    """CPUs 8..15 idle (lazy, still in mm_cpumask).  A partial unmap (no
    table freed) reaches the 7 non-lazy remote CPUs only.  An unmap that
    frees tables: round 1 (PTEs) again 7, round 2 (freed_tables) all 15;
    the lazy CPUs then switch to init_mm and leave mm_cpumask."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(16, "rw")
    touch(p, a, 16, threads=p.threads[:1])
    touch(p, a, 16, write=False)
    for c in range(8, 16):
        m.idle(c)
    v = m.vmstat()
    p.munmap(a + 12 * PAGE, 4)
    assert tlb(m, v) == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 7,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 4}
    assert p.mm_cpumask == list(range(16))
    v = m.vmstat()
    p.munmap(a, 12)
    assert tlb(m, v) == {"nr_tlb_remote_flush": 2, "nr_tlb_remote_flush_received": 7 + 15,
                         "nr_tlb_local_flush_all": 1, "nr_tlb_local_flush_one": 12}
    assert p.mm_cpumask == list(range(8))
    assert all(T.tlb_cpu_state(m, c)["loaded_mm"] is None for c in range(8, 16))   # init_mm
    assert m.oracle.violations == []


def test_lazy_cpu_returning_after_unmap_does_not_use_old_translation():
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    touch(p, a, 8)
    m.idle(9)
    p.munmap(a + 4 * PAGE, 4)                      # lazy CPU 9 not flushed
    assert T.tlb_probe(m, 9, a + 4 * PAGE) is not None
    p.threads[9].run()                             # switch_mm: slot behind tlb_gen -> flush
    segfaults(p.threads[9], a + 4 * PAGE)
    p.threads[9].load(a)
    assert m.oracle.violations == []


def test_munmap_over_two_vmas_flushes_once_per_vma():
    """tlb_end_vma after each VMA: two IPI rounds; a third mapping below
    keeps the PTE table (floor), so there is no table-freeing round."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(4, "rw")
    b = p.mmap(4, "rwx")
    c = p.mmap(4, "r")
    assert len(p.vmas()) == 3 and c + 4 * PAGE == b
    touch(p, b, 8, threads=p.threads[:1])
    touch(p, b, 8, write=False)
    v = m.vmstat()
    p.munmap(b, 8)
    assert tlb(m, v) == {"nr_tlb_remote_flush": 2, "nr_tlb_remote_flush_received": 30,
                         "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 8}
    assert [(x["start"], x["end"]) for x in p.vmas()] == [(c, c + 4 * PAGE)]
    assert m.oracle.violations == []


@pytest.mark.parametrize("how", ["numa", "prot_none"])
def test_munmap_of_prot_none_ptes_flushes_like_present_ones(how):
    """PROT_NONE entries (NUMA hinting, or an mprotect(PROT_NONE) VMA) are
    pte_present on x86, so zap_pte_range records them in the gather and
    tlb_end_vma flushes them exactly as it would present ones; the kernel
    does not ask pte_accessible() here.  Both CPUs of the mm: one round."""
    m = small()
    p = m.spawn(threads=2)
    a = p.mmap(8, "rw")
    touch(p, a, 8, threads=p.threads[:1])
    touch(p, a, 8, write=False)
    if how == "numa":
        assert p._change_prot_numa(a + 4 * PAGE, 4) == 4
    else:
        p.mprotect(a + 4 * PAGE, 4, "none")
    assert p.pte(a + 4 * PAGE)["protnone"]
    v = m.vmstat()
    p.munmap(a + 4 * PAGE, 4)
    d = delta(m, v)
    assert {k: d[k] for k in TLB} == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 1,
                                      "nr_tlb_local_flush_all": 0, "nr_tlb_local_flush_one": 4}
    assert d["nr_free_pages"] == 4 and p.rss == (4, 0)
    assert p.tlb_flush_pending == 0
    # the same unmap of present PTEs, for comparison
    v = m.vmstat()
    p.munmap(a + 2 * PAGE, 2)
    assert tlb(m, v)["nr_tlb_remote_flush"] == 1 and tlb(m, v)["nr_tlb_local_flush_one"] == 2
    assert m.oracle.violations == [] and m.check_invariants() == []


def test_munmap_of_never_touched_range_flushes_nothing():
    """No PTE was ever set (no table either): nothing is recorded, so
    tlb_end_vma has nothing to flush and no table is freed."""
    m = seed16()
    p = m.spawn(threads=16)
    a = p.mmap(8, "rw")
    b = p.mmap(8, "rw")
    touch(p, a, 8, write=False)                    # zero page in a; b untouched
    v = m.vmstat()
    p.munmap(b, 4)
    assert all(x == 0 for x in tlb(m, v).values())


def test_no_stale_translation_while_threads_run_around_mm_operations():
    """A random sequence of mprotect, change_prot_numa, munmap and mmap
    with all 16 threads loading and storing between them: every access
    either works or segfaults exactly as the VMAs say, and the oracle sees
    no stale or freed translation."""
    rng = random.Random(1)
    m = seed16(**{"kernel.numa_balancing": 1})
    p = m.spawn(threads=16)
    n = 24
    a = p.mmap(n, "rw")
    prot = ["rw"] * n                              # model: None = unmapped
    touch(p, a, n, threads=p.threads[:1])
    for step in range(40):
        op = rng.choice(["mprotect", "mprotect", "numa", "munmap", "remap"])
        i = rng.randrange(n)
        k = rng.randint(1, n - i)
        if op == "mprotect" and all(x is not None for x in prot[i:i + k]):
            new = rng.choice(["r", "rw", "none"])
            p.mprotect(a + i * PAGE, k, new)
            prot[i:i + k] = [new] * k
        elif op == "numa":
            p._change_prot_numa(a + i * PAGE, k, cpu=rng.randrange(16))
        elif op == "munmap":
            p.munmap(a + i * PAGE, k)
            prot[i:i + k] = [None] * k
        elif op == "remap" and all(x is None for x in prot):
            a = p.mmap(n, "rw")
            prot = ["rw"] * n
        for t in rng.sample(p.threads, 6):
            for j in rng.sample(range(n), 6):
                write = rng.random() < 0.5
                allowed = prot[j] is not None and prot[j] != "none" and (not write or prot[j] == "rw")
                if allowed:
                    (t.store if write else t.load)(a + j * PAGE)
                else:
                    segfaults(t, a + j * PAGE, write)
    assert m.oracle.violations == []
    assert m.check_invariants() == []
    assert m.oracle.checks > 0
