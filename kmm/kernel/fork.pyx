"""Mirrors kernel/fork.c: allocating task structs.  Every task the machine
creates is kept in the machine's task table and freed with the machine."""

from libc.stdlib cimport calloc, realloc, free
from kmm.include_.kmm.machine cimport KMM, kmm_machine
from kmm.include_.linux.sched cimport task_struct


cdef task_struct *alloc_task_struct_node(int node) noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef task_struct *tsk
    cdef task_struct **grown
    if m.nr_tasks == m.tasks_cap:
        grown = <task_struct **>realloc(m.tasks, sizeof(task_struct *) * (m.tasks_cap * 2 + 16))
        if grown == NULL:
            return NULL
        m.tasks = grown
        m.tasks_cap = m.tasks_cap * 2 + 16
    tsk = <task_struct *>calloc(1, sizeof(task_struct))
    if tsk == NULL:
        return NULL
    tsk.pid = m.next_pid
    tsk.tgid = tsk.pid
    m.next_pid += 1
    tsk.pgdat_node = -1
    tsk.numa_preferred_nid = -1
    m.tasks[m.nr_tasks] = tsk
    m.nr_tasks += 1
    return tsk


cdef void free_all_tasks() noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef int i
    for i in range(m.nr_tasks):
        free(m.tasks[i])
    free(m.tasks)
    m.tasks = NULL
    m.nr_tasks = 0
    m.tasks_cap = 0
