"""Mirrors mm/rmap.c: reverse mappings.

An anonymous folio points at its VMA's anon_vma (page->mapping with
PAGE_MAPPING_ANON set) and records its linear index; the anon_vma lists, via
anon_vma_chain entries, every VMA (the original and forked copies) that may
map it.  A file folio points at its address_space, whose i_mmap lists the
VMAs mapping the file.  _mapcount counts the PTEs mapping a page, from -1.
"""

from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_RMAP_ONE
from kmm.linux.include_.uapi.asm_generic.errno_base cimport EFAULT, ENOMEM
from libc.stdlib cimport calloc, free
from kmm.linux.mm.internal cimport migrc_hunk, can_migrc_fail, MIGRC_HUNK_RMAP_C_2
from kmm.linux.include_.linux.pgtable cimport walk_pmd, kmm_pt, page_pt, entry_page, pte_index
from kmm.linux.include_.linux.prefetch cimport prefetch, kmm_read_ahead
from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.list cimport (list_head, INIT_LIST_HEAD, list_add, list_add_tail,
                                      list_del, list_empty)
from kmm.linux.include_.linux.mm_types cimport (page, folio, vm_area_struct, anon_vma, anon_vma_chain,
                                          mm_struct, PAGE_MAPPING_ANON)
from kmm.linux.include_.linux.mmzone cimport NR_ANON_MAPPED, NR_FILE_MAPPED
from kmm.linux.include_.linux.mm cimport (folio_test_anon, PageAnon, page_pgdat, folio_anon_vma,
                                    linear_page_index)
from kmm.linux.include_.linux.page_flags cimport (__folio_set_swapbacked, SetPageAnonExclusive,
                                            ClearPageAnonExclusive)
from kmm.linux.include_.linux.rmap cimport RMAP_EXCLUSIVE
from kmm.linux.include_.linux.vmstat cimport __mod_node_page_state
from kmm.linux.mm.mmap cimport find_mergeable_anon_vma


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
    """include/linux/rmap.h + __put_anon_vma(): a forked anon_vma holds a
    reference on its root, dropped when it goes."""
    cdef anon_vma *root = av.root
    av.refcount -= 1
    if av.refcount == 0:
        free(av)
        if root != av:
            put_anon_vma(root)


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
        return -ENOMEM
    av = find_mergeable_anon_vma(vma)
    if av != NULL:
        av.refcount += 1            # one reference per chain entry (see put_anon_vma)
    else:
        av = anon_vma_alloc()
        if av == NULL:
            free(avc)
            return -ENOMEM
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
        return <unsigned long>-EFAULT
    address = vma.vm_start + ((<unsigned long>(pgoff - <long>vma.vm_pgoff)) << 12)
    if address >= vma.vm_end:
        return <unsigned long>-EFAULT
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
    if KMM().kconfig.CONFIG_KMM_NO_BATCHED_PENDING_FLUSH:
        return                      # debug knob: as if no batch were ever pending (docs/hazards.md)
    if pending != flushed:
        flush_tlb_mm(mm)            # arch_flush_tlb_batched_pending() on x86
        mm.tlb_flush_batched = pending | (pending << TLB_FLUSH_BATCH_FLUSHED_SHIFT)


from kmm.linux.arch.x86.mm.tlb cimport flush_tlb_mm


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
            return -ENOMEM
        avc.anon_vma.refcount += 1
        anon_vma_chain_link(dst, new, avc.anon_vma)
        pos = pos.prev
    dst.anon_vma = src.anon_vma
    if dst.anon_vma != NULL:
        dst.anon_vma.num_active_vmas += 1
    return 0


