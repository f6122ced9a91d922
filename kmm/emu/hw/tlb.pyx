"""The emulated x86 TLB of each CPU (emulator-only, not a kernel mirror).

Model
-----
Set-associative mode (the default, sized like a Skylake core): a 64-entry
4-way L1 dTLB and a 1536-entry 12-way unified STLB, LRU within a set.  The
dTLB set is the low bits of the virtual page number; the STLB set is the XOR
of the two lowest set-index-wide fields of the VPN (Skylake's STLB was
reverse-engineered as such an "XOR-7" hash with 128 sets: Gras et al.,
"Translation Leak-aside Buffer", USENIX Security 2018).  A lookup that misses
the dTLB and hits the STLB copies the entry into the dTLB; a fill after a
page walk writes both levels.  Levels are not inclusive: an STLB eviction
leaves the dTLB copy in place, so every invalidation visits both levels.

Unbounded mode (for worst-case studies): one open-addressing table per CPU
that grows as needed; nothing is evicted, a translation stays until an
invalidation covers it.

Tags.  Each entry is tagged with the PCID that was current in CR3 when it was
filled and the virtual page number.  Linux writes kPCID = ASID + 1, so the
kernel's ASID slots 0..5 are PCIDs 1..6, and under page-table isolation the
user half runs in uPCID = kPCID | 0x800 (bit 11).  The tag keeps CR3's PCID
bits 2:0 and bit 11 (16 slots: every PCID Linux uses is distinct; PCIDs that
differ only in bits 10:3 would share a slot, and Linux uses none).
Each (CPU, PCID) has a generation number; an entry is live only while its
generation matches, so invalidating a whole PCID is one increment.

Instructions (SDM vol. 3A 4.10.4.1, vol. 2 INVLPG/INVPCID/MOV CR3):
- tlb_write_cr3(cpu, cr3): MOV to CR3.  The PCID becomes bits 11:0.  Unless
  bit 63 (NOFLUSH) is set, the entries of that (new) PCID are invalidated;
  entries of other PCIDs survive either way.
- tlb_invlpg(cpu, vaddr): INVLPG, the page in the current PCID.
- tlb_invpcid(cpu, type, pcid, vaddr): INVPCID types 0..3 (no global pages
  are modelled, so types 2 and 3 both invalidate every PCID).
- tlb_fault_invalidate(cpu, vaddr, present): the invalidation a page fault
  performs on the faulting address (current PCID); not an instruction.

Each operation adds to the perf flush events what the machine's table
(kmm_tlb_flush_perf, from the CPU model's options) says for its kind.

Use by the page walker / access path: tlb_lookup(cpu, vaddr, write) returns
the live entry for vaddr in the current PCID, whatever its permission bits;
the caller checks them.  A write through an entry without RW raises a fault
(then tlb_fault_invalidate); a write through an entry without DIRTY makes the
CPU walk again to set the dirty bit and re-fill with tlb_fill (that re-walk
is an assist, not a dTLB-store-miss).  NULL means a page walk: the walker
then calls tlb_fill_miss(cpu, vaddr, pteval, page_gen), which skips
tlb_fill's search for an existing entry.  A returned pointer is
valid until the next fill or invalidation on that CPU (an unbounded table
may move when it grows).

Perf events are counted in the CPU's kmm_cpu.perf (definitions in
kmm/emu/hw/perf.pyx and docs/tlb.md).
"""

from libc.stdlib cimport malloc, free
from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_cpu
from kmm.emu.hw.cpu cimport *
from kmm.emu.hw.hostmem cimport host_alloc, host_free
from kmm.emu.hw.tlb cimport tlb_set
from kmm.emu.hw.cost cimport kmm_charge_cpu

cdef extern from *:
    """
    #define KMM_HW_GEN_MAX 0xFFFFFFFFu
    #define KMM_HW_HASH_MUL 0x9E3779B97F4A7C15ULL
    """
    const unsigned int HW_GEN_MAX "KMM_HW_GEN_MAX"
    const unsigned long long HW_HASH_MUL "KMM_HW_HASH_MUL"


