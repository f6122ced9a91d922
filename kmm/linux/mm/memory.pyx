"""Mirrors mm/memory.c: page faults (anonymous, file, copy-on-write, NUMA
hint), page-table allocation, and zapping a range at munmap.

Emulator notes: faults never sleep (a fault on a migration entry returns
VM_FAULT_RETRY to the caller, which retries once the migration is done),
there is no fault-around (fault_around_bytes = PAGE_SIZE), no swap, no
userfaultfd and no THP.
"""

from kmm.linux.include_.kmm.trace cimport KMM_SITE_MIGRC_WP
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.linux.include_.trace.events.migrc cimport trace_kmm_numa_hint_fault
from kmm.linux.include_.uapi.asm_generic.errno_base cimport ENOMEM
from kmm.linux.mm.internal cimport migrc_hunk, migrc_unpend_if_pending, MIGRC_HUNK_MEMORY_C_1
from kmm.linux.mm.migrate cimport (migrc_flush_free_folios, migrc_fix_flush, MIGRC_FIX_HANDLE_MM_FAULT,
                             MIGRC_FIX_HANDLE_MM_FAULT_VMA)
from kmm.linux.include_.kmm.machine cimport KMM, numa_node_id
from kmm.linux.include_.kmm.interleave cimport kmm_point, KMM_POINT_ZAP_BEFORE_FLUSH
from kmm.linux.include_.linux.gfp_types cimport GFP_HIGHUSER_MOVABLE, __GFP_ZERO
from kmm.linux.include_.linux.mm_types cimport (page, folio, mm_struct, vm_area_struct, address_space,
                                          MM_ANONPAGES, MM_FILEPAGES)
from kmm.linux.include_.linux.mm cimport *
from kmm.linux.include_.linux.page_flags cimport (PageAnonExclusive, folio_test_lru, folio_test_swapcache,
                                            folio_test_dirty, folio_set_dirty, folio_test_anon_exclusive,
                                            __folio_set_uptodate, folio_test_locked, __folio_set_locked,
                                            __folio_clear_locked, folio_test_referenced,
                                            folio_set_referenced, PageTable)
from kmm.linux.include_.linux.page_ref cimport folio_ref_count
from kmm.linux.include_.linux.pgtable cimport *
from kmm.linux.include_.linux.prefetch cimport kmm_read_ahead
from kmm.linux.include_.linux.highmem cimport copy_user_highpage
from kmm.linux.include_.asm_generic.tlb cimport (mmu_gather, tlb_remove_tlb_entry, tlb_start_vma,
                                           tlb_end_vma, tlb_flush_mmu_tlbonly)
from kmm.linux.arch.x86.include_.asm.pgtable cimport *
from kmm.linux.arch.x86.mm.pgtable cimport (pte_alloc_one, pmd_alloc_one, pud_alloc_one, pte_free,
                                            pgd_free)
from kmm.linux.arch.x86.mm.tlb cimport flush_tlb_page
from kmm.linux.include_.linux.swapops cimport (pte_to_swp_entry, is_migration_entry, swp_entry_t,
                                         swp_offset_pfn)
from kmm.emu.debug.oracle cimport (oracle_anon_page_new, oracle_zero_page_map, oracle_cow_zero_page,
                                   oracle_cow_page_map, oracle_pte_copy)
from kmm.linux.mm.mmu_gather cimport (__tlb_remove_page, tlb_flush_mmu, pte_free_tlb, pmd_free_tlb,
                                pud_free_tlb)
from kmm.linux.mm.page_alloc cimport __folio_alloc
from kmm.linux.mm.rmap cimport (anon_vma_prepare, folio_add_new_anon_rmap, page_add_file_rmap,
                          page_remove_rmap, page_move_anon_rmap)
from kmm.linux.mm.swap cimport folio_add_lru
from kmm.linux.mm.filemap cimport filemap_fault, filemap_page_mkwrite
from kmm.linux.mm.page_writeback cimport folio_mark_dirty
from kmm.linux.mm.pgtable_generic cimport ptep_clear_flush
from kmm.linux.include_.linux.vm_event_item cimport (PGFAULT, PGREUSE, NUMA_HINT_FAULTS,
                                              NUMA_HINT_FAULTS_LOCAL)
from kmm.linux.include_.linux.vmstat cimport count_vm_event, count_vm_numa_event
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.linux.mm.mmap cimport vma_wants_manual_pte_write_upgrade
from kmm.linux.mm.mprotect cimport can_change_pte_writable

from kmm.linux.include_.linux.sched cimport (TNF_MIGRATED, TNF_NO_GROUP, TNF_SHARED,
                                             TNF_FAULT_LOCAL, TNF_MIGRATE_FAIL)


cdef bint is_zero_pfn(unsigned long pfn) noexcept nogil:
    return pfn == KMM().zero_pfn


cdef page *vm_normal_page(vm_area_struct *vma, unsigned long addr, unsigned long pte) noexcept nogil:
    """mm/memory.c: the struct page a PTE maps, NULL for special mappings
    (the zero page)."""
    cdef unsigned long pfn = pte_pfn(pte)
    if pte_special(pte) or is_zero_pfn(pfn):
        return NULL
    if pfn >= KMM().max_pfn:
        return NULL
    return pfn_to_page(pfn)


cdef void kmm_read_ahead_pte_pages(unsigned long *pmd, unsigned long addr, unsigned long end,
                                   bint protnone_too) noexcept nogil:
    """Emulator speed only, no kernel counterpart: read the struct page of
    every present PTE of [addr, end) (one PTE table), PROT_NONE ones only
    if protnone_too, in one loop of independent reads, so that the host
    overlaps their misses before a PTE loop visits the pages one by one.
    Reads only."""
    cdef unsigned long *pte = pte_offset_map(pmd, addr)
    cdef page *mem_map = KMM().mem_map
    cdef unsigned long max_pfn = KMM().max_pfn
    cdef unsigned long pfn, sink = 0
    cdef unsigned long present = _PAGE_PRESENT | (_PAGE_PROTNONE if protnone_too else 0)
    cdef long i
    for i in range(<long>((end - addr) >> PAGE_SHIFT)):
        if pte[i] & present:
            pfn = pte_pfn(pte[i])
            if pfn < max_pfn:
                sink += mem_map[pfn].flags
    kmm_read_ahead(sink)


