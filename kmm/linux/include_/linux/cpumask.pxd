# Mirrors include/linux/cpumask.h for NR_CPUS <= 64: a cpumask is one word.

cdef enum:
    NR_CPUS = 64

ctypedef unsigned long long cpumask_t

cdef inline void cpumask_set_cpu(int cpu, cpumask_t *mask) noexcept nogil:
    mask[0] |= (1ULL << cpu)

cdef inline void cpumask_clear_cpu(int cpu, cpumask_t *mask) noexcept nogil:
    mask[0] &= ~(1ULL << cpu)

cdef inline bint cpumask_test_cpu(int cpu, const cpumask_t *mask) noexcept nogil:
    return (mask[0] >> cpu) & 1

cdef inline void cpumask_clear(cpumask_t *mask) noexcept nogil:
    mask[0] = 0

cdef inline void cpumask_or(cpumask_t *dst, const cpumask_t *a, const cpumask_t *b) noexcept nogil:
    dst[0] = a[0] | b[0]

cdef inline bint cpumask_empty(const cpumask_t *mask) noexcept nogil:
    return mask[0] == 0

cdef inline unsigned int cpumask_weight(const cpumask_t *mask) noexcept nogil:
    return __builtin_popcountll(mask[0])

cdef inline int cpumask_any_but(const cpumask_t *mask, int cpu) noexcept nogil:
    """First CPU in mask other than cpu, or NR_CPUS (kernel: >= nr_cpu_ids)."""
    cdef cpumask_t m = mask[0] & ~(1ULL << cpu)
    if m == 0:
        return NR_CPUS
    return __builtin_ctzll(m)

cdef extern from *:
    int __builtin_popcountll(unsigned long long) nogil
    int __builtin_ctzll(unsigned long long) nogil
