"""Page-table isolation (CONFIG_PAGE_TABLE_ISOLATION) as v6.6 does it, and
what the perf flush events count under it.

Expected values are derived from the kernel's paths:
- arch/x86/mm/pti.c pti_check_boottime_disable: PTI is on when the CPU has
  Meltdown (the L1TF CPU does) unless 'nopti' or 'pti=off'; 'pti=on'
  forces it; 'pti=auto' ignores 'nopti'.
- arch/x86/entry/calling.h: an entry from user mode writes CR3 with NOFLUSH
  to the kernel PCID; the return writes the user PCID (bit 11) and user PGD
  (bit 12), without NOFLUSH exactly when the kernel set the slot's bit in
  user_pcid_flush_mask (invalidate_user_asid).
- arch/x86/mm/tlb.c: flush_tlb_local = invalidate_user_asid + a flushing
  CR3 write of the kernel PCID; flush_tlb_one_user = INVLPG + INVPCID type 0
  on the user PCID.
- The flush events (docs/tlb.md): each INVLPG, INVPCID and flushing CR3 write
  adds one to itlb.itlb_flush, tlb_flush.dtlb_thread and tlb_flush.stlb_any;
  a NOFLUSH CR3 write adds nothing unless cpu.cr3_noflush_counts says so.
"""

import pytest

import kmm
from kmm.emu import testing as T
from kmm.emu.config import KmmConfigError

PAGE = 4096
L1TF_40 = {"x86_bug_l1tf": True, "x86_phys_bits": 40}
TIERING = {"kernel.numa_balancing": 2, "vm.demotion_enabled": 1}
EVENTS = ("itlb.itlb_flush", "tlb_flush.dtlb_thread", "tlb_flush.stlb_any")


def machine(cpus=4, cmdline=None, cpu=None, **kconfig):
    return kmm.Machine(nodes=[{"cpus": cpus, "mem": "64M"}, {"cpus": 0, "mem": "128M"}],
                       sysctl=TIERING, cpu=dict(L1TF_40, **(cpu or {})), cmdline=cmdline,
                       kconfig=kconfig or None)


def flush_events(m, cpu):
    p = m.perf(cpu=cpu)
    return tuple(p[e] for e in EVENTS)


def tlb(m, before):
    after = m.vmstat()
    return {k: after[k] - before[k] for k in ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
                                              "nr_tlb_local_flush_all", "nr_tlb_local_flush_one")}


# -- the boot decision -------------------------------------------------------------

@pytest.mark.parametrize("cpu, cmdline, kconfig, pti", [
    (L1TF_40, None, None, True),                               # Meltdown: auto -> on
    ({"x86_bug_cpu_meltdown": True}, None, None, True),
    ({}, None, None, False),                                   # no Meltdown: auto -> off
    (L1TF_40, "nopti", None, False),
    (L1TF_40, "pti=off", None, False),
    ({}, "pti=on", None, True),                                # forced on
    (L1TF_40, "pti=auto nopti", None, True),                   # auto skips the nopti test
    (L1TF_40, "pti=on", {"CONFIG_PAGE_TABLE_ISOLATION": False}, False),   # not built in
])
def test_pti_check_boottime_disable(cpu, cmdline, kconfig, pti):
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "8M"}], cpu=cpu, cmdline=cmdline, kconfig=kconfig)
    assert m.pti is pti
    assert m.cmdline["text"] == (cmdline or "")


def test_seed_preset_boots_with_pti():
    m = kmm.Machine.preset("seed", nodes=[{"cpus": 2, "mem": "16M"}, {"cpus": 0, "mem": "16M"}])
    assert m.pti is True
    assert kmm.Machine.preset("seed", nodes=[{"cpus": 2, "mem": "16M"}, {"cpus": 0, "mem": "16M"}],
                              cmdline="nopti").pti is False


