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

Every access that used a cached translation is checked by the TLB-coherence
oracle (kmm/emu/debug/oracle.pyx) against the page tables as they are now.
"""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mm_types cimport page, mm_struct, address_space
from kmm.linux.include_.linux.mm cimport (PageAnon, folio_mapping, vm_fault_t, VM_FAULT_RETRY,
                                    VM_FAULT_OOM, VM_FAULT_ERROR)
from kmm.linux.include_.linux.page_flags cimport PageBuddy
from kmm.linux.include_.linux.pgtable cimport walk_pte, pte_kmm_ver
from kmm.linux.include_.linux.swapops cimport (is_swap_pte, pte_to_swp_entry, is_migration_entry,
                                         swp_offset_pfn)
from kmm.linux.arch.x86.include_.asm.pgtable cimport pte_t, pte_pfn
from kmm.linux.arch.x86.include_.asm.pgtable_types cimport (_PAGE_PRESENT, _PAGE_RW, _PAGE_USER,
                                                      _PAGE_ACCESSED, _PAGE_DIRTY)
from kmm.linux.arch.x86.mm.fault cimport do_user_addr_fault, X86_PF_WRITE, X86_PF_USER, X86_PF_PROT
from kmm.emu.debug.oracle cimport (kmm_new_version, oracle_record, ORACLE_STALE_READ,
                               ORACLE_STALE_WRITE, ORACLE_FREED_PAGE, ORACLE_REUSED_PAGE)
from kmm.emu.hw.tlb cimport tlb_entry, tlb_lookup, tlb_fill, tlb_fault_invalidate

cdef enum:
    NO_PFN = -1


cdef inline unsigned int *logical_version(mm_struct *mm, page *p, unsigned long *ptep) noexcept nogil:
    """Where the version of the logical page now at ptep lives: beside the
    PTE for anonymous data, in the file for page-cache data."""
    cdef address_space *mapping
    if p == NULL or PageAnon(p):
        return pte_kmm_ver(ptep)
    mapping = folio_mapping(p)
    if mapping == NULL or p.index >= mapping.i_pages_size:
        return pte_kmm_ver(ptep)
    return &mapping.kmm_versions[p.index]


cdef inline void data_access(kmm_machine *m, int cpu, mm_struct *mm, unsigned long addr,
                             bint write, page *p, unsigned int *logical) noexcept nogil:
    """The access reaches page p, whose logical page's version is *logical."""
    cdef unsigned int v
    if write:
        v = kmm_new_version()
        p.kmm_version = v
        logical[0] = v
    elif m.oracle_enabled and p.kmm_version != logical[0]:
        oracle_record(ORACLE_STALE_READ, cpu, mm, False, addr, p - m.mem_map,
                      p - m.mem_map, p.kmm_version, logical[0])