cdef int anon_vma_fork(vm_area_struct *vma, vm_area_struct *pvma) noexcept nogil:
    """mm/rmap.c: fork(): link the child's VMA to every anon_vma of the
    parent's (so rmap walks of the pages they share find the child), then
    give it an anon_vma of its own, under the parent's root, for the pages
    it will create.  (anon_vma_clone()'s reuse of an anon_vma without
    active VMAs never applies to a live parent VMA, whose anon_vma has
    one.)  Returns -ENOMEM (-12) on failure."""
    cdef list_head *pos
    cdef anon_vma_chain *avc
    cdef anon_vma_chain *new
    cdef anon_vma *av
    if pvma.anon_vma == NULL:
        return 0
    vma.anon_vma = NULL
    INIT_LIST_HEAD(&vma.anon_vma_chain)
    pos = pvma.anon_vma_chain.prev
    while pos != &pvma.anon_vma_chain:
        avc = avc_from_same_vma(pos)
        new = <anon_vma_chain *>calloc(1, sizeof(anon_vma_chain))
        if new == NULL:
            unlink_anon_vmas(vma)
            return -ENOMEM
        avc.anon_vma.refcount += 1
        anon_vma_chain_link(vma, new, avc.anon_vma)
        pos = pos.prev
    av = anon_vma_alloc()
    new = <anon_vma_chain *>calloc(1, sizeof(anon_vma_chain))
    if av == NULL or new == NULL:
        free(av)
        free(new)
        unlink_anon_vmas(vma)
        return -ENOMEM
    av.num_active_vmas += 1
    av.root = pvma.anon_vma.root
    av.root.refcount += 1               # get_anon_vma(anon_vma->root)
    vma.anon_vma = av
    anon_vma_chain_link(vma, new, av)
    pvma.anon_vma.num_children += 1
    return 0


# ===========================================================================
# The unmap / migrate side: walking a folio's mappings, replacing them with
# migration entries, batching the TLB flushes of the cleared PTEs, and the
# referenced test of reclaim.

from kmm.linux.include_.kmm.machine cimport get_current, smp_processor_id
from kmm.linux.include_.linux.mm cimport (folio_mapping, folio_mapped, folio_mapcount, folio_put,
                                    folio_get, vma_pages, VM_LOCKED, dec_mm_counter)
from kmm.linux.include_.linux.mm_types cimport address_space, MM_ANONPAGES, MM_FILEPAGES, PAGE_MAPPING_FLAGS
from kmm.linux.include_.linux.mm cimport page_to_pfn
from kmm.linux.include_.linux.mm_types_task cimport tlbflush_unmap_batch
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.page_flags cimport (folio_test_young, folio_test_clear_young,
                                            folio_clear_idle, folio_test_locked, PageAnonExclusive)
from kmm.linux.include_.linux.pagemap cimport folio_trylock, folio_unlock
from kmm.linux.include_.linux.pgtable cimport (pgd_offset, pud_offset, pmd_offset, pte_offset_map,
                                         pgd_none, pud_none, pmd_none, ptep_get,
                                         ptep_get_and_clear, set_pte_at)
from kmm.linux.include_.linux.rmap cimport (rmap_walk_control, page_vma_mapped_walk_s,
                                      DEFINE_FOLIO_VMA_WALK, page_vma_mapped_walk_done,
                                      page_try_share_anon_rmap, PVMW_MIGRATION,
                                      TTU_RMAP_LOCKED, TTU_SPLIT_HUGE_PMD, TTU_SYNC,
                                      TTU_BATCH_FLUSH, TTU_IGNORE_MLOCK)
from kmm.linux.include_.linux.swapops cimport (swp_entry_t, is_swap_pte, pte_to_swp_entry,
                                         swp_entry_to_pte, is_migration_entry, swp_offset_pfn,
                                         make_writable_migration_entry,
                                         make_readable_exclusive_migration_entry,
                                         make_readable_migration_entry,
                                         make_migration_entry_young, make_migration_entry_dirty)
from kmm.linux.arch.x86.include_.asm.pgtable cimport (pte_t, pte_present, pte_pfn, pte_write,
                                                pte_dirty, pte_young, pte_accessible)
from kmm.linux.arch.x86.include_.asm.tlbflush cimport arch_tlbbatch_add_pending, arch_tlbbatch_fold, arch_tlbbatch_clear
from kmm.linux.arch.x86.mm.tlb cimport arch_tlbbatch_flush, arch_tlbbatch_should_defer
from kmm.linux.arch.x86.mm.pgtable cimport ptep_clear_flush_young
from kmm.linux.mm.pgtable_generic cimport ptep_clear_flush
from kmm.linux.mm.page_writeback cimport folio_mark_dirty

