# Mirrors arch/x86/include/asm/page_types.h: 4 KiB base pages.

cdef enum:
    PAGE_SHIFT = 12
    PAGE_SIZE = 1 << PAGE_SHIFT
