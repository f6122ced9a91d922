from kmm.emu.machine cimport Machine
from kmm.linux.include_.linux.mm_types cimport mm_struct, address_space, file
from kmm.linux.include_.linux.sched cimport task_struct


cdef class Process:
    cdef mm_struct *mm
    cdef readonly Machine machine
    cdef readonly tuple threads
    cdef readonly bint alive
    cdef readonly int pid
    cdef _check_init(self)
    cdef _check_alive(self)


cdef class Thread:
    cdef task_struct *task
    cdef readonly Process process
    cdef readonly int cpu
    cdef readonly int index
    cdef _check(self)
    cdef _access(self, addr, bint write)


cdef class File:
    cdef address_space *mapping
    cdef file *filp
    cdef readonly Machine machine
    cdef readonly unsigned long npages
    cdef readonly int ino
    cdef _check(self)