cdef enum:
    TLB_FLUSH_BATCH_PENDING_LARGE = TLB_FLUSH_BATCH_PENDING_MASK // 2


cdef inline anon_vma_chain *avc_from_same_anon_vma(list_head *p) noexcept nogil:
    return <anon_vma_chain *>(<char *>p - <size_t>&(<anon_vma_chain *>NULL).same_anon_vma)


cdef inline vm_area_struct *vma_from_shared(list_head *p) noexcept nogil:
    return <vm_area_struct *>(<char *>p - <size_t>&(<vm_area_struct *>NULL).shared)


cdef inline bint vma_maps_pgoff(vm_area_struct *vma, unsigned long pgoff) noexcept nogil:
    """The interval-tree query of the kernel (anon_vma_interval_tree_foreach,
    vma_interval_tree_foreach) done on a list: does vma cover pgoff?"""
    return vma.vm_pgoff <= pgoff < vma.vm_pgoff + vma_pages(vma)


cdef anon_vma *folio_get_anon_vma(folio *f) noexcept nogil:
    """mm/rmap.c: a reference on the anon_vma of a mapped anonymous folio, so
    that it outlives the folio's last mapping during migration; NULL if the
    folio is not anonymous or not mapped."""
    cdef anon_vma *av
    if (f.mapping & PAGE_MAPPING_FLAGS) != PAGE_MAPPING_ANON:
        return NULL
    if not folio_mapped(f):
        return NULL
    av = <anon_vma *>(f.mapping - PAGE_MAPPING_ANON)
    if av.refcount == 0:
        return NULL
    av.refcount += 1
    return av


cdef unsigned long *mm_find_pmd(mm_struct *mm, unsigned long address) noexcept nogil:
    """mm/rmap.c: the PMD entry covering address, or NULL if an upper table
    is missing."""
    return walk_pmd(mm, address)


cdef inline bint check_pte(page_vma_mapped_walk_s *pvmw, pte_t ptent) noexcept nogil:
    """mm/page_vma_mapped.c: does this PTE map the walk's pfn?  With
    PVMW_MIGRATION only a migration entry for it counts; otherwise a present
    PTE (PROT_NONE included).  There is no ZONE_DEVICE memory, so no other
    swap entry ever maps a page."""
    cdef swp_entry_t entry
    cdef unsigned long pfn
    if pvmw.flags & PVMW_MIGRATION:
        if not is_swap_pte(ptent):
            return False
        entry = pte_to_swp_entry(ptent)
        if not is_migration_entry(entry):
            return False
        pfn = swp_offset_pfn(entry)
    elif is_swap_pte(ptent):
        return False
    else:
        if not pte_present(ptent):
            return False
        pfn = pte_pfn(ptent)
    return (pfn - pvmw.pfn) < pvmw.nr_pages


cdef bint page_vma_mapped_walk(page_vma_mapped_walk_s *pvmw) noexcept nogil:
    """mm/page_vma_mapped.c, for the emulator's folios (order 0, PTE-mapped):
    the first call finds the PTE at pvmw->address if it maps the folio and
    returns true with pvmw->pte set; the next call ends the walk (an order-0
    folio has at most one PTE in a VMA).  Returns false if there is none."""
    cdef vm_area_struct *vma = pvmw.vma
    cdef unsigned long *pmd
    cdef unsigned long *ptep
    if pvmw.pte != NULL:
        # next_pte: the address would move past the folio's one page
        page_vma_mapped_walk_done(pvmw)
        return False
    if pvmw.address < vma.vm_start or pvmw.address >= vma.vm_end:
        return False
    pmd = mm_find_pmd(vma.vm_mm, pvmw.address)
    if pmd == NULL or pmd_none(pmd[0]):
        return False
    pvmw.pmd = pmd
    ptep = pte_offset_map(pmd, pvmw.address)
    if not check_pte(pvmw, ptep_get(ptep)):
        pvmw.pmd = NULL
        return False
    pvmw.pte = ptep
    return True


