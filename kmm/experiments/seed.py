"""The seed experiment: the migrc patch's BEFORE/AFTER measurement, emulated.

The seed (migrc v4 2/3, quoted below in SEED_REFERENCE) ran
`perf stat -a ./XSBench -p 50000000` and read /proc/vmstat on a QEMU guest
with 16 CPUs + 1 GiB on node 0 and a CPU-less 8 GiB node 1, NUMA balancing
in tiering mode and demotion on, once on mainline v6.6-rc5 (BEFORE) and once
with migrc (AFTER).

`run_seed_experiment()` does the same on the emulator: the machine is
`Machine.preset("seed")`, the workload XSBench large (kmm/workloads), and
each kernel is the same code with a different kconfig (KERNELS).  It
returns a JSON-able dict; kmm/report/ prints it.

What `scale` scales (and nothing else): the memory of both nodes, XSBench's
grid points per nuclide (XSBench's own `-g`, which sizes all three of its
structures linearly), and kernel.numa_balancing_scan_size_mb, so that the
number of NUMA scan windows per RSS stays the seed's.  The number of
particles sets how long the run is.  Every counter is counted by the mirrored
mechanism during the run: nothing is multiplied, extrapolated or corrected.
"""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path
import os
import time

import kmm
from kmm.emu import config as cfg
from kmm.emu import sysctl as _sysctl
from kmm.emu.config import KmmConfigError

# ---------------------------------------------------------------------------
# Reference data: the seed's published numbers, quoted from the mail.  These
# are NOT emulator output; they are printed beside it for comparison only.
SEED_SOURCE = ("Byungchul Park, \"[v4 2/3] mm: Defer TLB flush by keeping both src and dst "
               "folios at migration\", LKML, 2023-11-08 (shared/seed/migrc-v4-2of3.lkml.txt): "
               "XSBench -p 50000000, QEMU/KVM, 16 CPUs + 1 GiB node 0, CPU-less 8 GiB node 1, "
               "v6.6-rc5, NUMA balancing tiering, demotion enabled")
SEED_REFERENCE = {
    # counter: (BEFORE = mainline v6.6-rc5, AFTER = + migrc)
    "itlb.itlb_flush": (20953405, 4353555),
    "tlb_flush.dtlb_thread": (114886593, 72482780),
    "tlb_flush.stlb_any": (88267015, 68226458),
    "dTLB-load-misses": (115304095543, 114331610808),
    "dTLB-store-misses": (163904743, 116084771),
    "iTLB-load-misses": (608486259, 377180518),
    "seconds time elapsed": (556.787113849, 552.667718220),
    "numa_pages_migrated": (3378748, 3339325),
    "pgmigrate_success": (7720310, 7642363),
    "nr_tlb_remote_flush": (751464, 192913),
    "nr_tlb_remote_flush_received": (10742115, 2327426),
    "nr_tlb_local_flush_all": (21899, 25759),
    "nr_tlb_local_flush_one": (740157, 740454),
}
SEED_PARTICLES = 50_000_000
SEED_SCAN_SIZE_MB = 256            # kernel.numa_balancing_scan_size_mb default
# The scaling rule (docs/run.md, "Scaling"): memory scales by F and so does
# every kernel time constant the NUMA-balancing path reads, so that each
# per-page rate runs 1/F times faster and every dimensionless rate is the
# full size's.  These sysctls are times in ms (kernel/sched/fair.c defaults;
# the hot threshold is debugfs numa_balancing/hot_threshold_ms).
SCALED_TIME_SYSCTLS = {
    "kernel.numa_balancing_scan_delay_ms": 1000,
    "kernel.numa_balancing_scan_period_min_ms": 1000,
    "kernel.numa_balancing_scan_period_max_ms": 60000,
    "kernel.numa_balancing_hot_threshold_ms": 1000,
}
# vm.min_free_kbytes as the seed's full-size machine computes it at boot
# (mm/page_alloc.c calculate_min_free_kbytes: int_sqrt(lowmem_kbytes * 16)
# over 9 GiB; tests/test_scaling.py boots it and checks).  The square root
# would make a scaled node's watermark gaps a larger fraction of it, so a
# scaled run sets F times this.
SEED_MIN_FREE_KBYTES = 12288
# Reclaim's batch (SWAP_CLUSTER_MAX, 32 pages) scales by F too: a kswapd
# cycle reclaims about its watermark gap, a fraction of the node, in
# batches of this many pages, and the baseline sends one shootdown per
# batch; with the batch scaled, a cycle runs as many batches at every
# scale.  Events that come once per batch, per kswapd cycle or per NUMA
# scan window then come 1/F times as often per virtual second as per
# full-size second (per-page events come as often), so the cost of each
# shootdown IPI (kmm/emu/hw/costs.py: the send per target, the wait for
# the acknowledgements, the receiver's interrupt) scales by F, keeping the
# share of time shootdowns take.  Per-page costs (INVLPG per page, the
# handler's flushing, copies, faults) stay.
SCALED_COST_OPS = ("ipi_send", "ipi_ack_wait", "irq")
# ---------------------------------------------------------------------------

# The seed's two blocks, in its order.
PERF_EVENTS = ("itlb.itlb_flush", "tlb_flush.dtlb_thread", "tlb_flush.stlb_any",
               "dTLB-load-misses", "dTLB-store-misses", "iTLB-load-misses")
ELAPSED = "seconds time elapsed"
TIME_PER_WORK = "time per work"          # ratios only: AFTER/BEFORE of elapsed time / work done
VMSTAT_COUNTERS = ("numa_pages_migrated", "pgmigrate_success", "nr_tlb_remote_flush",
                   "nr_tlb_remote_flush_received", "nr_tlb_local_flush_all",
                   "nr_tlb_local_flush_one")
COUNTERS = PERF_EVENTS + (ELAPSED,) + VMSTAT_COUNTERS
assert set(COUNTERS) == set(SEED_REFERENCE)
# the run phase's store misses (from the parallel region's start): the seed
# printed only the whole run's, whose init part is small at its size
STORES_AFTER_INIT = "dTLB-store-misses after init"

