# The emulated x86 TLB hardware (kmm/emu/hw/tlb.pyx): its operations.  The
# types and constants are in kmm/emu/hw/cpu.pxd.

from kmm.emu.hw.cpu cimport tlb_entry, tlb_level

cdef int tlb_hw_init(int mode, unsigned int dtlb_entries, unsigned int dtlb_ways,
                     unsigned int stlb_entries, unsigned int stlb_ways) noexcept nogil
cdef void tlb_hw_free() noexcept nogil

cdef tlb_entry *tlb_lookup(int cpu, unsigned long vaddr, bint write) noexcept nogil
cdef tlb_entry *tlb_fill(int cpu, unsigned long vaddr, unsigned long long pteval,
                         unsigned int page_gen) noexcept nogil
cdef tlb_entry *tlb_fill_miss(int cpu, unsigned long vaddr, unsigned long long pteval,
                              unsigned int page_gen) noexcept nogil
cdef void tlb_invlpg(int cpu, unsigned long vaddr) noexcept nogil
cdef void tlb_invpcid(int cpu, int type, unsigned long pcid, unsigned long vaddr) noexcept nogil
cdef void tlb_write_cr3(int cpu, unsigned long long cr3) noexcept nogil
cdef unsigned long long tlb_read_cr3(int cpu) noexcept nogil
cdef void tlb_fault_invalidate(int cpu, unsigned long vaddr, bint present) noexcept nogil

cdef bint tlb_probe(int cpu, unsigned int pcid, unsigned long vaddr, tlb_entry *out) noexcept nogil
cdef unsigned long tlb_nr_live(int cpu, int pcid) noexcept nogil


cdef inline tlb_entry *tlb_set(const tlb_level *l, unsigned long long vpn) noexcept nogil:
    """The set of level l that holds vpn (set-associative mode)."""
    cdef unsigned long long idx
    if l.xor_index:
        idx = (vpn ^ (vpn >> l.set_bits)) & (l.nsets - 1)
    else:
        idx = vpn & (l.nsets - 1)
    return l.e + idx * l.ways