cdef void rmap_walk_anon(folio *f, rmap_walk_control *rwc, bint locked) noexcept nogil:
    """mm/rmap.c: visit every VMA linked to the folio's anon_vma that covers
    its index.  No lock is taken (nothing runs concurrently), so `locked`
    and rwc->try_lock change nothing."""
    cdef anon_vma *av = folio_anon_vma(f)
    cdef unsigned long pgoff_start = f.index
    cdef list_head *pos
    cdef anon_vma_chain *avc
    cdef vm_area_struct *vma
    cdef unsigned long address
    if av == NULL:
        return
    pos = av.rb_root.next
    while pos != &av.rb_root:
        avc = avc_from_same_anon_vma(pos)
        pos = pos.next
        vma = avc.vma
        if not vma_maps_pgoff(vma, pgoff_start):
            continue
        address = vma_address(f, vma)
        if rwc.invalid_vma != NULL and rwc.invalid_vma(vma, rwc.arg):
            continue
        kmm_charge(KMM_COST_RMAP_ONE, 1)
        if not rwc.rmap_one(f, vma, address, rwc.arg):
            break
        if rwc.done != NULL and rwc.done(f):
            break


cdef void rmap_walk_file(folio *f, rmap_walk_control *rwc, bint locked) noexcept nogil:
    """mm/rmap.c: visit every VMA of the folio's file (mapping->i_mmap) that
    covers its index."""
    cdef address_space *mapping = folio_mapping(f)
    cdef unsigned long pgoff_start = f.index
    cdef list_head *pos
    cdef vm_area_struct *vma
    cdef unsigned long address
    if mapping == NULL:
        return
    pos = mapping.i_mmap.next
    while pos != &mapping.i_mmap:
        vma = vma_from_shared(pos)
        pos = pos.next
        if not vma_maps_pgoff(vma, pgoff_start):
            continue
        address = vma_address(f, vma)
        if rwc.invalid_vma != NULL and rwc.invalid_vma(vma, rwc.arg):
            continue
        kmm_charge(KMM_COST_RMAP_ONE, 1)
        if not rwc.rmap_one(f, vma, address, rwc.arg):
            return
        if rwc.done != NULL and rwc.done(f):
            return


cdef void rmap_walk(folio *f, rmap_walk_control *rwc) noexcept nogil:
    """mm/rmap.c (no KSM)."""
    if folio_test_anon(f):
        rmap_walk_anon(f, rwc, False)
    else:
        rmap_walk_file(f, rwc, False)


cdef void rmap_walk_locked(folio *f, rmap_walk_control *rwc) noexcept nogil:
    """mm/rmap.c: the same, for a caller that holds the rmap lock."""
    if folio_test_anon(f):
        rmap_walk_anon(f, rwc, True)
    else:
        rmap_walk_file(f, rwc, True)


# -- batched TLB flushing of unmapped PTEs (CONFIG_ARCH_WANT_BATCHED_UNMAP_TLB_FLUSH)

cdef void fold_ubc_ro() noexcept nogil:
    """mm/rmap.c (migrc patch 1/3): merge the read-only batch into the
    normal one, which then needs a flush, and empty it."""
    cdef task_struct *cur = get_current()
    cdef tlbflush_unmap_batch *tlb_ubc = &cur.tlb_ubc
    cdef tlbflush_unmap_batch *tlb_ubc_ro = &cur.tlb_ubc_ro
    if not tlb_ubc_ro.flush_required:
        return
    arch_tlbbatch_fold(&tlb_ubc.arch, &tlb_ubc_ro.arch)
    tlb_ubc.flush_required = True
    arch_tlbbatch_clear(&tlb_ubc_ro.arch)
    tlb_ubc_ro.flush_required = False


cdef void try_to_unmap_flush() noexcept nogil:
    """mm/rmap.c: flush every TLB entry the current task's unmaps deferred
    (patch 1/3: the read-only batch too), before the pages are reused."""
    cdef tlbflush_unmap_batch *tlb_ubc = &get_current().tlb_ubc
    fold_ubc_ro()
    if not tlb_ubc.flush_required:
        return
    arch_tlbbatch_flush(&tlb_ubc.arch)
    tlb_ubc.flush_required = False
    tlb_ubc.writable = False


