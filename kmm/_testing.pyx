"""Test support (not part of the mirrored tree): reaches cdef-only kernel
helpers that have no Python API, so tests can check them directly."""

from kmm.machine cimport Machine
from kmm.include_.linux.mm_types cimport page
from kmm.include_.linux.page_flags cimport *
from kmm.include_.linux.page_ref cimport folio_ref_freeze, folio_ref_unfreeze, folio_ref_count

# Each entry: (test, set, __set, clear, __clear, test_set, test_clear) for
# the flags the mirrored paths use; the generator makes them all alike.
cdef object _ops(page *p, str name, str op):
    if name == "dirty":
        if op == "test": return folio_test_dirty(p)
        if op == "set": folio_set_dirty(p); return None
        if op == "__set": __folio_set_dirty(p); return None
        if op == "clear": folio_clear_dirty(p); return None
        if op == "__clear": __folio_clear_dirty(p); return None
        if op == "test_set": return folio_test_set_dirty(p)
        if op == "test_clear": return folio_test_clear_dirty(p)
    if name == "migrc":
        if op == "test": return folio_test_migrc(p)
        if op == "set": folio_set_migrc(p); return None
        if op == "__set": __folio_set_migrc(p); return None
        if op == "clear": folio_clear_migrc(p); return None
        if op == "__clear": __folio_clear_migrc(p); return None
        if op == "test_set": return folio_test_set_migrc(p)
        if op == "test_clear": return folio_test_clear_migrc(p)
    if name == "lru":
        if op == "test": return folio_test_lru(p)
        if op == "set": folio_set_lru(p); return None
        if op == "__set": __folio_set_lru(p); return None
        if op == "clear": folio_clear_lru(p); return None
        if op == "__clear": __folio_clear_lru(p); return None
        if op == "test_set": return folio_test_set_lru(p)
        if op == "test_clear": return folio_test_clear_lru(p)
    if name == "swapcache":
        if op == "test": return folio_test_swapcache(p)
        if op == "set": folio_set_swapcache(p); return None
    raise ValueError(f"unsupported flag/op {name}/{op}")


def folio_flag(Machine machine, pfn, str name, str op):
    cdef page *p = machine._page(pfn)
    return _ops(p, name, op)


def flag_bits():
    """PG_* numbers of interest, as the kernel's enum pageflags numbers them."""
    return {"locked": PG_locked, "dirty": PG_dirty, "lru": PG_lru, "head": PG_head,
            "waiters": PG_waiters, "swapbacked": PG_swapbacked,
            "unevictable": PG_unevictable, "mlocked": PG_mlocked,
            "hwpoison": PG_hwpoison, "young": PG_young, "idle": PG_idle,
            "migrc": PG_migrc, "__NR_PAGEFLAGS": __NR_PAGEFLAGS,
            "anon_exclusive": PG_anon_exclusive, "mappedtodisk": PG_mappedtodisk,
            "swapcache": PG_swapcache, "owner_priv_1": PG_owner_priv_1,
            "reclaim": PG_reclaim, "readahead": PG_readahead}


def ref_freeze(Machine machine, pfn, int count):
    cdef page *p = machine._page(pfn)
    return folio_ref_freeze(p, count)


def ref_unfreeze(Machine machine, pfn, int count):
    cdef page *p = machine._page(pfn)
    folio_ref_unfreeze(p, count)
    return folio_ref_count(p)


def raw_flags(Machine machine, pfn):
    return machine._page(pfn).flags
