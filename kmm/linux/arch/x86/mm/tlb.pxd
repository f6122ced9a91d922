# The cdef API of kmm/linux/arch/x86/mm/tlb.pyx (arch/x86/mm/tlb.c), and the
# static inlines of arch/x86/include/asm/tlbflush.h that read per-CPU state
# (they cannot live in kmm/linux/arch/x86/include_/asm/tlbflush.pxd, which must
# stay free of KMM(); see there).

from kmm.linux.include_.kmm.machine cimport KMM, smp_processor_id
from kmm.linux.include_.linux.cpumask cimport cpumask_t, cpumask_any_but
from kmm.linux.include_.linux.mm_types cimport mm_struct, vm_area_struct, mm_cpumask
from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT, PAGE_SIZE
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.arch.x86.include_.asm.tlbflush cimport flush_tlb_info, TLB_FLUSH_ALL
from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch
from kmm.linux.arch.x86.include_.asm.processor_flags cimport X86_CR3_PTI_PCID_USER_BIT


cdef inline unsigned short kern_pcid(unsigned short asid) noexcept nogil:
    """arch/x86/mm/tlb.c: kernel PCID of an ASID slot (PCID 0 stays unused by
    ASID-aware code, so slot n is PCID n + 1)."""
    return asid + 1

cdef inline unsigned short user_pcid(unsigned short asid) noexcept nogil:
    """arch/x86/mm/tlb.c: the user PCID of an ASID slot (PTI): the kernel
    one with X86_CR3_PTI_PCID_USER_BIT (11) set."""
    return kern_pcid(asid) | (1 << X86_CR3_PTI_PCID_USER_BIT)


cdef void leave_mm(int cpu) noexcept nogil
cdef void switch_mm(mm_struct *prev, mm_struct *next, task_struct *tsk) noexcept nogil
cdef void switch_mm_irqs_off(mm_struct *prev, mm_struct *next, task_struct *tsk) noexcept nogil
cdef void enter_lazy_tlb(mm_struct *mm, task_struct *tsk) noexcept nogil
cdef void initialize_tlbstate_and_flush() noexcept nogil
cdef void native_flush_tlb_multi(const cpumask_t *cpumask, const flush_tlb_info *info) noexcept nogil
cdef void flush_tlb_multi(const cpumask_t *cpumask, const flush_tlb_info *info) noexcept nogil
cdef void flush_tlb_mm_range(mm_struct *mm, unsigned long start, unsigned long end,
                             unsigned int stride_shift, bint freed_tables) noexcept nogil
cdef void flush_tlb_all() noexcept nogil
cdef void flush_tlb_one_user(unsigned long addr) noexcept nogil
cdef void flush_tlb_local() noexcept nogil
cdef void __flush_tlb_all() noexcept nogil
cdef void arch_tlbbatch_flush(arch_tlbflush_unmap_batch *batch) noexcept nogil


cdef inline void flush_tlb_mm(mm_struct *mm) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h (a macro): the whole mm, as if page
    tables were freed, so lazy CPUs are flushed too."""
    flush_tlb_mm_range(mm, 0, TLB_FLUSH_ALL, 0, True)

cdef inline void flush_tlb_range(vm_area_struct *vma, unsigned long start, unsigned long end) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h (a macro): no page tables freed (as
    in v6.6-rc5; 6.6.y stable backports pass true); hugetlb VMAs are not
    modelled, so the stride is always PAGE_SHIFT."""
    flush_tlb_mm_range(vma.vm_mm, start, end, PAGE_SHIFT, False)

cdef inline void flush_tlb_page(vm_area_struct *vma, unsigned long a) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h: one page, no page tables freed."""
    flush_tlb_mm_range(vma.vm_mm, a, a + PAGE_SIZE, PAGE_SHIFT, False)

cdef inline bint arch_tlbbatch_should_defer(mm_struct *mm) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h: batching pays only when some other
    CPU may cache mm (a flush would need an IPI)."""
    return cpumask_any_but(mm_cpumask(mm), smp_processor_id()) < KMM().nr_cpu_ids

cdef inline void arch_flush_tlb_batched_pending(mm_struct *mm) noexcept nogil:
    """arch/x86/include/asm/tlbflush.h"""
    flush_tlb_mm(mm)
