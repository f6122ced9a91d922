# Mirrors arch/x86/include/asm/pgtable.h: PTE predicates and modifiers.

from kmm.linux.arch.x86.include_.asm.pgtable_types cimport *
from kmm.linux.include_.linux.mm_types cimport mm_struct, page
from kmm.linux.include_.kmm.machine cimport KMM

ctypedef unsigned long pte_t


cdef inline pteval_t pte_val(pte_t pte) noexcept nogil:
    return pte

cdef inline pte_t __pte(pteval_t val) noexcept nogil:
    return val

cdef inline pteval_t pte_flags(pte_t pte) noexcept nogil:
    return pte & ~PTE_PFN_MASK

cdef inline bint pte_none(pte_t pte) noexcept nogil:
    return pte == 0

cdef inline bint pte_present(pte_t a) noexcept nogil:
    return (a & (_PAGE_PRESENT | _PAGE_PROTNONE)) != 0

cdef inline bint pte_protnone(pte_t a) noexcept nogil:
    return (a & (_PAGE_PROTNONE | _PAGE_PRESENT)) == _PAGE_PROTNONE

cdef inline bint pte_accessible(mm_struct *mm, pte_t a) noexcept nogil:
    """A CPU may cache it: present, or PROT_NONE while a flush is pending
    (an mmu_gather in flight may still have to flush it)."""
    if a & _PAGE_PRESENT:
        return True
    if (a & _PAGE_PROTNONE) and mm.tlb_flush_pending:
        return True
    return False

cdef inline bint pte_write(pte_t pte) noexcept nogil:
    return (pte & _PAGE_RW) != 0

cdef inline bint pte_dirty(pte_t pte) noexcept nogil:
    return (pte & _PAGE_DIRTY) != 0

cdef inline bint pte_young(pte_t pte) noexcept nogil:
    return (pte & _PAGE_ACCESSED) != 0

cdef inline bint pte_special(pte_t pte) noexcept nogil:
    return (pte & _PAGE_SPECIAL) != 0

cdef inline unsigned long pte_pfn(pte_t pte) noexcept nogil:
    return (pte & PTE_PFN_MASK) >> 12

cdef inline pte_t pfn_pte(unsigned long pfn, pgprot_t prot) noexcept nogil:
    return ((pfn << 12) & PTE_PFN_MASK) | prot


cdef inline pte_t mk_pte(page *p, pgprot_t prot) noexcept nogil:
    """arch/x86/include/asm/pgtable.h: a PTE mapping p with prot
    (page_to_pfn: the page's index in mem_map)."""
    return pfn_pte(<unsigned long>(p - KMM().mem_map), prot)

cdef inline pte_t pte_mkwrite(pte_t pte) noexcept nogil:
    return pte | _PAGE_RW

cdef inline pte_t pte_wrprotect(pte_t pte) noexcept nogil:
    return pte & ~_PAGE_RW

cdef inline pte_t pte_mkdirty(pte_t pte) noexcept nogil:
    return pte | _PAGE_DIRTY | _PAGE_SOFT_DIRTY

cdef inline pte_t pte_mkclean(pte_t pte) noexcept nogil:
    return pte & ~_PAGE_DIRTY

cdef inline pte_t pte_mkyoung(pte_t pte) noexcept nogil:
    return pte | _PAGE_ACCESSED

cdef inline pte_t pte_mkold(pte_t pte) noexcept nogil:
    return pte & ~_PAGE_ACCESSED

cdef inline pte_t pte_modify(pte_t pte, pgprot_t newprot) noexcept nogil:
    """Keep the pfn and the A/D/soft bits, take the rest from newprot."""
    return (pte & _PAGE_CHG_MASK) | (newprot & ~_PAGE_CHG_MASK)

cdef inline pgprot_t pte_pgprot(pte_t pte) noexcept nogil:
    return pte & ~PTE_PFN_MASK
