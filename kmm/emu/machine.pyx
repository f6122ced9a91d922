"""The Python-level API: an emulated NUMA machine booted like the kernel.

Machine(nodes=[...], kconfig={...}, sysctl={...}, cpu={...}, seed=0) builds
the state (mem_map, NODE_DATA, per-CPU data, sysctls) and boots it through
the mirrored init code: free_area_init_node, memblock_free_all,
build_all_zonelists, init_per_zone_wmark_min, establish_demotion_targets,
swapfile_init, kswapd_run.  Every method makes its machine current before it
calls mirrored code and checks its arguments first, so misuse raises a
KmmError instead of corrupting state.
"""

from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memset

from kmm.emu.current cimport kmm_current, kmm_set_current
from kmm.linux.include_.kmm.machine cimport kmm_machine, kmm_cpu, vm_event_state, KMM
from kmm.linux.include_.linux.gfp_types cimport *
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.linux.mmzone cimport *
from kmm.linux.include_.linux.nodemask cimport nodemask_t, node_set, MAX_NUMNODES
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.vm_event_item cimport NR_VM_EVENT_ITEMS
from kmm.linux.include_.linux.page_flags cimport PageBuddy, PageTable, page_has_type
from kmm.linux.include_.linux.mm cimport page_cpupid_last, pfn_to_page, page_to_pfn, folio_put, folio_get, page_zonenum, page_to_nid
from kmm.linux.include_.linux.vmstat cimport zone_page_state
from kmm.linux.include_.trace.events.mmflags cimport (NR_PAGEFLAG_NAMES, pageflag_names_bit,
                                               pageflag_names_name)
from kmm.linux.kernel.fork cimport alloc_task_struct_node, free_all_tasks, free_all_mms
from kmm.linux.kernel.sched.core cimport init_idle
from kmm.linux.mm.mm_init cimport free_area_init_node
from kmm.linux.mm.memblock cimport memblock_free_all
from kmm.linux.mm.page_alloc cimport (build_all_zonelists, init_per_zone_wmark_min,
                                setup_per_zone_wmarks, setup_per_zone_lowmem_reserve,
                                __alloc_pages, __free_pages, zone_watermark_ok,
                                __zone_watermark_ok)
from kmm.linux.mm.memory_tiers cimport establish_demotion_targets, next_demotion_node, node_is_toptier
from kmm.linux.mm.swapfile cimport swapfile_init
from kmm.linux.mm.vmscan cimport kswapd_run
from kmm.linux.mm.migrate cimport migrc_flush_free_folios
# x86 TLB: the emulated caches and arch/x86/mm/tlb.c (see the TLB section below)
from libc.stdint cimport uintptr_t
from kmm.linux.include_.linux.cpumask cimport cpumask_test_cpu
from kmm.linux.include_.kmm.machine cimport get_current
from kmm.emu.hw.cpu cimport (tlb_entry, tlb_cpu, HW_TLB_SETASSOC, HW_TLB_UNBOUNDED, HW_PTE_PRESENT,
                         HW_PTE_RW, HW_PTE_USER, HW_PTE_ACCESSED, HW_PTE_DIRTY, HW_PTE_PFN_MASK)
from kmm.emu.hw.tlb cimport (tlb_hw_init, tlb_hw_free, tlb_lookup, tlb_fill, tlb_probe, tlb_nr_live,
                         tlb_invlpg)
from kmm.linux.include_.linux.mm_types_task cimport tlbflush_unmap_batch
from kmm.linux.arch.x86.include_.asm.tlbflush cimport (tlb_state, TLB_FLUSH_ALL, TLB_NR_DYN_ASIDS, inc_mm_tlb_gen,
                                                arch_tlbbatch_add_pending, arch_tlbbatch_fold,
                                                arch_tlbbatch_clear)
from kmm.linux.arch.x86.include_.asm.mmu_context cimport init_new_context
from kmm.linux.arch.x86.mm.tlb cimport (switch_mm_irqs_off, enter_lazy_tlb, flush_tlb_mm_range,
                                  flush_tlb_mm, flush_tlb_local, flush_tlb_all,
                                  arch_tlbbatch_flush, arch_tlbbatch_should_defer,
                                  initialize_tlbstate_and_flush)
from kmm.emu.hw import perf as _perf
from kmm.linux.mm import vmstat as _vmstat
from kmm.emu.debug import debug_vm as _debug_vm
from kmm.emu.debug import interleave as _interleave

from kmm.emu import config as _cfg
from kmm.emu.config import KmmConfigError, KmmStateError, KmmError

SIZEOF_STRUCT_PAGE = sizeof(page)
assert sizeof(vm_event_state) == NR_VM_EVENT_ITEMS * sizeof(unsigned long)

ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")
# CONFIG_MIGRC_FIXES flush points, in MIGRC_FIX_* order (kmm/linux/mm/migrate.pxd)
_MIGRC_FIX_NAMES = ("handle_mm_fault", "tlb_finish_mmu", "generic_perform_write",
                    "truncate_inode_pages_range", "migrc_flush_free_folios", "handle_mm_fault_vma")
WMARK_NAMES = ("min", "low", "high", "promo")

GFP = {
    "GFP_KERNEL": GFP_KERNEL, "GFP_USER": GFP_USER, "GFP_HIGHUSER": GFP_HIGHUSER,
    "GFP_HIGHUSER_MOVABLE": GFP_HIGHUSER_MOVABLE, "GFP_ATOMIC": GFP_ATOMIC,
    "GFP_NOWAIT": GFP_NOWAIT, "GFP_DMA": GFP_DMA, "GFP_DMA32": GFP_DMA32,
    "__GFP_THISNODE": __GFP_THISNODE, "__GFP_NORETRY": __GFP_NORETRY,
    "__GFP_NOWARN": __GFP_NOWARN, "__GFP_HIGH": __GFP_HIGH,
    "__GFP_KSWAPD_RECLAIM": __GFP_KSWAPD_RECLAIM, "__GFP_DIRECT_RECLAIM": __GFP_DIRECT_RECLAIM,
    "__GFP_MOVABLE": __GFP_MOVABLE, "__GFP_NOMEMALLOC": __GFP_NOMEMALLOC,
}


def parse_gfp(gfp):
    """'GFP_HIGHUSER_MOVABLE|__GFP_THISNODE' or an int -> gfp_t."""
    if isinstance(gfp, bool):
        raise KmmConfigError(f"gfp: {gfp!r} is not a gfp mask")
    if isinstance(gfp, int):
        if not 0 <= gfp < (1 << 26):
            raise KmmConfigError(f"gfp: {gfp:#x} has bits outside __GFP_BITS_MASK")
        return gfp
    if not isinstance(gfp, str):
        raise KmmConfigError(f"gfp: {gfp!r}; expected an int or names like 'GFP_KERNEL|__GFP_THISNODE'")
    out = 0
    for part in gfp.split("|"):
        name = part.strip()
        if name not in GFP:
            raise KmmConfigError(f"gfp: unknown flag {name!r}; accepted: {', '.join(GFP)}")
        out |= GFP[name]
    return out


def _whole(what, v, lo, hi):
    """A whole number in lo..hi (not a bool, not a float), else KmmConfigError."""
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise KmmConfigError(f"{what}: {v!r}; accepted: a whole number in {lo}..{hi}")
    return v


def _check_order(order):
    return _whole("order", order, 0, MAX_ORDER)


