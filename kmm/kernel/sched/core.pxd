from kmm.include_.linux.sched cimport task_struct

cdef void init_idle(task_struct *idle, int cpu) noexcept nogil