cdef void cached_access(kmm_machine *m, int cpu, mm_struct *mm, unsigned long addr, bint write,
                        tlb_entry *e) noexcept nogil:
    """An access through a cached translation, checked against the live
    page tables."""
    cdef unsigned long pfn = pte_pfn(e.pteval)
    cdef page *p = m.mem_map + pfn
    cdef unsigned long *ptep
    cdef pte_t cur = 0
    cdef unsigned long cur_pfn = <unsigned long>NO_PFN
    cdef page *cur_page = NULL
    cdef unsigned int *logical
    m.nr_oracle_checks += 1
    if pfn == m.zero_pfn:
        return                                   # reads of the zero page cannot go stale
    if PageBuddy(p) or p._refcount <= 0:
        if m.oracle_enabled:
            oracle_record(ORACLE_FREED_PAGE, cpu, mm, write, addr, pfn, cur_pfn,
                          p.kmm_version, 0)
        return
    if p.kmm_alloc_gen != e.page_gen:
        if m.oracle_enabled:
            oracle_record(ORACLE_REUSED_PAGE, cpu, mm, write, addr, pfn, cur_pfn,
                          p.kmm_version, 0)
        return
    ptep = walk_pte(mm, addr)
    if ptep != NULL:
        cur = ptep[0]
        if cur & _PAGE_PRESENT:
            cur_pfn = pte_pfn(cur)
        elif is_swap_pte(cur) and is_migration_entry(pte_to_swp_entry(cur)):
            cur_pfn = swp_offset_pfn(pte_to_swp_entry(cur))
        if cur_pfn != <unsigned long>NO_PFN and cur_pfn < m.max_pfn:
            cur_page = m.mem_map + cur_pfn
    if cur_pfn == pfn:
        data_access(m, cpu, mm, addr, write, p, logical_version(mm, p, ptep))
        return
    if cur_page == NULL or cur_pfn == m.zero_pfn:
        # unmapped but not yet freed: the program raced its own munmap;
        # the data it sees is still the page's own.
        if write:
            p.kmm_version = kmm_new_version()
        return
    logical = logical_version(mm, cur_page, ptep)
    if write:
        p.kmm_version = kmm_new_version()        # lands on the old page, lost
        if m.oracle_enabled:
            oracle_record(ORACLE_STALE_WRITE, cpu, mm, True, addr, pfn, cur_pfn,
                          p.kmm_version, logical[0])
    elif p.kmm_version != logical[0] and m.oracle_enabled:
        oracle_record(ORACLE_STALE_READ, cpu, mm, False, addr, pfn, cur_pfn,
                      p.kmm_version, logical[0])


cdef int cpu_access(int cpu, unsigned long addr, bint write) noexcept nogil:
    """One load or store by the task current on cpu.  Returns 0, -EFAULT
    (SIGSEGV/SIGBUS), -ENOMEM (the fault ran out of memory) or -EAGAIN (the
    page is under migration: the kernel would sleep in
    migration_entry_wait())."""
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
    for attempt in range(8):
        e = tlb_lookup(cpu, addr, write)
        if e != NULL:
            if not write or (e.pteval & (_PAGE_RW | _PAGE_DIRTY)) == (_PAGE_RW | _PAGE_DIRTY):
                cached_access(m, cpu, mm, addr, write, e)
                result = 0
                break
            if not (e.pteval & _PAGE_RW):
                # write through a read-only translation: protection fault
                tlb_fault_invalidate(cpu, addr)
                ret = do_user_addr_fault(X86_PF_PROT | X86_PF_WRITE | X86_PF_USER, addr)
                if ret & VM_FAULT_RETRY:
                    result = -11
                    break
                if ret & VM_FAULT_ERROR:
                    result = -12 if ret & VM_FAULT_OOM else -14
                    break
                continue
            # writable but cached clean: the CPU re-walks to set the dirty bit
        ptep = walk_pte(mm, addr)
        pte = ptep[0] if ptep != NULL else 0
        if (pte & (_PAGE_PRESENT | _PAGE_USER)) == (_PAGE_PRESENT | _PAGE_USER) and \
                (not write or (pte & _PAGE_RW)):
            pte |= _PAGE_ACCESSED
            if write:
                pte |= _PAGE_DIRTY
            ptep[0] = pte
            p = m.mem_map + pte_pfn(pte)
            tlb_fill(cpu, addr, pte, p.kmm_alloc_gen)
            if pte_pfn(pte) != m.zero_pfn:
                data_access(m, cpu, mm, addr, write, p, logical_version(mm, p, ptep))
            result = 0
            break
        tlb_fault_invalidate(cpu, addr)
        ret = do_user_addr_fault(
            (X86_PF_WRITE if write else 0) | X86_PF_USER |
            (X86_PF_PROT if pte & _PAGE_PRESENT else 0), addr)
        if ret & VM_FAULT_RETRY:
            result = -11
            break
        if ret & VM_FAULT_ERROR:
            result = -12 if ret & VM_FAULT_OOM else -14
            break
    m.cpu = saved_cpu
    return result
