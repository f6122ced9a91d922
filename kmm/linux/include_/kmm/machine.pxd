# The emulated machine: the kernel's global state (mem_map, NODE_DATA,
# per-CPU variables, sysctls) gathered in one struct so that several
# machines can live in one process.  Mirrored code reaches it via KMM(),
# and through the kernel-named accessors below.

from kmm.emu.current cimport kmm_current_fast
from kmm.linux.include_.linux.cpumask cimport cpumask_t, NR_CPUS
from kmm.linux.include_.linux.nodemask cimport nodemask_t, MAX_NUMNODES
from kmm.linux.include_.linux.mm_types cimport page, mm_struct
from kmm.linux.include_.linux.mmzone cimport pglist_data, zone
from kmm.linux.include_.linux.sched cimport task_struct
from kmm.linux.include_.linux.vm_event_item cimport NR_VM_EVENT_ITEMS
from kmm.linux.arch.x86.include_.asm.tlbflush cimport tlb_state, tlb_state_shared, flush_tlb_info
from kmm.emu.hw.cpu cimport tlb_cpu, perf_counts, cpu_time
from kmm.linux.arch.x86.include_.asm.tlbbatch cimport arch_tlbflush_unmap_batch
from kmm.linux.include_.linux.gfp_types cimport gfp_t
from kmm.linux.include_.linux.fault_inject cimport fail_page_alloc_t
from kmm.linux.include_.kmm.trace cimport kmm_trace_state


# include/linux/vmstat.h: struct vm_event_state, one per CPU.
cdef struct vm_event_state:
    unsigned long event[64]                  # NR_VM_EVENT_ITEMS (checked at import)


# Per-CPU variables of the kernel that the mirrored paths use.
cdef struct kmm_cpu:
    int node                                 # cpu_to_node()
    task_struct *current_task                # pcpu_hot.current_task
    task_struct *idle                        # swapper/N
    vm_event_state vm_event_states
    # x86 TLB (arch/x86/mm/tlb.c): DEFINE_PER_CPU cpu_tlbstate, cpu_tlbstate_shared, flush_tlb_info
    tlb_state cpu_tlbstate
    tlb_state_shared cpu_tlbstate_shared
    flush_tlb_info flush_tlb_info
    unsigned int flush_tlb_info_idx          # CONFIG_DEBUG_VM: get/put_flush_tlb_info nesting
    # the emulated CPU (kmm/emu/hw/): its TLB caches and perf-like event counters
    tlb_cpu hw_tlb
    perf_counts perf
    cpu_time kmm_time                        # the cost model's accounting (kmm/emu/hw/cost.pxd)
    int kmm_kernel_depth                     # kernel entries not yet left (arch/x86/entry/entry_64.pxd)
    int kmm_site                             # KMM_SITE_*: the kernel path this CPU works for (flush attribution)


# One use of a stale or dangling TLB translation (kmm/emu/debug/oracle.pyx).
cdef struct kmm_violation:
    int kind
    int cpu
    int mm_id
    bint write
    unsigned long addr
    unsigned long pfn                        # the page the TLB entry led to
    unsigned long cur_pfn                    # the page the page tables map now (-1: none)
    unsigned int seen_version                # version of the data at pfn
    unsigned int want_version                # version of the logical page
    unsigned long long time_ns


cdef struct kmm_kconfig:
    bint CONFIG_MIGRC                        # seed patch (2/3)
    bint CONFIG_MIGRC_PAUSE                  # patch 3/3
    bint CONFIG_MIGRC_FIXES                  # the emulator's fixed variant (docs/hazards.md)
    bint CONFIG_KMM_NO_BATCHED_PENDING_FLUSH # debug: flush_tlb_batched_pending() does nothing
    bint CONFIG_DEBUG_TLBFLUSH               # count nr_tlb_* events
    bint CONFIG_DEBUG_VM                     # run the invariant checks
    bint CONFIG_KMM_MIGRATE_NO_BATCH_FLUSH   # debug: migration unmaps without TTU_BATCH_FLUSH
    bint CONFIG_PAGE_TABLE_ISOLATION         # PTI built in (on at boot if the CPU needs it)
    bint CONFIG_ZONE_DMA                     # ZONE_DMA: the first 16 MiB (arch/x86/Kconfig default y)


# Emulator-only: failures fault injection caused at one call site, told
# apart by gfp mask and order (kmm/linux/mm/fail_page_alloc.pyx).
cdef struct kmm_fail_site:
    gfp_t gfp_mask
    unsigned int order
    unsigned long nr

