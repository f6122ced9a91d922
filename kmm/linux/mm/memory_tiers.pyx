"""Mirrors mm/memory-tiers.c: which nodes are top tier and where each node
demotes to.

Tiers: nodes with CPUs form the top tier; CPU-less nodes form the tier
below, as when their memory is onlined by a slower-memory driver (dax/kmem
for CXL or PMEM).  v6.6 puts plain CPU-less DRAM nodes in the DRAM tier;
the seed's results (demotion and promotion both happening) require the
two-tier layout, so the emulator models that.
"""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_random_u64
from kmm.linux.include_.linux.nodemask cimport (nodemask_t, node_isset, node_set, nodes_empty,
                                         nodes_weight, first_node, next_node,
                                         NUMA_NO_NODE, MAX_NUMNODES)


cdef inline int node_distance(int a, int b) noexcept nogil:
    return 10 if a == b else 20


cdef void establish_demotion_targets() noexcept nogil:
    """Each top-tier node demotes to the nearest nodes of the next lower
    tier (all at the best distance are preferred); the last tier has none."""
    cdef kmm_machine *m = KMM()
    cdef int node, target, best_distance, distance
    cdef nodemask_t lower
    m.toptier_nodes = m.node_states_cpu & m.node_states_memory
    lower = m.node_states_memory & ~m.toptier_nodes
    for node in range(MAX_NUMNODES):
        m.node_demotion_preferred[node] = 0
    for node in range(m.nr_node_ids):
        if not node_isset(node, m.node_states_memory) or not node_isset(node, m.toptier_nodes):
            continue
        best_distance = -1
        for target in range(m.nr_node_ids):
            if not node_isset(target, lower):
                continue
            distance = node_distance(node, target)
            if best_distance == -1 or distance < best_distance:
                best_distance = distance
                m.node_demotion_preferred[node] = 0
            if distance == best_distance:
                node_set(target, &m.node_demotion_preferred[node])


cdef int next_demotion_node(int node) noexcept nogil:
    """A preferred demotion target of node, picked at random among equals
    (node_random()), or NUMA_NO_NODE."""
    cdef nodemask_t preferred = KMM().node_demotion_preferred[node]
    cdef int w, n, i
    if nodes_empty(preferred):
        return NUMA_NO_NODE
    w = nodes_weight(preferred)
    n = first_node(preferred)
    if w > 1:
        for i in range(<int>(kmm_random_u64() % <unsigned long long>w)):
            n = next_node(n, preferred)
    return n


cdef bint node_is_toptier(int node) noexcept nogil:
    return node_isset(node, KMM().toptier_nodes)


cdef void node_get_allowed_targets(pglist_data *pgdat, nodemask_t *targets) noexcept nogil:
    """mm/memory-tiers.c: every node of the tiers below pgdat's (its
    memtier's lower_tier_mask).  With the emulator's two tiers: the
    CPU-less nodes for a top-tier node, none for a lower-tier node."""
    cdef kmm_machine *m = KMM()
    if node_isset(pgdat.node_id, m.toptier_nodes):
        targets[0] = m.node_states_memory & ~m.toptier_nodes
    else:
        targets[0] = 0