# ---------------------------------------------------------------------------
# Page-table allocation

cdef inline int __table_alloc(mm_struct *mm, unsigned long *entry, page *new) noexcept nogil:
    """Hang the new table on entry (__pud_alloc, __pmd_alloc, __pte_alloc)."""
    if new == NULL:
        return -ENOMEM
    if entry[0] == 0:
        entry[0] = (page_to_pfn(new) << PAGE_SHIFT) | _PAGE_TABLE
    else:
        pte_free(mm, new)        # someone populated it meanwhile
    return 0


cdef int __pte_alloc(mm_struct *mm, unsigned long *pmd) noexcept nogil:
    """mm/memory.c: give pmd a PTE table."""
    return __table_alloc(mm, pmd, pte_alloc_one(mm))


cdef inline unsigned long *pmd_alloc_walk(mm_struct *mm, unsigned long addr) noexcept nogil:
    """pud_alloc / pmd_alloc down to addr's PMD entry; NULL on OOM."""
    cdef unsigned long *e = pgd_offset(mm, addr)
    if pgd_none(e[0]) and __table_alloc(mm, e, pud_alloc_one(mm)):
        return NULL
    e = pud_offset(e, addr)
    if pud_none(e[0]) and __table_alloc(mm, e, pmd_alloc_one(mm)):
        return NULL
    return pmd_offset(e, addr)


cdef unsigned long *pte_alloc_walk(mm_struct *mm, unsigned long addr) noexcept nogil:
    """... and pte_alloc: addr's PTE; NULL on OOM."""
    cdef unsigned long *e = pmd_alloc_walk(mm, addr)
    if e == NULL or (pmd_none(e[0]) and __pte_alloc(mm, e)):
        return NULL
    return pte_offset_map(e, addr)


# ---------------------------------------------------------------------------
# Faults

cdef inline pte_t maybe_mkwrite(pte_t pte, vm_area_struct *vma) noexcept nogil:
    if vma.vm_flags & VM_WRITE:
        pte = pte_mkwrite(pte)
    return pte


cdef inline folio *vma_alloc_zeroed_movable_folio(vm_area_struct *vma, unsigned long addr) noexcept nogil:
    """Default mempolicy (MPOL_LOCAL): the faulting CPU's node first."""
    return __folio_alloc(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0, numa_node_id(), NULL)