# -- helpers -------------------------------------------------------------------

cdef inline unsigned int _pcid_slot(unsigned long long pcid) noexcept nogil:
    """The tag slot of a 12-bit PCID: bits 2:0, and bit 11 as slot bit 3."""
    return <unsigned int>((pcid & 7) | ((pcid >> 8) & 8))

cdef inline unsigned long long _tag(unsigned long vaddr, unsigned int pcid) noexcept nogil:
    return ((<unsigned long long>vaddr >> HW_PAGE_SHIFT) << HW_TLB_PCID_BITS) | pcid

cdef inline unsigned int _tag_pcid(unsigned long long tag) noexcept nogil:
    return <unsigned int>(tag & (HW_TLB_NR_PCIDS - 1))

cdef inline bint _live(const tlb_cpu *t, const tlb_entry *e) noexcept nogil:
    return e.gen == t.pcid_gen[_tag_pcid(e.tag)]

cdef inline tlb_entry *_find_live(const tlb_cpu *t, tlb_entry *s, unsigned int ways,
                                  unsigned long long tag) noexcept nogil:
    """The live entry for tag in set s (a set holds at most one)."""
    cdef unsigned int i
    cdef unsigned int gen = t.pcid_gen[_tag_pcid(tag)]
    for i in range(ways):
        if s[i].tag == tag and s[i].gen == gen:
            return &s[i]
    return NULL

cdef inline tlb_entry *_victim(const tlb_cpu *t, tlb_entry *s, unsigned int ways) noexcept nogil:
    """A dead entry of set s if there is one, else the least recently used
    (the first of equals).  The smallest stamp is kept in a register: a
    pointer to it would put a load in every step's dependency chain."""
    cdef unsigned int i, v = 0
    cdef bint less
    cdef unsigned long long lru = s[0].lru
    for i in range(ways):
        if not _live(t, &s[i]):
            return &s[i]
        less = s[i].lru < lru            # as selects, not a branch: compiled to cmov
        v = i if less else v
        lru = s[i].lru if less else lru
    return &s[v]

cdef inline tlb_entry *_fill_slot(const tlb_cpu *t, tlb_entry *s, unsigned int ways,
                                  unsigned long long tag, unsigned int gen) noexcept nogil:
    """Where a fill of tag goes in set s, in one pass: the live entry for
    tag if the set holds one, else what _victim() would choose."""
    cdef unsigned int i, v = 0
    cdef unsigned long long lru = s[0].lru
    cdef tlb_entry *dead = NULL
    cdef bint less
    for i in range(ways):
        if s[i].tag == tag and s[i].gen == gen:
            return &s[i]
        if dead == NULL:
            if not _live(t, &s[i]):
                dead = &s[i]
            else:
                less = s[i].lru < lru
                v = i if less else v
                lru = s[i].lru if less else lru
    return dead if dead != NULL else &s[v]

cdef inline void _set_kill(tlb_entry *s, unsigned int ways, unsigned long long tag) noexcept nogil:
    cdef unsigned int i
    for i in range(ways):
        if s[i].tag == tag:
            s[i].gen = 0                 # generations start at 1: never live again

cdef inline void _count_flush(kmm_cpu *c, int op) noexcept nogil:
    """One invalidating operation of kind op (KMM_FLUSH_OP_*): what it adds
    to each flush event is the machine's table (kmm/emu/hw/perf.pyx
    flush_perf_table, docs/tlb.md)."""
    cdef const unsigned char *add = KMM().kmm_tlb_flush_perf[op]
    c.perf.ev[PERF_ITLB_ITLB_FLUSH] += add[KMM_FLUSH_EV_ITLB]
    c.perf.ev[PERF_TLB_FLUSH_DTLB_THREAD] += add[KMM_FLUSH_EV_DTLB]
    c.perf.ev[PERF_TLB_FLUSH_STLB_ANY] += add[KMM_FLUSH_EV_STLB]


