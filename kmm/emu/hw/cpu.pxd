# The emulated CPU's per-CPU hardware state (emulator-only, not a kernel
# mirror): its TLB caches (kmm/emu/hw/tlb.pyx) and its perf-like event counters
# (kmm/emu/hw/perf.pyx; definitions there and in docs/tlb.md).
#
# Types and constants only, with no module of its own: kmm_cpu in
# kmm/linux/include_/kmm/machine.pxd embeds these structs, and a module cannot
# define a struct that a pxd it cimports embeds (the C would use it before
# defining it).

cdef enum:
    HW_PAGE_SHIFT = 12
    HW_TLB_NR_PCIDS = 16             # tagged PCID slots: CR3 bits 2:0 and bit 11 (kmm/emu/hw/tlb.pyx)
    HW_TLB_PCID_BITS = 4
    HW_TLB_SETASSOC = 0              # dTLB + STLB, set-associative, LRU
    HW_TLB_UNBOUNDED = 1             # one growable table: nothing is evicted
    HW_TLB_HASH_MIN = 1024           # initial slots of an unbounded table

# INVPCID descriptor types (SDM vol. 2, INVPCID)
cdef enum:
    HW_INVPCID_INDIV_ADDR = 0
    HW_INVPCID_SINGLE_CTXT = 1
    HW_INVPCID_ALL_INCL_GLOBAL = 2
    HW_INVPCID_ALL_NON_GLOBAL = 3

# PTE bits as the page walker and the TLB see them (SDM vol. 3A 4.5, table
# 4-19); the values equal the kernel's _PAGE_* bits.
cdef enum:
    HW_PTE_PRESENT = 1 << 0
    HW_PTE_RW = 1 << 1
    HW_PTE_USER = 1 << 2
    HW_PTE_ACCESSED = 1 << 5
    HW_PTE_DIRTY = 1 << 6

cdef extern from *:
    """
    #define KMM_HW_CR3_NOFLUSH       (1ULL << 63)
    #define KMM_HW_CR3_PCID_MASK     0xFFFULL
    #define KMM_HW_CR3_ADDR_MASK     0x000FFFFFFFFFF000ULL
    #define KMM_HW_PTE_PFN_MASK      0x000FFFFFFFFFF000ULL
    #define KMM_HW_TLB_EMPTY_TAG     (~0ULL)
    """
    const unsigned long long HW_CR3_NOFLUSH "KMM_HW_CR3_NOFLUSH"
    const unsigned long long HW_CR3_PCID_MASK "KMM_HW_CR3_PCID_MASK"
    const unsigned long long HW_CR3_ADDR_MASK "KMM_HW_CR3_ADDR_MASK"
    const unsigned long long HW_PTE_PFN_MASK "KMM_HW_PTE_PFN_MASK"
    const unsigned long long HW_TLB_EMPTY_TAG "KMM_HW_TLB_EMPTY_TAG"


# One cached translation.  tag = (vpn << HW_TLB_PCID_BITS) | PCID slot.  The
# entry is live only while gen equals its PCID's current generation in the
# CPU's tlb_cpu.pcid_gen[]: bumping that number drops every entry of the
# PCID at once.
cdef struct tlb_entry:
    unsigned long long tag
    unsigned long long pteval        # the PTE as the walker loaded it (pfn, RW, USER, A, D, ...)
    unsigned long long lru           # the CPU's access clock at the last use
    unsigned int page_gen            # supplied by the walker (for the coherence oracle)
    unsigned int gen                 # pcid_gen[] of the PCID when filled

# One set-associative level: nsets * ways entries, set after set.
cdef struct tlb_level:
    tlb_entry *e
    unsigned int entries
    unsigned int ways
    unsigned int nsets               # a power of two
    unsigned int set_bits            # log2(nsets)
    bint xor_index                   # set = (vpn ^ vpn >> set_bits) mod nsets

cdef struct tlb_cpu:
    unsigned long long cr3           # the value last written, NOFLUSH bit dropped
    unsigned int pcid                # current PCID's tag slot (CR3 bits 2:0 and 11)
    unsigned int cpl                 # privilege level: 0 kernel, 3 user (set by the entry code)
    int mode                         # HW_TLB_SETASSOC or HW_TLB_UNBOUNDED
    unsigned long long clock         # lookups and fills so far (LRU clock)
    unsigned int pcid_gen[16]        # HW_TLB_NR_PCIDS; starts at 1, 0 never live
    tlb_level dtlb                   # L1 data TLB
    tlb_level stlb                   # unified second-level TLB
    # unbounded mode: open addressing with linear probing, empty slots have
    # tag == HW_TLB_EMPTY_TAG, stale entries stay until the next rebuild
    tlb_entry *tab
    unsigned long tab_mask           # slots - 1
    unsigned long tab_used           # occupied slots (live or stale)


