"""The Python-level API: an emulated NUMA machine booted like the kernel.

Machine(nodes=[...], kconfig={...}, sysctl={...}, cpu={...}, seed=0, cost=...) builds
the state (mem_map, NODE_DATA, per-CPU data, sysctls) and boots it through
the mirrored init code: free_area_init_node, memblock_free_all,
build_all_zonelists, init_per_zone_wmark_min, establish_demotion_targets,
swapfile_init, kswapd_run.  Every method makes its machine current before it
calls mirrored code and checks its arguments first, so misuse raises a
KmmError instead of corrupting state.
"""

from libc.stdlib cimport calloc, free

from kmm.emu.current cimport kmm_current, kmm_set_current
from kmm.linux.include_.kmm.machine cimport kmm_machine, kmm_cpu, vm_event_state
from kmm.linux.include_.linux.mm_types cimport page
from kmm.linux.include_.linux.mmzone cimport *
from kmm.linux.include_.linux.nodemask cimport node_set
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.vm_event_item cimport NR_VM_EVENT_ITEMS
from kmm.linux.include_.linux.page_flags cimport PageBuddy, PageTable, page_has_type
from kmm.linux.include_.linux.mm cimport (page_cpupid_last, page_to_pfn, folio_put, folio_get,
                                          page_zonenum, page_to_nid)
from kmm.linux.include_.trace.events.mmflags cimport (NR_PAGEFLAG_NAMES, pageflag_names_bit,
                                                      pageflag_names_name)
from kmm.linux.kernel.fork cimport alloc_task_struct_node, free_all_tasks, free_all_mms
from kmm.linux.kernel.sched.core cimport init_idle, context_switch
from kmm.linux.mm.mm_init cimport free_area_init_node
from kmm.linux.mm.memblock cimport memblock_free_all
from kmm.linux.mm.page_alloc cimport (build_all_zonelists, init_per_zone_wmark_min,
                                      __alloc_pages,
                                      __free_pages, zone_watermark_ok, __zone_watermark_ok)
from kmm.linux.mm.memory_tiers cimport establish_demotion_targets, next_demotion_node, node_is_toptier
from kmm.linux.mm.swapfile cimport swapfile_init
from kmm.linux.mm.vmscan cimport kswapd_run
from kmm.linux.mm.migrate cimport migrc_flush_free_folios
from kmm.linux.arch.x86.mm.tlb cimport initialize_tlbstate_and_flush
from kmm.linux.arch.x86.mm.pti cimport pti_check_boottime_disable
from kmm.linux.arch.x86.entry.entry_64 cimport kmm_entry, kmm_exit
from kmm.emu.hw.cpu cimport HW_TLB_SETASSOC, HW_TLB_UNBOUNDED
from kmm.emu.hw.tlb cimport tlb_hw_init, tlb_hw_free
from kmm.emu.hw.hostmem cimport host_alloc, host_free, pt_pool_destroy
from kmm.emu.process cimport Process
from kmm.emu.debug.oracle cimport oracle_view, oracle_page_version

from kmm.emu.hw import perf as _perf
from kmm.emu import process as _process
from kmm.emu import sysctl as _sysctl
from kmm.linux.mm import vmstat as _vmstat
from kmm.emu.debug import debug_vm as _debug_vm
from kmm.emu.debug import interleave as _interleave
from kmm.emu import config as _cfg
from kmm.emu.hw import costs as _costs
from kmm.emu.config import KmmConfigError, KmmStateError, KmmError, check_whole

SIZEOF_STRUCT_PAGE = sizeof(page)
assert sizeof(vm_event_state) == NR_VM_EVENT_ITEMS * sizeof(unsigned long)

ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")
# CONFIG_MIGRC_FIXES flush points, in MIGRC_FIX_* order (kmm/linux/mm/migrate.pxd)
_MIGRC_FIX_NAMES = ("handle_mm_fault", "tlb_finish_mmu", "generic_perform_write",
                    "truncate_inode_pages_range", "migrc_flush_free_folios", "handle_mm_fault_vma")
WMARK_NAMES = ("min", "low", "high", "promo")

