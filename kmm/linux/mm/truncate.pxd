from kmm.linux.include_.linux.mm_types cimport folio, address_space

cdef int truncate_inode_folio(address_space *mapping, folio *f) noexcept nogil
cdef void truncate_inode_pages_range(address_space *mapping, unsigned long lstart,
                                     unsigned long lend) noexcept nogil
cdef void truncate_inode_pages(address_space *mapping, unsigned long lstart) noexcept nogil
cdef void truncate_pagecache(address_space *mapping, unsigned long newsize) noexcept nogil
cdef void truncate_setsize(address_space *mapping, unsigned long newsize) noexcept nogil
