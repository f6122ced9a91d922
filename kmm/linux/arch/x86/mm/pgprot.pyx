"""Mirrors arch/x86/mm/pgprot.c: the protection of a VMA's PTEs from its
VM_READ/WRITE/EXEC/SHARED flags.  Private writable mappings get read-only
PTEs (PAGE_COPY): write access is granted per PTE on fault (maybe_mkwrite),
which is why a PTE rebuilt from vm_page_prot after migration is read-only."""

from kmm.linux.arch.x86.include_.asm.pgtable_types cimport *

cdef pgprot_t protection_map[16]
protection_map[0] = PAGE_NONE
protection_map[1] = PAGE_READONLY
protection_map[2] = PAGE_COPY
protection_map[3] = PAGE_COPY
protection_map[4] = PAGE_READONLY_EXEC
protection_map[5] = PAGE_READONLY_EXEC
protection_map[6] = PAGE_COPY_EXEC
protection_map[7] = PAGE_COPY_EXEC
protection_map[8] = PAGE_NONE
protection_map[9] = PAGE_READONLY
protection_map[10] = PAGE_SHARED
protection_map[11] = PAGE_SHARED
protection_map[12] = PAGE_READONLY_EXEC
protection_map[13] = PAGE_READONLY_EXEC
protection_map[14] = PAGE_SHARED_EXEC
protection_map[15] = PAGE_SHARED_EXEC


cdef pgprot_t vm_get_page_prot(unsigned long vm_flags) noexcept nogil:
    return protection_map[vm_flags & 0xf]