# -- unbounded mode: open addressing, linear probing -----------------------------

cdef inline unsigned long _hslot(const tlb_cpu *t, unsigned long long tag) noexcept nogil:
    cdef unsigned long long h = tag * HW_HASH_MUL
    return <unsigned long>((h ^ (h >> 29)) & t.tab_mask)

cdef inline tlb_entry *_hash_find(const tlb_cpu *t, unsigned long long tag) noexcept nogil:
    """The slot holding tag (live or stale), or NULL."""
    cdef unsigned long i = _hslot(t, tag)
    cdef tlb_entry *e
    while True:
        e = &t.tab[i]
        if e.tag == tag:
            return e
        if e.tag == HW_TLB_EMPTY_TAG:
            return NULL
        i = (i + 1) & t.tab_mask

cdef tlb_entry *_hash_alloc(unsigned long slots) noexcept nogil:
    cdef tlb_entry *tab = <tlb_entry *>malloc(slots * sizeof(tlb_entry))
    cdef unsigned long i
    if tab != NULL:
        for i in range(slots):
            tab[i].tag = HW_TLB_EMPTY_TAG
            tab[i].gen = 0
    return tab

cdef void _hash_rebuild(tlb_cpu *t, int drop_pcid) noexcept nogil:
    """Re-insert the live entries (except those of drop_pcid) into a table
    sized to keep the load under 1/4 after the rebuild."""
    cdef unsigned long i, j, live = 0, slots = HW_TLB_HASH_MIN
    cdef tlb_entry *old = t.tab
    cdef unsigned long old_slots = t.tab_mask + 1
    cdef tlb_entry *tab
    for i in range(old_slots):
        if old[i].tag != HW_TLB_EMPTY_TAG and _live(t, &old[i]) and \
                <int>_tag_pcid(old[i].tag) != drop_pcid:
            live += 1
    while slots < live * 4:
        slots *= 2
    tab = _hash_alloc(slots)
    if tab == NULL:
        # No memory: a TLB may drop any entry at any time, so empty it.
        for i in range(old_slots):
            old[i].tag = HW_TLB_EMPTY_TAG
        t.tab_used = 0
        return
    t.tab = tab
    t.tab_mask = slots - 1
    for i in range(old_slots):
        if old[i].tag != HW_TLB_EMPTY_TAG and _live(t, &old[i]) and \
                <int>_tag_pcid(old[i].tag) != drop_pcid:
            j = _hslot(t, old[i].tag)
            while tab[j].tag != HW_TLB_EMPTY_TAG:
                j = (j + 1) & t.tab_mask
            tab[j] = old[i]
    t.tab_used = live
    free(old)

cdef tlb_entry *_hash_insert(tlb_cpu *t, unsigned long long tag, unsigned long long pteval,
                             unsigned int page_gen) noexcept nogil:
    cdef unsigned long i = _hslot(t, tag)
    cdef tlb_entry *e
    while True:
        e = &t.tab[i]
        if e.tag == tag:
            break
        if e.tag == HW_TLB_EMPTY_TAG:
            t.tab_used += 1
            break
        i = (i + 1) & t.tab_mask
    e.tag = tag
    e.pteval = pteval
    e.page_gen = page_gen
    e.gen = t.pcid_gen[_tag_pcid(tag)]
    e.lru = t.clock
    if t.tab_used * 2 > t.tab_mask + 1:
        _hash_rebuild(t, -1)
        return _hash_find(t, tag)
    return e

