from kmm.linux.include_.linux.gfp_types cimport gfp_t
from kmm.linux.include_.linux.mm_types cimport page, folio
from kmm.linux.include_.linux.mmzone cimport zone, pglist_data, zonelist, zoneref
from kmm.linux.include_.linux.nodemask cimport nodemask_t
from kmm.linux.mm.internal cimport alloc_context

cdef enum:
    FPI_NONE = 0
    FPI_SKIP_REPORT_NOTIFY = 1 << 0
    FPI_TO_TAIL = 1 << 1
    MIGRATE_MOVABLE = 1

# the buddy allocator
cdef void __free_one_page(page *p, unsigned long pfn, zone *z, unsigned int order,
                          int migratetype, int fpi_flags) noexcept nogil
cdef bint free_pages_prepare(page *p, unsigned int order) noexcept nogil
cdef void free_unref_page(page *p, unsigned int order) noexcept nogil
cdef void __free_pages_ok(page *p, unsigned int order, int fpi_flags) noexcept nogil
cdef void __free_pages(page *p, unsigned int order) noexcept nogil
cdef void __free_pages_core(page *p, unsigned int order) noexcept nogil
cdef page *__rmqueue_smallest(zone *z, unsigned int order, int migratetype) noexcept nogil
cdef page *rmqueue(zone *preferred_zone, zone *z, unsigned int order, gfp_t gfp_flags,
                   unsigned int alloc_flags, int migratetype) noexcept nogil
cdef void post_alloc_hook(page *p, unsigned int order, gfp_t gfp_flags) noexcept nogil
cdef void prep_new_page(page *p, unsigned int order, gfp_t gfp_flags,
                        unsigned int alloc_flags) noexcept nogil

# watermarks
cdef bint __zone_watermark_ok(zone *z, unsigned int order, unsigned long mark,
                              int highest_zoneidx, unsigned int alloc_flags,
                              long free_pages) noexcept nogil
cdef bint zone_watermark_ok(zone *z, unsigned int order, unsigned long mark,
                            int highest_zoneidx, unsigned int alloc_flags) noexcept nogil
cdef bint zone_watermark_fast(zone *z, unsigned int order, unsigned long mark,
                              int highest_zoneidx, unsigned int alloc_flags,
                              gfp_t gfp_mask) noexcept nogil
cdef bint zone_watermark_ok_safe(zone *z, unsigned int order, unsigned long mark,
                                 int highest_zoneidx) noexcept nogil
cdef void calculate_min_free_kbytes() noexcept nogil
cdef void setup_per_zone_wmarks() noexcept nogil
cdef void setup_per_zone_lowmem_reserve() noexcept nogil
cdef void init_per_zone_wmark_min() noexcept nogil
cdef int min_free_kbytes_sysctl_handler(int value) noexcept nogil
cdef int watermark_scale_factor_sysctl_handler(int value) noexcept nogil
cdef int lowmem_reserve_ratio_sysctl_handler(const int *values) noexcept nogil
cdef unsigned long nr_free_buffer_pages() noexcept nogil

# zonelists and the allocator proper
cdef void build_all_zonelists() noexcept nogil
cdef zoneref *first_zones_zonelist(zonelist *zl, int highest_zoneidx,
                                   nodemask_t *nodes) noexcept nogil
cdef zoneref *next_zones_zonelist(zoneref *z, int highest_zoneidx,
                                  nodemask_t *nodes) noexcept nogil
cdef zonelist *node_zonelist(int nid, gfp_t flags) noexcept nogil
cdef page *get_page_from_freelist(gfp_t gfp_mask, unsigned int order, int alloc_flags,
                                  alloc_context *ac) noexcept nogil
cdef unsigned int gfp_to_alloc_flags(gfp_t gfp_mask, unsigned int order) noexcept nogil
cdef page *__alloc_pages(gfp_t gfp, unsigned int order, int preferred_nid,
                         nodemask_t *nodemask) noexcept nogil
cdef folio *__folio_alloc(gfp_t gfp, unsigned int order, int preferred_nid,
                          nodemask_t *nodemask) noexcept nogil
cdef page *alloc_pages_node(int nid, gfp_t gfp_mask, unsigned int order) noexcept nogil
