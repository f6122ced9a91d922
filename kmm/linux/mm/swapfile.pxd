cdef void swapfile_init() noexcept nogil
cdef unsigned long long arch_max_swapfile_size() noexcept nogil
