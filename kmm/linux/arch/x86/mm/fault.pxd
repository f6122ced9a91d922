from kmm.linux.include_.linux.mm cimport vm_fault_t

cdef enum:
    X86_PF_PROT = 1 << 0
    X86_PF_WRITE = 1 << 1
    X86_PF_USER = 1 << 2
    X86_PF_RSVD = 1 << 3
    X86_PF_INSTR = 1 << 4

cdef vm_fault_t do_user_addr_fault(unsigned long error_code, unsigned long address) noexcept nogil
