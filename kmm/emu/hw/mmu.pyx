"""The emulated CPU's memory access: TLB, page walk, page fault.

cpu_access() performs one load or store by the task running on a CPU:
1. TLB hit: the cached translation is used as is -- stale or not, exactly
   as hardware would.  A store through an entry cached without the dirty bit
   re-walks to set it (the SDM's dirty-bit assist); a store through a
   read-only entry faults.
2. TLB miss: the walker reads the live page tables of the loaded CR3; a
   present, user, sufficiently writable PTE gets its accessed (and, for a
   store, dirty) bit set and is cached.
3. Otherwise a page fault: the faulting address's TLB entries are dropped
   (SDM 4.10.4.1) and arch/x86/mm/fault.c handles it; the access is retried.

Every access is reported to the TLB-coherence oracle through its hooks
(kmm/emu/debug/oracle.pxd); one through a cached translation is checked
against the page tables as they are now.
"""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.linux.mm cimport vm_fault_t, VM_FAULT_RETRY, VM_FAULT_OOM, VM_FAULT_ERROR
from kmm.linux.include_.linux.pgtable cimport walk_pte, walk_pmd, pmd_none, pte_index, kmm_pt
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport PTE_PFN_MASK
from kmm.linux.arch.x86.include_.asm.page_types cimport PAGE_SHIFT
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_pfn
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport (_PAGE_PRESENT, _PAGE_PROTNONE, _PAGE_RW, _PAGE_USER,
                                                      _PAGE_ACCESSED, _PAGE_DIRTY)
from kmm.linux.arch.x86.mm.fault cimport do_user_addr_fault, X86_PF_WRITE, X86_PF_USER, X86_PF_PROT
from kmm.linux.arch.x86.entry.entry_64 cimport kmm_entry, kmm_exit, kmm_return_to_user
from kmm.emu.debug.oracle cimport (oracle_check_access, oracle_walk_access, oracle_page_gen,
                                   oracle_pte_slot)
from kmm.emu.hw.tlb cimport tlb_entry, tlb_lookup, tlb_fill, tlb_fill_miss, tlb_fault_invalidate
from kmm.emu.hw.hostmem cimport host_clock_ns
from kmm.emu.hw.cost cimport kmm_charge
from kmm.emu.hw.cpu cimport KMM_COST_FAULT, PERF_DTLB_LOADS, PERF_DTLB_STORES
from kmm.linux.include_.linux.prefetch cimport prefetch, kmm_read_ahead


cdef inline vm_fault_t _fault(kmm_machine *m, unsigned long error_code,
                              unsigned long addr) noexcept nogil:
    """The page fault exception, taken in user mode: the entry code, then
    arch/x86/mm/fault.c handles it, and the return to user mode (its host
    time is added to the kernel-path statistic)."""
    cdef long long t0 = host_clock_ns()
    cdef vm_fault_t ret
    kmm_entry(m.cpu)
    kmm_charge(KMM_COST_FAULT, 1)
    ret = do_user_addr_fault(error_code, addr)
    kmm_exit(m.cpu)
    m.kmm_host_kernel_ns += host_clock_ns() - t0
    return ret


cdef int cpu_access(int cpu, unsigned long addr, bint write) noexcept nogil:
    """One load or store by the task current on cpu.  Returns 0, -EFAULT
    (SIGSEGV/SIGBUS), -ENOMEM (the fault ran out of memory) or -EAGAIN (the
    page is under migration: the kernel would sleep in
    migration_entry_wait())."""
    cdef bint kernel_ran = False
    return _access(cpu, addr, write, NULL, &kernel_ran)


cdef int cpu_access_walked(int cpu, unsigned long addr, bint write, unsigned long *ptep,
                           bint *kernel_ran) noexcept nogil:
    """cpu_access() in a batch after cpu_access_prefetch(): ptep is the PTE
    slot the pass found for addr (NULL: walk), valid only while no kernel
    code has run since the pass (*kernel_ran False): kernel code runs only
    in the access path's page faults and entry code, and only it changes
    page tables or the current task.  Sets *kernel_ran (never clears it)
    when it runs any."""
    return _access(cpu, addr, write, ptep, kernel_ran)


