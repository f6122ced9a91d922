from kmm.linux.include_.linux.mmzone cimport pglist_data

cdef enum:
    # x86-64 zone limits (arch/x86/mm/init.c zone_sizes_init), in pfns
    MAX_DMA_PFN = (16 * 1024 * 1024) >> 12
    MAX_DMA32_PFN = 1 << (32 - 12)

cdef void free_area_init_node(int nid, unsigned long start_pfn, unsigned long end_pfn) noexcept nogil
