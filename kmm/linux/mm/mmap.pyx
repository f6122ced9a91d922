"""Mirrors mm/mmap.c: creating, merging, splitting and removing VMAs, and
tearing down an address range (munmap) or a whole mm (exit_mmap).

VMAs are a sorted doubly linked list (v6.6 uses a maple tree).  New mappings
are placed top-down below mm->mmap_base without randomisation, so runs are
reproducible; adjacent compatible mappings merge as the kernel's do.
"""

from kmm.linux.include_.uapi.asm_generic.errno_base cimport EINVAL, ENOMEM
from libc.stdlib cimport calloc, free
from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.kmm.interleave cimport kmm_point, KMM_POINT_UNMAP_BEFORE_FINISH
from kmm.linux.include_.linux.list cimport (list_head, INIT_LIST_HEAD, list_add_tail, list_del,
                                      list_empty)
from kmm.linux.include_.linux.mm_types cimport (mm_struct, vm_area_struct, file, address_space,
                                          anon_vma, anon_vma_chain)
from kmm.linux.include_.linux.mm cimport (VM_READ, VM_WRITE, VM_EXEC, VM_SHARED, VM_MAYREAD,
                                    VM_MAYWRITE, VM_MAYEXEC, VM_MAYSHARE, VM_ACCOUNT,
                                    VM_NORESERVE, VM_SPECIAL, VM_ACCESS_FLAGS, vma_pages)
from kmm.linux.include_.linux.mm_types cimport pgprot_t
from kmm.linux.include_.asm_generic.tlb cimport mmu_gather
from kmm.linux.include_.linux.pgtable cimport TASK_SIZE_MAX
from kmm.linux.arch.x86.mm.pgprot cimport vm_get_page_prot
from kmm.linux.mm.memory cimport unmap_vmas, free_pgd_range
from kmm.linux.mm.mmu_gather cimport tlb_gather_mmu, tlb_gather_mmu_fullmm, tlb_finish_mmu
from kmm.linux.mm.rmap cimport unlink_anon_vmas, anon_vma_clone


cdef vm_area_struct *find_vma(mm_struct *mm, unsigned long addr) noexcept nogil:
    """The first VMA ending above addr (it may start above it too)."""
    cdef vm_area_struct *vma = mm.mmap
    while vma != NULL:
        if vma.vm_end > addr:
            return vma
        vma = vma.vm_next
    return NULL


cdef vm_area_struct *vma_lookup(mm_struct *mm, unsigned long addr) noexcept nogil:
    """The VMA containing addr, or NULL."""
    cdef vm_area_struct *vma = find_vma(mm, addr)
    if vma != NULL and vma.vm_start <= addr:
        return vma
    return NULL


cdef vm_area_struct *vm_area_alloc(mm_struct *mm) noexcept nogil:
    """kernel/fork.c"""
    cdef vm_area_struct *vma = <vm_area_struct *>calloc(1, sizeof(vm_area_struct))
    if vma == NULL:
        return NULL
    vma.vm_mm = mm
    INIT_LIST_HEAD(&vma.anon_vma_chain)
    INIT_LIST_HEAD(&vma.shared)
    return vma


cdef bint vma_wants_writenotify(vm_area_struct *vma, pgprot_t vm_page_prot) noexcept nogil:
    """mm/mmap.c: must writes to this shared writable mapping fault first?
    Every emulated file has ->page_mkwrite (filemap_page_mkwrite, for dirty
    tracking), and shared anonymous memory is not modelled, so: shared,
    writable and file-backed.  (No soft-dirty or uffd-wp tracking, no
    VM_PFNMAP mappings.)"""
    if (vma.vm_flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED):
        return False
    return vma.vm_file != NULL