@pytest.mark.parametrize("cmdline, match", [
    ("pti=maybe", r"cmdline: unknown or malformed parameter 'pti=maybe'; accepted: nopti, pti=on"),
    ("nopti nopti", r"cmdline: 'nopti' given twice"),
    ("pti=on pti=off", r"cmdline: 'pti' given twice"),
    ("mitigations=off", r"'mitigations=off' is not mirrored"),
    (3, r"cmdline: expected a string"),
])
def test_bad_cmdline(cmdline, match):
    with pytest.raises(KmmConfigError, match=match):
        kmm.Machine(nodes=[{"cpus": 1, "mem": "8M"}], cmdline=cmdline)


def test_l1tf_without_meltdown_is_refused():
    with pytest.raises(KmmConfigError, match=r"x86_bug_l1tf=1 needs cpu.x86_bug_cpu_meltdown=1"):
        kmm.Machine(nodes=[{"cpus": 1, "mem": "8M"}],
                    cpu={"x86_bug_l1tf": True, "x86_bug_cpu_meltdown": False})


@pytest.mark.parametrize("key, value", [("cr3_noflush_counts", "some"), ("itlb_per_structure", 3),
                                        ("itlb_per_structure", 1.0), ("cr3_noflush_counts", 1),
                                        ("pf_invalidation_counts", True),
                                        ("itlb_invpcid_other_pcid", None)])
def test_bad_flush_event_options(key, value):
    with pytest.raises(KmmConfigError, match=rf"cpu.{key}: {value!r}; accepted: "):
        kmm.Machine(nodes=[{"cpus": 1, "mem": "8M"}], cpu={key: value})


def test_order1_pgd_only_with_config_page_table_isolation():
    """arch/x86/include/asm/pgalloc.h PGD_ALLOCATION_ORDER: two pages with
    CONFIG_PAGE_TABLE_ISOLATION, whether PTI is on at boot or not."""
    for kconfig, cmdline, pages in (({}, None, 2), ({}, "nopti", 2),
                                    ({"CONFIG_PAGE_TABLE_ISOLATION": False}, None, 1)):
        m = machine(cpus=1, cmdline=cmdline, **kconfig)
        free = m.vmstat()["nr_free_pages"]
        m.spawn()
        assert free - m.vmstat()["nr_free_pages"] == pages


# -- a full flush: one migrate batch on a 4-CPU machine ---------------------------------

def demote_batch(m, n=4):
    """4 threads on CPUs 0..3 cache n written pages; CPU 0 demotes them: one
    batched flush (arch_tlbbatch_flush) of the mm on all four CPUs."""
    p = m.spawn(threads=4)
    a = p.mmap(n)
    for i in range(n):
        p.threads[0].store(a + i * PAGE)
    for t in p.threads:
        for i in range(n):
            t.load(a + i * PAGE)
    m.perf_reset()
    before = m.vmstat()
    assert m.migrate(p, a, n, node=1, reason="demotion", cpu=0) == n
    return p, a, tlb(m, before)


def test_full_flush_ipi_under_pti_is_two_flushes_per_cpu():
    """Every CPU runs the thread in user mode.  CPU 0 enters the kernel
    (NOFLUSH: 0), flushes locally (flush_tlb_local: a flushing CR3 write, 1,
    and the user PCID marked) and returns to user mode (the marked user PCID:
    a flushing CR3 write, 1): 2/2/2.  CPUs 1..3 take the IPI from user mode:
    the same three writes, 2/2/2 each."""
    m = machine()
    p, a, d = demote_batch(m)
    assert d == {"nr_tlb_remote_flush": 1, "nr_tlb_remote_flush_received": 3,
                 "nr_tlb_local_flush_all": 1, "nr_tlb_local_flush_one": 0}
    assert [flush_events(m, c) for c in range(4)] == [(2, 2, 2)] * 4
    for c in range(4):
        s = T.tlb_cpu_state(m, c)
        asid = s["loaded_mm_asid"]
        # back in user mode: user PGD (bit 12) and user PCID (bit 11) in CR3
        assert s["cr3"] & 0x1FFF == 0x1000 | 0x800 | (asid + 1)
        assert T.tlb_probe(m, c, a) is None                  # the user PCID was flushed
    for t in p.threads:
        t.load(a)                                            # walks to the node-1 page
    assert m.oracle.violations == []


