"""What the fixed variant costs: TLB shootdowns of a read-mostly tiering
loop on the seed machine, with and without CONFIG_MIGRC_FIXES.

One process with 16 threads (one per CPU of node 0) works on `npages`
anonymous pages.  Each round: the pages are demoted (as reclaim's demotion
would), the 16 threads read them all, the NUMA scanner makes them
PROT_NONE (change_prot_numa) and the hint faults of the next reads promote
them back, the 16 threads read them all again, and thread 0 writes
`writes` of them.  The numbers are the vmstat and perf deltas of the
rounds (setup excluded).  Until the seed experiment engine lands, this is
the scenario-API stand-in for a read-mostly migrc workload.
"""

from __future__ import annotations

import kmm
from kmm.hazards._common import KERNELS, EXTRA_KERNELS

PAGE = 4096
EVENTS = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "nr_tlb_local_flush_all",
          "nr_tlb_local_flush_one", "pgmigrate_success", "numa_pages_migrated", "numa_hint_faults")


# migrc+fixes with fix points switched off: which point costs what, and the
# narrow variant (docs/hazards.md) that keeps the write-fault point only
VARIANTS = {
    "migrc+fixes -tlb_finish_mmu": ("tlb_finish_mmu",),
    "migrc+fixes -handle_mm_fault_vma": ("handle_mm_fault_vma",),
    "migrc+fixes-narrow": EXTRA_KERNELS["migrc+fixes-narrow"][1],
}


def run_cost(kernel, rounds=10, npages=64, writes=0, seed_memory=True, fixes_off=()):
    """The counters of `rounds` demote/read/promote/read rounds on `kernel`
    (fixes_off: CONFIG_MIGRC_FIXES points switched off, by name)."""
    kc = dict(KERNELS[kernel])
    over = {} if seed_memory else {"nodes": [{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "256M"}]}
    m = kmm.Machine.preset("seed", kconfig=kc, **over)
    if fixes_off:
        m._migrc_fix_points(off=fixes_off)
    p = m.spawn(threads=16)
    a = p.mmap(npages)
    addrs = [a + i * PAGE for i in range(npages)]
    for x in addrs:
        p.threads[0].store(x)
    v0 = m.vmstat()
    perf0 = m.perf()
    for rnd in range(rounds):
        m.migrate(p, a, npages, node=1, reason="demotion")
        for t in p.threads:
            for x in addrs:
                t.load(x)
        p._change_prot_numa(a, npages)
        m._clock_advance_ns(10_000_000)
        for i, x in enumerate(addrs):
            p.threads[i % 16].load(x)             # hint faults: promotions
        for t in p.threads:
            for x in addrs:
                t.load(x)
        for i in range(writes):
            p.threads[0].store(addrs[(rnd * 7 + i) % npages])
    v1 = m.vmstat()
    perf1 = m.perf()
    out = {k: v1[k] - v0[k] for k in EVENTS}
    out["tlb_flush.dtlb_thread"] = perf1["tlb_flush.dtlb_thread"] - perf0["tlb_flush.dtlb_thread"]
    out["violations"] = len(m.oracle.violations)
    if m.kconfig["CONFIG_MIGRC_FIXES"]:
        out["fix_flushes"] = {k: v for k, v in m.migrc_fix_flushes().items() if v}
    return out


def cost_table(rounds=10, npages=64, writes=0, kernels=None, seed_memory=True):
    """Every kernel, plus migrc+fixes with each fix point left out in turn
    (which point costs what)."""
    out = {k: run_cost(k, rounds, npages, writes, seed_memory) for k in (kernels or KERNELS)}
    if kernels is None or "migrc+fixes" in kernels:
        for name, off in VARIANTS.items():
            out[name] = run_cost("migrc+fixes", rounds, npages, writes, seed_memory, fixes_off=off)
    return out


def cost_text(table):
    keys = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "tlb_flush.dtlb_thread",
            "pgmigrate_success", "violations")
    w = max(len(k) for k in table)
    lines = [f"{'kernel':{w}} " + " ".join(f"{k:>29}" for k in keys)]
    for kern, row in table.items():
        lines.append(f"{kern:{w}} " + " ".join(f"{row[k]:>29}" for k in keys))
    for kern, row in table.items():
        if row.get("fix_flushes"):
            lines.append(f"{kern}: flushes by fix point: {row['fix_flushes']}")
    return "\n".join(lines)
