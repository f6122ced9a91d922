# Mirrors include/linux/random.h: the random numbers mirrored code draws.
# They come from the machine's seeded generator (kmm_random_u64), so a run
# is repeatable: the same seed draws the same numbers.

from kmm.linux.include_.kmm.machine cimport kmm_random_u64


cdef inline unsigned int get_random_u32() noexcept nogil:
    return <unsigned int>(kmm_random_u64() >> 32)


cdef inline unsigned int get_random_u32_below(unsigned int ceil) noexcept nogil:
    """A uniform integer in [0, ceil): the high half of ceil * a 32-bit
    draw, drawing again while the low half falls in the short stretch that
    would make some results likelier (drivers/char/random.c
    __get_random_u32_below)."""
    cdef unsigned long long mult
    cdef unsigned int bound
    if ceil <= 1:
        return 0
    mult = <unsigned long long>ceil * get_random_u32()
    if <unsigned int>mult < ceil:
        bound = (<unsigned int>0 - ceil) % ceil
        while <unsigned int>mult < bound:
            mult = <unsigned long long>ceil * get_random_u32()
    return <unsigned int>(mult >> 32)
