# Mirrors include/linux/highmem.h: copying and clearing whole pages.  The
# emulator has no page contents: a copy only tells the TLB-coherence oracle
# that the data moved (kmm/emu/debug/oracle.pxd).

from kmm.linux.include_.linux.mm_types cimport page, vm_area_struct
from kmm.emu.debug.oracle cimport oracle_page_copy

cdef inline void copy_highpage(page *to, page *frm) noexcept nogil:
    oracle_page_copy(to, frm)

cdef inline void copy_user_highpage(page *to, page *frm, unsigned long vaddr,
                                    vm_area_struct *vma) noexcept nogil:
    oracle_page_copy(to, frm)
