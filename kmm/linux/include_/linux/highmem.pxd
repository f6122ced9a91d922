# Mirrors include/linux/highmem.h: copying and clearing whole pages.  The
# emulator has no page contents: a copy only tells the TLB-coherence oracle
# that the data moved (kmm/emu/debug/oracle.pxd); the copy's time is charged
# (kmm/emu/hw/cost.pxd).

from kmm.linux.include_.linux.mm_types cimport page, vm_area_struct
from kmm.emu.debug.oracle cimport oracle_page_copy
from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_COPY_PAGE

cdef inline void copy_highpage(page *to, page *frm) noexcept nogil:
    oracle_page_copy(to, frm)
    kmm_charge(KMM_COST_COPY_PAGE, 1)

cdef inline void copy_user_highpage(page *to, page *frm, unsigned long vaddr,
                                    vm_area_struct *vma) noexcept nogil:
    oracle_page_copy(to, frm)
    kmm_charge(KMM_COST_COPY_PAGE, 1)
