"""Mirrors mm/swapfile.c swapfile_init(): whether migration entries can
carry the young and dirty bits (swap_migration_ad_supported).  The x86 limit
it tests comes from arch/x86/mm/init.c arch_max_swapfile_size()."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine

from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT
from kmm.linux.arch.x86.include_.asm.pgtable_64 cimport SWP_OFFSET_FIRST_BIT
from kmm.linux.include_.linux.swapops cimport SWP_PFN_BITS

cdef enum:
    SWP_MIG_TOTAL_BITS = SWP_PFN_BITS + 2
    SWP_OFFSET_BITS = 64 - 14    # x86-64: 64 - SWP_TYPE_BITS(5) - SWP_OFFSET_FIRST_BIT(9)


cdef unsigned long long arch_max_swapfile_size() noexcept nogil:
    """With the L1TF mitigation, swap offsets must stay below half the
    physical address space: l1tf_pfn_limit() shifted by the 3 spare bits."""
    cdef kmm_machine *m = KMM()
    cdef unsigned long long pages = 1ULL << SWP_OFFSET_BITS
    cdef unsigned long long l1tf_limit
    if m.x86_bug_l1tf:
        l1tf_limit = 1ULL << (m.x86_cache_bits - 1 - PAGE_SHIFT)
        l1tf_limit <<= PAGE_SHIFT - SWP_OFFSET_FIRST_BIT
        pages = min(l1tf_limit, pages)
    return pages


cdef void swapfile_init() noexcept nogil:
    KMM().swap_migration_ad_supported = arch_max_swapfile_size() >= (1ULL << SWP_MIG_TOTAL_BITS)
