"""Validation of everything a user may configure: node topology, kconfig,
sysctls and the emulated CPU.  Every refusal raises KmmConfigError naming the
bad key or value and what is accepted."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

PAGE_SIZE = 4096
MAX_NUMNODES = 8
NR_CPUS = 64
MIN_NODE_BYTES = 4 << 20           # one MAX_ORDER block
MAX_MACHINE_BYTES = 64 << 30       # mem_map for 64 GiB is 1 GiB of host memory


class KmmError(Exception):
    """Base class of the emulator's errors."""


class KmmConfigError(KmmError, ValueError):
    """A machine, kconfig, sysctl or option value is not accepted."""


class KmmStateError(KmmError, RuntimeError):
    """An API call does not fit the emulated state (e.g. freeing a free page)."""


_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value, what: str = "size") -> int:
    """'512M', '1G', '8GiB', or a byte count -> bytes."""
    if isinstance(value, bool):
        raise KmmConfigError(f"{what}: {value!r} is not a size; use bytes or a string like '512M', '1G'")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            raise KmmConfigError(f"{what}: {value!r} is not a size; use bytes or a string like '512M', '1G'")
        n = int(m.group(1)) * _UNITS[m.group(2).upper()]
    else:
        raise KmmConfigError(f"{what}: {value!r} is not a size; use bytes or a string like '512M', '1G'")
    if n < 0:
        raise KmmConfigError(f"{what}: {value!r} is negative; use bytes >= 0 or a string like '512M', '1G'")
    if n % PAGE_SIZE:
        raise KmmConfigError(f"{what}: {value!r} is not a multiple of the 4096-byte page size")
    return n


@dataclass(frozen=True)
class NodeSpec:
    cpus: int
    mem_bytes: int

    @property
    def pages(self) -> int:
        return self.mem_bytes // PAGE_SIZE


def parse_nodes(nodes) -> list[NodeSpec]:
    if not isinstance(nodes, (list, tuple)) or not nodes:
        raise KmmConfigError("nodes: expected a non-empty list like [{'cpus': 16, 'mem': '1G'}, {'cpus': 0, 'mem': '8G'}]")
    if len(nodes) > MAX_NUMNODES:
        raise KmmConfigError(f"nodes: {len(nodes)} nodes; at most {MAX_NUMNODES} (MAX_NUMNODES) are accepted")
    out = []
    for i, spec in enumerate(nodes):
        if not isinstance(spec, dict):
            raise KmmConfigError(f"nodes[{i}]: expected a dict with keys 'cpus' and 'mem', got {spec!r}")
        unknown = set(spec) - {"cpus", "mem"}
        if unknown:
            raise KmmConfigError(f"nodes[{i}]: unknown key(s) {sorted(unknown)}; accepted: 'cpus', 'mem'")
        if "mem" not in spec:
            raise KmmConfigError(f"nodes[{i}]: 'mem' is required (e.g. '1G'); memoryless nodes are not modelled")
        cpus = spec.get("cpus", 0)
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 0:
            raise KmmConfigError(f"nodes[{i}].cpus: {cpus!r}; expected a whole number >= 0")
        mem = parse_size(spec["mem"], f"nodes[{i}].mem")
        if mem < MIN_NODE_BYTES:
            raise KmmConfigError(f"nodes[{i}].mem: {spec['mem']!r} is below the 4M minimum (one MAX_ORDER block)")
        out.append(NodeSpec(cpus, mem))
    total_cpus = sum(n.cpus for n in out)
    if total_cpus < 1:
        raise KmmConfigError("nodes: no node has CPUs; at least one CPU is needed")
    if total_cpus > NR_CPUS:
        raise KmmConfigError(f"nodes: {total_cpus} CPUs in all; at most {NR_CPUS} (NR_CPUS) are accepted")
    total = sum(n.mem_bytes for n in out)
    if total > MAX_MACHINE_BYTES:
        raise KmmConfigError(f"nodes: {total >> 20} MiB in all; at most {MAX_MACHINE_BYTES >> 30}G is accepted")
    return out


