"""Test support (not part of the mirrored tree): reaches cdef-only kernel
helpers that have no Python API, so tests can check them directly."""

from kmm.emu.machine cimport Machine
from kmm.linux.include_.linux.mm_types cimport page, folio
from kmm.linux.include_.linux.page_flags cimport *
from kmm.linux.include_.linux.page_ref cimport folio_ref_freeze, folio_ref_unfreeze, folio_ref_count
from kmm.linux.include_.linux.mmzone cimport zoneref, ZONELIST_FALLBACK, ZONELIST_NOFALLBACK

ctypedef bint (*flag_test_t)(const folio *) noexcept nogil
ctypedef void (*flag_op_t)(folio *) noexcept nogil
ctypedef bint (*flag_testop_t)(folio *) noexcept nogil

cdef struct flag_ops:
    flag_test_t test
    flag_op_t set
    flag_op_t __set
    flag_op_t clear
    flag_op_t __clear
    flag_testop_t test_set
    flag_testop_t test_clear

# The generated helpers of include/linux/page-flags.h (tools/gen_page_flags.py),
# reachable by name: {flag: flag_ops}.
FLAG_NAMES = (
    "locked", "writeback", "referenced", "uptodate", "dirty", "lru", "head", "waiters",
    "active", "workingset", "error", "slab", "owner_priv_1", "arch_1", "reserved",
    "private", "private_2", "mappedtodisk", "reclaim", "swapbacked", "unevictable",
    "mlocked", "uncached", "hwpoison", "young", "idle", "migrc", "anon_exclusive",
    "swapcache", "readahead",
)
cdef flag_ops _flag_ops[30]

