"""The Python-level API: an emulated NUMA machine booted like the kernel.

Machine(nodes=[...], kconfig={...}, sysctl={...}, cpu={...}, seed=0) builds
the state (mem_map, NODE_DATA, per-CPU data, sysctls) and boots it through
the mirrored init code: free_area_init_node, memblock_free_all,
build_all_zonelists, init_per_zone_wmark_min, establish_demotion_targets,
swapfile_init, kswapd_run.  Every method makes its machine current before it
calls mirrored code and checks its arguments first, so misuse raises a
KmmError instead of corrupting state.
"""

from libc.stdlib cimport calloc, free
from libc.string cimport memset

from kmm._current cimport kmm_current, kmm_set_current
from kmm.include_.kmm.machine cimport kmm_machine, kmm_cpu, vm_event_state, KMM
from kmm.include_.linux.gfp_types cimport *
from kmm.include_.linux.mm_types cimport page, mm_struct
from kmm.include_.linux.mmzone cimport *
from kmm.include_.linux.nodemask cimport nodemask_t, node_set, MAX_NUMNODES
from kmm.include_.linux.sched cimport task_struct
from kmm.include_.linux.vm_event_item cimport NR_VM_EVENT_ITEMS
from kmm.include_.linux.page_flags cimport PageBuddy, PageTable, page_has_type
from kmm.include_.linux.mm cimport pfn_to_page, page_to_pfn, folio_put, folio_get, page_zonenum, page_to_nid
from kmm.include_.linux.vmstat cimport zone_page_state
from kmm.include_.trace.events.mmflags cimport (NR_PAGEFLAG_NAMES, pageflag_names_bit,
                                               pageflag_names_name)
from kmm.kernel.fork cimport alloc_task_struct_node, free_all_tasks
from kmm.kernel.sched.core cimport init_idle
from kmm.mm.mm_init cimport free_area_init_node
from kmm.mm.memblock cimport memblock_free_all
from kmm.mm.page_alloc cimport (build_all_zonelists, init_per_zone_wmark_min,
                                setup_per_zone_wmarks, setup_per_zone_lowmem_reserve,
                                __alloc_pages, __free_pages, zone_watermark_ok,
                                __zone_watermark_ok)
from kmm.mm.memory_tiers cimport establish_demotion_targets, next_demotion_node, node_is_toptier
from kmm.mm.swapfile cimport swapfile_init
from kmm.mm.vmscan cimport kswapd_run
from kmm.mm import vmstat as _vmstat
from kmm.debug import debug_vm as _debug_vm

from kmm import config as _cfg
from kmm.config import KmmConfigError, KmmStateError, KmmError

SIZEOF_STRUCT_PAGE = sizeof(page)
assert sizeof(vm_event_state) == NR_VM_EVENT_ITEMS * sizeof(unsigned long)

ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable")
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

    def __init__(self, nodes, kconfig=None, sysctl=None, cpu=None, seed=0):
        specs = _cfg.parse_nodes(nodes)
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
        unknown = set(overrides) - {"nodes", "kconfig", "sysctl", "cpu", "seed"}
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
        m.cpu = 0
        for nid in range(len(specs)):
            if kswapd_run(nid) != 0:
                raise MemoryError("cannot start kswapd")
        self._sysctl = {}
        for key, value in sysctl_in.items():
            self.set_sysctl(key, value)

    def __dealloc__(self):
        cdef kmm_machine *m = self.m
        cdef void *prev = kmm_current()
        cdef int nid
        if m == NULL:
            return
        # The garbage collector may free this machine in the middle of
        # another machine's operation: give the current machine back after.
        kmm_set_current(m)
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
        """CONFIG_DEBUG_VM: verify the invariants after an operation."""
        if self.m.kconfig.CONFIG_DEBUG_VM:
            problems = _debug_vm.check_invariants()
            if problems:
                raise KmmStateError("CONFIG_DEBUG_VM: " + "; ".join(problems))

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
            "mapping": p.mapping, "index": p.index, "last_cpupid": p._last_cpupid,
            "version": p.kmm_version,
        }

    def check_invariants(self):
        """Run the CONFIG_DEBUG_VM checks now; returns the list of problems."""
        self._enter()
        return _debug_vm.check_invariants()

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
