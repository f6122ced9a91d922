"""Mirrors mm/mempolicy.c.

change_prot_numa: NUMA hinting's PTE update (CONFIG_NUMA_BALANCING).
"""

from kmm.include_.linux.mm_types cimport vm_area_struct
from kmm.include_.linux.mm cimport MM_CP_PROT_NUMA
from kmm.include_.linux.vm_event_item cimport NUMA_PTE_UPDATES
from kmm.include_.linux.vmstat cimport count_vm_numa_events
from kmm.include_.asm_generic.tlb cimport mmu_gather
from kmm.mm.mmu_gather cimport tlb_gather_mmu, tlb_finish_mmu
from kmm.mm.mprotect cimport change_protection


# ---------------------------------------------------------------------------
# NUMA hinting: change_prot_numa

cdef unsigned long change_prot_numa(vm_area_struct *vma, unsigned long addr,
                                    unsigned long end) noexcept nogil:
    """mm/mempolicy.c: make the PTEs of [addr, end) (inside vma) PROT_NONE so
    the next access takes a NUMA hint fault; returns how many changed
    (also counted as numa_pte_updates).  While the gather is open the mm's
    tlb_flush_pending is raised, which makes the new PROT_NONE entries
    pte_accessible() to anyone clearing them concurrently (they may still
    be cached until this flush); the range is flushed at the VMA's end."""
    cdef mmu_gather tlb
    cdef long nr_updated
    tlb_gather_mmu(&tlb, vma.vm_mm)
    nr_updated = change_protection(&tlb, vma, addr, end, MM_CP_PROT_NUMA)
    if nr_updated > 0:
        count_vm_numa_events(NUMA_PTE_UPDATES, nr_updated)
    tlb_finish_mmu(&tlb)
    return <unsigned long>nr_updated
