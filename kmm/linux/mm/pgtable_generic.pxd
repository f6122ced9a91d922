from kmm.linux.include_.linux.mm_types cimport vm_area_struct
cdef unsigned long ptep_clear_flush(vm_area_struct *vma, unsigned long address,
                                    unsigned long *ptep) noexcept nogil
