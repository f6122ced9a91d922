"""Perf-like hardware events of the emulated CPUs (emulator-only).

The events are named as `perf stat -e` names them on a Skylake core and are
counted by the emulated TLB (kmm/emu/hw/tlb.pyx) from the x86 mechanism, not
estimated.  Definitions (also in docs/tlb.md):

dTLB-loads, dTLB-stores
    Every emulated data load / store that looked up the TLB (perf maps these
    generic events to MEM_INST_RETIRED.ALL_LOADS / ALL_STORES on Skylake).

dTLB-load-misses, dTLB-store-misses
    Loads / stores whose translation missed both the L1 dTLB and the STLB and
    so started a page walk.  perf maps the generic events to
    DTLB_LOAD_MISSES.WALK_COMPLETED (0x0e08) and
    DTLB_STORE_MISSES.WALK_COMPLETED (0x0e49) on Skylake; a walk "completes
    with or without a fault", so a walk that ends in a page fault counts too.
    A dTLB miss that hits the STLB is NOT a miss here (see the next event).
    In the unbounded TLB mode there is one level, and every lookup that does
    not find a cached translation counts.

dtlb_load_misses.stlb_hit, dtlb_store_misses.stlb_hit
    Loads / stores that missed the L1 dTLB and hit the STLB (no walk); the
    entry is copied into the dTLB.

tlb_flush.dtlb_thread  (TLB_FLUSH.DTLB_THREAD, "DTLB flush attempts of the
thread-specific entries")
tlb_flush.stlb_any     (TLB_FLUSH.STLB_ANY, "STLB flush attempts")
itlb.itlb_flush        (ITLB.ITLB_FLUSH, "flushing of the ITLB pages")
    What each invalidating operation adds to each event is a table, one row
    per kind of operation (flush_perf_table below; docs/tlb.md gives each
    row's source).  Intel's descriptions count flush *attempts*, one per
    operation whatever it removed; by default INVLPG, every INVPCID type
    and a MOV to CR3 without NOFLUSH add one to all three, and a MOV to CR3
    with NOFLUSH (with CR4.PCIDE=1 the SDM, vol. 3A 4.10.4.1, says it "is
    not required to invalidate any TLB entries") and a page fault's
    invalidation add nothing.  Where the sources leave it open the CPU
    model has a named option (Machine(cpu={...}), kmm/emu/config.py
    CPU_PERF_OPTIONS): cr3_noflush_counts, pf_invalidation_counts,
    itlb_invpcid_other_pcid, itlb_per_structure.

iTLB-load-misses
    Not modelled: the emulator executes no instruction fetches.  perf()
    reports the string "not modelled" for it.
"""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.emu.hw.cpu cimport perf_counts, NR_PERF_EVENTS, KMM_NR_FLUSH_OPS

# The kinds of invalidation, in KMM_FLUSH_OP_* order (kmm/emu/hw/cpu.pxd).
FLUSH_OPS = ("invlpg", "invpcid_addr", "invpcid_other_pcid", "invpcid_context", "cr3",
             "cr3_noflush", "pf_present", "pf_not_present")
assert len(FLUSH_OPS) == KMM_NR_FLUSH_OPS


def flush_perf_table(cpu):
    """[(itlb, dtlb_thread, stlb_any) added per operation] in FLUSH_OPS
    order, for the CPU model's options (a checked Machine cpu dict)."""
    whole = cpu["itlb_per_structure"]          # ITLB: a whole flush empties each array
    noflush = cpu["cr3_noflush_counts"]
    pf = cpu["pf_invalidation_counts"]
    pf_on = (0, 1, 1)
    return [
        (1, 1, 1),                                                  # INVLPG: a set clear
        (1, 1, 1),                                                  # INVPCID 0, current PCID
        (int(cpu["itlb_invpcid_other_pcid"] == "count"), 1, 1),     # INVPCID 0, another PCID
        (whole, 1, 1),                                              # INVPCID 1/2/3
        (whole, 1, 1),                                              # MOV CR3, flushing
        (whole if noflush == "all" else 0, int(noflush in ("all", "stlb+dtlb")),
         int(noflush != "none")),                                   # MOV CR3, NOFLUSH
        pf_on if pf != "none" else (0, 0, 0),                       # #PF, present PTE
        pf_on if pf == "all" else (0, 0, 0),                        # #PF, not-present PTE
    ]

# In enum order (kmm/emu/hw/cpu.pxd).
PERF_EVENT_NAMES = (
    "dTLB-loads",
    "dTLB-load-misses",
    "dTLB-stores",
    "dTLB-store-misses",
    "dtlb_load_misses.stlb_hit",
    "dtlb_store_misses.stlb_hit",
    "tlb_flush.dtlb_thread",
    "tlb_flush.stlb_any",
    "itlb.itlb_flush",
)
# Events perf has but the emulator does not count, with the reason.
PERF_NOT_MODELLED = {
    "iTLB-load-misses": "no instruction fetch is emulated",
}
NOT_MODELLED = "not modelled"

assert len(PERF_EVENT_NAMES) == NR_PERF_EVENTS
assert sizeof(perf_counts) == NR_PERF_EVENTS * sizeof(unsigned long long)


def perf_read(cpu=None):
    """The current machine's events, summed over CPUs or of one CPU, as a
    dict in PERF_EVENT_NAMES order followed by the unmodelled events."""
    cdef kmm_machine *m = KMM()
    cdef int c, i
    cdef unsigned long long total[16]
    for i in range(NR_PERF_EVENTS):
        total[i] = 0
    for c in range(m.nr_cpu_ids):
        if cpu is not None and c != cpu:
            continue
        for i in range(NR_PERF_EVENTS):
            total[i] += m.cpus[c].perf.ev[i]
    out = {PERF_EVENT_NAMES[i]: total[i] for i in range(NR_PERF_EVENTS)}
    for name in PERF_NOT_MODELLED:
        out[name] = NOT_MODELLED
    return out


def perf_reset():
    """Zero every CPU's counters (as a new `perf stat` session starts)."""
    cdef kmm_machine *m = KMM()
    cdef int c, i
    for c in range(m.nr_cpu_ids):
        for i in range(NR_PERF_EVENTS):
            m.cpus[c].perf.ev[i] = 0
