from kmm.linux.include_.linux.fault_inject cimport fault_attr

cdef bint should_fail_ex(fault_attr *attr, long size, int flags) noexcept nogil
cdef bint should_fail(fault_attr *attr, long size) noexcept nogil
