from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct, file, anon_vma, pgprot_t
from kmm.linux.include_.linux.mm cimport VM_SHARED, VM_WRITE

from kmm.linux.include_.linux.mman cimport PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC

cdef enum:
    MAP_SHARED = 0x01
    MAP_PRIVATE = 0x02
    MAP_FIXED = 0x10
    MAP_ANONYMOUS = 0x20
    FMODE_READ = 0x1
    FMODE_WRITE = 0x2

cdef vm_area_struct *find_vma(mm_struct *mm, unsigned long addr) noexcept nogil
cdef vm_area_struct *vma_lookup(mm_struct *mm, unsigned long addr) noexcept nogil
cdef vm_area_struct *find_vma_intersection(mm_struct *mm, unsigned long start,
                                           unsigned long end) noexcept nogil
cdef vm_area_struct *vma_merge(mm_struct *mm, vm_area_struct *prev, unsigned long addr,
                               unsigned long end, unsigned long vm_flags, anon_vma *av,
                               file *f, unsigned long pgoff) noexcept nogil
cdef anon_vma *find_mergeable_anon_vma(vm_area_struct *vma) noexcept nogil
cdef bint vma_wants_writenotify(vm_area_struct *vma, pgprot_t vm_page_prot) noexcept nogil
cdef vm_area_struct *vm_area_alloc(mm_struct *mm) noexcept nogil
cdef void vma_set_page_prot(vm_area_struct *vma) noexcept nogil
cdef void vma_link(mm_struct *mm, vm_area_struct *vma) noexcept nogil
cdef void vma_unlink(mm_struct *mm, vm_area_struct *vma) noexcept nogil
cdef void remove_vma(vm_area_struct *vma) noexcept nogil
cdef unsigned long get_unmapped_area(mm_struct *mm, unsigned long len) noexcept nogil
cdef unsigned long mmap_region(mm_struct *mm, file *f, unsigned long addr, unsigned long len,
                               unsigned long vm_flags, unsigned long pgoff) noexcept nogil
cdef unsigned long do_mmap(mm_struct *mm, file *f, unsigned long len, unsigned long prot,
                           unsigned long flags, unsigned long pgoff) noexcept nogil
cdef int __split_vma(mm_struct *mm, vm_area_struct *vma, unsigned long addr, bint new_below) noexcept nogil
cdef int do_vmi_munmap(mm_struct *mm, unsigned long start, unsigned long len) noexcept nogil
cdef void exit_mmap(mm_struct *mm) noexcept nogil


cdef inline bint vma_wants_manual_pte_write_upgrade(vm_area_struct *vma) noexcept nogil:
    """include/linux/mm.h (here because it needs vma_wants_writenotify):
    must PTEs be made writable one by one (can_change_pte_writable), as
    opposed to all at once through vm_page_prot?  Private writable
    mappings always (copy-on-write); shared ones when write-notified."""
    if vma.vm_flags & VM_SHARED:
        return vma_wants_writenotify(vma, vma.vm_page_prot)
    return (vma.vm_flags & VM_WRITE) != 0