cdef vm_fault_t do_anonymous_page(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: first touch of private anonymous memory: the zero page for
    a read, a new zeroed folio for a write."""
    cdef vm_area_struct *vma = vmf.vma
    cdef folio *f
    cdef pte_t entry
    if vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS
    if pmd_none(vmf.pmd[0]) and __pte_alloc(vma.vm_mm, vmf.pmd):
        return VM_FAULT_OOM
    vmf.pte = pte_offset_map(vmf.pmd, vmf.address)
    if not (vmf.flags & FAULT_FLAG_WRITE):
        entry = pfn_pte(KMM().zero_pfn, vma.vm_page_prot) | _PAGE_SPECIAL
        if not pte_none(ptep_get(vmf.pte)):
            return 0
        oracle_zero_page_map(vmf.pte)
        set_pte_at(vma.vm_mm, vmf.address, vmf.pte, entry)
        return 0
    if anon_vma_prepare(vma):
        return VM_FAULT_OOM
    f = vma_alloc_zeroed_movable_folio(vma, vmf.address)
    if f == NULL:
        return VM_FAULT_OOM
    __folio_set_uptodate(f)
    entry = mk_pte(f, vma.vm_page_prot)
    if vma.vm_flags & VM_WRITE:
        entry = pte_mkwrite(pte_mkdirty(entry))
    if not pte_none(ptep_get(vmf.pte)):
        folio_put(f)
        return 0
    inc_mm_counter(vma.vm_mm, MM_ANONPAGES)
    folio_add_new_anon_rmap(f, vma, vmf.address)
    folio_add_lru(f)
    oracle_anon_page_new(f, vmf.pte)
    set_pte_at(vma.vm_mm, vmf.address, vmf.pte, entry)
    return 0


cdef void set_pte_range(vm_fault *vmf, folio *f, page *p, unsigned int nr,
                        unsigned long addr) noexcept nogil:
    """mm/memory.c: map a page the fault produced (file page, or a private
    COW copy of one)."""
    cdef vm_area_struct *vma = vmf.vma
    cdef bint write = (vmf.flags & FAULT_FLAG_WRITE) != 0
    cdef pte_t entry = mk_pte(p, vma.vm_page_prot)
    if write:
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    if write and not (vma.vm_flags & VM_SHARED):
        add_mm_counter(vma.vm_mm, MM_ANONPAGES, nr)
        folio_add_new_anon_rmap(f, vma, addr)
        folio_add_lru(f)
        oracle_cow_page_map(f, vmf.pte)
    else:
        add_mm_counter(vma.vm_mm, MM_FILEPAGES, nr)
        page_add_file_rmap(p, vma, False)
    set_pte_at(vma.vm_mm, addr, vmf.pte, entry)


cdef vm_fault_t finish_fault(vm_fault *vmf) noexcept nogil:
    cdef vm_area_struct *vma = vmf.vma
    cdef page *p
    if (vmf.flags & FAULT_FLAG_WRITE) and not (vma.vm_flags & VM_SHARED):
        p = vmf.cow_page
    else:
        p = vmf.page
    if pmd_none(vmf.pmd[0]) and __pte_alloc(vma.vm_mm, vmf.pmd):
        return VM_FAULT_OOM
    vmf.pte = pte_offset_map(vmf.pmd, vmf.address)
    if not pte_none(ptep_get(vmf.pte)):
        return VM_FAULT_NOPAGE
    set_pte_range(vmf, page_folio(p), p, 1, vmf.address)
    return 0


cdef vm_fault_t __do_fault(vm_fault *vmf) noexcept nogil:
    """The VMA's ->fault: filemap_fault() for every file the emulator has.
    Returns with vmf->page locked and referenced."""
    return filemap_fault(vmf)


cdef inline void unlock_page(page *p) noexcept nogil:
    __folio_clear_locked(p)


cdef vm_fault_t do_read_fault(vm_fault *vmf) noexcept nogil:
    cdef vm_fault_t ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    ret |= finish_fault(vmf)
    unlock_page(vmf.page)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        put_page(vmf.page)
    return ret


cdef vm_fault_t do_cow_fault(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: write fault on a private file mapping: copy the file
    page into a new anonymous page."""
    cdef vm_area_struct *vma = vmf.vma
    cdef vm_fault_t ret
    if anon_vma_prepare(vma):
        return VM_FAULT_OOM
    vmf.cow_page = __folio_alloc(GFP_HIGHUSER_MOVABLE, 0, numa_node_id(), NULL)
    if vmf.cow_page == NULL:
        return VM_FAULT_OOM
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        put_page(vmf.cow_page)
        return ret
    copy_user_highpage(vmf.cow_page, vmf.page, vmf.address, vma)
    __folio_set_uptodate(vmf.cow_page)
    ret |= finish_fault(vmf)
    unlock_page(vmf.page)
    put_page(vmf.page)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        put_page(vmf.cow_page)
    return ret


cdef vm_fault_t do_shared_fault(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: write fault on a shared file mapping: page_mkwrite, map
    it writable and dirty, dirty the folio."""
    cdef vm_fault_t ret = __do_fault(vmf)
    cdef vm_fault_t tmp
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    tmp = filemap_page_mkwrite(vmf)
    if tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
        unlock_page(vmf.page)
        put_page(vmf.page)
        return tmp
    ret |= finish_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        unlock_page(vmf.page)
        put_page(vmf.page)
        return ret
    folio_mark_dirty(vmf.page)          # fault_dirty_shared_page()
    unlock_page(vmf.page)
    return ret


cdef vm_fault_t do_fault(vm_fault *vmf) noexcept nogil:
    if not (vmf.flags & FAULT_FLAG_WRITE):
        return do_read_fault(vmf)
    if not (vmf.vma.vm_flags & VM_SHARED):
        return do_cow_fault(vmf)
    return do_shared_fault(vmf)


cdef vm_fault_t do_pte_missing(vm_fault *vmf) noexcept nogil:
    if vma_is_anonymous(vmf.vma):
        return do_anonymous_page(vmf)
    return do_fault(vmf)


cdef vm_fault_t do_swap_page(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: the only non-present PTEs here are migration entries;
    migration_entry_wait() would sleep until the migration ends, so report a
    retry."""
    cdef swp_entry_t entry = pte_to_swp_entry(vmf.orig_pte)
    if is_migration_entry(entry):
        return VM_FAULT_RETRY
    return VM_FAULT_SIGBUS


cdef inline void wp_page_reuse(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: make the faulting PTE writable in place (no copy)."""
    cdef vm_area_struct *vma = vmf.vma
    cdef page *p = vmf.page
    cdef pte_t entry
    if p != NULL:
        page_cpupid_xchg_last(p, (1 << LAST_CPUPID_SHIFT) - 1)
    entry = pte_mkyoung(vmf.orig_pte)
    entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    if not pte_same(ptep_get(vmf.pte), entry):  # ptep_set_access_flags(dirty=1)
        set_pte_at(vma.vm_mm, vmf.address, vmf.pte, entry)
    count_vm_event(PGREUSE)


cdef vm_fault_t wp_page_copy(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: copy-on-write: a new anonymous page replaces the mapped
    one; the old translation is flushed before the new one is installed.
    The caller took a reference on the old folio."""
    cdef vm_area_struct *vma = vmf.vma
    cdef mm_struct *mm = vma.vm_mm
    cdef folio *old_folio = vmf.page
    cdef folio *new_folio
    cdef pte_t entry
    if anon_vma_prepare(vma):
        if old_folio != NULL:
            folio_put(old_folio)
        return VM_FAULT_OOM
    if is_zero_pfn(pte_pfn(vmf.orig_pte)):
        new_folio = vma_alloc_zeroed_movable_folio(vma, vmf.address)
        if new_folio != NULL:
            oracle_cow_zero_page(new_folio)
    else:
        new_folio = __folio_alloc(GFP_HIGHUSER_MOVABLE, 0, numa_node_id(), NULL)
        if new_folio != NULL:
            copy_user_highpage(new_folio, vmf.page, vmf.address, vma)
    if new_folio == NULL:
        if old_folio != NULL:
            folio_put(old_folio)
        return VM_FAULT_OOM
    __folio_set_uptodate(new_folio)
    if pte_same(ptep_get(vmf.pte), vmf.orig_pte):
        if old_folio != NULL:
            if not PageAnon(old_folio):
                dec_mm_counter(mm, MM_FILEPAGES)
                inc_mm_counter(mm, MM_ANONPAGES)
        else:
            inc_mm_counter(mm, MM_ANONPAGES)
        entry = mk_pte(new_folio, vma.vm_page_prot)
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
        ptep_clear_flush(vma, vmf.address, vmf.pte)
        folio_add_new_anon_rmap(new_folio, vma, vmf.address)
        folio_add_lru(new_folio)
        oracle_cow_page_map(new_folio, vmf.pte)
        set_pte_at(mm, vmf.address, vmf.pte, entry)
        if old_folio != NULL:
            page_remove_rmap(vmf.page, vma, False)
        # the old folio now loses the mapping's reference as well
        new_folio = old_folio
    if new_folio != NULL:
        folio_put(new_folio)
    if old_folio != NULL:
        folio_put(old_folio)
    return 0


cdef vm_fault_t wp_page_shared(vm_fault *vmf, folio *f) noexcept nogil:
    """mm/memory.c: write to a read-only PTE of a shared file mapping
    (write-notify): page_mkwrite, then reuse the page writable and dirty."""
    cdef vm_fault_t tmp
    folio_get(f)
    tmp = filemap_page_mkwrite(vmf)
    if tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
        folio_put(f)
        return tmp
    if not pte_same(ptep_get(vmf.pte), vmf.orig_pte):
        unlock_page(f)
        folio_put(f)
        return 0
    wp_page_reuse(vmf)
    folio_mark_dirty(f)                        # fault_dirty_shared_page()
    unlock_page(f)
    folio_put(f)
    return 0


cdef vm_fault_t do_wp_page(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: write fault on a present, write-protected PTE: reuse the
    page if this mapping owns it exclusively, copy it otherwise."""
    cdef vm_area_struct *vma = vmf.vma
    cdef folio *f = NULL
    cdef int site
    vmf.page = vm_normal_page(vma, vmf.address, vmf.orig_pte)
    if vmf.page != NULL:
        f = page_folio(vmf.page)
    # mm/memory.c#1 (migrc): the page is about to become writable while
    # other CPUs may still read its old copy through a deferred-flush
    # translation: flush and free everything migrc holds first.
    if migrc_hunk(MIGRC_HUNK_MEMORY_C_1) and f != NULL and migrc_unpend_if_pending(f):
        site = kmm_site_enter(KMM_SITE_MIGRC_WP)
        migrc_flush_free_folios(NULL)
        kmm_site_exit(site)
    if vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        if vmf.page == NULL:
            return VM_FAULT_SIGBUS
        return wp_page_shared(vmf, f)
    if f != NULL and folio_test_anon(f):
        if PageAnonExclusive(vmf.page):
            wp_page_reuse(vmf)
            return 0
        if folio_ref_count(f) > 3:
            return _wp_copy(vmf, f)
        if folio_ref_count(f) > 1 + folio_test_swapcache(f):
            return _wp_copy(vmf, f)
        if folio_test_locked(f):
            return _wp_copy(vmf, f)
        page_move_anon_rmap(vmf.page, vma)
        wp_page_reuse(vmf)
        return 0
    return _wp_copy(vmf, f)


cdef inline vm_fault_t _wp_copy(vm_fault *vmf, folio *f) noexcept nogil:
    """do_wp_page's copy: label: take a reference on the old folio first."""
    if f != NULL:
        folio_get(f)
    return wp_page_copy(vmf)


cdef inline void vma_set_access_pid_bit(vm_area_struct *vma) noexcept nogil:
    """include/linux/mm.h: note in the VMA's NUMA-scan state that this task
    touched it (one of 64 bits picked by hash_32(pid, 6))."""
    cdef unsigned int pid_bit = (<unsigned int>get_current().pid * 0x61C88647U) >> (32 - 6)
    vma.numab_state.access_pids[1] |= 1UL << pid_bit


cdef int numa_migrate_prep(page *p, vm_area_struct *vma, unsigned long addr, int page_nid,
                           int *flags) noexcept nogil:
    """mm/memory.c: count the hint fault (local if the page is on this CPU's
    node) and ask the memory policy where the page belongs; the page gets a
    reference for the migration."""
    get_page(p)
    vma_set_access_pid_bit(vma)
    count_vm_event(NUMA_HINT_FAULTS)               # count_vm_numa_event()
    if page_nid == numa_node_id():
        count_vm_event(NUMA_HINT_FAULTS_LOCAL)
        flags[0] |= TNF_FAULT_LOCAL
    return mpol_misplaced(p, vma, addr)


cdef vm_fault_t do_numa_page(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: a NUMA hint fault on a PROT_NONE PTE.  Count it, ask
    whether the page is misplaced, and migrate it if so: the PTE then comes
    back from the migration entry, READ-ONLY (the PROT_NONE PTE had lost
    its write bit, so the entry is at best readable-exclusive).  Otherwise
    (or if the migration fails) restore the VMA's protection in place, young,
    and writable only if it was writable or may be made so
    (can_change_pte_writable).  The restore needs no flush: nothing can
    cache a PROT_NONE PTE."""
    cdef vm_area_struct *vma = vmf.vma
    cdef page *p = NULL
    cdef int page_nid = NUMA_NO_NODE
    cdef bint writable = False
    cdef int last_cpupid
    cdef int target_nid
    cdef pte_t pte, old_pte
    cdef int flags = 0
    cdef bint map_it = True

    if not pte_same(ptep_get(vmf.pte), vmf.orig_pte):
        return 0

    # the normal PTE
    old_pte = ptep_get(vmf.pte)
    pte = pte_modify(old_pte, vma.vm_page_prot)

    # could it be writable?  (valid only under the PTL)
    writable = pte_write(pte)
    if not writable and vma_wants_manual_pte_write_upgrade(vma) and \
            can_change_pte_writable(vma, vmf.address, pte):
        writable = True

    p = vm_normal_page(vma, vmf.address, pte)
    if p != NULL:                                  # (no zone-device or compound pages)
        # don't group on read-only pages
        if not writable:
            flags |= TNF_NO_GROUP
        # shared between address spaces?
        if page_mapcount(p) > 1 and (vma.vm_flags & VM_SHARED):
            flags |= TNF_SHARED
        page_nid = page_to_nid(p)
        # in tiering mode a slow-tier page's cpupid field holds its access time
        if (KMM().sysctl_numa_balancing_mode & NUMA_BALANCING_MEMORY_TIERING) and \
                not node_is_toptier(page_nid):
            last_cpupid = LAST_CPUPID_MASK
        else:
            last_cpupid = page_cpupid_last(p)
        target_nid = numa_migrate_prep(p, vma, vmf.address, page_nid, &flags)
        if target_nid == NUMA_NO_NODE:
            put_page(p)
        else:
            # (the PTL is dropped here)
            writable = False
            # migrate to the requested node
            if migrate_misplaced_page(p, vma, target_nid):
                trace_kmm_numa_hint_fault(vmf.address, page_nid, True)
                page_nid = target_nid
                flags |= TNF_MIGRATED
                task_numa_fault(last_cpupid, page_nid, 1, flags)
                return 0
            flags |= TNF_MIGRATE_FAIL
            if not pte_same(ptep_get(vmf.pte), vmf.orig_pte):
                trace_kmm_numa_hint_fault(vmf.address, page_nid, False)
                task_numa_fault(last_cpupid, page_nid, 1, flags)      # goto out
                return 0

    # out_map: make it present again
    old_pte = ptep_modify_prot_start(vma.vm_mm, vmf.address, vmf.pte)
    pte = pte_modify(old_pte, vma.vm_page_prot)
    pte = pte_mkyoung(pte)
    if writable:
        pte = pte_mkwrite(pte)
    ptep_modify_prot_commit(vma.vm_mm, vmf.address, vmf.pte, old_pte, pte)
    trace_kmm_numa_hint_fault(vmf.address, page_nid, False)
    if page_nid != NUMA_NO_NODE:
        task_numa_fault(last_cpupid, page_nid, 1, flags)
    return 0


cdef inline bint vma_is_accessible(vm_area_struct *vma) noexcept nogil:
    return (vma.vm_flags & VM_ACCESS_FLAGS) != 0


cdef vm_fault_t handle_pte_fault(vm_fault *vmf) noexcept nogil:
    """mm/memory.c: dispatch on the PTE's state."""
    cdef pte_t entry
    if pmd_none(vmf.pmd[0]):
        vmf.pte = NULL
        vmf.flags &= ~FAULT_FLAG_ORIG_PTE_VALID
    else:
        vmf.pte = pte_offset_map(vmf.pmd, vmf.address)
        vmf.orig_pte = ptep_get(vmf.pte)
        vmf.flags |= FAULT_FLAG_ORIG_PTE_VALID
        if pte_none(vmf.orig_pte):
            vmf.pte = NULL
    if vmf.pte == NULL:
        return do_pte_missing(vmf)
    if not pte_present(vmf.orig_pte):
        return do_swap_page(vmf)
    if pte_protnone(vmf.orig_pte) and vma_is_accessible(vmf.vma):
        return do_numa_page(vmf)
    entry = vmf.orig_pte
    if vmf.flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE):
        if not pte_write(entry):
            return do_wp_page(vmf)
        elif vmf.flags & FAULT_FLAG_WRITE:
            entry = pte_mkdirty(entry)
    entry = pte_mkyoung(entry)
    # ptep_set_access_flags(): x86 only writes when the fault was a write;
    # a spurious read fault needs no flush (flush_tlb_fix_spurious_fault is
    # empty on x86).
    if not pte_same(ptep_get(vmf.pte), entry) and (vmf.flags & FAULT_FLAG_WRITE):
        set_pte_at(vmf.vma.vm_mm, vmf.address, vmf.pte, entry)
    return 0


cdef vm_fault_t handle_mm_fault(vm_area_struct *vma, unsigned long address,
                                unsigned int flags) noexcept nogil:
    """mm/memory.c: count the fault, build the tables down to the PMD and
    handle the PTE."""
    cdef vm_fault vmf
    cdef vm_fault_t ret
    count_vm_event(PGFAULT)
    vmf.vma = vma
    vmf.address = address & PAGE_MASK
    vmf.real_address = address
    vmf.flags = flags
    vmf.pgoff = linear_page_index(vma, address)
    vmf.gfp_mask = GFP_HIGHUSER_MOVABLE
    vmf.cow_page = NULL
    vmf.page = NULL
    vmf.pte = NULL
    vmf.orig_pte = 0
    vmf.pmd = pmd_alloc_walk(vma.vm_mm, address)
    if vmf.pmd == NULL:
        return VM_FAULT_OOM
    ret = handle_pte_fault(&vmf)
    # CONFIG_MIGRC_FIXES: a fault that may have installed a writable PTE
    # flushes what migrc deferred before the access is retried: a write
    # fault, or (as the LUF series tests it) any fault in a VMA that is or
    # may become writable -- two points, so each can be costed alone.
    if flags & FAULT_FLAG_WRITE:
        migrc_fix_flush(MIGRC_FIX_HANDLE_MM_FAULT)
    elif vma.vm_flags & (VM_WRITE | VM_MAYWRITE):
        migrc_fix_flush(MIGRC_FIX_HANDLE_MM_FAULT_VMA)
    return ret


# ---------------------------------------------------------------------------
# Zapping (munmap, exit)

cdef unsigned long zap_pte_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long *pmd,
                                 unsigned long addr, unsigned long end) noexcept nogil:
    """mm/memory.c: clear the PTEs of [addr, end) in one table; pages are
    freed by the mmu_gather after the flush."""
    cdef mm_struct *mm = tlb.mm
    cdef unsigned long *pte
    cdef pte_t ptent
    cdef page *p
    cdef swp_entry_t entry
    cdef bint force_flush = False
    flush_tlb_batched_pending(mm)
    kmm_read_ahead_pte_pages(pmd, addr, end, True)     # host speed only
    while addr != end:
        pte = pte_offset_map(pmd, addr)
        ptent = ptep_get(pte)
        if pte_none(ptent):
            addr += 4096
            continue
        if pte_present(ptent):
            p = vm_normal_page(vma, addr, ptent)
            ptent = ptep_get_and_clear_full(mm, addr, pte, tlb.fullmm)
            tlb_remove_tlb_entry(tlb, pte, addr)
            if p == NULL:
                addr += 4096
                continue
            if not PageAnon(p):
                if pte_dirty(ptent):
                    folio_mark_dirty(p)
                if pte_young(ptent):
                    folio_set_referenced(p)
                dec_mm_counter(mm, MM_FILEPAGES)
            else:
                dec_mm_counter(mm, MM_ANONPAGES)
            page_remove_rmap(p, vma, False)
            if __tlb_remove_page(tlb, p):
                force_flush = True
        else:
            # a migration entry: the page is under migration and holds no
            # reference for this mapping any more
            entry = pte_to_swp_entry(ptent)
            if is_migration_entry(entry):
                p = pfn_to_page(swp_offset_pfn(entry))
                dec_mm_counter(mm, MM_ANONPAGES if PageAnon(p) else MM_FILEPAGES)
            pte_clear(mm, addr, pte)
        if force_flush:
            tlb_flush_mmu(tlb)
            force_flush = False
        addr += 4096
    return addr


cdef void unmap_page_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long addr,
                           unsigned long end) noexcept nogil:
    """mm/memory.c: walk [addr, end) and zap each PTE table's part."""
    cdef mm_struct *mm = vma.vm_mm
    cdef unsigned long next
    cdef unsigned long *pmd
    tlb_start_vma(tlb, vma)
    while addr < end:
        next = (addr + PMD_SIZE) & PMD_MASK
        if next > end or next == 0:
            next = end
        pmd = walk_pmd(mm, addr)
        if pmd != NULL and not pmd_none(pmd[0]):
            zap_pte_range(tlb, vma, pmd, addr, next)
        addr = next
    kmm_point(KMM_POINT_ZAP_BEFORE_FLUSH)           # emulator-only interleaving point
    tlb_end_vma(tlb, vma)


cdef void unmap_vmas(mmu_gather *tlb, vm_area_struct *vma, unsigned long start_addr,
                     unsigned long end_addr) noexcept nogil:
    """mm/memory.c: zap every VMA from vma on that overlaps [start, end)."""
    cdef unsigned long start, end
    while vma != NULL and vma.vm_start < end_addr:
        start = max(vma.vm_start, start_addr)
        end = min(vma.vm_end, end_addr)
        if start < end:
            unmap_page_range(tlb, vma, start, end)
        vma = vma.vm_next


cdef inline void free_pte_range(mmu_gather *tlb, unsigned long *pmd, unsigned long addr) noexcept nogil:
    """mm/memory.c: unhook the PTE table under pmd; the gather frees it
    after the flush."""
    cdef page *token = entry_page(pmd[0])
    pmd[0] = 0                                   # pmd_clear()
    pte_free_tlb(tlb, token, addr)


cdef inline void free_pmd_range(mmu_gather *tlb, unsigned long *pud, unsigned long addr,
                                unsigned long end, unsigned long floor,
                                unsigned long ceiling) noexcept nogil:
    """mm/memory.c: free the PTE tables of [addr, end), then the PMD table
    itself if no mapping outside [floor, ceiling) can share its 1G span."""
    cdef unsigned long start = addr
    cdef unsigned long next
    cdef unsigned long *pmd
    cdef page *table
    while True:
        next = pmd_addr_end(addr, end)
        pmd = pmd_offset(pud, addr)
        if not pmd_none(pmd[0]):
            free_pte_range(tlb, pmd, addr)
        addr = next
        if addr == end:
            break
    start &= PUD_MASK
    if start < floor:
        return
    if ceiling:
        ceiling &= PUD_MASK
        if ceiling == 0:
            return
    if end - 1 > ceiling - 1:
        return
    table = entry_page(pud[0])
    pud[0] = 0                                   # pud_clear()
    pmd_free_tlb(tlb, table, start)


cdef inline void free_pud_range(mmu_gather *tlb, unsigned long *p4d, unsigned long addr,
                                unsigned long end, unsigned long floor,
                                unsigned long ceiling) noexcept nogil:
    """mm/memory.c: the same one level up.  With 4-level paging the p4d is
    folded into the pgd, so p4d is the PGD entry and its span is 512G."""
    cdef unsigned long start = addr
    cdef unsigned long next
    cdef unsigned long *pud
    cdef page *table
    while True:
        next = pud_addr_end(addr, end)
        pud = pud_offset(p4d, addr)
        if not pud_none(pud[0]):
            free_pmd_range(tlb, pud, addr, next, floor, ceiling)
        addr = next
        if addr == end:
            break
    start &= PGDIR_MASK                          # P4D_MASK
    if start < floor:
        return
    if ceiling:
        ceiling &= PGDIR_MASK
        if ceiling == 0:
            return
    if end - 1 > ceiling - 1:
        return
    table = entry_page(p4d[0])
    p4d[0] = 0                                   # p4d_clear(), i.e. the PGD entry
    pud_free_tlb(tlb, table, start)


cdef void free_pgd_range(mmu_gather *tlb, mm_struct *mm, unsigned long addr, unsigned long end,
                         unsigned long floor, unsigned long ceiling) noexcept nogil:
    """mm/memory.c: free the page tables covering [addr, end) that no
    mapping outside [floor, ceiling) can share (ceiling 0: no limit), at
    every level below the PGD.  free_p4d_range() is folded away (4-level
    paging), which leaves the PGD page itself to the mm."""
    cdef unsigned long next
    cdef unsigned long *pgd
    addr &= PMD_MASK
    if addr < floor:
        addr += PMD_SIZE
        if addr == 0:
            return
    if ceiling:
        ceiling &= PMD_MASK
        if ceiling == 0:
            return
    if end - 1 > ceiling - 1:
        end -= PMD_SIZE
    if addr > end - 1:
        return
    # tlb_change_page_size() does nothing on x86
    while True:
        next = pgd_addr_end(addr, end)
        pgd = pgd_offset(mm, addr)
        if not pgd_none(pgd[0]):
            free_pud_range(tlb, pgd, addr, next, floor, ceiling)
        addr = next
        if addr == end:
            break


cdef void _free_level(mm_struct *mm, unsigned long entry, int level) noexcept nogil:
    cdef page *table = pfn_to_page((entry & PTE_PFN_MASK) >> PAGE_SHIFT)
    cdef kmm_pt *t = page_pt(table)
    cdef int i
    if level > 1:
        for i in range(512):
            if t.ent[i]:
                _free_level(mm, t.ent[i], level - 1)
    pte_free(mm, table)


cdef void free_all_pgtables(mm_struct *mm) noexcept nogil:
    """Free every table of an mm whose mappings are all gone (exit_mmap)."""
    cdef kmm_pt *pgd = page_pt(mm.pgd)
    cdef int i
    for i in range(512):
        if pgd.ent[i]:
            _free_level(mm, pgd.ent[i], 3)
            pgd.ent[i] = 0
    pgd_free(mm, mm.pgd)
    mm.pgd = NULL


from kmm.linux.mm.rmap cimport flush_tlb_batched_pending
from kmm.linux.include_.kmm.machine cimport get_current
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.linux.include_.linux.sched cimport (TNF_NO_GROUP, TNF_SHARED, TNF_FAULT_LOCAL, TNF_MIGRATED,
                                       TNF_MIGRATE_FAIL)
from kmm.linux.include_.linux.vm_event_item cimport NUMA_HINT_FAULTS, NUMA_HINT_FAULTS_LOCAL
from kmm.linux.mm.memory_tiers cimport node_is_toptier
from kmm.linux.mm.mempolicy cimport mpol_misplaced
from kmm.linux.mm.migrate cimport migrate_misplaced_page
from kmm.linux.kernel.sched.fair cimport task_numa_fault

from kmm.linux.include_.linux.sched.sysctl cimport NUMA_BALANCING_MEMORY_TIERING


HUNKS = {"mm/memory.c#1": ("do_wp_page",)}


# ---------------------------------------------------------------------------
# fork(): copying a VMA's page tables (copy_page_range)

from kmm.linux.include_.linux.rmap cimport page_try_dup_anon_rmap, page_dup_file_rmap
from kmm.linux.include_.linux.swapops cimport (is_readable_migration_entry, make_readable_migration_entry,
                                         swp_offset, swp_entry_to_pte, pfn_swap_entry_to_page)
from kmm.linux.include_.linux.page_flags cimport ClearPageAnonExclusive


cdef inline bint vma_needs_copy(vm_area_struct *dst_vma, vm_area_struct *src_vma) noexcept nogil:
    """mm/memory.c: only VMAs with anonymous pages need their PTEs copied;
    a file VMA's PTEs are filled again by faults (no VM_PFNMAP/MIXEDMAP, no
    uffd-wp here)."""
    return src_vma.anon_vma != NULL


cdef inline int copy_nonpresent_pte(mm_struct *dst_mm, mm_struct *src_mm, unsigned long *dst_pte,
                                    unsigned long *src_pte, vm_area_struct *dst_vma,
                                    vm_area_struct *src_vma, unsigned long addr,
                                    long *rss) noexcept nogil:
    """mm/memory.c: the only non-present entries here are migration entries:
    count them, and make a writable one readable in both (COW)."""
    cdef pte_t orig_pte = ptep_get(src_pte)
    cdef pte_t pte = orig_pte
    cdef swp_entry_t entry = pte_to_swp_entry(orig_pte)
    cdef page *p
    if is_migration_entry(entry):
        p = pfn_swap_entry_to_page(entry)
        rss[MM_ANONPAGES if PageAnon(p) else MM_FILEPAGES] += 1
        if not is_readable_migration_entry(entry) and is_cow_mapping(dst_vma.vm_flags):
            entry = make_readable_migration_entry(swp_offset(entry))
            pte = swp_entry_to_pte(entry)
            set_pte_at(src_mm, addr, src_pte, pte)
    set_pte_at(dst_mm, addr, dst_pte, pte)
    oracle_pte_copy(dst_pte, src_pte)
    return 0


cdef inline int copy_present_pte(vm_area_struct *dst_vma, vm_area_struct *src_vma,
                                 unsigned long *dst_pte, unsigned long *src_pte,
                                 unsigned long addr, long *rss) noexcept nogil:
    """mm/memory.c: share the page with the child: an anonymous page
    becomes possibly shared, a file page gains a mapping; a COW mapping's
    writable PTE is write-protected in the parent and the child (the
    parent's stale writable TLB entries go at dup_mmap()'s
    flush_tlb_mm(oldmm)); the child's PTE is old, and clean if shared."""
    cdef mm_struct *src_mm = src_vma.vm_mm
    cdef unsigned long vm_flags = src_vma.vm_flags
    cdef pte_t pte = ptep_get(src_pte)
    cdef page *p = vm_normal_page(src_vma, addr, pte)
    if p != NULL and folio_test_anon(p):
        folio_get(p)
        page_try_dup_anon_rmap(p, False, src_vma)   # never -EBUSY: no DMA pins here
        rss[MM_ANONPAGES] += 1
    elif p != NULL:
        folio_get(p)
        page_dup_file_rmap(p, False)
        rss[MM_FILEPAGES] += 1
    if is_cow_mapping(vm_flags) and pte_write(pte):
        set_pte_at(src_mm, addr, src_pte, pte_wrprotect(ptep_get(src_pte)))   # ptep_set_wrprotect()
        pte = pte_wrprotect(pte)
    if vm_flags & VM_SHARED:
        pte = pte_mkclean(pte)
    pte = pte_mkold(pte)
    set_pte_at(dst_vma.vm_mm, addr, dst_pte, pte)
    oracle_pte_copy(dst_pte, src_pte)
    return 0


cdef int copy_pte_range(vm_area_struct *dst_vma, vm_area_struct *src_vma, unsigned long *src_pmd,
                        unsigned long addr, unsigned long end) noexcept nogil:
    """mm/memory.c: copy one PTE table's part [addr, end) into the child
    (no flush_tlb_batched_pending() here: fork() flushes the whole parent
    mm at its end).  Returns 0 or -ENOMEM."""
    cdef mm_struct *dst_mm = dst_vma.vm_mm
    cdef mm_struct *src_mm = src_vma.vm_mm
    cdef unsigned long *src_pte
    cdef unsigned long *dst_pte
    cdef pte_t ptent
    cdef long rss[4]                    # NR_MM_COUNTERS
    cdef int i
    for i in range(4):
        rss[i] = 0
    while addr != end:
        src_pte = pte_offset_map(src_pmd, addr)
        ptent = ptep_get(src_pte)
        if not pte_none(ptent):
            dst_pte = pte_alloc_walk(dst_mm, addr)
            if dst_pte == NULL:
                return -ENOMEM
            if not pte_present(ptent):
                copy_nonpresent_pte(dst_mm, src_mm, dst_pte, src_pte, dst_vma, src_vma, addr, rss)
            else:
                copy_present_pte(dst_vma, src_vma, dst_pte, src_pte, addr, rss)
        addr += 4096
    for i in range(4):
        dst_mm.rss_stat[i] += rss[i]    # add_mm_rss_vec()
    return 0


cdef int copy_page_range(vm_area_struct *dst_vma, vm_area_struct *src_vma) noexcept nogil:
    """mm/memory.c: copy the page tables of src_vma into dst_vma (fork).
    No huge pages, hugetlb, PFN maps or mmu notifiers; the kernel's
    write_protect_seq only matters to GUP-fast, which is not modelled.
    Returns 0 or -ENOMEM."""
    cdef unsigned long addr = src_vma.vm_start
    cdef unsigned long end = src_vma.vm_end
    cdef unsigned long next
    cdef unsigned long *pmd
    cdef int ret
    if not vma_needs_copy(dst_vma, src_vma):
        return 0
    while addr < end:
        next = (addr + PMD_SIZE) & PMD_MASK
        if next > end or next == 0:
            next = end
        pmd = walk_pmd(src_vma.vm_mm, addr)
        if pmd != NULL and not pmd_none(pmd[0]):
            ret = copy_pte_range(dst_vma, src_vma, pmd, addr, next)
            if ret:
                return ret
        addr = next
    return 0


# ---------------------------------------------------------------------------
# Truncation: unmapping a file range from every VMA mapping it

from kmm.linux.include_.linux.list cimport list_head
from kmm.linux.mm.mmu_gather cimport tlb_gather_mmu, tlb_finish_mmu


cdef inline vm_area_struct *_vma_from_shared(list_head *p) noexcept nogil:
    return <vm_area_struct *>(<char *>p - <size_t>&(<vm_area_struct *>NULL).shared)


cdef void zap_page_range_single(vm_area_struct *vma, unsigned long address,
                                unsigned long size) noexcept nogil:
    """mm/memory.c: zap [address, address + size) of one VMA under its own
    mmu_gather (flush_tlb_batched_pending() in zap_pte_range, the range's
    flush at tlb_end_vma(), pages freed at tlb_finish_mmu())."""
    cdef mmu_gather tlb
    tlb_gather_mmu(&tlb, vma.vm_mm)
    unmap_page_range(&tlb, vma, address, address + size)     # unmap_single_vma()
    tlb_finish_mmu(&tlb)


cdef void unmap_mapping_pages(address_space *mapping, unsigned long start, unsigned long nr,
                              bint even_cows) noexcept nogil:
    """mm/memory.c: zap the pages [start, start + nr) of the file in every
    VMA that maps them (the kernel walks an interval tree, the emulator
    the i_mmap list).  even_cows: private COW copies go too (always the
    case here: zap_pte_range takes no zap_details)."""
    cdef unsigned long first_index = start
    cdef unsigned long last_index = start + nr - 1
    cdef unsigned long vba, vea, zba, zea
    cdef list_head *pos
    cdef list_head *nxt
    cdef vm_area_struct *vma
    if last_index < first_index:
        last_index = <unsigned long>-1
    pos = mapping.i_mmap.next
    while pos != &mapping.i_mmap:
        nxt = pos.next
        vma = _vma_from_shared(pos)
        vba = vma.vm_pgoff
        vea = vba + ((vma.vm_end - vma.vm_start) >> 12) - 1
        if vba <= last_index and vea >= first_index:
            zba = max(first_index, vba)
            zea = min(last_index, vea)
            zap_page_range_single(vma, ((zba - vba) << 12) + vma.vm_start,
                                  (zea - zba + 1) << 12)
        pos = nxt


cdef void unmap_mapping_range(address_space *mapping, unsigned long holebegin,
                              unsigned long holelen, int even_cows) noexcept nogil:
    """mm/memory.c: unmap the byte range [holebegin, holebegin + holelen)
    of the file from every process (holelen 0: to the end of the file)."""
    cdef unsigned long hba = holebegin >> 12
    cdef unsigned long hlen = (holelen + 4095) >> 12
    unmap_mapping_pages(mapping, hba, hlen, even_cows != 0)
