"""Mirrors mm/mprotect.c: changing the protection of a range (mprotect(2))
and the PTE walk it shares with NUMA hinting (change_protection with
MM_CP_PROT_NUMA, called by change_prot_numa in kmm/linux/mm/mempolicy.pyx).

Every PTE change goes through one mmu_gather: change_pte_range records the
address of each PTE whose old value a TLB may still hold in a way that
matters (pte_needs_flush), and x86 flushes that range at the end of each
VMA (tlb_end_vma), so the 33-page ceiling applies per VMA.

Not modelled: huge pages (no PMD-level entries), hugetlb, userfaultfd
write-protection (MM_CP_UFFD_WP*), soft-dirty tracking, protection keys,
device-private entries, mmu notifiers and the VM_LOCKED populate.
"""

from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_PTE_SCAN
from kmm.linux.include_.uapi.asm_generic.errno_base cimport EACCES, EINVAL, ENOMEM
from kmm.linux.include_.kmm.machine cimport KMM, numa_node_id
from kmm.linux.include_.kmm.interleave cimport kmm_point, KMM_POINT_CHANGE_PROT_BEFORE_FLUSH
from kmm.linux.include_.linux.mm_types cimport page, mm_struct, vm_area_struct, pgprot_t
from kmm.linux.include_.linux.mm cimport (VM_WRITE, VM_SHARED, VM_ACCOUNT,
                                    VM_HUGETLB, VM_NORESERVE, VM_GROWSDOWN, VM_ACCESS_FLAGS,
                                    MM_CP_TRY_CHANGE_WRITABLE, MM_CP_PROT_NUMA,
                                    PageAnon, PageKsm, page_count, page_to_nid, is_cow_mapping,
                                    xchg_page_access_time)
from kmm.linux.include_.linux.mman cimport (PROT_GROWSDOWN, PROT_GROWSUP, calc_vm_prot_bits,
                                      arch_validate_prot)
from kmm.linux.include_.linux.mm_inline cimport folio_is_file_lru
from kmm.linux.include_.linux.page_flags cimport PageAnonExclusive, folio_test_dirty
from kmm.linux.include_.linux.nodemask cimport NUMA_NO_NODE
from kmm.linux.include_.linux.sched.sysctl cimport NUMA_BALANCING_NORMAL, NUMA_BALANCING_MEMORY_TIERING
from kmm.linux.include_.linux.pgtable cimport (PAGE_MASK, pgd_offset, pud_offset, pmd_offset,
                                         pte_offset_map, pgd_none, pud_none, pmd_none,
                                         pgd_addr_end, pud_addr_end, pmd_addr_end, ptep_get,
                                         set_pte_at, pte_same, ptep_modify_prot_start,
                                         ptep_modify_prot_commit)
from kmm.linux.include_.linux.swapops cimport (swp_entry_t, is_swap_pte, pte_to_swp_entry,
                                         swp_entry_to_pte, swp_offset,
                                         is_writable_migration_entry,
                                         make_readable_migration_entry,
                                         make_readable_exclusive_migration_entry,
                                         pfn_swap_entry_to_page)
from kmm.linux.include_.asm_generic.tlb cimport (mmu_gather, tlb_start_vma, tlb_end_vma,
                                           tlb_flush_pte_range)
from kmm.linux.arch.x86.include_.asm.pgtable cimport (pte_t, pte_present, pte_protnone, pte_write,
                                                pte_dirty, pte_modify, pte_mkwrite)
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport PAGE_NONE
from kmm.linux.arch.x86.include_.asm.tlbflush cimport pte_needs_flush
from kmm.linux.mm.memory cimport vm_normal_page, kmm_read_ahead_pte_pages
from kmm.linux.mm.memory_tiers cimport node_is_toptier
from kmm.linux.mm.mmap cimport (find_vma, vma_merge, __split_vma, vma_set_page_prot,
                          vma_wants_manual_pte_write_upgrade)
from kmm.linux.mm.mmu_gather cimport tlb_gather_mmu, tlb_finish_mmu
from kmm.linux.mm.rmap cimport flush_tlb_batched_pending
from kmm.linux.include_.linux.jiffies cimport jiffies, jiffies_to_msecs


cdef inline unsigned int jiffies_to_msecs_now() noexcept nogil:
    """jiffies_to_msecs(jiffies), from include/linux/jiffies.h (the same
    clock the promotion policy reads the stamp with)."""
    return jiffies_to_msecs(jiffies())


