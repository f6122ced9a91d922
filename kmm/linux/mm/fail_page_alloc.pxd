from kmm.linux.include_.linux.gfp_types cimport gfp_t

cdef bint __should_fail_alloc_page(gfp_t gfp_mask, unsigned int order) noexcept nogil
