# Mirrors include/linux/mm_types.h: struct page (and the folio view of it),
# struct mm_struct, struct vm_area_struct, and the migrc patch's
# struct migrc_req.
#
# Cython cannot forward-declare a struct across .pxd files, so the structs
# that point at each other (anon_vma from include/linux/rmap.h,
# address_space and file from include/linux/fs.h) are defined here too.

from kmm.linux.include_.linux.list cimport list_head, llist_node
from kmm.linux.include_.linux.cpumask cimport cpumask_t
from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch

ctypedef unsigned long pgprot_t


# struct page: 64 bytes, one per pfn in mem_map.  The kernel overlays many
# unions; the emulator keeps the members its mirrored paths use.
cdef struct page:
    unsigned long flags          # PG_* bits; last_cpupid, node and zone ids on top
    list_head lru                # LRU list, buddy free list, or a migration list
    unsigned long mapping        # address_space*, or anon_vma* | PAGE_MAPPING_ANON
    unsigned long index          # pgoff in the mapping
    unsigned long private        # buddy order when free; table contents for page-table pages
    int _mapcount                # -1 when unmapped; page_type when the page is typed
    int _refcount
    # the TLB-coherence oracle's state, like a page_ext/KASAN shadow: only
    # its hooks in kmm/emu/debug/oracle.pxd touch it
    unsigned int kmm_version     # oracle: version of the data the page holds
    unsigned int kmm_alloc_gen   # oracle: bumped each time the page is allocated

# Every folio the emulator makes is order 0, so a folio is its page.
ctypedef page folio

cdef enum:
    PAGE_MAPPING_ANON = 0x1
    PAGE_MAPPING_MOVABLE = 0x2
    PAGE_MAPPING_FLAGS = 0x3


# arch/x86/include/asm/mmu.h
cdef struct mm_context_t:
    unsigned long long ctx_id
    long long tlb_gen


# include/linux/rmap.h: the anon_vma a private anonymous page belongs to, and
# the chain entries linking it to every VMA (parent's and forked children's)
# that may map its pages.
cdef struct anon_vma:
    anon_vma *root
    int refcount
    unsigned long num_children
    unsigned long num_active_vmas
    list_head rb_root            # anon_vma_chain.same_anon_vma entries (the kernel uses an interval tree)

cdef struct anon_vma_chain:
    vm_area_struct *vma
    anon_vma *anon_vma
    list_head same_vma           # on vma->anon_vma_chain
    list_head same_anon_vma      # on anon_vma->rb_root


# include/linux/fs.h: a file's page cache and the VMAs mapping it.
cdef struct address_space:
    int host                     # inode number (emulator file id)
    folio **i_pages              # index -> folio (the kernel uses an xarray)
    unsigned int *kmm_versions   # oracle: version of each index's data (kmm/emu/debug/oracle.pxd only)
    unsigned long i_pages_size   # room in pages (the largest size the file can reach)
    unsigned long i_size_pages   # i_size_read(host) in pages (emulated files are whole pages)
    unsigned long nrpages
    list_head i_mmap             # vm_area_struct.shared entries (the kernel uses an interval tree)
    int i_mmap_writable          # VM_SHARED writable mappings
    unsigned long flags

cdef struct file:
    address_space *f_mapping
    unsigned int f_mode


cdef struct vma_numab_state:
    unsigned long next_scan
    unsigned long next_pid_reset
    unsigned long access_pids[2]

cdef struct vm_area_struct:
    unsigned long vm_start
    unsigned long vm_end
    vm_area_struct *vm_next      # sorted by vm_start (v6.6 uses a maple tree)
    vm_area_struct *vm_prev
    mm_struct *vm_mm
    pgprot_t vm_page_prot
    unsigned long vm_flags
    list_head anon_vma_chain
    anon_vma *anon_vma
    list_head shared             # on vm_file->f_mapping->i_mmap
    unsigned long vm_pgoff
    file *vm_file
    vma_numab_state numab_state


# mm_struct.  The page-table root is a table page like any other.
cdef enum:
    MM_FILEPAGES = 0
    MM_ANONPAGES = 1
    MM_SWAPENTS = 2
    MM_SHMEMPAGES = 3
    NR_MM_COUNTERS = 4

cdef struct mm_struct:
    int kmm_id                   # emulator handle (the owning process's index)
    vm_area_struct *mmap         # first VMA (sorted list)
    int map_count
    page *pgd                    # the PGD table page
    int mm_users
    int mm_count
    long rss_stat[4]             # NR_MM_COUNTERS
    mm_context_t context
    cpumask_t cpu_bitmap         # mm_cpumask(): CPUs that may hold its TLB entries
    int tlb_flush_pending        # mmu_gathers in flight (inc/dec_tlb_flush_pending)
    int tlb_flush_batched        # bits 0-14 pending batches, 16-30 flushed ones
    unsigned long numa_next_scan
    unsigned long numa_scan_offset
    int numa_scan_seq
    unsigned long mmap_base      # next address a new mapping gets (emulator's get_unmapped_area)
    bint kmm_mmap_write_locked   # emulator: an operation in progress holds mmap_lock for write


cdef inline cpumask_t *mm_cpumask(mm_struct *mm) noexcept nogil:
    """include/linux/mm_types.h: the CPUs that may cache mm's translations."""
    return &mm.cpu_bitmap


# The migrc patch (mm_types.h#1): one request gathers the source folios
# whose TLB flush was deferred, with the CPUs that must be flushed.
cdef struct migrc_req:
    list_head folios
    llist_node llnode
    arch_tlbflush_unmap_batch arch
    int nid