cdef bint can_change_pte_writable(vm_area_struct *vma, unsigned long addr, pte_t pte) noexcept nogil:
    """mm/mprotect.c: may this PTE of a writable VMA be made writable now,
    with no write fault?  Only where the write-fault handler would do
    exactly that under the PT lock: an exclusive anonymous page of a private
    mapping (no copy needed), or an already dirty PTE of a shared mapping
    (the file system was told at the first write)."""
    cdef page *p
    if not (vma.vm_flags & VM_WRITE):
        return False                    # WARN_ON_ONCE in the kernel
    if pte_protnone(pte):
        return False
    # no soft-dirty or uffd-wp tracking to preserve
    if not (vma.vm_flags & VM_SHARED):
        p = vm_normal_page(vma, addr, pte)
        return p != NULL and PageAnon(p) and PageAnonExclusive(p)
    return pte_dirty(pte)


cdef inline bint prot_numa_skip(vm_area_struct *vma, unsigned long addr, pte_t oldpte,
                                int target_node) noexcept nogil:
    """mm/mprotect.c: change_pte_range's prot_numa tests, in the kernel's
    order, gathered in one helper (each kernel `continue` is a True): true when
    a hinting fault on this present PTE would not help, so it is left
    alone.  A slow-tier page that is kept gets the scan time (ms) as its
    access time in memory-tiering mode."""
    cdef int mode = KMM().sysctl_numa_balancing_mode
    cdef page *p
    cdef int nid
    cdef bint toptier
    if pte_protnone(oldpte):
        return True                     # already hinting: avoid the flush
    p = vm_normal_page(vma, addr, oldpte)
    if p == NULL or PageKsm(p):         # zero page, KSM (no zone-device pages here)
        return True
    if is_cow_mapping(vma.vm_flags) and page_count(p) != 1:
        return True                     # copy-on-write page shared with another mapping
    if folio_is_file_lru(p) and folio_test_dirty(p):
        return True                     # async migration cannot move every dirty file page
    nid = page_to_nid(p)
    if target_node == nid:
        return True                     # single-threaded task already runs on its node
    toptier = node_is_toptier(nid)
    if not (mode & NUMA_BALANCING_NORMAL) and toptier:
        return True                     # tiering only: nothing to promote from the top tier
    if (mode & NUMA_BALANCING_MEMORY_TIERING) and not toptier:
        xchg_page_access_time(p, jiffies_to_msecs_now())
    return False


cdef long change_pte_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long *pmd,
                           unsigned long addr, unsigned long end, pgprot_t newprot,
                           unsigned long cp_flags) noexcept nogil:
    """mm/mprotect.c: apply newprot to the PTEs of [addr, end) in one table;
    returns how many entries changed.  With prot_numa (NUMA hinting) the
    entries a hinting fault would not help are left alone (prot_numa_skip).
    A changed PTE is added to the gather's flush range only if a TLB entry
    of the old value would now be wrong (pte_needs_flush)."""
    cdef long pages = 0
    cdef int target_node = NUMA_NO_NODE
    cdef bint prot_numa = (cp_flags & MM_CP_PROT_NUMA) != 0
    # emulator-only, for tests: kmm_debug_prot_numa_noskip makes prot_numa
    # change every present PTE (Machine._prot_numa(filters=False))
    cdef bint numa_skip = prot_numa and not KMM().kmm_debug_prot_numa_noskip
    cdef unsigned long *pte
    cdef pte_t oldpte, ptent, newpte
    cdef swp_entry_t entry
    # tlb_change_page_size() is empty on x86; the PT lock is implied
    # (mirrored code runs one operation at a time)
    if prot_numa and not (vma.vm_flags & VM_SHARED) and vma.vm_mm.mm_users == 1:
        target_node = numa_node_id()
    flush_tlb_batched_pending(vma.vm_mm)
    kmm_charge(KMM_COST_PTE_SCAN, (end - addr) >> 12)       # each entry is read
    if numa_skip:
        kmm_read_ahead_pte_pages(pmd, addr, end, False)    # host speed only
    while True:
        pte = pte_offset_map(pmd, addr)
        oldpte = ptep_get(pte)
        if pte_present(oldpte):
            if not (numa_skip and prot_numa_skip(vma, addr, oldpte, target_node)):
                oldpte = ptep_modify_prot_start(vma.vm_mm, addr, pte)
                ptent = pte_modify(oldpte, newprot)
                if (cp_flags & MM_CP_TRY_CHANGE_WRITABLE) and not pte_write(ptent) and \
                        can_change_pte_writable(vma, addr, ptent):
                    ptent = pte_mkwrite(ptent)
                ptep_modify_prot_commit(vma.vm_mm, addr, pte, oldpte, ptent)
                if pte_needs_flush(oldpte, ptent):
                    tlb_flush_pte_range(tlb, addr, 4096)
                pages += 1
        elif is_swap_pte(oldpte):
            # only migration entries exist here (no swap, no device memory,
            # no PTE markers); a writable one may not stay writable
            entry = pte_to_swp_entry(oldpte)
            if is_writable_migration_entry(entry):
                if PageAnon(pfn_swap_entry_to_page(entry)):
                    entry = make_readable_exclusive_migration_entry(swp_offset(entry))
                else:
                    entry = make_readable_migration_entry(swp_offset(entry))
                newpte = swp_entry_to_pte(entry)
            else:
                newpte = oldpte
            if not pte_same(oldpte, newpte):
                set_pte_at(vma.vm_mm, addr, pte, newpte)
                pages += 1
        # pte_none: only userfaultfd would install a marker
        addr += 4096
        if addr == end:
            break
    return pages


