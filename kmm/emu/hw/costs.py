"""The cost model's table: virtual ns per kernel operation, by preset.

Mirrored kernel paths and the emulated hardware charge these costs where
they do the operation (kmm/emu/hw/cost.pxd); the engine takes the time from
the thread of the CPU that spent it (kmm/emu/engine.pyx).  Every number
carries its source beside it; "no source" marks a cost nobody has published
that we could find, which docs/cost-model.md's sensitivity table covers.
Published cycle counts are converted at GHZ (below).  No cost is chosen to
make a result match the seed.

Presets:
  zero     every operation free: the emulator before the cost model (and
           the Machine default, so API-level tests see no time effects)
  skylake  a bare-metal Skylake-class server's costs (PTI follows the CPU and cmdline)
  kvm      a KVM guest like the seed's on such a host: as skylake, but each
           IPI sent is an APIC ICR write that exits to the host
"""

from __future__ import annotations

from kmm.emu.config import KmmConfigError

# The order is the KMM_COST_* index in kmm/emu/hw/cpu.pxd.
OPS = ("fault", "pte_update", "pte_scan", "page_alloc", "page_free", "copy_page", "rmap_one",
       "lru_scan", "invlpg", "invpcid", "cr3_write", "ipi_send", "ipi_ack_wait", "irq",
       "context_switch")

WHAT = {
    "fault": "page-fault exception: entry, dispatch, exit (per fault)",
    "pte_update": "one PTE written or cleared by a kernel path",
    "pte_scan": "one PTE visited by change_pte_range (the NUMA scan, mprotect)",
    "page_alloc": "one __alloc_pages() call",
    "page_free": "one page (block) returned to the allocator",
    "copy_page": "copying one 4 KiB page (migration between nodes, COW)",
    "rmap_one": "one mapping visited by an rmap walk (rmap_one callback)",
    "lru_scan": "one folio scanned off an LRU list by isolate_lru_folios",
    "invlpg": "INVLPG (one translation)",
    "invpcid": "INVPCID (any type)",
    "cr3_write": "MOV to CR3 (context switch, full flush of a PCID)",
    "ipi_send": "initiator: one IPI sent, per destination CPU",
    "ipi_ack_wait": "initiator: from the sends until the first acknowledgement "
                    "could arrive (the slowest receiver's handler time is added)",
    "irq": "receiver: interrupt entry and exit around the handler",
    "context_switch": "one context switch (schedule(), switch_to)",
}

GHZ = 2.6      # Xeon Gold 6142 (Skylake-SP, the host of Wanpeng Li's KVM measurements) base clock


def _cyc(c):
    return round(c / GHZ)


# preset -> op -> (ns, source).  The sources are those of
# shared/design/cost-sources.md (cited there in full) unless said.
_SKYLAKE = {
    "fault": (196, "lmbench lat_pagefault 0.1958 us per minor fault, x86-64 6.13 "
                   "(Uros Bizjak, asm_inline atomics v2, LKML 2025); an upper bound for entry+exit, "
                   "as it includes the fault's own handling"),
    "pte_update": (67, "derived, an upper bound: a task_numa_work pass took ~153 ns per PTE it made "
                       "PROT_NONE and ~20 ns per PTE it left (Jiayuan Chen, "
                       "<20251105114220.150467-1-jiayuan.chen@linux.dev>, CPU not named): 133 ns per "
                       "change, which writes the PTE twice (modify_prot_start, commit)"),
    "pte_scan": (20, "derived: a task_numa_work pass that changed nothing walked ~20 ns per PTE "
                     "(Chen, same mail)"),
    "page_alloc": (_cyc(120), "~120 cycles per order-0 page from the per-cpu lists at batch 16-128 "
                              "(Mel Gorman, commit 374ad05ab64d, pagealloc microbenchmark, CPU not "
                              "named), at GHZ"),
    "page_free": (_cyc(45), "~45 cycles per order-0 page freed at batch 16-128 (Gorman, same "
                            "commit), at GHZ"),
    "copy_page": (1300, "derived: one 2 MiB THP migrated in 658.54 us (2.97 GB/s) between sockets, "
                        "Xeon E5-2640v3 (Zi Yan, <20170701134008.110579-1-zi.yan@sent.com>): "
                        "1.3 us per 4 KiB"),
    "rmap_one": (300, "no source (page_vma_mapped_walk: a 4-level page-table walk, a few "
                      "dependent cache misses)"),
    "lru_scan": (50, "no source"),
    "invlpg": (_cyc(237), "__flush_tlb_one 237 cycles hot (Ingo Molnar, "
                          "<20150608200308.GA16978@gmail.com>), at GHZ; commit a5102476a24b says ~100 ns"),
    "invpcid": (_cyc(746), "__flush_tlb_global 746 cycles hot (Molnar, same mail), at GHZ"),
    "cr3_write": (_cyc(251), "__flush_tlb (CR3 write) 251 cycles hot (Molnar, same mail), at GHZ"),
    "ipi_send": (70, "derived: each further flush target added ~70 ns to the initiator, Haswell "
                     "bare metal (Nadav Amit, <20190531063645.4697-1-namit@vmware.com>)"),
    "ipi_ack_wait": (422, "derived: the first remote target added ~775 ns to the initiator (Amit, same "
                          "mail), less one send (70), the receiver's irq (192) and INVLPG (91)"),
    "irq": (192, "no direct source: taken as a syscall's entry+exit without PTI, 192 ns "
                 "(Dave Hansen, KAISER v1, <20171031223146.6B47C861@viggo.jf.intel.com>)"),
    "context_switch": (1000, "derived: PCID saves ~100 ns per cross-process switch, 'a little over "
                             "10%' (Andy Lutomirski, <cover.1452294700.git.luto@kernel.org>)"),
}

