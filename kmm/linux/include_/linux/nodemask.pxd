# Mirrors include/linux/nodemask.h for MAX_NUMNODES <= 64: one word.

cdef enum:
    MAX_NUMNODES = 8
    NUMA_NO_NODE = -1

ctypedef unsigned long long nodemask_t

cdef inline void node_set(int node, nodemask_t *mask) noexcept nogil:
    mask[0] |= (1ULL << node)

cdef inline void node_clear(int node, nodemask_t *mask) noexcept nogil:
    mask[0] &= ~(1ULL << node)

cdef inline bint node_isset(int node, nodemask_t mask) noexcept nogil:
    return (mask >> node) & 1

cdef inline bint nodes_empty(nodemask_t mask) noexcept nogil:
    return mask == 0

cdef inline int nodes_weight(nodemask_t mask) noexcept nogil:
    return __builtin_popcountll(mask)

cdef inline int first_node(nodemask_t mask) noexcept nogil:
    if mask == 0:
        return MAX_NUMNODES
    return __builtin_ctzll(mask)

cdef inline int next_node(int n, nodemask_t mask) noexcept nogil:
    """Next set node after n, or MAX_NUMNODES."""
    cdef nodemask_t m
    if n + 1 >= 64:
        return MAX_NUMNODES
    m = mask & ~((2ULL << n) - 1)
    if m == 0:
        return MAX_NUMNODES
    return __builtin_ctzll(m)

cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil
