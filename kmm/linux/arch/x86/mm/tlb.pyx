"""Mirrors arch/x86/mm/tlb.c as of v6.6-rc5: PCID/ASID slots chosen at
context switch, lazy TLB mode, and TLB shootdowns (flush_tlb_func,
native_flush_tlb_multi, flush_tlb_mm_range, arch_tlbbatch_flush).

The configuration mirrored is x86-64 on a CPU with PCID, INVPCID and PGE
(Skylake), with CONFIG_PAGE_TABLE_ISOLATION (on or off at boot:
arch/x86/mm/pti.c), without paravirt, LAM or the LDT syscall.  Under PTI
each ASID slot has a user PCID beside its kernel one; the kernel flushes
the user PCID lazily (invalidate_user_asid: a bit in
cpu_tlbstate.user_pcid_flush_mask, acted on by the entry code's CR3 switch
at the next return to user mode, arch/x86/entry/calling.pxd) or at once by
INVPCID for one page.  Left out because they change neither TLB contents
nor counters: the speculation mitigations at context switch (IBPB, L1D
flush), CR4.PCE updates, tracepoints, irq_tlb_count and mmu notifiers;
also flush_tlb_one_kernel and clear_asid_other (kernel mappings are not
emulated).

Where 6.6.y stable differs, v6.6-rc5 is followed: remote flushes skip only
lazy CPUs (tlb_is_not_lazy); the later mm_cpumask trimming
(should_flush_tlb, trim_cpumask) is not mirrored.

Hardware effects go through the emulated CPU (kmm/emu/hw/tlb.pyx) by way of
write_cr3, invlpg and INVPCID, which also count the perf events.  The
nr_tlb_* vmstat events count only with CONFIG_DEBUG_TLBFLUSH.
Kernel WARN_ON / VM_WARN_ON conditions increment KMM().nr_tlb_warnings.
"""

from kmm.linux.include_.kmm.machine cimport (KMM, kmm_machine, kmm_cpu, this_cpu, per_cpu,
                                       smp_processor_id)
from kmm.linux.include_.linux.cpumask cimport (cpumask_t, cpumask_test_cpu, cpumask_set_cpu,
                                         cpumask_clear_cpu, cpumask_clear, cpumask_any_but)
from kmm.linux.include_.linux.mm_types cimport mm_struct, page, mm_cpumask
from kmm.linux.include_.linux.mm cimport page_to_pfn
from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.vmstat cimport count_vm_tlb_event, count_vm_tlb_events
from kmm.linux.include_.kmm.trace cimport (TLB_FLUSH_ON_TASK_SWITCH, TLB_REMOTE_SHOOTDOWN,
                                          TLB_LOCAL_SHOOTDOWN, TLB_LOCAL_MM_SHOOTDOWN,
                                          TLB_REMOTE_SEND_IPI, KMM_CSD_FLUSH_TLB_FUNC,
                                          KMM_CSD_DO_FLUSH_TLB_ALL, KMM_ATTR_SENT, KMM_ATTR_RECEIVED,
                                          KMM_ATTR_LOCAL_ALL, KMM_ATTR_LOCAL_ONE)
from kmm.linux.include_.trace.events.tlb cimport trace_tlb_flush
from kmm.linux.include_.trace.events.csd cimport trace_csd_function_entry
from kmm.linux.include_.linux.vm_event_item cimport (NR_TLB_REMOTE_FLUSH, NR_TLB_REMOTE_FLUSH_RECEIVED,
                                              NR_TLB_LOCAL_FLUSH_ALL, NR_TLB_LOCAL_FLUSH_ONE)
from kmm.linux.kernel.smp cimport on_each_cpu_cond_mask, on_each_cpu_mask
from kmm.linux.arch.x86.include_.asm.tlbflush cimport (tlb_state, flush_tlb_info, TLB_NR_DYN_ASIDS,
                                                TLB_GENERATION_INVALID, TLB_FLUSH_ALL,
                                                LOADED_MM_SWITCHING, inc_mm_tlb_gen)
from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch
from kmm.linux.arch.x86.include_.asm.processor_flags cimport CR3_NOFLUSH, CR3_ADDR_MASK
from kmm.linux.arch.x86.include_.asm.special_insns cimport __read_cr3, write_cr3, __native_read_cr3, native_write_cr3
from kmm.linux.arch.x86.include_.asm.invpcid cimport invpcid_flush_all, invpcid_flush_one
from kmm.linux.arch.x86.include_.asm.tlb cimport invlpg


