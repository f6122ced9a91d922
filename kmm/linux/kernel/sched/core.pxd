from kmm.linux.include_.linux.sched cimport task_struct

cdef void init_idle(task_struct *idle, int cpu) noexcept nogil
cdef void context_switch(task_struct *prev, task_struct *next) noexcept nogil
cdef void reset_memory_tiering() noexcept nogil
cdef int sysctl_numa_balancing(int state) noexcept nogil
