"""Mirrors fs/exec.c: the new program's stack VMA.

exec builds the stack in the new mm: __bprm_mm_init() maps one page at the
top of the user address space (the argument strings are copied into it),
then setup_arg_pages() moves it to its final top (STACK_TOP, randomised by
arch_align_stack unless randomize_va_space is 0: the emulator does not
randomise, as mm->mmap_base) and expands it down by 128 KiB.  The VMA
grows down (VM_GROWSDOWN).  Not mirrored: copying the strings (the
caller's business), the shift of the argument pages (none when the stack
stays at STACK_TOP_MAX), VM_SOFTDIRTY (no CONFIG_MEM_SOFT_DIRTY), growth
past the initial size (expand_stack on a fault below the VMA).
"""

from kmm.linux.include_.uapi.asm_generic.errno_base cimport EINVAL, ENOMEM
from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct
from kmm.linux.include_.linux.mm cimport (VM_READ, VM_WRITE, VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC,
                                          VM_GROWSDOWN, VM_ACCOUNT)
from kmm.linux.mm.mmap cimport find_vma_intersection, vm_area_alloc, vma_set_page_prot, vma_link

cdef enum:
    # include/linux/mm.h VM_STACK_FLAGS on x86_64: VM_GROWSDOWN, the data
    # defaults (VM_DATA_FLAGS_TSK_EXEC without READ_IMPLIES_EXEC) and
    # VM_ACCOUNT
    VM_STACK_FLAGS = (VM_GROWSDOWN | VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
                      | VM_ACCOUNT)
    # setup_arg_pages(): the stack's initial room below the arguments
    STACK_EXPAND = 131072


cdef int __bprm_mm_init(mm_struct *mm) noexcept nogil:
    """fs/exec.c: the stack's first VMA, one page below STACK_TOP_MAX.
    (The kernel marks it VM_STACK_INCOMPLETE_SETUP until setup_arg_pages;
    nothing runs in between here, so it gets its final flags at once.)"""
    cdef vm_area_struct *vma
    if find_vma_intersection(mm, STACK_TOP_MAX - 4096, STACK_TOP_MAX) != NULL:
        return -EINVAL
    vma = vm_area_alloc(mm)
    if vma == NULL:
        return -ENOMEM
    vma.vm_end = STACK_TOP_MAX
    vma.vm_start = STACK_TOP_MAX - 4096
    vma.vm_flags = VM_STACK_FLAGS
    vma.vm_pgoff = vma.vm_start >> 12          # insert_vm_struct(): anonymous
    vma_set_page_prot(vma)
    vma_link(mm, vma)
    return 0


cdef int setup_arg_pages(mm_struct *mm, unsigned long stack_top) noexcept nogil:
    """fs/exec.c: the stack VMA ends at stack_top (only STACK_TOP_MAX: no
    shift) and is expanded down by 128 KiB (expand_stack_locked)."""
    cdef vm_area_struct *vma = find_vma_intersection(mm, STACK_TOP_MAX - 4096, STACK_TOP_MAX)
    if vma == NULL or stack_top != vma.vm_end or not (vma.vm_flags & VM_GROWSDOWN):
        return -EINVAL
    if find_vma_intersection(mm, vma.vm_start - STACK_EXPAND, vma.vm_start) != NULL:
        return -ENOMEM
    vma.vm_start -= STACK_EXPAND
    vma.vm_pgoff -= STACK_EXPAND >> 12         # expand_downwards()
    return 0
