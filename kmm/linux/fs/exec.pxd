from kmm.linux.include_.linux.mm_types cimport mm_struct

cdef extern from *:
    """
    #define KMM_STACK_TOP_MAX ((1UL << 47) - 4096)
    """
    # arch/x86/include/asm/processor.h: STACK_TOP_MAX is TASK_SIZE_MAX,
    # (1 << 47) - PAGE_SIZE; with no randomisation the stack's top is here
    const unsigned long STACK_TOP_MAX "KMM_STACK_TOP_MAX"

cdef int __bprm_mm_init(mm_struct *mm) noexcept nogil
cdef int setup_arg_pages(mm_struct *mm, unsigned long stack_top) noexcept nogil
