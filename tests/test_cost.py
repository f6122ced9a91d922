"""The cost model (kmm/emu/hw/cost.pxd, costs.py; docs/cost-model.md): what
kernel work costs and where the time lands.

Each test sets a few operations' costs on the zero preset, so the expected
times follow by hand from the mirrored code path's operations; the
derivation is in each docstring.  The zero preset's counters are the golden
file's (tests/test_golden.py)."""

import numpy as np
import pytest

import kmm
from kmm import KmmConfigError
from kmm.emu import testing as T
from kmm.emu.hw import costs
from kmm.workloads.trace import Trace

PAGE = 4096
BASE = 0x7F0000000000


def machine(cpus=2, mem="16M", **cost):
    return kmm.Machine([{"cpus": cpus, "mem": mem}], cost=dict(cost, preset="zero"))


def times(m, cpu):
    return dict(m.cpu_time()[cpu])


def delta(before, after):
    return {k: after[k] - before[k] for k in before}


# -- the table ----------------------------------------------------------------------

def test_ops_match_the_charge_indices():
    """costs.OPS is indexed by the KMM_COST_* the charges use: each name sits
    at its C index, and setting one op's cost puts it in that slot of the
    machine's kmm_cost_ns[] and nowhere else."""
    idx = T.cost_indices()
    assert idx.pop("NR_KMM_COSTS") == len(costs.OPS)
    assert {op: costs.OPS.index(op) for op in costs.OPS} == idx
    for op in costs.OPS:
        table = T.cost_ns(machine(**{op: 1000 + idx[op]}))
        assert table == [1000 + idx[op] if i == idx[op] else 0 for i in range(len(costs.OPS))]


def test_every_preset_cost_has_a_source():
    for name in costs.PRESETS:
        for op, ns, what, source in costs.table(name):
            assert isinstance(ns, int) and ns >= 0 and what and source, (name, op)
    assert all(ns == 0 for _, ns, _, _ in costs.table("zero"))
    # the KVM guest differs from bare metal where a VM exit is involved
    kvm, sky = dict((o, n) for o, n, _, _ in costs.table("kvm")), \
        dict((o, n) for o, n, _, _ in costs.table("skylake"))
    assert kvm["ipi_send"] > sky["ipi_send"]


@pytest.mark.parametrize("cost, match", [
    ("warp", "preset 'warp'"),
    ({"preset": "kvm", "fault": -1}, "fault=-1"),
    ({"preset": "kvm", "fault": True}, "fault=True"),
    ({"preset": "kvm", "tlb": 5}, "unknown operation 'tlb'"),
    (3, "accepted: a preset"),
])
def test_bad_cost_is_refused(cost, match):
    with pytest.raises(KmmConfigError, match=match):
        kmm.Machine([{"cpus": 1, "mem": "16M"}], cost=cost)


def test_default_machine_is_free():
    m = kmm.Machine([{"cpus": 1, "mem": "16M"}])
    assert m.cost["preset"] == "zero" and not any(m.cost["ns"].values())


# -- one fault ------------------------------------------------------------------------

def test_one_read_fault_then_write_fault():
    """A load of an untouched anonymous page: one page-fault exception
    (fault) and do_anonymous_page maps the zero page with one set_pte_at
    (pte_update): 1000 + 10 ns of sys time on the faulting CPU, owed to
    its task (pending).  The store that follows write-faults on the zero
    page: wp_page_copy allocates a zeroed page (no copy from the zero
    page), clears the old PTE (ptep_clear_flush: one PTE write, then
    flush_tlb_page on this CPU alone: one INVLPG) and sets the new one:
    1000 + 10 + 10 + 5 ns.  Nothing lands on the other CPU."""
    m = machine(fault=1000, pte_update=10, invlpg=5, copy_page=100000)
    p = m.spawn(threads=1, cpus=[0])
    a = p.mmap(4)
    t0 = times(m, 0)
    p.threads[0].load(a)
    t1 = times(m, 0)
    assert delta(t0, t1) == {"user_ns": 0, "sys_ns": 1010, "irq_ns": 0, "kthread_ns": 0,
                             "pending_ns": 1010}
    p.threads[0].store(a)
    assert delta(t1, times(m, 0))["sys_ns"] == 1025
    assert m.cpu_time()[1] == times(kmm.Machine([{"cpus": 2, "mem": "16M"}]), 1)


