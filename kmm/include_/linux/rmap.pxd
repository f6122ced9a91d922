# Mirrors include/linux/rmap.h: rmap flags and the try_to_unmap/try_to_migrate
# flags.  struct anon_vma and anon_vma_chain are in mm_types.pxd (Cython cannot
# forward-declare across .pxd files); the functions are in kmm/mm/rmap.pyx.

cdef enum:
    RMAP_NONE = 0
    RMAP_EXCLUSIVE = 1 << 0
    RMAP_COMPOUND = 1 << 1

cdef enum:  # enum ttu_flags
    TTU_SPLIT_HUGE_PMD = 0x4
    TTU_IGNORE_MLOCK = 0x8
    TTU_SYNC = 0x10
    TTU_HWPOISON = 0x20
    TTU_BATCH_FLUSH = 0x40
    TTU_RMAP_LOCKED = 0x80