cdef inline long change_pmd_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long *pud,
                                  unsigned long addr, unsigned long end, pgprot_t newprot,
                                  unsigned long cp_flags) noexcept nogil:
    """mm/mprotect.c: the PMDs of [addr, end); no huge PMDs exist here."""
    cdef long pages = 0
    cdef unsigned long next
    cdef unsigned long *pmd
    while True:
        next = pmd_addr_end(addr, end)
        pmd = pmd_offset(pud, addr)
        if not pmd_none(pmd[0]):
            pages += change_pte_range(tlb, vma, pmd, addr, next, newprot, cp_flags)
        addr = next
        if addr == end:
            break
    return pages


cdef inline long change_pud_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long *p4d,
                                  unsigned long addr, unsigned long end, pgprot_t newprot,
                                  unsigned long cp_flags) noexcept nogil:
    """mm/mprotect.c (change_p4d_range is folded away with 4-level paging)."""
    cdef long pages = 0
    cdef unsigned long next
    cdef unsigned long *pud
    while True:
        next = pud_addr_end(addr, end)
        pud = pud_offset(p4d, addr)
        if not pud_none(pud[0]):
            pages += change_pmd_range(tlb, vma, pud, addr, next, newprot, cp_flags)
        addr = next
        if addr == end:
            break
    return pages


cdef long change_protection_range(mmu_gather *tlb, vm_area_struct *vma, unsigned long addr,
                                  unsigned long end, pgprot_t newprot,
                                  unsigned long cp_flags) noexcept nogil:
    """mm/mprotect.c: walk the VMA's part [addr, end); tlb_end_vma() flushes
    what changed (one flush_tlb_mm_range per VMA on x86)."""
    cdef mm_struct *mm = vma.vm_mm
    cdef long pages = 0
    cdef unsigned long next
    cdef unsigned long *pgd
    tlb_start_vma(tlb, vma)
    while True:
        next = pgd_addr_end(addr, end)
        pgd = pgd_offset(mm, addr)
        if not pgd_none(pgd[0]):
            pages += change_pud_range(tlb, vma, pgd, addr, next, newprot, cp_flags)
        addr = next
        if addr == end:
            break
    kmm_point(KMM_POINT_CHANGE_PROT_BEFORE_FLUSH)    # emulator-only interleaving point
    tlb_end_vma(tlb, vma)
    return pages


cdef long change_protection(mmu_gather *tlb, vm_area_struct *vma, unsigned long start,
                            unsigned long end, unsigned long cp_flags) noexcept nogil:
    """mm/mprotect.c: give [start, end) of vma the VMA's vm_page_prot, or
    PAGE_NONE for NUMA hinting.  Returns the number of PTEs changed."""
    cdef pgprot_t newprot = vma.vm_page_prot
    if cp_flags & MM_CP_PROT_NUMA:
        newprot = PAGE_NONE
    # no hugetlb VMAs
    return change_protection_range(tlb, vma, start, end, newprot, cp_flags)