cdef void try_to_unmap_flush_dirty() noexcept nogil:
    """mm/rmap.c: flush only if some deferred entry may be writable (a dirty
    PTE was cleared), which must happen before I/O starts on the page."""
    if get_current().tlb_ubc.writable:
        try_to_unmap_flush()


cdef void set_tlb_ubc_flush_pending(mm_struct *mm, pte_t pteval, unsigned long uaddr) noexcept nogil:
    """mm/rmap.c: a PTE of mm was cleared and its flush deferred.  Nothing to
    do if no CPU can cache it (not present, e.g. a NUMA-hint PROT_NONE
    PTE with no mmu_gather in flight).  Patch 1/3 sends clean read-only PTEs
    to tlb_ubc_ro, writable or dirty ones to tlb_ubc.  The mm remembers a
    batch is pending (mm->tlb_flush_batched) for flush_tlb_batched_pending."""
    cdef task_struct *cur = get_current()
    cdef tlbflush_unmap_batch *tlb_ubc
    cdef int batch
    cdef bint writable = pte_dirty(pteval)
    if not pte_accessible(mm, pteval):
        return
    if pte_write(pteval) or writable:
        tlb_ubc = &cur.tlb_ubc
        if migrc_hunk(MIGRC_HUNK_RMAP_C_2):
            can_migrc_fail()                       # mm/rmap.c#2: a writable or dirty mapping
    else:
        tlb_ubc = &cur.tlb_ubc_ro
    arch_tlbbatch_add_pending(&tlb_ubc.arch, mm, uaddr)
    tlb_ubc.flush_required = True
    batch = mm.tlb_flush_batched
    if (batch & TLB_FLUSH_BATCH_PENDING_MASK) > TLB_FLUSH_BATCH_PENDING_LARGE:
        # keep `pending` from wrapping onto `flushed`: restart at 1 pending, 0 flushed
        mm.tlb_flush_batched = 1
    else:
        mm.tlb_flush_batched += 1
    # A dirty PTE may have been writable: flush before the page goes to I/O.
    if writable:
        tlb_ubc.writable = True


cdef bint should_defer_flush(mm_struct *mm, int flags) noexcept nogil:
    """mm/rmap.c: defer only when asked (TTU_BATCH_FLUSH) and when some
    other CPU may cache mm, i.e. when an immediate flush would be an IPI."""
    if not (flags & TTU_BATCH_FLUSH):
        return False
    return arch_tlbbatch_should_defer(mm)


cdef bint folio_not_mapped(folio *f) noexcept nogil:
    """mm/rmap.c: the rmap walk's `done`: stop once no PTE maps the folio."""
    return not folio_mapped(f)


cdef inline int mm_counter(page *p) noexcept nogil:
    """include/linux/mm.h (no shmem): the rss counter a page is in."""
    return MM_ANONPAGES if PageAnon(p) else MM_FILEPAGES


# -- try_to_migrate