cdef class Machine:
    """An emulated NUMA machine (see the module docstring)."""

    def __cinit__(self):
        self.m = NULL

    def __init__(self, nodes, kconfig=None, sysctl=None, cpu=None, seed=0, tlb=None, ablate=None):
        specs = _cfg.parse_nodes(nodes)
        self._ablate = _cfg.check_ablate(ablate)
        self.tlb = _cfg.check_tlb(tlb)
        self._tlb_mms = []
        self.kconfig = _cfg.check_kconfig(kconfig)
        sysctl_in = _cfg.check_sysctl(sysctl)
        self.cpu = _cfg.check_cpu(cpu)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise KmmConfigError(f"seed: {seed!r}; expected a whole number in 0..2**64-1")
        self.seed = seed
        self.node_specs = tuple(specs)
        self._boot(specs, sysctl_in)

    @staticmethod
    def preset(name, **overrides):
        """A named machine; keyword arguments override or extend the preset
        (dicts such as sysctl and kconfig are merged)."""
        if not isinstance(name, str) or name not in _cfg.PRESETS:
            raise KmmConfigError(f"preset: unknown machine {name!r}; accepted: {', '.join(_cfg.PRESETS)}")
        unknown = set(overrides) - {"nodes", "kconfig", "sysctl", "cpu", "seed", "tlb", "ablate"}
        if unknown:
            raise KmmConfigError(f"preset: unknown argument(s) {sorted(unknown)}; accepted: "
                                 f"nodes, kconfig, sysctl, cpu, seed")
        args = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _cfg.PRESETS[name].items()}
        for k, v in overrides.items():
            if isinstance(v, dict) and isinstance(args.get(k), dict):
                args[k].update(v)
            else:
                args[k] = v
        return Machine(**args)

    cdef _boot(self, specs, dict sysctl_in):
        cdef kmm_machine *m = <kmm_machine *>calloc(1, sizeof(kmm_machine))
        cdef unsigned long pfn = 0, total = 0
        cdef int nid, cpu, i, ncpus = 0
        cdef task_struct *idle
        if m == NULL:
            raise MemoryError("cannot allocate the machine")
        self.m = m
        for spec in specs:
            total += spec.pages
            ncpus += spec.cpus
        # Padded to whole MAX_ORDER blocks, as the kernel's memmap covers
        # whole sections: the buddy of any pfn has a struct page.  The
        # padding pages stay reserved and are never free.
        padded = (total + (1 << MAX_ORDER) - 1) & ~((1 << MAX_ORDER) - 1)
        m.mem_map = <page *>calloc(padded, sizeof(page))
        m.cpus = <kmm_cpu *>calloc(ncpus, sizeof(kmm_cpu))
        if m.mem_map == NULL or m.cpus == NULL:
            raise MemoryError(f"cannot allocate mem_map for {total} pages")
        m.max_pfn = total
        for i in range(total, padded):
            m.mem_map[i]._mapcount = -1
            m.mem_map[i]._refcount = 1
        m.nr_node_ids = len(specs)
        m.nr_cpu_ids = ncpus
        m.next_pid = 1
        m.rng_state = self.seed
        m.init_mm.mm_users = 1
        m.init_mm.mm_count = 1
        m.init_mm.kmm_id = -1
        k = self.kconfig
        m.kconfig.CONFIG_MIGRC = k["CONFIG_MIGRC"]
        m.kconfig.CONFIG_MIGRC_PAUSE = k["CONFIG_MIGRC_PAUSE"]
        m.kconfig.CONFIG_MIGRC_FIXES = k["CONFIG_MIGRC_FIXES"]
        m.kconfig.CONFIG_DEBUG_TLBFLUSH = k["CONFIG_DEBUG_TLBFLUSH"]
        m.kconfig.CONFIG_DEBUG_VM = k["CONFIG_DEBUG_VM"]
        m.migrc_ablate = self._ablate
        m.kconfig.CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH = k["CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH"]
        m.kconfig.CONFIG_KMM_NO_BATCHED_PENDING_FLUSH = k["CONFIG_KMM_NO_BATCHED_PENDING_FLUSH"]
        m.x86_bug_l1tf = self.cpu["x86_bug_l1tf"]
        m.x86_phys_bits = self.cpu["x86_phys_bits"]
        m.x86_cache_bits = self.cpu["x86_cache_bits"]
        # sysctl defaults (derived ones are filled after the zones exist)
        m.watermark_scale_factor = 10
        for i, r in enumerate((256, 256, 32, 0)):
            m.sysctl_lowmem_reserve_ratio[i] = r
        m.sysctl_numa_balancing_mode = 1 if len(specs) > 1 else 0
        m.numa_demotion_enabled = False
        m.sysctl_numa_balancing_hot_threshold = 1000
        m.sysctl_numa_balancing_promote_rate_limit = 65536
        m.sysctl_numa_balancing_scan_delay = 1000
        m.sysctl_numa_balancing_scan_period_min = 1000
        m.sysctl_numa_balancing_scan_period_max = 60000
        m.sysctl_numa_balancing_scan_size = 256
        self._enter()
        cpu = 0
        for nid, spec in enumerate(specs):
            m.node_data[nid] = <pglist_data *>calloc(1, sizeof(pglist_data))
            if m.node_data[nid] == NULL:
                raise MemoryError("cannot allocate pglist_data")
            node_set(nid, &m.node_states_memory)
            if spec.cpus:
                node_set(nid, &m.node_states_cpu)
            for i in range(spec.cpus):
                m.cpus[cpu].node = nid
                cpu += 1
            free_area_init_node(nid, pfn, pfn + spec.pages)
            pfn += spec.pages
        memblock_free_all()
        build_all_zonelists()
        init_per_zone_wmark_min()
        establish_demotion_targets()
        swapfile_init()
        for cpu in range(ncpus):
            m.cpu = cpu
            idle = alloc_task_struct_node(m.cpus[cpu].node)
            if idle == NULL:
                raise MemoryError("cannot allocate a task")
            init_idle(idle, cpu)
        self._tlb_boot()
        m.cpu = 0
        for nid in range(len(specs)):
            if kswapd_run(nid) != 0:
                raise MemoryError("cannot start kswapd")
        self._processes = []
        self._points = {}
        self._interleave_exc = None
        self._interleave_running = False
        self._migrating = False
        m.interleave_fn = NULL
        m.interleave_owner = <void *>self        # borrowed: the struct dies with self
        self.oracle = oracle_view(self, m)
        m.oracle_enabled = True
        self._sysctl = {}
        for key, value in sysctl_in.items():
            self.set_sysctl(key, value)

    def __dealloc__(self):
        cdef kmm_machine *m = self.m
        cdef void *prev = kmm_current()
        cdef int nid, i
        if m == NULL:
            return
        # The garbage collector may free this machine in the middle of
        # another machine's operation: give the current machine back after.
        kmm_set_current(m)
        self._tlb_free()
        free_all_mms()
        for i in range(m.nr_files):
            _free(m.files[i])
        _free(m.files)
        free_all_tasks()
        for nid in range(m.nr_node_ids):
            free(m.node_data[nid])
        free(m.mem_map)
        free(m.cpus)
        free(m)
        self.m = NULL
        kmm_set_current(NULL if prev == <void *>m else prev)

    cdef void _enter(self) noexcept:
        kmm_set_current(self.m)

    cdef _after(self):
        """After an operation: re-raise what an interleaving callback raised
        during it, then (CONFIG_DEBUG_VM) verify the invariants.  Inside a
        callback the interrupted kernel function is half done, so the
        invariants are not checked there."""
        if self._interleave_exc is not None and not self._interleave_running:
            exc = self._interleave_exc
            self._interleave_exc = None
            raise exc
        if self._interleave_running:
            return
        if self.m.kconfig.CONFIG_DEBUG_VM:
            problems = _debug_vm.check_invariants()
            if problems:
                raise KmmStateError("CONFIG_DEBUG_VM: " + "; ".join(problems))

    # -- interleaving points (kmm/linux/include_/kmm/interleave.pxd, docs/hazards.md) --

    @staticmethod
    def interleave_points():
        """[(name, what holds there)] for every interleaving point."""
        return _interleave.describe()

    def at(self, point, fn):
        """Context manager: run fn(point_name) each time mirrored code on
        this machine reaches `point` while the block runs.  fn may run other
        CPUs' loads and stores, other processes' system calls, allocations.
        Points do not nest: a point reached while a callback runs is passed
        over.  An exception fn raises is kept, later callbacks are skipped,
        and the exception is re-raised when the API call that reached the
        point returns (never through the C code)."""
        return self.interleave({point: fn})

    def interleave(self, points):
        """Context manager registering {point_name: fn} (see at())."""
        if not isinstance(points, dict) or not points:
            raise KmmConfigError(f"points: {points!r}; expected a dict {{point name: callable}}")
        ids = {}
        for name, fn in points.items():
            if name not in _interleave.POINT_IDS:
                raise KmmConfigError(f"point: {name!r} is not an interleaving point; accepted: "
                                     + ", ".join(_interleave.POINT_IDS))
            if not callable(fn):
                raise KmmConfigError(f"point {name!r}: {fn!r} is not callable")
            ids[_interleave.POINT_IDS[name]] = fn
        return _Interleaving(self, ids)

    cdef _register_points(self, dict ids):
        for pid in ids:
            if pid in self._points:
                raise KmmStateError(f"point {_interleave.POINT_NAMES[pid]!r} already has a callback")
        self._points.update(ids)
        self.m.interleave_fn = _interleave_tramp

    cdef _unregister_points(self, dict ids):
        for pid in ids:
            self._points.pop(pid, None)
        if not self._points:
            self.m.interleave_fn = NULL

    @property
    def ablated(self):
        """The seed-patch hunks switched off on this machine."""
        return [h for h, bit in _cfg.ABLATABLE.items() if (self.m.migrc_ablate >> bit) & 1]

    def migrc_pending(self):
        """Source folios held by migrc for a deferred flush, per zone
        (zone->migrc_pending_nr), and the requests hung on each node."""
        cdef pglist_data *pgdat
        out = {}
        for nid in range(self.m.nr_node_ids):
            pgdat = self.m.node_data[nid]
            out[nid] = {
                "pending": sum(pgdat.node_zones[z].migrc_pending_nr for z in range(MAX_NR_ZONES)),
                "has_requests": pgdat.migrc_reqs.first != NULL,
            }
        return out

    def migrc_stats(self):
        """Emulator statistics of the seed patch: source folios whose flush
        was deferred (queued on a request) and deferred flushes performed."""
        return {"deferred_folios": self.m.kmm_migrc_deferred,
                "deferred_flushes": self.m.kmm_migrc_flushes}

    def migrc_fix_flushes(self):
        """CONFIG_MIGRC_FIXES: how many times each fix point found deferred
        flushes pending and flushed them (docs/hazards.md)."""
        return {name: self.m.migrc_fix_flushes[i] for i, name in enumerate(_MIGRC_FIX_NAMES)}

    def _migrc_fix_points(self, off=()):
        """CONFIG_MIGRC_FIXES cost studies: switch the named fix points
        off (names as in migrc_fix_flushes()); returns the points now on."""
        mask = 0
        for name in off:
            if name not in _MIGRC_FIX_NAMES:
                raise KmmConfigError(f"fix point: {name!r}; accepted: {', '.join(_MIGRC_FIX_NAMES)}")
            mask |= 1 << _MIGRC_FIX_NAMES.index(name)
        self.m.migrc_fixes_off = mask
        return [n for i, n in enumerate(_MIGRC_FIX_NAMES) if not (mask >> i) & 1]

    def migrc_flush_free_folios(self, int cpu=0):
        """Run migrc_flush_free_folios(NULL) on cpu; returns whether anything
        was pending."""
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        r = migrc_flush_free_folios(NULL)
        self.m.cpu = saved
        self._after()
        return bool(r)

    # -- topology --------------------------------------------------------
    @property
    def nr_node_ids(self):
        return self.m.nr_node_ids

    @property
    def nr_cpus(self):
        return self.m.nr_cpu_ids

    @property
    def max_pfn(self):
        return self.m.max_pfn

    @property
    def clock_ns(self):
        return self.m.clock_ns

    def cpu_to_node(self, cpu):
        self._check_cpu(cpu)
        return self.m.cpus[cpu].node

    def node_cpus(self, nid):
        self._check_nid(nid)
        return [c for c in range(self.m.nr_cpu_ids) if self.m.cpus[c].node == nid]

    def node_is_toptier(self, nid):
        self._check_nid(nid)
        self._enter()
        return bool(node_is_toptier(nid))

    def next_demotion_node(self, nid):
        """mm/memory-tiers.c next_demotion_node(): -1 (NUMA_NO_NODE) if none."""
        self._check_nid(nid)
        self._enter()
        return next_demotion_node(nid)

    @property
    def swap_migration_ad_supported(self):
        return bool(self.m.swap_migration_ad_supported)

    def _check_nid(self, nid):
        if isinstance(nid, bool) or not isinstance(nid, int) or not 0 <= nid < self.m.nr_node_ids:
            raise KmmConfigError(f"nid: {nid!r}; this machine has nodes 0..{self.m.nr_node_ids - 1}")

    def _check_cpu(self, cpu):
        if isinstance(cpu, bool) or not isinstance(cpu, int) or not 0 <= cpu < self.m.nr_cpu_ids:
            raise KmmConfigError(f"cpu: {cpu!r}; this machine has CPUs 0..{self.m.nr_cpu_ids - 1}")

    def _check_zone(self, zone):
        if isinstance(zone, str):
            if zone not in ZONE_NAMES:
                raise KmmConfigError(f"zone: {zone!r}; accepted: {', '.join(ZONE_NAMES)}")
            return ZONE_NAMES.index(zone)
        if isinstance(zone, bool) or not isinstance(zone, int) or not 0 <= zone < MAX_NR_ZONES:
            raise KmmConfigError(f"zone: {zone!r}; accepted: 0..3 or {', '.join(ZONE_NAMES)}")
        return zone

    # -- sysctl ------------------------------------------------------------
    @property
    def sysctl(self):
        """Every sysctl with its current value."""
        m = self.m
        return {
            "vm.min_free_kbytes": m.min_free_kbytes,
            "vm.watermark_scale_factor": m.watermark_scale_factor,
            "vm.lowmem_reserve_ratio": tuple(m.sysctl_lowmem_reserve_ratio[i] for i in range(4)),
            "kernel.numa_balancing": m.sysctl_numa_balancing_mode,
            "kernel.numa_balancing_promote_rate_limit_MBps": m.sysctl_numa_balancing_promote_rate_limit,
            "kernel.numa_balancing_hot_threshold_ms": m.sysctl_numa_balancing_hot_threshold,
            "kernel.numa_balancing_scan_delay_ms": m.sysctl_numa_balancing_scan_delay,
            "kernel.numa_balancing_scan_period_min_ms": m.sysctl_numa_balancing_scan_period_min,
            "kernel.numa_balancing_scan_period_max_ms": m.sysctl_numa_balancing_scan_period_max,
            "kernel.numa_balancing_scan_size_mb": m.sysctl_numa_balancing_scan_size,
            "vm.demotion_enabled": bool(m.numa_demotion_enabled),
        }

    def set_sysctl(self, key, value):
        """Write a sysctl as its proc handler would (watermark knobs
        recompute the watermarks)."""
        v = _cfg.check_sysctl_value(key, value)
        m = self.m
        self._enter()
        if key == "vm.min_free_kbytes":
            m.min_free_kbytes = v
            m.user_min_free_kbytes = v
            setup_per_zone_wmarks()
        elif key == "vm.watermark_scale_factor":
            m.watermark_scale_factor = v
            setup_per_zone_wmarks()
        elif key == "vm.lowmem_reserve_ratio":
            for i in range(4):
                m.sysctl_lowmem_reserve_ratio[i] = v[i]
            setup_per_zone_lowmem_reserve()
        elif key == "kernel.numa_balancing":
            m.sysctl_numa_balancing_mode = v
        elif key == "kernel.numa_balancing_promote_rate_limit_MBps":
            m.sysctl_numa_balancing_promote_rate_limit = v
        elif key == "kernel.numa_balancing_hot_threshold_ms":
            m.sysctl_numa_balancing_hot_threshold = v
        elif key == "kernel.numa_balancing_scan_delay_ms":
            m.sysctl_numa_balancing_scan_delay = v
        elif key == "kernel.numa_balancing_scan_period_min_ms":
            m.sysctl_numa_balancing_scan_period_min = v
        elif key == "kernel.numa_balancing_scan_period_max_ms":
            m.sysctl_numa_balancing_scan_period_max = v
        elif key == "kernel.numa_balancing_scan_size_mb":
            m.sysctl_numa_balancing_scan_size = v
        elif key == "vm.demotion_enabled":
            m.numa_demotion_enabled = v

    # -- zones and counters ---------------------------------------------------
    def zones(self):
        """Every populated zone: node, name, pages, free, watermarks, lowmem_reserve."""
        cdef zone *z
        out = []
        for nid in range(self.m.nr_node_ids):
            for zid in range(MAX_NR_ZONES):
                z = &self.m.node_data[nid].node_zones[zid]
                if not populated_zone(z):
                    continue
                out.append({
                    "node": nid, "zone": ZONE_NAMES[zid], "zone_idx": zid,
                    "start_pfn": z.zone_start_pfn, "spanned": z.spanned_pages,
                    "present": z.present_pages, "managed": z.managed_pages,
                    "free": z.vm_stat[NR_FREE_PAGES],
                    "min": z._watermark[WMARK_MIN], "low": z._watermark[WMARK_LOW],
                    "high": z._watermark[WMARK_HIGH], "promo": z._watermark[WMARK_PROMO],
                    "boost": z.watermark_boost,
                    "lowmem_reserve": tuple(z.lowmem_reserve[i] for i in range(MAX_NR_ZONES)),
                    "nr_free": tuple(z.free_area[o].nr_free for o in range(NR_PAGE_ORDERS)),
                    "migrc_pending_nr": z.migrc_pending_nr,
                })
        return out

    def zone(self, nid, zone_name):
        zid = self._check_zone(zone_name)
        self._check_nid(nid)
        for z in self.zones():
            if z["node"] == nid and z["zone_idx"] == zid:
                return z
        raise KmmConfigError(f"zone: node {nid} has no populated {ZONE_NAMES[zid]} zone")

    def node_free_pages(self, nid):
        self._check_nid(nid)
        return sum(self.m.node_data[nid].node_zones[z].vm_stat[NR_FREE_PAGES]
                   for z in range(MAX_NR_ZONES))

    def vmstat(self):
        """/proc/vmstat as a dict, under the kernel's names and in its order."""
        self._enter()
        return dict(_vmstat.vmstat_show())

    def vm_events_per_cpu(self, name):
        if name not in _vmstat.VM_EVENT_NAMES:
            raise KmmConfigError(f"vm event: unknown name {name!r}; accepted: {', '.join(_vmstat.VM_EVENT_NAMES)}")
        self._enter()
        return _vmstat.vm_events_per_cpu(name)

    def watermark_ok(self, nid, zone_name, order, mark, highest_zoneidx=ZONE_NORMAL,
                     alloc_flags=0, free_pages=None):
        """__zone_watermark_ok() on one zone; mark is a number of pages or a
        watermark name ('min', 'low', 'high', 'promo')."""
        cdef zone *z
        zid = self._check_zone(zone_name)
        self._check_nid(nid)
        _check_order(order)
        _whole("highest_zoneidx", highest_zoneidx, 0, MAX_NR_ZONES - 1)
        _whole("alloc_flags", alloc_flags, 0, 0xfff)
        if free_pages is not None:
            _whole("free_pages", free_pages, -2**62, 2**62)
        z = &self.m.node_data[nid].node_zones[zid]
        if isinstance(mark, str):
            if mark not in WMARK_NAMES:
                raise KmmConfigError(f"mark: {mark!r}; accepted: a page count or {', '.join(WMARK_NAMES)}")
            mark = wmark_pages(z, WMARK_NAMES.index(mark))
        _whole("mark", mark, 0, 2**62)
        self._enter()
        if free_pages is None:
            return bool(zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags))
        return bool(__zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages))

    def kswapd_woken(self, nid):
        """Whether an allocation has woken node nid's kswapd (not yet run)."""
        self._check_nid(nid)
        return bool(self.m.node_data[nid].kswapd_woken)

    # -- pages ------------------------------------------------------------------
    def alloc_pages(self, order=0, nid=None, gfp="GFP_HIGHUSER_MOVABLE", cpu=0):
        """__alloc_pages() on behalf of a task on `cpu`; returns the pfn or None."""
        cdef page *p
        cdef unsigned int g = parse_gfp(gfp)
        self._check_cpu(cpu)
        _check_order(order)
        if nid is None:
            nid = self.m.cpus[cpu].node
        self._check_nid(nid)
        self._enter()
        self.m.cpu = cpu
        p = __alloc_pages(g, order, nid, NULL)
        self._after()
        return None if p == NULL else page_to_pfn(p)

    def free_pages(self, pfn, order=0):
        """__free_pages(): drop the caller's reference to an allocated block."""
        cdef page *p = self._page(pfn)
        cdef long i
        _check_order(order)
        if page_has_type(p) or p._refcount <= 0:
            raise KmmStateError(f"free_pages: pfn {pfn} is not allocated (refcount {p._refcount})")
        if pfn & ((1 << order) - 1) or pfn + (1 << order) > self.m.max_pfn:
            raise KmmStateError(f"free_pages: pfn {pfn} does not start an order-{order} block")
        # The rest of an allocated block is neither free nor separately
        # referenced; otherwise order is larger than the allocation's.
        for i in range(1, 1 << order):
            if PageBuddy(p + i) or (p + i)._refcount != 0:
                raise KmmStateError(
                    f"free_pages: pfn {pfn + i} inside the order-{order} block at pfn {pfn} is "
                    f"{'free' if PageBuddy(p + i) else 'separately referenced'}; pass the order "
                    f"the block was allocated with")
        self._enter()
        __free_pages(p, order)
        self._after()

    def folio_get(self, pfn):
        cdef page *p = self._page(pfn)
        if page_has_type(p) or p._refcount <= 0:
            raise KmmStateError(f"folio_get: pfn {pfn} is free (refcount {p._refcount})")
        self._enter()
        folio_get(p)

    def folio_put(self, pfn):
        cdef page *p = self._page(pfn)
        if page_has_type(p) or p._refcount <= 0:
            raise KmmStateError(f"folio_put: pfn {pfn} has no reference to drop (refcount {p._refcount})")
        self._enter()
        folio_put(p)
        self._after()

    cdef page *_page(self, pfn) except NULL:
        if isinstance(pfn, bool) or not isinstance(pfn, int) or not 0 <= pfn < self.m.max_pfn:
            raise KmmConfigError(f"pfn: {pfn!r}; this machine has pfns 0..{self.m.max_pfn - 1}")
        return &self.m.mem_map[pfn]

    def page(self, pfn):
        """struct page of pfn as a dict (dump_page()-like)."""
        cdef page *p = self._page(pfn)
        flags = []
        for i in range(NR_PAGEFLAG_NAMES):
            if (p.flags >> pageflag_names_bit(i)) & 1:
                flags.append(pageflag_names_name(i).decode())
        return {
            "pfn": pfn, "node": page_to_nid(p), "zone": ZONE_NAMES[page_zonenum(p)],
            "flags": flags, "refcount": p._refcount,
            "mapcount": 0 if page_has_type(p) else p._mapcount + 1,
            "buddy": bool(PageBuddy(p)), "buddy_order": p.private if PageBuddy(p) else None,
            "mapping": p.mapping, "index": p.index, "last_cpupid": page_cpupid_last(p),
            "version": p.kmm_version,
        }

    def check_invariants(self):
        """Run the CONFIG_DEBUG_VM checks now; returns the list of problems."""
        self._enter()
        return _debug_vm.check_invariants()

    # -- processes and files --------------------------------------------------
    cdef _switch_to(self, int cpu, task_struct *next):
        """context_switch() on cpu from whatever runs there to next."""
        cdef task_struct *prev
        self._check_cpu(cpu)
        self._enter()
        prev = self.m.cpus[cpu].current_task
        if prev == next:
            return
        saved = self.m.cpu
        self.m.cpu = cpu
        context_switch(prev, next)
        self.m.cpu = saved

    def idle(self, int cpu):
        """Switch cpu to its idle task: it keeps the previous mm loaded
        lazily (enter_lazy_tlb), as Linux does."""
        self._check_cpu(cpu)
        self._switch_to(cpu, self.m.cpus[cpu].idle)

    def current(self, int cpu):
        """(pid, comm) of the task running on cpu."""
        self._check_cpu(cpu)
        t = self.m.cpus[cpu].current_task
        return (t.pid, t.comm.decode())

    def spawn(self, threads=1, cpus=None):
        """A new process with `threads` threads; thread i runs on cpus[i]
        (default: CPU i), switched in at once."""
        cdef mm_struct *mm
        cdef task_struct *tsk
        cdef Process proc
        cdef Thread th
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= self.m.nr_cpu_ids:
            raise KmmConfigError(f"threads: {threads!r}; accepted: 1..{self.m.nr_cpu_ids} (one per CPU)")
        if cpus is None:
            cpus = list(range(threads))
        cpus = list(cpus)
        if len(cpus) != threads or len(set(cpus)) != threads:
            raise KmmConfigError(f"cpus: {cpus!r}; expected {threads} distinct CPUs")
        for c in cpus:
            if isinstance(c, bool) or not isinstance(c, int):
                raise KmmConfigError(f"cpus: {c!r} is not a CPU number")
            self._check_cpu(c)
        self._enter()
        mm = mm_alloc()
        if mm == NULL:
            raise KmmStateError("spawn: out of memory for the page-table root")
        return _new_process(self, mm, cpus)

    @property
    def processes(self):
        return tuple(self._processes)

    def create_file(self, npages, writable=True):
        """A regular file of npages pages (its data on the emulated disk)."""
        cdef File f
        cdef char *block
        cdef address_space *mapping
        cdef file *filp
        cdef void **grown
        cdef size_t size
        cdef unsigned long i
        if isinstance(npages, bool) or not isinstance(npages, int) or not 0 < npages <= (1 << 24):
            raise KmmConfigError(f"npages: {npages!r}; accepted: 1..2**24")
        self._enter()
        size = sizeof(address_space) + sizeof(file) + <size_t>npages * (sizeof(void *) + sizeof(unsigned int))
        block = <char *>_calloc(1, size)
        if block == NULL:
            raise MemoryError("create_file: cannot allocate the page cache")
        if self.m.nr_files == self.m.files_cap:
            grown = <void **>realloc(self.m.files, sizeof(void *) * (self.m.files_cap * 2 + 8))
            if grown == NULL:
                _free(block)
                raise MemoryError("create_file")
            self.m.files = grown
            self.m.files_cap = self.m.files_cap * 2 + 8
        self.m.files[self.m.nr_files] = block
        self.m.nr_files += 1
        mapping = <address_space *>block
        filp = <file *>(block + sizeof(address_space))
        mapping.i_pages = <page **>(block + sizeof(address_space) + sizeof(file))
        mapping.kmm_versions = <unsigned int *>(block + sizeof(address_space) + sizeof(file)
                                                + <size_t>npages * sizeof(void *))
        mapping.i_pages_size = npages
        mapping.i_size_pages = npages
        mapping.host = self.m.nr_files
        INIT_LIST_HEAD(&mapping.i_mmap)
        for i in range(npages):
            mapping.kmm_versions[i] = kmm_new_version()      # the data on disk
        filp.f_mapping = mapping
        filp.f_mode = FMODE_READ | (FMODE_WRITE if writable else 0)
        f = File.__new__(File)
        f.mapping = mapping
        f.filp = filp
        f.machine = self
        f.npages = npages
        f.ino = mapping.host
        return f

    def file_read(self, File f, index, int cpu=0):
        """read(2) of one page through the page cache; returns the data
        version read, or None past the end of the file."""
        cdef unsigned int version = 0
        cdef long rc
        if f.machine is not self:
            raise KmmConfigError("file belongs to another machine")
        f._check_index(index)
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        rc = filemap_read(f.mapping, index, &version)
        self.m.cpu = saved
        self._after()
        if rc < 0:
            raise KmmStateError(f"read of page {index} failed with errno {-rc}")
        return version if rc > 0 else None

    def truncate(self, File f, npages, int cpu=0):
        """truncate(2) of the file to npages pages, run on cpu:
        truncate_setsize() -> truncate_pagecache() (unmap_mapping_range,
        truncate_inode_pages_range, unmap_mapping_range).  The data past the
        new size is gone; growing the file back (up to its room, File.npages)
        gives pages of new (zero) data."""
        if f.machine is not self:
            raise KmmConfigError("file belongs to another machine")
        if isinstance(npages, bool) or not isinstance(npages, int) or not 0 <= npages <= f.npages:
            raise KmmConfigError(f"npages: {npages!r}; accepted: 0..{f.npages} (the file's room)")
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        truncate_setsize(f.mapping, <unsigned long>npages * 4096)
        self.m.cpu = saved
        self._after()

    def file_write(self, File f, index, int cpu=0):
        """write(2) of one whole page through the page cache."""
        cdef long rc
        if f.machine is not self:
            raise KmmConfigError("file belongs to another machine")
        f._check_index(index)
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        rc = generic_perform_write(f.mapping, index)
        self.m.cpu = saved
        self._after()
        if rc < 0:
            raise KmmStateError(f"write of page {index} failed with errno {-rc}")

    # == Migration (mm/migrate.c, mm/rmap.c, NUMA hint faults) ==================
    # m.migrate() runs migrate_pages() on a range of a process, as reclaim's
    # demotion or a NUMA-misplaced migration would; the _-methods support
    # tests (see docs/migrate.md).

    def migrate(self, proc, addr, npages, node=1, reason="demotion", cpu=0, hook=None,
                mode="async"):
        """Migrate the folios mapped in [addr, addr + npages pages) of proc to
        `node`; returns how many were migrated.

        The folios are isolated from the LRU (folio_isolate_lru, counted in
        NR_ISOLATED_*), then migrate_pages(MIGRATE_ASYNC) runs on `cpu`, in
        the context of the task current there (its tlb_ubc batches the
        flushes), with the reason's allocator:
        - "demotion": MR_DEMOTION, alloc_demote_folio (node first with
          __GFP_THISNODE, then the lower tiers of the first folio's node; no
          reclaim, may wake kswapd); the isolation is accounted as
          shrink_inactive_list does (NR_ISOLATED dropped after the call).
          pgdemote_* are not counted: this is not reclaim.
        - "numa_misplaced": MR_NUMA_MISPLACED, alloc_misplaced_dst_folio
          (node only, no reclaim at all).
        - "syscall": MR_SYSCALL as move_pages(2)'s do_move_pages_to_node,
          alloc_migration_target with GFP_HIGHUSER_MOVABLE | __GFP_THISNODE
          on node (the kernel passes mode="sync").
        mode: "async" (MIGRATE_ASYNC, what reclaim and NUMA balancing use),
        "sync_light" or "sync" (migrate_pages_sync: the batch in async mode
        first, then each leftover alone with that mode's unmap flags).
        Folios not migrated are put back on the LRU.  hook: None, or a
        callable run with "unmapped" (the batch's PTEs are migration
        entries, the batched flush not yet done) and "flushed" (flushed,
        nothing moved yet); an exception it raises is re-raised here."""
        cdef Process p
        cdef unsigned int nr_succeeded = 0
        cdef int c_cpu, c_node, c_reason
        cdef long n
        if not isinstance(proc, Process) or (<Process>proc).machine is not self:
            raise KmmConfigError(f"proc: {proc!r}; expected a Process of this machine (from spawn())")
        p = <Process>proc
        p._check_alive()
        p._check_range(addr, npages)
        self._check_nid(node)
        self._check_cpu(cpu)
        if reason not in _MIGRATE_REASONS:
            raise KmmConfigError(f"reason: {reason!r}; accepted: {', '.join(repr(r) for r in _MIGRATE_REASONS)}")
        if mode not in _MIGRATE_MODES:
            raise KmmConfigError(f"mode: {mode!r}; accepted: {', '.join(repr(x) for x in _MIGRATE_MODES)}")
        if hook is not None and not callable(hook):
            raise KmmConfigError(f"hook: {hook!r}; expected None or a callable taking the point's name")
        if self._migrating:
            raise KmmStateError("migrate: called again while a migration is running (from its hook)")
        c_cpu = cpu
        c_node = node
        c_reason = _MIGRATE_REASONS[reason]
        # the hook is two interleaving points under their short names
        ids = {}
        if hook is not None:
            ids = {_interleave.POINT_IDS["migrate_pages_batch:unmapped"]: lambda pt: hook("unmapped"),
                   _interleave.POINT_IDS["migrate_pages_batch:flushed"]: lambda pt: hook("flushed")}
            self._register_points(ids)
        self._migrating = True
        self._enter()
        try:
            n = _kmm_migrate_range(p.mm, addr, addr + npages * 4096, c_node, c_reason, c_cpu,
                                   _MIGRATE_MODES[mode], &nr_succeeded)
        finally:
            self._migrating = False
            self._unregister_points(ids)
            self._enter()
        if n < 0:
            raise MemoryError("migrate: out of host memory")
        self._after()
        return nr_succeeded

    def _prot_numa(self, proc, addr, npages, cpu=0, filters=True):
        """Test support for NUMA hint faults (the NUMA scanner is not here):
        make the present PTEs of [addr, addr + npages pages) PROT_NONE as
        change_prot_numa() -> change_pte_range(MM_CP_PROT_NUMA) does, from
        `cpu`: flush_tlb_batched_pending, pte_modify(pte, PAGE_NONE), the
        access-time stamp of slower-tier pages in tiering mode, one ranged
        flush per VMA (mmu_gather), NUMA_PTE_UPDATES.  filters=True applies
        change_pte_range's skips (already PROT_NONE, special pages, shared
        COW pages, dirty file pages, pages on the node of a single-user mm's
        CPU, top-tier pages when only tiering is on); filters=False changes
        every present normal page.  Returns the number of PTEs changed."""
        cdef Process p
        cdef long n
        if not isinstance(proc, Process) or (<Process>proc).machine is not self:
            raise KmmConfigError(f"proc: {proc!r}; expected a Process of this machine (from spawn())")
        p = <Process>proc
        if filters:
            return p._change_prot_numa(addr, npages, cpu=cpu)   # the kernel's own path
        p._check_alive()
        p._check_range(addr, npages)
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        n = _kmm_change_prot_numa_range(p.mm, addr, addr + npages * 4096, False)
        self.m.cpu = saved
        self._after()
        return n

    def _folio_referenced(self, pfn, cpu=0):
        """Test support: folio_referenced(folio, is_locked=0) on `cpu`, as
        reclaim's folio_check_references calls it; returns (referenced,
        vm_flags).  The accessed bits it clears are not flushed (x86)."""
        cdef page *p = self._page(pfn)
        cdef unsigned long vm_flags = 0
        cdef int r
        self._check_cpu(cpu)
        if page_has_type(p) or p._refcount <= 0:
            raise KmmStateError(f"_folio_referenced: pfn {pfn} is not an allocated folio")
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        r = folio_referenced(p, 0, NULL, &vm_flags)
        self.m.cpu = saved
        return r, vm_flags

    def _clock_advance_ns(self, ns):
        """Move the virtual clock (jiffies follow it) forward by ns."""
        _whole("ns", ns, 0, 2**62)
        self.m.clock_ns += ns

    def advance(self, seconds):
        """Move the virtual clock forward (jiffies follow it)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e9:
            raise KmmConfigError(f"seconds: {seconds!r}; expected a non-negative number of virtual seconds")
        self.m.clock_ns += <unsigned long long>(seconds * 1e9)

    def run(self, workload, until=None, progress=None, snapshot_every=0.1):
        """Run a workload (kmm.workloads) on this machine in virtual time
        until it finishes or `until` virtual seconds pass (kmm/emu/engine.pyx).
        progress(virtual_s, done_fraction) is called every 100 virtual ms.
        Returns vmstat, perf, virtual_s, wall_s, oracle_violations,
        snapshots (counters every snapshot_every virtual seconds)."""
        from kmm.emu.engine import run as _run
        return _run(self, workload, until=until, progress=progress, snapshot_every=snapshot_every)

    def run_kswapd(self, int nid, cpu=None):
        """Run node nid's kswapd once, as the engine does when it is woken:
        it preempts the task on `cpu` (default: the node's first CPU, or
        CPU 0 for a CPU-less node), borrowing its mm lazily, balances the
        node (balance_pgdat) and sleeps.  Returns the pages it reclaimed."""
        cdef task_struct *curr
        cdef pglist_data *pgdat
        cdef unsigned long reclaimed
        self._check_nid(nid)
        if cpu is None:
            cpus = self.node_cpus(nid)
            cpu = cpus[0] if cpus else 0
        if isinstance(cpu, bool) or not isinstance(cpu, int):
            raise KmmConfigError(f"cpu: {cpu!r} is not a CPU number")
        self._check_cpu(cpu)
        self._enter()
        pgdat = self.m.node_data[nid]
        saved = self.m.cpu
        self.m.cpu = cpu
        curr = self.m.cpus[cpu].current_task
        context_switch(curr, pgdat.kswapd)
        reclaimed = kswapd_run_once(pgdat)
        context_switch(pgdat.kswapd, curr)
        self.m.cpu = saved
        self._after()
        return reclaimed

    def node_vmstat(self, nid):
        """One node's node_stat_item counters (/sys/devices/system/node/nodeN/vmstat)."""
        self._check_nid(nid)
        return {name: self.m.node_data[nid].vm_stat[i] for i, name in enumerate(_vmstat.NODE_STAT_NAMES)}

    # == x86 TLB ==================================================================
    # The emulated TLB hardware (kmm/emu/hw/tlb.pyx) and the kernel's
    # arch/x86/mm/tlb.c (kmm/linux/arch/x86/mm/tlb.pyx).  The _tlb_* methods drive
    # them without page tables, for tests and studies: an "mm" is a handle
    # from _tlb_new_mm() (None means init_mm).

    cdef int _tlb_boot(self) except -1:
        """Allocate every CPU's TLB and bring its cpu_tlbstate up on
        init_mm (initialize_tlbstate_and_flush), then zero the perf
        counters, as a perf session starts after boot."""
        cdef kmm_machine *m = self.m
        cdef int cpu, rc
        m.last_mm_ctx_id = 1                     # init_mm's ctx_id (INIT_MM_CONTEXT)
        m.init_mm.context.ctx_id = 1
        m.tlb_single_page_flush_ceiling = 33
        if self.tlb == "unbounded":
            rc = tlb_hw_init(HW_TLB_UNBOUNDED, 0, 0, 0, 0)
        else:
            rc = tlb_hw_init(HW_TLB_SETASSOC, self.tlb["dtlb"][0], self.tlb["dtlb"][1],
                             self.tlb["stlb"][0], self.tlb["stlb"][1])
        if rc != 0:
            raise MemoryError("cannot allocate the TLBs")
        for cpu in range(m.nr_cpu_ids):
            m.cpu = cpu
            m.cpus[cpu].cpu_tlbstate.loaded_mm = &m.init_mm
            m.cpus[cpu].cpu_tlbstate.next_asid = 1
            initialize_tlbstate_and_flush()
        m.cpu = 0
        _perf.perf_reset()
        return 0

    cdef void _tlb_free(self) noexcept:
        cdef size_t addr
        tlb_hw_free()
        if self._tlb_mms is not None:
            for addr in self._tlb_mms:
                free(<void *>addr)
            self._tlb_mms = []

    cdef mm_struct *_tlb_mm(self, mm) except NULL:
        if mm is None:
            return &self.m.init_mm
        if isinstance(mm, bool) or not isinstance(mm, int) or not 0 <= mm < len(self._tlb_mms):
            raise KmmConfigError(f"mm: {mm!r}; expected None (init_mm) or a handle from _tlb_new_mm() "
                                 f"(0..{len(self._tlb_mms) - 1})")
        return <mm_struct *><size_t>self._tlb_mms[mm]

    def _tlb_mm_handle(self, uintptr_t addr):
        if addr == <uintptr_t>&self.m.init_mm:
            return None
        try:
            return self._tlb_mms.index(addr)
        except ValueError:
            return f"mm@{addr:#x}"

    def _check_vaddr(self, vaddr, what="vaddr"):
        if isinstance(vaddr, bool) or not isinstance(vaddr, int) or not 0 <= vaddr < (1 << 47):
            raise KmmConfigError(f"{what}: {vaddr!r}; expected a user address in 0..2**47-1")

    def _tlb_new_mm(self):
        """A bare mm_struct (no VMAs, no page tables) with a fresh ctx_id
        (init_new_context); freed with the machine.  Returns its handle."""
        cdef mm_struct *mm = <mm_struct *>calloc(1, sizeof(mm_struct))
        if mm == NULL:
            raise MemoryError("cannot allocate an mm_struct")
        self._tlb_mms.append(<size_t>mm)
        self._enter()
        mm.mm_users = 1
        mm.mm_count = 1
        mm.kmm_id = -1
        init_new_context(get_current(), mm)
        return len(self._tlb_mms) - 1

    def _tlb_switch_mm(self, int cpu, mm):
        """switch_mm_irqs_off(loaded_mm, mm, current) on cpu (as a context
        switch to a task of mm would)."""
        cdef mm_struct *next = self._tlb_mm(mm)
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        switch_mm_irqs_off(self.m.cpus[cpu].cpu_tlbstate.loaded_mm, next, self.m.cpus[cpu].current_task)
        self.m.cpu = saved

    def _tlb_enter_lazy(self, int cpu):
        """enter_lazy_tlb() on cpu (a kernel thread now runs there)."""
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        enter_lazy_tlb(self.m.cpus[cpu].cpu_tlbstate.loaded_mm, self.m.cpus[cpu].current_task)
        self.m.cpu = saved

    def _tlb_flush_mm_range(self, int cpu, mm, start, end, int stride_shift=12, freed_tables=False):
        """flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables) from
        cpu; end=None means TLB_FLUSH_ALL."""
        cdef mm_struct *p = self._tlb_mm(mm)
        cdef unsigned long e
        self._check_cpu(cpu)
        if mm is None:
            raise KmmConfigError("mm: init_mm has no user mappings to flush")
        self._check_vaddr(start, "start")
        if end is None:
            e = TLB_FLUSH_ALL
        else:
            if isinstance(end, bool) or not isinstance(end, int) or not 0 <= end <= (1 << 47):
                raise KmmConfigError(f"end: {end!r}; expected an address in 0..2**47, or None (TLB_FLUSH_ALL)")
            if end < start:
                raise KmmConfigError(f"end: {end:#x} is below start {start:#x}")
            e = end
        if not 12 <= stride_shift <= 30:
            raise KmmConfigError(f"stride_shift: {stride_shift}; accepted: 12..30")
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        flush_tlb_mm_range(p, start, e, stride_shift, bool(freed_tables))
        self.m.cpu = saved

    def _tlb_flush_mm(self, int cpu, mm):
        """flush_tlb_mm(mm) from cpu (full, freed_tables: lazy CPUs too)."""
        cdef mm_struct *p = self._tlb_mm(mm)
        self._check_cpu(cpu)
        if mm is None:
            raise KmmConfigError("mm: init_mm has no user mappings to flush")
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        flush_tlb_mm(p)
        self.m.cpu = saved

    def _tlb_flush_local(self, int cpu):
        """flush_tlb_local() on cpu: CR3 rewritten, its current PCID flushed."""
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        flush_tlb_local()
        self.m.cpu = saved

    def _tlb_flush_all(self, int cpu=0):
        """flush_tlb_all() from cpu: every PCID of every CPU."""
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        flush_tlb_all()
        self.m.cpu = saved

    def _tlb_invlpg(self, int cpu, vaddr):
        """The INVLPG instruction on cpu (current PCID), outside any kernel path."""
        self._check_cpu(cpu)
        self._check_vaddr(vaddr)
        self._enter()
        tlb_invlpg(cpu, vaddr)

    def _tlb_inc_gen(self, mm):
        """inc_mm_tlb_gen(mm) alone (as an unmap does before its flush); returns the new tlb_gen."""
        cdef mm_struct *p = self._tlb_mm(mm)
        if mm is None:
            raise KmmConfigError("mm: init_mm's generation is not used")
        return inc_mm_tlb_gen(p)

    def _tlb_batch_add(self, int cpu, mm, addr, ro=False):
        """arch_tlbbatch_add_pending(&current->tlb_ubc.arch, mm, addr) for the
        task current on cpu (and flush_required, as set_tlb_ubc_flush_pending
        does); ro=True uses patch 1/3's tlb_ubc_ro instead."""
        cdef mm_struct *p = self._tlb_mm(mm)
        cdef task_struct *tsk
        cdef tlbflush_unmap_batch *b
        self._check_cpu(cpu)
        self._check_vaddr(addr, "addr")
        if mm is None:
            raise KmmConfigError("mm: init_mm has no user mappings to unmap")
        tsk = self.m.cpus[cpu].current_task
        b = &tsk.tlb_ubc_ro if ro else &tsk.tlb_ubc
        self._enter()
        arch_tlbbatch_add_pending(&b.arch, p, addr)
        b.flush_required = True

    def _tlb_batch_fold_ro(self, int cpu):
        """The arch part of patch 1/3's fold_ubc_ro() for the task current on
        cpu: arch_tlbbatch_fold(&tlb_ubc.arch, &tlb_ubc_ro.arch), then
        arch_tlbbatch_clear(&tlb_ubc_ro.arch)."""
        cdef task_struct *tsk
        self._check_cpu(cpu)
        tsk = self.m.cpus[cpu].current_task
        if not tsk.tlb_ubc_ro.flush_required:
            return
        arch_tlbbatch_fold(&tsk.tlb_ubc.arch, &tsk.tlb_ubc_ro.arch)
        tsk.tlb_ubc.flush_required = True
        arch_tlbbatch_clear(&tsk.tlb_ubc_ro.arch)
        tsk.tlb_ubc_ro.flush_required = False

    def _tlb_batch_flush(self, int cpu):
        """arch_tlbbatch_flush(&current->tlb_ubc.arch) on cpu (then
        flush_required cleared, as try_to_unmap_flush does)."""
        cdef task_struct *tsk
        self._check_cpu(cpu)
        tsk = self.m.cpus[cpu].current_task
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        arch_tlbbatch_flush(&tsk.tlb_ubc.arch)
        tsk.tlb_ubc.flush_required = False
        tsk.tlb_ubc.writable = False
        self.m.cpu = saved

    def _tlb_batch_cpus(self, int cpu, ro=False):
        """The CPUs in the tlb_ubc (or tlb_ubc_ro) batch of the task current on cpu."""
        self._check_cpu(cpu)
        if ro:
            mask = self.m.cpus[cpu].current_task.tlb_ubc_ro.arch.cpumask
        else:
            mask = self.m.cpus[cpu].current_task.tlb_ubc.arch.cpumask
        return [c for c in range(self.m.nr_cpu_ids) if (mask >> c) & 1]

    def _tlb_should_defer(self, int cpu, mm):
        """arch_tlbbatch_should_defer(mm) evaluated on cpu."""
        cdef mm_struct *p = self._tlb_mm(mm)
        self._check_cpu(cpu)
        self._enter()
        saved = self.m.cpu
        self.m.cpu = cpu
        r = arch_tlbbatch_should_defer(p)
        self.m.cpu = saved
        return bool(r)

    def _tlb_fill(self, int cpu, vaddr, pfn, writable=True, unsigned int page_gen=0):
        """Cache vaddr -> pfn on cpu in its current PCID, as a page walk of a
        present, user, accessed PTE would (RW and DIRTY when writable)."""
        cdef unsigned long long pteval
        self._check_cpu(cpu)
        self._check_vaddr(vaddr)
        pfn_bits = int(self.m.x86_phys_bits) - 12
        if isinstance(pfn, bool) or not isinstance(pfn, int) or not 0 <= pfn < 2 ** pfn_bits:
            raise KmmConfigError(f"pfn: {pfn!r}; expected 0..2**{pfn_bits}-1 "
                                 f"({pfn_bits + 12} physical address bits)")
        pteval = (<unsigned long long>pfn << 12) | HW_PTE_PRESENT | HW_PTE_USER | HW_PTE_ACCESSED
        if writable:
            pteval |= HW_PTE_RW | HW_PTE_DIRTY
        self._enter()
        tlb_fill(cpu, vaddr, pteval, page_gen)

    def _tlb_lookup(self, int cpu, vaddr, write=False):
        """A load (or store) lookup on cpu: the cached pfn, or None for a
        miss in every level (the hardware would walk).  Counts perf events."""
        cdef tlb_entry *e
        self._check_cpu(cpu)
        self._check_vaddr(vaddr)
        self._enter()
        e = tlb_lookup(cpu, vaddr, bool(write))
        if e == NULL:
            return None
        return (e.pteval & HW_PTE_PFN_MASK) >> 12

    def _tlb_probe(self, int cpu, vaddr, asid=None):
        """Whether cpu caches vaddr (in ASID slot asid, default the loaded
        one), with no side effect: the cached pfn or None."""
        cdef tlb_entry e
        self._check_cpu(cpu)
        self._check_vaddr(vaddr)
        if asid is None:
            pcid = self.m.cpus[cpu].hw_tlb.pcid
        elif isinstance(asid, bool) or not isinstance(asid, int) or not 0 <= asid < TLB_NR_DYN_ASIDS:
            raise KmmConfigError(f"asid: {asid!r}; accepted: 0..{TLB_NR_DYN_ASIDS - 1} or None")
        else:
            pcid = asid + 1
        self._enter()
        if not tlb_probe(cpu, pcid, vaddr, &e):
            return None
        return (e.pteval & HW_PTE_PFN_MASK) >> 12

    def _tlb_nr_cached(self, int cpu, asid=None):
        """Distinct live translations cached by cpu (of one ASID slot, or all)."""
        self._check_cpu(cpu)
        if asid is not None and (isinstance(asid, bool) or not isinstance(asid, int)
                                 or not 0 <= asid < TLB_NR_DYN_ASIDS):
            raise KmmConfigError(f"asid: {asid!r}; accepted: 0..{TLB_NR_DYN_ASIDS - 1} or None")
        self._enter()
        return tlb_nr_live(cpu, -1 if asid is None else asid + 1)

    def _tlb_state(self, int cpu):
        """cpu_tlbstate / cpu_tlbstate_shared of cpu and its CR3, as a dict."""
        cdef tlb_state *ts
        cdef tlb_cpu *hw
        self._check_cpu(cpu)
        ts = &self.m.cpus[cpu].cpu_tlbstate
        hw = &self.m.cpus[cpu].hw_tlb
        return {
            "loaded_mm": self._tlb_mm_handle(<uintptr_t>ts.loaded_mm),
            "loaded_mm_asid": ts.loaded_mm_asid,
            "next_asid": ts.next_asid,
            "is_lazy": bool(self.m.cpus[cpu].cpu_tlbstate_shared.is_lazy),
            "ctxs": [(ts.ctxs[i].ctx_id, ts.ctxs[i].tlb_gen) for i in range(TLB_NR_DYN_ASIDS)],
            "cr3": hw.cr3,
            "pcid": hw.pcid,
        }

    def _tlb_mm_state(self, mm):
        """ctx_id, tlb_gen and mm_cpumask of an mm."""
        cdef mm_struct *p = self._tlb_mm(mm)
        return {
            "ctx_id": p.context.ctx_id,
            "tlb_gen": p.context.tlb_gen,
            "cpumask": [c for c in range(self.m.nr_cpu_ids) if cpumask_test_cpu(c, &p.cpu_bitmap)],
        }

    @property
    def nr_tlb_warnings(self):
        """How many WARN_ON / VM_WARN_ON conditions of tlb.c fired."""
        return self.m.nr_tlb_warnings

    def perf(self, cpu=None):
        """Perf-like hardware events (kmm/emu/hw/perf.pyx), summed over CPUs or
        of one CPU; iTLB-load-misses is reported as "not modelled"."""
        if cpu is not None:
            if isinstance(cpu, bool) or not isinstance(cpu, int):
                raise KmmConfigError(f"cpu: {cpu!r}; expected a CPU number or None")
            self._check_cpu(cpu)
        self._enter()
        return _perf.perf_read(cpu)

    def perf_reset(self):
        """Zero the perf counters of every CPU."""
        self._enter()
        _perf.perf_reset()

    def _bench_tlb(self, long n, hit=True, int cpu=0):
        """n TLB lookups on cpu in a C loop.  hit=True: over 32 pages filled
        beforehand (all dTLB hits); hit=False: n distinct pages, each a miss
        in every level followed by a fill.  Returns the number of lookups
        and of misses."""
        cdef long i
        cdef unsigned long base = 0x7f0000000000, va
        cdef unsigned long long pte = HW_PTE_PRESENT | HW_PTE_USER | HW_PTE_ACCESSED | HW_PTE_RW | HW_PTE_DIRTY
        cdef tlb_entry *e
        cdef long misses = 0
        self._check_cpu(cpu)
        if n < 0:
            raise KmmConfigError(f"n: {n}; expected >= 0")
        self._enter()
        if hit:
            for i in range(32):
                tlb_fill(cpu, base + (<unsigned long>i << 12), pte | (<unsigned long long>i << 12), 0)
            with nogil:
                for i in range(n):
                    va = base + ((<unsigned long>i & 31) << 12)
                    e = tlb_lookup(cpu, va, False)
                    if e == NULL:
                        misses += 1
        else:
            with nogil:
                for i in range(n):
                    va = base + ((<unsigned long>i & 0xFFFFFFF) << 12)
                    e = tlb_lookup(cpu, va, False)
                    if e == NULL:
                        misses += 1
                        tlb_fill(cpu, va, pte | ((<unsigned long long>i & 0xFFFFFFF) << 12), 0)
        return {"lookups": n, "misses": misses}


    # -- benchmarks ---------------------------------------------------------------
    def _bench_alloc_free(self, long n, nid=0):
        """n order-0 __alloc_pages() + folio_put() pairs in a C loop; returns
        how many pairs ran (fewer only if an allocation failed)."""
        cdef long i, done = 0
        cdef page *p
        cdef int c_nid
        self._check_nid(nid)
        c_nid = nid
        self._enter()
        with nogil:
            for i in range(n):
                p = __alloc_pages(GFP_HIGHUSER_MOVABLE, 0, c_nid, NULL)
                if p == NULL:
                    break
                folio_put(p)
                done += 1
        return done


