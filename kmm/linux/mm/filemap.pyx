"""Mirrors mm/filemap.c: the page cache, file faults, and read(2)/write(2)
copying through the page cache without user PTEs.

A file here is an address_space of a fixed number of pages backed by an
emulated disk that always holds the file's latest data: reading a page in
gives it the file's current data version.  There is no writeback, so dirty
pages stay dirty; no readahead (one page per miss)."""

from kmm.linux.include_.uapi.asm_generic.errno_base cimport EEXIST, EINVAL, ENOMEM
from kmm.linux.include_.kmm.machine cimport KMM, numa_node_id
from kmm.linux.include_.linux.gfp_types cimport GFP_HIGHUSER_MOVABLE
from kmm.linux.include_.linux.mm_types cimport folio, address_space
from kmm.linux.include_.linux.mm cimport (vm_fault, vm_fault_t, VM_FAULT_SIGBUS, VM_FAULT_OOM,
                                    VM_FAULT_MAJOR, VM_FAULT_LOCKED, folio_get, folio_put,
                                    folio_pgdat, folio_nr_pages)
from kmm.linux.include_.linux.mmzone cimport NR_FILE_PAGES
from kmm.linux.include_.linux.page_flags cimport (__folio_set_locked, __folio_clear_locked, __folio_set_uptodate,
                                            folio_test_locked)
from kmm.linux.include_.linux.page_ref cimport folio_ref_add
from kmm.linux.include_.linux.vmstat cimport __mod_node_page_state
from kmm.emu.debug.oracle cimport oracle_file_page_read, oracle_file_read_data, oracle_file_page_write
from kmm.linux.mm.page_alloc cimport __folio_alloc
from kmm.linux.mm.page_writeback cimport folio_mark_dirty
from kmm.linux.mm.swap cimport folio_add_lru
from kmm.linux.mm.migrate cimport migrc_fix_flush, MIGRC_FIX_GENERIC_PERFORM_WRITE


cdef folio *filemap_get_folio(address_space *mapping, unsigned long index) noexcept nogil:
    """The cached folio at index with a reference taken, or NULL."""
    cdef folio *f
    if index >= mapping.i_pages_size:
        return NULL
    f = mapping.i_pages[index]
    if f != NULL:
        folio_get(f)
    return f


cdef int filemap_add_folio(address_space *mapping, folio *f, unsigned long index,
                           unsigned int gfp) noexcept nogil:
    """Insert a new, locked folio; the page cache holds its own reference."""
    if mapping.i_pages[index] != NULL:
        return -EEXIST
    __folio_set_locked(f)
    folio_ref_add(f, folio_nr_pages(f))
    f.mapping = <unsigned long>mapping
    f.index = index
    mapping.i_pages[index] = f
    mapping.nrpages += 1
    __mod_node_page_state(folio_pgdat(f), NR_FILE_PAGES, folio_nr_pages(f))
    folio_add_lru(f)
    return 0


cdef folio *filemap_read_folio(address_space *mapping, unsigned long index) noexcept nogil:
    """Allocate a folio on the local node, add it and read the page in
    (the disk holds the file's latest data).  Returns it locked and
    referenced, or NULL when memory runs out."""
    cdef folio *f = __folio_alloc(GFP_HIGHUSER_MOVABLE, 0, numa_node_id(), NULL)
    if f == NULL:
        return NULL
    if filemap_add_folio(mapping, f, index, GFP_HIGHUSER_MOVABLE) != 0:
        folio_put(f)
        return NULL
    oracle_file_page_read(mapping, index, f)
    __folio_set_uptodate(f)
    return f


cdef vm_fault_t filemap_fault(vm_fault *vmf) noexcept nogil:
    """mm/filemap.c: find (or read in) the page at vmf->pgoff; return it
    locked, with a reference for the mapping."""
    cdef address_space *mapping = vmf.vma.vm_file.f_mapping
    cdef folio *f
    cdef vm_fault_t ret = 0
    if vmf.pgoff >= mapping.i_size_pages:
        return VM_FAULT_SIGBUS           # past i_size
    f = filemap_get_folio(mapping, vmf.pgoff)
    if f == NULL:
        f = filemap_read_folio(mapping, vmf.pgoff)
        if f == NULL:
            return VM_FAULT_OOM
        ret = VM_FAULT_MAJOR
    else:
        __folio_set_locked(f)
    vmf.page = f
    return ret | VM_FAULT_LOCKED


