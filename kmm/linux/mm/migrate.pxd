# The cdef API of kmm/linux/mm/migrate.pyx (mm/migrate.c).

from kmm.linux.include_.linux.list cimport list_head
from kmm.linux.include_.linux.mm_types cimport page, folio, vm_area_struct, address_space, anon_vma
from kmm.linux.include_.linux.mmzone cimport pglist_data
from kmm.linux.include_.linux.migrate cimport new_folio_t, free_folio_t

cdef enum:
    NR_MAX_BATCHED_MIGRATION = 512           # HPAGE_PMD_NR (x86-64 THP), 512 without THP too
    NR_MAX_MIGRATE_PAGES_RETRY = 10
    NR_MAX_MIGRATE_ASYNC_RETRY = 3
    NR_MAX_MIGRATE_SYNC_RETRY = NR_MAX_MIGRATE_PAGES_RETRY - NR_MAX_MIGRATE_ASYNC_RETRY

# mm/migrate.c: what one migrate_pages() call did, in folios and base pages
cdef struct migrate_pages_stats:
    int nr_succeeded                         # base pages migrated
    int nr_failed_pages                      # base pages not migrated
    int nr_thp_succeeded
    int nr_thp_failed
    int nr_thp_split

cdef void remove_migration_ptes(folio *src, folio *dst, bint locked) noexcept nogil
cdef int folio_migrate_mapping(address_space *mapping, folio *newfolio, folio *f,
                               int extra_count) noexcept nogil
cdef void folio_migrate_flags(folio *newfolio, folio *f) noexcept nogil
cdef void folio_migrate_copy(folio *newfolio, folio *f) noexcept nogil
cdef int migrate_folio(address_space *mapping, folio *dst, folio *src, int mode) noexcept nogil
cdef int migrate_pages(list_head *from_, new_folio_t get_new_folio, free_folio_t put_new_folio,
                       unsigned long private, int mode, int reason,
                       unsigned int *ret_succeeded) noexcept nogil
cdef void putback_movable_pages(list_head *l) noexcept nogil
cdef folio *alloc_migration_target(folio *src, unsigned long private) noexcept nogil
cdef folio *alloc_misplaced_dst_folio(folio *src, unsigned long data) noexcept nogil
cdef bint migrate_balanced_pgdat(pglist_data *pgdat, unsigned long nr_migrate_pages) noexcept nogil
cdef int migrate_misplaced_page(page *p, vm_area_struct *vma, int node) noexcept nogil
from kmm.linux.include_.linux.mm_types cimport mm_struct
cdef int do_move_pages_to_node(list_head *pagelist, int node) noexcept nogil
cdef int add_page_for_migration(mm_struct *mm, unsigned long addr, int node,
                                list_head *pagelist, bint migrate_all) noexcept nogil
cdef int do_pages_move(mm_struct *mm, unsigned long nr_pages, const unsigned long *pages,
                       const int *nodes, int *status, int flags) noexcept nogil

# The seed patch (mm/migrate.c#1) and patch 3/3
from kmm.linux.include_.linux.mm_types cimport migrc_req
from kmm.linux.include_.linux.nodemask cimport nodemask_t

cdef void migrc_mark_pending(folio *fsrc, folio *fdst) noexcept nogil
cdef bint migrc_under_processing(folio *fsrc, folio *fdst) noexcept nogil
cdef void migrc_undo_folios(folio *fsrc, folio *fdst) noexcept nogil
cdef void migrc_expand_req(folio *fsrc, folio *fdst, migrc_req *req) noexcept nogil
cdef migrc_req *migrc_req_start() noexcept nogil
cdef void migrc_req_end(migrc_req *req) noexcept nogil
cdef bint migrc_flush_free_folios(nodemask_t *nodes) noexcept nogil
cdef void fold_ubc_ro_to_migrc(migrc_req *req) noexcept nogil
cdef void migrc_pause() noexcept nogil
cdef void migrc_resume() noexcept nogil
cdef bint migrc_paused() noexcept nogil
cdef void fold_migrc_to_ubc(migrc_req *req) noexcept nogil

# CONFIG_MIGRC_FIXES: the flush points of the fixed variant, each named after
# the kernel function that calls migrc_fix_flush() (docs/hazards.md); the
# index into kmm_machine.migrc_fix_flushes[].
cdef enum:
    MIGRC_FIX_HANDLE_MM_FAULT = 0            # handle_mm_fault(): a write fault
    MIGRC_FIX_TLB_FINISH_MMU = 1             # tlb_finish_mmu(): the end of an mmu_gather (mprotect, munmap, NUMA scan)
    MIGRC_FIX_GENERIC_PERFORM_WRITE = 2      # generic_perform_write(): write(2) into the page cache
    MIGRC_FIX_TRUNCATE_INODE_PAGES = 3       # truncate_inode_pages_range(): page-cache pages removed
    MIGRC_FIX_INFLIGHT = 4                   # migrc_flush_free_folios(): another caller's gathered, unflushed batch
    MIGRC_FIX_HANDLE_MM_FAULT_VMA = 5        # handle_mm_fault(): any other fault in a VM_WRITE|VM_MAYWRITE VMA
    MIGRC_NR_FIXES = 6

cdef void migrc_fix_flush(int where) noexcept nogil
cdef void migrc_flush_inflight() noexcept nogil