# ---------------------------------------------------------------------------
# Processes, threads, files: the scenario API

from kmm.linux.include_.linux.mm_types cimport (mm_struct, vm_area_struct, address_space, file,
                                          MM_ANONPAGES, MM_FILEPAGES)
from kmm.linux.include_.linux.sched cimport task_struct, PF_KTHREAD
from kmm.linux.include_.linux.list cimport INIT_LIST_HEAD
from kmm.linux.include_.linux.pgtable cimport walk_pte
from kmm.linux.include_.linux.swapops cimport (is_swap_pte, pte_to_swp_entry, is_migration_entry,
                                         is_writable_migration_entry,
                                         is_readable_exclusive_migration_entry,
                                         swp_offset_pfn, swp_offset, SWP_MIG_YOUNG, SWP_MIG_DIRTY)
from kmm.linux.arch.x86.include_.asm.pgtable cimport (pte_present, pte_protnone, pte_write, pte_dirty,
                                                pte_young, pte_pfn, pte_special)
from kmm.linux.kernel.fork cimport mm_alloc, mmput, dup_mm
from kmm.linux.kernel.sched.core cimport context_switch
from kmm.linux.kernel.sched.fair cimport init_numa_balancing, task_numa_work, task_tick_numa
from kmm.linux.mm.vmscan cimport kswapd_run_once
from kmm.linux.mm.mmap cimport (do_mmap, do_vmi_munmap, vma_lookup, find_vma, PROT_READ, PROT_WRITE,
                          PROT_EXEC, MAP_SHARED, MAP_PRIVATE, FMODE_READ, FMODE_WRITE)
