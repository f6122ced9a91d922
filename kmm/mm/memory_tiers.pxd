cdef void establish_demotion_targets() noexcept nogil
cdef int next_demotion_node(int node) noexcept nogil
cdef bint node_is_toptier(int node) noexcept nogil
