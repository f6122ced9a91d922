"""Mirrors mm/fail_page_alloc.c: fault injection for the page allocator
(CONFIG_FAIL_PAGE_ALLOC).  The kernel's static `fail_page_alloc` is
KMM().fail_page_alloc, set from Machine(fault_inject={"fail_page_alloc":
{...}}) with the kernel's defaults: probability 0 (off), interval 1,
times 1, space 0, min-order 1, ignore-gfp-wait and ignore-gfp-highmem on.

With those two filters on, most user-page allocations are never failed:
they carry __GFP_HIGHMEM (GFP_HIGHUSER_MOVABLE) and usually
__GFP_DIRECT_RECLAIM, and page tables (GFP_KERNEL) may reclaim too."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, KMM_FAIL_SITES
from kmm.linux.include_.linux.gfp_types cimport (gfp_t, __GFP_NOFAIL, __GFP_HIGHMEM,
                                                 __GFP_DIRECT_RECLAIM, __GFP_NOWARN)
from kmm.linux.include_.linux.fault_inject cimport FAULT_NOWARN
from kmm.linux.lib.fault_inject cimport should_fail_ex


cdef void kmm_count_injected(kmm_machine *m, gfp_t gfp_mask, unsigned int order) noexcept nogil:
    """Emulator stat: one failure injected, counted per (gfp mask, order) --
    what tells the call sites apart (the kernel's fail_dump would print the
    stack).  Sites past the table's end count in the total only."""
    cdef int i
    m.kmm_fail_page_alloc_injected += 1
    for i in range(m.kmm_fail_page_alloc_nr_sites):
        if m.kmm_fail_page_alloc_sites[i].gfp_mask == gfp_mask and \
                m.kmm_fail_page_alloc_sites[i].order == order:
            m.kmm_fail_page_alloc_sites[i].nr += 1
            return
    if m.kmm_fail_page_alloc_nr_sites < KMM_FAIL_SITES:
        i = m.kmm_fail_page_alloc_nr_sites
        m.kmm_fail_page_alloc_sites[i].gfp_mask = gfp_mask
        m.kmm_fail_page_alloc_sites[i].order = order
        m.kmm_fail_page_alloc_sites[i].nr = 1
        m.kmm_fail_page_alloc_nr_sites += 1


cdef bint __should_fail_alloc_page(gfp_t gfp_mask, unsigned int order) noexcept nogil:
    """mm/fail_page_alloc.c: the filters first -- below min-order, a
    __GFP_NOFAIL allocation, __GFP_HIGHMEM with ignore-gfp-highmem,
    __GFP_DIRECT_RECLAIM with ignore-gfp-wait: never failed -- then
    should_fail_ex() with the allocation's size in pages."""
    cdef kmm_machine *m = KMM()
    cdef int flags = 0
    if order < m.fail_page_alloc.min_order:
        return False
    if gfp_mask & __GFP_NOFAIL:
        return False
    if m.fail_page_alloc.ignore_gfp_highmem and (gfp_mask & __GFP_HIGHMEM):
        return False
    if m.fail_page_alloc.ignore_gfp_reclaim and (gfp_mask & __GFP_DIRECT_RECLAIM):
        return False
    if gfp_mask & __GFP_NOWARN:
        flags |= FAULT_NOWARN
    if should_fail_ex(&m.fail_page_alloc.attr, 1 << order, flags):
        kmm_count_injected(m, gfp_mask, order)
        return True
    return False