cdef enum:
    KMM_FAIL_SITES = 16


# Emulator-only: the interleaving callback (kmm/linux/include_/kmm/interleave.pxd).
ctypedef void (*kmm_interleave_fn_t)(int point) noexcept nogil


cdef struct kmm_machine:
    # memory
    page *mem_map                            # FLATMEM: one array, indexed by pfn
    unsigned long max_pfn
    size_t kmm_mem_map_bytes                 # emulator: mem_map's host allocation (kmm/emu/hw/hostmem.pyx)
    void *kmm_pt_free                        # emulator: page-table contents pool, free blocks
    void *kmm_pt_chunks                      # emulator: ... and its 2 MiB chunks
    void *kmm_hw_tlb_mem                     # emulator: every CPU's TLB arrays (kmm/emu/hw/tlb.pyx)
    size_t kmm_hw_tlb_mem_bytes
    long long kmm_host_kernel_ns             # emulator: host time in page faults and kernel ticks (speed statistic)
    long long kmm_cost_ns[15]                # emulator: virtual ns per operation, NR_KMM_COSTS (kmm/emu/hw/cost.pxd)
    int nr_node_ids
    pglist_data *node_data[8]                # MAX_NUMNODES; NODE_DATA(nid)
    nodemask_t node_states_memory            # N_MEMORY
    nodemask_t node_states_cpu               # N_CPU
    # CPUs
    int nr_cpu_ids
    kmm_cpu *cpus
    int cpu                                  # smp_processor_id() of the code now running
    int next_pid
    task_struct **tasks                      # every task, by creation order
    int nr_tasks
    int tasks_cap
    mm_struct init_mm                        # the kernel's own mm (kernel threads, idle CPUs)
    mm_struct **mms                          # every mm ever created; freed with the machine
    int nr_mms
    int mms_cap
    void **files                             # each file's one allocation (kmm/emu/machine.pyx)
    int nr_files
    int files_cap
    unsigned long long clock_ns              # virtual time
    # x86 TLB (arch/x86/mm/tlb.c)
    unsigned long long last_mm_ctx_id        # atomic64 last_mm_ctx_id; init_mm has ctx_id 1
    unsigned long tlb_single_page_flush_ceiling   # debugfs x86/tlb_single_page_flush_ceiling (33)
    unsigned long kmm_swap_cluster_max       # SWAP_CLUSTER_MAX (include/linux/swap.h: 32; scaled runs scale it)
    unsigned long nr_tlb_warnings            # WARN_ON/VM_WARN_ON hits in the TLB code
    kmm_kconfig kconfig
    # sysctls, under the kernel's variable names
    int min_free_kbytes
    int user_min_free_kbytes
    int watermark_scale_factor
    int sysctl_lowmem_reserve_ratio[4]       # MAX_NR_ZONES
    int sysctl_numa_balancing_mode
    bint numa_demotion_enabled
    unsigned int sysctl_numa_balancing_hot_threshold        # ms
    unsigned int sysctl_numa_balancing_promote_rate_limit   # MB/s
    unsigned int sysctl_numa_balancing_scan_delay           # ms
    unsigned int sysctl_numa_balancing_scan_period_min      # ms
    unsigned int sysctl_numa_balancing_scan_period_max      # ms
    unsigned int sysctl_numa_balancing_scan_size            # MB
    # memory tiers (mm/memory-tiers.c)
    nodemask_t node_demotion_preferred[8]    # node_demotion[nid].preferred
    nodemask_t toptier_nodes                 # nodes for which node_is_toptier()
    # boot-time CPU facts (arch/x86/kernel/cpu, mm/swapfile.c)
    bint x86_bug_l1tf
    bint x86_bug_cpu_meltdown
    bint x86_feature_pti                     # boot_cpu_has(X86_FEATURE_PTI): arch/x86/mm/pti.c decides
    int pti_mode                             # arch/x86/mm/pti.c: PTI_AUTO, PTI_FORCE_OFF, PTI_FORCE_ON
    int kmm_cmdline_pti                      # the boot command line's pti=: KMM_CMDLINE_PTI_*
    bint kmm_cmdline_nopti                   # ... and its nopti
    unsigned char kmm_tlb_flush_perf[8][3]   # per KMM_FLUSH_OP_*: adds to itlb/dtlb_thread/stlb_any (kmm/emu/hw/tlb.pyx)
    int x86_phys_bits
    int x86_cache_bits
    bint swap_migration_ad_supported
    # deterministic randomness for node_random() and workloads
    unsigned long long rng_state
    # CONFIG_DEBUG_VM: number of invariant checks run
    unsigned long debug_vm_checks
    # the shared zero page anonymous read faults map (mm/memory.c my_zero_pfn)
    unsigned long zero_pfn
    # the seed patch: hunks switched off one by one (bit = hunk's patch order)
    unsigned long long migrc_ablate
    int migrc_pause_cnt                      # patch 3/3: migrc_pause() nesting
    unsigned long migrc_nr_warnings          # WARN_ON() hits in migrc code
    unsigned long kmm_migrc_deferred         # emulator stat: source folios queued on requests
    unsigned long kmm_migrc_flushes          # emulator stat: migrc_flush_free_folios() that flushed
    # CONFIG_MIGRC_FIXES (kmm/linux/mm/migrate.pyx, docs/hazards.md): the CPUs of
    # requests gathered by a migrc_flush_free_folios() that has not flushed
    # them yet, how many such callers are in flight, and the flushes each
    # fix point did (index: MIGRC_FIX_*)
    arch_tlbflush_unmap_batch migrc_inflight
    int migrc_inflight_cnt
    unsigned long migrc_fix_flushes[8]
    unsigned int migrc_fixes_off             # bit MIGRC_FIX_*: that point switched off (cost studies)
    # test-only knobs of mirrored functions (set around one Machine call, 0 otherwise)
    bint kmm_debug_prot_numa_noskip          # change_pte_range: no prot_numa_skip() (Machine._prot_numa(filters=False))
    int kmm_debug_migrate_mode               # migrate_pages: 1 + the MIGRATE_* mode to use instead of the caller's
    # the TLB-coherence oracle (kmm/emu/debug/oracle.pyx)
    bint oracle_enabled
    unsigned int kmm_next_version
    kmm_violation *violations
    unsigned long nr_violations
    unsigned long violations_cap
    unsigned long long nr_oracle_checks
    # interleaving points (kmm/linux/include_/kmm/interleave.pxd): NULL when no
    # callback is registered; owner is the Python Machine (borrowed)
    kmm_interleave_fn_t interleave_fn
    void *interleave_owner
    # fault injection (mm/fail_page_alloc.c: the fail_page_alloc variable),
    # and the failures it injected (emulator stats)
    fail_page_alloc_t fail_page_alloc
    unsigned long kmm_fail_page_alloc_injected
    kmm_fail_site kmm_fail_page_alloc_sites[16]      # KMM_FAIL_SITES
    int kmm_fail_page_alloc_nr_sites
    # tracing (kmm/linux/kernel/trace/trace.pyx) and flush attribution:
    # per KMM_SITE_* the nr_tlb_* counts it caused (KMM_ATTR_*)
    kmm_trace_state trace
    unsigned long kmm_attr[11][4]            # [KMM_NR_SITES][KMM_NR_ATTR]


