"""Mirrors kernel/sched/core.c: each CPU's idle task (swapper/N), which runs
on the kernel's init_mm until a user task is switched in."""

from libc.string cimport strncpy
from libc.stdio cimport snprintf
from kmm.include_.kmm.machine cimport KMM, kmm_machine
from kmm.include_.linux.sched cimport task_struct, PF_KTHREAD


cdef void init_idle(task_struct *idle, int cpu) noexcept nogil:
    cdef kmm_machine *m = KMM()
    idle.flags |= PF_KTHREAD
    idle.cpu = cpu
    idle.on_cpu = 1
    idle.mm = NULL
    idle.active_mm = &m.init_mm
    snprintf(idle.comm, 16, b"swapper/%d", cpu)
    m.cpus[cpu].idle = idle
    m.cpus[cpu].current_task = idle