# What each row of the comparison counts of what the seed counted.  A row
# not here is counted by the mirrored mechanism as the seed's kernel counts
# it, for the workload's whole run.  "part": modelled in part; "none": not
# modelled.  (The reasons: docs/run.md "What each row counts".)
ROW_NOTES = {
    "itlb.itlb_flush": ("part", "the workload mm's invalidations under PTI, counted per operation "
                        "as docs/tlb.md defines; Intel does not say which operations each flush "
                        "event counts, so with the documented defaults the three rows are equal; "
                        "other processes' and kernel-range flushes are not emulated"),
    "dTLB-load-misses": ("part", "XSBench's data loads (hot grids sampled, docs/workloads.md); "
                         "the kernel's own loads (page tables, struct pages, kernel stacks) are "
                         "not emulated"),
    "dTLB-store-misses": ("part", "XSBench's init writes, stack and OpenMP stores; the kernel's "
                          "stores (kernel stacks, struct pages, copy destinations) are not "
                          "emulated; the engine runs each thread a tick (1 ms) at a time, so "
                          "the flushes a CPU takes between two of its ticks meet one store"),
    "iTLB-load-misses": ("none", "no instruction fetch is emulated"),
    ELAPSED: ("part", "virtual time: the seed's time per lookup plus the kernel work of the cost "
              "model (docs/cost-model.md)"),
    "pgmigrate_success": ("part", "no kcompactd: compaction's migrations, part of the seed's "
                          "count, are not emulated"),
    "nr_tlb_remote_flush": ("part", "the workload's mm only: other processes' and the kernel's "
                            "shootdowns since boot are not emulated"),
    "nr_tlb_remote_flush_received": ("part", "every target counts: KVM's paravirtual flush of "
                                     "preempted vCPUs, which the seed's guest did not count, is "
                                     "not emulated"),
    "nr_tlb_local_flush_all": ("part", "operations run one at a time, so a promotion never meets "
                               "an open NUMA-scan gather (a source of local full flushes)"),
    "nr_tlb_local_flush_one": ("part", "the seed's ~740k is a per-boot constant (the same in every "
                               "published run): kernel-range flushes on each of 16 vCPUs; only "
                               "the workload mm's ranged flushes are emulated"),
}
ROW_NOTES["tlb_flush.dtlb_thread"] = ROW_NOTES["tlb_flush.stlb_any"] = ROW_NOTES["itlb.itlb_flush"]
assert set(ROW_NOTES) <= set(COUNTERS)

# The kernels: the same mirrored code under different kconfig.
KERNELS = {
    "baseline": {"CONFIG_MIGRC": False, "CONFIG_MIGRC_PAUSE": False},
    "migrc": {"CONFIG_MIGRC": True, "CONFIG_MIGRC_PAUSE": False},
    "migrc+pause": {"CONFIG_MIGRC": True, "CONFIG_MIGRC_PAUSE": True},
}
KERNEL_TITLES = {
    "baseline": "BEFORE - mainline v6.6-rc5 (emulated: kmm, CONFIG_MIGRC=n)",
    "migrc": "AFTER - mainline v6.6-rc5 + migrc (emulated: kmm, CONFIG_MIGRC=y)",
    "migrc+pause": "AFTER - mainline v6.6-rc5 + migrc + 3/3 pause (emulated: kmm, "
                   "CONFIG_MIGRC=y CONFIG_MIGRC_PAUSE=y)",
}
KERNEL_CHOICES = tuple(KERNELS) + ("all",)
DEFAULT_KERNELS = ("baseline", "migrc")     # the seed's BEFORE and AFTER
# The cost model of `kmm run` (kmm/emu/hw/costs.py): the seed ran in a KVM guest.
DEFAULT_COST = "kvm"
WORKLOADS = ("xsbench", "gups", "trace:PATH")

# The default run.  Chosen so that `kmm run` (both kernels) finishes in
# under 60 s of wall time on the shared 2-core development machine: measured
# 47.7 s wall (35 s CPU) with the machine's load average at ~4.6 from other
# jobs (docs/run.md); after the speed work and the cost model it takes ~8 s
# (WALL_RATES below).  Scale 0.1 keeps XSBench's index grid ~90x the STLB, so
# an index-grid touch walks the page tables as on the real machine; 800,000
# particles give 9.4 virtual s, with promotion and demotion in bursts, one
# per scan window, from the first NUMA scan (at 1 s) to the end.
DEFAULT_SCALE = 0.1
DEFAULT_PARTICLES = 800_000
DEFAULT_THREADS = 16
GUPS_TABLE_BYTES = 4 << 30          # GUPS table at scale 1: 4x node 0, like XSBench's 5.5 GiB
# GUPS updates per table word.  HPCC's 4 per word (the GUPS class default)
# is 215M updates at scale 0.1: 1.35 virtual s, but ~5 wall minutes per
# kernel here, as the GUPS model performs every access (the XSBench model
# samples) and almost every load misses the STLB.  A quarter per word keeps
# `kmm run --workload gups` (16 threads, both kernels) under a minute; the
# run (0.09 virtual s) ends before NUMA balancing's first scan (1 s).
GUPS_UPDATES_PER_WORD = 0.25

_GIB = 1 << 30
_MIB = 1 << 20
MIN_SCALE = cfg.MIN_NODE_BYTES / _GIB          # node 0 (1 GiB at scale 1) keeps >= 4 MiB
MAX_SCALE = 1.0                                 # XSBench's grid cannot grow past -g 11303


# -- validation (messages name what is accepted; the CLI prefixes the option) --

def check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or math.isnan(scale):
        raise KmmConfigError(f"scale: {scale!r} is not a number; accepted: {MIN_SCALE:g}..{MAX_SCALE:g}")
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise KmmConfigError(f"scale: {scale!r} is out of range; accepted: {MIN_SCALE:g}..{MAX_SCALE:g} "
                             f"(1 is the seed's full size; node 0 must keep at least 4 MiB)")
    return float(scale)


def check_kernels(kernels) -> tuple:
    if isinstance(kernels, str):
        kernels = tuple(KERNELS) if kernels == "all" else (kernels,)
    kernels = tuple(kernels)
    if not kernels:
        raise KmmConfigError(f"kernel: none given; accepted: {', '.join(KERNEL_CHOICES)}")
    for k in kernels:
        if k not in KERNELS:
            raise KmmConfigError(f"kernel: {k!r}; accepted: {', '.join(KERNEL_CHOICES)}")
    if len(set(kernels)) != len(kernels):
        raise KmmConfigError(f"kernel: {kernels!r} names a kernel twice")
    return tuple(k for k in KERNELS if k in kernels)      # baseline first, as the seed


def check_duration(duration):
    if duration is None:
        return None
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) \
            or not math.isfinite(duration) or duration <= 0:
        raise KmmConfigError(f"duration: {duration!r}; accepted: a positive number of virtual seconds")
    return float(duration)


MAX_JOBS = 64