_flag_ops[0] = flag_ops(folio_test_locked, folio_set_locked, __folio_set_locked, folio_clear_locked, __folio_clear_locked, folio_test_set_locked, folio_test_clear_locked)
_flag_ops[1] = flag_ops(folio_test_writeback, folio_set_writeback, __folio_set_writeback, folio_clear_writeback, __folio_clear_writeback, folio_test_set_writeback, folio_test_clear_writeback)
_flag_ops[2] = flag_ops(folio_test_referenced, folio_set_referenced, __folio_set_referenced, folio_clear_referenced, __folio_clear_referenced, folio_test_set_referenced, folio_test_clear_referenced)
_flag_ops[3] = flag_ops(folio_test_uptodate, folio_set_uptodate, __folio_set_uptodate, folio_clear_uptodate, __folio_clear_uptodate, folio_test_set_uptodate, folio_test_clear_uptodate)
_flag_ops[4] = flag_ops(folio_test_dirty, folio_set_dirty, __folio_set_dirty, folio_clear_dirty, __folio_clear_dirty, folio_test_set_dirty, folio_test_clear_dirty)
_flag_ops[5] = flag_ops(folio_test_lru, folio_set_lru, __folio_set_lru, folio_clear_lru, __folio_clear_lru, folio_test_set_lru, folio_test_clear_lru)
_flag_ops[6] = flag_ops(folio_test_head, folio_set_head, __folio_set_head, folio_clear_head, __folio_clear_head, folio_test_set_head, folio_test_clear_head)
_flag_ops[7] = flag_ops(folio_test_waiters, folio_set_waiters, __folio_set_waiters, folio_clear_waiters, __folio_clear_waiters, folio_test_set_waiters, folio_test_clear_waiters)
_flag_ops[8] = flag_ops(folio_test_active, folio_set_active, __folio_set_active, folio_clear_active, __folio_clear_active, folio_test_set_active, folio_test_clear_active)
_flag_ops[9] = flag_ops(folio_test_workingset, folio_set_workingset, __folio_set_workingset, folio_clear_workingset, __folio_clear_workingset, folio_test_set_workingset, folio_test_clear_workingset)
_flag_ops[10] = flag_ops(folio_test_error, folio_set_error, __folio_set_error, folio_clear_error, __folio_clear_error, folio_test_set_error, folio_test_clear_error)
_flag_ops[11] = flag_ops(folio_test_slab, folio_set_slab, __folio_set_slab, folio_clear_slab, __folio_clear_slab, folio_test_set_slab, folio_test_clear_slab)
_flag_ops[12] = flag_ops(folio_test_owner_priv_1, folio_set_owner_priv_1, __folio_set_owner_priv_1, folio_clear_owner_priv_1, __folio_clear_owner_priv_1, folio_test_set_owner_priv_1, folio_test_clear_owner_priv_1)
_flag_ops[13] = flag_ops(folio_test_arch_1, folio_set_arch_1, __folio_set_arch_1, folio_clear_arch_1, __folio_clear_arch_1, folio_test_set_arch_1, folio_test_clear_arch_1)
_flag_ops[14] = flag_ops(folio_test_reserved, folio_set_reserved, __folio_set_reserved, folio_clear_reserved, __folio_clear_reserved, folio_test_set_reserved, folio_test_clear_reserved)
_flag_ops[15] = flag_ops(folio_test_private, folio_set_private, __folio_set_private, folio_clear_private, __folio_clear_private, folio_test_set_private, folio_test_clear_private)
_flag_ops[16] = flag_ops(folio_test_private_2, folio_set_private_2, __folio_set_private_2, folio_clear_private_2, __folio_clear_private_2, folio_test_set_private_2, folio_test_clear_private_2)
_flag_ops[17] = flag_ops(folio_test_mappedtodisk, folio_set_mappedtodisk, __folio_set_mappedtodisk, folio_clear_mappedtodisk, __folio_clear_mappedtodisk, folio_test_set_mappedtodisk, folio_test_clear_mappedtodisk)
_flag_ops[18] = flag_ops(folio_test_reclaim, folio_set_reclaim, __folio_set_reclaim, folio_clear_reclaim, __folio_clear_reclaim, folio_test_set_reclaim, folio_test_clear_reclaim)
_flag_ops[19] = flag_ops(folio_test_swapbacked, folio_set_swapbacked, __folio_set_swapbacked, folio_clear_swapbacked, __folio_clear_swapbacked, folio_test_set_swapbacked, folio_test_clear_swapbacked)
_flag_ops[20] = flag_ops(folio_test_unevictable, folio_set_unevictable, __folio_set_unevictable, folio_clear_unevictable, __folio_clear_unevictable, folio_test_set_unevictable, folio_test_clear_unevictable)
_flag_ops[21] = flag_ops(folio_test_mlocked, folio_set_mlocked, __folio_set_mlocked, folio_clear_mlocked, __folio_clear_mlocked, folio_test_set_mlocked, folio_test_clear_mlocked)
_flag_ops[22] = flag_ops(folio_test_uncached, folio_set_uncached, __folio_set_uncached, folio_clear_uncached, __folio_clear_uncached, folio_test_set_uncached, folio_test_clear_uncached)
_flag_ops[23] = flag_ops(folio_test_hwpoison, folio_set_hwpoison, __folio_set_hwpoison, folio_clear_hwpoison, __folio_clear_hwpoison, folio_test_set_hwpoison, folio_test_clear_hwpoison)
_flag_ops[24] = flag_ops(folio_test_young, folio_set_young, __folio_set_young, folio_clear_young, __folio_clear_young, folio_test_set_young, folio_test_clear_young)
_flag_ops[25] = flag_ops(folio_test_idle, folio_set_idle, __folio_set_idle, folio_clear_idle, __folio_clear_idle, folio_test_set_idle, folio_test_clear_idle)
_flag_ops[26] = flag_ops(folio_test_migrc, folio_set_migrc, __folio_set_migrc, folio_clear_migrc, __folio_clear_migrc, folio_test_set_migrc, folio_test_clear_migrc)
_flag_ops[27] = flag_ops(folio_test_anon_exclusive, folio_set_anon_exclusive, __folio_set_anon_exclusive, folio_clear_anon_exclusive, __folio_clear_anon_exclusive, folio_test_set_anon_exclusive, folio_test_clear_anon_exclusive)
_flag_ops[28] = flag_ops(folio_test_swapcache, folio_set_swapcache, __folio_set_swapcache, folio_clear_swapcache, __folio_clear_swapcache, folio_test_set_swapcache, folio_test_clear_swapcache)
_flag_ops[29] = flag_ops(folio_test_readahead, folio_set_readahead, __folio_set_readahead, folio_clear_readahead, __folio_clear_readahead, folio_test_set_readahead, folio_test_clear_readahead)