# -- one IPI round -------------------------------------------------------------------

def test_ipi_round_initiator_waits_for_the_slowest_receiver():
    """A batched flush of an mm loaded on 16 CPUs, from CPU 0
    (arch_tlbbatch_flush, as in test_tlb.test_batch_flush_16_cpus): each of
    the 15 receivers takes the interrupt (irq 50) and, behind by 32
    generations, flushes its PCID with one CR3 write (7): 57 ns of irq
    time each.  The initiator sends 15 IPIs (15 x 100), runs its own
    handler meanwhile (one CR3 write: 7) and then waits from the sends
    until the slowest ack: ipi_ack_wait 1000 + 57, less the 7 it spent on
    its own handler: 1500 + 7 + 1050 = 2557 ns of sys time."""
    m = machine(cpus=16, ipi_send=100, ipi_ack_wait=1000, irq=50, cr3_write=7)
    mm = T.tlb_new_mm(m)
    for c in range(16):
        T.tlb_switch_mm(m, c, mm)
    t0 = m.cpu_time()
    for i in range(32):
        T.tlb_batch_add(m, 0, mm, BASE + i * PAGE)
    T.tlb_batch_flush(m, 0)
    t1 = m.cpu_time()
    assert delta(t0[0], t1[0])["sys_ns"] == 2557
    assert delta(t0[0], t1[0])["irq_ns"] == 0
    for c in range(1, 16):
        d = delta(t0[c], t1[c])
        assert (d["irq_ns"], d["sys_ns"], d["pending_ns"]) == (57, 0, 57), c


def test_ipi_wait_is_overlapped_by_a_slower_local_handler():
    """When the initiator's own handler takes longer than ack latency plus
    the slowest remote handler, it does not wait at all: with
    ipi_ack_wait 0, irq 0 and a CR3 write of 7 everywhere, the remote
    handlers take 7 and the local one 7: send 100 + local 7 + wait 0."""
    m = machine(cpus=2, ipi_send=100, cr3_write=7)
    mm = T.tlb_new_mm(m)
    for c in range(2):
        T.tlb_switch_mm(m, c, mm)
    t0 = m.cpu_time()
    T.tlb_batch_add(m, 0, mm, BASE)
    T.tlb_batch_flush(m, 0)
    t1 = m.cpu_time()
    assert delta(t0[0], t1[0])["sys_ns"] == 107
    assert delta(t0[1], t1[1])["irq_ns"] == 7


# -- one demotion batch on N CPUs ----------------------------------------------------------

@pytest.mark.parametrize("ncpus", [1, 4])
def test_demotion_batch_on_n_cpus(ncpus):
    """Machine.migrate(reason='demotion') of 8 pages of a process whose
    threads run on CPUs 0..N-1, from CPU 0.  With only copy_page (1000),
    ipi_send (100), ipi_ack_wait (300), irq (20), cr3_write (5) and invlpg
    (3) costed: each page is copied once (8 x 1000).  With N > 1 other CPUs
    may cache the mm, so the unmaps are batched (TTU_BATCH_FLUSH,
    should_defer_flush) and flushed once by try_to_unmap_flush: an IPI
    round to the other N-1 CPUs, each behind on the mm's generation so
    flushing with one CR3 write (irq 20 + 5 = 25 each), the initiator
    paying (N-1) x 100 + its own CR3 write 5 + wait (300 + 25 - 5).  With
    N = 1 nothing is deferred: each unmap flushes its page at once
    (ptep_clear_flush, one INVLPG: 8 x 3)."""
    m = kmm.Machine([{"cpus": ncpus, "mem": "16M"}, {"cpus": 0, "mem": "16M"}],
                    cost={"preset": "zero", "copy_page": 1000, "ipi_send": 100,
                          "ipi_ack_wait": 300, "irq": 20, "cr3_write": 5, "invlpg": 3})
    p = m.spawn(threads=ncpus, cpus=list(range(ncpus)))
    a = p.mmap(8)
    for i in range(8):
        p.threads[i % ncpus].store(a + i * PAGE)
    for c in range(ncpus):                   # every CPU has used the mm's translations
        p.threads[c].load(a)
    t0 = m.cpu_time()
    assert m.migrate(p, a, 8, node=1, reason="demotion", cpu=0) == 8
    t1 = m.cpu_time()
    flush = 8 * 3 if ncpus == 1 else (ncpus - 1) * 100 + 5 + (300 + 25 - 5)
    assert delta(t0[0], t1[0])["sys_ns"] == 8 * 1000 + flush
    for c in range(1, ncpus):
        assert delta(t0[c], t1[c])["irq_ns"] == 25


