"""Mirrors mm/memblock.c: releasing boot memory to the buddy allocator in
the largest naturally aligned blocks that fit."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mmzone cimport MAX_ORDER
from kmm.linux.mm.page_alloc cimport __free_pages_core

cdef extern from *:
    int __builtin_ctzl(unsigned long) nogil


cdef void __free_pages_memory(unsigned long start, unsigned long end) noexcept nogil:
    cdef int order
    while start < end:
        order = MAX_ORDER if start == 0 else min(MAX_ORDER, __builtin_ctzl(start))
        while start + (1UL << order) > end:
            order -= 1
        __free_pages_core(&KMM().mem_map[start], order)
        start += 1UL << order


cdef void memblock_free_all() noexcept nogil:
    """Free every node's memory range (each node is one memblock region).
    A block may straddle a zone boundary only if the boundary is not
    aligned to it; zone limits are 4 MiB aligned, so none does."""
    cdef kmm_machine *m = KMM()
    cdef int nid
    for nid in range(m.nr_node_ids):
        __free_pages_memory(m.node_data[nid].node_start_pfn,
                            m.node_data[nid].node_start_pfn + m.node_data[nid].node_spanned_pages)
