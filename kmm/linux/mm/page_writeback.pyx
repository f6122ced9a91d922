"""Mirrors mm/page-writeback.c: marking a folio dirty.  A page-cache folio
becoming dirty is accounted (NR_FILE_DIRTY, NR_ZONE_WRITE_PENDING); the
emulator has no writeback, so file pages stay dirty once written."""

from kmm.linux.include_.linux.mm_types cimport folio, address_space
from kmm.linux.include_.linux.mmzone cimport NR_FILE_DIRTY, NR_ZONE_WRITE_PENDING
from kmm.linux.include_.linux.mm cimport folio_mapping, folio_pgdat, folio_zone
from kmm.linux.include_.linux.page_flags cimport folio_test_set_dirty
from kmm.linux.include_.linux.vmstat cimport __mod_node_page_state, __mod_zone_page_state


cdef inline void folio_account_dirtied(folio *f, address_space *mapping) noexcept nogil:
    __mod_node_page_state(folio_pgdat(f), NR_FILE_DIRTY, 1)
    __mod_zone_page_state(folio_zone(f), NR_ZONE_WRITE_PENDING, 1)


cdef bint folio_mark_dirty(folio *f) noexcept nogil:
    """Returns true if the folio was newly dirtied."""
    cdef address_space *mapping = folio_mapping(f)
    if folio_test_set_dirty(f):
        return False
    if mapping != NULL:
        folio_account_dirtied(f, mapping)
    return True
