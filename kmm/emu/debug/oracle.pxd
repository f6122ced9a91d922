# The TLB-coherence oracle's hooks (kmm/emu/debug/oracle.pyx; docs/oracle.md).
#
# Like the kernel's debug facilities (kasan_*, page_table_check_*), the
# oracle is reached only through the named hooks below, called where mm
# code changes the data a page or a PTE stands for, and from the emulated
# CPU's access path.  Only this header touches the oracle's storage:
# page->kmm_version, page->kmm_alloc_gen, address_space->kmm_versions and
# the version slot beside each leaf PTE (kmm_pt.kmm_ver).
#
# The versions are kept whether or not the oracle is enabled (a few stores
# per event), so that enabling it mid-run never sees outdated versions;
# only the recording of violations depends on oracle_enabled.

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mm_types cimport page, mm_struct, address_space
from kmm.linux.include_.linux.mm cimport PageAnon, folio_mapping
from kmm.linux.include_.linux.page_flags cimport PageBuddy
from kmm.linux.include_.linux.pgtable cimport kmm_pt, walk_pte
from kmm.linux.include_.linux.swapops cimport (is_swap_pte, pte_to_swp_entry, is_migration_entry,
                                               swp_offset_pfn)
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_pfn
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport _PAGE_PRESENT

cdef enum:
    ORACLE_STALE_READ = 1      # read an outdated copy of the data
    ORACLE_STALE_WRITE = 2     # wrote a page that is no longer the mapped one
    ORACLE_FREED_PAGE = 3      # reached a page that is free
    ORACLE_REUSED_PAGE = 4     # reached a page freed and allocated again since

cdef enum:
    ORACLE_NO_PFN = -1

cdef void oracle_record(int kind, int cpu, mm_struct *mm, bint write, unsigned long addr,
                        unsigned long pfn, unsigned long cur_pfn, unsigned int seen,
                        unsigned int want) noexcept nogil


# The Python view of one machine's oracle (Machine.oracle).
cdef class Oracle:
    cdef kmm_machine *m                  # NULL: not attached to a machine
    cdef readonly object machine         # the machine viewed; keeps *m alive
    cdef kmm_machine *_m(self) except NULL

cdef Oracle oracle_view(object machine, kmm_machine *m)


# ---------------------------------------------------------------------------
# Storage (private to the facility)

cdef inline unsigned int kmm_new_version() noexcept nogil:
    """A new data version (machine-wide counter; 0 means "never written")."""
    cdef kmm_machine *m = KMM()
    m.kmm_next_version += 1
    if m.kmm_next_version == 0:
        m.kmm_next_version = 1
    return m.kmm_next_version

cdef inline unsigned int *pte_kmm_ver(unsigned long *ptep) noexcept nogil:
    """The version slot beside a leaf entry: the version of the logical page
    the entry maps (its table is one 4 KiB-aligned kmm_pt block)."""
    cdef kmm_pt *t = <kmm_pt *>(<size_t>ptep & ~(<size_t>4095))
    return &t.kmm_ver[(<size_t>ptep & 4095) >> 3]

cdef inline unsigned int oracle_zero_page_version() noexcept nogil:
    cdef kmm_machine *m = KMM()
    return m.mem_map[m.zero_pfn].kmm_version


# ---------------------------------------------------------------------------
# Hooks in mm code: what happened to the data

cdef inline void oracle_page_init(page *p) noexcept nogil:
    """mm/mm_init.c __init_single_page(): the page holds no data yet."""
    p.kmm_version = 0

cdef inline void oracle_alloc_pages(page *p, unsigned int order) noexcept nogil:
    """mm/page_alloc.c post_alloc_hook(): a new life for each page of the
    block; a TLB entry cached in an earlier life is a reused-page access."""
    cdef unsigned int i
    for i in range(1U << order):
        (p + i).kmm_alloc_gen += 1

cdef inline void oracle_page_copy(page *dst, page *src) noexcept nogil:
    """include/linux/highmem.h copy_highpage() / copy_user_highpage(): dst
    now holds src's data."""
    dst.kmm_version = src.kmm_version

cdef inline void oracle_anon_page_new(page *p, unsigned long *ptep) noexcept nogil:
    """mm/memory.c do_anonymous_page(): a new zero-filled page is mapped at
    ptep: a new logical page with new data."""
    cdef unsigned int v = kmm_new_version()
    p.kmm_version = v
    pte_kmm_ver(ptep)[0] = v

