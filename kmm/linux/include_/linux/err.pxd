# Mirrors include/linux/err.h: an errno carried in a pointer (the last page
# of the address space).

cdef enum:
    MAX_ERRNO = 4095

cdef inline void *ERR_PTR(long error) noexcept nogil:
    return <void *>error

cdef inline long PTR_ERR(const void *ptr) noexcept nogil:
    return <long>ptr

cdef inline bint IS_ERR(const void *ptr) noexcept nogil:
    return <unsigned long>ptr >= <unsigned long>(-MAX_ERRNO)