cdef void vma_set_page_prot(vm_area_struct *vma) noexcept nogil:
    """mm/mmap.c: Shared writable file mappings are write-notified: their
    PTEs start read-only so the first write reaches ->page_mkwrite (dirty
    tracking)."""
    cdef unsigned long vm_flags = vma.vm_flags
    if vma_wants_writenotify(vma, vm_get_page_prot(vm_flags)):
        vm_flags &= ~VM_SHARED
    vma.vm_page_prot = vm_get_page_prot(vm_flags)


cdef void vma_link(mm_struct *mm, vm_area_struct *vma) noexcept nogil:
    """Insert into the sorted VMA list (and the file's i_mmap)."""
    cdef vm_area_struct *prev = NULL
    cdef vm_area_struct *next = mm.mmap
    while next != NULL and next.vm_start < vma.vm_start:
        prev = next
        next = next.vm_next
    vma.vm_prev = prev
    vma.vm_next = next
    if prev != NULL:
        prev.vm_next = vma
    else:
        mm.mmap = vma
    if next != NULL:
        next.vm_prev = vma
    mm.map_count += 1
    if vma.vm_file != NULL:
        list_add_tail(&vma.shared, &vma.vm_file.f_mapping.i_mmap)


cdef void vma_unlink(mm_struct *mm, vm_area_struct *vma) noexcept nogil:
    if vma.vm_prev != NULL:
        vma.vm_prev.vm_next = vma.vm_next
    else:
        mm.mmap = vma.vm_next
    if vma.vm_next != NULL:
        vma.vm_next.vm_prev = vma.vm_prev
    vma.vm_next = NULL
    vma.vm_prev = NULL
    mm.map_count -= 1
    if vma.vm_file != NULL and vma.shared.next != NULL:
        list_del(&vma.shared)
        INIT_LIST_HEAD(&vma.shared)


cdef void remove_vma(vm_area_struct *vma) noexcept nogil:
    """mm/mmap.c: free a VMA already unlinked from its mm."""
    unlink_anon_vmas(vma)
    free(vma)


cdef inline bint is_mergeable_anon_vma(anon_vma *a, anon_vma *b, vm_area_struct *vma) noexcept nogil:
    """mm/mmap.c: one side without an anon_vma may take the other's, unless
    vma's chain links it to several (a VMA forked from a parent's); else
    they must be the same."""
    cdef list_head *chain
    if a == NULL or b == NULL:
        if vma == NULL:
            return True
        chain = &vma.anon_vma_chain
        if not list_empty(chain) and chain.next == chain.prev:     # list_is_singular()
            return True
    return a == b


cdef inline bint can_vma_merge(vm_area_struct *vma, unsigned long vm_flags, file *f,
                               anon_vma *av) noexcept nogil:
    return vma.vm_flags == vm_flags and vma.vm_file == f and is_mergeable_anon_vma(vma.anon_vma, av, NULL)


cdef inline bint is_mergeable_vma(vm_area_struct *vma, file *f, unsigned long vm_flags) noexcept nogil:
    """mm/mmap.c: same flags and file (no vm_ops->close, userfaultfd
    contexts or anon names in the emulator; VM_SOFTDIRTY is not modelled)."""
    return vma.vm_flags == vm_flags and vma.vm_file == f


cdef inline bint can_vma_merge_before(vm_area_struct *vma, unsigned long vm_flags, anon_vma *av,
                                      file *f, unsigned long vm_pgoff) noexcept nogil:
    """mm/mmap.c: may [.., vm_pgoff) go just below vma (same offset run)?"""
    return (is_mergeable_vma(vma, f, vm_flags) and is_mergeable_anon_vma(av, vma.anon_vma, vma)
            and vma.vm_pgoff == vm_pgoff)


cdef inline bint can_vma_merge_after(vm_area_struct *vma, unsigned long vm_flags, anon_vma *av,
                                     file *f, unsigned long vm_pgoff) noexcept nogil:
    """mm/mmap.c: may a range starting at vm_pgoff go just above vma?"""
    return (is_mergeable_vma(vma, f, vm_flags) and is_mergeable_anon_vma(av, vma.anon_vma, vma)
            and vma.vm_pgoff + vma_pages(vma) == vm_pgoff)


