"""Shared pieces of the hazard scenarios: the kernels, the machine, the
Outcome record, and the steps most scenarios start with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import kmm
from kmm.emu.config import KmmStateError
from kmm.emu import testing as T

PAGE = 4096

# The kernels every scenario runs on: name -> kconfig on top of the seed
# preset.  baseline is v6.6-rc5 + migrc patch 1/3 (tlb_ubc_ro, no deferral).
KERNELS = {
    "baseline": {},
    "migrc": {"CONFIG_MIGRC": True},
    "migrc+pause": {"CONFIG_MIGRC": True, "CONFIG_MIGRC_PAUSE": True},
    "migrc+fixes": {"CONFIG_MIGRC": True, "CONFIG_MIGRC_FIXES": True},
}

# Kernels a run may name but the catalogue does not run by default:
# name -> (kconfig, CONFIG_MIGRC_FIXES points switched off).  "narrow"
# keeps only the fix points no read-only workload pays for (docs/hazards.md).
EXTRA_KERNELS = {
    "migrc+fixes-narrow": ({"CONFIG_MIGRC": True, "CONFIG_MIGRC_FIXES": True},
                           ("tlb_finish_mmu", "handle_mm_fault_vma")),
}

# vmstat counters an Outcome reports as deltas over the whole run
COUNTERS = ("nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "nr_tlb_local_flush_all",
            "nr_tlb_local_flush_one", "pgmigrate_success", "numa_pages_migrated", "pgfault")


# The seed machine's topology with less memory: 16 CPUs on node 0, a
# CPU-less node 1, tiering NUMA balancing, demotion, the L1TF guest CPU.
# The scenarios touch a handful of pages; 64 MiB + 256 MiB keep the
# CONFIG_DEBUG_VM walk after every API step cheap (the seed's 1 + 8 GiB
# gives the same outcomes, over ten times slower).
NODES = [{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "256M"}]


def machine(kernel, ablate=(), kconfig=None, **overrides):
    """The seed preset (with NODES) on `kernel`, with CONFIG_DEBUG_VM so
    every API step checks the allocator/LRU invariants."""
    if kernel in KERNELS:
        base, off = KERNELS[kernel], ()
    elif kernel in EXTRA_KERNELS:
        base, off = EXTRA_KERNELS[kernel]
    else:
        raise kmm.KmmConfigError(f"kernel: {kernel!r}; accepted: "
                                 f"{', '.join(list(KERNELS) + list(EXTRA_KERNELS))}")
    kc = {"CONFIG_DEBUG_VM": True}
    kc.update(base)
    kc.update(kconfig or {})
    overrides.setdefault("nodes", NODES)
    m = kmm.Machine.preset("seed", kconfig=kc, ablate=list(ablate), **overrides)
    if off:
        m._migrc_fix_points(off=off)
    return m


@dataclass
class Outcome:
    """What one run of a scenario produced (nothing here is decided in
    advance: every field comes from the machine after the run)."""
    scenario: str
    kernel: str
    violations: list = field(default_factory=list)     # the oracle's records, oldest first
    first: dict | None = None                          # the first one, with the pages' roles
    account: str = ""                                  # one line: the first violation, or what held
    counters: dict = field(default_factory=dict)       # vmstat deltas and scenario facts
    ablated: list = field(default_factory=list)
    kconfig: dict = field(default_factory=dict)

    @property
    def nr_violations(self):
        return len(self.violations)

    def kinds(self):
        out = {}
        for v in self.violations:
            out[v["kind"]] = out.get(v["kind"], 0) + 1
        return out

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["nr_violations"] = self.nr_violations
        d["kinds"] = self.kinds()
        return d


class Run:
    """Book-keeping of one scenario run: the pages' roles for the account,
    counters, accesses that could not go on (would sleep, segfault)."""

    def __init__(self, scenario, kernel, m):
        self.scenario = scenario
        self.kernel = kernel
        self.m = m
        self.roles = {}
        self.facts = {}
        self.refused = []
        self._v0 = m.vmstat()

    def role(self, pfn, label):
        if pfn is not None:
            self.roles.setdefault(pfn, label)

    def access(self, thread, addr, write=False):
        """A load or store that may be refused (the task would sleep, or
        gets SIGSEGV/SIGBUS); returns True if it went through."""
        try:
            thread.store(addr) if write else thread.load(addr)
            return True
        except KmmStateError as e:
            self.refused.append(f"CPU {thread.cpu} {'store' if write else 'load'} {addr:#x}: {e}")
            return False

    def outcome(self, closed=""):
        m = self.m
        v1 = m.vmstat()
        counters = {k: v1[k] - self._v0[k] for k in COUNTERS}
        counters.update(self.facts)
        counters["refused_accesses"] = len(self.refused)
        if m.kconfig["CONFIG_MIGRC_FIXES"]:
            counters["fix_flushes"] = {k: v for k, v in m.migrc_fix_flushes().items() if v}
        viol = m.oracle.violations
        first = None
        if viol:
            first = dict(viol[0])
            first["pfn_role"] = self.roles.get(first["pfn"], "?")
            first["cur_pfn_role"] = self.roles.get(first["cur_pfn"], "none" if first["cur_pfn"] is None else "?")
            account = describe(first)
        else:
            account = "no violation" + (f": {closed}" if closed else "")
        return Outcome(self.scenario, self.kernel, viol, first, account, counters,
                       m.ablated, {k: v for k, v in m.kconfig.items() if v})


def describe(v):
    """One line about a violation record (with roles)."""
    if v["kind"] == "freed-page":
        where = "while that page is free"
    elif v["kind"] == "reused-page":
        where = "after that page was freed and allocated again"
    elif v["cur_pfn"] is not None:
        where = f"while the page tables map pfn {v['cur_pfn']} ({v['cur_pfn_role']})"
    else:
        where = "while nothing maps that address"
    data = (f"; data v{v['seen_version']} instead of v{v['want_version']}"
            if v["kind"] in ("stale-read", "stale-write") else "")
    return (f"{v['kind']}: CPU {v['cpu']} {v['access']} {v['addr']:#x} through a cached "
            f"translation to pfn {v['pfn']} ({v['pfn_role']}) {where}{data}")


def stale_translations(m, threads, proc, addrs):
    """(cpu, addr, cached pfn, mapped pfn) for every thread's CPU whose TLB
    holds a translation of addr to a page the page tables no longer map
    there (looked up without side effects)."""
    out = []
    for t in threads:
        if not t.on_cpu:
            continue
        for a in addrs:
            cached = T.tlb_probe(m, t.cpu, a)
            if cached is not None and cached != proc.pfn(a):
                out.append((t.cpu, a, cached, proc.pfn(a)))
    return out


def read_only_clean_anon(m, p, npages):
    """npages of private anonymous memory that end up read-only, clean and
    exclusive on the top-tier node -- the pages migrc can defer: written by
    thread 0, demoted (writable: flushed at once), made PROT_NONE by the
    NUMA scan and promoted back by thread 0's hint faults (a hint-fault
    migration maps the new page read-only, and the seed's L1TF CPU keeps
    no dirty bit in migration entries).  Returns the address."""
    a = p.mmap(npages)
    t0 = p.threads[0]
    for i in range(npages):
        t0.store(a + i * PAGE)
    m.migrate(p, a, npages, node=1, reason="demotion")
    p._change_prot_numa(a, npages)
    m._clock_advance_ns(10_000_000)
    for i in range(npages):
        t0.load(a + i * PAGE)
    for i in range(npages):
        pte = p.pte(a + i * PAGE)
        if pte is None or not pte.get("present") or pte["write"] or pte["dirty"] or \
                m.page(pte["pfn"])["node"] != 0:
            raise KmmStateError(f"setup: page {i} did not come back read-only and clean on node 0: {pte}")
    return a


def load_all(run, threads, addrs):
    for t in threads:
        for a in addrs:
            run.access(t, a)


def deferred_file_pages(m, r, npages, role):
    """The setup the file scenarios share: a file mapped read-only and
    shared by a 15-thread process A (CPUs 0-14) that reads every page from
    every CPU, a second process B on CPU 15, then a demotion of the pages
    (deferred under migrc).  Records the pages' roles and the counts of
    deferred folios and stale translations before the scenario goes on.
    Returns (file, A, B, addrs)."""
    f = m.create_file(npages)
    a_proc = m.spawn(threads=15)
    b_proc = m.spawn(threads=1, cpus=[15])
    a = a_proc.mmap(npages, "r", shared=True, file=f)
    addrs = [a + i * PAGE for i in range(npages)]
    load_all(r, a_proc.threads, addrs)
    for x in addrs:
        r.role(a_proc.pfn(x), "source page, migrated away")
    m.migrate(a_proc, a, npages, node=1, reason="demotion")
    for x in addrs:
        r.role(a_proc.pfn(x), role)
    r.facts["deferred"] = sum(v["pending"] for v in m.migrc_pending().values())
    return f, a_proc, b_proc, addrs
