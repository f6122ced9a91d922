# Mirrors arch/x86/include/asm/processor-flags.h (x86-64): the CR3 fields.

cdef extern from *:
    """
    #define KMM_CR3_ADDR_MASK  0x000FFFFFFFFFF000ULL
    #define KMM_CR3_PCID_MASK  0xFFFULL
    #define KMM_CR3_NOFLUSH    (1ULL << 63)
    """
    const unsigned long long CR3_ADDR_MASK "KMM_CR3_ADDR_MASK"
    const unsigned long long CR3_PCID_MASK "KMM_CR3_PCID_MASK"
    const unsigned long long CR3_NOFLUSH "KMM_CR3_NOFLUSH"

cdef enum:
    X86_CR3_PTI_PCID_USER_BIT = 11   # PTI: the user PCID of an ASID slot