from kmm.emu.gfp import GFP, gfp_names, parse_gfp


def _check_order(order):
    return check_whole("order", order, 0, MAX_ORDER)


cdef class OnCpu:
    """The one way the face runs kernel code on a given CPU: the machine is
    made current and KMM().cpu set, so this_cpu counters land there and IPIs
    leave from there; the CPU that was current comes back after the block,
    also when it raises."""

    def __enter__(self):
        kmm_set_current(self.machine.m)
        self.saved = self.machine.m.cpu
        self.machine.m.cpu = self.cpu
        kmm_entry(self.cpu)                          # a system call or interrupt
        return self

    def __exit__(self, exc_type, exc, tb):
        kmm_set_current(self.machine.m)
        kmm_exit(self.cpu)
        self.machine.m.cpu = self.saved
        return False


cdef class Machine:
    """An emulated NUMA machine (see the module docstring)."""

    def __cinit__(self, *args, **kwargs):
        self.m = NULL
        if not args and not kwargs:
            # Machine.__new__(Machine) or Machine(): a shell with no machine
            # behind it, whose every method would dereference NULL
            raise KmmStateError("Machine: not initialised; use Machine(nodes=[...]) or "
                                "Machine.preset(name)")

    def __init__(self, nodes, kconfig=None, sysctl=None, cpu=None, seed=0, tlb=None, ablate=None,
                 fault_inject=None, cost=None, cmdline=None, swap_cluster_max=None):
        if self.m != NULL:
            raise KmmStateError("Machine: already booted; make a new Machine")
        specs = _cfg.parse_nodes(nodes)
        self.fault_inject = _cfg.check_fault_inject(fault_inject)
        self._ablate = _cfg.check_ablate(ablate, kconfig)
        self.tlb = _cfg.check_tlb(tlb)
        self.cost = _costs.check_cost(cost)
        self._tlb_mms = []
        self.kconfig = _cfg.check_kconfig(kconfig)
        sysctl_in = _cfg.check_sysctl(sysctl)
        self.cpu = _cfg.check_cpu(cpu)
        self.cmdline = _cfg.check_cmdline(cmdline)
        self._swap_cluster_max = _cfg.check_swap_cluster_max(swap_cluster_max)
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
        unknown = set(overrides) - set(_cfg.MACHINE_ARGS)
        if unknown:
            raise KmmConfigError(f"preset: unknown argument(s) {sorted(unknown)}; accepted: "
                                 f"{', '.join(_cfg.MACHINE_ARGS)}")
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
        m.kmm_mem_map_bytes = padded * sizeof(page)
        m.mem_map = <page *>host_alloc(m.kmm_mem_map_bytes)
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
        m.kconfig.CONFIG_PAGE_TABLE_ISOLATION = k["CONFIG_PAGE_TABLE_ISOLATION"]
        m.kconfig.CONFIG_ZONE_DMA = k["CONFIG_ZONE_DMA"]        # before the zones are sized
        m.migrc_ablate = self._ablate
        m.kconfig.CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH = k["CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH"]
        m.kconfig.CONFIG_KMM_NO_BATCHED_PENDING_FLUSH = k["CONFIG_KMM_NO_BATCHED_PENDING_FLUSH"]
        m.x86_bug_l1tf = self.cpu["x86_bug_l1tf"]
        m.x86_phys_bits = self.cpu["x86_phys_bits"]
        m.x86_cache_bits = self.cpu["x86_cache_bits"]
        m.x86_bug_cpu_meltdown = self.cpu["x86_bug_cpu_meltdown"]
        m.kmm_cmdline_pti = _cfg.CMDLINE_PTI.get(self.cmdline["pti"], 0)
        m.kmm_cmdline_nopti = self.cmdline["nopti"]
        for op, row in enumerate(_perf.flush_perf_table(self.cpu)):
            for ev in range(3):
                m.kmm_tlb_flush_perf[op][ev] = row[ev]
        # sysctl defaults (derived ones are filled after the zones exist)
        m.watermark_scale_factor = 10
        m.kmm_swap_cluster_max = self._swap_cluster_max    # before the watermarks use it
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
        pti_check_boottime_disable()
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
        self._refs = {}
        self._blocks = {}
        self._points = {}
        self._interleave_exc = None
        self._interleave_running = False
        self._migrating = False
        m.interleave_fn = NULL
        m.interleave_owner = <void *>self        # borrowed: the struct dies with self
        self.oracle = oracle_view(self, m)
        m.oracle_enabled = True
        for key, value in sysctl_in.items():
            self.set_sysctl(key, value)
        # fault injection starts once the machine is up, so boot never fails
        fpa = self.fault_inject["fail_page_alloc"]
        m.fail_page_alloc.attr.probability = fpa["probability"]
        m.fail_page_alloc.attr.interval = fpa["interval"]
        m.fail_page_alloc.attr.times = fpa["times"]
        m.fail_page_alloc.attr.space = fpa["space"]
        m.fail_page_alloc.attr.verbose = 2
        m.fail_page_alloc.min_order = fpa["min_order"]
        m.fail_page_alloc.ignore_gfp_reclaim = fpa["ignore_gfp_wait"]
        m.fail_page_alloc.ignore_gfp_highmem = fpa["ignore_gfp_highmem"]
        # kernel work costs time from here on (boot is free)
        for i, op in enumerate(_costs.OPS):
            m.kmm_cost_ns[i] = self.cost["ns"][op]

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
        if m.trace.ring != NULL:
            free(m.trace.ring)                  # kmm/emu/tracing.pyx
        free_all_mms()
        for i in range(m.nr_files):
            free(m.files[i])
        free(m.files)
        free_all_tasks()
        for nid in range(m.nr_node_ids):
            free(m.node_data[nid])
        pt_pool_destroy(m)
        host_free(m.mem_map, m.kmm_mem_map_bytes)
        free(m.cpus)
        free(m)
        self.m = NULL
        kmm_set_current(NULL if prev == <void *>m else prev)

    cdef int _live(self) except -1:
        """Refuse a Machine object that was never booted (Machine.__new__
        with arguments, no __init__): there is no machine behind it."""
        if self.m == NULL:
            raise KmmStateError("Machine: not initialised; use Machine(nodes=[...]) or "
                                "Machine.preset(name)")
        return 0

    cdef void _enter(self) noexcept:
        kmm_set_current(self.m)

    cdef on_cpu(self, cpu):
        """`with machine.on_cpu(cpu):` runs the block's mirrored calls on this
        machine as CPU cpu (see OnCpu)."""
        cdef OnCpu ctx = OnCpu.__new__(OnCpu)
        self._check_cpu(cpu)
        ctx.machine = self
        ctx.cpu = cpu
        return ctx

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
        if not isinstance(point, str):
            raise KmmConfigError(f"point: {point!r}; expected a point name from "
                                 f"Machine.interleave_points()")
        return self.interleave({point: fn})

    def interleave(self, points):
        """Context manager registering {point_name: fn} (see at())."""
        self._live()
        return _interleave.Interleaving(self, _interleave.point_ids(points))

    cdef _register_points(self, dict ids):
        _interleave.register(self, ids)

    cdef _unregister_points(self, dict ids):
        _interleave.unregister(self, ids)

    @property
    def ablated(self):
        """The seed-patch hunks switched off on this machine."""
        self._live()
        return [h for h, bit in _cfg.ABLATABLE.items() if (self.m.migrc_ablate >> bit) & 1]

    def migrc_pending(self):
        """Source folios held by migrc for a deferred flush, per zone
        (zone->migrc_pending_nr), and the requests hung on each node."""
        cdef pglist_data *pgdat
        self._live()
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
        self._live()
        return {"deferred_folios": self.m.kmm_migrc_deferred,
                "deferred_flushes": self.m.kmm_migrc_flushes}

    def migrc_fix_flushes(self):
        """CONFIG_MIGRC_FIXES: how many times each fix point found deferred
        flushes pending and flushed them (docs/hazards.md)."""
        self._live()
        return {name: self.m.migrc_fix_flushes[i] for i, name in enumerate(_MIGRC_FIX_NAMES)}

    def _migrc_fix_points(self, off=()):
        """CONFIG_MIGRC_FIXES cost studies: switch the named fix points
        off (names as in migrc_fix_flushes()); returns the points now on."""
        self._live()
        if isinstance(off, str) or not isinstance(off, (list, tuple, set, frozenset)):
            raise KmmConfigError(f"off: {off!r}; expected a list of fix point names: "
                                 f"{', '.join(_MIGRC_FIX_NAMES)}")
        mask = 0
        for name in off:
            if not isinstance(name, str) or name not in _MIGRC_FIX_NAMES:
                raise KmmConfigError(f"fix point: {name!r}; accepted: {', '.join(_MIGRC_FIX_NAMES)}")
            mask |= 1 << _MIGRC_FIX_NAMES.index(name)
        self.m.migrc_fixes_off = mask
        return [n for i, n in enumerate(_MIGRC_FIX_NAMES) if not (mask >> i) & 1]

    def migrc_flush_free_folios(self, cpu=0):
        """Run migrc_flush_free_folios(NULL) on cpu; returns whether anything
        was pending."""
        self._check_cpu(cpu)
        with self.on_cpu(cpu):
            r = migrc_flush_free_folios(NULL)
        self._after()
        return bool(r)

    # -- topology --------------------------------------------------------
    @property
    def nr_node_ids(self):
        self._live()
        return self.m.nr_node_ids

    @property
    def nr_cpus(self):
        self._live()
        return self.m.nr_cpu_ids

    @property
    def max_pfn(self):
        self._live()
        return self.m.max_pfn

    @property
    def clock_ns(self):
        self._live()
        return self.m.clock_ns

    @property
    def pti(self):
        """Whether the kernel booted with page-table isolation
        (X86_FEATURE_PTI, arch/x86/mm/pti.c pti_check_boottime_disable)."""
        self._live()
        return bool(self.m.x86_feature_pti)

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
        self._live()
        return bool(self.m.swap_migration_ad_supported)

    def _check_nid(self, nid):
        self._live()
        if isinstance(nid, bool) or not isinstance(nid, int) or not 0 <= nid < self.m.nr_node_ids:
            raise KmmConfigError(f"nid: {nid!r}; this machine has nodes 0..{self.m.nr_node_ids - 1}")

    def _check_cpu(self, cpu):
        self._live()
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
        """Every sysctl with its current value (kmm/emu/sysctl.pyx)."""
        self._live()
        return _sysctl.read(self)

    def set_sysctl(self, key, value):
        """Write a sysctl: the value is checked as proc_dointvec_minmax
        would (kmm/emu/config.py), then handed to the key's proc handler,
        mirrored beside its variable (kmm/emu/sysctl.pyx)."""
        self._live()
        _sysctl.write(self, key, _cfg.check_sysctl_value(key, value))
        self._after()

    # -- zones and counters ---------------------------------------------------
    def zones(self):
        """Every populated zone: node, name, pages, free, watermarks, lowmem_reserve."""
        cdef zone *z
        self._live()
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
        self._live()
        self._enter()
        return dict(_vmstat.vmstat_show())

    def vm_events_per_cpu(self, name):
        self._live()
        if not isinstance(name, str) or name not in _vmstat.VM_EVENT_NAMES:
            raise KmmConfigError(f"vm event: unknown name {name!r}; accepted: {', '.join(_vmstat.VM_EVENT_NAMES)}")
        self._enter()
        return _vmstat.vm_events_per_cpu(name)

    def cpu_time(self):
        """Per CPU, where its virtual time went under the cost model (ns):
        user (the workload), sys (kernel work in its context), irq (IPI
        handlers), kthread (kswapd), pending (not yet taken from its task)."""
        self._live()
        times = [dict(<object>self.m.cpus[c].kmm_time) for c in range(self.m.nr_cpu_ids)]
        return [{k: v for k, v in t.items() if k != "in_irq"} for t in times]

    def watermark_ok(self, nid, zone_name, order, mark, highest_zoneidx=ZONE_NORMAL,
                     alloc_flags=0, free_pages=None):
        """__zone_watermark_ok() on one zone; mark is a number of pages or a
        watermark name ('min', 'low', 'high', 'promo')."""
        cdef zone *z
        zid = self._check_zone(zone_name)
        self._check_nid(nid)
        _check_order(order)
        check_whole("highest_zoneidx", highest_zoneidx, 0, MAX_NR_ZONES - 1)
        check_whole("alloc_flags", alloc_flags, 0, 0xfff)
        if free_pages is not None:
            check_whole("free_pages", free_pages, -2**62, 2**62)
        z = &self.m.node_data[nid].node_zones[zid]
        if isinstance(mark, str):
            if mark not in WMARK_NAMES:
                raise KmmConfigError(f"mark: {mark!r}; accepted: a page count or {', '.join(WMARK_NAMES)}")
            mark = wmark_pages(z, WMARK_NAMES.index(mark))
        check_whole("mark", mark, 0, 2**62)
        self._enter()
        if free_pages is None:
            return bool(zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags))
        return bool(__zone_watermark_ok(z, order, mark, highest_zoneidx, alloc_flags, free_pages))

    def kswapd_woken(self, nid):
        """Whether an allocation has woken node nid's kswapd (not yet run)."""
        self._check_nid(nid)
        return bool(self.m.node_data[nid].kswapd_woken)

    # -- pages ------------------------------------------------------------------
    # Only the holder of a reference may drop it (include/linux/mm.h
    # folio_put: "the caller must hold a reference").  A page's refcount
    # also counts references the kernel's own state holds: one per mapping
    # (page_mapcount), the page cache's (filemap_add_folio), a page table's,
    # an isolating caller's (folio_isolate_lru for reclaim and migration),
    # and dropping one of those frees a page still in use; the kernel
    # notices at best at free time (bad_page, VM_BUG_ON).  So the face drops
    # only the references it handed out: one per block from alloc_pages()
    # and one per folio_get(), counted per pfn in _refs.

    def alloc_pages(self, order=0, nid=None, gfp="GFP_HIGHUSER_MOVABLE", cpu=0):
        """__alloc_pages() on behalf of a task on `cpu`; returns the pfn or
        None.  The caller holds the block's reference: drop it with
        free_pages(pfn, order)."""
        cdef page *p
        cdef unsigned int g = parse_gfp(gfp)
        self._check_cpu(cpu)
        _check_order(order)
        if nid is None:
            nid = self.m.cpus[cpu].node
        self._check_nid(nid)
        with self.on_cpu(cpu):
            p = __alloc_pages(g, order, nid, NULL)
        if p != NULL:
            pfn = page_to_pfn(p)
            self._refs[pfn] = self._refs.get(pfn, 0) + 1
            self._blocks[pfn] = order
        self._after()
        return None if p == NULL else page_to_pfn(p)

    def free_pages(self, pfn, order=0):
        """__free_pages(): drop the reference to a block that alloc_pages()
        returned, with the order it was allocated with.  Refused
        (KmmStateError) for a page whose references the caller did not take
        (see the rule above: mapped, page cache, page table, isolated pages
        belong to the kernel), for a reference from folio_get() (drop it
        with folio_put()) and for a wrong order."""
        cdef page *p = self._page(pfn)
        cdef long i
        _check_order(order)
        if PageTable(p):
            raise KmmStateError(f"free_pages: pfn {pfn} is a page table; its mm owns it")
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
        if pfn not in self._blocks:
            if pfn in self._refs:
                raise KmmStateError(f"free_pages: pfn {pfn} was not allocated with alloc_pages(); "
                                    f"drop the folio_get() reference with folio_put()")
            self._not_ours("free_pages", pfn)
        if self._blocks[pfn] != order:
            raise KmmStateError(f"free_pages: pfn {pfn} was allocated with order "
                                f"{self._blocks[pfn]}, not {order}; pass that order")
        self._enter()
        __free_pages(p, order)
        del self._blocks[pfn]
        self._drop_ref(pfn)
        self._after()

    def folio_get(self, pfn):
        """folio_get(): take a reference to an allocated page (the caller
        then holds it: drop it with folio_put())."""
        cdef page *p = self._page(pfn)
        if PageTable(p):
            raise KmmStateError(f"folio_get: pfn {pfn} is a page table; its mm owns it")
        if page_has_type(p) or p._refcount <= 0:
            raise KmmStateError(f"folio_get: pfn {pfn} is free (refcount {p._refcount})")
        self._enter()
        folio_get(p)
        self._refs[pfn] = self._refs.get(pfn, 0) + 1
        self._after()

    def folio_put(self, pfn):
        """folio_put(): drop a reference the caller took (folio_get(), or an
        order-0 block's from alloc_pages()); the last one frees the page.
        Refused (KmmStateError) for references the kernel's state holds
        (see the rule above) and for the last reference of a higher-order
        block from alloc_pages(), which is no folio (compound pages are not
        modelled): free_pages() frees it."""
        cdef page *p = self._page(pfn)
        if PageTable(p):
            raise KmmStateError(f"folio_put: pfn {pfn} is a page table; its mm owns it")
        if page_has_type(p) or p._refcount <= 0:
            raise KmmStateError(f"folio_put: pfn {pfn} has no reference to drop (refcount {p._refcount})")
        if pfn not in self._refs:
            self._not_ours("folio_put", pfn)
        if self._blocks.get(pfn, 0) > 0 and p._refcount == 1:
            raise KmmStateError(f"folio_put: pfn {pfn} starts an order-{self._blocks[pfn]} block "
                                f"from alloc_pages(), not a folio; free it with "
                                f"free_pages({pfn}, {self._blocks[pfn]})")
        self._enter()
        folio_put(p)
        if p._refcount == 0:
            self._blocks.pop(pfn, None)
        self._drop_ref(pfn)
        self._after()

    cdef _drop_ref(self, pfn):
        n = self._refs[pfn] - 1
        if n:
            self._refs[pfn] = n
        else:
            del self._refs[pfn]

    cdef _not_ours(self, what, pfn):
        """Raise the KmmStateError for dropping a reference the caller does
        not hold, naming who holds the page's references."""
        d = self.page(pfn)
        if d["mapcount"] > 0:
            who = f"still mapped (mapcount {d['mapcount']})"
        elif "lru" in d["flags"]:
            who = "on an LRU list"
        elif d["mapping"] and not d["mapping"] & 1:
            who = "in the page cache"
        elif d["mapping"]:
            who = "isolated from the LRU (under migration or reclaim)"
        elif "reserved" in d["flags"]:
            who = "reserved"
        else:
            who = "held by kernel code"
        raise KmmStateError(f"{what}: pfn {pfn} is {who} (refcount {d['refcount']}); its references "
                            f"are the kernel's, and only one taken with alloc_pages() or folio_get() "
                            f"can be dropped here")

    cdef page *_page(self, pfn) except NULL:
        self._live()
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
            "version": oracle_page_version(p),
        }

    def fault_inject_stats(self):
        """{"fail_page_alloc": {"failures": injected, "times": still allowed
        (-1: no limit), "space": pages still let through, "count": calls seen,
        "sites": {"<gfp flags> order <n>": failures}}} (docs/fault_injection.md)."""
        cdef kmm_machine *m = self.m
        cdef int i
        self._live()
        sites = {}
        for i in range(m.kmm_fail_page_alloc_nr_sites):
            sites[f"{gfp_names(m.kmm_fail_page_alloc_sites[i].gfp_mask)} order "
                  f"{m.kmm_fail_page_alloc_sites[i].order}"] = m.kmm_fail_page_alloc_sites[i].nr
        return {"fail_page_alloc": {
            "failures": m.kmm_fail_page_alloc_injected,
            "times": m.fail_page_alloc.attr.times,
            "space": m.fail_page_alloc.attr.space,
            "count": m.fail_page_alloc.attr.count,
            "sites": sites}}

    def check_invariants(self):
        """Run the CONFIG_DEBUG_VM checks now; returns the list of problems."""
        self._live()
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
        with self.on_cpu(cpu):
            context_switch(prev, next)

    def idle(self, cpu):
        """Switch cpu to its idle task: it keeps the previous mm loaded
        lazily (enter_lazy_tlb), as Linux does."""
        self._check_cpu(cpu)
        self._switch_to(cpu, self.m.cpus[cpu].idle)

    def current(self, cpu):
        """(pid, comm) of the task running on cpu."""
        cdef task_struct *t
        self._check_cpu(cpu)
        t = self.m.cpus[cpu].current_task
        return (t.pid, t.comm.decode())

    def spawn(self, threads=1, cpus=None):
        """A new process with `threads` threads; thread i runs on cpus[i]
        (default: CPU i), switched in at once (kmm/emu/process.pyx)."""
        self._live()
        return _process.spawn(self, threads, cpus)

    @property
    def processes(self):
        self._live()
        return tuple(self._processes)

    def create_file(self, npages, writable=True):
        """A regular file of npages pages, its data on the emulated disk."""
        self._live()
        return _process.create_file(self, npages, writable)

    def file_read(self, f, index, cpu=0):
        """read(2) of page index of f on cpu (filemap_read); returns the data
        version read, or None past the end of the file."""
        self._live()
        return _process.file_read(self, f, index, cpu)

    def file_write(self, f, index, cpu=0):
        """write(2) of one whole page of f on cpu (generic_perform_write)."""
        self._live()
        return _process.file_write(self, f, index, cpu)

    def truncate(self, f, npages, cpu=0):
        """truncate(2) of f to npages pages on cpu (truncate_setsize)."""
        self._live()
        return _process.file_truncate(self, f, npages, cpu)

    # == Migration (mm/migrate.c, mm/rmap.c, NUMA hint faults) ==================
    # m.migrate() runs migrate_pages() on a range of a process, as reclaim's
    # demotion or a NUMA-misplaced migration would; the _-methods support
    # tests (see docs/migrate.md).

    def migrate(self, proc, addr, npages, node=1, reason="demotion", cpu=0, hook=None,
                mode=None):
        """Migrate the folios mapped in [addr, addr + npages pages) of proc to
        `node`, on `cpu` as the task current there (its tlb_ubc batches the
        flushes), through the kernel's entry for the reason; returns how
        many were migrated.
        - "demotion": reclaim's demotion (kmm_demote_folios in vmscan.pyx):
          per source node, the folios isolated and counted in NR_ISOLATED_*,
          demote_folio_list's code with `node` as the target
          (alloc_demote_folio: node with __GFP_THISNODE, then the source's
          allowed lower tiers; no reclaim, may wake kswapd; PGDEMOTE_DIRECT),
          the rest back on the LRU.
        - "numa_misplaced": each page as a NUMA hint fault hands it over,
          migrate_misplaced_page(page, vma, node): refused for dirty file
          pages and when node is short of free pages; NUMA_PAGE_MIGRATE and
          PGPROMOTE_SUCCESS counted.
        - "syscall": move_pages(2) of the range to node (do_pages_move:
          add_page_for_migration, do_move_pages_to_node with MIGRATE_SYNC;
          pages mapped more than once are refused, no MPOL_MF_MOVE_ALL).
        mode: None (the kernel's: async, or sync for "syscall"), or
        "async"/"sync_light"/"sync" to run every migrate_pages() of the call
        in that mode (the mirror's test knob kmm_debug_migrate_mode).
        hook: None, or a callable run with "unmapped" (a batch's PTEs are
        migration entries, the batched flush not yet done) and "flushed"
        (flushed, nothing moved yet); an exception it raises is re-raised."""
        return _process.migrate(self, proc, addr, npages, node, reason, cpu, hook, mode)

    def _prot_numa(self, proc, addr, npages, cpu=0, filters=True):
        """Test support for NUMA hint faults: make the present PTEs of
        [addr, addr + npages pages) PROT_NONE through change_prot_numa() on
        each VMA part, from `cpu` (Process._change_prot_numa).
        filters=True applies change_pte_range's prot_numa_skip (already
        PROT_NONE, zero/KSM pages, shared COW pages, dirty file pages, pages
        on the node of a single-user mm's CPU, top-tier pages when only
        tiering is on, and the slow-tier access-time stamp); filters=False
        sets the mirror's test knob kmm_debug_prot_numa_noskip, so every
        present PTE is changed.  Returns the number of PTEs changed."""
        if not isinstance(proc, Process) or (<Process>proc).machine is not self:
            raise KmmConfigError(f"proc: {proc!r}; expected a Process of this machine (from spawn())")
        if filters:
            return (<Process>proc)._change_prot_numa(addr, npages, cpu=cpu)
        self.m.kmm_debug_prot_numa_noskip = True
        try:
            return (<Process>proc)._change_prot_numa(addr, npages, cpu=cpu)
        finally:
            self.m.kmm_debug_prot_numa_noskip = False

    def _clock_advance_ns(self, ns):
        """Move the virtual clock (jiffies follow it) forward by ns."""
        self._live()
        check_whole("ns", ns, 0, 2**62)
        self.m.clock_ns += ns

    def advance(self, seconds):
        """Move the virtual clock forward (jiffies follow it)."""
        self._live()
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e9:
            raise KmmConfigError(f"seconds: {seconds!r}; expected a non-negative number of virtual seconds")
        self.m.clock_ns += <unsigned long long>(seconds * 1e9)

    def run(self, workload, until=None, progress=None, snapshot_every=0.1):
        """Run a workload (kmm.workloads) on this machine in virtual time
        until it finishes or `until` virtual seconds pass (kmm/emu/engine.pyx).
        progress(virtual_s, done_fraction) is called every 100 virtual ms.
        Returns vmstat, perf, virtual_s, wall_s, oracle_violations,
        snapshots (counters every snapshot_every virtual seconds)."""
        self._live()
        from kmm.emu.engine import run as _run
        return _run(self, workload, until=until, progress=progress, snapshot_every=snapshot_every)

    def run_kswapd(self, nid, cpu=None):
        """Wake node nid's kswapd for one balance: it preempts the task on
        `cpu` (default: the node's first CPU, or CPU 0 for a CPU-less node),
        borrowing its mm lazily, balances the node (balance_pgdat) and naps,
        or stays awake if the node is still unbalanced.  Returns the pages reclaimed."""
        from kmm.emu.engine import run_kswapd as _run_kswapd
        self._check_nid(nid)
        if cpu is None:
            cpus = self.node_cpus(nid)
            cpu = cpus[0] if cpus else 0
        self._check_cpu(cpu)
        reclaimed = _run_kswapd(self, nid, cpu)     # the engine's own kswapd step
        self._after()
        return reclaimed

    def node_vmstat(self, nid):
        """One node's node_stat_item counters (/sys/devices/system/node/nodeN/vmstat)."""
        self._check_nid(nid)
        return {name: self.m.node_data[nid].vm_stat[i] for i, name in enumerate(_vmstat.NODE_STAT_NAMES)}

    # == x86 TLB ==================================================================
    # The emulated TLB hardware (kmm/emu/hw/tlb.pyx) and the kernel's
    # arch/x86/mm/tlb.c (kmm/linux/arch/x86/mm/tlb.pyx), brought up at boot;
    # kmm.emu.testing.tlb_* drive them without page tables.

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

    @property
    def nr_tlb_warnings(self):
        """How many WARN_ON / VM_WARN_ON conditions of tlb.c fired."""
        self._live()
        return self.m.nr_tlb_warnings

    def perf(self, cpu=None):
        """Perf-like hardware events (kmm/emu/hw/perf.pyx), summed over CPUs or
        of one CPU; iTLB-load-misses is reported as "not modelled"."""
        self._live()
        if cpu is not None:
            if isinstance(cpu, bool) or not isinstance(cpu, int):
                raise KmmConfigError(f"cpu: {cpu!r}; expected a CPU number or None")
            self._check_cpu(cpu)
        self._enter()
        return _perf.perf_read(cpu)

    def perf_reset(self):
        """Zero the perf counters of every CPU."""
        self._live()
        self._enter()
        _perf.perf_reset()
