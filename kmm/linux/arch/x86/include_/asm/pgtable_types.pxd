# Mirrors arch/x86/include/asm/pgtable_types.h: x86-64 page-table entry bits
# and the protection values (no PAT, no shadow stacks, no memory encryption).

ctypedef unsigned long pteval_t
ctypedef unsigned long pgprot_t

cdef enum:
    _PAGE_BIT_PRESENT = 0
    _PAGE_BIT_RW = 1
    _PAGE_BIT_USER = 2
    _PAGE_BIT_PWT = 3
    _PAGE_BIT_PCD = 4
    _PAGE_BIT_ACCESSED = 5
    _PAGE_BIT_DIRTY = 6
    _PAGE_BIT_PSE = 7
    _PAGE_BIT_GLOBAL = 8
    _PAGE_BIT_SOFTW1 = 9
    _PAGE_BIT_SOFTW2 = 10
    _PAGE_BIT_SOFTW3 = 11
    _PAGE_BIT_NX = 63
    _PAGE_BIT_SPECIAL = _PAGE_BIT_SOFTW1
    _PAGE_BIT_UFFD_WP = _PAGE_BIT_SOFTW2
    _PAGE_BIT_SOFT_DIRTY = _PAGE_BIT_SOFTW3
    # only meaningful when the entry is not present
    _PAGE_BIT_PROTNONE = _PAGE_BIT_GLOBAL