cdef bint try_to_migrate_one(folio *f, vm_area_struct *vma, unsigned long address,
                             void *arg) noexcept nogil:
    """mm/rmap.c: replace folio's PTE in vma with a migration entry.

    The PTE is cleared first -- without a flush when it may be deferred
    (set_tlb_ubc_flush_pending), else with ptep_clear_flush -- and its dirty
    bit goes to the folio.  An exclusive anonymous page becomes possibly
    shared (failing if it may be DMA-pinned: the PTE is put back and the walk
    stops).  The entry is writable for a writable PTE, readable-exclusive for
    an exclusive anonymous page, readable otherwise, and keeps young/dirty
    when the CPU allows (swap_migration_ad_supported).  The mapping's rmap
    and reference are dropped.  No hugetlb, THP, ZONE_DEVICE or hwpoison
    here, so only the kernel's last branch applies."""
    cdef mm_struct *mm = vma.vm_mm
    cdef page_vma_mapped_walk_s pvmw
    cdef pte_t pteval
    cdef pte_t swp_pte
    cdef page *subpage
    cdef bint anon_exclusive
    cdef bint ret = True
    cdef int flags = <int><size_t>arg
    cdef swp_entry_t entry
    DEFINE_FOLIO_VMA_WALK(&pvmw, f, vma, address, 0)
    # TTU_SPLIT_HUGE_PMD: nothing is PMD-mapped in the emulator
    while page_vma_mapped_walk(&pvmw):
        subpage = f                                 # folio_page(folio, pfn - folio_pfn(folio))
        address = pvmw.address
        anon_exclusive = folio_test_anon(f) and PageAnonExclusive(subpage)

        # Nuke the page table entry.
        if should_defer_flush(mm, flags):
            # Cleared but not flushed: a remote CPU may still write through
            # its TLB; x86 makes a clean->dirty transition of a cached entry
            # fault once the PTE is gone.
            pteval = ptep_get_and_clear(mm, address, pvmw.pte)
            set_tlb_ubc_flush_pending(mm, pteval, address)
        else:
            pteval = ptep_clear_flush(vma, address, pvmw.pte)

        # The PTE is gone: its dirty bit belongs to the folio now.
        if pte_dirty(pteval):
            folio_mark_dirty(f)

        # (pte_unused() is always false and arch_unmap_one() always 0 on x86)

        # page_try_share_anon_rmap() wants the PTE cleared first.
        if anon_exclusive and page_try_share_anon_rmap(subpage):
            set_pte_at(mm, address, pvmw.pte, pteval)
            ret = False
            page_vma_mapped_walk_done(&pvmw)
            break

        # A migration entry holding the pfn: a fault on it waits until the
        # migration is over (do_swap_page -> migration_entry_wait).
        if pte_write(pteval):
            entry = make_writable_migration_entry(page_to_pfn(subpage))
        elif anon_exclusive:
            entry = make_readable_exclusive_migration_entry(page_to_pfn(subpage))
        else:
            entry = make_readable_migration_entry(page_to_pfn(subpage))
        if pte_young(pteval):
            entry = make_migration_entry_young(entry)
        if pte_dirty(pteval):
            entry = make_migration_entry_dirty(entry)
        swp_pte = swp_entry_to_pte(entry)
        # (soft-dirty and uffd-wp are not modelled)
        set_pte_at(mm, address, pvmw.pte, swp_pte)
        # No flush for the entry itself: it is not present.

        page_remove_rmap(subpage, vma, False)
        folio_put(f)
    return ret


cdef void try_to_migrate(folio *f, int flags) noexcept nogil:
    """mm/rmap.c: replace every PTE mapping the (locked) folio with a
    migration entry; the walk stops once the folio is not mapped.  Only
    TTU_RMAP_LOCKED, TTU_SPLIT_HUGE_PMD, TTU_SYNC and TTU_BATCH_FLUSH are
    accepted (a WARN otherwise).  The kernel skips exec's temporary stack
    VMA (invalid_migration_vma); the emulator has no exec, so no VMA is
    skipped."""
    cdef rmap_walk_control rwc
    if flags & ~(TTU_RMAP_LOCKED | TTU_SPLIT_HUGE_PMD | TTU_SYNC | TTU_BATCH_FLUSH):
        return
    rwc.arg = <void *><size_t>flags
    rwc.rmap_one = try_to_migrate_one
    rwc.done = folio_not_mapped
    rwc.invalid_vma = NULL
    rwc.try_lock = False
    rwc.contended = False
    if flags & TTU_RMAP_LOCKED:
        rmap_walk_locked(f, &rwc)
    else:
        rmap_walk(f, &rwc)


# -- try_to_unmap (reclaim)

