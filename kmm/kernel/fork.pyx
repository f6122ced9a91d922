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


cdef mm_struct *mm_alloc() noexcept nogil:
    """kernel/fork.c: a new, empty address space with its PGD table and a
    TLB context id.  NULL when memory runs out."""
    cdef kmm_machine *m = KMM()
    cdef mm_struct **grown
    cdef mm_struct *mm
    if m.nr_mms == m.mms_cap:
        grown = <mm_struct **>realloc(m.mms, sizeof(mm_struct *) * (m.mms_cap * 2 + 16))
        if grown == NULL:
            return NULL
        m.mms = grown
        m.mms_cap = m.mms_cap * 2 + 16
    mm = <mm_struct *>calloc(1, sizeof(mm_struct))
    if mm == NULL:
        return NULL
    m.mms[m.nr_mms] = mm
    mm.kmm_id = m.nr_mms
    m.nr_mms += 1
    mm.mm_users = 1
    mm.mm_count = 1
    mm.mmap_base = MMAP_BASE
    mm.pgd = pgd_alloc(mm)
    if mm.pgd == NULL:
        free(mm)
        return NULL
    init_new_context(NULL, mm)
    return mm


cdef void mmput(mm_struct *mm) noexcept nogil:
    """kernel/fork.c: drop a user of mm; the last one tears it down."""
    mm.mm_users -= 1
    if mm.mm_users > 0:
        return
    exit_mmap(mm)
    free_all_pgtables(mm)
    mmdrop(mm)


cdef void mmdrop(mm_struct *mm) noexcept nogil:
    """kernel/fork.c: the last lazy user lets go.  The kernel frees the
    struct here; the emulator keeps it in the machine's table until the
    machine goes away (nothing observable depends on reusing it)."""
    mm.mm_count -= 1


cdef void free_all_mms() noexcept nogil:
    """Machine teardown: tear down live address spaces, free every mm."""
    cdef kmm_machine *m = KMM()
    cdef int i
    for i in range(m.nr_mms):
        if m.mms[i].mm_users > 0:
            m.mms[i].mm_users = 1
            mmput(m.mms[i])
    for i in range(m.nr_mms):
        free(m.mms[i])
    free(m.mms)
    m.mms = NULL
    m.nr_mms = 0


from kmm.include_.linux.mm_types cimport mm_struct
from kmm.arch.x86.include_.asm.mmu_context cimport init_new_context
from kmm.arch.x86.mm.pgtable cimport pgd_alloc
from kmm.mm.mmap cimport exit_mmap
from kmm.mm.memory cimport free_all_pgtables

cdef enum:
    # mmap_base(): TASK_SIZE minus the 128 MiB minimum stack gap, no
    # randomisation, page aligned
    MMAP_BASE = 0x7ffff7fff000
