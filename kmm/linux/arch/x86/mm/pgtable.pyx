"""Mirrors arch/x86/mm/pgtable.c: allocating and freeing page-table pages.

Every level's table is one zeroed page from the local node's allocator
(GFP_PGTABLE_USER), typed PageTable and counted in NR_PAGETABLE; its entries
live in a 4 KiB-aligned block hung on page->private (see
kmm/linux/include_/linux/pgtable.pxd), from the emulator's pool of host
memory for table contents (kmm/emu/hw/hostmem.pyx)."""

from libc.string cimport memset
from kmm.linux.include_.kmm.machine cimport KMM, numa_node_id
from kmm.linux.include_.linux.gfp_types cimport GFP_KERNEL, __GFP_ZERO, __GFP_ACCOUNT
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.linux.mmzone cimport NR_PAGETABLE
from kmm.linux.include_.linux.page_flags cimport __SetPageTable, __ClearPageTable
from kmm.linux.include_.linux.pgtable cimport kmm_pt
from kmm.linux.include_.linux.mm cimport page_pgdat
from kmm.linux.include_.linux.vmstat cimport __mod_node_page_state
from kmm.linux.mm.page_alloc cimport __alloc_pages, __free_pages
from kmm.emu.hw.hostmem cimport pt_block_alloc, pt_block_free

cdef enum:
    GFP_PGTABLE_USER = GFP_KERNEL | __GFP_ZERO | __GFP_ACCOUNT


cdef page *pte_alloc_one(mm_struct *mm) noexcept nogil:
    """A zeroed table page, or NULL when memory (or host memory) runs out."""
    cdef page *p = __alloc_pages(GFP_PGTABLE_USER, 0, numa_node_id(), NULL)
    cdef void *contents
    if p == NULL:
        return NULL
    contents = pt_block_alloc(KMM())
    if contents == NULL:
        __free_pages(p, 0)
        return NULL
    memset(contents, 0, sizeof(kmm_pt))
    p.private = <unsigned long>contents
    __SetPageTable(p)
    __mod_node_page_state(page_pgdat(p), NR_PAGETABLE, 1)
    return p


cdef void pte_free(mm_struct *mm, page *pte_page) noexcept nogil:
    pt_block_free(KMM(), <void *>pte_page.private)
    pte_page.private = 0
    __ClearPageTable(pte_page)
    __mod_node_page_state(page_pgdat(pte_page), NR_PAGETABLE, -1)
    __free_pages(pte_page, 0)


cdef page *pgd_alloc(mm_struct *mm) noexcept nogil:
    return pte_alloc_one(mm)


from kmm.linux.include_.linux.mm_types cimport vm_area_struct
from kmm.linux.include_.linux.pgtable cimport ptep_test_and_clear_young


cdef bint ptep_clear_flush_young(vm_area_struct *vma, unsigned long address,
                                 unsigned long *ptep) noexcept nogil:
    """arch/x86/mm/pgtable.c: clear the accessed bit WITHOUT a TLB flush.  A
    CPU that still caches the translation does not set the bit again until
    the entry is evicted; x86 accepts that: reclaim then sees the page as
    older than it is, which costs no correctness."""
    return ptep_test_and_clear_young(vma.vm_mm, address, ptep)