# -- time flows from cost ------------------------------------------------------------------

def test_fault_time_lengthens_the_run():
    """One thread stores once to each of 1000 untouched pages (a trace,
    100 ns per access).  Free kernel: 0.1 ms of accesses, done in the first
    tick.  With a 2000 ns fault: 1000 faults are 2 ms of sys time on top of
    0.1 ms of user time, which the engine takes from the thread's ticks
    (1 ms each): the trace ends in the third tick.  The CPU time says so
    exactly: user 1000 x 100 ns, sys 1000 x 2000 ns."""
    tr = np.array([[0, i, 1] for i in range(1000)])
    runs = {}
    for fault in (0, 2000):
        m = kmm.Machine([{"cpus": 1, "mem": "64M"}], cost={"preset": "zero", "fault": fault})
        runs[fault] = m.run(Trace(tr, ns_per_access=100.0))
    assert runs[0]["virtual_s"] == pytest.approx(0.001)
    assert runs[2000]["virtual_s"] == pytest.approx(0.003)
    ct = runs[2000]["cpu_time"]["per_cpu"][0]
    assert ct["user"] == pytest.approx(1000 * 100e-9)
    assert ct["sys"] == pytest.approx(1000 * 2000e-9)
    assert runs[0]["vmstat"]["pgfault"] == runs[2000]["vmstat"]["pgfault"]


def test_kswapd_takes_its_time_from_the_thread_it_shares_a_cpu_with():
    """kswapd shares its CPU with the workload thread as CFS shares two
    equal-weight tasks: TICK/2 of CPU time per tick while both are
    runnable, what one balance pass overdraws paid back in later ticks.
    A 1-CPU node under NUMA-tiering pressure (GUPS over a table 3x node 0),
    with reclaim scanning made costly (lru_scan 20 us per folio): kswapd's
    CPU time is at most half the run (plus one pass: at most ~500 folios,
    10 ms), all of it scanning, and the single thread, which does the same accesses in the same
    user time as with free reclaim, finishes later by exactly the time
    kswapd took from it (within a tick of rounding at each end)."""
    from kmm.workloads.gups import GUPS
    runs = {}
    for lru in (0, 20000):
        m = kmm.Machine([{"cpus": 1, "mem": "8M"}, {"cpus": 0, "mem": "64M"}],
                        sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1,
                                "kernel.numa_balancing_scan_delay_ms": 0,
                                "kernel.numa_balancing_scan_period_min_ms": 10},
                        cost={"preset": "zero", "lru_scan": lru})
        runs[lru] = m.run(GUPS(table=24 << 20, updates=2000000, threads=1, seed=1), until=2)
    free, costly = runs[0], runs[20000]
    assert free["finished"] and costly["finished"]
    ct = costly["cpu_time"]["per_cpu"][0]
    assert costly["vmstat"]["pgscan_kswapd"] > 0
    # every folio isolate_lru_folios scanned: the inactive lists' (pgscan_kswapd)
    # and the active lists' (pgrefill; only kswapd reclaims here)
    v = costly["vmstat"]
    assert ct["kthread"] == pytest.approx((v["pgscan_kswapd"] + v["pgrefill"]) * 20e-6)
    assert 0 < ct["kthread"] <= 0.5 * costly["virtual_s"] + 0.01
    assert ct["user"] == pytest.approx(free["cpu_time"]["per_cpu"][0]["user"])
    assert costly["virtual_s"] - free["virtual_s"] == pytest.approx(ct["kthread"], abs=0.002)


def test_docs_table_is_the_code_table():
    """docs/cost-model.md shows each operation's cost in both presets as
    kmm/emu/hw/costs.py has it."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "docs" / "cost-model.md").read_text()
    rows = {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^\| `(\w+)` \| [^|]+ \| (\d+) \| (\d+) \|", text, re.M)}
    want = {op: (sky, kvm) for (op, sky, _, _), (_, kvm, _, _)
            in zip(costs.table("skylake"), costs.table("kvm"))}
    assert rows == want