cdef object _ops(page *p, str name, str op):
    if name not in FLAG_NAMES:
        raise ValueError(f"unsupported flag {name!r}; supported: {', '.join(FLAG_NAMES)}")
    cdef flag_ops *o = &_flag_ops[FLAG_NAMES.index(name)]
    if op == "test": return bool(o.test(p))
    if op == "set": o.set(p); return None
    if op == "__set": o.__set(p); return None
    if op == "clear": o.clear(p); return None
    if op == "__clear": o.__clear(p); return None
    if op == "test_set": return bool(o.test_set(p))
    if op == "test_clear": return bool(o.test_clear(p))
    raise ValueError(f"unsupported op {op!r}; supported: test, set, __set, clear, __clear, "
                     f"test_set, test_clear")


def folio_flag(Machine machine, pfn, str name, str op):
    cdef page *p = machine._page(pfn)
    return _ops(p, name, op)


def flag_bits():
    """Every PG_* number (and alias) as the generated enum pageflags has it."""
    return {
        "locked": PG_locked, "writeback": PG_writeback, "referenced": PG_referenced,
        "uptodate": PG_uptodate, "dirty": PG_dirty, "lru": PG_lru,
        "head": PG_head, "waiters": PG_waiters, "active": PG_active,
        "workingset": PG_workingset, "error": PG_error, "slab": PG_slab,
        "owner_priv_1": PG_owner_priv_1, "arch_1": PG_arch_1, "reserved": PG_reserved,
        "private": PG_private, "private_2": PG_private_2, "mappedtodisk": PG_mappedtodisk,
        "reclaim": PG_reclaim, "swapbacked": PG_swapbacked, "unevictable": PG_unevictable,
        "mlocked": PG_mlocked, "uncached": PG_uncached, "hwpoison": PG_hwpoison,
        "young": PG_young, "idle": PG_idle, "migrc": PG_migrc,
        "readahead": PG_readahead, "anon_exclusive": PG_anon_exclusive, "checked": PG_checked,
        "swapcache": PG_swapcache, "isolated": PG_isolated, "reported": PG_reported,
        "__NR_PAGEFLAGS": __NR_PAGEFLAGS,
    }


def ref_freeze(Machine machine, pfn, int count):
    cdef page *p = machine._page(pfn)
    return folio_ref_freeze(p, count)


def ref_unfreeze(Machine machine, pfn, int count):
    cdef page *p = machine._page(pfn)
    folio_ref_unfreeze(p, count)
    return folio_ref_count(p)


def raw_flags(Machine machine, pfn):
    return machine._page(pfn).flags


def zonelist(Machine machine, int nid, bint thisnode=False):
    """Node nid's ZONELIST_FALLBACK (or ZONELIST_NOFALLBACK) as
    [(node, zone_idx), ...] in the order the allocator walks it."""
    cdef zoneref *z
    machine._check_nid(nid)
    z = machine.m.node_data[nid].node_zonelists[ZONELIST_NOFALLBACK if thisnode
                                                 else ZONELIST_FALLBACK]._zonerefs
    out = []
    while z.zone != NULL:
        out.append((z.zone.node, z.zone_idx))
        z += 1
    return out


# -- the seed patch (migrc) ----------------------------------------------------

from kmm.linux.mm.migrate cimport migrc_pause as _migrc_pause, migrc_resume as _migrc_resume, \
    migrc_paused as _migrc_paused


def task_can_migrc(Machine machine, int cpu):
    """current->can_migrc of the task running on cpu (include/linux/sched.h,
    the seed patch): what the last rmap walk for an unmap on that CPU found."""
    machine._check_cpu(cpu)
    return bool(machine.m.cpus[cpu].current_task.can_migrc)


def run_migrc_pause(Machine machine):
    """Patch 3/3's migrc_pause(), as a struggling allocation calls it."""
    machine._enter()
    with machine.on_cpu(machine.m.cpu):
        _migrc_pause()


def run_migrc_resume(Machine machine):
    """Patch 3/3's migrc_resume(); refused when migrc is not paused."""
    machine._enter()
    if not _migrc_paused():
        raise KmmStateError("migrc_resume: migrc is not paused")
    with machine.on_cpu(machine.m.cpu):
        _migrc_resume()


