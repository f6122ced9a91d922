# The CR3 side of arch/x86/entry/entry_64.S, where the emulated CPU enters
# and leaves the kernel.  The kernel switches CR3 (calling.pxd) in
# error_entry / entry_SYSCALL_64 when an exception, interrupt or system call
# comes from user mode, and in swapgs_restore_regs_and_return_to_usermode /
# the sysret path when it returns there; an interrupt taken in kernel mode
# switches nothing.
#
# The emulator's glue (kmm_*).  The CPU's privilege level is the emulated
# hardware's tlb_cpu.cpl; kmm_cpu.kmm_kernel_depth counts the kernel entries
# a CPU has not left (an IPI taken while the CPU runs kernel code nests).
# They are called where the emulator delivers a page fault
# (kmm/emu/hw/mmu.pyx), an IPI (kmm/linux/kernel/smp.pyx), a tick or a
# kswapd preemption (kmm/emu/engine.pyx), and where the face runs kernel
# code on a CPU (Machine.on_cpu: a system call or an interrupt).  When the
# outermost entry is left, the CPU returns to user mode if its current task
# is a user task -- the one that entered, or one switched in meanwhile,
# which returns from schedule() or ret_from_fork to user mode.

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_cpu
from kmm.linux.arch.x86.entry.calling cimport SWITCH_TO_KERNEL_CR3, SWITCH_TO_USER_CR3


cdef inline void kmm_entry(int cpu) noexcept nogil:
    """cpu enters the kernel; from user mode the entry code switches to the
    kernel CR3."""
    cdef kmm_machine *m = KMM()
    cdef kmm_cpu *c = &m.cpus[cpu]
    cdef int saved = m.cpu
    c.kmm_kernel_depth += 1
    if c.hw_tlb.cpl == 0:
        return
    c.hw_tlb.cpl = 0
    m.cpu = cpu
    SWITCH_TO_KERNEL_CR3()
    m.cpu = saved


cdef inline void kmm_return_to_user(int cpu) noexcept nogil:
    """cpu, in no kernel entry, returns to user mode if its current task is
    a user task and it is not there already: the entry code switches to the
    user CR3.  kmm/emu/hw/mmu.pyx also calls it before a user access made
    in kernel mode (a CPU that never entered since boot)."""
    cdef kmm_machine *m = KMM()
    cdef kmm_cpu *c = &m.cpus[cpu]
    cdef int saved = m.cpu
    if c.hw_tlb.cpl == 3 or c.kmm_kernel_depth or c.current_task == NULL or \
            c.current_task.mm == NULL:
        return
    m.cpu = cpu
    SWITCH_TO_USER_CR3()
    m.cpu = saved
    c.hw_tlb.cpl = 3


cdef inline void kmm_exit(int cpu) noexcept nogil:
    """cpu leaves what kmm_entry entered: from the outermost entry, back to
    user mode if a user task is current (a kernel thread switched in stays
    in the kernel; the task it replaced returns when switched back)."""
    cdef kmm_cpu *c = &KMM().cpus[cpu]
    c.kmm_kernel_depth -= 1
    kmm_return_to_user(cpu)
