from kmm.include_.linux.mm_types cimport vm_area_struct

# NUMA hinting
cdef unsigned long change_prot_numa(vm_area_struct *vma, unsigned long addr,
                                    unsigned long end) noexcept nogil