cdef void _hash_delete(tlb_cpu *t, unsigned long long tag) noexcept nogil:
    """Remove tag, shifting later members of its probe run back so that
    every remaining entry stays reachable from its home slot."""
    cdef tlb_entry *e = _hash_find(t, tag)
    cdef unsigned long i, j, home
    if e == NULL:
        return
    i = <unsigned long>(e - t.tab)
    j = i
    while True:
        j = (j + 1) & t.tab_mask
        if t.tab[j].tag == HW_TLB_EMPTY_TAG:
            break
        home = _hslot(t, t.tab[j].tag)
        # the entry at j may fill the hole at i unless its home lies
        # cyclically in (i, j]
        if i <= j:
            if i < home <= j:
                continue
        elif home > i or home <= j:
            continue
        t.tab[i] = t.tab[j]
        i = j
    t.tab[i].tag = HW_TLB_EMPTY_TAG
    t.tab[i].gen = 0
    t.tab_used -= 1


# -- invalidation primitives ----------------------------------------------------

cdef void _drop_page(tlb_cpu *t, unsigned long vaddr, unsigned int pcid) noexcept nogil:
    cdef unsigned long long vpn = <unsigned long long>vaddr >> HW_PAGE_SHIFT
    cdef unsigned long long tag = _tag(vaddr, pcid)
    if t.mode == HW_TLB_UNBOUNDED:
        _hash_delete(t, tag)
    else:
        _set_kill(tlb_set(&t.dtlb, vpn), t.dtlb.ways, tag)
        _set_kill(tlb_set(&t.stlb, vpn), t.stlb.ways, tag)

cdef void _drop_pcid(tlb_cpu *t, unsigned int pcid) noexcept nogil:
    """Invalidate every entry of pcid: O(1) except once per 2^32 flushes,
    when the generation wraps and the entries are scrubbed one by one."""
    cdef unsigned int i
    if t.pcid_gen[pcid] != HW_GEN_MAX:
        t.pcid_gen[pcid] += 1
        return
    if t.mode == HW_TLB_UNBOUNDED:
        _hash_rebuild(t, <int>pcid)
    else:
        for i in range(t.dtlb.entries):
            if _tag_pcid(t.dtlb.e[i].tag) == pcid:
                t.dtlb.e[i].gen = 0
        for i in range(t.stlb.entries):
            if _tag_pcid(t.stlb.e[i].tag) == pcid:
                t.stlb.e[i].gen = 0
    t.pcid_gen[pcid] = 1


# -- setup -------------------------------------------------------------------------

cdef tlb_entry *_level_init(tlb_level *l, tlb_entry *mem, unsigned int entries, unsigned int ways,
                            bint xor_index) noexcept nogil:
    """Lay level l out at mem; returns the memory after it."""
    l.entries = entries
    l.ways = ways
    l.nsets = entries // ways
    l.set_bits = 0
    while (1U << l.set_bits) < l.nsets:
        l.set_bits += 1
    l.xor_index = xor_index
    l.e = mem
    return mem + entries

cdef int tlb_hw_init(int mode, unsigned int dtlb_entries, unsigned int dtlb_ways,
                     unsigned int stlb_entries, unsigned int stlb_ways) noexcept nogil:
    """Give every CPU of the current machine an empty TLB (sizes already
    validated by kmm/emu/config.py: entries a multiple of ways, sets a power of
    two).  Returns 0 or -ENOMEM (what was allocated is freed by tlb_hw_free).
    The set-associative arrays of all CPUs are one host allocation
    (kmm/emu/hw/hostmem.pyx: cache-line aligned, huge-page backed)."""
    cdef kmm_machine *m = KMM()
    cdef tlb_cpu *t
    cdef tlb_entry *mem = NULL
    cdef int cpu, i
    if mode != HW_TLB_UNBOUNDED:
        m.kmm_hw_tlb_mem_bytes = (<size_t>m.nr_cpu_ids * (dtlb_entries + stlb_entries)
                                  * sizeof(tlb_entry))
        m.kmm_hw_tlb_mem = host_alloc(m.kmm_hw_tlb_mem_bytes)
        if m.kmm_hw_tlb_mem == NULL:
            return -12
        mem = <tlb_entry *>m.kmm_hw_tlb_mem
    for cpu in range(m.nr_cpu_ids):
        t = &m.cpus[cpu].hw_tlb
        t.mode = mode
        t.cr3 = 0
        t.pcid = 0
        t.cpl = 0                        # CPUs boot in the kernel
        t.clock = 0
        for i in range(HW_TLB_NR_PCIDS):
            t.pcid_gen[i] = 1
        if mode == HW_TLB_UNBOUNDED:
            t.tab = _hash_alloc(HW_TLB_HASH_MIN)
            if t.tab == NULL:
                return -12
            t.tab_mask = HW_TLB_HASH_MIN - 1
            t.tab_used = 0
        else:
            mem = _level_init(&t.dtlb, mem, dtlb_entries, dtlb_ways, False)
            mem = _level_init(&t.stlb, mem, stlb_entries, stlb_ways, True)
    return 0

