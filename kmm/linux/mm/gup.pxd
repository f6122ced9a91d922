# The cdef API of kmm/linux/mm/gup.pyx (mm/gup.c).

from kmm.linux.include_.linux.mm_types cimport page, vm_area_struct

# include/linux/mm.h: follow_page() flags (the ones modelled)
cdef enum:
    FOLL_WRITE = 0x01
    FOLL_GET = 0x04          # internal in v6.6 (mm/internal.h): take a reference
    FOLL_DUMP = 0x08

cdef page *follow_page(vm_area_struct *vma, unsigned long address, unsigned int foll_flags) noexcept nogil
