cdef enum:
    CPU_ACCESS_PREFETCH_MAX = 64

cdef int cpu_access(int cpu, unsigned long addr, bint write) noexcept nogil
cdef int cpu_access_walked(int cpu, unsigned long addr, bint write, unsigned long *ptep,
                           bint *kernel_ran) noexcept nogil
cdef void cpu_access_prefetch(int cpu, const unsigned long *addrs, long n,
                              unsigned long **ptes) noexcept nogil