cdef inline int dup_anon_vma(vm_area_struct *dst, vm_area_struct *src) noexcept nogil:
    """mm/mmap.c: dst takes over src's pages, so it must be linked to src's
    anon_vma if it has none yet."""
    if src.anon_vma != NULL and dst.anon_vma == NULL:
        return anon_vma_clone(dst, src)
    return 0


cdef inline bint anon_vma_compatible(vm_area_struct *a, vm_area_struct *b) noexcept nogil:
    """mm/mmap.c: adjacent, same file, flags differing only in what mprotect
    changes, and offsets that continue: mprotect could merge them later."""
    return (a.vm_end == b.vm_start and a.vm_file == b.vm_file
            and not ((a.vm_flags ^ b.vm_flags) & ~(<unsigned long>VM_ACCESS_FLAGS))
            and b.vm_pgoff == a.vm_pgoff + ((b.vm_start - a.vm_start) >> 12))


cdef inline anon_vma *reusable_anon_vma(vm_area_struct *old, vm_area_struct *a,
                                        vm_area_struct *b) noexcept nogil:
    """mm/mmap.c: old's anon_vma, if a and b are compatible and old is linked
    to that one anon_vma only (not a forked child's VMA)."""
    cdef list_head *chain = &old.anon_vma_chain
    if anon_vma_compatible(a, b):
        if old.anon_vma != NULL and not list_empty(chain) and chain.next == chain.prev:
            return old.anon_vma
    return NULL


cdef anon_vma *find_mergeable_anon_vma(vm_area_struct *vma) noexcept nogil:
    """mm/mmap.c: an anon_vma of a neighbour (the next VMA first, then the
    previous one) that vma could share, so that an mprotect which later
    gives them the same flags can merge them again.  NULL if none."""
    cdef anon_vma *av = NULL
    cdef vm_area_struct *next = vma.vm_next
    cdef vm_area_struct *prev = vma.vm_prev
    if next != NULL and next.vm_start == vma.vm_end:
        av = reusable_anon_vma(next, vma, next)
        if av != NULL:
            return av
    if prev != NULL:
        av = reusable_anon_vma(prev, prev, vma)
    return av


cdef vm_area_struct *find_vma_intersection(mm_struct *mm, unsigned long start,
                                           unsigned long end) noexcept nogil:
    """mm/mmap.c: the first VMA overlapping [start, end), or NULL."""
    cdef vm_area_struct *vma
    if start >= end:
        return NULL
    vma = find_vma(mm, start)
    if vma != NULL and vma.vm_start < end:
        return vma
    return NULL