_KVM = dict(_SKYLAKE)
_KVM.update({
    "context_switch": (1400, "derived: perf bench sched pipe pinned to one CPU, 2.79 us per round "
                             "trip (two switches and the pipe's syscalls) in a KVM guest (Ingo Molnar, "
                             "<aDqs0_c_vq96EWW6@gmail.com>)"),
    "ipi_send": (_cyc(1559), "one VM exit per destination (x2APIC ICR write, no PV send-IPI): "
                             "vmcall round trip 1559 cycles, Skylake-SP (Wanpeng Li, "
                             "<1584071718-17163-1-git-send-email-wanpengli@tencent.com>), at GHZ"),
    "ipi_ack_wait": (_cyc(3293) - _cyc(1559) - 192,
                     "derived: send until the sender sees the ACK, 3293 cycles with KVM's IPI "
                     "fastpath, Skylake-SP (Li, <1586480607-5408-1-git-send-email-wanpengli@tencent.com>), "
                     "less the send's exit and the receiver's irq; receivers take the interrupt "
                     "without an exit (APICv posted interrupts and virtual EOI assumed)"),
})

PRESETS = {
    "zero": {op: (0, "the zero preset: kernel work is free") for op in OPS},
    "skylake": _SKYLAKE,
    "kvm": _KVM,
}
DEFAULT = "zero"
assert all(set(p) == set(OPS) for p in PRESETS.values())


def check_cost(cost) -> dict:
    """The cost table a Machine runs with: a preset name, or a dict with
    'preset' (default zero) and op: ns overrides.  Returns {'preset': name,
    'ns': {op: ns}, 'overridden': [ops]}."""
    if cost is None:
        cost = DEFAULT
    if isinstance(cost, str):
        cost = {"preset": cost}
    if not isinstance(cost, dict):
        raise KmmConfigError(f"cost: {cost!r}; accepted: a preset ({', '.join(PRESETS)}) or a dict "
                             f"{{'preset': name, op: ns, ...}} with op in {', '.join(OPS)}")
    name = cost.get("preset", DEFAULT)
    if name not in PRESETS:
        raise KmmConfigError(f"cost: preset {name!r}; accepted: {', '.join(PRESETS)}")
    ns = {op: v for op, (v, _) in PRESETS[name].items()}
    over = []
    for k, v in cost.items():
        if k == "preset":
            continue
        if k not in OPS:
            raise KmmConfigError(f"cost: unknown operation {k!r}; accepted: {', '.join(OPS)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1e9 or v != v:
            raise KmmConfigError(f"cost: {k}={v!r}; accepted: ns from 0 to 1e9")
        ns[k] = int(round(v))
        over.append(k)
    return {"preset": name, "ns": ns, "overridden": sorted(over)}


def table(preset) -> list:
    """[(op, ns, what, source)] of a preset, in OPS order."""
    if preset not in PRESETS:
        raise KmmConfigError(f"cost: preset {preset!r}; accepted: {', '.join(PRESETS)}")
    return [(op, PRESETS[preset][op][0], WHAT[op], PRESETS[preset][op][1]) for op in OPS]
