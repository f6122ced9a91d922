# Mirrors include/linux/mman.h (and the PROT_* values of
# include/uapi/asm-generic/mman-common.h): turning mmap/mprotect PROT_* bits
# into VM_* flags.  Protection keys are not modelled (pkey is always 0).

from kmm.linux.include_.linux.mm cimport VM_READ, VM_WRITE, VM_EXEC

cdef enum:
    PROT_NONE = 0x0
    PROT_READ = 0x1
    PROT_WRITE = 0x2
    PROT_EXEC = 0x4
    PROT_SEM = 0x8
    PROT_GROWSDOWN = 0x01000000
    PROT_GROWSUP = 0x02000000


cdef inline unsigned long calc_vm_prot_bits(unsigned long prot, unsigned long pkey) noexcept nogil:
    """PROT_READ/WRITE/EXEC -> VM_READ/WRITE/EXEC (same bit values)."""
    cdef unsigned long flags = 0
    if prot & PROT_READ:
        flags |= VM_READ
    if prot & PROT_WRITE:
        flags |= VM_WRITE
    if prot & PROT_EXEC:
        flags |= VM_EXEC
    return flags


cdef inline bint arch_validate_prot(unsigned long prot, unsigned long addr) noexcept nogil:
    """include/linux/mman.h (x86 keeps the generic one): only R/W/X and SEM."""
    return (prot & ~(<unsigned long>(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM))) == 0
