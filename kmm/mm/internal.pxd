# Mirrors mm/internal.h: allocator flags and the allocation context passed
# down the page allocator, plus (with the seed patch) the migrc inlines.

from kmm.include_.linux.gfp_types cimport gfp_t
from kmm.include_.linux.mmzone cimport zonelist, zoneref
from kmm.include_.linux.nodemask cimport nodemask_t

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
