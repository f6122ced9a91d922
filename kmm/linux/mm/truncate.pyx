"""Mirrors mm/truncate.c: cutting a file's page cache at a new size
(truncate(2) / ftruncate(2) through truncate_setsize()).

The emulated file's size is i_size_pages (whole pages); truncation drops
the page-cache folios past it and the data there (the emulated disk then
holds zeros: a read of a re-extended page sees new data).  No partial
pages, no shadow entries, no writeback to wait for, no private data
(buffer heads) to invalidate.  A locked folio (only possible from an
interleaving callback inside a migration) is passed over, where the
kernel's second pass would wait for it.
"""

from kmm.linux.include_.uapi.asm_generic.errno_base cimport EIO
from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.kmm.interleave cimport kmm_point, KMM_POINT_TRUNCATE_UNMAPPED
from kmm.linux.include_.linux.mm_types cimport folio, address_space
from kmm.linux.include_.linux.mm cimport folio_mapped, folio_get, folio_put
from kmm.linux.include_.linux.page_flags cimport (folio_test_locked, __folio_set_locked,
                                            __folio_clear_locked)
from kmm.emu.debug.oracle cimport oracle_file_truncate
from kmm.linux.mm.filemap cimport folio_cancel_dirty, filemap_remove_folio
from kmm.linux.mm.memory cimport unmap_mapping_pages, unmap_mapping_range
from kmm.linux.mm.migrate cimport migrc_fix_flush, MIGRC_FIX_TRUNCATE_INODE_PAGES


cdef inline void unmap_mapping_folio(folio *f) noexcept nogil:
    """mm/memory.c: zap the folio's page in every VMA still mapping it."""
    unmap_mapping_pages(<address_space *>f.mapping, f.index, 1, False)


cdef void truncate_cleanup_folio(folio *f) noexcept nogil:
    """mm/truncate.c: a folio about to leave the page cache: unmap what
    faulted it in again, and cancel its dirty state."""
    if folio_mapped(f):
        unmap_mapping_folio(f)
    folio_cancel_dirty(f)


cdef int truncate_inode_folio(address_space *mapping, folio *f) noexcept nogil:
    """mm/truncate.c: returns -EIO if the folio left the mapping meanwhile."""
    if <address_space *>f.mapping != mapping:
        return -EIO
    truncate_cleanup_folio(f)
    filemap_remove_folio(f)
    return 0


cdef void truncate_inode_pages_range(address_space *mapping, unsigned long lstart,
                                     unsigned long lend) noexcept nogil:
    """mm/truncate.c: remove the page-cache folios of bytes [lstart, lend]
    (lend -1: to the end); lstart is page aligned here."""
    cdef unsigned long index = (lstart + 4095) >> 12
    cdef unsigned long end = mapping.i_pages_size if lend == <unsigned long>-1 else (lend + 1) >> 12
    cdef folio *f
    if mapping.nrpages != 0:
        while index < end and index < mapping.i_pages_size:
            f = mapping.i_pages[index]
            if f != NULL and not folio_test_locked(f):
                folio_get(f)                      # find_lock_entries()
                __folio_set_locked(f)
                truncate_inode_folio(mapping, f)
                __folio_clear_locked(f)           # folio_unlock()
                folio_put(f)                      # folio_batch_release()
            index += 1
    # CONFIG_MIGRC_FIXES: a page-cache page was removed, and its index may
    # be filled with new data; no deferred entry may still read the old
    # copy (the LUF series flushes at the end of this function)
    migrc_fix_flush(MIGRC_FIX_TRUNCATE_INODE_PAGES)


cdef void truncate_inode_pages(address_space *mapping, unsigned long lstart) noexcept nogil:
    truncate_inode_pages_range(mapping, lstart, <unsigned long>-1)


cdef void truncate_pagecache(address_space *mapping, unsigned long newsize) noexcept nogil:
    """mm/truncate.c: unmap the cut range from every process, drop it from
    the page cache, and unmap again what faulted in meanwhile (private COW
    copies go too: even_cows)."""
    cdef unsigned long holebegin = (newsize + 4095) & ~(<unsigned long>4095)
    unmap_mapping_range(mapping, holebegin, 0, 1)
    kmm_point(KMM_POINT_TRUNCATE_UNMAPPED)          # emulator-only interleaving point
    truncate_inode_pages(mapping, newsize)
    unmap_mapping_range(mapping, holebegin, 0, 1)


cdef void truncate_setsize(address_space *mapping, unsigned long newsize) noexcept nogil:
    """mm/truncate.c: set i_size, then cut the page cache.  The data past
    the new size is gone: the disk holds zeros there (a new data version
    for the oracle)."""
    cdef unsigned long oldpages = mapping.i_size_pages
    cdef unsigned long newpages = newsize >> 12
    mapping.i_size_pages = newpages               # i_size_write()
    if newpages < oldpages:
        oracle_file_truncate(mapping, newpages, oldpages)
    truncate_pagecache(mapping, newsize)