from kmm.linux.mm.mprotect cimport do_mprotect_pkey
from kmm.linux.mm.mempolicy cimport change_prot_numa
from kmm.linux.mm.filemap cimport filemap_read, generic_perform_write
from kmm.linux.mm.truncate cimport truncate_setsize
from libc.stdlib cimport calloc as _calloc, free as _free
from kmm.emu.hw.mmu cimport cpu_access
from kmm.emu.debug.oracle cimport kmm_new_version, pte_kmm_ver, oracle_page_copy, oracle_view

_PROT = {"": 0, "r": PROT_READ, "w": PROT_WRITE, "rw": PROT_READ | PROT_WRITE,
         "rx": PROT_READ | PROT_EXEC, "rwx": PROT_READ | PROT_WRITE | PROT_EXEC,
         "none": 0, "x": PROT_EXEC}


def parse_prot(prot):
    if prot not in _PROT:
        raise KmmConfigError(f"prot: {prot!r}; accepted: {', '.join(repr(k) for k in _PROT if k)}")
    return _PROT[prot]


cdef Process _new_process(Machine m, mm_struct *mm, list cpus):
    """A process around mm whose threads run on cpus, switched in at once.
    Each thread is a clone(): the first gets a new mm, the others CLONE_VM
    and an mm_users reference each (copy_mm()'s mmget()); sched_fork() sets
    up their NUMA-balancing state."""
    cdef Process proc = Process.__new__(Process)
    cdef task_struct *tsk
    cdef Thread th
    proc.mm = mm
    proc.machine = m
    proc.alive = True
    ths = []
    for i, c in enumerate(cpus):
        tsk = alloc_task_struct_node(m.m.cpus[c].node)
        if tsk == NULL:
            raise MemoryError("cannot allocate a task")
        tsk.mm = mm
        tsk.active_mm = mm
        tsk.cpu = c
        if i == 0:
            proc.pid = tsk.pid
        tsk.tgid = proc.pid
        th = Thread.__new__(Thread)
        th.task = tsk
        th.process = proc
        th.cpu = c
        th.index = i
        ths.append(th)
    proc.threads = tuple(ths)
    m._processes.append(proc)
    saved = m.m.cpu
    for th in ths:
        mm.mm_users = th.index + 1
        m.m.cpu = th.cpu
        init_numa_balancing(0 if th.index == 0 else 0x100, th.task)
    m.m.cpu = saved
    for th in ths:
        m._switch_to(th.cpu, th.task)
    return proc


