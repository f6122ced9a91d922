from kmm.linux.include_.linux.mm_types cimport page, mm_struct, address_space

cdef enum:
    ORACLE_STALE_READ = 1      # read an outdated copy of the data
    ORACLE_STALE_WRITE = 2     # wrote a page that is no longer the mapped one
    ORACLE_FREED_PAGE = 3      # reached a page that is free
    ORACLE_REUSED_PAGE = 4     # reached a page freed and allocated again since

cdef unsigned int kmm_new_version() noexcept nogil
cdef void oracle_record(int kind, int cpu, mm_struct *mm, bint write, unsigned long addr,
                        unsigned long pfn, unsigned long cur_pfn, unsigned int seen,
                        unsigned int want) noexcept nogil
cdef unsigned int *file_version_slot(address_space *mapping, unsigned long index) noexcept nogil
