# Mirrors arch/x86/entry/calling.h (CONFIG_PAGE_TABLE_ISOLATION, PCID on):
# the CR3 switches of the entry code.  Under PTI each mm has two PGDs (the
# user one is the kernel one's 4 KiB neighbour: bit 12) and each ASID slot
# two PCIDs (the user one has bit 11 set).  Without X86_FEATURE_PTI the
# kernel patches these out (ALTERNATIVE "jmp .Lend"): they do nothing.

from kmm.linux.include_.kmm.machine cimport KMM, this_cpu
from kmm.linux.arch.x86.include_.asm.tlbflush cimport tlb_state
from kmm.linux.arch.x86.include_.asm.special_insns cimport __native_read_cr3, native_write_cr3
from kmm.linux.arch.x86.include_.asm.processor_flags cimport CR3_NOFLUSH, X86_CR3_PTI_PCID_USER_BIT
from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT

cdef enum:
    PTI_USER_PGTABLE_MASK = 1 << PAGE_SHIFT
    PTI_USER_PCID_MASK = 1 << X86_CR3_PTI_PCID_USER_BIT
    PTI_USER_PGTABLE_AND_PCID_MASK = PTI_USER_PCID_MASK | PTI_USER_PGTABLE_MASK
    KMM_CR3_ASID_BITS = 0x7FF                   # the PCID without the user bit


cdef inline void SWITCH_TO_KERNEL_CR3() noexcept nogil:
    """arch/x86/entry/calling.h: on entry from user mode, the kernel PGD and
    the kernel PCID of the same slot, keeping every cached translation
    (ADJUST_KERNEL_CR3 sets NOFLUSH)."""
    cdef unsigned long cr3
    if not KMM().x86_feature_pti:
        return
    cr3 = __native_read_cr3()
    cr3 |= CR3_NOFLUSH
    cr3 &= ~(<unsigned long>PTI_USER_PGTABLE_AND_PCID_MASK)
    native_write_cr3(cr3)


cdef inline void SWITCH_TO_USER_CR3() noexcept nogil:
    """arch/x86/entry/calling.h (SWITCH_TO_USER_CR3_NOSTACK, which _STACK
    wraps): on the return to user mode, the user PGD and the slot's user
    PCID; with NOFLUSH unless the kernel asked for this user PCID to be
    flushed (its kernel PCID's bit in user_pcid_flush_mask, then cleared)."""
    cdef unsigned long cr3
    cdef unsigned int kpcid
    cdef tlb_state *ts
    if not KMM().x86_feature_pti:
        return
    ts = &this_cpu().cpu_tlbstate
    cr3 = __native_read_cr3()
    kpcid = <unsigned int>(cr3 & KMM_CR3_ASID_BITS)
    if kpcid < 16 and ts.user_pcid_flush_mask & (1 << kpcid):
        ts.user_pcid_flush_mask &= <unsigned short>~(1 << kpcid)
    else:
        cr3 |= CR3_NOFLUSH
    cr3 |= PTI_USER_PGTABLE_AND_PCID_MASK
    native_write_cr3(cr3)
