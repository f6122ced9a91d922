from kmm.include_.linux.sched cimport task_struct

cdef task_struct *alloc_task_struct_node(int node) noexcept nogil
cdef void free_all_tasks() noexcept nogil