@pytest.mark.parametrize("option, per_cpu", [("stlb", (2, 2, 3)), ("stlb+dtlb", (2, 3, 3)),
                                             ("all", (3, 3, 3))])
def test_noflush_cr3_writes_counted_when_the_cpu_model_says_so(option, per_cpu):
    """The one NOFLUSH write per CPU (its kernel entry) counts where the
    cr3_noflush_counts option says; the two flushing writes as before."""
    m = machine(cpu={"cr3_noflush_counts": option})
    demote_batch(m)
    assert [flush_events(m, c) for c in range(4)] == [per_cpu] * 4


def test_full_flush_without_pti_is_one_flush_per_cpu():
    """nopti: no CR3 switch at entry or exit; flush_tlb_local is the one
    flushing CR3 write of the (only) PCID: 1/1/1 per CPU."""
    m = machine(cmdline="nopti", cpu={"cr3_noflush_counts": "all"})
    assert m.pti is False
    p, a, d = demote_batch(m)
    assert d["nr_tlb_remote_flush_received"] == 3 and d["nr_tlb_local_flush_all"] == 1
    assert [flush_events(m, c) for c in range(4)] == [(1, 1, 1)] * 4
    assert T.tlb_cpu_state(m, 1)["cr3"] & 0x1800 == 0


def test_an_ipi_to_an_idle_cpu_switches_no_cr3():
    """A lazy idle CPU (kernel mode) is skipped by the shootdown (v6.6-rc5
    tlb_is_not_lazy), and nothing is written on it."""
    m = machine()
    m.spawn(threads=4)
    m.idle(3)
    m.perf_reset()
    p = m.processes[0]
    a = p.mmap(2)
    for t in p.threads[:3]:
        t.store(a)
    m.perf_reset()
    before = m.vmstat()
    assert m.migrate(p, a, 1, node=1, reason="demotion", cpu=0) == 1
    assert tlb(m, before)["nr_tlb_remote_flush_received"] == 2
    assert flush_events(m, 3) == (0, 0, 0)


# -- a ranged flush: flush_tlb_one_user under PTI -----------------------------------------

@pytest.mark.parametrize("option, itlb", [("count", 16), ("skip", 8)])
def test_ranged_flush_is_invlpg_and_invpcid_per_page(option, itlb):
    """mprotect(8 pages, r) by a one-CPU process: tlb_finish_mmu's range of 8
    pages <= 33 is flushed locally page by page, each INVLPG (the kernel
    PCID) + INVPCID type 0 on the user PCID: 16 dtlb/stlb; the INVPCID names
    another PCID than the current one, so itlb follows the option.  No user
    PCID is marked, so the return to user mode is NOFLUSH.  The user PCID's
    writable entries are gone: the next store faults (no stale write)."""
    m = machine(cpus=1, cpu={"itlb_invpcid_other_pcid": option})
    p = m.spawn()
    a = p.mmap(8, "rw")
    for i in range(8):
        p.threads[0].store(a + i * PAGE)
    m.perf_reset()
    before = m.vmstat()
    p.mprotect(a, 8, "r")
    assert tlb(m, before)["nr_tlb_local_flush_one"] == 8
    assert flush_events(m, 0) == (itlb, 16, 16)
    assert T.tlb_probe(m, 0, a) is None
    with pytest.raises(kmm.KmmError):
        p.threads[0].store(a)
    assert m.oracle.violations == []