def _bool(key, v):
    if isinstance(v, bool):
        return v
    if v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("y", "n", "yes", "no", "true", "false", "on", "off", "1", "0"):
        return v.lower() in ("y", "yes", "true", "on", "1")
    raise KmmConfigError(f"{key}: {v!r} is not a boolean; accepted: true/false, y/n, 1/0")


def check_whole(what, v, lo, hi):
    """An argument of the Python API that must be a whole number in lo..hi
    (not a bool, not a float, not a string), else KmmConfigError."""
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise KmmConfigError(f"{what}: {v!r}; accepted: a whole number in {lo}..{hi}")
    return v


def _int(key, v, lo, hi):
    if isinstance(v, str):
        try:
            v = int(v, 0)
        except ValueError:
            raise KmmConfigError(f"{key}: {v!r} is not a whole number; accepted: {lo}..{hi}") from None
    if isinstance(v, bool) or not isinstance(v, int):
        raise KmmConfigError(f"{key}: {v!r} is not a whole number; accepted: {lo}..{hi}")
    if not lo <= v <= hi:
        raise KmmConfigError(f"{key}: {v} is out of range; accepted: {lo}..{hi}")
    return v


# kconfig: name -> (default, help)
KCONFIG = {
    "CONFIG_MIGRC": (False, "the seed patch (2/3): defer TLB flushes of read-only migrations"),
    "CONFIG_MIGRC_PAUSE": (False, "patch 3/3: pause migrc under memory pressure (needs CONFIG_MIGRC)"),
    "CONFIG_MIGRC_FIXES": (False, "the emulator's fixed variant with extra flush points (needs CONFIG_MIGRC)"),
    "CONFIG_KMM_NO_BATCHED_PENDING_FLUSH": (False, "debug: flush_tlb_batched_pending() does nothing, as if "
                                            "mm->tlb_flush_batched never recorded a deferred batch "
                                            "(shows what that flush closes; docs/hazards.md)"),
    "CONFIG_DEBUG_TLBFLUSH": (True, "count nr_tlb_* events in /proc/vmstat"),
    "CONFIG_PAGE_TABLE_ISOLATION": (True, "kernel page-table isolation built in (security/Kconfig default y): "
                                    "order-1 PGDs; on at boot when the CPU has Meltdown unless "
                                    "cmdline 'nopti'/'pti=off'"),
    "CONFIG_ZONE_DMA": (True, "ZONE_DMA, the first 16 MiB of node 0 (arch/x86/Kconfig default y); "
                        "=n: ZONE_DMA32 starts at pfn 0 (migrc's flush then lacks its trigger: "
                        "docs/hazards.md)"),
    "CONFIG_DEBUG_VM": (False, "check allocator/LRU/refcount invariants after each API operation"),
    "CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH": (False, "debug: migration flushes each PTE at unmap (no TTU_BATCH_FLUSH), "
                                          "as before commit 7e12beb8 'mm/migrate: batch flushing TLB'"),
}

INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1