cdef void tlb_hw_free() noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef tlb_cpu *t
    cdef int cpu
    if m.cpus == NULL:
        return
    for cpu in range(m.nr_cpu_ids):
        t = &m.cpus[cpu].hw_tlb
        free(t.tab)
        t.dtlb.e = NULL
        t.stlb.e = NULL
        t.tab = NULL
    host_free(m.kmm_hw_tlb_mem, m.kmm_hw_tlb_mem_bytes)
    m.kmm_hw_tlb_mem = NULL


# -- the hardware operations ---------------------------------------------------------

cdef tlb_entry *tlb_lookup(int cpu, unsigned long vaddr, bint write) noexcept nogil:
    """A data access's translation lookup in the current PCID: the live
    entry, or NULL when the CPU must walk the page tables.  (The access
    itself, dTLB-loads/-stores, is counted once by its caller: a load that
    faults looks up again when it is re-executed, but retires once.)"""
    cdef kmm_cpu *c = &KMM().cpus[cpu]
    cdef tlb_cpu *t = &c.hw_tlb
    cdef unsigned long long vpn = <unsigned long long>vaddr >> HW_PAGE_SHIFT
    cdef unsigned long long tag = (vpn << HW_TLB_PCID_BITS) | t.pcid
    cdef unsigned int gen = t.pcid_gen[t.pcid]
    cdef tlb_entry *s
    cdef tlb_entry *v
    cdef unsigned int i
    t.clock += 1
    if t.mode == HW_TLB_UNBOUNDED:
        s = _hash_find(t, tag)
        if s != NULL and s.gen == gen:
            s.lru = t.clock
            return s
    else:
        s = tlb_set(&t.dtlb, vpn)
        for i in range(t.dtlb.ways):
            if s[i].tag == tag and s[i].gen == gen:
                s[i].lru = t.clock
                return &s[i]
        s = tlb_set(&t.stlb, vpn)
        for i in range(t.stlb.ways):
            if s[i].tag == tag and s[i].gen == gen:
                s[i].lru = t.clock
                c.perf.ev[PERF_DTLB_STORE_STLB_HIT if write else PERF_DTLB_LOAD_STLB_HIT] += 1
                v = _victim(t, tlb_set(&t.dtlb, vpn), t.dtlb.ways)
                v[0] = s[i]
                return v
    c.perf.ev[PERF_DTLB_STORE_MISSES if write else PERF_DTLB_LOAD_MISSES] += 1
    return NULL

