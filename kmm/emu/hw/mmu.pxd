cdef enum:
    CPU_ACCESS_PREFETCH_MAX = 64

cdef int cpu_access(int cpu, unsigned long addr, bint write) noexcept nogil
cdef void cpu_access_prefetch(int cpu, const unsigned long *addrs, long n) noexcept nogil
