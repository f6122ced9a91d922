# Mirrors include/linux/mm.h (and the FLATMEM parts of asm-generic/memory_model.h):
# pfn <-> page, the node and zone a page belongs to, folio references and
# mapcounts.

from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.mm_types cimport (page, folio, anon_vma, address_space,
                                         PAGE_MAPPING_ANON, PAGE_MAPPING_FLAGS)
from kmm.linux.include_.linux.mmzone cimport zone, pglist_data
from kmm.linux.include_.linux.page_flags cimport (ZONES_PGSHIFT, ZONES_MASK, NODES_PGSHIFT,
                                           NODES_MASK)
from kmm.linux.include_.linux.page_ref cimport folio_ref_inc, folio_ref_dec_and_test
from kmm.linux.mm.swap cimport __folio_put

cdef enum:
    # last_cpupid lives in page->flags (LAST_CPUPID_NOT_IN_PAGE_FLAGS is
    # unset): 8 bits of pid and 13 of cpu, below the node and zone ids.
    LAST_CPUPID_SHIFT = 21
    LAST_CPUPID_MASK = (1 << 21) - 1
    LAST_CPUPID_PGSHIFT = 35


cdef inline unsigned long page_to_pfn(const page *p) noexcept nogil:
    return <unsigned long>(p - KMM().mem_map)

cdef inline page *pfn_to_page(unsigned long pfn) noexcept nogil:
    return KMM().mem_map + pfn

cdef inline unsigned long folio_pfn(const folio *f) noexcept nogil:
    return <unsigned long>(f - KMM().mem_map)

cdef inline folio *page_folio(page *p) noexcept nogil:
    return p

cdef inline page *folio_page(folio *f, long n) noexcept nogil:
    return f + n

cdef inline int page_zonenum(const page *p) noexcept nogil:
    return (p.flags >> ZONES_PGSHIFT) & ZONES_MASK

cdef inline int page_to_nid(const page *p) noexcept nogil:
    return (p.flags >> NODES_PGSHIFT) & NODES_MASK

cdef inline int folio_nid(const folio *f) noexcept nogil:
    return (f.flags >> NODES_PGSHIFT) & NODES_MASK

cdef inline pglist_data *page_pgdat(const page *p) noexcept nogil:
    return KMM().node_data[page_to_nid(p)]

cdef inline pglist_data *folio_pgdat(const folio *f) noexcept nogil:
    return KMM().node_data[folio_nid(f)]

cdef inline zone *page_zone(const page *p) noexcept nogil:
    return &KMM().node_data[page_to_nid(p)].node_zones[page_zonenum(p)]

cdef inline zone *folio_zone(const folio *f) noexcept nogil:
    return page_zone(f)

cdef inline void set_page_links(page *p, int zone_idx, int nid) noexcept nogil:
    p.flags &= ~((<unsigned long>ZONES_MASK << ZONES_PGSHIFT) | (<unsigned long>NODES_MASK << NODES_PGSHIFT))
    p.flags |= (<unsigned long>zone_idx << ZONES_PGSHIFT) | (<unsigned long>nid << NODES_PGSHIFT)

cdef inline long folio_nr_pages(const folio *f) noexcept nogil:
    return 1

cdef inline void folio_get(folio *f) noexcept nogil:
    folio_ref_inc(f)

cdef inline void get_page(page *p) noexcept nogil:
    folio_ref_inc(p)

cdef inline bint folio_put_testzero(folio *f) noexcept nogil:
    return folio_ref_dec_and_test(f)

cdef inline void folio_put(folio *f) noexcept nogil:
    if folio_put_testzero(f):
        __folio_put(f)

cdef inline void put_page(page *p) noexcept nogil:
    folio_put(page_folio(p))

cdef inline int page_mapcount(const page *p) noexcept nogil:
    return p._mapcount + 1

cdef inline int folio_mapcount(const folio *f) noexcept nogil:
    return f._mapcount + 1

cdef inline bint folio_mapped(const folio *f) noexcept nogil:
    return f._mapcount >= 0

cdef inline bint page_mapped(const page *p) noexcept nogil:
    return p._mapcount >= 0

cdef inline void page_mapcount_reset(page *p) noexcept nogil:
    p._mapcount = -1

cdef inline bint folio_test_anon(const folio *f) noexcept nogil:
    return (f.mapping & PAGE_MAPPING_ANON) != 0

cdef inline bint PageAnon(const page *p) noexcept nogil:
    return (p.mapping & PAGE_MAPPING_ANON) != 0