def test_ranged_flush_without_pti_is_invlpg_per_page():
    m = machine(cpus=1, cmdline="nopti")
    p = m.spawn()
    a = p.mmap(8, "rw")
    for i in range(8):
        p.threads[0].store(a + i * PAGE)
    m.perf_reset()
    p.mprotect(a, 8, "r")
    assert flush_events(m, 0) == (8, 8, 8)


# -- page faults ----------------------------------------------------------------------------

@pytest.mark.parametrize("option, counted", [("none", 0), ("protection_only", 0), ("all", 1)])
def test_a_not_present_fault_counts_by_the_cpu_model(option, counted):
    """A first touch: #PF on a not-present PTE.  Under PTI its entry and exit
    are NOFLUSH CR3 writes (0 by default); the fault's invalidation counts in
    dtlb/stlb only with pf_invalidation_counts=all."""
    m = machine(cpus=1, cpu={"pf_invalidation_counts": option})
    p = m.spawn()
    a = p.mmap(1, "rw")
    m.perf_reset()
    p.threads[0].load(a)
    assert flush_events(m, 0) == (0, counted, counted)


# -- every kernel entry from user mode, counted ------------------------------------------

def noflush_writes(m, cpu):
    """NOFLUSH CR3 writes on cpu: with cr3_noflush_counts=stlb they are
    what stlb_any counts beyond dtlb_thread."""
    itlb, dtlb, stlb = flush_events(m, cpu)
    return stlb - dtlb


def test_a_fault_from_user_mode_is_an_entry_and_an_exit():
    """First touch of a page by a thread in user mode: error_entry's
    SWITCH_TO_KERNEL_CR3 and the return's SWITCH_TO_USER_CR3, both NOFLUSH
    (nothing asked the user PCID to be flushed): 2; the fault's own
    invalidation adds nothing by default."""
    m = machine(cpus=1, cpu={"cr3_noflush_counts": "stlb"})
    p = m.spawn()
    a = p.mmap(2, "rw")
    assert T.tlb_cpu_state(m, 0)["cpl"] == 3                 # spawn returned to user mode
    m.perf_reset()
    p.threads[0].load(a)
    assert flush_events(m, 0) == (0, 0, 2) and noflush_writes(m, 0) == 2
    m.perf_reset()
    p.threads[0].load(a)                                     # a TLB hit: no entry at all
    assert flush_events(m, 0) == (0, 0, 0)


def test_a_system_call_and_a_tick_are_one_entry_each():
    """mprotect() of an unpopulated range: entry_SYSCALL_64 + the sysret
    path, NOFLUSH both (no PTE changed, no flush).  A scheduler tick on the
    thread's CPU: the same pair."""
    m = machine(cpus=1, cpu={"cr3_noflush_counts": "stlb"})
    p = m.spawn()
    a = p.mmap(4, "rw")
    m.perf_reset()
    p.mprotect(a, 4, "r")
    assert noflush_writes(m, 0) == 2 and flush_events(m, 0)[1] == 0
    m.perf_reset()
    p.threads[0].task_tick_numa(1000)
    assert noflush_writes(m, 0) == 2


def test_entries_are_balanced_after_a_run():
    """After an engine run every CPU has left every kernel entry, and a CPU
    whose current task is a user task is in user mode."""
    from kmm.workloads.xsbench import XSBench
    m = kmm.Machine.preset("seed", nodes=[{"cpus": 4, "mem": "16M"}, {"cpus": 0, "mem": "64M"}],
                           sysctl={"kernel.numa_balancing_scan_delay_ms": 0,
                                   "kernel.numa_balancing_scan_period_min_ms": 100})
    r = m.run(XSBench(size="small", scale=0.01, particles=400, threads=4))
    assert r["finished"] and r["oracle_violations"] == 0
    for c in range(4):
        # the run's process has exited: every CPU runs its idle task, in the kernel
        s = T.tlb_cpu_state(m, c)
        assert s["kernel_depth"] == 0 and m.current(c)[1] == f"swapper/{c}" and s["cpl"] == 0
