# Mirrors arch/x86/include/asm/invpcid.h: the INVPCID instruction on the CPU
# the code runs on.

from kmm.linux.include_.kmm.machine cimport smp_processor_id
from kmm.emu.hw.tlb cimport tlb_invpcid

cdef enum:
    INVPCID_TYPE_INDIV_ADDR = 0
    INVPCID_TYPE_SINGLE_CTXT = 1
    INVPCID_TYPE_ALL_INCL_GLOBAL = 2
    INVPCID_TYPE_ALL_NON_GLOBAL = 3


cdef inline void __invpcid(unsigned long pcid, unsigned long addr, unsigned long type) noexcept nogil:
    """arch/x86/include/asm/invpcid.h"""
    tlb_invpcid(smp_processor_id(), <int>type, pcid, addr)

cdef inline void invpcid_flush_one(unsigned long pcid, unsigned long addr) noexcept nogil:
    """arch/x86/include/asm/invpcid.h: one address in one PCID."""
    __invpcid(pcid, addr, INVPCID_TYPE_INDIV_ADDR)

cdef inline void invpcid_flush_single_context(unsigned long pcid) noexcept nogil:
    """arch/x86/include/asm/invpcid.h: everything of one PCID."""
    __invpcid(pcid, 0, INVPCID_TYPE_SINGLE_CTXT)

cdef inline void invpcid_flush_all() noexcept nogil:
    """arch/x86/include/asm/invpcid.h: every PCID, global entries too."""
    __invpcid(0, 0, INVPCID_TYPE_ALL_INCL_GLOBAL)

cdef inline void invpcid_flush_all_nonglobals() noexcept nogil:
    """arch/x86/include/asm/invpcid.h: every PCID, global entries kept."""
    __invpcid(0, 0, INVPCID_TYPE_ALL_NON_GLOBAL)
