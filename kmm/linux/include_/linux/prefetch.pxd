# Mirrors include/linux/prefetch.h: hints that a line will be read
# (prefetch) or written (prefetchw) soon.  They change nothing emulated.
#
# Emulator-only: kmm_read_ahead() reads a word and keeps the read from
# being optimised away.  On the development host (a KVM guest) a batch of
# such plain, independent reads overlaps its cache misses more reliably
# than prefetches do (docs/performance.md), so the read-ahead before the
# mirrored loops (mm/rmap.pyx, mm/memory.pyx) and the emulated CPU's
# (kmm/emu/hw/mmu.pyx cpu_access_prefetch) use it for the last link of a
# chain they warm up.

cdef extern from *:
    """
    #define kmm_prefetch(p) __builtin_prefetch((const void *)(p))
    #define kmm_prefetchw(p) __builtin_prefetch((const void *)(p), 1)
    static volatile unsigned long kmm__read_ahead_sink;
    #define kmm_read_ahead(x) (kmm__read_ahead_sink = (unsigned long)(x))
    """
    void prefetch "kmm_prefetch"(const void *p) nogil
    void prefetchw "kmm_prefetchw"(const void *p) nogil
    void kmm_read_ahead(unsigned long x) nogil