cdef inline bint PageKsm(const page *p) noexcept nogil:
    """include/linux/page-flags.h: a KSM page has both mapping bits set.
    The emulator has no KSM, so this is never true; it is kept for the
    paths that test it."""
    return (p.mapping & PAGE_MAPPING_FLAGS) == PAGE_MAPPING_FLAGS

cdef inline bint PageMappingFlags(const page *p) noexcept nogil:
    return (p.mapping & PAGE_MAPPING_FLAGS) != 0

cdef inline anon_vma *folio_anon_vma(const folio *f) noexcept nogil:
    if (f.mapping & PAGE_MAPPING_FLAGS) != PAGE_MAPPING_ANON:
        return NULL
    return <anon_vma *>(f.mapping - PAGE_MAPPING_ANON)

cdef inline address_space *folio_mapping(const folio *f) noexcept nogil:
    """The page-cache mapping of a file folio; NULL for anon (no swap cache here)."""
    if f.mapping & PAGE_MAPPING_FLAGS:
        return NULL
    return <address_space *>f.mapping

cdef inline int page_cpupid_last(const page *p) noexcept nogil:
    return (p.flags >> LAST_CPUPID_PGSHIFT) & LAST_CPUPID_MASK

cdef inline int page_cpupid_xchg_last(page *p, int cpupid) noexcept nogil:
    cdef int old = (p.flags >> LAST_CPUPID_PGSHIFT) & LAST_CPUPID_MASK
    p.flags &= ~((<unsigned long>LAST_CPUPID_MASK) << LAST_CPUPID_PGSHIFT)
    p.flags |= (<unsigned long>(cpupid & LAST_CPUPID_MASK)) << LAST_CPUPID_PGSHIFT
    return old

cdef inline void page_cpupid_reset_last(page *p) noexcept nogil:
    p.flags |= (<unsigned long>LAST_CPUPID_MASK) << LAST_CPUPID_PGSHIFT

cdef inline int xchg_page_access_time(page *p, int time) noexcept nogil:
    """Tiering mode stores the page's last scan/access time (ms, truncated)
    in the last_cpupid bits; returns the old value."""
    return page_cpupid_xchg_last(p, time & LAST_CPUPID_MASK)


# ---------------------------------------------------------------------------
# VMAs and faults (include/linux/mm.h, include/linux/mm_types.h vm_fault_t)

from kmm.linux.include_.linux.mm_types cimport vm_area_struct, mm_struct, pgprot_t

cdef enum:
    VM_NONE = 0x0
    VM_READ = 0x1
    VM_WRITE = 0x2
    VM_EXEC = 0x4
    VM_SHARED = 0x8
    VM_MAYREAD = 0x10
    VM_MAYWRITE = 0x20
    VM_MAYEXEC = 0x40
    VM_MAYSHARE = 0x80
    VM_GROWSDOWN = 0x100
    VM_PFNMAP = 0x400
    VM_LOCKED = 0x2000
    VM_IO = 0x4000
    VM_DONTCOPY = 0x20000
    VM_DONTEXPAND = 0x40000
    VM_ACCOUNT = 0x100000
    VM_NORESERVE = 0x200000
    VM_HUGETLB = 0x400000
    VM_MIXEDMAP = 0x10000000
    VM_ACCESS_FLAGS = VM_READ | VM_WRITE | VM_EXEC
    VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP

cdef enum:
    # change_protection() flags
    MM_CP_TRY_CHANGE_WRITABLE = 1 << 0     # make PTEs writable where no write fault is needed
    MM_CP_PROT_NUMA = 1 << 1               # NUMA hinting: PAGE_NONE, with the scanner's skips
    MM_CP_UFFD_WP = 1 << 2
    MM_CP_UFFD_WP_RESOLVE = 1 << 3
    MM_CP_UFFD_WP_ALL = MM_CP_UFFD_WP | MM_CP_UFFD_WP_RESOLVE

cdef enum:
    FAULT_FLAG_WRITE = 1 << 0
    FAULT_FLAG_MKWRITE = 1 << 1
    FAULT_FLAG_ALLOW_RETRY = 1 << 2
    FAULT_FLAG_RETRY_NOWAIT = 1 << 3
    FAULT_FLAG_KILLABLE = 1 << 4
    FAULT_FLAG_TRIED = 1 << 5
    FAULT_FLAG_USER = 1 << 6
    FAULT_FLAG_REMOTE = 1 << 7
    FAULT_FLAG_INSTRUCTION = 1 << 8
    FAULT_FLAG_INTERRUPTIBLE = 1 << 9
    FAULT_FLAG_UNSHARE = 1 << 10
    FAULT_FLAG_ORIG_PTE_VALID = 1 << 11

