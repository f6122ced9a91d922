# Mirrors arch/x86/include/asm/tlb.h: the INVLPG instruction.  (The
# mmu_gather hooks of that header belong with include/asm-generic/tlb.h.)

from kmm.include_.kmm.machine cimport smp_processor_id
from kmm.hw.tlb cimport tlb_invlpg


cdef inline void invlpg(unsigned long addr) noexcept nogil:
    """arch/x86/include/asm/tlb.h: invalidate addr's page in the current PCID."""
    tlb_invlpg(smp_processor_id(), addr)
