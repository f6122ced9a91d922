"""Mirrors arch/x86/mm/pgtable.c (and the asm-generic pgalloc.h helpers it
uses): allocating and freeing page-table pages.

Every level's table is zeroed memory from the local node's allocator
(GFP_PGTABLE_USER), its entries in a 4 KiB-aligned block hung on
page->private (see kmm/linux/include_/linux/pgtable.pxd), from the
emulator's pool of host memory for table contents
(kmm/emu/hw/hostmem.pyx).  As in v6.6 only PTE and PMD tables go through
a constructor (pagetable_pte_ctor / pagetable_pmd_ctor: typed PageTable
and counted in NR_PAGETABLE); a PUD table (__pud_alloc_one) and the PGD
(_pgd_alloc) are plain pages."""

from libc.string cimport memset
from kmm.linux.include_.kmm.machine cimport KMM, numa_node_id
from kmm.linux.include_.linux.gfp_types cimport GFP_KERNEL, __GFP_ZERO, __GFP_ACCOUNT
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.linux.mmzone cimport NR_PAGETABLE
from kmm.linux.include_.linux.page_flags cimport PageTable, __SetPageTable, __ClearPageTable
from kmm.linux.include_.linux.pgtable cimport kmm_pt
from kmm.linux.include_.linux.mm cimport page_pgdat
from kmm.linux.include_.linux.vmstat cimport __mod_node_page_state
from kmm.linux.mm.page_alloc cimport __alloc_pages, __free_pages
from kmm.emu.hw.hostmem cimport pt_block_alloc, pt_block_free

cdef enum:
    GFP_PGTABLE_USER = GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT


cdef page *_table_alloc(unsigned int order, bint ctor) noexcept nogil:
    """A zeroed table of 2^order pages (the contents block hangs on the
    first), or NULL when memory (or host memory) runs out.  ctor: the PTE
    and PMD constructors' accounting."""
    cdef page *p = __alloc_pages(GFP_PGTABLE_USER, order, numa_node_id(), NULL)
    cdef void *contents
    if p == NULL:
        return NULL
    contents = pt_block_alloc(KMM())
    if contents == NULL:
        __free_pages(p, order)
        return NULL
    memset(contents, 0, sizeof(kmm_pt))
    p.private = <unsigned long>contents
    if ctor:
        __SetPageTable(p)
        __mod_node_page_state(page_pgdat(p), NR_PAGETABLE, 1)
    return p


cdef void _table_free(page *p, unsigned int order) noexcept nogil:
    """Free a table; one that went through a constructor through its
    destructor (pagetable_pte_dtor / pagetable_pmd_dtor)."""
    pt_block_free(KMM(), <void *>p.private)
    p.private = 0
    if PageTable(p):
        __ClearPageTable(p)
        __mod_node_page_state(page_pgdat(p), NR_PAGETABLE, -1)
    __free_pages(p, order)


cdef page *pte_alloc_one(mm_struct *mm) noexcept nogil:
    """arch/x86/mm/pgtable.c: a PTE table (pagetable_pte_ctor), or NULL."""
    return _table_alloc(0, True)


cdef page *pmd_alloc_one(mm_struct *mm) noexcept nogil:
    """include/asm-generic/pgalloc.h: a PMD table (pagetable_pmd_ctor), or
    NULL."""
    return _table_alloc(0, True)


cdef page *pud_alloc_one(mm_struct *mm) noexcept nogil:
    """include/asm-generic/pgalloc.h (__pud_alloc_one): a PUD table, a plain
    page (no constructor in v6.6), or NULL."""
    return _table_alloc(0, False)


cdef void pte_free(mm_struct *mm, page *pte_page) noexcept nogil:
    """Free a PTE, PMD or PUD table (its destructor runs if it had a
    constructor: pte_free / pmd_free / pud_free)."""
    _table_free(pte_page, 0)


cdef inline unsigned int PGD_ALLOCATION_ORDER() noexcept nogil:
    """arch/x86/include/asm/pgalloc.h: with CONFIG_PAGE_TABLE_ISOLATION the
    PGD is two pages, 8 KiB aligned, so that the entry code flips between
    the kernel and the user half with bit 12 of CR3 (whether or not PTI is
    on at run time).  Only the kernel half's contents are kept: the
    emulated walker reads the mm's tables, whose user entries the user half
    mirrors."""
    return 1 if KMM().kconfig.CONFIG_PAGE_TABLE_ISOLATION else 0


cdef page *pgd_alloc(mm_struct *mm) noexcept nogil:
    """arch/x86/mm/pgtable.c (_pgd_alloc): the mm's PGD, plain pages, or
    NULL."""
    return _table_alloc(PGD_ALLOCATION_ORDER(), False)


cdef void pgd_free(mm_struct *mm, page *pgd) noexcept nogil:
    """arch/x86/mm/pgtable.c (_pgd_free)."""
    _table_free(pgd, PGD_ALLOCATION_ORDER())


from kmm.linux.include_.linux.mm_types cimport vm_area_struct
from kmm.linux.include_.linux.pgtable cimport ptep_test_and_clear_young


cdef bint ptep_clear_flush_young(vm_area_struct *vma, unsigned long address,
                                 unsigned long *ptep) noexcept nogil:
    """arch/x86/mm/pgtable.c: clear the accessed bit WITHOUT a TLB flush.  A
    CPU that still caches the translation does not set the bit again until
    the entry is evicted; x86 accepts that: reclaim then sees the page as
    older than it is, which costs no correctness."""
    return ptep_test_and_clear_young(vma.vm_mm, address, ptep)
