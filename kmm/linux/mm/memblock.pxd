cdef void memblock_free_all() noexcept nogil