cdef inline void _warn() noexcept nogil:
    """A WARN_ON / VM_WARN_ON of tlb.c fired."""
    KMM().nr_tlb_warnings += 1

cdef inline unsigned long _pa(page *pgd) noexcept nogil:
    """__pa() of a page-table root; 0 for an mm without page tables yet."""
    if pgd == NULL:
        return 0
    return page_to_pfn(pgd) << PAGE_SHIFT

cdef inline unsigned long long _mm_tlb_gen(mm_struct *mm) noexcept nogil:
    """atomic64_read(&mm->context.tlb_gen)"""
    return <unsigned long long>mm.context.tlb_gen


# -- CR3 and ASIDs ------------------------------------------------------------

cdef inline unsigned long build_cr3(page *pgd, unsigned short asid, unsigned long lam) noexcept nogil:
    """arch/x86/mm/tlb.c: the CR3 value for pgd in slot asid (flushing write)."""
    return _pa(pgd) | lam | kern_pcid(asid)

cdef inline unsigned long build_cr3_noflush(page *pgd, unsigned short asid, unsigned long lam) noexcept nogil:
    """arch/x86/mm/tlb.c: the same with bit 63 set: keep the slot's entries."""
    return build_cr3(pgd, asid, lam) | CR3_NOFLUSH


cdef void choose_new_asid(mm_struct *next, unsigned long long next_tlb_gen,
                          unsigned short *new_asid, bint *need_flush) noexcept nogil:
    """arch/x86/mm/tlb.c: reuse the slot that already holds next's context
    (flush only if it missed generations), else take the next slot round-robin
    and flush it."""
    cdef tlb_state *ts = &this_cpu().cpu_tlbstate
    cdef unsigned short asid
    for asid in range(TLB_NR_DYN_ASIDS):
        if ts.ctxs[asid].ctx_id != next.context.ctx_id:
            continue
        new_asid[0] = asid
        need_flush[0] = ts.ctxs[asid].tlb_gen < next_tlb_gen
        return
    # No slot of ours holds next: evict the next one in turn.
    ts.next_asid += 1
    new_asid[0] = ts.next_asid - 1
    if new_asid[0] >= TLB_NR_DYN_ASIDS:
        new_asid[0] = 0
        ts.next_asid = 1
    need_flush[0] = True


cdef inline void invalidate_user_asid(unsigned short asid) noexcept nogil:
    """arch/x86/mm/tlb.c: under PTI, have the entry code flush the slot's user
    PCID at the next return to user mode (SWITCH_TO_USER_CR3); no
    instruction now.  (PCID is always on here.)"""
    if not KMM().x86_feature_pti:
        return
    this_cpu().cpu_tlbstate.user_pcid_flush_mask |= <unsigned short>(1 << kern_pcid(asid))


cdef void load_new_mm_cr3(page *pgdir, unsigned short new_asid, unsigned long lam,
                          bint need_flush) noexcept nogil:
    """arch/x86/mm/tlb.c: write CR3 for the new mm; without need_flush the
    NOFLUSH bit keeps the slot's cached translations.  A flush of the kernel
    PCID also flushes the user one, at the return to user mode."""
    cdef unsigned long new_mm_cr3
    if need_flush:
        invalidate_user_asid(new_asid)
        new_mm_cr3 = build_cr3(pgdir, new_asid, lam)
    else:
        new_mm_cr3 = build_cr3_noflush(pgdir, new_asid, lam)
    write_cr3(new_mm_cr3)


cdef void leave_mm(int cpu) noexcept nogil:
    """arch/x86/mm/tlb.c: drop a lazily kept user mm for init_mm."""
    cdef kmm_machine *m = KMM()
    cdef kmm_cpu *c = this_cpu()
    if c.cpu_tlbstate.loaded_mm == &m.init_mm:
        return
    if not c.cpu_tlbstate_shared.is_lazy:
        _warn()
    switch_mm(NULL, &m.init_mm, NULL)


