"""Mirrors mm/mempolicy.c: the NUMA memory policy a fault follows, and
whether a page found by a NUMA hint fault is misplaced.

No task or VMA sets a policy in the emulator (no mbind/set_mempolicy), so
every lookup ends at the kernel's default for a task without one: the
preferred_node_policy of the node the task runs on -- MPOL_PREFERRED of that
node, with MPOL_F_MOF | MPOL_F_MORON (migrate on fault, towards the CPU
that references the page).  A page already on that node is therefore never
misplaced, and should_numa_migrate_memory() is not even asked.
"""

from kmm.linux.include_.kmm.machine cimport KMM, numa_node_id, smp_processor_id, cpu_to_node, get_current
from kmm.linux.include_.linux.mm cimport page_to_nid
from kmm.linux.include_.linux.mempolicy cimport *
from kmm.linux.include_.linux.nodemask cimport (nodemask_t, node_isset, first_node, NUMA_NO_NODE,
                                          MAX_NUMNODES)
from kmm.linux.kernel.sched.fair cimport should_numa_migrate_memory

# preferred_node_policy[MAX_NUMNODES] (numa_policy_init) and default_policy.
# Machine-independent: a node's entry is the same on every machine.
cdef mempolicy preferred_node_policy[8]
cdef mempolicy default_policy


cdef void numa_policy_init() noexcept nogil:
    """mm/mempolicy.c: every node's preferred_node_policy."""
    cdef int nid
    default_policy.mode = MPOL_LOCAL
    default_policy.flags = 0
    default_policy.nodes = 0
    for nid in range(MAX_NUMNODES):
        preferred_node_policy[nid].mode = MPOL_PREFERRED
        preferred_node_policy[nid].flags = MPOL_F_MOF | MPOL_F_MORON
        preferred_node_policy[nid].nodes = 1ULL << nid

numa_policy_init()


cdef mempolicy *get_task_policy(task_struct *p) noexcept nogil:
    """mm/mempolicy.c: p's own policy (none in the emulator), else the
    preferred_node_policy of the node this CPU belongs to."""
    cdef int node = numa_node_id()
    if node != NUMA_NO_NODE:
        return &preferred_node_policy[node]
    return &default_policy


cdef mempolicy *get_vma_policy(vm_area_struct *vma, unsigned long addr) noexcept nogil:
    """mm/mempolicy.c: no VMA has a policy of its own: the task's."""
    return get_task_policy(get_current())


cdef int mpol_misplaced(page *p, vm_area_struct *vma, unsigned long addr) noexcept nogil:
    """mm/mempolicy.c: the node the page at addr should move to after a NUMA
    hint fault on this CPU, or NUMA_NO_NODE if it is where the policy wants
    it (or the policy does not migrate on fault).  With MPOL_F_MORON the
    target is this CPU's node, subject to should_numa_migrate_memory()."""
    cdef mempolicy *pol
    cdef int curnid = page_to_nid(p)
    cdef int thiscpu = smp_processor_id()
    cdef int thisnid = cpu_to_node(thiscpu)
    cdef int polnid = NUMA_NO_NODE
    cdef int ret = NUMA_NO_NODE

    pol = get_vma_policy(vma, addr)
    if not (pol.flags & MPOL_F_MOF):
        return ret

    if pol.mode == MPOL_PREFERRED:
        if node_isset(curnid, pol.nodes):
            return ret
        polnid = first_node(pol.nodes)
    elif pol.mode == MPOL_LOCAL:
        polnid = numa_node_id()
    else:
        # MPOL_INTERLEAVE, MPOL_BIND, MPOL_PREFERRED_MANY: no task or VMA
        # can have them here
        return ret

    # migrate the page towards the node whose CPU is referencing it
    if pol.flags & MPOL_F_MORON:
        polnid = thisnid
        if not should_numa_migrate_memory(get_current(), p, curnid, thiscpu):
            return ret

    if curnid != polnid:
        ret = polnid
    return ret



from kmm.linux.include_.linux.mm_types cimport vm_area_struct
from kmm.linux.include_.linux.mm cimport MM_CP_PROT_NUMA
from kmm.linux.include_.linux.vm_event_item cimport NUMA_PTE_UPDATES
from kmm.linux.include_.linux.vmstat cimport count_vm_numa_events
from kmm.linux.include_.asm_generic.tlb cimport mmu_gather
from kmm.linux.mm.mmu_gather cimport tlb_gather_mmu, tlb_finish_mmu
from kmm.linux.mm.mprotect cimport change_protection


# ---------------------------------------------------------------------------
# NUMA hinting: change_prot_numa

cdef unsigned long change_prot_numa(vm_area_struct *vma, unsigned long addr,
                                    unsigned long end) noexcept nogil:
    """mm/mempolicy.c: make the PTEs of [addr, end) (inside vma) PROT_NONE so
    the next access takes a NUMA hint fault; returns how many changed
    (also counted as numa_pte_updates).  While the gather is open the mm's
    tlb_flush_pending is raised, which makes the new PROT_NONE entries
    pte_accessible() to anyone clearing them concurrently (they may still
    be cached until this flush); the range is flushed at the VMA's end."""
    cdef mmu_gather tlb
    cdef long nr_updated
    tlb_gather_mmu(&tlb, vma.vm_mm)
    nr_updated = change_protection(&tlb, vma, addr, end, MM_CP_PROT_NUMA)
    if nr_updated > 0:
        count_vm_numa_events(NUMA_PTE_UPDATES, nr_updated)
    tlb_finish_mmu(&tlb)
    return <unsigned long>nr_updated