cdef inline tlb_entry *_fill(int cpu, unsigned long vaddr, unsigned long long pteval,
                             unsigned int page_gen, bint absent) noexcept nogil:
    cdef tlb_cpu *t = &KMM().cpus[cpu].hw_tlb
    cdef unsigned long long vpn = <unsigned long long>vaddr >> HW_PAGE_SHIFT
    cdef unsigned long long tag = (vpn << HW_TLB_PCID_BITS) | t.pcid
    cdef unsigned int gen = t.pcid_gen[t.pcid]
    cdef tlb_entry *s
    cdef tlb_entry *e = NULL
    cdef int level
    t.clock += 1
    if t.mode == HW_TLB_UNBOUNDED:
        return _hash_insert(t, tag, pteval, page_gen)
    for level in range(2):
        if level == 0:
            s = tlb_set(&t.stlb, vpn)
            e = _victim(t, s, t.stlb.ways) if absent else _fill_slot(t, s, t.stlb.ways, tag, gen)
        else:
            s = tlb_set(&t.dtlb, vpn)
            e = _victim(t, s, t.dtlb.ways) if absent else _fill_slot(t, s, t.dtlb.ways, tag, gen)
        e.tag = tag
        e.pteval = pteval
        e.page_gen = page_gen
        e.gen = gen
        e.lru = t.clock
    return e

cdef tlb_entry *tlb_fill(int cpu, unsigned long vaddr, unsigned long long pteval,
                         unsigned int page_gen) noexcept nogil:
    """Cache a translation the page walker loaded, in the current PCID (both
    levels); an existing entry for the page is updated in place.  Returns
    the dTLB entry (the table entry in unbounded mode; NULL only if an
    unbounded table could not grow and was emptied instead)."""
    return _fill(cpu, vaddr, pteval, page_gen, False)

cdef tlb_entry *tlb_fill_miss(int cpu, unsigned long vaddr, unsigned long long pteval,
                              unsigned int page_gen) noexcept nogil:
    """tlb_fill() right after tlb_lookup() of the same access returned NULL,
    with no TLB operation on cpu in between: neither level holds a live
    entry for the page then, so the fill only chooses victims (the same
    entries tlb_fill would, without its search for the page)."""
    return _fill(cpu, vaddr, pteval, page_gen, True)

cdef void tlb_invlpg(int cpu, unsigned long vaddr) noexcept nogil:
    """INVLPG: drop the page's translation in the current PCID."""
    cdef kmm_cpu *c = &KMM().cpus[cpu]
    _drop_page(&c.hw_tlb, vaddr, c.hw_tlb.pcid)
    _count_flush(c, KMM_FLUSH_OP_INVLPG)
    kmm_charge_cpu(cpu, KMM_COST_INVLPG, 1)

cdef void tlb_invpcid(int cpu, int type, unsigned long pcid, unsigned long vaddr) noexcept nogil:
    """INVPCID: 0 one address in pcid, 1 all of pcid, 2/3 every PCID."""
    cdef kmm_cpu *c = &KMM().cpus[cpu]
    cdef unsigned int p
    if type == HW_INVPCID_INDIV_ADDR:
        _drop_page(&c.hw_tlb, vaddr, _pcid_slot(pcid))
        _count_flush(c, KMM_FLUSH_OP_INVPCID_ADDR if _pcid_slot(pcid) == c.hw_tlb.pcid
                     else KMM_FLUSH_OP_INVPCID_OTHER)
    else:
        if type == HW_INVPCID_SINGLE_CTXT:
            _drop_pcid(&c.hw_tlb, _pcid_slot(pcid))
        else:
            for p in range(<unsigned int>HW_TLB_NR_PCIDS):
                _drop_pcid(&c.hw_tlb, p)
        _count_flush(c, KMM_FLUSH_OP_INVPCID_CTXT)
    kmm_charge_cpu(cpu, KMM_COST_INVPCID, 1)