def run_migrc_paused(Machine machine):
    machine._enter()
    return bool(_migrc_paused())


# -- x86 TLB without page tables ------------------------------------------------
# The emulated TLB hardware (kmm/emu/hw/tlb.pyx) and arch/x86/mm/tlb.c
# (kmm/linux/arch/x86/mm/tlb.pyx) driven directly: an "mm" is a handle from
# tlb_new_mm() (None means init_mm).  Each function names the kernel entry
# or instruction it drives.

from libc.stdlib cimport calloc, free
from libc.stdint cimport uintptr_t
from kmm.emu.machine cimport Machine
from kmm.emu.process cimport Process, Thread
from kmm.emu.hw.mmu cimport cpu_access
from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.cpumask cimport cpumask_test_cpu
from kmm.linux.include_.linux.gfp_types cimport GFP_HIGHUSER_MOVABLE
from kmm.linux.include_.linux.mm cimport folio_put, page_to_pfn, page_to_nid
from kmm.linux.include_.linux.page_flags cimport page_has_type
from kmm.linux.include_.linux.pgtable cimport walk_pte
from kmm.linux.include_.kmm.machine cimport get_current
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_pfn
from kmm.linux.arch.x86.include_.asm.tlbflush cimport (tlb_state, TLB_FLUSH_ALL, TLB_NR_DYN_ASIDS,
                                                       inc_mm_tlb_gen)
from kmm.linux.arch.x86.include_.asm.mmu_context cimport init_new_context
from kmm.linux.arch.x86.mm.tlb cimport (kern_pcid, user_pcid, switch_mm_irqs_off, enter_lazy_tlb, flush_tlb_mm_range,
                                        flush_tlb_mm, flush_tlb_local, flush_tlb_all,
                                        arch_tlbbatch_should_defer)
from kmm.linux.mm.page_alloc cimport __alloc_pages
from kmm.linux.mm.rmap cimport folio_referenced, set_tlb_ubc_flush_pending, fold_ubc_ro, try_to_unmap_flush
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport PAGE_READONLY, PAGE_SHARED
from kmm.emu.hw.cpu cimport (tlb_entry, tlb_cpu, HW_PTE_PRESENT, HW_PTE_RW, HW_PTE_USER,
                             HW_PTE_ACCESSED, HW_PTE_DIRTY, HW_PTE_PFN_MASK,
                             PERF_DTLB_LOADS, PERF_DTLB_STORES)
from kmm.emu.hw.tlb cimport (tlb_fill as hw_tlb_fill, tlb_lookup as hw_tlb_lookup,
                             tlb_probe as hw_tlb_probe, tlb_nr_live as hw_tlb_nr_live,
                             tlb_invlpg as hw_tlb_invlpg)
from kmm.emu.config import KmmConfigError, KmmStateError
from kmm.emu.config import check_whole
from kmm.emu.debug.oracle cimport oracle_page_copy


cdef mm_struct *_handle_mm(Machine m, mm) except NULL:
    """The mm behind a handle from tlb_new_mm() (None: init_mm)."""
    if mm is None:
        return &m.m.init_mm
    if isinstance(mm, bool) or not isinstance(mm, int) or not 0 <= mm < len(m._tlb_mms):
        raise KmmConfigError(f"mm: {mm!r}; expected None (init_mm) or a handle from tlb_new_mm() "
                             f"(0..{len(m._tlb_mms) - 1})")
    return <mm_struct *><size_t>m._tlb_mms[mm]


def _check_vaddr(Machine m, vaddr, what="vaddr"):
    if isinstance(vaddr, bool) or not isinstance(vaddr, int) or not 0 <= vaddr < (1 << 47):
        raise KmmConfigError(f"{what}: {vaddr!r}; expected a user address in 0..2**47-1")


def tlb_mm_handle(Machine self, uintptr_t addr):
    if addr == <uintptr_t>&self.m.init_mm:
        return None
    try:
        return self._tlb_mms.index(addr)
    except ValueError:
        return f"mm@{addr:#x}"


def tlb_new_mm(Machine self):
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