# sysctl: name -> (kernel variable, lo, hi, default or None when derived, help)
SYSCTL = {
    "vm.min_free_kbytes": ("min_free_kbytes", 0, INT_MAX, None,
                           "MIN watermark in KiB; default sqrt(lowmem_kbytes * 16) clamped to [128, 262144]"),
    "vm.watermark_scale_factor": ("watermark_scale_factor", 1, 3000, 10,
                                  "gap between watermarks, in 1/10000 of a zone's pages"),
    "vm.lowmem_reserve_ratio": ("sysctl_lowmem_reserve_ratio", 0, INT_MAX, (256, 256, 32, 0),
                                "per zone (DMA, DMA32, Normal, Movable): 1/ratio of higher zones kept back"),
    "kernel.numa_balancing": ("sysctl_numa_balancing_mode", 0, 3, None,
                              "0 off, 1 normal, 2 memory tiering, 3 both; default 1 on multi-node machines"),
    "kernel.numa_balancing_promote_rate_limit_MBps": ("sysctl_numa_balancing_promote_rate_limit", 0, INT_MAX, 65536,
                                                      "promotion rate limit in MB/s"),
    "kernel.numa_balancing_hot_threshold_ms": ("sysctl_numa_balancing_hot_threshold", 0, UINT_MAX, 1000,
                                               "hot page threshold (debugfs numa_balancing/hot_threshold_ms in v6.6)"),
    "kernel.numa_balancing_scan_delay_ms": ("sysctl_numa_balancing_scan_delay", 0, UINT_MAX, 1000,
                                            "delay before the first scan of a task"),
    "kernel.numa_balancing_scan_period_min_ms": ("sysctl_numa_balancing_scan_period_min", 0, UINT_MAX, 1000,
                                                 "minimum scan period"),
    "kernel.numa_balancing_scan_period_max_ms": ("sysctl_numa_balancing_scan_period_max", 0, UINT_MAX, 60000,
                                                 "maximum scan period"),
    "kernel.numa_balancing_scan_size_mb": ("sysctl_numa_balancing_scan_size", 1, UINT_MAX, 256,
                                           "MB of address space scanned per task_numa_work"),
    "vm.demotion_enabled": ("numa_demotion_enabled", 0, 1, False,
                            "demote instead of reclaiming (/sys/kernel/mm/numa/demotion_enabled)"),
}

# the emulated CPU: name -> (lo, hi, default, help)
CPU = {
    "x86_bug_l1tf": (0, 1, False, "the CPU has the L1TF bug (mitigation on)"),
    "x86_phys_bits": (36, 52, 46, "physical address bits the CPU reports"),
    "x86_cache_bits": (36, 52, None, "L1TF cache bits; default = x86_phys_bits (bugs.c override_cache_bits)"),
    "x86_bug_cpu_meltdown": (0, 1, None, "the CPU has Meltdown (X86_BUG_CPU_MELTDOWN: PTI on by default); "
                             "default = x86_bug_l1tf, which v6.6 sets only on Meltdown CPUs"),
}

# What the perf TLB-flush events count where Intel's descriptions leave it
# open (docs/tlb.md "The flush events"): option -> (accepted, default, help).
CPU_PERF_OPTIONS = {
    "cr3_noflush_counts": (("none", "stlb", "stlb+dtlb", "all"), "none",
                           "which flush events a MOV to CR3 with NOFLUSH (a PCID switch: PTI's kernel "
                           "entry and exit) adds to"),
    "pf_invalidation_counts": (("none", "protection_only", "all"), "none",
                               "whether a page fault's invalidation of the faulting address adds to "
                               "tlb_flush.dtlb_thread/stlb_any (protection_only: faults on present PTEs)"),
    "itlb_invpcid_other_pcid": (("count", "skip"), "count",
                                "whether INVPCID type 0 naming another PCID (PTI's user PCID) adds to "
                                "itlb.itlb_flush"),
    "itlb_per_structure": ((1, 2), 1,
                           "itlb.itlb_flush per whole-TLB flush: 1, or 2 (one per ITLB array: small "
                           "and large pages)"),
}

# The kernel command line the emulated kernel boots with: the parameters the
# mirror reads (arch/x86/mm/pti.c pti_check_boottime_disable).
CMDLINE_PTI = {"off": 1, "on": 2, "auto": 3}       # KMM_CMDLINE_PTI_* (0: no pti= given)


def check_cmdline(cmdline) -> dict:
    """'nopti', 'pti=on|off|auto', separated by spaces, each at most once."""
    out = {"text": "", "pti": None, "nopti": False}
    if cmdline is None:
        return out
    if not isinstance(cmdline, str):
        raise KmmConfigError(f"cmdline: expected a string such as 'nopti', got {cmdline!r}")
    for word in cmdline.split():
        key, eq, value = word.partition("=")
        if word == "nopti" and not out["nopti"]:
            out["nopti"] = True
        elif key == "pti" and eq and value in CMDLINE_PTI and out["pti"] is None:
            out["pti"] = value
        elif word == "nopti" or (key == "pti" and out["pti"] is not None):
            raise KmmConfigError(f"cmdline: {key!r} given twice")
        elif key == "mitigations":
            raise KmmConfigError(f"cmdline: {word!r} is not mirrored (it would change more "
                                 f"mitigations than PTI); accepted: nopti, pti=on, pti=off, pti=auto")
        else:
            raise KmmConfigError(f"cmdline: unknown or malformed parameter {word!r}; accepted: "
                                 f"nopti, pti=on, pti=off, pti=auto")
    out["text"] = " ".join(cmdline.split())
    return out


