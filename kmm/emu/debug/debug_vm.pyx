"""The emulator's CONFIG_DEBUG_VM: whole-machine invariant checks.

check_invariants() walks every zone's free lists, every LRU list and every
struct page, and reports each broken rule:
- a free list holds only buddy pages of its order and zone, naturally
  aligned, with refcount 0; nr_free matches the list; the pages on a zone's
  free lists add up to its NR_FREE_PAGES;
- no page is both inside a free block and in use (referenced, mapped or
  on an LRU list);
- refcounts and mapcounts are never negative (mapcount >= -1);
- LRU lists hold PG_lru folios with a reference, and the node and zone LRU
  counters match the lists.
A corrupted list (one that leaves mem_map, or never comes back to its head)
is reported, not followed forever: every walk stops at an entry outside
mem_map, at a free block met before, and after as many entries as its zone
(node) has pages.
"""

from libc.stdlib cimport calloc, free
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.list cimport list_head
from kmm.linux.include_.linux.mm_types cimport page
from kmm.linux.include_.linux.mmzone cimport *
from kmm.linux.include_.linux.page_flags cimport PageBuddy, page_has_type, folio_test_lru
from kmm.linux.include_.linux.mm cimport page_zone, page_to_pfn, folio_nid, page_zonenum
from kmm.linux.include_.linux.mm_inline cimport folio_lru_list

cdef inline page *lru_to_page(list_head *p) noexcept nogil:
    return <page *>(<char *>p - <size_t>&(<page *>NULL).lru)


def check_invariants(int max_report=20):
    """Return a list of violated invariants (empty when the machine is sound)."""
    cdef kmm_machine *m = KMM()
    cdef unsigned char *in_free
    cdef int nid, zid, order, lru
    cdef zone *z
    cdef pglist_data *pgdat
    cdef list_head *head
    cdef list_head *pos
    cdef page *p
    cdef unsigned long pfn, i, nr, pages, bound
    cdef long lru_count[5]
    cdef long zone_lru[4][5]
    problems = []

    def report(msg):
        if len(problems) < max_report:
            problems.append(msg)

    m.debug_vm_checks += 1
    in_free = <unsigned char *>calloc(m.max_pfn, 1)
    if in_free == NULL:
        raise MemoryError("debug_vm: cannot allocate the free-page bitmap")
    try:
        for nid in range(m.nr_node_ids):
            pgdat = m.node_data[nid]
            for zid in range(MAX_NR_ZONES):
                z = &pgdat.node_zones[zid]
                pages = 0
                for order in range(NR_PAGE_ORDERS):
                    head = &z.free_area[order].free_list
                    nr = 0
                    pos = head.next
                    while pos != head:
                        if pos == NULL:
                            report(f"node {nid} zone {zid} order {order}: broken free list")
                            break
                        p = lru_to_page(pos)
                        pfn = page_to_pfn(p)
                        nr += 1
                        if pfn >= m.max_pfn:
                            report(f"node {nid} zone {zid} order {order}: entry outside mem_map")
                            break
                        if in_free[pfn] or nr > z.spanned_pages:
                            report(f"node {nid} zone {zid} order {order}: free list does not end "
                                   f"(pfn {pfn} comes again)")
                            break
                        if not PageBuddy(p):
                            report(f"pfn {pfn}: on free list (order {order}) but not PageBuddy")
                        if p.private != order:
                            report(f"pfn {pfn}: on order-{order} free list with buddy order {p.private}")
                        if page_zone(p) != z:
                            report(f"pfn {pfn}: on a free list of another zone")
                        if pfn & ((1UL << order) - 1):
                            report(f"pfn {pfn}: order-{order} free block not aligned")
                        for i in range(pfn, min(pfn + (1UL << order), m.max_pfn)):
                            if in_free[i]:
                                report(f"pfn {i}: in two free blocks")
                            in_free[i] = 1
                        pages += 1UL << order
                        pos = pos.next
                    if nr != z.free_area[order].nr_free:
                        report(f"node {nid} zone {z.name.decode()} order {order}: nr_free "
                               f"{z.free_area[order].nr_free} but {nr} blocks listed")
                if <long>pages != z.vm_stat[NR_FREE_PAGES]:
                    report(f"node {nid} zone {z.name.decode()}: NR_FREE_PAGES "
                           f"{z.vm_stat[NR_FREE_PAGES]} but {pages} pages on free lists")
            # LRU lists of the node
            for zid in range(MAX_NR_ZONES):
                for lru in range(NR_LRU_LISTS):
                    zone_lru[zid][lru] = 0
            for lru in range(NR_LRU_LISTS):
                lru_count[lru] = 0
                head = &pgdat.__lruvec.lists[lru]
                bound = pgdat.node_spanned_pages
                pos = head.next
                while pos != head:
                    if pos == NULL:
                        report(f"node {nid} lru {lru}: broken list")
                        break
                    p = lru_to_page(pos)
                    pfn = page_to_pfn(p)
                    if pfn >= m.max_pfn:
                        report(f"node {nid} lru {lru}: entry outside mem_map")
                        break
                    if <unsigned long>lru_count[lru] >= bound:
                        report(f"node {nid} lru {lru}: list does not end (more entries than the "
                               f"node's {bound} pages)")
                        break
                    lru_count[lru] += 1
                    zone_lru[page_zonenum(p)][lru] += 1
                    if not folio_test_lru(p):
                        report(f"pfn {pfn}: on LRU list {lru} without PG_lru")
                    elif folio_lru_list(p) != lru:
                        report(f"pfn {pfn}: flags say LRU {folio_lru_list(p)}, on list {lru}")
                    if p._refcount <= 0:
                        report(f"pfn {pfn}: on an LRU list with refcount {p._refcount}")
                    if folio_nid(p) != nid:
                        report(f"pfn {pfn}: on node {nid}'s LRU but belongs to node {folio_nid(p)}")
                    pos = pos.next
                if lru_count[lru] != pgdat.vm_stat[NR_LRU_BASE + lru]:
                    report(f"node {nid}: LRU list {lru} holds {lru_count[lru]} folios, "
                           f"counter says {pgdat.vm_stat[NR_LRU_BASE + lru]}")
                for zid in range(MAX_NR_ZONES):
                    if zone_lru[zid][lru] != pgdat.node_zones[zid].vm_stat[NR_ZONE_LRU_BASE + lru]:
                        report(f"node {nid} zone {zid}: LRU {lru} counter "
                               f"{pgdat.node_zones[zid].vm_stat[NR_ZONE_LRU_BASE + lru]}, "
                               f"list has {zone_lru[zid][lru]}")
        # every struct page
        for pfn in range(m.max_pfn):
            p = &m.mem_map[pfn]
            if p._refcount < 0:
                report(f"pfn {pfn}: negative refcount {p._refcount}")
            if not page_has_type(p) and p._mapcount < -1:
                report(f"pfn {pfn}: negative mapcount {p._mapcount + 1}")
            if in_free[pfn]:
                if p._refcount != 0:
                    report(f"pfn {pfn}: free and in use (refcount {p._refcount})")
                if folio_test_lru(p):
                    report(f"pfn {pfn}: free and on an LRU list")
                if not page_has_type(p) and p._mapcount != -1:
                    report(f"pfn {pfn}: free and mapped (mapcount {p._mapcount + 1})")
            elif PageBuddy(p):
                report(f"pfn {pfn}: PageBuddy but on no free list")
    finally:
        free(in_free)
    return problems