cdef vm_fault_t filemap_page_mkwrite(vm_fault *vmf) noexcept nogil:
    """mm/filemap.c: a shared mapping is about to write the page: dirty it
    (the page stays locked for the caller)."""
    cdef folio *f = vmf.page
    if not folio_test_locked(f):
        __folio_set_locked(f)
    folio_mark_dirty(f)
    return VM_FAULT_LOCKED


cdef long filemap_read(address_space *mapping, unsigned long index, unsigned int *version) noexcept nogil:
    """mm/filemap.c: read(2) of one page: copy from the page cache (reading
    the page in on a miss).  Returns bytes read (0 past i_size), or
    -ENOMEM / -EINVAL."""
    cdef folio *f
    if index >= mapping.i_pages_size:
        return -EINVAL
    if index >= mapping.i_size_pages:
        return 0
    f = filemap_get_folio(mapping, index)
    if f == NULL:
        f = filemap_read_folio(mapping, index)
        if f == NULL:
            return -ENOMEM
    __folio_clear_locked(f)                       # folio_unlock
    version[0] = oracle_file_read_data(f)
    folio_put(f)
    return 4096


cdef long generic_perform_write(address_space *mapping, unsigned long index) noexcept nogil:
    """mm/filemap.c: write(2) of one whole page: write_begin (find or create
    the page), copy the new data in, write_end (dirty it)."""
    cdef folio *f
    if index >= mapping.i_pages_size:
        return -EINVAL
    f = filemap_get_folio(mapping, index)
    if f == NULL:
        f = filemap_read_folio(mapping, index)
        if f == NULL:
            return -ENOMEM
    # CONFIG_MIGRC_FIXES: the page is about to change under CPUs that may
    # still read its old copy through deferred translations (the LUF
    # series flushes in mapping_write_begin())
    migrc_fix_flush(MIGRC_FIX_GENERIC_PERFORM_WRITE)
    oracle_file_page_write(mapping, index, f)
    folio_mark_dirty(f)
    if index >= mapping.i_size_pages:            # generic_write_end(): i_size_write()
        mapping.i_size_pages = index + 1
    __folio_clear_locked(f)                       # folio_unlock
    folio_put(f)
    return 4096


# ---------------------------------------------------------------------------
# Removing a folio from the page cache (truncation)

from kmm.linux.include_.linux.page_flags cimport folio_test_dirty, folio_clear_dirty
from kmm.linux.include_.linux.mmzone cimport NR_FILE_DIRTY, NR_ZONE_WRITE_PENDING
from kmm.linux.include_.linux.mm cimport folio_zone
from kmm.linux.include_.linux.vmstat cimport __mod_zone_page_state


cdef inline void folio_account_cleaned(folio *f) noexcept nogil:
    """mm/page-writeback.c: a dirty page-cache folio stops being dirty
    without being written back."""
    __mod_node_page_state(folio_pgdat(f), NR_FILE_DIRTY, -1)
    __mod_zone_page_state(folio_zone(f), NR_ZONE_WRITE_PENDING, -1)


cdef void folio_cancel_dirty(folio *f) noexcept nogil:
    """include/linux/pagemap.h + __folio_cancel_dirty(): drop the dirty
    state of a folio that is going away (its data will never be written)."""
    if folio_test_dirty(f):
        folio_clear_dirty(f)
        folio_account_cleaned(f)


cdef void __filemap_remove_folio(folio *f, void *shadow) noexcept nogil:
    """mm/filemap.c: filemap_unaccount_folio() + page_cache_delete(): the
    index no longer finds the folio, which loses its mapping."""
    cdef address_space *mapping = <address_space *>f.mapping
    __mod_node_page_state(folio_pgdat(f), NR_FILE_PAGES, -folio_nr_pages(f))
    if folio_test_dirty(f):
        folio_account_cleaned(f)         # the kernel WARNs: callers cancel the dirty state first
    mapping.i_pages[f.index] = NULL      # xas_store(&xas, shadow)
    f.mapping = 0
    mapping.nrpages -= folio_nr_pages(f)


cdef void filemap_remove_folio(folio *f) noexcept nogil:
    """mm/filemap.c: remove a locked folio from the page cache and drop the
    page cache's reference (filemap_free_folio)."""
    __filemap_remove_folio(f, NULL)
    folio_put(f)                         # folio_put_refs(folio, folio_nr_pages(folio))