cdef inline void oracle_zero_page_map(unsigned long *ptep) noexcept nogil:
    """mm/memory.c do_anonymous_page(): ptep maps the shared zero page: the
    logical page holds the zero page's data."""
    pte_kmm_ver(ptep)[0] = oracle_zero_page_version()

cdef inline void oracle_cow_zero_page(page *p) noexcept nogil:
    """mm/memory.c wp_page_copy(): the copy of the zero page is a zeroed
    page: it holds the zero page's data."""
    p.kmm_version = oracle_zero_page_version()

cdef inline void oracle_cow_page_map(page *p, unsigned long *ptep) noexcept nogil:
    """mm/memory.c wp_page_copy() / set_pte_range(): ptep now maps the
    private copy p: the copy is the logical page from now on."""
    pte_kmm_ver(ptep)[0] = p.kmm_version

cdef inline void oracle_pte_copy(unsigned long *dst_ptep, unsigned long *src_ptep) noexcept nogil:
    """mm/memory.c copy_present_pte() / copy_nonpresent_pte() (fork): the
    child's entry stands for the same logical data as the parent's."""
    pte_kmm_ver(dst_ptep)[0] = pte_kmm_ver(src_ptep)[0]

cdef inline void oracle_file_page_read(address_space *mapping, unsigned long index,
                                       page *p) noexcept nogil:
    """mm/filemap.c filemap_read_folio(): p is read in from the disk, which
    holds the file's latest data at index."""
    p.kmm_version = mapping.kmm_versions[index]

cdef inline unsigned int oracle_file_read_data(page *p) noexcept nogil:
    """mm/filemap.c filemap_read(): the data read(2) copies out of page p
    (its version, handed back to the caller)."""
    return p.kmm_version

cdef inline void oracle_file_page_write(address_space *mapping, unsigned long index,
                                        page *p) noexcept nogil:
    """mm/filemap.c generic_perform_write(): write(2) puts new data in the
    cached page p, which is the file's data at index from now on."""
    cdef unsigned int v = kmm_new_version()
    p.kmm_version = v
    mapping.kmm_versions[index] = v

cdef inline void oracle_file_truncate(address_space *mapping, unsigned long newpages,
                                      unsigned long oldpages) noexcept nogil:
    """mm/truncate.c truncate_setsize(): the data of pages [newpages,
    oldpages) is gone (the disk holds zeros there: new data)."""
    cdef unsigned long i
    for i in range(newpages, oldpages):
        mapping.kmm_versions[i] = kmm_new_version()

cdef inline void oracle_file_new(address_space *mapping, unsigned int *slots,
                                 unsigned long npages) noexcept nogil:
    """A new file on the emulated disk (kmm/emu/process.pyx create_file):
    slots hold its pages' versions, each page's data a version of its own."""
    cdef unsigned long i
    mapping.kmm_versions = slots
    for i in range(npages):
        slots[i] = kmm_new_version()

cdef inline unsigned int oracle_page_version(page *p) noexcept nogil:
    """The version of the data page p holds (for dump_page-like views)."""
    return p.kmm_version

cdef inline unsigned int oracle_pte_version(unsigned long *ptep) noexcept nogil:
    """The version of the logical page a leaf entry stands for."""
    return pte_kmm_ver(ptep)[0]


# ---------------------------------------------------------------------------
# Hooks in the emulated CPU's access path (kmm/emu/hw/mmu.pyx cpu_access)

cdef inline unsigned int *oracle_pte_slot(unsigned long *ptep) noexcept nogil:
    """Where the access path will read the version beside ptep (for the
    host-side prefetch in kmm/emu/hw/mmu.pyx: an address, not a read)."""
    return pte_kmm_ver(ptep)

cdef inline unsigned int oracle_page_gen(page *p) noexcept nogil:
    """What a TLB entry caches about the life of the page it maps."""
    return p.kmm_alloc_gen

cdef inline unsigned int *oracle_logical_version(page *p, unsigned long *ptep) noexcept nogil:
    """Where the version of the logical page p stands for at ptep lives:
    beside the PTE for anonymous data, in the file for page-cache data."""
    cdef address_space *mapping
    if p == NULL or PageAnon(p):
        return pte_kmm_ver(ptep)
    mapping = folio_mapping(p)
    if mapping == NULL or p.index >= mapping.i_pages_size:
        return pte_kmm_ver(ptep)
    return &mapping.kmm_versions[p.index]