cdef vm_area_struct *vma_merge(mm_struct *mm, vm_area_struct *prev, unsigned long addr,
                               unsigned long end, unsigned long vm_flags, anon_vma *av,
                               file *f, unsigned long pgoff) noexcept nogil:
    """mm/mmap.c: can [addr, end), about to get vm_flags, join prev (ending
    at addr) and/or the VMA starting at end?  For mprotect the range is
    already mapped: by curr, which starts at addr (cases 5-8), or as the
    tail of prev (case 4).  Returns the VMA now covering the range, or NULL
    when nothing merges (the caller then splits).  Mempolicies, vm_ops and
    userfaultfd contexts do not exist here."""
    cdef vm_area_struct *curr
    cdef vm_area_struct *next
    cdef vm_area_struct *res
    cdef vm_area_struct *vma
    cdef vm_area_struct *adjust = NULL
    cdef vm_area_struct *remove = NULL
    cdef vm_area_struct *remove2 = NULL
    cdef bint merge_prev = False
    cdef bint merge_next = False
    cdef unsigned long vma_start = addr
    cdef unsigned long vma_end = end
    cdef unsigned long vma_pgoff = pgoff
    cdef unsigned long pglen = (end - addr) >> 12
    cdef long adj_start = 0
    cdef int err = 0
    if vm_flags & VM_SPECIAL:
        return NULL
    # does the range overlap an existing VMA (cases 5 - 8)?
    curr = find_vma_intersection(mm, prev.vm_end if prev != NULL else 0, end)
    if curr == NULL or end == curr.vm_end:
        next = vma_lookup(mm, end)
    else:
        next = NULL                 # case 5: curr continues past end
    if prev != NULL:
        vma_start = prev.vm_start
        vma_pgoff = prev.vm_pgoff
        if addr == prev.vm_end and can_vma_merge_after(prev, vm_flags, av, f, pgoff):
            merge_prev = True
    if next != NULL and can_vma_merge_before(next, vm_flags, av, f, pgoff + pglen):
        merge_next = True
    if not merge_prev and not merge_next:
        return NULL
    res = vma = prev
    if merge_prev and merge_next and is_mergeable_anon_vma(prev.anon_vma, next.anon_vma, NULL):
        remove = next                       # case 1: prev grows over the hole and next
        vma_end = next.vm_end
        err = dup_anon_vma(prev, next)
        if curr != NULL:                    # case 6: ... over curr and next
            remove = curr
            remove2 = next
            if next.anon_vma == NULL:
                err = dup_anon_vma(prev, curr)
    elif merge_prev:                        # case 2: prev grows
        if curr != NULL:
            if end == curr.vm_end:          # case 7: over all of curr
                remove = curr
            else:                           # case 5: over curr's head
                adjust = curr
                adj_start = <long>(end - curr.vm_start)
            if not err:
                err = dup_anon_vma(prev, curr)
    else:                                   # merge_next
        res = next
        if prev != NULL and addr < prev.vm_end:     # case 4: next grows down over prev's tail
            vma_end = addr
            adjust = next
            adj_start = -<long>(prev.vm_end - addr)
            err = dup_anon_vma(next, prev)
        else:                               # case 3: next grows down (8: over curr)
            vma = next
            vma_start = addr
            vma_end = next.vm_end
            vma_pgoff = next.vm_pgoff - pglen
            if curr != NULL:
                vma_pgoff = curr.vm_pgoff
                remove = curr
                err = dup_anon_vma(next, curr)
    if err:
        return NULL
    vma.vm_start = vma_start
    vma.vm_end = vma_end
    vma.vm_pgoff = vma_pgoff
    if adj_start:
        adjust.vm_start += adj_start
        adjust.vm_pgoff += adj_start >> 12
    # vma_complete(): the VMAs swallowed go away
    if remove != NULL:
        vma_unlink(mm, remove)
        remove_vma(remove)
    if remove2 != NULL:
        vma_unlink(mm, remove2)
        remove_vma(remove2)
    return res


cdef unsigned long get_unmapped_area(mm_struct *mm, unsigned long len) noexcept nogil:
    """arch_get_unmapped_area_topdown(): the highest gap below mmap_base
    that fits len.  Returns -ENOMEM (-12) if none."""
    cdef unsigned long high = mm.mmap_base
    cdef vm_area_struct *vma = mm.mmap
    cdef vm_area_struct *last = NULL
    cdef unsigned long gap_end
    # walk from the top: find the last VMA below mmap_base
    while vma != NULL and vma.vm_start < mm.mmap_base:
        last = vma
        vma = vma.vm_next
    gap_end = high
    vma = last
    while True:
        if vma == NULL:
            if gap_end >= len + 0x10000:
                return gap_end - len
            return <unsigned long>-ENOMEM
        if vma.vm_end <= gap_end and gap_end - vma.vm_end >= len:
            return gap_end - len
        if vma.vm_start < gap_end:
            gap_end = vma.vm_start
        vma = vma.vm_prev


