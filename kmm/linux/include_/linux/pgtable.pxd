# Mirrors include/linux/pgtable.h (and the x86-64 4-level index macros):
# walking an mm's page tables and the generic PTE accessors.
#
# A page-table page is a real page from the buddy allocator (PageTable,
# counted in NR_PAGETABLE); its 512 entries live in a 4 KiB-aligned block
# that page->private points to.  Leaf tables also carry, per entry, a slot
# of the TLB-coherence oracle (like a shadow: only kmm/emu/debug/oracle.pxd
# touches it).

from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_present
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport PTE_PFN_MASK, _PAGE_PRESENT

from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT
from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_PTE_UPDATE

cdef enum:
    PTRS_PER_PTE = 512
    PMD_SHIFT = 21
    PUD_SHIFT = 30
    PGDIR_SHIFT = 39

cdef extern from *:
    """
    #define KMM_PAGE_MASK (~((1UL << 12) - 1))
    #define KMM_PMD_SIZE (1UL << 21)
    #define KMM_PMD_MASK (~((1UL << 21) - 1))
    #define KMM_PUD_SIZE (1UL << 30)
    #define KMM_PUD_MASK (~((1UL << 30) - 1))
    #define KMM_PGDIR_SIZE (1UL << 39)
    #define KMM_PGDIR_MASK (~((1UL << 39) - 1))
    #define KMM_TASK_SIZE_MAX (1UL << 47)
    """
    const unsigned long PAGE_MASK "KMM_PAGE_MASK"
    const unsigned long PMD_SIZE "KMM_PMD_SIZE"
    const unsigned long PMD_MASK "KMM_PMD_MASK"
    const unsigned long PUD_SIZE "KMM_PUD_SIZE"
    const unsigned long PUD_MASK "KMM_PUD_MASK"
    const unsigned long PGDIR_SIZE "KMM_PGDIR_SIZE"
    const unsigned long PGDIR_MASK "KMM_PGDIR_MASK"
    const unsigned long TASK_SIZE_MAX "KMM_TASK_SIZE_MAX"

cdef struct kmm_pt:
    unsigned long ent[512]
    unsigned int kmm_ver[512]    # oracle: per-entry data version (kmm/emu/debug/oracle.pxd only)


cdef inline unsigned long pgd_index(unsigned long addr) noexcept nogil:
    return (addr >> PGDIR_SHIFT) & 511

cdef inline unsigned long pud_index(unsigned long addr) noexcept nogil:
    return (addr >> PUD_SHIFT) & 511

cdef inline unsigned long pmd_index(unsigned long addr) noexcept nogil:
    return (addr >> PMD_SHIFT) & 511

cdef inline unsigned long pte_index(unsigned long addr) noexcept nogil:
    return (addr >> PAGE_SHIFT) & 511

cdef inline kmm_pt *page_pt(page *p) noexcept nogil:
    """The entries of a page-table page."""
    return <kmm_pt *>p.private

cdef inline kmm_pt *entry_table(unsigned long entry) noexcept nogil:
    """The table an upper-level entry points to."""
    return <kmm_pt *>KMM().mem_map[(entry & PTE_PFN_MASK) >> PAGE_SHIFT].private

# The end of the current entry's span, or end if that comes first (the "- 1"
# comparisons keep an end of 0, the top of the address space, working).
cdef inline unsigned long pgd_addr_end(unsigned long addr, unsigned long end) noexcept nogil:
    cdef unsigned long boundary = (addr + PGDIR_SIZE) & PGDIR_MASK
    return boundary if boundary - 1 < end - 1 else end

cdef inline unsigned long pud_addr_end(unsigned long addr, unsigned long end) noexcept nogil:
    cdef unsigned long boundary = (addr + PUD_SIZE) & PUD_MASK
    return boundary if boundary - 1 < end - 1 else end

cdef inline unsigned long pmd_addr_end(unsigned long addr, unsigned long end) noexcept nogil:
    cdef unsigned long boundary = (addr + PMD_SIZE) & PMD_MASK
    return boundary if boundary - 1 < end - 1 else end