cdef enum:  # enum vm_fault_reason
    VM_FAULT_OOM = 0x000001
    VM_FAULT_SIGBUS = 0x000002
    VM_FAULT_MAJOR = 0x000004
    VM_FAULT_HWPOISON = 0x000010
    VM_FAULT_SIGSEGV = 0x000040
    VM_FAULT_NOPAGE = 0x000100
    VM_FAULT_LOCKED = 0x000200
    VM_FAULT_RETRY = 0x000400
    VM_FAULT_FALLBACK = 0x000800
    VM_FAULT_DONE_COW = 0x001000
    VM_FAULT_COMPLETED = 0x004000
    VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON | VM_FAULT_FALLBACK

ctypedef unsigned int vm_fault_t

cdef struct vm_fault:
    vm_area_struct *vma
    unsigned int gfp_mask
    unsigned long pgoff
    unsigned long address
    unsigned long real_address
    unsigned int flags
    unsigned long *pmd
    unsigned long orig_pte
    page *cow_page
    page *page
    unsigned long *pte


cdef inline bint is_cow_mapping(unsigned long flags) noexcept nogil:
    """Private and possibly writable: its pages are copied on write."""
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE

cdef inline int page_count(const page *p) noexcept nogil:
    return p._refcount

cdef inline bint vma_is_anonymous(const vm_area_struct *vma) noexcept nogil:
    return vma.vm_file == NULL

cdef inline unsigned long linear_page_index(const vm_area_struct *vma, unsigned long address) noexcept nogil:
    return ((address - vma.vm_start) >> 12) + vma.vm_pgoff

cdef inline unsigned long vma_pages(const vm_area_struct *vma) noexcept nogil:
    return (vma.vm_end - vma.vm_start) >> 12

cdef inline void inc_mm_counter(mm_struct *mm, int member) noexcept nogil:
    mm.rss_stat[member] += 1

cdef inline void dec_mm_counter(mm_struct *mm, int member) noexcept nogil:
    mm.rss_stat[member] -= 1

cdef inline void add_mm_counter(mm_struct *mm, int member, long value) noexcept nogil:
    mm.rss_stat[member] += value


# ---------------------------------------------------------------------------
# Pins (include/linux/mm.h): a page pinned for DMA holds GUP_PIN_COUNTING_BIAS
# references per pin; an order-0 folio "may be pinned" once its refcount
# reaches the bias.  The emulator has no GUP, so only a test that takes
# that many references can make it true.

cdef enum:
    GUP_PIN_COUNTING_BIAS = 1 << 10

cdef inline bint folio_maybe_dma_pinned(const folio *f) noexcept nogil:
    return f._refcount >= GUP_PIN_COUNTING_BIAS


# ---------------------------------------------------------------------------
# last_cpupid (include/linux/mm.h, CONFIG_NUMA_BALANCING): the last CPU and
# pid (low 8 bits) that took a NUMA hint fault on the page, packed in
# LAST_CPUPID_SHIFT = 8 + NR_CPUS_BITS(13) = 21 bits (page_cpupid_xchg_last
# above keeps them in page->flags).

cdef enum:
    LAST__PID_SHIFT = 8
    LAST__PID_MASK = (1 << LAST__PID_SHIFT) - 1
    LAST__CPU_SHIFT = 13
    LAST__CPU_MASK = (1 << LAST__CPU_SHIFT) - 1
    PAGE_ACCESS_TIME_BUCKETS = 0          # LAST_CPUPID_SHIFT >= PAGE_ACCESS_TIME_MIN_BITS (12)
    PAGE_ACCESS_TIME_MASK = LAST_CPUPID_MASK << PAGE_ACCESS_TIME_BUCKETS

cdef inline int cpu_pid_to_cpupid(int cpu, int pid) noexcept nogil:
    return ((cpu & LAST__CPU_MASK) << LAST__PID_SHIFT) | (pid & LAST__PID_MASK)

cdef inline int cpupid_to_pid(int cpupid) noexcept nogil:
    return cpupid & LAST__PID_MASK

cdef inline int cpupid_to_cpu(int cpupid) noexcept nogil:
    return (cpupid >> LAST__PID_SHIFT) & LAST__CPU_MASK

cdef inline bint cpupid_pid_unset(int cpupid) noexcept nogil:
    return cpupid_to_pid(cpupid) == (-1 & LAST__PID_MASK)

cdef inline bint cpupid_cpu_unset(int cpupid) noexcept nogil:
    return cpupid_to_cpu(cpupid) == (-1 & LAST__CPU_MASK)

cdef inline bint __cpupid_match_pid(int task_pid, int cpupid) noexcept nogil:
    return (task_pid & LAST__PID_MASK) == cpupid_to_pid(cpupid)