cdef unsigned long mmap_region(mm_struct *mm, file *f, unsigned long addr, unsigned long len,
                               unsigned long vm_flags, unsigned long pgoff) noexcept nogil:
    """mm/mmap.c: map [addr, addr+len), expanding a neighbour when it is
    compatible (same flags, file and contiguous offset) as vma_merge does."""
    cdef vm_area_struct *prev = NULL
    cdef vm_area_struct *next = mm.mmap
    cdef vm_area_struct *vma
    cdef unsigned long end = addr + len
    cdef unsigned long pglen = len >> 12
    # accountable_mapping(): a private writable mapping is charged to the
    # overcommit accounting and marked VM_ACCOUNT (mprotect then neither
    # charges it again nor sets a flag that would stop it merging back)
    if (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE:
        vm_flags |= VM_ACCOUNT
    while next != NULL and next.vm_start < addr:
        prev = next
        next = next.vm_next
    if prev != NULL and prev.vm_end == addr and can_vma_merge(prev, vm_flags, f, NULL) and \
            prev.vm_pgoff + vma_pages(prev) == pgoff:
        prev.vm_end = end
        if next != NULL and next.vm_start == end and can_vma_merge(next, vm_flags, f, prev.anon_vma) \
                and next.anon_vma == NULL and pgoff + pglen == next.vm_pgoff:
            prev.vm_end = next.vm_end
            vma_unlink(mm, next)
            remove_vma(next)
        return addr
    if next != NULL and next.vm_start == end and can_vma_merge(next, vm_flags, f, NULL) and \
            pgoff + pglen == next.vm_pgoff:
        next.vm_start = addr
        next.vm_pgoff = pgoff
        return addr
    vma = vm_area_alloc(mm)
    if vma == NULL:
        return <unsigned long>-ENOMEM
    vma.vm_start = addr
    vma.vm_end = end
    vma.vm_flags = vm_flags
    vma.vm_pgoff = pgoff
    vma.vm_file = f
    vma.numab_state.next_scan = 0
    vma_set_page_prot(vma)
    vma_link(mm, vma)
    return addr


cdef unsigned long do_mmap(mm_struct *mm, file *f, unsigned long len, unsigned long prot,
                           unsigned long flags, unsigned long pgoff) noexcept nogil:
    """mm/mmap.c: the mmap(2) core for the emulator's mappings (anonymous
    private, file private, file shared).  Returns the address or -errno."""
    cdef unsigned long vm_flags = 0
    cdef unsigned long addr
    len = (len + 4095) & ~(<unsigned long>4095)
    if len == 0:
        return <unsigned long>-EINVAL
    if prot & PROT_READ:
        vm_flags |= VM_READ
    if prot & PROT_WRITE:
        vm_flags |= VM_WRITE
    if prot & PROT_EXEC:
        vm_flags |= VM_EXEC
    vm_flags |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    if flags & MAP_SHARED:
        if f == NULL:
            return <unsigned long>-EINVAL          # shared anonymous memory is shmem: not modelled
        vm_flags |= VM_SHARED | VM_MAYSHARE
        if not (f.f_mode & FMODE_WRITE):
            vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
    addr = get_unmapped_area(mm, len)
    if addr >= <unsigned long>-4095:
        return addr
    if f == NULL:
        pgoff = addr >> 12
    return mmap_region(mm, f, addr, len, vm_flags, pgoff)


cdef int __split_vma(mm_struct *mm, vm_area_struct *vma, unsigned long addr, bint new_below) noexcept nogil:
    """mm/mmap.c: cut vma at addr into two VMAs sharing its anon_vma."""
    cdef vm_area_struct *new = vm_area_alloc(mm)
    if new == NULL:
        return -ENOMEM
    new.vm_flags = vma.vm_flags
    new.vm_page_prot = vma.vm_page_prot
    new.vm_file = vma.vm_file
    new.numab_state = vma.numab_state
    if new_below:
        new.vm_start = vma.vm_start
        new.vm_end = addr
        new.vm_pgoff = vma.vm_pgoff
        vma.vm_pgoff += (addr - vma.vm_start) >> 12
        vma.vm_start = addr
    else:
        new.vm_start = addr
        new.vm_end = vma.vm_end
        new.vm_pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> 12)
        vma.vm_end = addr
    if anon_vma_clone(new, vma):
        free(new)
        return -ENOMEM
    vma_link(mm, new)
    return 0


