# Mirrors arch/x86/include/asm/special_insns.h: reading and writing CR3 on
# the CPU the code runs on (the emulated hardware is kmm/emu/hw/tlb.pyx).

from kmm.linux.include_.kmm.machine cimport smp_processor_id
from kmm.emu.hw.tlb cimport tlb_read_cr3, tlb_write_cr3


cdef inline unsigned long __native_read_cr3() noexcept nogil:
    """arch/x86/include/asm/special_insns.h"""
    return tlb_read_cr3(smp_processor_id())

cdef inline void native_write_cr3(unsigned long val) noexcept nogil:
    """arch/x86/include/asm/special_insns.h"""
    tlb_write_cr3(smp_processor_id(), val)

cdef inline unsigned long __read_cr3() noexcept nogil:
    """arch/x86/include/asm/special_insns.h (no paravirt)"""
    return __native_read_cr3()

cdef inline void write_cr3(unsigned long x) noexcept nogil:
    """arch/x86/include/asm/special_insns.h (no paravirt)"""
    native_write_cr3(x)