def check_kconfig(kconfig) -> dict:
    out = {k: v[0] for k, v in KCONFIG.items()}
    if kconfig is None:
        return out
    if not isinstance(kconfig, dict):
        raise KmmConfigError(f"kconfig: expected a dict of CONFIG_* names, got {kconfig!r}")
    for k, v in kconfig.items():
        if k not in KCONFIG:
            raise KmmConfigError(f"kconfig: unknown option {k!r}; accepted: {', '.join(KCONFIG)}")
        out[k] = _bool(k, v)
    for dep in ("CONFIG_MIGRC_PAUSE", "CONFIG_MIGRC_FIXES"):
        if out[dep] and not out["CONFIG_MIGRC"]:
            raise KmmConfigError(f"kconfig: {dep}=y needs CONFIG_MIGRC=y")
    return out


def check_sysctl_value(key, v):
    if not isinstance(key, str) or key not in SYSCTL:
        raise KmmConfigError(f"sysctl: unknown key {key!r}; accepted: {', '.join(SYSCTL)}")
    _, lo, hi, default, _ = SYSCTL[key]
    if key == "vm.lowmem_reserve_ratio":
        if isinstance(v, str):
            v = v.split()
        if not isinstance(v, (list, tuple)) or len(v) != 4:
            raise KmmConfigError(f"{key}: {v!r}; expected 4 whole numbers (DMA DMA32 Normal Movable)")
        return tuple(_int(f"{key}[{i}]", x, lo, hi) for i, x in enumerate(v))
    if isinstance(default, bool):
        return _bool(key, v)
    return _int(key, v, lo, hi)


def check_sysctl(sysctl) -> dict:
    if sysctl is None:
        return {}
    if not isinstance(sysctl, dict):
        raise KmmConfigError(f"sysctl: expected a dict like {{'vm.demotion_enabled': 1}}, got {sysctl!r}")
    return {k: check_sysctl_value(k, v) for k, v in sysctl.items()}


def check_cpu(cpu) -> dict:
    out = {k: v[2] for k, v in CPU.items()}
    out.update({k: v[1] for k, v in CPU_PERF_OPTIONS.items()})
    if cpu is None:
        cpu = {}
    if not isinstance(cpu, dict):
        raise KmmConfigError(f"cpu: expected a dict with keys {', '.join(out)}, got {cpu!r}")
    for k, v in cpu.items():
        if k in CPU_PERF_OPTIONS:
            accepted = CPU_PERF_OPTIONS[k][0]
            if isinstance(v, bool) or type(v) is not type(accepted[0]) or v not in accepted:
                raise KmmConfigError(f"cpu.{k}: {v!r}; accepted: {', '.join(map(str, accepted))}")
            out[k] = v
            continue
        if k not in CPU:
            raise KmmConfigError(f"cpu: unknown key {k!r}; accepted: {', '.join(out)}")
        lo, hi, default, _ = CPU[k]
        if v is None and default is None:
            continue                 # the derived default (x86_cache_bits, x86_bug_cpu_meltdown)
        boolean = isinstance(default, bool) or k == "x86_bug_cpu_meltdown"
        out[k] = _bool(f"cpu.{k}", v) if boolean else _int(f"cpu.{k}", v, lo, hi)
    if out["x86_cache_bits"] is None:
        out["x86_cache_bits"] = out["x86_phys_bits"]
    if out["x86_bug_cpu_meltdown"] is None:
        out["x86_bug_cpu_meltdown"] = out["x86_bug_l1tf"]
    elif out["x86_bug_l1tf"] and not out["x86_bug_cpu_meltdown"]:
        raise KmmConfigError("cpu.x86_bug_l1tf=1 needs cpu.x86_bug_cpu_meltdown=1: v6.6 marks a CPU "
                             "X86_BUG_L1TF only after X86_BUG_CPU_MELTDOWN "
                             "(arch/x86/kernel/cpu/common.c cpu_set_bug_bits)")
    return out



