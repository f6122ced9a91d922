# Mirrors mm/internal.h: allocator flags and the allocation context passed
# down the page allocator, plus (with the seed patch) the migrc inlines.

from kmm.linux.include_.linux.gfp_types cimport gfp_t
from kmm.linux.include_.linux.mmzone cimport zonelist, zoneref
from kmm.linux.include_.linux.nodemask cimport nodemask_t

cdef enum:
    ALLOC_WMARK_MIN = 0                      # WMARK_MIN
    ALLOC_WMARK_LOW = 1                      # WMARK_LOW
    ALLOC_WMARK_HIGH = 2                     # WMARK_HIGH
    ALLOC_NO_WATERMARKS = 0x04
    ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1
    ALLOC_OOM = 0x08
    ALLOC_NON_BLOCK = 0x10
    ALLOC_MIN_RESERVE = 0x20                 # == __GFP_HIGH
    ALLOC_CPUSET = 0x40
    ALLOC_CMA = 0x80
    ALLOC_NOFRAGMENT = 0x100
    ALLOC_HIGHATOMIC = 0x200
    ALLOC_KSWAPD = 0x800                     # == __GFP_KSWAPD_RECLAIM
    ALLOC_RESERVES = ALLOC_NON_BLOCK | ALLOC_MIN_RESERVE | ALLOC_HIGHATOMIC | ALLOC_OOM

cdef struct alloc_context:
    zonelist *zonelist
    nodemask_t *nodemask
    zoneref *preferred_zoneref
    int migratetype
    int highest_zoneidx
    bint spread_dirty_pages


# The target of migrate_pages() callers that allocate with
# alloc_migration_target() (demotion, move_pages, memory hotplug).
cdef struct migration_target_control:
    int nid                                  # preferred node, NUMA_NO_NODE: the source's
    nodemask_t *nmask                        # allowed nodes, NULL: any
    gfp_t gfp_mask


# ---------------------------------------------------------------------------
# The seed patch (migrc v4 2/3), mm/internal.h#1, and the switch that turns
# each of the patch's hunks on (CONFIG_MIGRC) or off one by one (ablation).

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, get_current
from kmm.linux.include_.linux.mm_types cimport page, folio
from kmm.linux.include_.linux.mmzone cimport zone
from kmm.linux.include_.linux.page_flags cimport __ClearPageMigrc, folio_test_clear_migrc

# The patch's 25 hunks in patch order; a hunk's bit in kmm_machine.migrc_ablate
# switches it off.  Only hunks that change behaviour are checked at run time.
cdef enum:
    MIGRC_HUNK_MEMORY_C_1 = 8            # do_wp_page: flush before a page becomes writable
    MIGRC_HUNK_MIGRATE_C_3 = 11          # folio_migrate_mapping: the extra reference
    MIGRC_HUNK_MIGRATE_C_4 = 12          # migrate_pages_batch: start a request
    MIGRC_HUNK_MIGRATE_C_5 = 13          # migrate_pages_batch: can_migrc for this folio
    MIGRC_HUNK_MIGRATE_C_6 = 14          # migrate_pages_batch: mark pending, fold ro batch
    MIGRC_HUNK_MIGRATE_C_7 = 15          # migrate_pages_batch: fold_ubc_ro() per folio
    MIGRC_HUNK_MIGRATE_C_8 = 16          # migrate_pages_batch: queue on move success
    MIGRC_HUNK_MIGRATE_C_9 = 17          # migrate_pages_batch: hang the request on its node
    MIGRC_HUNK_MIGRATE_C_10 = 18         # migrate_pages_batch: undo for unmoved folios
    MIGRC_HUNK_PAGE_ALLOC_C_1 = 19       # post_alloc_hook: clear PG_migrc
    MIGRC_HUNK_PAGE_ALLOC_C_2 = 20       # __zone_watermark_ok: count pending as free
    MIGRC_HUNK_PAGE_ALLOC_C_3 = 21       # zone_watermark_fast: count pending as free
    MIGRC_HUNK_PAGE_ALLOC_C_4 = 22       # get_page_from_freelist: flush, then retry
    MIGRC_HUNK_RMAP_C_2 = 24             # set_tlb_ubc_flush_pending: can_migrc_fail()


cdef inline bint migrc_hunk(int hunk) noexcept nogil:
    """Is this hunk of the seed patch applied?  (CONFIG_MIGRC and not ablated.)"""
    cdef kmm_machine *m = KMM()
    return m.kconfig.CONFIG_MIGRC and not ((m.migrc_ablate >> hunk) & 1)


cdef inline void migrc_init_page(page *p) noexcept nogil:
    """mm/internal.h (migrc): a page leaving the buddy allocator starts
    without PG_migrc."""
    __ClearPageMigrc(p)

cdef inline bint migrc_unpend_if_pending(folio *f) noexcept nogil:
    """mm/internal.h (migrc): test and clear PG_migrc."""
    return folio_test_clear_migrc(f)

cdef inline void can_migrc_init() noexcept nogil:
    """mm/internal.h (migrc): before an rmap walk that unmaps a folio,
    assume every mapping will be read-only."""
    get_current().can_migrc = True

cdef inline void can_migrc_fail() noexcept nogil:
    """mm/internal.h (migrc): a writable or dirty mapping was found."""
    get_current().can_migrc = False

cdef inline bint can_migrc_test() noexcept nogil:
    """mm/internal.h (migrc): all mappings were read-only, and there was at
    least one (something is waiting in tlb_ubc_ro)."""
    cdef task_struct *t = get_current()
    return t.can_migrc and t.tlb_ubc_ro.flush_required

cdef inline int migrc_pending_nr_in_zone(zone *z) noexcept nogil:
    """mm/internal.h (migrc): source folios held for a deferred flush."""
    return z.migrc_pending_nr

from kmm.linux.include_.linux.sched cimport task_struct