cdef inline void _attr(int site, int col, unsigned long n) noexcept nogil:
    """Emulator: charge a counted nr_tlb_* event to the kernel path that
    caused it (flush attribution; counted exactly when vmstat counts)."""
    cdef kmm_machine *m = KMM()
    if m.kconfig.CONFIG_DEBUG_TLBFLUSH:
        m.kmm_attr[site][col] += n


cdef void switch_mm(mm_struct *prev, mm_struct *next, task_struct *tsk) noexcept nogil:
    """arch/x86/mm/tlb.c: switch_mm_irqs_off with interrupts saved (a no-op
    here)."""
    switch_mm_irqs_off(prev, next, tsk)


cdef void switch_mm_irqs_off(mm_struct *prev, mm_struct *next, task_struct *tsk) noexcept nogil:
    """arch/x86/mm/tlb.c: load next's page tables on this CPU (prev may be NULL;
    the CPU's real previous mm is cpu_tlbstate.loaded_mm).  These flushes are
    not counted in vmstat (the kernel only traces them)."""
    cdef kmm_machine *m = KMM()
    cdef kmm_cpu *c = this_cpu()
    cdef tlb_state *ts = &c.cpu_tlbstate
    cdef mm_struct *real_prev = ts.loaded_mm
    cdef unsigned short prev_asid = ts.loaded_mm_asid
    cdef bint was_lazy = c.cpu_tlbstate_shared.is_lazy
    cdef int cpu = smp_processor_id()
    cdef unsigned long long next_tlb_gen
    cdef bint need_flush
    cdef unsigned short new_asid

    if m.kconfig.CONFIG_DEBUG_VM:
        # CR3 must be what cpu_tlbstate says; if not, flush everything and go on.
        if __read_cr3() != build_cr3(real_prev.pgd, prev_asid, 0):
            _warn()
            __flush_tlb_all()

    if was_lazy:
        c.cpu_tlbstate_shared.is_lazy = False

    if real_prev == next:
        # Same mm (a lazy CPU going back to user space, or a thread of the
        # same process): the CPU stayed in mm_cpumask meanwhile.
        if ts.ctxs[prev_asid].ctx_id != next.context.ctx_id:
            _warn()
        if real_prev != &m.init_mm and not cpumask_test_cpu(cpu, mm_cpumask(next)):
            _warn()
            cpumask_set_cpu(cpu, mm_cpumask(next))
        if not was_lazy:
            return
        # Lazy CPUs are skipped by shootdowns: catch up if the mm moved on.
        next_tlb_gen = _mm_tlb_gen(next)
        if ts.ctxs[prev_asid].tlb_gen == next_tlb_gen:
            return
        new_asid = prev_asid
        need_flush = True
    else:
        # Leave prev's shootdowns (init_mm's mask is never used), join next's,
        # and only then read its generation.
        if real_prev != &m.init_mm:
            if not cpumask_test_cpu(cpu, mm_cpumask(real_prev)):
                _warn()
            cpumask_clear_cpu(cpu, mm_cpumask(real_prev))
        if next != &m.init_mm:
            cpumask_set_cpu(cpu, mm_cpumask(next))
        next_tlb_gen = _mm_tlb_gen(next)
        choose_new_asid(next, next_tlb_gen, &new_asid, &need_flush)
        ts.loaded_mm = LOADED_MM_SWITCHING()

    if need_flush:
        ts.ctxs[new_asid].ctx_id = next.context.ctx_id
        ts.ctxs[new_asid].tlb_gen = next_tlb_gen
        load_new_mm_cr3(next.pgd, new_asid, 0, True)
        trace_tlb_flush(TLB_FLUSH_ON_TASK_SWITCH, -1)
    else:
        load_new_mm_cr3(next.pgd, new_asid, 0, False)
        trace_tlb_flush(TLB_FLUSH_ON_TASK_SWITCH, 0)

    ts.loaded_mm = next
    ts.loaded_mm_asid = new_asid


cdef void enter_lazy_tlb(mm_struct *mm, task_struct *tsk) noexcept nogil:
    """arch/x86/mm/tlb.c: a kernel thread runs on the previous user mm: keep it
    loaded but mark the CPU lazy, so shootdowns skip it until it switches back."""
    cdef kmm_cpu *c = this_cpu()
    if c.cpu_tlbstate.loaded_mm == &KMM().init_mm:
        return
    c.cpu_tlbstate_shared.is_lazy = True