# Perf event counters, indexed by the anonymous enum (summing over CPUs is one loop).
cdef enum:  # perf event index
    PERF_DTLB_LOADS = 0              # dTLB-loads
    PERF_DTLB_LOAD_MISSES = 1        # dTLB-load-misses = DTLB_LOAD_MISSES.WALK_COMPLETED
    PERF_DTLB_STORES = 2             # dTLB-stores
    PERF_DTLB_STORE_MISSES = 3       # dTLB-store-misses = DTLB_STORE_MISSES.WALK_COMPLETED
    PERF_DTLB_LOAD_STLB_HIT = 4      # dtlb_load_misses.stlb_hit
    PERF_DTLB_STORE_STLB_HIT = 5     # dtlb_store_misses.stlb_hit
    PERF_TLB_FLUSH_DTLB_THREAD = 6   # tlb_flush.dtlb_thread
    PERF_TLB_FLUSH_STLB_ANY = 7      # tlb_flush.stlb_any
    PERF_ITLB_ITLB_FLUSH = 8         # itlb.itlb_flush
    NR_PERF_EVENTS = 9

cdef struct perf_counts:
    unsigned long long ev[9]         # NR_PERF_EVENTS (checked in kmm/emu/hw/perf.pyx)


# The cost model (kmm/emu/hw/cost.pxd, docs/cost-model.md): what kernel work
# costs in virtual time, one entry per operation, in ns (the machine's
# kmm_cost_ns[], set from a preset by kmm/emu/hw/costs.py).
cdef enum:  # cost index
    KMM_COST_FAULT = 0               # page-fault exception: entry, dispatch, exit
    KMM_COST_PTE_UPDATE = 1          # one PTE written or cleared by a kernel path
    KMM_COST_PTE_SCAN = 2            # one PTE visited by change_pte_range (NUMA scan, mprotect)
    KMM_COST_PAGE_ALLOC = 3          # one __alloc_pages() call
    KMM_COST_PAGE_FREE = 4           # one page returned to the allocator
    KMM_COST_COPY_PAGE = 5           # copying one 4 KiB page (migration, COW)
    KMM_COST_RMAP_ONE = 6            # one mapping visited by an rmap walk
    KMM_COST_LRU_SCAN = 7            # one folio scanned by isolate_lru_folios (reclaim)
    KMM_COST_INVLPG = 8              # INVLPG
    KMM_COST_INVPCID = 9             # INVPCID (any type)
    KMM_COST_CR3_WRITE = 10          # MOV to CR3 (flushing or not)
    KMM_COST_IPI_SEND = 11           # initiator: one IPI sent, per destination CPU
    KMM_COST_IPI_ACK_WAIT = 12       # initiator: from the last send until acks (handler time added)
    KMM_COST_IRQ = 13                # receiver: interrupt entry and exit around the handler
    KMM_COST_CONTEXT_SWITCH = 14     # one context switch
    NR_KMM_COSTS = 15

# The TLB invalidations the perf flush events see, one kind per row of the
# table in docs/tlb.md; what each adds to itlb.itlb_flush,
# tlb_flush.dtlb_thread and tlb_flush.stlb_any is the machine's
# kmm_tlb_flush_perf[op][KMM_FLUSH_EV_*], set at boot from the CPU model's
# options (kmm/emu/hw/perf.pyx flush_perf_table).
cdef enum:  # flush operation
    KMM_FLUSH_OP_INVLPG = 0          # INVLPG (current PCID)
    KMM_FLUSH_OP_INVPCID_ADDR = 1    # INVPCID type 0 naming the current PCID
    KMM_FLUSH_OP_INVPCID_OTHER = 2   # INVPCID type 0 naming another PCID (PTI: the user PCID)
    KMM_FLUSH_OP_INVPCID_CTXT = 3    # INVPCID types 1, 2, 3 (one PCID, all PCIDs)
    KMM_FLUSH_OP_CR3 = 4             # MOV to CR3 without NOFLUSH: flushes the new PCID
    KMM_FLUSH_OP_CR3_NOFLUSH = 5     # MOV to CR3 with NOFLUSH: a PCID switch only
    KMM_FLUSH_OP_PF_PRESENT = 6      # a #PF's invalidation of a present translation (protection fault)
    KMM_FLUSH_OP_PF_NOT_PRESENT = 7  # a #PF on a not-present PTE (nothing can be cached)
    KMM_NR_FLUSH_OPS = 8
cdef enum:  # flush event column
    KMM_FLUSH_EV_ITLB = 0            # itlb.itlb_flush
    KMM_FLUSH_EV_DTLB = 1            # tlb_flush.dtlb_thread
    KMM_FLUSH_EV_STLB = 2            # tlb_flush.stlb_any

# Where one CPU's virtual time went (ns), and what it owes its running task.
cdef struct cpu_time:
    double user_ns                   # the workload's own work (the engine)
    unsigned long long sys_ns        # kernel work in a user task's context
    unsigned long long irq_ns        # interrupt handlers (IPIs received)
    unsigned long long kthread_ns    # kernel threads (kswapd)
    long long pending_ns             # charged but not yet taken from the running task's time
    int in_irq                       # handler nesting: charges go to irq_ns
