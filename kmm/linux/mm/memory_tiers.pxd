cdef void establish_demotion_targets() noexcept nogil
cdef int next_demotion_node(int node) noexcept nogil
cdef bint node_is_toptier(int node) noexcept nogil
from kmm.linux.include_.linux.mmzone cimport pglist_data
from kmm.linux.include_.linux.nodemask cimport nodemask_t
cdef void node_get_allowed_targets(pglist_data *pgdat, nodemask_t *targets) noexcept nogil
