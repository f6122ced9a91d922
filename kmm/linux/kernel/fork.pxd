from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.mm_types cimport mm_struct

cdef task_struct *alloc_task_struct_node(int node) noexcept nogil
cdef void free_all_tasks() noexcept nogil
cdef mm_struct *mm_alloc() noexcept nogil
cdef void mmput(mm_struct *mm) noexcept nogil
cdef void mmdrop(mm_struct *mm) noexcept nogil
cdef void free_all_mms() noexcept nogil
cdef int dup_mmap(mm_struct *mm, mm_struct *oldmm) noexcept nogil
cdef mm_struct *dup_mm(mm_struct *oldmm) noexcept nogil
