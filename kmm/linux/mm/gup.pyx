"""Mirrors mm/gup.c: follow_page(), the page mapped at a user address.

Order-0 pages only: no huge PMDs or PUDs, no device pages, no
FOLL_MIGRATION waits (a migration entry is simply no page), no
FOLL_TOUCH/FOLL_PIN accounting.
"""

from kmm.linux.include_.linux.err cimport ERR_PTR
from kmm.linux.include_.linux.mm cimport get_page, vma_is_anonymous
from kmm.linux.include_.linux.pgtable cimport walk_pte, ptep_get
from kmm.linux.include_.uapi.asm_generic.errno_base cimport EFAULT
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_present
from kmm.linux.mm.memory cimport vm_normal_page


cdef inline page *no_page_table(vm_area_struct *vma, unsigned int flags) noexcept nogil:
    """mm/gup.c: nothing mapped here.  For a core dump (FOLL_DUMP) an
    anonymous hole reads as zeroes: -EFAULT lets the caller skip it; a file
    VMA would fault its page in (NULL)."""
    if (flags & FOLL_DUMP) and vma_is_anonymous(vma):
        return <page *>ERR_PTR(-EFAULT)
    return NULL


cdef page *follow_page(vm_area_struct *vma, unsigned long address, unsigned int foll_flags) noexcept nogil:
    """mm/gup.c: the page mapped at address in vma, with a reference if
    FOLL_GET; NULL if none is present (including a migration entry);
    ERR_PTR(-EFAULT) for a hole or a special page (the zero page) when
    FOLL_DUMP asks to ignore those.  No fault is taken."""
    cdef unsigned long *ptep = walk_pte(vma.vm_mm, address)
    cdef pte_t pte
    cdef page *p
    if ptep == NULL:
        return no_page_table(vma, foll_flags)
    pte = ptep_get(ptep)
    if not pte_present(pte):
        if pte == 0:
            return no_page_table(vma, foll_flags)
        return NULL
    # (FOLL_WRITE on a read-only PTE would return NULL: no caller here asks)
    p = vm_normal_page(vma, address, pte)
    if p == NULL:
        if foll_flags & FOLL_DUMP:
            return <page *>ERR_PTR(-EFAULT)   # the zero page: avoid special pages in the dump
        return NULL
    if foll_flags & FOLL_GET:
        get_page(p)                           # try_grab_page()
    return p