cdef class File:
    """An emulated regular file: an address_space of npages pages."""
    cdef address_space *mapping
    cdef file *filp
    cdef readonly Machine machine
    cdef readonly unsigned long npages
    cdef readonly int ino

    def __repr__(self):
        return f"<kmm.File ino={self.ino} npages={self.npages} cached={self.mapping.nrpages}>"

    @property
    def nrpages(self):
        """Pages of the file now in the page cache."""
        return self.mapping.nrpages

    @property
    def size(self):
        """The file's size in pages (i_size); npages is its room."""
        return self.mapping.i_size_pages

    def cached_pfn(self, index):
        """pfn of the page cache page at index, or None."""
        self._check_index(index)
        cdef page *f = self.mapping.i_pages[index]
        return None if f == NULL else <long>(f - self.machine.m.mem_map)

    def _check_index(self, index):
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.npages:
            raise KmmConfigError(f"index: {index!r}; file has pages 0..{self.npages - 1}")


cdef class Thread:
    """A user thread, pinned to one CPU."""

    @property
    def pid(self):
        return self.task.pid

    @property
    def on_cpu(self):
        return bool(self.task.on_cpu) and self.process.machine.m.cpus[self.cpu].current_task == self.task

    def load(self, addr):
        """A load by this thread through its CPU's TLB (faults handled)."""
        self._access(addr, False)

    def store(self, addr):
        """A store by this thread through its CPU's TLB (faults handled)."""
        self._access(addr, True)

    cdef _access(self, addr, bint write):
        cdef Machine mach = self.process.machine
        cdef int rc
        self.process._check_alive()
        if not self.on_cpu:
            raise KmmStateError(f"thread {self.index} of pid {self.process.pid} is not running "
                                f"on CPU {self.cpu}; call run() first")
        if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr < (1 << 47):
            raise KmmConfigError(f"addr: {addr!r}; expected a user address below 2**47")
        mach._enter()
        rc = cpu_access(self.cpu, addr, write)
        mach._after()
        if rc == -14:
            raise KmmStateError(f"{'store' if write else 'load'} at {addr:#x} on CPU {self.cpu}: "
                                f"segmentation fault (no VMA allows it)")
        if rc == -12:
            raise KmmStateError(f"{'store' if write else 'load'} at {addr:#x}: out of memory")
        if rc == -11:
            if self.process.mm.kmm_mmap_write_locked:
                raise KmmStateError(f"{'store' if write else 'load'} at {addr:#x}: the fault would "
                                    f"sleep on mmap_lock, held for write by an operation in progress")
            raise KmmStateError(f"{'store' if write else 'load'} at {addr:#x}: the page is under "
                                f"migration (the task would sleep in migration_entry_wait)")

    def _bench_access(self, unsigned long addr, unsigned long npages, long n, bint write=False):
        """n accesses cycling over npages pages from addr, in a C loop
        (benchmarks).  Returns the number done before any error."""
        cdef Machine mach = self.process.machine
        cdef long i
        cdef int rc = 0
        if not self.on_cpu:
            raise KmmStateError("thread is not running")
        if npages == 0:
            raise KmmConfigError("npages: 0; expected at least 1")
        mach._enter()
        with nogil:
            for i in range(n):
                rc = cpu_access(self.cpu, addr + ((<unsigned long>i % npages) << 12), write)
                if rc:
                    break
        return i + 1 if rc == 0 else i

    def task_numa_work(self):
        """Run task_numa_work() in this thread's context on its CPU, as on
        return to user mode after task_tick_numa() queued it.  Returns the
        PTEs it made PROT_NONE (numa_pte_updates)."""
        cdef Machine mach = self.process.machine
        self.process._check_alive()
        if not self.on_cpu:
            raise KmmStateError("thread is not running")
        mach._enter()
        before = mach.vmstat()["numa_pte_updates"]
        saved = mach.m.cpu
        mach.m.cpu = self.cpu
        task_numa_work(self.task)
        mach.m.cpu = saved
        mach._after()
        return mach.vmstat()["numa_pte_updates"] - before

    def task_tick_numa(self, ns):
        """Account ns of run time to the thread, then take a scheduler tick:
        returns whether task_tick_numa() queued task_numa_work()."""
        cdef Machine mach = self.process.machine
        self.process._check_alive()
        _whole("ns", ns, 0, 2**62)
        mach._enter()
        self.task.se_sum_exec_runtime += ns
        saved = mach.m.cpu
        mach.m.cpu = self.cpu
        r = task_tick_numa(self.task)
        mach.m.cpu = saved
        return bool(r)

    @property
    def numa_scan_period(self):
        """p->numa_scan_period (ms)."""
        return self.task.numa_scan_period

    def run(self):
        """Switch this thread's CPU to it (context switch)."""
        self.process.machine._switch_to(self.cpu, self.task)