cdef extern from *:
    """
    #define KMM_PAGE_PRESENT   (1UL << 0)
    #define KMM_PAGE_RW        (1UL << 1)
    #define KMM_PAGE_USER      (1UL << 2)
    #define KMM_PAGE_PWT       (1UL << 3)
    #define KMM_PAGE_PCD       (1UL << 4)
    #define KMM_PAGE_ACCESSED  (1UL << 5)
    #define KMM_PAGE_DIRTY     (1UL << 6)
    #define KMM_PAGE_PSE       (1UL << 7)
    #define KMM_PAGE_PAT       (1UL << 7)
    #define KMM_PAGE_GLOBAL    (1UL << 8)
    #define KMM_PAGE_SOFTW1    (1UL << 9)
    #define KMM_PAGE_SOFTW2    (1UL << 10)
    #define KMM_PAGE_SOFTW3    (1UL << 11)
    #define KMM_PAGE_PAT_LARGE (1UL << 12)
    #define KMM_PAGE_SOFTW4    (1UL << 57)
    #define KMM_PAGE_SOFTW5    (1UL << 58)
    #define KMM_PAGE_PKEY_BIT0 (1UL << 59)
    #define KMM_PAGE_PKEY_BIT1 (1UL << 60)
    #define KMM_PAGE_PKEY_BIT2 (1UL << 61)
    #define KMM_PAGE_PKEY_BIT3 (1UL << 62)
    #define KMM_PAGE_SPECIAL   (1UL << 9)
    #define KMM_PAGE_UFFD_WP   (1UL << 10)
    #define KMM_PAGE_SOFT_DIRTY (1UL << 11)
    #define KMM_PAGE_SAVED_DIRTY KMM_PAGE_SOFTW5
    #define KMM_PAGE_NX        (1UL << 63)
    #define KMM_PAGE_PROTNONE  KMM_PAGE_GLOBAL
    #define KMM_PTE_PFN_MASK   (((1UL << 52) - 1) & ~0xfffUL)
    #define KMM_PAGE_CHG_MASK  (KMM_PTE_PFN_MASK | KMM_PAGE_PCD | KMM_PAGE_PWT | \\
                                KMM_PAGE_SPECIAL | KMM_PAGE_ACCESSED | KMM_PAGE_DIRTY | \\
                                KMM_PAGE_SOFT_DIRTY | KMM_PAGE_UFFD_WP)
    #define KMM_PAGE_TABLE     (KMM_PAGE_PRESENT | KMM_PAGE_RW | KMM_PAGE_USER | \\
                                KMM_PAGE_ACCESSED | KMM_PAGE_DIRTY)
    #define KMM_PAGE_NONE          (KMM_PAGE_ACCESSED | KMM_PAGE_PROTNONE)
    #define KMM_PAGE_SHARED        (KMM_PAGE_PRESENT | KMM_PAGE_RW | KMM_PAGE_USER | KMM_PAGE_ACCESSED | KMM_PAGE_NX)
    #define KMM_PAGE_SHARED_EXEC   (KMM_PAGE_PRESENT | KMM_PAGE_RW | KMM_PAGE_USER | KMM_PAGE_ACCESSED)
    #define KMM_PAGE_COPY          (KMM_PAGE_PRESENT | KMM_PAGE_USER | KMM_PAGE_ACCESSED | KMM_PAGE_NX)
    #define KMM_PAGE_COPY_EXEC     (KMM_PAGE_PRESENT | KMM_PAGE_USER | KMM_PAGE_ACCESSED)
    #define KMM_PAGE_READONLY      (KMM_PAGE_PRESENT | KMM_PAGE_USER | KMM_PAGE_ACCESSED | KMM_PAGE_NX)
    #define KMM_PAGE_READONLY_EXEC (KMM_PAGE_PRESENT | KMM_PAGE_USER | KMM_PAGE_ACCESSED)
    """
    const unsigned long _PAGE_PRESENT "KMM_PAGE_PRESENT"
    const unsigned long _PAGE_RW "KMM_PAGE_RW"
    const unsigned long _PAGE_USER "KMM_PAGE_USER"
    const unsigned long _PAGE_PWT "KMM_PAGE_PWT"
    const unsigned long _PAGE_PCD "KMM_PAGE_PCD"
    const unsigned long _PAGE_ACCESSED "KMM_PAGE_ACCESSED"
    const unsigned long _PAGE_DIRTY "KMM_PAGE_DIRTY"
    const unsigned long _PAGE_PSE "KMM_PAGE_PSE"
    const unsigned long _PAGE_PAT "KMM_PAGE_PAT"
    const unsigned long _PAGE_GLOBAL "KMM_PAGE_GLOBAL"
    const unsigned long _PAGE_SOFTW1 "KMM_PAGE_SOFTW1"
    const unsigned long _PAGE_SOFTW2 "KMM_PAGE_SOFTW2"
    const unsigned long _PAGE_SOFTW3 "KMM_PAGE_SOFTW3"
    const unsigned long _PAGE_PAT_LARGE "KMM_PAGE_PAT_LARGE"
    const unsigned long _PAGE_SOFTW4 "KMM_PAGE_SOFTW4"
    const unsigned long _PAGE_SOFTW5 "KMM_PAGE_SOFTW5"
    const unsigned long _PAGE_SAVED_DIRTY "KMM_PAGE_SAVED_DIRTY"
    const unsigned long _PAGE_PKEY_BIT0 "KMM_PAGE_PKEY_BIT0"
    const unsigned long _PAGE_PKEY_BIT1 "KMM_PAGE_PKEY_BIT1"
    const unsigned long _PAGE_PKEY_BIT2 "KMM_PAGE_PKEY_BIT2"
    const unsigned long _PAGE_PKEY_BIT3 "KMM_PAGE_PKEY_BIT3"
    const unsigned long _PAGE_SPECIAL "KMM_PAGE_SPECIAL"
    const unsigned long _PAGE_UFFD_WP "KMM_PAGE_UFFD_WP"
    const unsigned long _PAGE_SOFT_DIRTY "KMM_PAGE_SOFT_DIRTY"
    const unsigned long _PAGE_NX "KMM_PAGE_NX"
    const unsigned long _PAGE_PROTNONE "KMM_PAGE_PROTNONE"
    const unsigned long PTE_PFN_MASK "KMM_PTE_PFN_MASK"
    const unsigned long _PAGE_CHG_MASK "KMM_PAGE_CHG_MASK"
    const unsigned long _PAGE_TABLE "KMM_PAGE_TABLE"
    const unsigned long PAGE_NONE "KMM_PAGE_NONE"
    const unsigned long PAGE_SHARED "KMM_PAGE_SHARED"
    const unsigned long PAGE_SHARED_EXEC "KMM_PAGE_SHARED_EXEC"
    const unsigned long PAGE_COPY "KMM_PAGE_COPY"
    const unsigned long PAGE_COPY_EXEC "KMM_PAGE_COPY_EXEC"
    const unsigned long PAGE_READONLY "KMM_PAGE_READONLY"
    const unsigned long PAGE_READONLY_EXEC "KMM_PAGE_READONLY_EXEC"
