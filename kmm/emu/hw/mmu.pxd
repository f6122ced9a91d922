cdef int cpu_access(int cpu, unsigned long addr, bint write) noexcept nogil