cdef void initialize_tlbstate_and_flush() noexcept nogil:
    """arch/x86/mm/tlb.c: CPU bring-up: ASID 0 holds the loaded mm (init_mm at
    boot), CR3 is written with a flush, and the other slots are marked unused."""
    cdef kmm_machine *m = KMM()
    cdef tlb_state *ts = &this_cpu().cpu_tlbstate
    cdef mm_struct *mm = ts.loaded_mm
    cdef unsigned long long tlb_gen = _mm_tlb_gen(&m.init_mm)
    cdef int i
    if (__read_cr3() & CR3_ADDR_MASK) != _pa(mm.pgd):
        _warn()
    write_cr3(build_cr3(mm.pgd, 0, 0))
    ts.loaded_mm_asid = 0
    ts.next_asid = 1
    ts.ctxs[0].ctx_id = mm.context.ctx_id
    ts.ctxs[0].tlb_gen = tlb_gen
    for i in range(1, TLB_NR_DYN_ASIDS):
        ts.ctxs[i].ctx_id = 0


# -- the shootdown handler ------------------------------------------------------

cdef void flush_tlb_func(void *info) noexcept nogil:
    """arch/x86/mm/tlb.c: bring this CPU's TLB up to date for its loaded mm.
    Three generations meet here: the mm's (latest), this CPU's (what it has
    caught up to) and the requester's new_tlb_gen (what it wants caught up to)."""
    cdef const flush_tlb_info *f = <const flush_tlb_info *>info
    cdef kmm_machine *m = KMM()
    cdef kmm_cpu *c = this_cpu()
    cdef tlb_state *ts = &c.cpu_tlbstate
    cdef mm_struct *loaded_mm = ts.loaded_mm
    cdef unsigned int loaded_mm_asid = ts.loaded_mm_asid
    cdef unsigned long long local_tlb_gen = ts.ctxs[loaded_mm_asid].tlb_gen
    cdef bint local = smp_processor_id() == <int>f.initiating_cpu
    cdef unsigned long nr_invalidate = 0
    cdef unsigned long long mm_tlb_gen
    cdef unsigned long addr

    if not local:
        # kernel/smp.c csd_do_func() traces the call before running it
        trace_csd_function_entry(KMM_CSD_FLUSH_TLB_FUNC, f.initiating_cpu)
        count_vm_tlb_event(NR_TLB_REMOTE_FLUSH_RECEIVED)
        _attr(f.kmm_site, KMM_ATTR_RECEIVED, 1)
        # A remote CPU may have switched away from the mm meanwhile.
        if f.mm != NULL and f.mm != loaded_mm:
            return

    if loaded_mm == &m.init_mm:
        return

    if ts.ctxs[loaded_mm_asid].ctx_id != loaded_mm.context.ctx_id:
        _warn()

    if c.cpu_tlbstate_shared.is_lazy:
        # Rather than flush a lazily kept mm, stop using it.
        switch_mm_irqs_off(NULL, &m.init_mm, NULL)
        return

    if f.new_tlb_gen != TLB_GENERATION_INVALID and f.new_tlb_gen <= local_tlb_gen:
        return                           # already caught up to what was asked

    mm_tlb_gen = _mm_tlb_gen(loaded_mm)
    if local_tlb_gen == mm_tlb_gen:
        return                           # another flush already did the work

    if local_tlb_gen > mm_tlb_gen:
        _warn()
    if f.new_tlb_gen > mm_tlb_gen:
        _warn()

    # Invalidating only the range is correct only when this request is the
    # sole generation we are missing (new == local + 1) and worthwhile only
    # when it brings us fully up to date (new == mm's); otherwise flush all.
    if f.end != TLB_FLUSH_ALL and f.new_tlb_gen == local_tlb_gen + 1 and \
            f.new_tlb_gen == mm_tlb_gen:
        if f.new_tlb_gen == TLB_GENERATION_INVALID or f.mm == NULL:
            _warn()
        addr = f.start
        nr_invalidate = (f.end - f.start) >> f.stride_shift
        while addr < f.end:
            flush_tlb_one_user(addr)
            addr += 1UL << f.stride_shift
        if local:
            count_vm_tlb_events(NR_TLB_LOCAL_FLUSH_ONE, nr_invalidate)
            _attr(f.kmm_site, KMM_ATTR_LOCAL_ONE, nr_invalidate)
    else:
        nr_invalidate = TLB_FLUSH_ALL
        flush_tlb_local()
        if local:
            count_vm_tlb_event(NR_TLB_LOCAL_FLUSH_ALL)
            _attr(f.kmm_site, KMM_ATTR_LOCAL_ALL, 1)

    ts.ctxs[loaded_mm_asid].tlb_gen = mm_tlb_gen
    trace_tlb_flush(TLB_REMOTE_SHOOTDOWN if not local else
                    TLB_LOCAL_SHOOTDOWN if f.mm == NULL else TLB_LOCAL_MM_SHOOTDOWN,
                    <long>nr_invalidate)


