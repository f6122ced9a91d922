from kmm.linux.arch.x86.include_.asm.pgtable_types cimport pgprot_t
cdef pgprot_t vm_get_page_prot(unsigned long vm_flags) noexcept nogil
