from kmm.include_.kmm.machine cimport kmm_machine
from kmm.include_.linux.mm_types cimport page
from kmm.include_.linux.sched cimport task_struct

cdef class Machine:
    cdef kmm_machine *m
    cdef readonly object node_specs
    cdef readonly dict kconfig
    cdef readonly dict cpu
    cdef readonly object seed
    cdef dict _sysctl
    cdef list _processes
    cdef readonly object oracle
    cdef _switch_to(self, int cpu, task_struct *next)
    cdef _boot(self, specs, dict sysctl_in)
    cdef void _enter(self) noexcept
    cdef _after(self)
    cdef page *_page(self, pfn) except NULL