def tlb_switch_mm(Machine self, cpu, mm):
    """switch_mm_irqs_off(loaded_mm, mm, current) on cpu (as a context
    switch to a task of mm would)."""
    cdef mm_struct *next = _handle_mm(self, mm)
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        switch_mm_irqs_off(self.m.cpus[cpu].cpu_tlbstate.loaded_mm, next, self.m.cpus[cpu].current_task)


def tlb_enter_lazy(Machine self, cpu):
    """enter_lazy_tlb() on cpu (a kernel thread now runs there)."""
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        enter_lazy_tlb(self.m.cpus[cpu].cpu_tlbstate.loaded_mm, self.m.cpus[cpu].current_task)


def tlb_flush_mm_range(Machine self, cpu, mm, start, end, int stride_shift=12, freed_tables=False):
    """flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables) from
    cpu; end=None means TLB_FLUSH_ALL."""
    cdef mm_struct *p = _handle_mm(self, mm)
    cdef unsigned long e
    self._check_cpu(cpu)
    if mm is None:
        raise KmmConfigError("mm: init_mm has no user mappings to flush")
    _check_vaddr(self, start, "start")
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
    with self.on_cpu(cpu):
        flush_tlb_mm_range(p, start, e, stride_shift, bool(freed_tables))


def tlb_flush_mm(Machine self, cpu, mm):
    """flush_tlb_mm(mm) from cpu (full, freed_tables: lazy CPUs too)."""
    cdef mm_struct *p = _handle_mm(self, mm)
    self._check_cpu(cpu)
    if mm is None:
        raise KmmConfigError("mm: init_mm has no user mappings to flush")
    with self.on_cpu(cpu):
        flush_tlb_mm(p)


def tlb_flush_local(Machine self, cpu):
    """flush_tlb_local() on cpu: CR3 rewritten, its current PCID flushed."""
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        flush_tlb_local()


def tlb_flush_all(Machine self, cpu=0):
    """flush_tlb_all() from cpu: every PCID of every CPU."""
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        flush_tlb_all()


def tlb_invlpg(Machine self, cpu, vaddr):
    """The INVLPG instruction on cpu (current PCID), outside any kernel path."""
    self._check_cpu(cpu)
    _check_vaddr(self, vaddr)
    self._enter()
    hw_tlb_invlpg(cpu, vaddr)


def tlb_inc_gen(Machine self, mm):
    """inc_mm_tlb_gen(mm) alone (as an unmap does before its flush); returns the new tlb_gen."""
    cdef mm_struct *p = _handle_mm(self, mm)
    if mm is None:
        raise KmmConfigError("mm: init_mm's generation is not used")
    return inc_mm_tlb_gen(p)


def tlb_batch_cpus(Machine self, cpu, ro=False):
    """The CPUs in the tlb_ubc (or tlb_ubc_ro) batch of the task current on cpu."""
    self._check_cpu(cpu)
    if ro:
        mask = self.m.cpus[cpu].current_task.tlb_ubc_ro.arch.cpumask
    else:
        mask = self.m.cpus[cpu].current_task.tlb_ubc.arch.cpumask
    return [c for c in range(self.m.nr_cpu_ids) if (mask >> c) & 1]


def tlb_batch_add(Machine self, cpu, mm, addr, ro=False):
    """set_tlb_ubc_flush_pending(mm, pteval, addr) run on cpu (current:
    the task current there) for a clean present PTE: writable
    (PAGE_SHARED, into tlb_ubc) or, with ro=True, read-only
    (PAGE_READONLY, into patch 1/3's tlb_ubc_ro)."""
    cdef mm_struct *p = _handle_mm(self, mm)
    self._check_cpu(cpu)
    _check_vaddr(self, addr, "addr")
    if mm is None:
        raise KmmConfigError("mm: init_mm has no user mappings to unmap")
    with self.on_cpu(cpu):
        set_tlb_ubc_flush_pending(p, PAGE_READONLY if ro else PAGE_SHARED, addr)

def tlb_batch_fold_ro(Machine self, cpu):
    """Patch 1/3's fold_ubc_ro() run on cpu (current: the task current there)."""
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        fold_ubc_ro()