cdef bint tlb_is_not_lazy(int cpu, void *data) noexcept nogil:
    """arch/x86/mm/tlb.c: v6.6-rc5's IPI filter: lazy CPUs catch up when they
    switch back."""
    return not per_cpu(cpu).cpu_tlbstate_shared.is_lazy


cdef void native_flush_tlb_multi(const cpumask_t *cpumask, const flush_tlb_info *info) noexcept nogil:
    """arch/x86/mm/tlb.c: run flush_tlb_func on the CPUs of cpumask (this one
    included if it is there); counted once per call, whoever ends up receiving
    it."""
    count_vm_tlb_event(NR_TLB_REMOTE_FLUSH)
    _attr(info.kmm_site, KMM_ATTR_SENT, 1)
    trace_tlb_flush(TLB_REMOTE_SEND_IPI, -1 if info.end == TLB_FLUSH_ALL else
                    <long>((info.end - info.start) >> 12))
    # Freed page tables must not stay reachable through a lazy CPU's
    # paging-structure caches, so then every CPU of the mask is hit.
    if info.freed_tables:
        on_each_cpu_mask(cpumask, flush_tlb_func, <void *>info, True)
    else:
        on_each_cpu_cond_mask(tlb_is_not_lazy, flush_tlb_func, <void *>info, True, cpumask)


cdef void flush_tlb_multi(const cpumask_t *cpumask, const flush_tlb_info *info) noexcept nogil:
    """arch/x86/mm/tlb.c: (no paravirt) native_flush_tlb_multi."""
    native_flush_tlb_multi(cpumask, info)


cdef flush_tlb_info *get_flush_tlb_info(mm_struct *mm, unsigned long start, unsigned long end,
                                        unsigned int stride_shift, bint freed_tables,
                                        unsigned long long new_tlb_gen) noexcept nogil:
    """arch/x86/mm/tlb.c: this CPU's flush request (one per CPU: no nesting
    allowed)."""
    cdef kmm_cpu *c = this_cpu()
    cdef flush_tlb_info *info = &c.flush_tlb_info
    if KMM().kconfig.CONFIG_DEBUG_VM:
        c.flush_tlb_info_idx += 1
        if c.flush_tlb_info_idx != 1:
            _warn()                      # BUG_ON in the kernel
    info.start = start
    info.end = end
    info.mm = mm
    info.stride_shift = stride_shift
    info.freed_tables = freed_tables
    info.new_tlb_gen = new_tlb_gen
    info.initiating_cpu = smp_processor_id()
    info.kmm_site = c.kmm_site
    return info


cdef void put_flush_tlb_info() noexcept nogil:
    """arch/x86/mm/tlb.c: release this CPU's flush request."""
    cdef kmm_cpu *c = this_cpu()
    if KMM().kconfig.CONFIG_DEBUG_VM:
        c.flush_tlb_info_idx -= 1


cdef void flush_tlb_mm_range(mm_struct *mm, unsigned long start, unsigned long end,
                             unsigned int stride_shift, bint freed_tables) noexcept nogil:
    """arch/x86/mm/tlb.c: invalidate [start, end) of mm everywhere it may be
    cached.  More than tlb_single_page_flush_ceiling strides (33 pages) become a
    full flush."""
    cdef kmm_machine *m = KMM()
    cdef int cpu = smp_processor_id()
    cdef unsigned long long new_tlb_gen
    cdef flush_tlb_info *info

    if end == TLB_FLUSH_ALL or ((end - start) >> stride_shift) > m.tlb_single_page_flush_ceiling:
        start = 0
        end = TLB_FLUSH_ALL

    new_tlb_gen = inc_mm_tlb_gen(mm)
    info = get_flush_tlb_info(mm, start, end, stride_shift, freed_tables, new_tlb_gen)

    # Some other CPU may cache mm: shoot down the whole mask.  Otherwise
    # only this CPU, and only if mm is what it has loaded.
    if cpumask_any_but(mm_cpumask(mm), cpu) < m.nr_cpu_ids:
        flush_tlb_multi(mm_cpumask(mm), info)
    elif mm == this_cpu().cpu_tlbstate.loaded_mm:
        flush_tlb_func(info)

    put_flush_tlb_info()