cdef void unmap_region(mm_struct *mm, vm_area_struct *vma, vm_area_struct *prev,
                       vm_area_struct *next, unsigned long start, unsigned long end) noexcept nogil:
    """mm/mmap.c: zap the detached VMAs' pages and free their page tables
    in one mmu_gather."""
    cdef mmu_gather tlb
    tlb_gather_mmu(&tlb, mm)
    unmap_vmas(&tlb, vma, start, end)
    free_pgd_range(&tlb, mm, start, end, prev.vm_end if prev != NULL else 0,
                   next.vm_start if next != NULL else 0)
    kmm_point(KMM_POINT_UNMAP_BEFORE_FINISH)        # emulator-only interleaving point
    tlb_finish_mmu(&tlb)


cdef int do_vmi_munmap(mm_struct *mm, unsigned long start, unsigned long len) noexcept nogil:
    """mm/mmap.c: munmap(2): split the VMAs at the range's ends, detach the
    ones inside, zap and free them.  Returns 0 or -errno."""
    cdef unsigned long end
    cdef vm_area_struct *vma
    cdef vm_area_struct *prev
    cdef vm_area_struct *next
    cdef vm_area_struct *first
    cdef vm_area_struct *last
    cdef vm_area_struct *v
    if start & 4095 or start >= TASK_SIZE_MAX:
        return -EINVAL
    len = (len + 4095) & ~(<unsigned long>4095)
    if len == 0 or start + len > TASK_SIZE_MAX:
        return -EINVAL
    end = start + len
    vma = find_vma(mm, start)
    if vma == NULL or vma.vm_start >= end:
        return 0
    if vma.vm_start < start:
        if __split_vma(mm, vma, start, True):
            return -ENOMEM
    last = find_vma(mm, end)
    if last != NULL and last.vm_start < end:
        if __split_vma(mm, last, end, True):
            return -ENOMEM
    first = find_vma(mm, start)
    prev = first.vm_prev
    # detach [first, ...) up to end into a private chain
    next = first
    while next != NULL and next.vm_start < end:
        next = next.vm_next
    # unlink them from the mm but keep their own next pointers for unmap_vmas
    if prev != NULL:
        prev.vm_next = next
    else:
        mm.mmap = next
    if next != NULL:
        next.vm_prev = prev
    v = first
    while v != NULL and v != next:
        last = v.vm_next
        mm.map_count -= 1
        if v.vm_file != NULL and v.shared.next != NULL:
            list_del(&v.shared)
            INIT_LIST_HEAD(&v.shared)
        if last == next:
            v.vm_next = NULL
            last = NULL
        v = last
    unmap_region(mm, first, prev, next, start, end)
    v = first
    while v != NULL:
        last = v.vm_next
        remove_vma(v)
        v = last
    return 0


cdef void exit_mmap(mm_struct *mm) noexcept nogil:
    """mm/mmap.c: tear down every mapping of a dying mm (full-mm flush)."""
    cdef mmu_gather tlb
    cdef vm_area_struct *vma = mm.mmap
    cdef vm_area_struct *next
    if vma == NULL:
        return
    tlb_gather_mmu_fullmm(&tlb, mm)
    unmap_vmas(&tlb, vma, 0, <unsigned long>-1)
    tlb_finish_mmu(&tlb)
    while vma != NULL:
        next = vma.vm_next
        if vma.vm_file != NULL and vma.shared.next != NULL:
            list_del(&vma.shared)
        remove_vma(vma)
        vma = next
    mm.mmap = NULL
    mm.map_count = 0
