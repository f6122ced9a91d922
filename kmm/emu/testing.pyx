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


def migrc_pause(Machine machine):
    """Patch 3/3's migrc_pause(), as a struggling allocation calls it."""
    machine._enter()
    _migrc_pause()


def migrc_resume(Machine machine):
    """Patch 3/3's migrc_resume(); refused when migrc is not paused."""
    machine._enter()
    if not _migrc_paused():
        raise ValueError("migrc_resume: migrc is not paused")
    _migrc_resume()


def migrc_paused(Machine machine):
    machine._enter()
    return bool(_migrc_paused())
