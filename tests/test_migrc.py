"""The seed patch (CONFIG_MIGRC) end to end: a read-mostly tiering workload
saves remote TLB flushes and stays coherent; without do_wp_page's flush
(mm/memory.c#1) a write to a deferred page is read stale by the other CPUs.
The per-hunk tests are in tests/hunks/.

The machine is the seed's shape at a smaller size (16 CPUs + 64 MiB on
node 0, CPU-less 128 MiB node 1, tiering mode, demotion on, the L1TF guest
CPU whose migration entries keep neither young nor dirty).  The workload
is 32 anonymous pages of one 16-thread process, in rounds of what NUMA
tiering does to them: demotion by reclaim, then the NUMA scan
(change_prot_numa) and hint faults that promote them back read-only
(a PROT_NONE PTE has no write bit, the entry no dirty bit), with every
thread reading every page in between."""

import pytest

import kmm

PAGE = 4096
MS = 1_000_000
N = 32
ROUNDS = 4


def machine(migrc, ablate=()):
    return kmm.Machine(nodes=[{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "128M"}],
                       sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
                       cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40},
                       kconfig={"CONFIG_MIGRC": migrc}, ablate=list(ablate))


def read_all(p, a):
    for t in p.threads:
        for i in range(N):
            t.load(a + i * PAGE)


def workload(m):
    """Returns (process, base address, vmstat before the rounds)."""
    p = m.spawn(threads=16)
    a = p.mmap(N)
    for i in range(N):
        p.threads[0].store(a + i * PAGE)
    read_all(p, a)
    assert m.migrate(p, a, N, node=1) == N          # writable pages: flushed either way
    read_all(p, a)
    before = m.vmstat()
    for r in range(ROUNDS):
        assert p._change_prot_numa(a, N) == N        # the NUMA scan
        m._clock_advance_ns(10 * MS)
        for i in range(N):
            p.threads[i % 16].load(a + i * PAGE)     # hint faults: promoted, read-only
        read_all(p, a)
        assert m.migrate(p, a, N, node=1) == N      # reclaim demotes them again
        read_all(p, a)
    return p, a, before


@pytest.mark.parametrize("migrc", [False, True], ids=["v6.6", "migrc"])
def test_read_mostly_tiering_saves_remote_flushes_and_stays_coherent(migrc):
    """Per round, from CPU 0 with all 16 CPUs in the mm:
    - change_prot_numa: flush_tlb_batched_pending() sees the batch the last
      migration left in mm->tlb_flush_batched and flushes the whole mm (1
      remote flush), then the mmu_gather's ranged flush (1 more);
    - the hint faults flush nothing (PROT_NONE PTEs are not cached);
    - the demotion: v6.6 flushes the batch (1); with migrc every folio is
      read-only and clean, so the whole batch is deferred (0) and its 32
      sources are held (migrc_pending_nr +32 per round).
    So 3 vs 2 remote flushes a round.  At the end thread 5 stores to the
    first page: with migrc its destination is under migrc, do_wp_page
    flushes once and frees all 128 held sources; in v6.6 the RO -> RW
    upgrade needs no flush.  The oracle sees no stale access either way."""
    m = machine(migrc)
    p, a, before = workload(m)
    held = sum(v["pending"] for v in m.migrc_pending().values())
    assert held == (N * ROUNDS if migrc else 0)
    p.threads[5].store(a)
    read_all(p, a)
    after = m.vmstat()
    flushes = after["nr_tlb_remote_flush"] - before["nr_tlb_remote_flush"]
    assert flushes == (2 * ROUNDS + 1 if migrc else 3 * ROUNDS)
    assert after["nr_tlb_remote_flush_received"] - before["nr_tlb_remote_flush_received"] \
        == 15 * flushes
    assert after["pgmigrate_success"] - before["pgmigrate_success"] == 2 * N * ROUNDS
    assert all(v["pending"] == 0 for v in m.migrc_pending().values())
    assert m.oracle.violations == [] and m.check_invariants() == []


def test_migrc_sends_fewer_remote_flushes_than_v6_6():
    counts = {}
    for migrc in (False, True):
        m = machine(migrc)
        p, a, before = workload(m)
        counts[migrc] = m.vmstat()["nr_tlb_remote_flush"] - before["nr_tlb_remote_flush"]
        assert m.oracle.violations == []
    assert counts[True] < counts[False]


def test_without_do_wp_pages_flush_a_write_is_read_stale():
    """mm/memory.c#1 ablated: after the workload, thread 3 writes the first
    page (deferred: the PTE maps the node-1 destination read-only, CPU 7
    still translates it to the held node-0 source).  The write faults,
    do_wp_page makes the PTE writable and no flush is sent; CPU 7's next
    load goes through its stale translation to the source and reads the
    data from before the write: the oracle flags a stale-read."""
    m = machine(True, ablate=["mm/memory.c#1"])
    p, a, _ = workload(m)
    dst = p.pfn(a)
    assert "migrc" in m.page(dst)["flags"]
    p.threads[3].store(a)
    assert m.oracle.violations == []
    p.threads[7].load(a)
    v = m.oracle.violations
    assert len(v) == 1
    assert (v[0]["kind"], v[0]["cpu"], v[0]["access"], v[0]["addr"]) == ("stale-read", 7, "load", a)
    assert v[0]["cur_pfn"] == dst and v[0]["pfn"] != dst
    src = v[0]["pfn"]
    assert m.page(src)["node"] == 0 and "migrc" in m.page(src)["flags"]
    assert v[0]["seen_version"] != v[0]["want_version"]

    m = machine(True)                                   # the hunk on: flushed, no violation
    p, a, _ = workload(m)
    p.threads[3].store(a)
    p.threads[7].load(a)
    assert m.oracle.violations == []