cdef class Process:
    """A user process: one mm_struct and its threads."""

    def __repr__(self):
        return f"<kmm.Process pid={self.pid} threads={len(self.threads)} alive={self.alive}>"

    cdef _check_alive(self):
        if not self.alive:
            raise KmmStateError(f"process {self.pid} has exited")

    @property
    def mm_id(self):
        return self.mm.kmm_id

    @property
    def rss(self):
        """(anon pages, file pages) mapped, as MM_ANONPAGES / MM_FILEPAGES."""
        self._check_alive()
        return (self.mm.rss_stat[MM_ANONPAGES], self.mm.rss_stat[MM_FILEPAGES])

    @property
    def mm_cpumask(self):
        self._check_alive()
        return [c for c in range(self.machine.m.nr_cpu_ids) if (self.mm.cpu_bitmap >> c) & 1]

    def mmap(self, npages, prot="rw", shared=False, File file=None, offset=0):
        """mmap(2) of npages pages; returns the address.  Anonymous mappings
        are private; file mappings may be private or shared."""
        cdef unsigned long addr
        cdef unsigned long flags = MAP_SHARED if shared else MAP_PRIVATE
        self._check_alive()
        p = parse_prot(prot)
        if isinstance(npages, bool) or not isinstance(npages, int) or not 0 < npages <= (1 << 30):
            raise KmmConfigError(f"npages: {npages!r}; expected 1..2**30")
        if shared and file is None:
            raise KmmConfigError("shared=True needs file=: shared anonymous memory (shmem) is not modelled")
        if file is not None:
            if file.machine is not self.machine:
                raise KmmConfigError("file belongs to another machine")
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or offset + npages > file.npages:
                raise KmmConfigError(f"offset: {offset!r}; the file has {file.npages} pages")
        self.machine._enter()
        addr = do_mmap(self.mm, file.filp if file is not None else NULL, npages * 4096, p,
                       flags, offset)
        if addr >= <unsigned long>-4095:
            raise KmmStateError(f"mmap failed with errno {-<long>addr}")
        return addr

    def munmap(self, addr, npages, cpu=None):
        """munmap(2), run on cpu (default: thread 0's CPU, the caller)."""
        cdef int rc
        cdef int c
        self._check_alive()
        self._check_range(addr, npages)
        c = self._syscall_cpu(cpu)
        self.machine._enter()
        saved = self.machine.m.cpu
        self.machine.m.cpu = c
        rc = do_vmi_munmap(self.mm, addr, npages * 4096)
        self.machine.m.cpu = saved
        self.machine._after()
        if rc:
            raise KmmStateError(f"munmap({addr:#x}, {npages} pages) failed with errno {-rc}")

    def _check_range(self, addr, npages):
        if isinstance(addr, bool) or not isinstance(addr, int) or addr % 4096 or not 0 <= addr < (1 << 47):
            raise KmmConfigError(f"addr: {addr!r}; expected a page-aligned user address")
        if isinstance(npages, bool) or not isinstance(npages, int) or npages <= 0 or addr + npages * 4096 > (1 << 47):
            raise KmmConfigError(f"npages: {npages!r}; expected a positive count inside the user address space")

    def vmas(self):
        """The VMAs as (start, end, flags, pgoff, is_file) tuples."""
        cdef vm_area_struct *vma
        self._check_alive()
        out = []
        vma = self.mm.mmap
        while vma != NULL:
            out.append({"start": vma.vm_start, "end": vma.vm_end, "flags": vma.vm_flags,
                        "pgoff": vma.vm_pgoff, "file": vma.vm_file != NULL,
                        "page_prot": vma.vm_page_prot})
            vma = vma.vm_next
        return out

    def pte(self, addr):
        """The PTE mapping addr, decoded (None if no table or pte_none)."""
        cdef unsigned long *ptep
        cdef unsigned long pte, entry
        self._check_alive()
        if isinstance(addr, bool) or not isinstance(addr, int) or not 0 <= addr < (1 << 47):
            raise KmmConfigError(f"addr: {addr!r}; expected a user address below 2**47")
        self.machine._enter()
        ptep = walk_pte(self.mm, addr)
        if ptep == NULL or ptep[0] == 0:
            return None
        pte = ptep[0]
        if is_swap_pte(pte):
            entry = pte_to_swp_entry(pte)
            if not is_migration_entry(entry):
                return {"raw": pte, "present": False, "swap": True}
            kind = ("writable" if is_writable_migration_entry(entry) else
                    "readable-exclusive" if is_readable_exclusive_migration_entry(entry) else "readable")
            return {"raw": pte, "present": False, "migration": kind,
                    "pfn": swp_offset_pfn(entry),
                    "young": bool(swp_offset(entry) & SWP_MIG_YOUNG),
                    "dirty": bool(swp_offset(entry) & SWP_MIG_DIRTY)}
        return {"raw": pte, "present": bool(pte & 1), "protnone": bool(pte_protnone(pte)),
                "write": bool(pte_write(pte)), "dirty": bool(pte_dirty(pte)),
                "young": bool(pte_young(pte)), "user": bool(pte & 4),
                "special": bool(pte_special(pte)), "pfn": pte_pfn(pte),
                "version": pte_kmm_ver(ptep)[0]}

    def _debug_move_page_noflush(self, addr, free_old=False):
        """Emulate a kernel bug for oracle tests: copy the page mapped at addr
        to a new page and point the PTE at it WITHOUT flushing any TLB.
        free_old=True also drops the old page (as if it were freed)."""
        cdef unsigned long *ptep
        cdef page *old
        cdef page *new
        self._check_alive()
        self.machine._enter()
        ptep = walk_pte(self.mm, addr)
        if ptep == NULL or not (ptep[0] & 1):
            raise KmmStateError(f"no present PTE at {addr:#x}")
        old = self.machine.m.mem_map + pte_pfn(ptep[0])
        new = __alloc_pages(GFP_HIGHUSER_MOVABLE, 0, page_to_nid(old), NULL)
        if new == NULL:
            raise KmmStateError("out of memory")
        oracle_page_copy(new, old)
        new.mapping = old.mapping
        new.index = old.index
        new._mapcount = 0
        ptep[0] = (ptep[0] & ~(<unsigned long>0x000FFFFFFFFFF000)) | (page_to_pfn(new) << 12)
        old._mapcount -= 1
        if free_old:
            old.mapping = 0
            folio_put(old)
        return page_to_pfn(new)

    def pfn(self, addr):
        """pfn mapped at addr (present PTE), else None."""
        d = self.pte(addr)
        return d["pfn"] if d is not None and d.get("present") else None

    # == mprotect(2) and NUMA hinting (mm/mprotect.c, mm/mempolicy.c) =======

    def _syscall_cpu(self, cpu):
        """The CPU a system call of this process runs on: cpu if given, else
        thread 0's (the calling thread's) CPU."""
        if cpu is None:
            return (<Thread>self.threads[0]).cpu
        self.machine._check_cpu(cpu)
        return cpu

    def mprotect(self, addr, npages, prot, cpu=None):
        """mprotect(2) of npages pages at addr to prot ('r', 'rw', 'none', ...
        as for mmap), run on cpu (default: thread 0's CPU).  Splits and
        merges VMAs as the kernel does, and flushes each VMA's changed PTEs
        at its end.  Raises KmmStateError with the errno: ENOMEM when part
        of the range is not mapped (VMAs before the hole stay changed),
        EACCES when a mapping may not get that access (e.g. 'w' on a
        read-only shared file mapping, which lacks VM_MAYWRITE)."""
        cdef int rc, c
        cdef unsigned long p
        self._check_alive()
        p = parse_prot(prot)
        self._check_range(addr, npages)
        c = self._syscall_cpu(cpu)
        self.machine._enter()
        saved = self.machine.m.cpu
        self.machine.m.cpu = c
        rc = do_mprotect_pkey(self.mm, addr, npages * 4096, p, -1)
        self.machine.m.cpu = saved
        self.machine._after()
        if rc:
            name = {-12: "ENOMEM", -13: "EACCES", -22: "EINVAL"}.get(rc, "")
            raise KmmStateError(f"mprotect({addr:#x}, {npages} pages, {prot!r}) failed with "
                                f"errno {-rc} {name}".rstrip())

    def _change_prot_numa(self, addr, npages, cpu=0):
        """NUMA hinting's PTE update: change_prot_numa() on each VMA part of
        [addr, addr + npages pages), run on cpu, as task_numa_work calls it
        per VMA (its choice of VMAs and its 2 MB chunking are the caller's
        business).  Returns the number of PTEs made PROT_NONE."""
        cdef unsigned long start, end, total = 0
        cdef vm_area_struct *vma
        self._check_alive()
        self._check_range(addr, npages)
        if isinstance(cpu, bool) or not isinstance(cpu, int):
            raise KmmConfigError(f"cpu: {cpu!r}; expected a CPU number")
        self.machine._check_cpu(cpu)
        start = addr
        end = addr + npages * 4096
        self.machine._enter()
        saved = self.machine.m.cpu
        self.machine.m.cpu = cpu
        vma = find_vma(self.mm, start)
        while vma != NULL and vma.vm_start < end:
            total += change_prot_numa(vma, max(start, vma.vm_start), min(end, vma.vm_end))
            vma = vma.vm_next
        self.machine.m.cpu = saved
        self.machine._after()
        return total

    @property
    def numa_scan(self):
        """The mm's NUMA-scan state: next_scan (jiffies), offset, seq."""
        self._check_alive()
        return {"next_scan": self.mm.numa_next_scan, "offset": self.mm.numa_scan_offset,
                "seq": self.mm.numa_scan_seq}

    @property
    def mm_users(self):
        """mm->mm_users: one per thread (CLONE_VM)."""
        self._check_alive()
        return self.mm.mm_users

    @property
    def tlb_flush_pending(self):
        """mm->tlb_flush_pending: mmu_gathers in flight (0 between operations)."""
        self._check_alive()
        return self.mm.tlb_flush_pending

    # == end of mprotect(2) and NUMA hinting ===================================

    def add_thread(self, cpu):
        """clone(CLONE_VM) one more thread onto `cpu` (switched in at once);
        returns it.  Its NUMA-balancing state starts as for a new thread."""
        cdef task_struct *tsk
        cdef Thread th
        cdef Machine m = self.machine
        self._check_alive()
        if isinstance(cpu, bool) or not isinstance(cpu, int):
            raise KmmConfigError(f"cpu: {cpu!r} is not a CPU number")
        m._check_cpu(cpu)
        if any(t.cpu == cpu for t in self.threads):
            raise KmmConfigError(f"cpu: {cpu}; a thread of this process already runs there")
        m._enter()
        tsk = alloc_task_struct_node(m.m.cpus[cpu].node)
        if tsk == NULL:
            raise MemoryError("add_thread: cannot allocate a task")
        tsk.mm = self.mm
        tsk.active_mm = self.mm
        tsk.cpu = cpu
        tsk.tgid = self.pid
        self.mm.mm_users += 1                     # copy_mm(): mmget()
        th = Thread.__new__(Thread)
        th.task = tsk
        th.process = self
        th.cpu = cpu
        th.index = len(self.threads)
        self.threads = self.threads + (th,)
        saved = m.m.cpu
        m.m.cpu = cpu
        init_numa_balancing(0x100, tsk)           # CLONE_VM
        m.m.cpu = saved
        m._switch_to(cpu, tsk)
        return th

    def fork(self, threads=1, cpus=None, cpu=None):
        """fork(2), run on cpu (default: thread 0's CPU): a child process
        whose mm is a copy of this one (kernel/fork.c dup_mm -> dup_mmap:
        VMAs copied, anon_vma_fork, copy_page_range shares the pages and
        write-protects private ones in both, then flush_tlb_mm() of the
        parent).  The child has `threads` threads on `cpus` (default: the
        lowest CPUs running their idle task), switched in at once."""
        cdef Machine m = self.machine
        cdef mm_struct *mm
        cdef task_struct *tsk
        cdef Process child
        cdef Thread th
        cdef int c
        self._check_alive()
        c = self._syscall_cpu(cpu)
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= m.m.nr_cpu_ids:
            raise KmmConfigError(f"threads: {threads!r}; accepted: 1..{m.m.nr_cpu_ids}")
        if cpus is None:
            cpus = [x for x in range(m.m.nr_cpu_ids)
                    if m.m.cpus[x].current_task == m.m.cpus[x].idle][:threads]
            if len(cpus) < threads:
                raise KmmStateError(f"fork: {threads} thread(s) need idle CPUs, {len(cpus)} idle; pass cpus=")
        cpus = list(cpus)
        if len(cpus) != threads or len(set(cpus)) != threads:
            raise KmmConfigError(f"cpus: {cpus!r}; expected {threads} distinct CPUs")
        for x in cpus:
            if isinstance(x, bool) or not isinstance(x, int):
                raise KmmConfigError(f"cpus: {x!r} is not a CPU number")
            m._check_cpu(x)
        m._enter()
        saved = m.m.cpu
        m.m.cpu = c
        mm = dup_mm(self.mm)
        m.m.cpu = saved
        if mm == NULL:
            m._after()
            raise KmmStateError("fork: out of memory")
        child = _new_process(m, mm, cpus)
        m._after()
        return child

    def exit(self):
        """The process exits: its threads leave their CPUs (which go idle,
        lazily keeping the mm loaded) and its mappings are torn down."""
        cdef Thread t
        self._check_alive()
        m = self.machine
        for t in self.threads:
            if t.on_cpu:
                m._switch_to(t.cpu, m.m.cpus[t.cpu].idle)
        m._enter()
        for t in self.threads:
            mmput(self.mm)          # the last thread's mmput() tears the mm down
        self.alive = False
        m._processes.remove(self)
        m._after()


