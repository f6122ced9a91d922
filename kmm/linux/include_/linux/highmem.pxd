# Mirrors include/linux/highmem.h: copying and clearing whole pages.  The
# emulator has no page contents; the data is represented by its version, so
# a copy copies the version (kmm/emu/debug/oracle.pyx).

from kmm.linux.include_.linux.mm_types cimport page, vm_area_struct

cdef inline void copy_highpage(page *to, page *frm) noexcept nogil:
    to.kmm_version = frm.kmm_version

cdef inline void copy_user_highpage(page *to, page *frm, unsigned long vaddr,
                                    vm_area_struct *vma) noexcept nogil:
    to.kmm_version = frm.kmm_version