cdef inline void oracle_data_access(kmm_machine *m, int cpu, mm_struct *mm, unsigned long addr,
                                    bint write, page *p, unsigned int *logical) noexcept nogil:
    """The access reaches page p, whose logical page's version is *logical:
    a store makes new data; a load must see the logical page's data."""
    cdef unsigned int v
    if write:
        v = kmm_new_version()
        p.kmm_version = v
        logical[0] = v
    elif m.oracle_enabled and p.kmm_version != logical[0]:
        oracle_record(ORACLE_STALE_READ, cpu, mm, False, addr, p - m.mem_map,
                      p - m.mem_map, p.kmm_version, logical[0])

cdef inline void oracle_walk_access(kmm_machine *m, int cpu, mm_struct *mm, unsigned long addr,
                                    bint write, page *p, unsigned long *ptep) noexcept nogil:
    """An access through a translation just walked from the live PTE ptep
    mapping page p."""
    if p != m.mem_map + m.zero_pfn:              # the zero page's data never changes
        oracle_data_access(m, cpu, mm, addr, write, p, oracle_logical_version(p, ptep))

cdef inline void oracle_check_access(kmm_machine *m, int cpu, mm_struct *mm, unsigned long addr,
                                     bint write, pte_t pteval, unsigned int page_gen,
                                     unsigned long *walked) noexcept nogil:
    """An access through a cached TLB translation (pteval, cached in the
    page's life page_gen), checked against the page tables as they are now.
    walked: addr's PTE slot if the caller already walked to it (the access
    path's prefetch pass, kmm/emu/hw/mmu.pyx), else NULL."""
    cdef unsigned long pfn = pte_pfn(pteval)
    cdef page *p = m.mem_map + pfn
    cdef unsigned long *ptep
    cdef pte_t cur = 0
    cdef unsigned long cur_pfn = <unsigned long>ORACLE_NO_PFN
    cdef page *cur_page = NULL
    cdef unsigned int *logical
    m.nr_oracle_checks += 1
    if pfn == m.zero_pfn:
        return                                   # reads of the zero page cannot go stale
    if PageBuddy(p) or p._refcount <= 0:
        if m.oracle_enabled:
            oracle_record(ORACLE_FREED_PAGE, cpu, mm, write, addr, pfn, cur_pfn,
                          p.kmm_version, 0)
        return
    if p.kmm_alloc_gen != page_gen:
        if m.oracle_enabled:
            oracle_record(ORACLE_REUSED_PAGE, cpu, mm, write, addr, pfn, cur_pfn,
                          p.kmm_version, 0)
        return
    ptep = walked if walked != NULL else walk_pte(mm, addr)
    if ptep != NULL:
        cur = ptep[0]
        if cur & _PAGE_PRESENT:
            cur_pfn = pte_pfn(cur)
        elif is_swap_pte(cur) and is_migration_entry(pte_to_swp_entry(cur)):
            cur_pfn = swp_offset_pfn(pte_to_swp_entry(cur))
        if cur_pfn != <unsigned long>ORACLE_NO_PFN and cur_pfn < m.max_pfn:
            cur_page = m.mem_map + cur_pfn
    if cur_pfn == pfn:
        oracle_data_access(m, cpu, mm, addr, write, p, oracle_logical_version(p, ptep))
        return
    if cur_page == NULL or cur_pfn == m.zero_pfn:
        # unmapped but not yet freed: the program raced its own munmap;
        # the data it sees is still the page's own.
        if write:
            p.kmm_version = kmm_new_version()
        return
    logical = oracle_logical_version(cur_page, ptep)
    if write:
        p.kmm_version = kmm_new_version()        # lands on the old page, lost
        if m.oracle_enabled:
            oracle_record(ORACLE_STALE_WRITE, cpu, mm, True, addr, pfn, cur_pfn,
                          p.kmm_version, logical[0])
    elif p.kmm_version != logical[0] and m.oracle_enabled:
        oracle_record(ORACLE_STALE_READ, cpu, mm, False, addr, pfn, cur_pfn,
                      p.kmm_version, logical[0])