cdef inline page *entry_page(unsigned long entry) noexcept nogil:
    """The table page an upper-level entry points to (pmd_pgtable(),
    pud_pgtable(), ... as a struct page)."""
    return &KMM().mem_map[(entry & PTE_PFN_MASK) >> PAGE_SHIFT]

cdef inline bint pgd_none(unsigned long e) noexcept nogil:
    return e == 0

cdef inline bint pud_none(unsigned long e) noexcept nogil:
    return e == 0

cdef inline bint pmd_none(unsigned long e) noexcept nogil:
    return e == 0

cdef inline unsigned long *pgd_offset(mm_struct *mm, unsigned long addr) noexcept nogil:
    return &page_pt(mm.pgd).ent[pgd_index(addr)]

cdef inline unsigned long *pud_offset(unsigned long *pgd, unsigned long addr) noexcept nogil:
    return &entry_table(pgd[0]).ent[pud_index(addr)]

cdef inline unsigned long *pmd_offset(unsigned long *pud, unsigned long addr) noexcept nogil:
    return &entry_table(pud[0]).ent[pmd_index(addr)]

cdef inline unsigned long *pte_offset_map(unsigned long *pmd, unsigned long addr) noexcept nogil:
    return &entry_table(pmd[0]).ent[pte_index(addr)]

cdef inline unsigned long *walk_pmd(mm_struct *mm, unsigned long addr) noexcept nogil:
    """The PMD entry for addr, or NULL if an upper table is missing (the walk
    mm/rmap.c mm_find_pmd() does)."""
    cdef unsigned long *e = pgd_offset(mm, addr)
    if pgd_none(e[0]):
        return NULL
    e = pud_offset(e, addr)
    if pud_none(e[0]):
        return NULL
    return pmd_offset(e, addr)

cdef inline unsigned long *walk_pte(mm_struct *mm, unsigned long addr) noexcept nogil:
    """The leaf entry for addr, or NULL if a table on the way is missing."""
    cdef unsigned long *e = walk_pmd(mm, addr)
    if e == NULL or pmd_none(e[0]):
        return NULL
    return pte_offset_map(e, addr)

cdef inline pte_t ptep_get(unsigned long *ptep) noexcept nogil:
    return ptep[0]

cdef inline void set_pte_at(mm_struct *mm, unsigned long addr, unsigned long *ptep, pte_t pte) noexcept nogil:
    ptep[0] = pte
    kmm_charge(KMM_COST_PTE_UPDATE, 1)

cdef inline void pte_clear(mm_struct *mm, unsigned long addr, unsigned long *ptep) noexcept nogil:
    ptep[0] = 0
    kmm_charge(KMM_COST_PTE_UPDATE, 1)

cdef inline pte_t ptep_get_and_clear(mm_struct *mm, unsigned long addr, unsigned long *ptep) noexcept nogil:
    cdef pte_t old = ptep[0]
    ptep[0] = 0
    kmm_charge(KMM_COST_PTE_UPDATE, 1)
    return old

cdef inline pte_t ptep_get_and_clear_full(mm_struct *mm, unsigned long addr, unsigned long *ptep, int full) noexcept nogil:
    return ptep_get_and_clear(mm, addr, ptep)

cdef inline pte_t ptep_modify_prot_start(mm_struct *mm, unsigned long addr, unsigned long *ptep) noexcept nogil:
    """x86: clear the entry so that hardware A/D updates cannot race the change."""
    return ptep_get_and_clear(mm, addr, ptep)

cdef inline void ptep_modify_prot_commit(mm_struct *mm, unsigned long addr, unsigned long *ptep,
                                         pte_t old_pte, pte_t pte) noexcept nogil:
    set_pte_at(mm, addr, ptep, pte)

cdef inline bint ptep_test_and_clear_young(mm_struct *mm, unsigned long addr, unsigned long *ptep) noexcept nogil:
    cdef bint young = (ptep[0] & 0x20) != 0
    ptep[0] &= ~(<unsigned long>0x20)
    return young

cdef inline bint pte_same(pte_t a, pte_t b) noexcept nogil:
    return a == b
