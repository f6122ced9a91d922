# Mirrors include/linux/swapops.h (and the swap-type numbers of
# include/linux/swap.h): the arch-independent swp_entry_t and migration
# entries.  A migration entry's offset is the source pfn, and -- when the
# CPU allows it (swap_migration_ad_supported) -- the young/dirty bits above.

from kmm.linux.include_.kmm.machine cimport KMM
from kmm.linux.include_.linux.mm_types cimport page
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_none, pte_present
from kmm.linux.arch.x86.include_.asm.pgtable_64 cimport __swp_type, __swp_offset, __swp_entry

ctypedef unsigned long swp_entry_t

cdef enum:
    MAX_SWAPFILES_SHIFT = 5
    SWP_TYPE_SHIFT = 63 - MAX_SWAPFILES_SHIFT      # BITS_PER_XA_VALUE - MAX_SWAPFILES_SHIFT
    SWP_HWPOISON_NUM = 1
    SWP_MIGRATION_NUM = 3
    SWP_PTE_MARKER_NUM = 1
    MAX_SWAPFILES = (1 << MAX_SWAPFILES_SHIFT) - SWP_MIGRATION_NUM - SWP_HWPOISON_NUM - SWP_PTE_MARKER_NUM
    SWP_HWPOISON = MAX_SWAPFILES
    SWP_MIGRATION_READ = MAX_SWAPFILES + SWP_HWPOISON_NUM
    SWP_MIGRATION_READ_EXCLUSIVE = MAX_SWAPFILES + SWP_HWPOISON_NUM + 1
    SWP_MIGRATION_WRITE = MAX_SWAPFILES + SWP_HWPOISON_NUM + 2
    SWP_PFN_BITS = 46 - 12                          # MAX_PHYSMEM_BITS - PAGE_SHIFT
    SWP_MIG_YOUNG_BIT = SWP_PFN_BITS
    SWP_MIG_DIRTY_BIT = SWP_PFN_BITS + 1

cdef extern from *:
    """
    #define KMM_SWP_OFFSET_MASK ((1UL << 58) - 1)
    #define KMM_SWP_PFN_MASK ((1UL << 34) - 1)
    #define KMM_SWP_MIG_YOUNG (1UL << 34)
    #define KMM_SWP_MIG_DIRTY (1UL << 35)
    """
    const unsigned long SWP_OFFSET_MASK "KMM_SWP_OFFSET_MASK"
    const unsigned long SWP_PFN_MASK "KMM_SWP_PFN_MASK"
    const unsigned long SWP_MIG_YOUNG "KMM_SWP_MIG_YOUNG"
    const unsigned long SWP_MIG_DIRTY "KMM_SWP_MIG_DIRTY"


cdef inline swp_entry_t swp_entry(unsigned long type, unsigned long offset) noexcept nogil:
    return (type << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)

cdef inline unsigned int swp_type(swp_entry_t entry) noexcept nogil:
    return <unsigned int>(entry >> SWP_TYPE_SHIFT)

cdef inline unsigned long swp_offset(swp_entry_t entry) noexcept nogil:
    return entry & SWP_OFFSET_MASK

cdef inline unsigned long swp_offset_pfn(swp_entry_t entry) noexcept nogil:
    return swp_offset(entry) & SWP_PFN_MASK

cdef inline bint is_swap_pte(pte_t pte) noexcept nogil:
    return not pte_none(pte) and not pte_present(pte)

cdef inline swp_entry_t pte_to_swp_entry(pte_t pte) noexcept nogil:
    return swp_entry(__swp_type(pte), __swp_offset(pte))

cdef inline pte_t swp_entry_to_pte(swp_entry_t entry) noexcept nogil:
    return __swp_entry(swp_type(entry), swp_offset(entry))

cdef inline bint is_migration_entry(swp_entry_t entry) noexcept nogil:
    cdef unsigned int t = swp_type(entry)
    return t == SWP_MIGRATION_READ or t == SWP_MIGRATION_READ_EXCLUSIVE or t == SWP_MIGRATION_WRITE

cdef inline bint is_writable_migration_entry(swp_entry_t entry) noexcept nogil:
    return swp_type(entry) == SWP_MIGRATION_WRITE

cdef inline bint is_readable_migration_entry(swp_entry_t entry) noexcept nogil:
    return swp_type(entry) == SWP_MIGRATION_READ

cdef inline bint is_readable_exclusive_migration_entry(swp_entry_t entry) noexcept nogil:
    return swp_type(entry) == SWP_MIGRATION_READ_EXCLUSIVE

cdef inline swp_entry_t make_readable_migration_entry(unsigned long offset) noexcept nogil:
    return swp_entry(SWP_MIGRATION_READ, offset)

cdef inline swp_entry_t make_readable_exclusive_migration_entry(unsigned long offset) noexcept nogil:
    return swp_entry(SWP_MIGRATION_READ_EXCLUSIVE, offset)

cdef inline swp_entry_t make_writable_migration_entry(unsigned long offset) noexcept nogil:
    return swp_entry(SWP_MIGRATION_WRITE, offset)

cdef inline bint migration_entry_supports_ad() noexcept nogil:
    return KMM().swap_migration_ad_supported

cdef inline swp_entry_t make_migration_entry_young(swp_entry_t entry) noexcept nogil:
    if migration_entry_supports_ad():
        return swp_entry(swp_type(entry), swp_offset(entry) | SWP_MIG_YOUNG)
    return entry

cdef inline bint is_migration_entry_young(swp_entry_t entry) noexcept nogil:
    if migration_entry_supports_ad():
        return (swp_offset(entry) & SWP_MIG_YOUNG) != 0
    return False      # without A/D bits in the entry, assume old

cdef inline swp_entry_t make_migration_entry_dirty(swp_entry_t entry) noexcept nogil:
    if migration_entry_supports_ad():
        return swp_entry(swp_type(entry), swp_offset(entry) | SWP_MIG_DIRTY)
    return entry

cdef inline bint is_migration_entry_dirty(swp_entry_t entry) noexcept nogil:
    if migration_entry_supports_ad():
        return (swp_offset(entry) & SWP_MIG_DIRTY) != 0
    return False      # without A/D bits in the entry, assume clean

cdef inline page *pfn_swap_entry_to_page(swp_entry_t entry) noexcept nogil:
    return KMM().mem_map + swp_offset_pfn(entry)