cdef void tlb_write_cr3(int cpu, unsigned long long cr3) noexcept nogil:
    """MOV to CR3 with CR4.PCIDE=1: switch to PCID cr3[11:0]; invalidate
    that PCID's entries unless bit 63 (NOFLUSH) is set.  Bit 63 is not
    stored.  The PCID is tagged by its slot (_pcid_slot)."""
    cdef kmm_cpu *c = &KMM().cpus[cpu]
    cdef tlb_cpu *t = &c.hw_tlb
    t.cr3 = cr3 & ~HW_CR3_NOFLUSH
    t.pcid = _pcid_slot(cr3 & HW_CR3_PCID_MASK)
    if not (cr3 & HW_CR3_NOFLUSH):
        _drop_pcid(t, t.pcid)
        _count_flush(c, KMM_FLUSH_OP_CR3)
    else:
        _count_flush(c, KMM_FLUSH_OP_CR3_NOFLUSH)
    kmm_charge_cpu(cpu, KMM_COST_CR3_WRITE, 1)

cdef unsigned long long tlb_read_cr3(int cpu) noexcept nogil:
    return KMM().cpus[cpu].hw_tlb.cr3

cdef void tlb_fault_invalidate(int cpu, unsigned long vaddr, bint present) noexcept nogil:
    """A page fault invalidates the faulting page's entries in the current
    PCID (SDM vol. 3A 4.10.4.1); no instruction, and no flush event unless
    the CPU model's pf_invalidation_counts says so (present: the PTE was
    present, a protection fault)."""
    cdef kmm_cpu *c = &KMM().cpus[cpu]
    _drop_page(&c.hw_tlb, vaddr, c.hw_tlb.pcid)
    _count_flush(c, KMM_FLUSH_OP_PF_PRESENT if present else KMM_FLUSH_OP_PF_NOT_PRESENT)


# -- inspection (no side effects: no LRU update, no perf events) ---------------------

cdef bint tlb_probe(int cpu, unsigned int pcid, unsigned long vaddr, tlb_entry *out) noexcept nogil:
    """Whether cpu caches a live translation of vaddr in pcid (any level);
    the entry is copied to out when out is not NULL."""
    cdef tlb_cpu *t = &KMM().cpus[cpu].hw_tlb
    cdef unsigned long long vpn = <unsigned long long>vaddr >> HW_PAGE_SHIFT
    cdef unsigned long long tag
    cdef tlb_entry *e
    pcid = _pcid_slot(pcid)
    tag = _tag(vaddr, pcid)
    if t.mode == HW_TLB_UNBOUNDED:
        e = _hash_find(t, tag)
        if e != NULL and not _live(t, e):
            e = NULL
    else:
        e = _find_live(t, tlb_set(&t.dtlb, vpn), t.dtlb.ways, tag)
        if e == NULL:
            e = _find_live(t, tlb_set(&t.stlb, vpn), t.stlb.ways, tag)
    if e != NULL and out != NULL:
        out[0] = e[0]
    return e != NULL

cdef unsigned long tlb_nr_live(int cpu, int pcid) noexcept nogil:
    """Distinct live translations cached by cpu (of one PCID, or all when
    pcid < 0); a page held in both levels counts once."""
    cdef tlb_cpu *t = &KMM().cpus[cpu].hw_tlb
    cdef unsigned long n = 0, i
    cdef tlb_entry *e
    if pcid >= 0:
        pcid = <int>_pcid_slot(<unsigned int>pcid)
    if t.mode == HW_TLB_UNBOUNDED:
        for i in range(t.tab_mask + 1):
            e = &t.tab[i]
            if e.tag != HW_TLB_EMPTY_TAG and _live(t, e) and (pcid < 0 or <int>_tag_pcid(e.tag) == pcid):
                n += 1
        return n
    for i in range(t.stlb.entries):
        e = &t.stlb.e[i]
        if _live(t, e) and (pcid < 0 or <int>_tag_pcid(e.tag) == pcid):
            n += 1
    for i in range(t.dtlb.entries):
        e = &t.dtlb.e[i]
        if _live(t, e) and (pcid < 0 or <int>_tag_pcid(e.tag) == pcid):
            if _find_live(t, tlb_set(&t.stlb, e.tag >> HW_TLB_PCID_BITS), t.stlb.ways, e.tag) == NULL:
                n += 1
    return n