def tlb_batch_flush(Machine self, cpu):
    """try_to_unmap_flush() run on cpu (current: the task current there):
    folds tlb_ubc_ro in (patch 1/3), then flushes tlb_ubc."""
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        try_to_unmap_flush()


def tlb_should_defer(Machine self, cpu, mm):
    """arch_tlbbatch_should_defer(mm) evaluated on cpu."""
    cdef mm_struct *p = _handle_mm(self, mm)
    self._check_cpu(cpu)
    with self.on_cpu(cpu):
        r = arch_tlbbatch_should_defer(p)
    return bool(r)


def tlb_fill(Machine self, cpu, vaddr, pfn, writable=True, unsigned int page_gen=0):
    """Cache vaddr -> pfn on cpu in its current PCID, as a page walk of a
    present, user, accessed PTE would (RW and DIRTY when writable)."""
    cdef unsigned long long pteval
    self._check_cpu(cpu)
    _check_vaddr(self, vaddr)
    pfn_bits = int(self.m.x86_phys_bits) - 12
    if isinstance(pfn, bool) or not isinstance(pfn, int) or not 0 <= pfn < 2 ** pfn_bits:
        raise KmmConfigError(f"pfn: {pfn!r}; expected 0..2**{pfn_bits}-1 "
                             f"({pfn_bits + 12} physical address bits)")
    pteval = (<unsigned long long>pfn << 12) | HW_PTE_PRESENT | HW_PTE_USER | HW_PTE_ACCESSED
    if writable:
        pteval |= HW_PTE_RW | HW_PTE_DIRTY
    self._enter()
    hw_tlb_fill(cpu, vaddr, pteval, page_gen)


def tlb_lookup(Machine self, cpu, vaddr, write=False):
    """A load (or store) lookup on cpu: the cached pfn, or None for a
    miss in every level (the hardware would walk).  Counts perf events."""
    cdef tlb_entry *e
    self._check_cpu(cpu)
    _check_vaddr(self, vaddr)
    self._enter()
    self.m.cpus[cpu].perf.ev[PERF_DTLB_STORES if write else PERF_DTLB_LOADS] += 1
    e = hw_tlb_lookup(cpu, vaddr, bool(write))
    if e == NULL:
        return None
    return (e.pteval & HW_PTE_PFN_MASK) >> 12


cdef unsigned int _user_pcid(Machine self, int asid):
    """The PCID user code of ASID slot asid runs in (the mirror's
    user_pcid under PTI, else kern_pcid)."""
    return user_pcid(asid) if self.m.x86_feature_pti else kern_pcid(asid)


def tlb_probe(Machine self, cpu, vaddr, asid=None):
    """Whether cpu caches a user translation of vaddr that user code could
    use (in ASID slot asid, default the loaded one), with no side effect:
    the cached pfn or None.  Under PTI that is the slot's user PCID, and
    nothing while the kernel has marked that PCID for a flush at the next
    return to user mode (user_pcid_flush_mask)."""
    cdef tlb_entry e
    self._check_cpu(cpu)
    _check_vaddr(self, vaddr)
    if asid is None:
        asid = self.m.cpus[cpu].cpu_tlbstate.loaded_mm_asid
    elif isinstance(asid, bool) or not isinstance(asid, int) or not 0 <= asid < TLB_NR_DYN_ASIDS:
        raise KmmConfigError(f"asid: {asid!r}; accepted: 0..{TLB_NR_DYN_ASIDS - 1} or None")
    pcid = _user_pcid(self, asid)
    if self.m.x86_feature_pti and self.m.cpus[cpu].cpu_tlbstate.user_pcid_flush_mask & (1 << kern_pcid(asid)):
        return None
    self._enter()
    if not hw_tlb_probe(cpu, pcid, vaddr, &e):
        return None
    return (e.pteval & HW_PTE_PFN_MASK) >> 12


def tlb_nr_cached(Machine self, cpu, asid=None):
    """Distinct live translations cached by cpu (user translations of one
    ASID slot, or all)."""
    self._check_cpu(cpu)
    if asid is not None and (isinstance(asid, bool) or not isinstance(asid, int)
                             or not 0 <= asid < TLB_NR_DYN_ASIDS):
        raise KmmConfigError(f"asid: {asid!r}; accepted: 0..{TLB_NR_DYN_ASIDS - 1} or None")
    self._enter()
    return hw_tlb_nr_live(cpu, -1 if asid is None else _user_pcid(self, asid))