# Fault injection (lib/fault-inject.c, mm/fail_page_alloc.c): per capability,
# its debugfs files -> (default, lo, hi, help).  The defaults are the
# kernel's (FAULT_ATTR_INITIALIZER and fail_page_alloc's own).
ULONG_MAX = 2**64 - 1
FAULT_INJECT = {
    "fail_page_alloc": {
        "probability": (0, 0, 100, "percent of the calls that pass every other check which fail; 0: off"),
        "interval": (1, 1, ULONG_MAX, "only every interval-th call that passes the filters may fail"),
        "times": (1, -1, INT_MAX, "failures at most (counts down); -1: no limit"),
        "space": (0, 0, INT_MAX, "pages of allocations let through before any failure"),
        "min_order": (1, 0, UINT_MAX, "allocations of a lower order are never failed"),
        "ignore_gfp_wait": (True, 0, 1, "never fail allocations that may direct-reclaim "
                            "(__GFP_DIRECT_RECLAIM: GFP_KERNEL, GFP_HIGHUSER_MOVABLE)"),
        "ignore_gfp_highmem": (True, 0, 1, "never fail __GFP_HIGHMEM allocations (user pages)"),
    },
}


def check_fault_inject(fault_inject) -> dict:
    """{"fail_page_alloc": {debugfs name: value}} -> every attribute of every
    capability, the kernel's defaults where not given.  Names are the
    debugfs files', '-' or '_' alike (min-order or min_order); values may
    be strings, as written to debugfs."""
    out = {cap: {k: v[0] for k, v in attrs.items()} for cap, attrs in FAULT_INJECT.items()}
    if fault_inject is None:
        return out
    example = "{'fail_page_alloc': {'probability': 10, 'times': -1}}"
    if not isinstance(fault_inject, dict):
        raise KmmConfigError(f"fault_inject: {fault_inject!r}; expected a dict like {example}")
    for cap, attrs in fault_inject.items():
        if cap not in FAULT_INJECT:
            raise KmmConfigError(f"fault_inject: unknown capability {cap!r}; accepted: {', '.join(FAULT_INJECT)}")
        if not isinstance(attrs, dict):
            raise KmmConfigError(f"fault_inject.{cap}: {attrs!r}; expected a dict like {example}")
        for key, v in attrs.items():
            name = key.replace("-", "_") if isinstance(key, str) else key
            if name not in FAULT_INJECT[cap]:
                raise KmmConfigError(f"fault_inject.{cap}: unknown attribute {key!r}; accepted: "
                                     f"{', '.join(FAULT_INJECT[cap])}")
            default, lo, hi, _ = FAULT_INJECT[cap][name]
            what = f"fault_inject.{cap}.{name}"
            out[cap][name] = _bool(what, v) if isinstance(default, bool) else _int(what, v, lo, hi)
    return out


# The emulated TLB (kmm/emu/hw/tlb.pyx): name -> (entries, ways) of a Skylake core.
TLB_DEFAULT = {"dtlb": (64, 4), "stlb": (1536, 12)}
TLB_MAX_ENTRIES = 1 << 20
TLB_MAX_WAYS = 64