# ---------------------------------------------------------------------------
# Migration: the C side of Machine.migrate() / Machine._prot_numa()

from kmm.linux.include_.linux.list cimport list_head, list_add_tail, list_empty, list_del
from kmm.linux.include_.linux.migrate_mode cimport (MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC,
                                              MR_DEMOTION, MR_NUMA_MISPLACED, MR_SYSCALL)
from kmm.linux.include_.linux.mm cimport (page_pgdat, xchg_page_access_time, VM_SHARED, VM_MAYWRITE)
from kmm.linux.include_.linux.page_ref cimport page_ref_count as page_count
from kmm.linux.include_.kmm.machine cimport numa_node_id
from kmm.linux.mm.mmap cimport find_vma
from kmm.linux.include_.linux.mm_inline cimport folio_is_file_lru
from kmm.linux.include_.linux.mmzone cimport NR_ISOLATED_ANON
from kmm.linux.include_.linux.vmstat cimport mod_node_page_state, count_vm_events
from kmm.linux.include_.linux.vm_event_item cimport NUMA_PTE_UPDATES
from kmm.linux.include_.linux.nodemask cimport nodemask_t
from kmm.linux.include_.linux.jiffies cimport jiffies, jiffies_to_msecs
from kmm.linux.include_.linux.page_flags cimport folio_test_dirty
from kmm.linux.include_.asm_generic.tlb cimport mmu_gather, tlb_start_vma, tlb_end_vma, tlb_flush_pte_range
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_modify
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport PAGE_NONE
from kmm.linux.include_.linux.pgtable cimport ptep_modify_prot_start, ptep_modify_prot_commit
from kmm.linux.mm.internal cimport migration_target_control
from kmm.linux.mm.memory cimport vm_normal_page
from kmm.linux.mm.memory_tiers cimport node_get_allowed_targets
from kmm.linux.mm.migrate cimport (migrate_pages, putback_movable_pages, alloc_misplaced_dst_folio,
                             alloc_migration_target)