def tlb_cpu_state(Machine self, cpu):
    """cpu_tlbstate / cpu_tlbstate_shared of cpu and its CR3, as a dict."""
    cdef tlb_state *ts
    cdef tlb_cpu *hw
    self._check_cpu(cpu)
    ts = &self.m.cpus[cpu].cpu_tlbstate
    hw = &self.m.cpus[cpu].hw_tlb
    return {
        "loaded_mm": tlb_mm_handle(self, <uintptr_t>ts.loaded_mm),
        "loaded_mm_asid": ts.loaded_mm_asid,
        "next_asid": ts.next_asid,
        "is_lazy": bool(self.m.cpus[cpu].cpu_tlbstate_shared.is_lazy),
        "ctxs": [(ts.ctxs[i].ctx_id, ts.ctxs[i].tlb_gen) for i in range(TLB_NR_DYN_ASIDS)],
        "cr3": hw.cr3,
        "pcid": hw.pcid,
        "cpl": hw.cpl,
        "kernel_depth": self.m.cpus[cpu].kmm_kernel_depth,
    }


def tlb_mm_state(Machine self, mm):
    """ctx_id, tlb_gen and mm_cpumask of an mm."""
    cdef mm_struct *p = _handle_mm(self, mm)
    return {
        "ctx_id": p.context.ctx_id,
        "tlb_gen": p.context.tlb_gen,
        "cpumask": [c for c in range(self.m.nr_cpu_ids) if cpumask_test_cpu(c, &p.cpu_bitmap)],
    }


def bench_tlb(Machine self, long n, hit=True, int cpu=0):
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
            hw_tlb_fill(cpu, base + (<unsigned long>i << 12), pte | (<unsigned long long>i << 12), 0)
        with nogil:
            for i in range(n):
                va = base + ((<unsigned long>i & 31) << 12)
                e = hw_tlb_lookup(cpu, va, False)
                if e == NULL:
                    misses += 1
    else:
        with nogil:
            for i in range(n):
                va = base + ((<unsigned long>i & 0xFFFFFFF) << 12)
                e = hw_tlb_lookup(cpu, va, False)
                if e == NULL:
                    misses += 1
                    hw_tlb_fill(cpu, va, pte | ((<unsigned long long>i & 0xFFFFFFF) << 12), 0)
    return {"lookups": n, "misses": misses}


def bench_alloc_free(Machine self, long n, nid=0):
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


def run_folio_referenced(Machine self, pfn, cpu=0):
    """folio_referenced(folio, is_locked=0) on `cpu`, as
    reclaim's folio_check_references calls it; returns (referenced,
    vm_flags).  The accessed bits it clears are not flushed (x86)."""
    cdef page *p = self._page(pfn)
    cdef unsigned long vm_flags = 0
    cdef int r
    self._check_cpu(cpu)
    if page_has_type(p) or p._refcount <= 0:
        raise KmmStateError(f"folio_referenced: pfn {pfn} is not an allocated folio")
    with self.on_cpu(cpu):
        r = folio_referenced(p, 0, NULL, &vm_flags)
    return r, vm_flags


# -- processes ----------------------------------------------------------------

def bench_access(Thread self, unsigned long addr, unsigned long npages, long n, bint write=False):
    """n accesses cycling over npages pages from addr, in a C loop
    (benchmarks).  Returns the number done before any error."""
    cdef Machine mach = self.process.machine
    cdef long i, done = 0
    cdef int rc = 0
    if not self.on_cpu:
        raise KmmStateError("thread is not running")
    if npages == 0 or n < 0:
        raise KmmConfigError(f"npages, n: {npages}, {n}; expected npages >= 1 and n >= 0")
    mach._enter()
    with nogil:
        for i in range(n):
            rc = cpu_access(self.cpu, addr + ((<unsigned long>i % npages) << 12), write)
            if rc:
                break
            done += 1
    return done