cdef bint try_to_unmap_one(folio *f, vm_area_struct *vma, unsigned long address,
                           void *arg) noexcept nogil:
    """mm/rmap.c: clear folio's PTE in vma for reclaim.  A file folio's
    mapping simply goes away (its data is in the page cache).  The emulator
    has no swap, so an anonymous folio cannot get a swap entry: its PTE is
    put back and the walk stops (in the kernel shrink_folio_list never gets
    here for anonymous folios without swap space).  mlock()ed VMAs are left
    alone unless TTU_IGNORE_MLOCK."""
    cdef mm_struct *mm = vma.vm_mm
    cdef page_vma_mapped_walk_s pvmw
    cdef pte_t pteval
    cdef page *subpage
    cdef bint ret = True
    cdef int flags = <int><size_t>arg
    DEFINE_FOLIO_VMA_WALK(&pvmw, f, vma, address, 0)
    while page_vma_mapped_walk(&pvmw):
        if not (flags & TTU_IGNORE_MLOCK) and (vma.vm_flags & VM_LOCKED):
            page_vma_mapped_walk_done(&pvmw)
            ret = False
            break
        subpage = f
        address = pvmw.address
        if should_defer_flush(mm, flags):
            pteval = ptep_get_and_clear(mm, address, pvmw.pte)
            set_tlb_ubc_flush_pending(mm, pteval, address)
        else:
            pteval = ptep_clear_flush(vma, address, pvmw.pte)
        if pte_dirty(pteval):
            folio_mark_dirty(f)
        if folio_test_anon(f):
            set_pte_at(mm, address, pvmw.pte, pteval)
            ret = False
            page_vma_mapped_walk_done(&pvmw)
            break
        dec_mm_counter(mm, MM_FILEPAGES)           # mm_counter_file()
        page_remove_rmap(subpage, vma, False)
        folio_put(f)
    return ret


cdef void try_to_unmap(folio *f, int flags) noexcept nogil:
    """mm/rmap.c: remove every PTE mapping the (locked) folio."""
    cdef rmap_walk_control rwc
    rwc.arg = <void *><size_t>flags
    rwc.rmap_one = try_to_unmap_one
    rwc.done = folio_not_mapped
    rwc.invalid_vma = NULL
    rwc.try_lock = False
    rwc.contended = False
    if flags & TTU_RMAP_LOCKED:
        rmap_walk_locked(f, &rwc)
    else:
        rmap_walk(f, &rwc)


# -- folio_referenced (reclaim's aging)

cdef struct folio_referenced_arg:
    int mapcount
    int referenced
    unsigned long vm_flags
    void *memcg


cdef bint folio_referenced_one(folio *f, vm_area_struct *vma, unsigned long address,
                               void *arg) noexcept nogil:
    """mm/rmap.c: test and clear the accessed bit of folio's PTE in vma
    (ptep_clear_flush_young, which on x86 does not flush), then the folio's
    own young flag.  No MGLRU (lru_gen) look-around."""
    cdef folio_referenced_arg *pra = <folio_referenced_arg *>arg
    cdef page_vma_mapped_walk_s pvmw
    cdef int referenced = 0
    DEFINE_FOLIO_VMA_WALK(&pvmw, f, vma, address, 0)
    while page_vma_mapped_walk(&pvmw):
        address = pvmw.address
        if vma.vm_flags & VM_LOCKED:
            # the kernel restores the missed mlock here (mlock_vma_folio);
            # mlock is not modelled beyond the flag
            page_vma_mapped_walk_done(&pvmw)
            pra.vm_flags |= VM_LOCKED
            return False
        if ptep_clear_flush_young(vma, address, pvmw.pte):
            referenced += 1
        pra.mapcount -= 1
    if referenced:
        folio_clear_idle(f)
    if folio_test_clear_young(f):
        referenced += 1
    if referenced:
        pra.referenced += 1
        pra.vm_flags |= vma.vm_flags & ~(<unsigned long>VM_LOCKED)
    if not pra.mapcount:
        return False
    return True