from kmm.linux.mm.mmu_gather cimport tlb_gather_mmu, tlb_finish_mmu
from kmm.linux.mm.rmap cimport flush_tlb_batched_pending, folio_referenced
from kmm.linux.mm.vmscan cimport folio_isolate_lru, folio_putback_lru, alloc_demote_folio

_MIGRATE_REASONS = {"demotion": MR_DEMOTION, "numa_misplaced": MR_NUMA_MISPLACED,
                    "syscall": MR_SYSCALL}
_MIGRATE_MODES = {"async": MIGRATE_ASYNC, "sync_light": MIGRATE_SYNC_LIGHT, "sync": MIGRATE_SYNC}

cdef enum:
    _NUMA_BALANCING_NORMAL = 0x1
    _NUMA_BALANCING_MEMORY_TIERING = 0x2


# ---------------------------------------------------------------------------
# Interleaving points: the C side (kmm_machine.interleave_fn) and the
# context manager Machine.at() / Machine.interleave() return.

cdef class _Interleaving:
    """Registers callbacks on interleaving points for a with-block."""
    cdef Machine machine
    cdef dict ids
    cdef bint active

    def __cinit__(self, Machine machine, dict ids):
        self.machine = machine
        self.ids = ids
        self.active = False

    def __enter__(self):
        self.machine._register_points(self.ids)
        self.active = True
        return self

    def __exit__(self, exc_type, exc, tb):
        cdef Machine mach = self.machine
        if self.active:
            mach._unregister_points(self.ids)
            self.active = False
        # an exception no API call has re-raised yet surfaces here
        if mach._interleave_exc is not None and not mach._interleave_running:
            pending = mach._interleave_exc
            mach._interleave_exc = None
            if exc_type is None:
                raise pending
        return False


cdef void _interleave_tramp(int point) noexcept nogil:
    with gil:
        _interleave_call(point)


cdef void _interleave_call(int point) noexcept:
    """Run the callback registered at `point` on the current machine; keep
    its exception for the API call to re-raise; give the interrupted kernel
    function its machine and CPU back."""
    cdef kmm_machine *m = <kmm_machine *>kmm_current()
    cdef int cpu = m.cpu
    cdef Machine mach
    if m.interleave_owner == NULL:
        return
    mach = <Machine>m.interleave_owner
    fn = mach._points.get(point)
    if fn is None or mach._interleave_running or mach._interleave_exc is not None:
        return
    mach._interleave_running = True
    try:
        fn(_interleave.POINT_NAMES[point])
    except BaseException as e:
        mach._interleave_exc = e
    mach._interleave_running = False
    kmm_set_current(m)
    m.cpu = cpu


cdef inline page *_lru_to_page(list_head *p) noexcept nogil:
    return <page *>(<char *>p - <size_t>&(<page *>NULL).lru)


cdef long _kmm_migrate_range(mm_struct *mm, unsigned long start, unsigned long end, int node,
                             int reason, int cpu, int mode, unsigned int *nr_succeeded) noexcept:
    """Isolate the folios mapped in [start, end) and migrate them to node
    (see Machine.migrate).  Returns the number isolated."""
    cdef kmm_machine *m = KMM()
    cdef int saved_cpu = m.cpu
    cdef list_head folios
    cdef list_head *pos
    cdef unsigned long addr
    cdef unsigned long *ptep
    cdef vm_area_struct *vma = NULL
    cdef page *p
    cdef long nr_isolated = 0
    cdef long isolated[8][2]                  # [node][file]: NR_ISOLATED taken, for demotion
    cdef migration_target_control mtc
    cdef nodemask_t allowed_mask = 0
    cdef int nid, f, first_nid = -1
    INIT_LIST_HEAD(&folios)
    for nid in range(8):
        isolated[nid][0] = 0
        isolated[nid][1] = 0
    m.cpu = cpu
    with nogil:
        addr = start
        while addr < end:
            if vma == NULL or addr >= vma.vm_end:
                vma = find_vma(mm, addr)
                if vma == NULL:
                    break
                if addr < vma.vm_start:
                    addr = vma.vm_start
                    continue
            ptep = walk_pte(mm, addr)
            if ptep != NULL and pte_present(ptep[0]):
                p = vm_normal_page(vma, addr, ptep[0])
                if p != NULL and folio_isolate_lru(p):
                    f = folio_is_file_lru(p)
                    mod_node_page_state(page_pgdat(p), NR_ISOLATED_ANON + f, 1)
                    isolated[page_to_nid(p)][f] += 1
                    if first_nid < 0:
                        first_nid = page_to_nid(p)
                    list_add_tail(&p.lru, &folios)
                    nr_isolated += 1
            addr += 4096
        if nr_isolated:
            if reason == MR_DEMOTION:
                # demote_folio_list(): allocate from node, or fail quickly
                # and quietly; then the allowed lower tiers
                mtc.gfp_mask = (GFP_HIGHUSER_MOVABLE & ~__GFP_RECLAIM) | __GFP_NOWARN | \
                    __GFP_NOMEMALLOC | GFP_NOWAIT
                mtc.nid = node
                node_get_allowed_targets(m.node_data[first_nid], &allowed_mask)
                mtc.nmask = &allowed_mask
                migrate_pages(&folios, alloc_demote_folio, NULL, <unsigned long>&mtc,
                              mode, MR_DEMOTION, nr_succeeded)
                # shrink_inactive_list() drops NR_ISOLATED for all it took;
                # the folios not demoted go back (move_folios_to_lru)
                for nid in range(8):
                    for f in range(2):
                        if isolated[nid][f]:
                            mod_node_page_state(m.node_data[nid], NR_ISOLATED_ANON + f,
                                                -isolated[nid][f])
                while not list_empty(&folios):
                    p = _lru_to_page(folios.next)
                    list_del(&p.lru)
                    folio_putback_lru(p)
            elif reason == MR_SYSCALL:
                # do_move_pages_to_node() (move_pages(2) passes MIGRATE_SYNC)
                mtc.nid = node
                mtc.nmask = NULL
                mtc.gfp_mask = GFP_HIGHUSER_MOVABLE | __GFP_THISNODE
                if migrate_pages(&folios, alloc_migration_target, NULL, <unsigned long>&mtc,
                                 mode, MR_SYSCALL, nr_succeeded):
                    putback_movable_pages(&folios)
            else:
                if migrate_pages(&folios, alloc_misplaced_dst_folio, NULL, <unsigned long>node,
                                 mode, MR_NUMA_MISPLACED, nr_succeeded):
                    putback_movable_pages(&folios)
    m.cpu = saved_cpu
    return nr_isolated


cdef long _kmm_change_prot_numa_range(mm_struct *mm, unsigned long start, unsigned long end,
                                      bint filters) noexcept nogil:
    """change_prot_numa() over every VMA in [start, end) (see
    Machine._prot_numa).  Returns the number of PTEs made PROT_NONE."""
    cdef kmm_machine *m = KMM()
    cdef vm_area_struct *vma = find_vma(mm, start)
    cdef unsigned long addr, vend
    cdef unsigned long *ptep
    cdef unsigned long *pmd_seen = NULL
    cdef unsigned long oldpte, ptent
    cdef page *p
    cdef mmu_gather tlb
    cdef long pages, total = 0
    cdef int target_node, nid
    cdef bint toptier
    while vma != NULL and vma.vm_start < end:
        addr = max(start, vma.vm_start)
        vend = min(end, vma.vm_end)
        pages = 0
        tlb_gather_mmu(&tlb, mm)
        tlb_start_vma(&tlb, vma)
        # change_pte_range(): a single-user private mapping keeps the pages
        # already on its CPU's node
        target_node = -1
        if not (vma.vm_flags & VM_SHARED) and mm.mm_users == 1:
            target_node = numa_node_id()
        pmd_seen = NULL
        while addr < vend:
            ptep = walk_pte(mm, addr)
            if ptep == NULL:
                addr += 4096
                continue
            if <unsigned long *>(<size_t>ptep & ~(<size_t>4095)) != pmd_seen:
                pmd_seen = <unsigned long *>(<size_t>ptep & ~(<size_t>4095))
                flush_tlb_batched_pending(mm)       # once per PTE table
            oldpte = ptep[0]
            if not pte_present(oldpte):
                addr += 4096
                continue
            if pte_protnone(oldpte):
                addr += 4096
                continue
            p = vm_normal_page(vma, addr, oldpte)
            if p == NULL:
                addr += 4096
                continue
            nid = page_to_nid(p)
            toptier = node_is_toptier(nid)
            if filters:
                if (vma.vm_flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE and page_count(p) != 1:
                    addr += 4096                    # a shared copy-on-write page
                    continue
                if folio_is_file_lru(p) and folio_test_dirty(p):
                    addr += 4096
                    continue
                if target_node == nid:
                    addr += 4096
                    continue
                if not (m.sysctl_numa_balancing_mode & _NUMA_BALANCING_NORMAL) and toptier:
                    addr += 4096
                    continue
            if (m.sysctl_numa_balancing_mode & _NUMA_BALANCING_MEMORY_TIERING) and not toptier:
                xchg_page_access_time(p, jiffies_to_msecs(jiffies()))
            oldpte = ptep_modify_prot_start(mm, addr, ptep)
            ptent = pte_modify(oldpte, PAGE_NONE)
            ptep_modify_prot_commit(mm, addr, ptep, oldpte, ptent)
            tlb_flush_pte_range(&tlb, addr, 4096)   # present -> PROT_NONE needs a flush
            pages += 1
            addr += 4096
        tlb_end_vma(&tlb, vma)
        if pages > 0:
            count_vm_events(NUMA_PTE_UPDATES, pages)
        tlb_finish_mmu(&tlb)
        total += pages
        vma = vma.vm_next
    return total
