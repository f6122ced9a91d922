# Mirrors include/linux/gfp.h: which zone a gfp mask may allocate from.

from kmm.linux.include_.linux.gfp_types cimport gfp_t, __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, __GFP_MOVABLE
from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.mmzone cimport ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE


cdef inline int gfp_zone(gfp_t flags) noexcept nogil:
    """include/linux/gfp.h: the GFP_ZONE_TABLE lookup written out (x86-64:
    no ZONE_HIGHMEM, so __GFP_HIGHMEM alone means ZONE_NORMAL)."""
    if flags & __GFP_DMA:                # OPT_ZONE_DMA
        return ZONE_DMA if KMM().kconfig.CONFIG_ZONE_DMA else ZONE_NORMAL
    if flags & __GFP_DMA32:
        return ZONE_DMA32
    if (flags & (__GFP_MOVABLE | __GFP_HIGHMEM)) == (__GFP_MOVABLE | __GFP_HIGHMEM):
        return ZONE_MOVABLE
    return ZONE_NORMAL
