"""Mirrors mm/rmap.c: reverse mappings.

An anonymous folio points at its VMA's anon_vma (page->mapping with
PAGE_MAPPING_ANON set) and records its linear index; the anon_vma lists, via
anon_vma_chain entries, every VMA (the original and forked copies) that may
map it.  A file folio points at its address_space, whose i_mmap lists the
VMAs mapping the file.  _mapcount counts the PTEs mapping a page, from -1.
"""

from libc.stdlib cimport calloc, free
from kmm.include_.kmm.machine cimport KMM
from kmm.include_.linux.list cimport (list_head, INIT_LIST_HEAD, list_add, list_add_tail,
                                      list_del, list_empty)
from kmm.include_.linux.mm_types cimport (page, folio, vm_area_struct, anon_vma, anon_vma_chain,
                                          mm_struct, PAGE_MAPPING_ANON)
from kmm.include_.linux.mmzone cimport NR_ANON_MAPPED, NR_FILE_MAPPED
from kmm.include_.linux.mm cimport (folio_test_anon, PageAnon, page_pgdat, folio_anon_vma,
                                    linear_page_index)
from kmm.include_.linux.page_flags cimport (__folio_set_swapbacked, SetPageAnonExclusive,
                                            ClearPageAnonExclusive)
from kmm.include_.linux.rmap cimport RMAP_EXCLUSIVE
from kmm.include_.linux.vmstat cimport __mod_node_page_state
from kmm.mm.mmap cimport find_mergeable_anon_vma


cdef inline anon_vma_chain *avc_from_same_vma(list_head *p) noexcept nogil:
    return <anon_vma_chain *>(<char *>p - <size_t>&(<anon_vma_chain *>NULL).same_vma)


cdef anon_vma *anon_vma_alloc() noexcept nogil:
    cdef anon_vma *av = <anon_vma *>calloc(1, sizeof(anon_vma))
    if av == NULL:
        return NULL
    av.refcount = 1
    av.root = av
    INIT_LIST_HEAD(&av.rb_root)
    return av


cdef void put_anon_vma(anon_vma *av) noexcept nogil:
    av.refcount -= 1
    if av.refcount == 0:
        free(av)


cdef void anon_vma_chain_link(vm_area_struct *vma, anon_vma_chain *avc, anon_vma *av) noexcept nogil:
    avc.vma = vma
    avc.anon_vma = av
    list_add(&avc.same_vma, &vma.anon_vma_chain)
    list_add_tail(&avc.same_anon_vma, &av.rb_root)


cdef int anon_vma_prepare(vm_area_struct *vma) noexcept nogil:
    """mm/rmap.c: give the VMA an anon_vma before its first anonymous page:
    a compatible neighbour's if there is one, else a new one.  Returns
    -ENOMEM (-12) on failure."""
    cdef anon_vma *av
    cdef anon_vma_chain *avc
    if vma.anon_vma != NULL:
        return 0
    avc = <anon_vma_chain *>calloc(1, sizeof(anon_vma_chain))
    if avc == NULL:
        return -12
    av = find_mergeable_anon_vma(vma)
    if av != NULL:
        av.refcount += 1            # one reference per chain entry (see put_anon_vma)
    else:
        av = anon_vma_alloc()
        if av == NULL:
            free(avc)
            return -12
    vma.anon_vma = av
    anon_vma_chain_link(vma, avc, av)
    av.num_active_vmas += 1
    return 0


cdef void unlink_anon_vmas(vm_area_struct *vma) noexcept nogil:
    """mm/rmap.c: drop the VMA's chain entries; free anon_vmas nobody uses."""
    cdef list_head *pos = vma.anon_vma_chain.next
    cdef list_head *nxt
    cdef anon_vma_chain *avc
    cdef anon_vma *av
    while pos != &vma.anon_vma_chain:
        nxt = pos.next
        avc = avc_from_same_vma(pos)
        av = avc.anon_vma
        list_del(&avc.same_anon_vma)
        list_del(&avc.same_vma)
        free(avc)
        if vma.anon_vma == av:
            av.num_active_vmas -= 1
        put_anon_vma(av)
        pos = nxt
    vma.anon_vma = NULL


cdef unsigned long vma_address(page *p, vm_area_struct *vma) noexcept nogil:
    """mm/internal.h: the address of page in vma, or -EFAULT if outside it."""
    cdef long pgoff = <long>p.index
    cdef unsigned long address
    if pgoff < <long>vma.vm_pgoff:
        return <unsigned long>-14
    address = vma.vm_start + ((<unsigned long>(pgoff - <long>vma.vm_pgoff)) << 12)
    if address >= vma.vm_end:
        return <unsigned long>-14
    return address


