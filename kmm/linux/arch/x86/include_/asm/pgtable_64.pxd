# Mirrors arch/x86/include/asm/pgtable_64.h: how a swap (or migration) entry
# is stored in a non-present PTE: type in the top 5 bits, offset inverted
# below them (the L1TF hardening), bits 0..8 clear.

from kmm.linux.arch.x86.include_.asm.pgtable_types cimport _PAGE_BIT_PROTNONE

cdef enum:
    SWP_TYPE_BITS = 5
    SWP_OFFSET_FIRST_BIT = _PAGE_BIT_PROTNONE + 1
    SWP_OFFSET_SHIFT = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS

cdef inline unsigned long __swp_type(unsigned long arch_val) noexcept nogil:
    return arch_val >> (64 - SWP_TYPE_BITS)

cdef inline unsigned long __swp_offset(unsigned long arch_val) noexcept nogil:
    return (~arch_val) << SWP_TYPE_BITS >> SWP_OFFSET_SHIFT

cdef inline unsigned long __swp_entry(unsigned long type, unsigned long offset) noexcept nogil:
    return ((~offset) << SWP_OFFSET_SHIFT >> SWP_TYPE_BITS) | (type << (64 - SWP_TYPE_BITS))
