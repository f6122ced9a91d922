"""Mirrors kernel/fork.c: allocating task structs (every task the machine
creates is kept in the machine's task table and freed with the machine),
mm_alloc/mmput, and the address-space half of fork(): dup_mm -> dup_mmap ->
vm_area_dup, anon_vma_fork (mm/rmap.c), copy_page_range (mm/memory.c)."""

from kmm.linux.include_.kmm.trace cimport KMM_SITE_MUNMAP, KMM_SITE_FORK
from kmm.linux.kernel.trace.trace cimport kmm_site_enter, kmm_site_exit
from kmm.linux.include_.uapi.asm_generic.errno_base cimport ENOMEM
from libc.stdlib cimport calloc, realloc, free
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.sched cimport task_struct


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
        # mm_init() failing in mm_alloc_pgd(): free_mm(), so the machine's
        # table must not keep the freed struct (teardown walks it)
        m.nr_mms -= 1
        m.mms[m.nr_mms] = NULL
        free(mm)
        return NULL
    init_new_context(NULL, mm)
    return mm


cdef void mmput(mm_struct *mm) noexcept nogil:
    """kernel/fork.c: drop a user of mm; the last one tears it down."""
    cdef int site
    mm.mm_users -= 1
    if mm.mm_users > 0:
        return
    site = kmm_site_enter(KMM_SITE_MUNMAP)
    exit_mmap(mm)
    kmm_site_exit(site)
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


from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct
from kmm.linux.arch.x86.include_.asm.mmu_context cimport init_new_context
from kmm.linux.arch.x86.mm.pgtable cimport pgd_alloc
from kmm.linux.mm.mmap cimport exit_mmap
from kmm.linux.mm.memory cimport free_all_pgtables

cdef enum:
    # mmap_base(): TASK_SIZE minus the 128 MiB minimum stack gap, no
    # randomisation, page aligned
    MMAP_BASE = 0x7ffff7fff000


# ---------------------------------------------------------------------------
# fork(): duplicating an address space

from libc.string cimport memcpy, memset
from kmm.linux.include_.kmm.interleave cimport kmm_point, KMM_POINT_DUP_MMAP_BEFORE_FLUSH
from kmm.linux.include_.linux.list cimport INIT_LIST_HEAD, list_add
from kmm.linux.include_.linux.mm cimport VM_LOCKED, VM_DONTCOPY
from kmm.linux.arch.x86.mm.tlb cimport flush_tlb_mm
from kmm.linux.mm.mmap cimport vma_link, remove_vma
from kmm.linux.mm.memory cimport copy_page_range
from kmm.linux.mm.rmap cimport anon_vma_fork

cdef enum:
    VM_WIPEONFORK = 0x02000000              # never set here (no madvise)
    VM_LOCKONFAULT = 0x00080000


cdef vm_area_struct *vm_area_dup(vm_area_struct *orig) noexcept nogil:
    """kernel/fork.c: a copy of the VMA for the child, on no lists yet."""
    cdef vm_area_struct *new = <vm_area_struct *>calloc(1, sizeof(vm_area_struct))
    if new == NULL:
        return NULL
    memcpy(new, orig, sizeof(vm_area_struct))
    INIT_LIST_HEAD(&new.anon_vma_chain)
    INIT_LIST_HEAD(&new.shared)
    new.vm_next = NULL
    new.vm_prev = NULL
    memset(&new.numab_state, 0, sizeof(new.numab_state))   # vma_numab_state_init()
    return new


cdef int dup_mmap(mm_struct *mm, mm_struct *oldmm) noexcept nogil:
    """kernel/fork.c: copy every VMA of oldmm into the new mm (the child's
    anon_vma linked under the parent's, file VMAs added to i_mmap) and its
    page tables (copy_page_range, which write-protects COW PTEs in the
    parent); then flush_tlb_mm(oldmm), which drops every translation the
    parent's CPUs cache -- including the ones a deferred flush left behind.
    Both mmap_locks are held for write throughout.  Returns 0 or -ENOMEM."""
    cdef vm_area_struct *mpnt = oldmm.mmap
    cdef vm_area_struct *tmp
    cdef int retval = 0
    oldmm.kmm_mmap_write_locked = True      # mmap_write_lock_killable(oldmm)
    mm.kmm_mmap_write_locked = True         # mmap_write_lock_nested(mm)
    mm.mmap_base = oldmm.mmap_base
    while mpnt != NULL:
        if mpnt.vm_flags & VM_DONTCOPY:
            mpnt = mpnt.vm_next
            continue
        tmp = vm_area_dup(mpnt)
        if tmp == NULL:
            retval = -ENOMEM
            break
        tmp.vm_mm = mm
        if anon_vma_fork(tmp, mpnt):
            free(tmp)
            retval = -ENOMEM
            break
        tmp.vm_flags &= ~(<unsigned long>(VM_LOCKED | VM_LOCKONFAULT))
        vma_link(mm, tmp)           # also adds a file VMA to i_mmap (vma_interval_tree_insert_after)
        if not (tmp.vm_flags & VM_WIPEONFORK):
            retval = copy_page_range(tmp, mpnt)
            if retval:
                break
        mpnt = mpnt.vm_next
    mm.kmm_mmap_write_locked = False        # mmap_write_unlock(mm)
    kmm_point(KMM_POINT_DUP_MMAP_BEFORE_FLUSH)  # emulator-only interleaving point
    flush_tlb_mm(oldmm)
    oldmm.kmm_mmap_write_locked = False     # mmap_write_unlock(oldmm)
    return retval


cdef mm_struct *dup_mm(mm_struct *oldmm) noexcept nogil:
    """kernel/fork.c: a new mm that copies oldmm (allocate_mm, mm_init,
    dup_mmap).  NULL when memory runs out (the half-built mm is torn
    down)."""
    cdef int site, rc
    cdef mm_struct *mm = mm_alloc()
    if mm == NULL:
        return NULL
    site = kmm_site_enter(KMM_SITE_FORK)
    rc = dup_mmap(mm, oldmm)
    kmm_site_exit(site)
    if rc:
        mm.mm_users = 1
        mmput(mm)
        return NULL
    return mm
