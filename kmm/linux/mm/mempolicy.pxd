from kmm.linux.include_.linux.mm_types cimport page, vm_area_struct
from kmm.linux.include_.linux.mempolicy cimport mempolicy
from kmm.linux.include_.linux.sched cimport task_struct

cdef mempolicy *get_task_policy(task_struct *p) noexcept nogil
cdef mempolicy *get_vma_policy(vm_area_struct *vma, unsigned long addr) noexcept nogil
cdef int mpol_misplaced(page *p, vm_area_struct *vma, unsigned long addr) noexcept nogil

# NUMA hinting
cdef unsigned long change_prot_numa(vm_area_struct *vma, unsigned long addr,
                                    unsigned long end) noexcept nogil
