"""Holds the machine the mirrored kernel code is currently running on.

The kernel's globals (NODE_DATA, mem_map, per-CPU data, sysctls) live in one
struct kmm_machine per emulated machine; the Python API makes its machine
current before it calls into mirrored code.
"""

cdef void *_current = NULL

cdef void *kmm_current() noexcept nogil:
    return _current

cdef void kmm_set_current(void *m) noexcept nogil:
    global _current
    _current = m

cdef void **kmm_current_slot() noexcept nogil:
    return &_current