def debug_move_page_noflush(Process self, addr, free_old=False):
    """Emulate a kernel bug for oracle tests: copy the page mapped at addr
    to a new page and point the PTE at it WITHOUT flushing any TLB.
    free_old=True also drops the old page (as if it were freed)."""
    cdef unsigned long *ptep
    cdef page *old
    cdef page *new
    self._check_alive()
    _check_vaddr(self.machine, addr)
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



from kmm.linux.mm.migrate cimport do_pages_move as _do_pages_move


def run_do_pages_move(Process proc, pages, nodes, cpu=0):
    """move_pages(2)'s do_pages_move(mm, ...) for the addresses `pages` and
    target `nodes` on `cpu` (no MPOL_MF_MOVE_ALL); returns (its return value,
    the status array, which starts all 0 as a zeroed user buffer would)."""
    cdef Machine mach = proc.machine
    cdef long n = len(pages), i
    cdef unsigned long *addrs
    cdef int *nids
    cdef int *status
    cdef int err
    if len(nodes) != n or n == 0:
        raise KmmConfigError(f"nodes: {nodes!r}; expected one node per address ({n}, at least 1)")
    proc._check_alive()
    for i in range(n):
        _check_vaddr(mach, pages[i], "pages")
        mach._check_nid(nodes[i])
    addrs = <unsigned long *>calloc(n, sizeof(unsigned long))
    nids = <int *>calloc(n, sizeof(int))
    status = <int *>calloc(n, sizeof(int))
    try:
        if addrs == NULL or nids == NULL or status == NULL:
            raise MemoryError("run_do_pages_move: out of host memory")
        for i in range(n):
            addrs[i] = pages[i]
            nids[i] = nodes[i]
        with mach.on_cpu(cpu):
            err = _do_pages_move(proc.mm, n, addrs, nids, status, 0)
        return err, [status[i] for i in range(n)]
    finally:
        free(addrs); free(nids); free(status)


def list_loop(Machine machine, pfn):
    """Corrupt the list page pfn is on (a free list or an LRU list) as a
    use-after-free would: its lru.next points back at itself, so a walk
    from the list's head never returns there.  For check_invariants() tests."""
    cdef page *p = machine._page(pfn)
    p.lru.next = &p.lru


# -- the cost model (kmm/emu/hw/cost.pxd) ------------------------------------------

from kmm.emu.hw.cpu cimport (KMM_COST_FAULT, KMM_COST_PTE_UPDATE, KMM_COST_PTE_SCAN,
                             KMM_COST_PAGE_ALLOC, KMM_COST_PAGE_FREE, KMM_COST_COPY_PAGE,
                             KMM_COST_RMAP_ONE, KMM_COST_LRU_SCAN, KMM_COST_INVLPG,
                             KMM_COST_INVPCID, KMM_COST_CR3_WRITE, KMM_COST_IPI_SEND,
                             KMM_COST_IPI_ACK_WAIT, KMM_COST_IRQ, KMM_COST_CONTEXT_SWITCH,
                             NR_KMM_COSTS)


def cost_indices():
    """The C charge index of each operation name (KMM_COST_*)."""
    return {"fault": KMM_COST_FAULT, "pte_update": KMM_COST_PTE_UPDATE,
            "pte_scan": KMM_COST_PTE_SCAN, "page_alloc": KMM_COST_PAGE_ALLOC,
            "page_free": KMM_COST_PAGE_FREE, "copy_page": KMM_COST_COPY_PAGE,
            "rmap_one": KMM_COST_RMAP_ONE, "lru_scan": KMM_COST_LRU_SCAN,
            "invlpg": KMM_COST_INVLPG, "invpcid": KMM_COST_INVPCID,
            "cr3_write": KMM_COST_CR3_WRITE, "ipi_send": KMM_COST_IPI_SEND,
            "ipi_ack_wait": KMM_COST_IPI_ACK_WAIT, "irq": KMM_COST_IRQ,
            "context_switch": KMM_COST_CONTEXT_SWITCH, "NR_KMM_COSTS": NR_KMM_COSTS}


def cost_ns(Machine self):
    """The machine's kmm_cost_ns[], as the charges read it."""
    return [self.m.kmm_cost_ns[i] for i in range(NR_KMM_COSTS)]