cdef inline void __folio_set_anon(folio *f, vm_area_struct *vma, unsigned long address,
                                  bint exclusive) noexcept nogil:
    cdef anon_vma *av = vma.anon_vma
    if not exclusive:
        av = av.root
    f.mapping = <unsigned long>av | PAGE_MAPPING_ANON
    f.index = linear_page_index(vma, address)


cdef void folio_add_new_anon_rmap(folio *f, vm_area_struct *vma, unsigned long address) noexcept nogil:
    """mm/rmap.c: a freshly allocated folio gets its first, exclusive mapping."""
    __folio_set_swapbacked(f)
    f._mapcount = 0
    __mod_node_page_state(page_pgdat(f), NR_ANON_MAPPED, 1)
    __folio_set_anon(f, vma, address, True)
    SetPageAnonExclusive(f)


cdef void page_add_anon_rmap(page *p, vm_area_struct *vma, unsigned long address, int flags) noexcept nogil:
    """mm/rmap.c: one more PTE maps an anonymous page."""
    p._mapcount += 1
    if p._mapcount == 0:
        __mod_node_page_state(page_pgdat(p), NR_ANON_MAPPED, 1)
    if not folio_test_anon(p):
        __folio_set_anon(p, vma, address, (flags & RMAP_EXCLUSIVE) != 0)
    if flags & RMAP_EXCLUSIVE:
        SetPageAnonExclusive(p)


cdef void page_add_file_rmap(page *p, vm_area_struct *vma, bint compound) noexcept nogil:
    """mm/rmap.c (folio_add_file_rmap_range for one page)."""
    p._mapcount += 1
    if p._mapcount == 0:
        __mod_node_page_state(page_pgdat(p), NR_FILE_MAPPED, 1)


cdef void page_remove_rmap(page *p, vm_area_struct *vma, bint compound) noexcept nogil:
    """mm/rmap.c: one PTE fewer maps the page."""
    p._mapcount -= 1
    if p._mapcount < 0:
        __mod_node_page_state(page_pgdat(p), NR_ANON_MAPPED if PageAnon(p) else NR_FILE_MAPPED, -1)


cdef void page_move_anon_rmap(page *p, vm_area_struct *vma) noexcept nogil:
    """mm/rmap.c: a reused page now belongs to this VMA's anon_vma alone."""
    p.mapping = <unsigned long>vma.anon_vma | PAGE_MAPPING_ANON
    SetPageAnonExclusive(p)


cdef enum:
    TLB_FLUSH_BATCH_FLUSHED_SHIFT = 16
    TLB_FLUSH_BATCH_PENDING_MASK = (1 << 15) - 1


cdef void flush_tlb_batched_pending(mm_struct *mm) noexcept nogil:
    """mm/rmap.c: before changing PTEs under the PTL, flush what reclaim or
    migration unmapped from this mm and still has in its deferred batch, so
    no stale translation outlives the new PTE."""
    cdef int batch = mm.tlb_flush_batched
    cdef int pending = batch & TLB_FLUSH_BATCH_PENDING_MASK
    cdef int flushed = batch >> TLB_FLUSH_BATCH_FLUSHED_SHIFT
    if pending != flushed:
        flush_tlb_mm(mm)            # arch_flush_tlb_batched_pending() on x86
        mm.tlb_flush_batched = pending | (pending << TLB_FLUSH_BATCH_FLUSHED_SHIFT)


from kmm.arch.x86.mm.tlb cimport flush_tlb_mm


cdef int anon_vma_clone(vm_area_struct *dst, vm_area_struct *src) noexcept nogil:
    """mm/rmap.c: link dst to every anon_vma src is linked to (VMA split,
    and the first step of fork).  Returns -ENOMEM (-12) on failure."""
    cdef list_head *pos = src.anon_vma_chain.prev
    cdef anon_vma_chain *avc
    cdef anon_vma_chain *new
    while pos != &src.anon_vma_chain:
        avc = avc_from_same_vma(pos)
        new = <anon_vma_chain *>calloc(1, sizeof(anon_vma_chain))
        if new == NULL:
            unlink_anon_vmas(dst)
            return -12
        avc.anon_vma.refcount += 1
        anon_vma_chain_link(dst, new, avc.anon_vma)
        pos = pos.prev
    dst.anon_vma = src.anon_vma
    if dst.anon_vma != NULL:
        dst.anon_vma.num_active_vmas += 1
    return 0
