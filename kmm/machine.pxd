from kmm.include_.kmm.machine cimport kmm_machine
from kmm.include_.linux.mm_types cimport page

cdef class Machine:
    cdef kmm_machine *m
    cdef readonly object node_specs
    cdef readonly dict kconfig
    cdef readonly dict cpu
    cdef readonly object seed
    cdef dict _sysctl
    cdef _boot(self, specs, dict sysctl_in)
    cdef void _enter(self) noexcept
    cdef _after(self)
    cdef page *_page(self, pfn) except NULL