cdef inline int _access(int cpu, unsigned long addr, bint write, unsigned long *walked,
                        bint *kernel_ran) noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef int saved_cpu = m.cpu
    cdef mm_struct *mm
    cdef tlb_entry *e
    cdef unsigned long *ptep
    cdef pte_t pte
    cdef page *p
    cdef vm_fault_t ret
    cdef int attempt, result = -14
    m.cpu = cpu
    mm = m.cpus[cpu].current_task.mm
    if mm == NULL:
        m.cpu = saved_cpu
        return -14
    if m.cpus[cpu].hw_tlb.cpl != 3:
        kmm_return_to_user(cpu)          # user code runs in user mode (if no entry is open)
        kernel_ran[0] = True
        walked = NULL
    # dTLB-loads/-stores count retired accesses (MEM_INST_RETIRED.ALL_*):
    # once, however many times a faulting access is re-executed
    m.cpus[cpu].perf.ev[PERF_DTLB_STORES if write else PERF_DTLB_LOADS] += 1
    for attempt in range(8):
        e = tlb_lookup(cpu, addr, write)
        if e != NULL:
            if not write or (e.pteval & (_PAGE_RW | _PAGE_DIRTY)) == (_PAGE_RW | _PAGE_DIRTY):
                oracle_check_access(m, cpu, mm, addr, write, e.pteval, e.page_gen, walked)
                result = 0
                break
            if not (e.pteval & _PAGE_RW):
                # write through a read-only translation: protection fault
                tlb_fault_invalidate(cpu, addr, True)
                ret = _fault(m, X86_PF_PROT | X86_PF_WRITE | X86_PF_USER, addr)
                kernel_ran[0] = True
                walked = NULL
                if ret & VM_FAULT_RETRY:
                    result = -11
                    break
                if ret & VM_FAULT_ERROR:
                    result = -12 if ret & VM_FAULT_OOM else -14
                    break
                continue
            # writable but cached clean: the CPU re-walks to set the dirty bit
        ptep = walked if walked != NULL else walk_pte(mm, addr)
        pte = ptep[0] if ptep != NULL else 0
        if (pte & (_PAGE_PRESENT | _PAGE_USER)) == (_PAGE_PRESENT | _PAGE_USER) and \
                (not write or (pte & _PAGE_RW)):
            pte |= _PAGE_ACCESSED
            if write:
                pte |= _PAGE_DIRTY
            ptep[0] = pte
            p = m.mem_map + pte_pfn(pte)
            if e == NULL:                # nothing TLB-side happened since the miss
                tlb_fill_miss(cpu, addr, pte, oracle_page_gen(p))
            else:                        # the dirty-bit re-walk: the entry is updated in place
                tlb_fill(cpu, addr, pte, oracle_page_gen(p))
            oracle_walk_access(m, cpu, mm, addr, write, p, ptep)
            result = 0
            break
        tlb_fault_invalidate(cpu, addr, (pte & _PAGE_PRESENT) != 0)
        ret = _fault(
            m, (X86_PF_WRITE if write else 0) | X86_PF_USER |
            (X86_PF_PROT if pte & _PAGE_PRESENT else 0), addr)
        kernel_ran[0] = True
        walked = NULL
        if ret & VM_FAULT_RETRY:
            result = -11
            break
        if ret & VM_FAULT_ERROR:
            result = -12 if ret & VM_FAULT_OOM else -14
            break
    m.cpu = saved_cpu
    return result


cdef inline unsigned int _touch_page(kmm_machine *m, unsigned long *ptep) noexcept nogil:
    """Read the struct page ptep maps and the oracle slot beside ptep."""
    cdef pte_t pte
    cdef unsigned long pfn
    cdef unsigned int x = 0
    if ptep == NULL:
        return 0
    pte = ptep[0]
    pfn = pte_pfn(pte)
    if pte & (_PAGE_PRESENT | _PAGE_PROTNONE) and pfn < m.max_pfn:    # PROT_NONE: a NUMA hint fault will read it
        x = oracle_page_gen(m.mem_map + pfn)
    return x + oracle_pte_slot(ptep)[0]


cdef void cpu_access_prefetch(int cpu, const unsigned long *addrs, long n,
                              unsigned long **ptes) noexcept nogil:
    """Host-side memory-level parallelism for the next n accesses on cpu
    (emulator speed only: nothing emulated happens here).

    An emulated access is a chain of dependent reads in host memory: the
    PTE table's struct page, the PTE, the data page's struct page, the
    oracle's slot.  Done one access at a time, each waits for the last.
    Here the batch's reads are issued stage by stage, each stage's reads
    independent of one another so that the host CPU overlaps their misses.
    Measured on the development host (a KVM guest, docs/performance.md):
    plain loads overlap well, but a prefetch instruction into mem_map
    stalls until its host TLB miss resolves, so only the PTEs and oracle
    slots (in the compact page-table pool) are prefetched; the TLB sets
    gain nothing from a prefetch.  The walk only reads the page tables as
    they are now; if an earlier access of the batch changes them (a fault,
    a migration), a line read here is merely useless.  ptes[i] gets the
    PTE slot of addrs[i] (NULL if a table is missing), for
    cpu_access_walked() to skip its walk.  n is at most
    CPU_ACCESS_PREFETCH_MAX."""
    cdef kmm_machine *m = KMM()
    cdef mm_struct *mm = m.cpus[cpu].current_task.mm
    cdef unsigned long *e
    cdef page *tp
    cdef long i
    cdef unsigned int sink = 0
    for i in range(n):
        ptes[i] = NULL
    if mm == NULL:
        return
    # 1: walk to each PTE (the upper levels are few and stay cached; the
    #    PTE table's struct page is a load); prefetch it and its oracle slot
    for i in range(n):
        e = walk_pmd(mm, addrs[i])
        if e != NULL and not pmd_none(e[0]):
            tp = m.mem_map + ((e[0] & PTE_PFN_MASK) >> PAGE_SHIFT)
            if tp.private != 0:
                ptes[i] = &(<kmm_pt *>tp.private).ent[pte_index(addrs[i])]
                prefetch(ptes[i])
                prefetch(oracle_pte_slot(ptes[i]))
    # 2: the struct pages the PTEs map, and the oracle slots again, as loads
    for i in range(n):
        sink += _touch_page(m, ptes[i])
    kmm_read_ahead(sink)


