# Mirrors include/linux/rmap.h: rmap flags and the try_to_unmap/try_to_migrate
# flags.  struct anon_vma and anon_vma_chain are in mm_types.pxd (Cython cannot
# forward-declare across .pxd files); the functions are in kmm/linux/mm/rmap.pyx.

cdef enum:
    RMAP_NONE = 0
    RMAP_EXCLUSIVE = 1 << 0
    RMAP_COMPOUND = 1 << 1

cdef enum:  # enum ttu_flags
    TTU_SPLIT_HUGE_PMD = 0x4
    TTU_IGNORE_MLOCK = 0x8
    TTU_SYNC = 0x10
    TTU_HWPOISON = 0x20
    TTU_BATCH_FLUSH = 0x40
    TTU_RMAP_LOCKED = 0x80


# ---------------------------------------------------------------------------
# The reverse-map walk (struct rmap_walk_control, struct
# page_vma_mapped_walk) and the static inlines of rmap.h that unmapping
# and migration use.

from kmm.linux.include_.uapi.asm_generic.errno_base cimport EBUSY
from kmm.linux.include_.linux.mm_types cimport page, folio, vm_area_struct, anon_vma
from kmm.linux.include_.linux.mm cimport PageAnon, folio_pfn, folio_nr_pages, folio_maybe_dma_pinned
from kmm.linux.include_.linux.page_flags cimport PageAnonExclusive, ClearPageAnonExclusive

cdef struct rmap_walk_control:
    void *arg
    # one mapping of the folio: return false to stop the walk
    bint (*rmap_one)(folio *f, vm_area_struct *vma, unsigned long addr, void *arg) noexcept nogil
    # stop once this says the work is done (e.g. the folio is not mapped any more)
    bint (*done)(folio *f) noexcept nogil
    # skip a VMA
    bint (*invalid_vma)(vm_area_struct *vma, void *arg) noexcept nogil
    # the emulator takes no rmap locks, so try_lock never finds one contended
    bint try_lock
    bint contended

cdef enum:
    PVMW_SYNC = 1 << 0           # wait for the PTL even when the PTE looks unmapped
    PVMW_MIGRATION = 1 << 1      # look for migration entries, not present PTEs

# struct page_vma_mapped_walk: Cython has one namespace for types and
# functions, so the struct carries a suffix next to the function of the
# same name (kmm/linux/mm/rmap.pyx).
cdef struct page_vma_mapped_walk_s:
    unsigned long pfn
    unsigned long nr_pages
    unsigned long pgoff
    vm_area_struct *vma
    unsigned long address
    unsigned long *pmd
    unsigned long *pte           # the PTE found (NULL before the first and after the last)
    unsigned int flags


cdef inline void DEFINE_FOLIO_VMA_WALK(page_vma_mapped_walk_s *pvmw, folio *f, vm_area_struct *vma,
                                       unsigned long address, unsigned int flags) noexcept nogil:
    """include/linux/rmap.h (a macro): a walk for folio's mappings in vma."""
    pvmw.pfn = folio_pfn(f)
    pvmw.nr_pages = folio_nr_pages(f)
    pvmw.pgoff = f.index
    pvmw.vma = vma
    pvmw.address = address
    pvmw.pmd = NULL
    pvmw.pte = NULL
    pvmw.flags = flags


cdef inline void page_vma_mapped_walk_done(page_vma_mapped_walk_s *pvmw) noexcept nogil:
    """include/linux/rmap.h: end a walk early (the kernel drops the PTL)."""
    pvmw.pte = NULL
    pvmw.pmd = NULL


cdef inline int page_try_share_anon_rmap(page *p) noexcept nogil:
    """include/linux/rmap.h: before an exclusive anonymous page is unmapped
    temporarily (its PTE already cleared), mark it possibly shared -- unless
    it may be pinned for DMA, when the caller must back off (-EBUSY)."""
    if folio_maybe_dma_pinned(p):
        return -EBUSY
    ClearPageAnonExclusive(p)
    return 0


cdef inline int page_try_dup_anon_rmap(page *p, bint compound, vm_area_struct *vma) noexcept nogil:
    """include/linux/rmap.h: fork() maps an anonymous page into the child
    too.  An exclusive page becomes possibly shared (mapped read-only by
    both).  page_needs_cow_for_dma() is false: no mm is ever marked
    MMF_HAS_PINNED (there is no GUP), so the copy path is never taken."""
    if PageAnonExclusive(p):
        ClearPageAnonExclusive(p)
    p._mapcount += 1                # __page_dup_rmap()
    return 0

cdef inline void page_dup_file_rmap(page *p, bint compound) noexcept nogil:
    """include/linux/rmap.h: fork() maps a file page into the child too."""
    p._mapcount += 1