def _tlb_level(name, v):
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise KmmConfigError(f"tlb.{name}: {v!r}; expected (entries, ways), e.g. {TLB_DEFAULT[name]}")
    entries, ways = v
    for what, x in (("entries", entries), ("ways", ways)):
        if isinstance(x, bool) or not isinstance(x, int) or x < 1:
            raise KmmConfigError(f"tlb.{name}: {what} {x!r} is not a whole number >= 1")
    if entries > TLB_MAX_ENTRIES:
        raise KmmConfigError(f"tlb.{name}: {entries} entries; at most {TLB_MAX_ENTRIES} are accepted "
                             "(use tlb='unbounded' for a TLB that never evicts)")
    if ways > TLB_MAX_WAYS:
        raise KmmConfigError(f"tlb.{name}: {ways} ways; at most {TLB_MAX_WAYS} are accepted")
    if entries % ways:
        raise KmmConfigError(f"tlb.{name}: {entries} entries is not a multiple of {ways} ways")
    sets = entries // ways
    if sets & (sets - 1):
        raise KmmConfigError(f"tlb.{name}: {entries} entries / {ways} ways = {sets} sets, "
                             "not a power of two (the set index is taken from VPN bits)")
    return (entries, ways)


def check_tlb(tlb):
    """None -> Skylake sizes; 'unbounded'; or {'dtlb': (entries, ways),
    'stlb': (entries, ways)} (a missing level keeps its Skylake size).
    Returns 'unbounded' or a dict with both levels."""
    if tlb is None:
        return dict(TLB_DEFAULT)
    if isinstance(tlb, str):
        if tlb == "unbounded":
            return "unbounded"
        raise KmmConfigError(f"tlb: {tlb!r}; accepted: None (Skylake sizes), 'unbounded', "
                             "or {'dtlb': (entries, ways), 'stlb': (entries, ways)}")
    if not isinstance(tlb, dict):
        raise KmmConfigError(f"tlb: {tlb!r}; accepted: None (Skylake sizes), 'unbounded', "
                             "or {'dtlb': (entries, ways), 'stlb': (entries, ways)}")
    unknown = set(tlb) - set(TLB_DEFAULT)
    if unknown:
        raise KmmConfigError(f"tlb: unknown level(s) {sorted(unknown)}; accepted: 'dtlb', 'stlb'")
    out = dict(TLB_DEFAULT)
    for name, v in tlb.items():
        out[name] = _tlb_level(name, v)
    return out


SWAP_CLUSTER_MAX = 32      # include/linux/swap.h


def check_swap_cluster_max(v) -> int:
    """Reclaim's batch in pages (SWAP_CLUSTER_MAX): None is the kernel's 32;
    a smaller one is what `kmm run`'s scaling rule gives a scaled machine."""
    if v is None:
        return SWAP_CLUSTER_MAX
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= SWAP_CLUSTER_MAX:
        raise KmmConfigError(f"swap_cluster_max: {v!r}; accepted: 1..{SWAP_CLUSTER_MAX} pages "
                             f"(the kernel's SWAP_CLUSTER_MAX is {SWAP_CLUSTER_MAX})")
    return v


# Machine()'s keyword arguments (Machine.preset() accepts the same overrides)
MACHINE_ARGS = ("nodes", "kconfig", "sysctl", "cpu", "seed", "tlb", "ablate", "fault_inject", "cost",
                "cmdline", "swap_cluster_max")

PRESETS = {
    # The seed's machine: QEMU/KVM guest, 16 CPUs + 1 GiB on node 0, CPU-less
    # 8 GiB node 1, NUMA balancing in tiering mode, demotion on.  The guest
    # CPU is modelled as L1TF-affected with QEMU's default 40 physical
    # address bits, so migration entries cannot keep young/dirty bits.
    "seed": dict(
        nodes=[{"cpus": 16, "mem": "1G"}, {"cpus": 0, "mem": "8G"}],
        sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1},
        cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40},
    ),
}


