# The one loop that performs a thread's accesses (kmm/emu/access.pyx).

cdef long cpu_access_batch(int cpu, const unsigned long *addrs, const unsigned char *writes,
                           long n, int *rc) noexcept nogil
