# Mirrors the part of include/linux/sched/mm.h the mirror and face use.

from kmm.linux.include_.linux.mm_types cimport mm_struct


cdef inline void mmget(mm_struct *mm) noexcept nogil:
    """include/linux/sched/mm.h: one more user of the address space (a
    CLONE_VM thread); mmput() drops it."""
    mm.mm_users += 1
