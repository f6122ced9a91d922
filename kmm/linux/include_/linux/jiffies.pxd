# Mirrors include/linux/jiffies.h for HZ=1000: the tick counter derived from
# the machine's virtual clock.  As in the kernel it starts 5 minutes before
# wrapping its low 32 bits (INITIAL_JIFFIES), so code comparing 32-bit
# millisecond stamps meets the wrap early, as it would on a real boot.

from kmm.linux.include_.kmm.machine cimport KMM

cdef enum:
    HZ = 1000
    TICK_NSEC = (1000000000 + HZ // 2) // HZ     # include/vdso/jiffies.h
    MSEC_PER_SEC = 1000

cdef extern from *:
    """
    #define KMM_INITIAL_JIFFIES ((unsigned long)(unsigned int)(-300 * 1000))
    """
    const unsigned long INITIAL_JIFFIES "KMM_INITIAL_JIFFIES"


cdef inline unsigned long jiffies() noexcept nogil:
    """The kernel's `jiffies` variable: ticks since boot plus INITIAL_JIFFIES."""
    return INITIAL_JIFFIES + <unsigned long>(KMM().clock_ns // (1000000000 // HZ))

cdef inline bint time_after(unsigned long a, unsigned long b) noexcept nogil:
    """a is later than b, across the counter's wrap."""
    return <long>(b - a) < 0

cdef inline bint time_before(unsigned long a, unsigned long b) noexcept nogil:
    return time_after(b, a)

cdef inline unsigned int jiffies_to_msecs(unsigned long j) noexcept nogil:
    return <unsigned int>(j * (MSEC_PER_SEC // HZ))
