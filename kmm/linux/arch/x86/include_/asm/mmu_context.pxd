# Mirrors arch/x86/include/asm/mmu_context.h: giving a new mm its context.
# (switch_mm_irqs_off and enter_lazy_tlb, declared by that header, are in
# kmm/linux/arch/x86/mm/tlb.pxd.)

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mm_types cimport mm_struct
from kmm.linux.include_.linux.sched cimport task_struct


cdef inline int init_new_context(task_struct *tsk, mm_struct *mm) noexcept nogil:
    """arch/x86/include/asm/mmu_context.h: a never-reused context id from
    the machine-wide last_mm_ctx_id (init_mm has 1, so the first mm gets 2)
    and TLB generation 0.  (No LDT, protection keys or LAM are modelled.)"""
    cdef kmm_machine *m = KMM()
    m.last_mm_ctx_id += 1
    mm.context.ctx_id = m.last_mm_ctx_id
    mm.context.tlb_gen = 0
    return 0