def default_jobs(nkernels) -> int:
    """One job per core this process may run on, at most one per kernel."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, nkernels))


def check_jobs(jobs, nkernels) -> int:
    """The number of processes to run `nkernels` kernels in: `jobs`, or
    default_jobs() for None, never more than there are kernels."""
    if jobs is None:
        return default_jobs(nkernels)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or not 1 <= jobs <= MAX_JOBS:
        raise KmmConfigError(f"jobs: {jobs!r}; accepted: 1..{MAX_JOBS} (kernels run at a time, "
                             f"each in its own process; 1 runs them in this one)")
    return min(jobs, nkernels)


def kernel_kconfig(kernel, kconfig=None) -> dict:
    """The kconfig of one kernel: KERNELS[kernel] over the user's options.
    CONFIG_MIGRC and CONFIG_MIGRC_PAUSE are what tells the kernels apart, so
    they are chosen with `kernels`, not with `kconfig`."""
    kconfig = dict(kconfig or {})
    for k in KERNELS["baseline"]:
        if k in kconfig:
            raise KmmConfigError(f"kconfig: {k} is set by the kernel choice "
                                 f"({', '.join(KERNEL_CHOICES)}); it cannot be given as kconfig")
    kconfig.update(KERNELS[kernel])
    try:
        return cfg.check_kconfig(kconfig)
    except KmmConfigError as e:
        raise KmmConfigError(f"{e} (for the {kernel} kernel)") from None


def _seed_preset_nodes():
    return [(n["cpus"], cfg.parse_size(n["mem"])) for n in cfg.PRESETS["seed"]["nodes"]]


# -- the topology: the seed machine's two nodes, resized ------------------------
#
# node0_mem / node1_mem are full-size sizes (scale 1), scaled by `scale` as
# the preset's are; cpus is node 0's CPU count (node 1 stays CPU-less);
# tier_ratio "1:N" keeps node 1 at the seed's 8 GiB and gives node 0 8 GiB / N
# (rounded down to whole MiB): how much fast memory in front of a fixed slow
# tier.  XSBench large at the seed's size needs ~5.6 GiB, so shrinking the
# slow tier instead would not hold the workload.  docs/sweep.md.
MAX_CPUS = 16                       # the seed machine's; XSBench's threads run one per CPU
MAX_TIER_RATIO = 1024


def scaled_node_mib(mem_bytes, scale):
    """A full-size node size at `scale`, in whole MiB (rounded down)."""
    return int(mem_bytes / _MIB * scale)


def parse_tier_ratio(tier_ratio) -> int:
    """'1:N' -> N (a whole number, 1..MAX_TIER_RATIO)."""
    what = (f"tier_ratio: {tier_ratio!r}; accepted: '1:N' with N a whole number in "
            f"1..{MAX_TIER_RATIO} (node 0 = 8 GiB / N in front of the seed's 8 GiB node 1), "
            f"e.g. '1:4', '1:8' (the seed), '1:16'")
    if not isinstance(tier_ratio, str):
        raise KmmConfigError(what)
    one, sep, n = tier_ratio.strip().partition(":")
    if sep != ":" or one.strip() != "1" or not n.strip().isdigit():
        raise KmmConfigError(what)
    n = int(n)
    if not 1 <= n <= MAX_TIER_RATIO:
        raise KmmConfigError(what)
    return n


def check_topology(node0_mem=None, node1_mem=None, cpus=None, tier_ratio=None,
                   scale=DEFAULT_SCALE) -> list:
    """The seed machine's nodes at full size, [(cpus, bytes), (0, bytes)],
    with node 0's and node 1's memory, node 0's CPUs or the tier ratio
    changed (None keeps the seed's).  Each node must keep at least 4 MiB at
    `scale`.  tier_ratio with node0_mem or node1_mem is refused."""
    scale = check_scale(scale)
    (cpus0, mem0), (cpus1, mem1) = _seed_preset_nodes()
    if tier_ratio is not None:
        given = [k for k, v in (("node0_mem", node0_mem), ("node1_mem", node1_mem)) if v is not None]
        if given:
            raise KmmConfigError(f"tier_ratio: sets node 0's size from node 1's (8 GiB / N); it "
                                 f"cannot be given with {' and '.join(given)}")
        mem0 = mem1 // parse_tier_ratio(tier_ratio) // _MIB * _MIB
    if node0_mem is not None:
        mem0 = cfg.parse_size(node0_mem, "node0_mem")
    if node1_mem is not None:
        mem1 = cfg.parse_size(node1_mem, "node1_mem")
    if cpus is not None:
        if isinstance(cpus, bool) or not isinstance(cpus, int) or not 1 <= cpus <= MAX_CPUS:
            raise KmmConfigError(f"cpus: {cpus!r}; accepted: 1..{MAX_CPUS} (node 0's CPUs; node 1 "
                                 f"has none, as the seed's)")
        cpus0 = cpus
    for i, mem in enumerate((mem0, mem1)):
        if scaled_node_mib(mem, scale) < cfg.MIN_NODE_BYTES // _MIB:
            what = "tier_ratio" if i == 0 and tier_ratio is not None else f"node{i}_mem"
            raise KmmConfigError(f"{what}: node {i} would have {_mib(mem)} at full size, "
                                 f"{scaled_node_mib(mem, scale)} MiB at scale {scale:g}; a node "
                                 f"needs at least 4 MiB (one MAX_ORDER block)")
    cfg.parse_nodes([{"cpus": cpus0, "mem": mem0}, {"cpus": cpus1, "mem": mem1}])
    return [(cpus0, mem0), (cpus1, mem1)]


def kernel_ablate(kernel, ablate):
    """The hunks switched off on `kernel`'s machine: `ablate` on a kernel
    with CONFIG_MIGRC, none on the baseline (the reference stays whole)."""
    return list(ablate or ()) if KERNELS[kernel]["CONFIG_MIGRC"] else []


def check_kernels_ablate(kernels, ablate) -> list:
    """`ablate` checked (hunk ids, kmm/emu/config.py ABLATABLE) against the
    kernels: at least one must have CONFIG_MIGRC."""
    if ablate is None:
        return []
    if isinstance(ablate, str) or not isinstance(ablate, (list, tuple)):
        raise KmmConfigError(f"ablate: {ablate!r}; expected a list of hunk ids like ['mm/memory.c#1']")
    cfg.check_ablate(list(ablate), {"CONFIG_MIGRC": True})
    if ablate and not any(KERNELS[k]["CONFIG_MIGRC"] for k in kernels):
        raise KmmConfigError(f"ablate: {list(ablate)!r} switches off seed-patch hunks, which only a "
                             f"kernel with CONFIG_MIGRC has; kernels: {', '.join(kernels)} "
                             f"(accepted with migrc, migrc+pause)")
    return list(ablate)


def machine_args(scale=DEFAULT_SCALE, sysctl=None, kconfig=None, seed=0, cost=None,
                 cmdline=None, cpu=None, nodes=None, ablate=None) -> dict:
    """Arguments of Machine.preset('seed', ...) at `scale`: each node's
    memory scaled (rounded down to whole MiB), the NUMA scan size scaled
    (rounded, at least 1 MB) unless `sysctl` sets it; `sysctl` merges over
    the preset's (tiering mode, demotion on); `cost` is the cost model
    (kmm/emu/hw/costs.py; default DEFAULT_COST, the seed's KVM guest);
    `cmdline` the kernel command line (e.g. 'nopti'); `cpu` merges over the
    preset's CPU model (e.g. the flush events' options); `nodes` the
    full-size nodes from check_topology() (default: the preset's); `ablate`
    seed-patch hunks to switch off (needs CONFIG_MIGRC in `kconfig`)."""
    scale = check_scale(scale)
    nodes = [{"cpus": cpus, "mem": f"{max(4, scaled_node_mib(mem, scale))}M"}
             for cpus, mem in (nodes or _seed_preset_nodes())]
    sc = scaled_sysctls(scale)
    sc.update(cfg.check_sysctl(sysctl))
    args = {"nodes": nodes, "sysctl": sc, "kconfig": dict(kconfig or {}), "seed": seed,
            "cost": scaled_cost(cost, scale), "cmdline": cfg.check_cmdline(cmdline)["text"],
            "cpu": check_cpu(cpu), "swap_cluster_max": scaled_swap_cluster_max(scale)}
    if ablate:
        args["ablate"] = list(ablate)
    return args


def scaled_sysctls(scale):
    """The sysctls the scaling rule sets at `scale` (none at 1): the scan
    size (rounded, at least 1 MB), the NUMA-balancing times (rounded, at
    least 1 ms) and vm.min_free_kbytes (at least the kernel's floor, 128)."""
    if scale == 1.0:
        return {}
    sc = {"kernel.numa_balancing_scan_size_mb": max(1, int(round(SEED_SCAN_SIZE_MB * scale)))}
    for key, ms in SCALED_TIME_SYSCTLS.items():
        sc[key] = max(1, int(round(ms * scale)))
    sc["vm.min_free_kbytes"] = max(128, int(round(SEED_MIN_FREE_KBYTES * scale)))
    return sc


def scaled_swap_cluster_max(scale):
    """SWAP_CLUSTER_MAX at `scale` (the kernel's 32 at 1; rounded, at least 1)."""
    return max(1, int(round(cfg.SWAP_CLUSTER_MAX * scale)))


def rule_scaled_cost_ops(cost, scale):
    """The SCALED_COST_OPS the scaling rule scales at `scale`: all of them
    unless `cost` (a check_cost() result) sets one itself."""
    user = set(cost) - {"preset"} if isinstance(cost, dict) else set()
    return [] if scale == 1.0 else [op for op in SCALED_COST_OPS if op not in user]


def scaled_cost(cost, scale):
    """The run's cost model with the shootdown IPIs' costs (SCALED_COST_OPS)
    scaled by `scale` (rounded to whole ns), except those `cost` sets itself."""
    from kmm.emu.hw.costs import check_cost as _check
    c = _check(DEFAULT_COST if cost is None else cost)
    over = {op: c["ns"][op] for op in c["overridden"]}
    if scale != 1.0:
        for op in SCALED_COST_OPS:
            if op not in over:
                over[op] = int(round(c["ns"][op] * scale))
    return c["preset"] if not over else dict(over, preset=c["preset"])


def check_cpu(cpu):
    """The seed preset's CPU model with `cpu` merged over it (checked)."""
    if cpu is not None and not isinstance(cpu, dict):
        raise KmmConfigError(f"cpu: expected a dict like {{'cr3_noflush_counts': 'all'}}, got {cpu!r}")
    merged = dict(cfg.PRESETS["seed"]["cpu"], **(cpu or {}))
    cfg.check_cpu(merged)
    return merged


def check_cost(cost):
    """The cost model of a run: None is DEFAULT_COST; the rest as Machine's."""
    from kmm.emu.hw.costs import check_cost as _check
    c = _check(DEFAULT_COST if cost is None else cost)
    over = {op: c["ns"][op] for op in c["overridden"]}
    return c["preset"] if not over else dict(over, preset=c["preset"])


def make_machine(kernel, scale=DEFAULT_SCALE, sysctl=None, kconfig=None, seed=0, cost=None,
                 cmdline=None, cpu=None, nodes=None, ablate=None):
    """`kernel`'s seed machine; `ablate` applies only if it has CONFIG_MIGRC."""
    args = machine_args(scale, sysctl, kernel_kconfig(kernel, kconfig), seed, cost, cmdline, cpu,
                        nodes, kernel_ablate(kernel, ablate))
    return kmm.Machine.preset("seed", **args)


# -- workloads ---------------------------------------------------------------

def _parse_workload(workload):
    if not isinstance(workload, str):
        raise KmmConfigError(f"workload: {workload!r}; accepted: {', '.join(WORKLOADS)}")
    if workload in ("xsbench", "gups"):
        return workload, None
    if workload.startswith("trace:") and len(workload) > len("trace:"):
        return "trace", workload[len("trace:"):]
    raise KmmConfigError(f"workload: {workload!r}; accepted: {', '.join(WORKLOADS)}")


def workload_params(workload="xsbench", scale=DEFAULT_SCALE, particles=None, lookups=None,
                    size=None, threads=None, seed=0, cpus=None) -> dict:
    """The workload's parameters after defaults; refuses options that do
    not apply to the workload.  `cpus` is node 0's CPU count (None: the
    seed's 16): the threads default to it, as XSBench's OpenMP threads
    default to the CPUs, and may not exceed it (the engine runs one thread
    per CPU)."""
    kind, path = _parse_workload(workload)
    scale = check_scale(scale)
    if kind != "xsbench":
        for name, v in (("particles", particles), ("lookups", lookups), ("size", size)):
            if v is not None:
                raise KmmConfigError(f"{name}: applies to the xsbench workload only, not {kind}")
    ncpus = DEFAULT_THREADS if cpus is None else cpus
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= ncpus:
            which = "the seed machine's CPUs" if cpus is None else f"node 0's CPUs: cpus={cpus}"
            raise KmmConfigError(f"threads: {threads!r}; accepted: 1..{ncpus} ({which})")
    default_threads = ncpus
    if kind == "xsbench":
        from kmm.workloads.xsbench import DEFAULT_LOOKUPS
        return {"kind": kind, "size": size or "large", "scale": scale,
                "particles": DEFAULT_PARTICLES if particles is None else particles,
                "lookups": DEFAULT_LOOKUPS if lookups is None else lookups,
                "threads": default_threads if threads is None else threads, "seed": seed}
    if kind == "gups":
        table = max(8, int(GUPS_TABLE_BYTES * scale) // 4096 * 4096)
        return {"kind": kind, "table": table, "updates": int(table // 8 * GUPS_UPDATES_PER_WORD),
                "threads": default_threads if threads is None else threads, "seed": seed}
    if not os.path.exists(path):
        raise KmmConfigError(f"workload: trace file {path!r} does not exist")
    return {"kind": kind, "path": path, "threads": threads, "seed": seed}


def make_workload(p: dict):
    if p["kind"] == "xsbench":
        from kmm.workloads.xsbench import XSBench
        return XSBench(size=p["size"], scale=p["scale"], particles=p["particles"],
                       lookups=p["lookups"], threads=p["threads"], seed=p["seed"])
    if p["kind"] == "gups":
        from kmm.workloads.gups import GUPS
        return GUPS(table=p["table"], updates=p["updates"], threads=p["threads"], seed=p["seed"])
    from kmm.workloads.trace import Trace
    w = Trace(p["path"], threads=p["threads"], seed=p["seed"])
    if w.nthreads > 16:
        raise KmmConfigError(f"workload: trace {p['path']!r} has {w.nthreads} threads; "
                             f"the seed machine has 16 CPUs")
    return w


def command_line(w) -> str:
    """The workload as the seed's perf line would launch it."""
    d = w.describe()
    if d["workload"] == "xsbench":
        args = []
        if d["threads"] != 16:
            args.append(f"-t {d['threads']}")
        if d["size"] != "large":
            args.append(f"-s {d['size']}")
        if d["gridpoints"] != 11303:
            args.append(f"-g {d['gridpoints']}")
        if d["lookups_per_particle"] != 34:
            args.append(f"-l {d['lookups_per_particle']}")
        args.append(f"-p {d['particles']}")
        return "./XSBench " + " ".join(args)
    if d["workload"] == "gups":
        return f"./gups --table {d['table_bytes']} --updates {d['updates']} --threads {d['threads']}"
    return f"./replay {d['source']} --threads {d['threads']}"


def xsbench_init_virtual_s(w):
    """XSBench's initialisation phase in virtual seconds (before its lookups),
    without the kernel's time."""
    return w.describe()["init_s"]


def expected_virtual_s(w):
    """The run's length in virtual seconds as the workload's time model
    gives it, without kernel time (so a lower bound under a cost model), or
    None."""
    d = w.describe()
    if d["workload"] == "xsbench":
        return xsbench_init_virtual_s(w) + d["lookups_total"] * d["lookup_ns"] / d["threads"] / 1e9
    if d["workload"] == "gups":
        return (d["pages"] * d["init_ns_per_page"] / d["threads"]
                + d["updates"] * d["update_ns"] / d["threads"]) / 1e9
    if d["workload"] == "trace":
        return d["records"] * d["ns_per_access"] / d["threads"] / 1e9
    return None


# -- the expected wall time ----------------------------------------------------
#
# A rate model of this emulator's speed, for XSBench runs: per kernel,
#   wall = boot + INIT_WALL_PER_VIRTUAL_S * init + rate(scale) * (virtual - init)
# where init is XSBench's initialisation (its serial page writes, cheap to
# emulate) and rate(scale) the wall seconds per virtual second of the lookup
# phase, interpolated in log(scale) between the measured points below.
# With J jobs on C cores, K kernels take ceil(K / J) rounds, each slowed by
# J / C when there are more jobs than cores and by PARALLEL_SLOWDOWN when
# more than one runs at once (they share the caches and memory bus).
#
# MEASURED on the shared 2-core development machine (AMD EPYC, 32 MiB L3),
# 2026-12-04, after the cost model and the mirrored scan-period adaptation
# (issue "Kernel work takes time"; --cost kvm, the default), one kernel at a
# time, load average 0.35-0.65 (the quantities of tests/bench/test_bench_scale.py:
# the lookup phase's last 40%):
#   scale 0.01, 600,000 particles: 0.85 wall s per virtual s
#   scale 0.1,  800,000 particles: 0.96
#   scale 0.3,  first 12 virtual s: 1.29
#   scale 1,    the whole run, both kernels with --jobs 2 (load 1.4-2.0):
#               564 and 581 s for 558.6 and 560.6 virtual s, 1.03 on average
#               (it was 1.6-1.8 before: the emulated machine migrated ~30x
#               as many pages).  Boot 0.15-0.18 s; the init phase (5.1
#               virtual s) took 0.56-0.62 wall s.
# Re-measure after speed work or mechanism changes and rewrite this table,
# not the prose (docs/run.md prints it from here).
WALL_RATES = (
    # (scale, boot wall s, wall s per virtual s in XSBench's lookup phase)
    (0.01, 0.04, 0.85),
    (0.1, 0.05, 0.96),
    (0.3, 0.05, 1.29),
    (1.0, 0.17, 1.03),
)
INIT_WALL_PER_VIRTUAL_S = 0.11      # XSBench's init phase, at every scale measured
# The default run, both kernels, when nothing else held a core: 12.3 s wall
# with --jobs 2 (11.2 and 11.4 s per kernel) against 21.7 s with --jobs 1
# (10.0 and 11.3 s).  The model assumes the cores are free: when another job
# holds one, two kernels at once share the other, and --jobs 2 took 26-28 s.
PARALLEL_SLOWDOWN = 1.06            # per kernel, when two run at once
CHILD_START_S = 1.0                 # a child process's start (spawn, import kmm)


def wall_rate(scale):
    """(boot wall s, lookup-phase wall s per virtual s) at `scale`, from
    WALL_RATES: interpolated in log(scale), held at the measured ends."""
    pts = WALL_RATES
    if scale <= pts[0][0]:
        return pts[0][1:]
    for (s0, b0, r0), (s1, b1, r1) in zip(pts, pts[1:]):
        if scale <= s1:
            t = (math.log(scale) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return b0 + t * (b1 - b0), r0 + t * (r1 - r0)
    return pts[-1][1:]


def expected_wall_s(kernels, jobs, virtual_s, scale, init_virtual_s=0.0, cores=None):
    """The expected wall seconds of running `kernels` (a count or a
    sequence) XSBench runs of `virtual_s` virtual seconds each (of which
    `init_virtual_s` initialisation) at `scale`, `jobs` at a time, from
    the rate model above (WALL_RATES)."""
    k = kernels if isinstance(kernels, int) else len(kernels)
    jobs = max(1, min(jobs, k))
    cores = cores or default_jobs(MAX_JOBS)
    boot, rate = wall_rate(scale)
    init = min(init_virtual_s, virtual_s)
    one = boot + INIT_WALL_PER_VIRTUAL_S * init + rate * (virtual_s - init)
    if jobs > 1:
        one = CHILD_START_S + one * PARALLEL_SLOWDOWN * max(1.0, jobs / cores)
    return math.ceil(k / jobs) * one


def expected_run_wall_s(kernels, jobs, wparams, duration=None):
    """expected_wall_s() for one run_seed_experiment() call: its kernels,
    jobs, workload parameters (workload_params()) and duration; None for
    the workloads the model was not measured on (gups, traces)."""
    if wparams["kind"] != "xsbench":
        return None
    w = make_workload(wparams)
    virtual = expected_virtual_s(w)
    if duration is not None:
        virtual = min(virtual, duration)
    return expected_wall_s(kernels, check_jobs(jobs, len(kernels)), virtual, wparams["scale"],
                           xsbench_init_virtual_s(w))


# -- scaling, for the header and the JSON ------------------------------------

def _mib(b):
    if b >= _GIB and b % _GIB == 0:
        return f"{b // _GIB} GiB"
    return f"{b // _MIB} MiB" if b % _MIB == 0 else f"{b / _MIB:.1f} MiB"


def scaling(mach, w, scale) -> dict:
    seed_nodes = _seed_preset_nodes()
    scaled = []
    for nid, spec in enumerate(mach.node_specs):
        scaled.append({"what": f"node {nid} memory", "seed": _mib(seed_nodes[nid][1]),
                       "here": _mib(spec.mem_bytes)})
    d = w.describe()
    if d["workload"] == "xsbench":
        pages = sum(r["pages"] for r in d["regions"].values())
        scaled.append({"what": f"XSBench {d['size']} grid points per nuclide (-g)",
                       "seed": "11303", "here": f"{d['gridpoints']} ({pages:,} pages, "
                                                f"{_mib(pages * 4096)})"})
        scaled.append({"what": "particles (-p): the run's length", "seed": f"{SEED_PARTICLES:,}",
                       "here": f"{d['particles']:,}"})
    full = dict(SCALED_TIME_SYSCTLS, **{"kernel.numa_balancing_scan_size_mb": SEED_SCAN_SIZE_MB,
                                         "vm.min_free_kbytes": SEED_MIN_FREE_KBYTES})
    for key in scaled_sysctls(0.5):                     # the keys the rule sets
        scaled.append({"what": key, "seed": str(full[key]), "here": str(mach.sysctl[key])})
    from kmm.emu.hw.costs import PRESETS
    scaled.append({"what": "SWAP_CLUSTER_MAX (reclaim's batch, pages)",
                   "seed": str(cfg.SWAP_CLUSTER_MAX), "here": str(_sysctl.swap_cluster_max(mach))})
    preset = PRESETS[mach.cost["preset"]]
    scaled.append({"what": "shootdown IPI costs, ns (" + ", ".join(SCALED_COST_OPS) + ")",
                   "seed": "/".join(str(preset[op][0]) for op in SCALED_COST_OPS),
                   "here": "/".join(str(mach.cost["ns"][op]) for op in SCALED_COST_OPS)})
    not_scaled = [
        "how every counter is computed: each number is counted by the mirrored mechanism "
        "during this run, never multiplied or extrapolated",
        f"{mach.nr_cpus} CPUs and the workload's {w.nthreads} threads",
        "the workload's time per lookup and per init page, and the kernel's cost per "
        "operation other than the shootdown IPIs' (docs/cost-model.md)",
        "every other sysctl and kernel constant (the other watermarks follow from the "
        "node sizes and vm.min_free_kbytes by the kernel's formulas), the emulated CPU "
        "and TLB sizes",
    ]
    if scale != 1.0:
        # memory and the kernel's times scale together: each per-page rate
        # runs 1/scale times faster, so a virtual second here stands for
        # 1/scale seconds of the full-size run
        scaled.append({"what": "time: one full-size second is", "seed": "1 s",
                       "here": f"{scale:g} virtual s (every per-page rate {1 / scale:g}x faster)"})
    return {"scale": scale, "scaled": scaled, "not_scaled": not_scaled}


# -- the runs ----------------------------------------------------------------

def ratio(after, before):
    """AFTER/BEFORE, or None where it is undefined (a zero BEFORE, or a
    counter that is not modelled)."""
    if not isinstance(after, (int, float)) or not isinstance(before, (int, float)) or before == 0:
        return None
    return after / before


def seed_ratios() -> dict:
    """AFTER/BEFORE from the seed's published numbers (SEED_REFERENCE)."""
    return {c: ratio(a, b) for c, (b, a) in SEED_REFERENCE.items()}


def counters(run: dict) -> dict:
    """One run's counters under the names the report prints."""
    out = dict(run["perf"])
    out[ELAPSED] = run["virtual_s"]
    out.update(run["vmstat"])
    return out


# -- convergence -----------------------------------------------------------------
#
# A cumulative AFTER/BEFORE that is still moving when the run stops is not a
# prediction: beside it the report prints the ratio over the run's second
# half and marks the pair when they differ by more than CONVERGED_TOL.

CONVERGED_TOL = 0.10
WINDOW_COUNTERS = tuple(c for c in COUNTERS if c not in ("iTLB-load-misses", ELAPSED))


def windows(run: dict) -> list:
    """The run's printed counters per virtual-time window (between two
    consecutive snapshots): [{"t0", "t1", counter: delta, ...}]."""
    s = run["snapshots"]
    return [dict({"t0": a["t"], "t1": b["t"]}, **{c: b[c] - a[c] for c in WINDOW_COUNTERS})
            for a, b in zip(s, s[1:])]


def second_half(run: dict, counter: str):
    """counter over the second half of the run's virtual time (from the last
    snapshot at or before its middle to the end), or None when the
    snapshots do not carry it."""
    if counter not in WINDOW_COUNTERS:
        return None
    s = run["snapshots"]
    mid = s[0]["t"] + run["virtual_s"] / 2
    return s[-1][counter] - [x for x in s if x["t"] <= mid][-1][counter]


def converged(cumulative, half):
    """Whether the cumulative ratio is within CONVERGED_TOL of the second
    half's (None when either is undefined)."""
    if cumulative is None or half is None:
        return None
    return abs(half / cumulative - 1) <= CONVERGED_TOL if cumulative else half == 0


def engagement(result: dict) -> list:
    """One line per run in which the mechanism under study never acted: the
    NUMA scanner never ran, or a migrc kernel deferred no flush."""
    lines = []
    delay = result["machine"]["sysctl"].get("kernel.numa_balancing_scan_delay_ms", 1000)
    for k in result["kernels"]:
        run = result["runs"][k]
        vm = run["vmstat_all"]
        if vm.get("numa_pte_updates", 0) == 0 and run["virtual_s"] * 1000 <= delay:
            lines.append(f"{k}: the NUMA scanner never ran: the run lasted {run['virtual_s']:.3f} "
                         f"virtual s, and task_numa_work first scans "
                         f"kernel.numa_balancing_scan_delay_ms = {delay} ms after the task starts")
        elif vm.get("numa_pte_updates", 0) == 0:
            lines.append(f"{k}: the NUMA scanner marked no page for a hint fault "
                         f"(numa_pte_updates 0): in tiering mode it marks only pages on the slow "
                         f"node, and from its third pass on v6.6-rc5 scans a VMA only if the task "
                         f"took a hint fault in it (vma_is_accessed): two passes that find no "
                         f"slow-node page (during the workload's init) stop it for good "
                         f"(docs/cost-model.md, 'The v6.6-rc5 scanner stalls')")
        elif run["kconfig"].get("CONFIG_MIGRC") and run["migrc"]["deferred_folios"] == 0:
            lines.append(f"{k}: migrc never engaged: it deferred no flush ({vm['pgpromote_success']:,} "
                         f"promotions, {vm['pgdemote_kswapd'] + vm['pgdemote_direct']:,} demotions; "
                         f"migrc defers only the migration of a page mapped read-only and clean, "
                         f"such as one promoted by a hint fault and demoted again)")
    return lines


def _stall_why(result: dict, kernel: str) -> str:
    """What usually runs the flush, and why this run lacked it."""
    if not result["runs"][kernel]["kconfig"].get("CONFIG_ZONE_DMA", True):
        return ("; without CONFIG_ZONE_DMA node 0 has no second zone whose failing watermark "
                "runs the flush")
    dma = result["runs"][kernel]["snapshots"][-1].get("node0_zones", {}).get("DMA")
    held = "" if dma is None else (
        f" (here it held {dma['migrc_pending']:,} pending against its low watermark plus "
        f"lowmem reserve of {dma['low'] + dma['lowmem_reserve']:,})")
    if result["scaling"]["scale"] >= 1.0:
        return ("" if dma is None else "; node 0's DMA zone, whose failing watermark is what "
                "runs the flush, no longer failed it" + held)
    return ("; scaled runs reach this more easily than the full size: node 0's 16 MiB DMA zone, "
            "whose failing watermark is what runs the flush, is a larger share of a scaled "
            "node 0 while its lowmem reserve shrinks" + held)


def stalls(result: dict) -> list:
    """One line per run whose promotion stopped for good behind migrc's
    pending folios (docs/hazards.md, "Promotion stalls behind pending
    pages"): at the end node 0's buddy lists are empty, its pending folios
    alone pass WMARK_HIGH, and no page was promoted since the run's middle."""
    lines = []
    for k in result["kernels"]:
        snaps = result["runs"][k]["snapshots"]
        last = snaps[-1]
        if not last.get("node0_migrc_pending") or len(snaps) < 4:
            continue
        since = [sn for sn in snaps if sn["pgpromote_success"] == last["pgpromote_success"]][0]
        if last["node0_free"] == 0 and last["node0_migrc_pending"] > last["node0_high"] and \
                since["t"] <= snaps[len(snaps) // 2]["t"]:
            lines.append(f"{k}: promotion stopped at {since['t']:.2f} virtual s and never resumed: "
                         f"node 0's free lists are empty while {last['node0_migrc_pending']:,} "
                         f"folios wait for migrc's deferred flush, which count as free "
                         f"(WMARK_HIGH {last['node0_high']:,}), so no watermark check fails and "
                         f"nothing flushes them (docs/hazards.md)"
                         + _stall_why(result, k))
    return lines


def run_kernel(kernel, scale=DEFAULT_SCALE, wparams=None, duration=None, seed=0, sysctl=None,
               kconfig=None, cost=None, cmdline=None, cpu=None, trace=None, progress=None,
               snapshot_every=None, nodes=None, ablate=None):
    """One run: a fresh seed machine with `kernel`'s kconfig (on `nodes`,
    check_topology(), and with `ablate`'s hunks off if the kernel has
    CONFIG_MIGRC), the workload, the engine.  Returns (run dict, machine
    facts, workload facts, scaling), all plain data: the machine and the
    workload are freed on return."""
    out = _run_kernel(kernel, scale, wparams, duration, seed, sysctl, kconfig, cost, cmdline, cpu,
                      trace, progress, snapshot_every, nodes, ablate)
    # The Machine sits in reference cycles (its Oracle and Processes point
    # back at it), which only the cycle collector frees: collect now, so its
    # memory is returned before the next kernel's machine boots.
    gc.collect()
    return out


def check_out_path(what, path):
    """None, or a path that can take an output file (checked before any
    run: kmm/emu/config.py check_output_path)."""
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise KmmConfigError(f"{what}: {path!r}; expected a file path")
    why = cfg.check_output_path(str(path))
    if why:
        raise KmmConfigError(f"{what}: {why}")
    return str(path)


def trace_path(path, kernel, per_kernel):
    """The file of one kernel's trace: `path`, or with the kernel's name
    before the suffix when several kernels run (trace.txt -> trace.migrc.txt)."""
    if not per_kernel:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}.{kernel}{p.suffix}"))


def _run_kernel(kernel, scale, wparams, duration, seed, sysctl, kconfig, cost, cmdline, cpu,
                trace, progress, snapshot_every, nodes, ablate):
    from kmm.emu.engine import run as engine_run
    from kmm.emu import tracing
    mach = make_machine(kernel, scale, sysctl, kconfig, seed, cost, cmdline, cpu, nodes, ablate)
    if trace:
        tracing.start(mach, trace.get("events"), trace.get("window"))
    w = make_workload(wparams)
    expected = expected_virtual_s(w)
    if duration is not None:
        expected = min(expected, duration) if expected else duration
    if snapshot_every is None:
        # ~100-200 snapshots whatever the run's length
        snapshot_every = max(0.1, round((expected or 10.0) / 120, 1))
    update = progress.start(kernel, expected) if progress is not None else None
    cb = None
    if update is not None:
        def cb(virtual_s, done_fraction):
            frac = virtual_s / expected if expected else done_fraction
            update(virtual_s, min(frac, 0.999))
    # perf stat counts from the workload's launch: clear the boot's events
    # (the CPUs' initial TLB flushes).  /proc/vmstat, as the seed read it,
    # counts since boot, so vmstat is not reset.
    mach.perf_reset()
    cpu0 = time.process_time()
    r = engine_run(mach, w, until=duration, progress=cb, snapshot_every=snapshot_every)
    perf_all = dict(r["perf"])
    vm_all = dict(r["vmstat"])
    start = r["perf_run_start"]
    run = {
        "kernel": kernel,
        "title": KERNEL_TITLES[kernel],
        "kconfig": {k: v for k, v in mach.kconfig.items()},
        "ablated": mach.ablated,
        "perf": {e: perf_all[e] for e in PERF_EVENTS},
        "perf_after_init": None if start is None else
        {e: perf_all[e] - start[e] for e in PERF_EVENTS if isinstance(start[e], int)},
        "vmstat": {c: vm_all[c] for c in VMSTAT_COUNTERS},
        "virtual_s": r["virtual_s"],
        "wall_s": r["wall_s"],
        "cpu_s": time.process_time() - cpu0,
        "kernel_wall_s": r["kernel_wall_s"],
        "cpu_time": r["cpu_time"],
        "oracle_violations": r["oracle_violations"],
        "migrc": mach.migrc_stats(),
        "finished": r["finished"],
        "done_fraction": r["done_fraction"],
        "perf_all": perf_all,
        "vmstat_all": vm_all,
        "snapshots": r["snapshots"],
        "attribution": r["attribution"],
        "interrupts_tlb": r["interrupts_tlb"],
    }
    if trace and "trace" in r:
        from kmm.report import ftrace, perfetto
        t = r["trace"]
        title = f"{kernel} ({KERNEL_TITLES[kernel]})"
        run["trace"] = {"events": int(len(t["events"])), "dropped": int(t["dropped"]), "files": []}
        for key, writer in (("path", ftrace.write), ("perfetto", perfetto.write)):
            if trace.get(key):
                path = trace_path(trace[key], kernel, trace.get("per_kernel"))
                if key == "path":
                    writer(path, t, title, wparams["kind"])
                else:
                    writer(path, run, t, title)
                run["trace"]["files"].append(path)
    if progress is not None:
        progress.finish(kernel, run)
    facts_m = {
        "preset": "seed",
        "nodes": [{"cpus": n.cpus, "mem_bytes": n.mem_bytes} for n in mach.node_specs],
        "sysctl": {k: (list(v) if isinstance(v, tuple) else v) for k, v in mach.sysctl.items()},
        "numa_scan_floor_ms": _sysctl.numa_scan_floor_ms(mach),   # task_scan_min()'s floor
        "swap_cluster_max": _sysctl.swap_cluster_max(mach),       # reclaim's batch (pages)
        "cpu": dict(mach.cpu),
        "cmdline": mach.cmdline["text"],
        "pti": mach.pti,
        "tlb": mach.tlb,
        # the cost table, and which ops the scaling rule (not the user) set
        "cost": dict(mach.cost, scaled=rule_scaled_cost_ops(cost, scale)),
        "seed": seed,
    }
    desc = w.describe()
    desc["kind"] = desc["workload"]
    desc["command"] = command_line(w)
    desc["expected_virtual_s"] = expected_virtual_s(w)
    return run, facts_m, desc, scaling(mach, w, scale)


def run_seed_experiment(kernels=DEFAULT_KERNELS, scale=DEFAULT_SCALE, workload="xsbench",
                        particles=None, lookups=None, size=None, threads=None, duration=None,
                        seed=0, sysctl=None, kconfig=None, cost=None, progress=None,
                        snapshot_every=None, jobs=None, cmdline=None, cpu=None,
                        trace=None, trace_events=None, trace_window=None, perfetto=None,
                        node0_mem=None, node1_mem=None, cpus=None, tier_ratio=None, ablate=None):
    """Run the seed experiment once per kernel, same seed, and return the
    JSON-able result: machine, workload, scaling, runs[kernel], ratios
    (each non-baseline kernel's AFTER/BEFORE against baseline), seed_ratios,
    seed (the reference data and its source), version.

    The machine is the seed's unless `node0_mem`, `node1_mem` (full-size
    sizes such as '2G', scaled by `scale`), `cpus` (node 0's CPUs) or
    `tier_ratio` ('1:N': node 0 = 8 GiB / N) change it (check_topology);
    `ablate` lists seed-patch hunks to switch off on the kernels with
    CONFIG_MIGRC (the baseline, the reference, stays whole).

    `jobs` kernels run at a time, each in its own process (default: one per
    core, at most one per kernel); jobs=1 runs them here, one after the
    other.  The result is the same whatever `jobs`, apart from the wall and
    CPU times.  With jobs > 1 a calling script needs the usual
    multiprocessing guard, `if __name__ == "__main__":`.

    `progress`, if given, has start(kernel, expected_virtual_s) -> None or
    update(virtual_s, fraction), and finish(kernel, run); with jobs > 1 the
    calls come in the order the runs report, each kernel's in order."""
    kernels = check_kernels(kernels)
    jobs = check_jobs(jobs, len(kernels))
    scale = check_scale(scale)
    duration = check_duration(duration)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise KmmConfigError(f"seed: {seed!r}; accepted: a whole number in 0..2**64-1")
    sysctl = cfg.check_sysctl(sysctl)
    for k in kernels:                       # refuse a bad kconfig before any run
        kernel_kconfig(k, kconfig)
    nodes = check_topology(node0_mem, node1_mem, cpus, tier_ratio, scale)
    ablate = check_kernels_ablate(kernels, ablate)
    wparams = workload_params(workload, scale, particles, lookups, size, threads, seed,
                              None if cpus is None else nodes[0][0])
    wall0 = time.perf_counter()
    cost = check_cost(cost)
    cmdline = cfg.check_cmdline(cmdline)["text"]
    cpu = check_cpu(cpu)
    tr = None
    if trace is not None or perfetto is not None:
        from kmm.emu import tracing
        tr = {"path": check_out_path("trace", trace), "perfetto": check_out_path("perfetto", perfetto),
              "events": sorted(tracing.EVENTS[i] for i in range(len(tracing.EVENTS))
                               if tracing.check_events(trace_events) >> i & 1),
              "window": tracing.check_window(trace_window), "per_kernel": len(kernels) > 1}
    elif trace_events is not None or trace_window is not None:
        raise KmmConfigError("trace_events / trace_window: need trace or perfetto (a file to write)")
    args = (scale, wparams, duration, seed, sysctl, kconfig, cost, cmdline, cpu, tr)
    topo = {"nodes": nodes, "ablate": ablate}
    if jobs == 1:
        done = {k: run_kernel(k, *args, progress=progress, snapshot_every=snapshot_every, **topo)
                for k in kernels}
    else:
        from kmm.experiments.parallel import run_kernels
        done = run_kernels(kernels, jobs, args, snapshot_every, progress, topo)
    runs = {k: d[0] for k, d in done.items()}
    _, machine, wdesc, scal = done[kernels[-1]]
    ratios, ratios_half, conv = {}, {}, {}
    if "baseline" in runs:
        before = counters(runs["baseline"])
        for k in kernels:
            if k != "baseline":
                after = counters(runs[k])
                ratios[k] = {c: ratio(after[c], before[c]) for c in COUNTERS}
                # elapsed time per unit of the workload's work, AFTER/BEFORE:
                # the elapsed ratio when both finish, and the one comparable
                # ratio when --duration stops both at the same virtual time
                b, a = runs["baseline"], runs[k]
                ratios[k][TIME_PER_WORK] = ratio(a["virtual_s"] * b["done_fraction"],
                                                 b["virtual_s"] * a["done_fraction"])
                half = {c: ratio(second_half(a, c), second_half(b, c)) for c in COUNTERS}
                ratios_half[k] = half
                conv[k] = {c: converged(ratios[k][c], half[c]) for c in COUNTERS}
                if a["perf_after_init"] and b["perf_after_init"]:
                    ratios[k][STORES_AFTER_INIT] = ratio(a["perf_after_init"]["dTLB-store-misses"],
                                                         b["perf_after_init"]["dTLB-store-misses"])
    machine["kconfig"] = {k: runs[k]["kconfig"] for k in kernels}
    machine["ablated"] = {k: runs[k]["ablated"] for k in kernels}
    out = {
        "experiment": "seed",
        "machine": machine,
        "workload": wdesc,
        "scaling": scal,
        "duration": duration,
        "kernels": list(kernels),
        "runs": runs,
        "ratios": ratios,
        "ratios_second_half": ratios_half,
        "converged": conv,
        "windows": {k: windows(runs[k]) for k in kernels},
        "seed_ratios": seed_ratios(),
        "seed": {"source": SEED_SOURCE,
                 "reference": {c: {"BEFORE": b, "AFTER": a} for c, (b, a) in SEED_REFERENCE.items()}},
        "counters": list(COUNTERS),
        "notes": {c: {"modelled": s, "reason": why} for c, (s, why) in ROW_NOTES.items()},
        "wall_s": time.perf_counter() - wall0,
        "version": kmm.__version__,
        "source": kmm.source_fingerprint(),     # the sources that ran (kmm sweep checks it)
    }
    out["engagement"] = engagement(out)
    out["stalls"] = stalls(out)
    # what a full-size value depends on besides the length and the scale
    # (similarity.SAME_INPUTS), as JSON holds it
    out["inputs"] = json.loads(json.dumps({
        "workload": wdesc["workload"], "size": wdesc.get("size"),
        "lookups_per_particle": wdesc.get("lookups_per_particle"), "threads": wdesc["threads"],
        "nodes": nodes, "sysctl": sysctl, "kconfig": dict(kconfig or {}),
        "cost": {"preset": cost} if isinstance(cost, str) else dict(cost),
        "cmdline": cmdline, "cpu": cpu, "ablate": ablate, "seed": seed}))
    if wdesc["workload"] == "xsbench":
        from kmm.experiments import similarity as sim
        ref, why_not = sim.reference_for(out["inputs"], sim.load_reference())
        if ref is not None and scale < 1.0:
            ref, why_not = sim.covers(out, ref)
        rows = {k: sim.similarity(runs[k], machine, wdesc, scale, ref) for k in kernels}
        out["similarity"] = {k: rows[k][0] for k in kernels}
        out["given_up"] = {k: rows[k][1] for k in kernels}
        out["similarity_reference"] = None if ref is None else \
            {"commit": ref["commit"], "command": ref["command"], "note": ref["note"],
             "seed": ref["seed"]}
        out["full_size"] = {"reference": out["similarity_reference"], "why_not": why_not,
                            "span_s": None, "reference_s": None,
                            "ratios": None, "agrees": None, "windows": None}
        if ref is not None and scale < 1.0:
            out["full_size"]["span_s"], out["full_size"]["reference_s"] = sim.reach(out, ref)
            full = sim.full_size_ratios(out, ref, COUNTERS)
            out["full_size"]["ratios"] = full
            out["full_size"]["agrees"] = {k: {c: sim.within(ratios[k][c], full[k][c])
                                                  for c in COUNTERS} for k in full}
            out["full_size"]["windows"] = sim.full_size_windows(out, ref, COUNTERS)
    return out
