# The emulator's host memory for its big, randomly accessed arrays (mem_map,
# page-table contents, the TLB arrays): kmm/emu/hw/hostmem.pyx; and the host
# clock the emulator's speed statistics read.

from kmm.linux.include_.kmm.machine cimport kmm_machine

cdef void *host_alloc(size_t size) noexcept nogil
cdef void host_free(void *p, size_t size) noexcept nogil
cdef void *pt_block_alloc(kmm_machine *m) noexcept nogil
cdef void pt_block_free(kmm_machine *m, void *block) noexcept nogil
cdef void pt_pool_destroy(kmm_machine *m) noexcept nogil

from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

cdef inline long long host_clock_ns() noexcept nogil:
    """The host's monotonic clock (emulator speed statistics only: nothing
    emulated may depend on it)."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000LL + ts.tv_nsec
