# Mirrors include/linux/math.h's int_sqrt() (lib/math/int_sqrt.c).

cdef extern from *:
    int __builtin_clzl(unsigned long) nogil


cdef inline unsigned long int_sqrt(unsigned long x) noexcept nogil:
    """floor(sqrt(x)), bit by bit."""
    cdef unsigned long b, m, y = 0
    if x <= 1:
        return x
    m = 1UL << ((63 - __builtin_clzl(x)) & ~1UL)
    while m != 0:
        b = y + m
        y >>= 1
        if x >= b:
            x -= b
            y += m
        m >>= 2
    return y
