# Mirrors arch/x86/include/asm/tlbflush.h: the per-CPU TLB state
# (cpu_tlbstate, cpu_tlbstate_shared), struct flush_tlb_info, and the
# header's static inlines that need no machine state (inc_mm_tlb_gen,
# arch_tlbbatch_add_pending, patch 1/3's arch_tlbbatch_clear /
# arch_tlbbatch_fold, and pte_needs_flush).
#
# This file must stay a leaf (no KMM()): kmm/linux/include_/kmm/machine.pxd embeds
# its structs in the per-CPU data, and Cython cannot complete a struct across
# a cimport cycle.  The header inlines that read per-CPU state
# (arch_tlbbatch_should_defer, flush_tlb_page, flush_tlb_mm,
# arch_flush_tlb_batched_pending) are therefore in kmm/linux/arch/x86/mm/tlb.pxd,
# next to the functions they call.

from kmm.linux.include_.linux.cpumask cimport cpumask_t, cpumask_or, cpumask_clear
from kmm.linux.include_.linux.mm_types cimport mm_struct, mm_cpumask
from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport (
    PTE_PFN_MASK, _PAGE_PRESENT, _PAGE_RW, _PAGE_USER, _PAGE_PWT, _PAGE_PCD, _PAGE_ACCESSED,
    _PAGE_DIRTY, _PAGE_PSE, _PAGE_GLOBAL, _PAGE_PAT, _PAGE_PAT_LARGE, _PAGE_SOFTW1, _PAGE_SOFTW2,
    _PAGE_SOFTW3, _PAGE_SOFTW4, _PAGE_SAVED_DIRTY, _PAGE_PKEY_BIT0, _PAGE_PKEY_BIT1,
    _PAGE_PKEY_BIT2, _PAGE_PKEY_BIT3, _PAGE_NX)

cdef enum:
    TLB_NR_DYN_ASIDS = 6
    TLB_GENERATION_INVALID = 0

cdef extern from *:
    """
    #define KMM_TLB_FLUSH_ALL (~0UL)
    #define KMM_LOADED_MM_SWITCHING ((void *)1UL)
    """
    const unsigned long TLB_FLUSH_ALL "KMM_TLB_FLUSH_ALL"
    void *_LOADED_MM_SWITCHING "KMM_LOADED_MM_SWITCHING"


cdef struct tlb_context:
    unsigned long long ctx_id
    unsigned long long tlb_gen

# struct tlb_state, without the members of features the emulator does not
# have (IBPB/L1D mitigation state, LAM, the CR4 shadow: CR4.PCIDE is always
# set on the emulated CPU).
cdef struct tlb_state:
    mm_struct *loaded_mm             # LOADED_MM_SWITCHING while CR3 is being written
    unsigned short loaded_mm_asid
    unsigned short next_asid
    bint invalidate_other            # PTI: set by flush_tlb_one_kernel, which no mirrored path calls
    unsigned short user_pcid_flush_mask   # PTI: kPCIDs whose user PCID is flushed at the next exit to user
    tlb_context ctxs[6]              # TLB_NR_DYN_ASIDS

cdef struct tlb_state_shared:
    bint is_lazy

cdef struct flush_tlb_info:
    mm_struct *mm                    # NULL: every mm whose tlb_gen moved (batched flushes)
    unsigned long start
    unsigned long end                # TLB_FLUSH_ALL for a full flush
    unsigned long long new_tlb_gen   # TLB_GENERATION_INVALID when mm is NULL
    unsigned int initiating_cpu
    unsigned char stride_shift
    unsigned char freed_tables
    int kmm_site                     # emulator: KMM_SITE_* of the requester (attribution)


cdef inline mm_struct *LOADED_MM_SWITCHING() noexcept nogil:
    return <mm_struct *>_LOADED_MM_SWITCHING


cdef inline unsigned long long inc_mm_tlb_gen(mm_struct *mm) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h: advance the mm's TLB generation and
    return the new value (an atomic64_inc_return in the kernel, which also
    orders the page-table writes before the mm_cpumask read)."""
    mm.context.tlb_gen += 1
    return <unsigned long long>mm.context.tlb_gen


cdef inline void arch_tlbbatch_add_pending(arch_tlbflush_unmap_batch *batch, mm_struct *mm,
                                           unsigned long uaddr) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h: one more unmapped PTE of mm in the
    batch: the mm's generation moves (once per PTE) and every CPU that may
    cache mm joins the batch.  x86 ignores uaddr (batched flushes are full)."""
    inc_mm_tlb_gen(mm)
    cpumask_or(&batch.cpumask, &batch.cpumask, mm_cpumask(mm))


cdef inline void arch_tlbbatch_clear(arch_tlbflush_unmap_batch *batch) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h (migrc patch 1/3): empty the batch."""
    cpumask_clear(&batch.cpumask)


cdef inline void arch_tlbbatch_fold(arch_tlbflush_unmap_batch *bdst,
                                    arch_tlbflush_unmap_batch *bsrc) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h (migrc patch 1/3): merge bsrc's CPUs
    into bdst (bsrc is left as it is)."""
    cpumask_or(&bdst.cpumask, &bdst.cpumask, &bsrc.cpumask)


cdef inline bint pte_flags_need_flush(unsigned long oldflags, unsigned long newflags,
                                      bint ignore_access) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h: does going from oldflags to newflags
    leave a TLB entry that must not be used?
    - DIRTY, PRESENT, ACCESSED: only when cleared (a stale entry with the
      bit clear makes the CPU walk and set it, no harm);
    - RW, USER, caching, PSE, GLOBAL (PROTNONE), PAT, protection keys, NX:
      any change, in either direction;
    - software bits never (the CPU ignores them).
    The kernel's CONFIG_DEBUG_VM check for bits in none of these classes is
    left out: every bit below the pfn is classified and the emulator sets
    none above it but NX."""
    cdef unsigned long flush_on_clear = _PAGE_DIRTY | _PAGE_PRESENT | _PAGE_ACCESSED
    cdef unsigned long software_flags = (_PAGE_SOFTW1 | _PAGE_SOFTW2 | _PAGE_SOFTW3 |
                                         _PAGE_SOFTW4 | _PAGE_SAVED_DIRTY)
    cdef unsigned long flush_on_change = (_PAGE_RW | _PAGE_USER | _PAGE_PWT | _PAGE_PCD |
                                          _PAGE_PSE | _PAGE_GLOBAL | _PAGE_PAT |
                                          _PAGE_PAT_LARGE | _PAGE_PKEY_BIT0 | _PAGE_PKEY_BIT1 |
                                          _PAGE_PKEY_BIT2 | _PAGE_PKEY_BIT3 | _PAGE_NX)
    cdef unsigned long diff = (oldflags ^ newflags) & ~software_flags
    if ignore_access:
        diff &= ~_PAGE_ACCESSED
    if diff & oldflags & flush_on_clear:
        return True
    return (diff & flush_on_change) != 0


cdef inline bint pte_needs_flush(unsigned long oldpte, unsigned long newpte) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h: must a user PTE change from oldpte to
    newpte be flushed?  Never if oldpte was not present (nothing can be
    cached: a PROT_NONE entry included); always if the pfn changed;
    otherwise by the flags, ignoring ACCESSED."""
    if not (oldpte & _PAGE_PRESENT):
        return False
    if (oldpte & PTE_PFN_MASK) != (newpte & PTE_PFN_MASK):
        return True
    return pte_flags_need_flush(oldpte & ~PTE_PFN_MASK, newpte & ~PTE_PFN_MASK, True)
