"""Mirrors mm/pgtable-generic.c: clearing a PTE and flushing its
translation if a CPU may have cached it."""

from kmm.linux.include_.linux.mm_types cimport vm_area_struct
from kmm.linux.include_.linux.pgtable cimport ptep_get_and_clear
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_accessible
from kmm.linux.arch.x86.mm.tlb cimport flush_tlb_page


cdef unsigned long ptep_clear_flush(vm_area_struct *vma, unsigned long address,
                                    unsigned long *ptep) noexcept nogil:
    cdef pte_t pte = ptep_get_and_clear(vma.vm_mm, address, ptep)
    if pte_accessible(vma.vm_mm, pte):
        flush_tlb_page(vma, address)
    return pte