# The seed patch's 25 hunks in patch order (FILE#N = the Nth hunk of FILE);
# the position is the hunk's bit in the machine's ablation mask.  Hunks that
# change behaviour can be switched off one by one (Machine(ablate=[...])).
MIGRC_HUNKS = (
    ("include/linux/mm_types.h#1", None),
    ("include/linux/mmzone.h#1", None),
    ("include/linux/mmzone.h#2", None),
    ("include/linux/page-flags.h#1", None),
    ("include/linux/page-flags.h#2", None),
    ("include/linux/sched.h#1", None),
    ("include/trace/events/mmflags.h#1", None),
    ("mm/internal.h#1", None),
    ("mm/memory.c#1", "do_wp_page flushes and frees pending folios before a page turns writable"),
    ("mm/migrate.c#1", None),
    ("mm/migrate.c#2", None),
    ("mm/migrate.c#3", "folio_migrate_mapping expects migrc's extra reference"),
    ("mm/migrate.c#4", "migrate_pages_batch starts a request for demotion/promotion"),
    ("mm/migrate.c#5", "migrate_pages_batch decides can_migrc per folio"),
    ("mm/migrate.c#6", "migrate_pages_batch marks both folios pending, folds the ro batch"),
    ("mm/migrate.c#7", "migrate_pages_batch folds what remains of tlb_ubc_ro into tlb_ubc"),
    ("mm/migrate.c#8", "migrate_pages_batch queues a moved source on the request"),
    ("mm/migrate.c#9", "migrate_pages_batch hangs the request on its node"),
    ("mm/migrate.c#10", "migrate_pages_batch undoes the marks of folios not moved"),
    ("mm/page_alloc.c#1", "post_alloc_hook clears PG_migrc"),
    ("mm/page_alloc.c#2", "__zone_watermark_ok counts pending folios as free"),
    ("mm/page_alloc.c#3", "zone_watermark_fast counts pending folios as free"),
    ("mm/page_alloc.c#4", "get_page_from_freelist flushes pending folios and retries"),
    ("mm/rmap.c#1", None),
    ("mm/rmap.c#2", "set_tlb_ubc_flush_pending fails can_migrc on a writable/dirty PTE"),
)
ABLATABLE = {h: i for i, (h, what) in enumerate(MIGRC_HUNKS) if what}


def check_ablate(ablate, kconfig=None) -> int:
    """Hunk ids to switch off -> the ablation bit mask.  The hunks are the
    seed patch's, so switching one off needs CONFIG_MIGRC=y in `kconfig`
    (as given to Machine)."""
    if ablate is None:
        return 0
    if isinstance(ablate, str) or not isinstance(ablate, (list, tuple, set, frozenset)):
        raise KmmConfigError(f"ablate: {ablate!r}; expected a list of hunk ids like ['mm/memory.c#1']")
    mask = 0
    for h in ablate:
        if h not in ABLATABLE:
            known = dict(MIGRC_HUNKS)
            why = "it changes no behaviour" if h in known else "no such hunk in the seed patch"
            raise KmmConfigError(f"ablate: {h!r} cannot be switched off ({why}); accepted: "
                                 + ", ".join(ABLATABLE))
        mask |= 1 << ABLATABLE[h]
    if mask and not check_kconfig(kconfig)["CONFIG_MIGRC"]:
        raise KmmConfigError(f"ablate: {list(ablate)!r} switches off seed-patch hunks, which needs "
                             "CONFIG_MIGRC=y (kconfig={'CONFIG_MIGRC': True})")
    return mask


def check_output_path(path) -> str | None:
    """Why `path` cannot take an output file, or None.  Checked before
    anything runs, so a run is never lost to a bad path: the directory must
    exist, the path must not be a directory, and the file must open for
    writing and take a write (probing with an empty write; /proc files open
    but refuse it).  A file the probe creates is removed again."""
    if not path:
        return "an empty path; give a file name"
    if os.path.isdir(path):
        return f"{path!r} is a directory; give a file name"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"cannot write {path!r}: directory {parent!r} does not exist"
    existed = os.path.lexists(path)
    try:
        # O_NONBLOCK: a FIFO nobody reads fails (ENXIO) instead of blocking
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
        try:
            os.write(fd, b"")
        finally:
            os.close(fd)
    except OSError as e:
        return f"cannot write {path!r}: {e.strerror or e}"
    finally:
        if not existed and os.path.lexists(path):
            os.unlink(path)
    return None