cdef int folio_referenced(folio *f, int is_locked, void *memcg, unsigned long *vm_flags) noexcept nogil:
    """mm/rmap.c: how many mappings referenced the folio since the last call
    (their accessed bits are cleared).  A file folio locked by someone else
    counts as referenced (1).  No memcg, so no VMA is skipped
    (invalid_folio_referenced_vma: every VMA has recency)."""
    cdef folio_referenced_arg pra
    cdef rmap_walk_control rwc
    cdef bint we_locked = False
    pra.mapcount = folio_mapcount(f)
    pra.referenced = 0
    pra.vm_flags = 0
    pra.memcg = memcg
    vm_flags[0] = 0
    if not pra.mapcount:
        return 0
    if not f.mapping:                              # folio_raw_mapping()
        return 0
    if not is_locked and not folio_test_anon(f):
        we_locked = folio_trylock(f)
        if not we_locked:
            return 1
    rwc.arg = <void *>&pra
    rwc.rmap_one = folio_referenced_one
    rwc.done = NULL
    rwc.invalid_vma = NULL
    rwc.try_lock = True
    rwc.contended = False
    rmap_walk(f, &rwc)
    vm_flags[0] = pra.vm_flags
    if we_locked:
        folio_unlock(f)
    return -1 if rwc.contended else pra.referenced


# -- host-side read-ahead (emulator speed only)

cdef enum:
    KMM_READ_AHEAD_BATCH = 32        # SWAP_CLUSTER_MAX: one isolated LRU batch


cdef inline vm_area_struct *kmm_first_mapping_vma(folio *f) noexcept nogil:
    """The first VMA rmap_walk() would visit for f, or NULL."""
    cdef anon_vma *av
    cdef address_space *mapping
    cdef list_head *pos
    cdef vm_area_struct *vma
    if folio_test_anon(f):
        av = folio_anon_vma(f)
        if av == NULL:
            return NULL
        pos = av.rb_root.next
        while pos != &av.rb_root:
            vma = avc_from_same_anon_vma(pos).vma
            if vma_maps_pgoff(vma, f.index):
                return vma
            pos = pos.next
        return NULL
    mapping = folio_mapping(f)
    if mapping == NULL:
        return NULL
    pos = mapping.i_mmap.next
    while pos != &mapping.i_mmap:
        vma = vma_from_shared(pos)
        if vma_maps_pgoff(vma, f.index):
            return vma
        pos = pos.next
    return NULL


cdef void kmm_read_ahead_folio_ptes(list_head *folios) noexcept nogil:
    """Emulator speed only, no kernel counterpart: bring into the host's
    cache the PTE that the rmap walk will read next for each folio of an
    isolated LRU list (in lru_to_folio() order), so that the walks of
    reclaim do not each wait for their own PTE in turn.  The reads go stage
    by stage over a batch of folios (the PTE tables' struct pages, then the
    PTEs), independent of one another, so that the host overlaps their
    misses.  Reads only: nothing emulated changes, a wrong guess costs one
    useless read."""
    cdef page *tps[KMM_READ_AHEAD_BATCH]
    cdef unsigned long addrs[KMM_READ_AHEAD_BATCH]
    cdef list_head *pos = folios.prev
    cdef folio *f
    cdef vm_area_struct *vma
    cdef unsigned long *pmd
    cdef kmm_pt *pt
    cdef unsigned long sink = 0
    cdef int n, i
    while pos != folios:
        n = 0
        while pos != folios and n < KMM_READ_AHEAD_BATCH:
            f = <folio *>(<char *>pos - <size_t>&(<folio *>NULL).lru)
            pos = pos.prev
            vma = kmm_first_mapping_vma(f)
            if vma == NULL:
                continue
            addrs[n] = vma_address(f, vma)
            pmd = walk_pmd(vma.vm_mm, addrs[n])
            if pmd == NULL or pmd_none(pmd[0]):
                continue
            tps[n] = entry_page(pmd[0])
            prefetch(&tps[n].private)
            n += 1
        for i in range(n):
            pt = page_pt(tps[i])
            if pt != NULL:
                sink += pt.ent[pte_index(addrs[i])]
    kmm_read_ahead(sink)


HUNKS = {
    "mm/rmap.c#1": ("fold_ubc_ro",),
    "mm/rmap.c#2": ("set_tlb_ubc_flush_pending",),
}
# #1 only removes the blank line before fold_ubc_ro(): nothing to test.
HUNKS_WITHOUT_BEHAVIOUR = ("mm/rmap.c#1",)
