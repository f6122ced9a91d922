# The machine whose state mirrored kernel code is running on.  A leaf module
# so every mirrored module can reach it without import cycles; the pointer is
# untyped here and typed by KMM() in kmm/include/kmm/machine.pxd.

cdef void *kmm_current() noexcept nogil
cdef void kmm_set_current(void *m) noexcept nogil
