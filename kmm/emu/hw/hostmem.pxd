# The emulator's host memory for its big, randomly accessed arrays (mem_map,
# page-table contents, the TLB arrays): kmm/emu/hw/hostmem.pyx.

from kmm.linux.include_.kmm.machine cimport kmm_machine

cdef void *host_alloc(size_t size) noexcept nogil
cdef void host_free(void *p, size_t size) noexcept nogil
cdef void *pt_block_alloc(kmm_machine *m) noexcept nogil
cdef void pt_block_free(kmm_machine *m, void *block) noexcept nogil
cdef void pt_pool_destroy(kmm_machine *m) noexcept nogil