cdef inline kmm_machine *KMM() noexcept nogil:
    return <kmm_machine *>kmm_current_fast()

cdef inline int smp_processor_id() noexcept nogil:
    return KMM().cpu

cdef inline kmm_cpu *this_cpu() noexcept nogil:
    cdef kmm_machine *m = KMM()
    return &m.cpus[m.cpu]

cdef inline kmm_cpu *per_cpu(int cpu) noexcept nogil:
    return &KMM().cpus[cpu]

cdef inline task_struct *get_current() noexcept nogil:
    cdef kmm_machine *m = KMM()
    return m.cpus[m.cpu].current_task

cdef inline pglist_data *NODE_DATA(int nid) noexcept nogil:
    return KMM().node_data[nid]

cdef inline int cpu_to_node(int cpu) noexcept nogil:
    return KMM().cpus[cpu].node

cdef inline int numa_node_id() noexcept nogil:
    cdef kmm_machine *m = KMM()
    return m.cpus[m.cpu].node

cdef inline unsigned long long kmm_clock_ns() noexcept nogil:
    return KMM().clock_ns

cdef inline unsigned long long kmm_random_u64() noexcept nogil:
    """splitmix64 on the machine's seed: the only randomness mirrored code uses."""
    cdef kmm_machine *m = KMM()
    cdef unsigned long long z
    m.rng_state += 0x9E3779B97F4A7C15ULL
    z = m.rng_state
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)
