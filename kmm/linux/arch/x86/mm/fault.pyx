"""Mirrors arch/x86/mm/fault.c: a user page fault on the current CPU: find
the VMA, check the access against it, and let handle_mm_fault() fix the
page tables.  Returns the vm_fault_t result (VM_FAULT_SIGSEGV for a bad
access); the emulated CPU retries the access afterwards."""

from kmm.linux.include_.kmm.machine cimport get_current
from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct
from kmm.linux.include_.linux.mm cimport (vm_fault_t, VM_FAULT_SIGSEGV, VM_FAULT_RETRY, VM_WRITE, VM_ACCESS_FLAGS,
                                    FAULT_FLAG_ALLOW_RETRY, FAULT_FLAG_KILLABLE,
                                    FAULT_FLAG_INTERRUPTIBLE, FAULT_FLAG_USER, FAULT_FLAG_WRITE)
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.mm.memory cimport handle_mm_fault
from kmm.linux.mm.mmap cimport vma_lookup


cdef inline bint access_error(unsigned long error_code, vm_area_struct *vma) noexcept nogil:
    if error_code & X86_PF_WRITE:
        return not (vma.vm_flags & VM_WRITE)
    if error_code & X86_PF_PROT:          # read of a present page that faulted
        return True
    return not (vma.vm_flags & VM_ACCESS_FLAGS)


cdef vm_fault_t do_user_addr_fault(unsigned long error_code, unsigned long address) noexcept nogil:
    cdef task_struct *tsk = get_current()
    cdef mm_struct *mm = tsk.mm
    cdef vm_area_struct *vma
    cdef unsigned int flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | \
        FAULT_FLAG_INTERRUPTIBLE | FAULT_FLAG_USER
    if mm == NULL:
        return VM_FAULT_SIGSEGV
    if mm.kmm_mmap_write_locked:
        # lock_vma_under_rcu() fails on a VMA being changed and
        # lock_mm_and_find_vma() sleeps until the writer (mprotect, fork)
        # is done: only reachable from an interleaving callback.  (Per-VMA
        # locks would let a fault on an untouched VMA go on; not modelled.)
        return VM_FAULT_RETRY
    if error_code & X86_PF_WRITE:
        flags |= FAULT_FLAG_WRITE
    vma = vma_lookup(mm, address)
    if vma == NULL:
        return VM_FAULT_SIGSEGV              # bad_area()
    if access_error(error_code, vma):
        return VM_FAULT_SIGSEGV              # bad_area_access_error()
    return handle_mm_fault(vma, address, flags)