cdef void do_flush_tlb_all(void *info) noexcept nogil:
    """arch/x86/mm/tlb.c: the flush_tlb_all IPI handler."""
    trace_csd_function_entry(KMM_CSD_DO_FLUSH_TLB_ALL, -1)
    count_vm_tlb_event(NR_TLB_REMOTE_FLUSH_RECEIVED)
    _attr(this_cpu().kmm_site, KMM_ATTR_RECEIVED, 1)
    __flush_tlb_all()


cdef void flush_tlb_all() noexcept nogil:
    """arch/x86/mm/tlb.c: every PCID on every CPU (the initiator counts a
    receipt too)."""
    cdef kmm_machine *m = KMM()
    cdef cpumask_t online = 0
    cdef int cpu
    for cpu in range(m.nr_cpu_ids):
        cpumask_set_cpu(cpu, &online)
    count_vm_tlb_event(NR_TLB_REMOTE_FLUSH)
    _attr(this_cpu().kmm_site, KMM_ATTR_SENT, 1)
    on_each_cpu_mask(&online, do_flush_tlb_all, NULL, True)


cdef void native_flush_tlb_one_user(unsigned long addr) noexcept nogil:
    """arch/x86/mm/tlb.c: INVLPG in the current (kernel) PCID; under PTI also
    the page in the loaded slot's user PCID, by INVPCID since the CPU has it
    (and CR4.PCIDE is set: the kernel checks its CR4 shadow)."""
    invlpg(addr)
    if not KMM().x86_feature_pti:
        return
    invpcid_flush_one(user_pcid(this_cpu().cpu_tlbstate.loaded_mm_asid), addr)


cdef void flush_tlb_one_user(unsigned long addr) noexcept nogil:
    """arch/x86/mm/tlb.c: (no paravirt) native_flush_tlb_one_user."""
    native_flush_tlb_one_user(addr)


cdef void native_flush_tlb_global() noexcept nogil:
    """arch/x86/mm/tlb.c: INVPCID all contexts, globals included (INVPCID exists
    on Skylake, so no CR4.PGE toggling)."""
    invpcid_flush_all()


cdef void native_flush_tlb_local() noexcept nogil:
    """arch/x86/mm/tlb.c: rewrite CR3 with its own value: flushes the current
    PCID; under PTI the user PCID is flushed at the return to user mode."""
    invalidate_user_asid(this_cpu().cpu_tlbstate.loaded_mm_asid)
    native_write_cr3(__native_read_cr3())


cdef void flush_tlb_local() noexcept nogil:
    """arch/x86/mm/tlb.c: (no paravirt) native_flush_tlb_local."""
    native_flush_tlb_local()


cdef void __flush_tlb_all() noexcept nogil:
    """arch/x86/mm/tlb.c: PGE is on: the global flush."""
    native_flush_tlb_global()


cdef void arch_tlbbatch_flush(arch_tlbflush_unmap_batch *batch) noexcept nogil:
    """arch/x86/mm/tlb.c: flush what a batch of unmaps deferred: a full flush of
    whatever mm each CPU of the batch has loaded (mm NULL, generation invalid,
    so each CPU flushes only if its mm's generation moved), then empty the
    batch."""
    cdef kmm_machine *m = KMM()
    cdef int cpu = smp_processor_id()
    cdef flush_tlb_info *info = get_flush_tlb_info(NULL, 0, TLB_FLUSH_ALL, 0, False,
                                                   TLB_GENERATION_INVALID)
    if cpumask_any_but(&batch.cpumask, cpu) < m.nr_cpu_ids:
        flush_tlb_multi(&batch.cpumask, info)
    elif cpumask_test_cpu(cpu, &batch.cpumask):
        flush_tlb_func(info)
    cpumask_clear(&batch.cpumask)
    put_flush_tlb_info()