cdef int mprotect_fixup(mmu_gather *tlb, vm_area_struct *vma, vm_area_struct **pprev,
                        unsigned long start, unsigned long end,
                        unsigned long newflags) noexcept nogil:
    """mm/mprotect.c: give [start, end), which lies inside vma, newflags:
    merge it into a neighbour with those flags if the offsets line up, else
    split vma at start and end; then update the PTEs.  *pprev becomes the
    VMA that now covers the range.  Returns 0 or -errno."""
    cdef mm_struct *mm = vma.vm_mm
    cdef unsigned long oldflags = vma.vm_flags
    cdef unsigned int mm_cp_flags = 0
    cdef unsigned long pgoff
    cdef vm_area_struct *merged
    cdef int error
    if newflags == oldflags:
        pprev[0] = vma
        return 0
    # (no VM_PFNMAP/VM_MIXEDMAP mappings: no PROT_NONE pfn checks)
    if newflags & VM_WRITE:
        # may_expand_vm() and the overcommit check always pass here
        if not (oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)):
            newflags |= VM_ACCOUNT
    pgoff = vma.vm_pgoff + ((start - vma.vm_start) >> 12)
    merged = vma_merge(mm, pprev[0], start, end, newflags, vma.anon_vma, vma.vm_file, pgoff)
    pprev[0] = merged
    if merged != NULL:
        vma = merged
    else:
        pprev[0] = vma
        if start != vma.vm_start:
            error = __split_vma(mm, vma, start, True)
            if error:
                return error
        if end != vma.vm_end:
            error = __split_vma(mm, vma, end, False)
            if error:
                return error
    vma.vm_flags = newflags
    if vma_wants_manual_pte_write_upgrade(vma):
        mm_cp_flags |= MM_CP_TRY_CHANGE_WRITABLE
    vma_set_page_prot(vma)
    change_protection(tlb, vma, start, end, mm_cp_flags)
    return 0


cdef int do_mprotect_pkey(mm_struct *mm, unsigned long start, unsigned long len,
                          unsigned long prot, int pkey) noexcept nogil:
    """mm/mprotect.c: the mprotect(2) core, on mm (the caller's
    current->mm) and run on the current CPU.  Every VMA of [start, end) is
    changed in turn under one mmu_gather; a hole in the range stops with
    -ENOMEM (the VMAs before it stay changed, as in the kernel), asking for
    an access a VMA may not have (e.g. PROT_WRITE on a read-only shared
    file mapping, which lacks VM_MAYWRITE) with -EACCES.  pkey must be -1
    (no protection keys)."""
    cdef unsigned long nstart, end, tmp, reqprot, newflags
    cdef vm_area_struct *vma
    cdef vm_area_struct *prev
    cdef mmu_gather tlb
    cdef int error
    cdef unsigned long grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(<unsigned long>(PROT_GROWSDOWN | PROT_GROWSUP))
    if grows == (PROT_GROWSDOWN | PROT_GROWSUP):
        return -EINVAL
    if start & ~PAGE_MASK:
        return -EINVAL
    if len == 0:
        return 0
    len = (len + 4095) & PAGE_MASK
    end = start + len
    if end <= start:
        return -ENOMEM
    if not arch_validate_prot(prot, start):
        return -EINVAL
    reqprot = prot
    if pkey != -1:
        return -EINVAL                      # no pkey can have been allocated
    vma = find_vma(mm, start)           # vma_find(): the first VMA below end
    if vma == NULL or vma.vm_start >= end:
        return -ENOMEM
    if grows & PROT_GROWSDOWN:
        # extend down to the VMA's start: only for a grow-down stack VMA,
        # which the emulator never creates
        start = vma.vm_start
        if not (vma.vm_flags & VM_GROWSDOWN):
            return -EINVAL
    else:
        if vma.vm_start > start:
            return -ENOMEM
        if grows & PROT_GROWSUP:
            return -EINVAL                  # x86 has no VM_GROWSUP
    prev = vma.vm_prev
    if start > vma.vm_start:
        prev = vma
    mm.kmm_mmap_write_locked = True     # mmap_write_lock_killable(): held through the walk
    tlb_gather_mmu(&tlb, mm)
    nstart = start
    tmp = vma.vm_start
    error = 0
    while vma != NULL and vma.vm_start < end:
        if vma.vm_start != tmp:
            error = -ENOMEM
            break
        # (no READ_IMPLIES_EXEC personality)
        newflags = calc_vm_prot_bits(prot, 0)
        newflags |= vma.vm_flags & ~(<unsigned long>VM_ACCESS_FLAGS)
        # each VM_MAY* bit is its VM_* bit shifted left by 4
        if (newflags & ~(newflags >> 4)) & VM_ACCESS_FLAGS:
            error = -EACCES
            break
        # (no memory-deny-write-execute, arch flag checks or LSM hooks)
        tmp = vma.vm_end
        if tmp > end:
            tmp = end
        error = mprotect_fixup(&tlb, vma, &prev, nstart, tmp, newflags)
        if error:
            break
        tmp = prev.vm_end               # vma_iter_end(): the end of the VMA now covering nstart
        nstart = tmp
        prot = reqprot
        vma = find_vma(mm, tmp)
    tlb_finish_mmu(&tlb)
    mm.kmm_mmap_write_locked = False    # mmap_write_unlock()
    if not error and tmp < end:
        error = -ENOMEM
    return error
