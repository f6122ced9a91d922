"""Mirrors mm/vmstat.c: the /proc/vmstat names (vmstat_text) and reading the
counters: zone items and NUMA events summed over zones, node items summed
over nodes, VM events summed over CPUs."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.mmzone cimport (MAX_NR_ZONES, NR_VM_ZONE_STAT_ITEMS,
                                       NR_VM_NUMA_EVENT_ITEMS, NR_VM_NODE_STAT_ITEMS)
from kmm.linux.include_.linux.vm_event_item cimport NR_VM_EVENT_ITEMS, NR_TLB_REMOTE_FLUSH

ZONE_STAT_NAMES = (
    "nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon",
    "nr_zone_inactive_file", "nr_zone_active_file", "nr_zone_unevictable",
    "nr_zone_write_pending", "nr_mlock", "nr_bounce", "nr_free_cma",
)
NUMA_STAT_NAMES = (
    "numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local",
    "numa_other",
)
NODE_STAT_NAMES = (
    "nr_inactive_anon", "nr_active_anon", "nr_inactive_file", "nr_active_file",
    "nr_unevictable", "nr_slab_reclaimable", "nr_slab_unreclaimable",
    "nr_isolated_anon", "nr_isolated_file", "nr_anon_pages", "nr_mapped",
    "nr_file_pages", "nr_dirty", "nr_writeback", "nr_shmem",
    "nr_page_table_pages", "pgpromote_success", "pgpromote_candidate",
)
_ZONES = ("dma", "dma32", "normal", "movable")
VM_EVENT_NAMES = (
    "pgpgin", "pgpgout", "pswpin", "pswpout",
    *(f"pgalloc_{z}" for z in _ZONES),
    *(f"allocstall_{z}" for z in _ZONES),
    *(f"pgskip_{z}" for z in _ZONES),
    "pgfree", "pgactivate", "pgdeactivate", "pglazyfree", "pgfault",
    "pgmajfault", "pglazyfreed", "pgrefill", "pgreuse", "pgsteal_kswapd",
    "pgsteal_direct", "pgsteal_khugepaged", "pgdemote_kswapd",
    "pgdemote_direct", "pgdemote_khugepaged", "pgscan_kswapd",
    "pgscan_direct", "pgscan_khugepaged", "pgscan_direct_throttle",
    "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
    "zone_reclaim_failed", "pginodesteal", "slabs_scanned",
    "kswapd_inodesteal", "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly", "pageoutrun", "pgrotated",
    "drop_pagecache", "drop_slab", "oom_kill", "numa_pte_updates",
    "numa_huge_pte_updates", "numa_hint_faults", "numa_hint_faults_local",
    "numa_pages_migrated", "pgmigrate_success", "pgmigrate_fail",
    "thp_migration_success", "thp_migration_fail", "thp_migration_split",
    "nr_tlb_remote_flush", "nr_tlb_remote_flush_received",
    "nr_tlb_local_flush_all", "nr_tlb_local_flush_one",
)
assert len(ZONE_STAT_NAMES) == NR_VM_ZONE_STAT_ITEMS
assert len(NUMA_STAT_NAMES) == NR_VM_NUMA_EVENT_ITEMS
assert len(NODE_STAT_NAMES) == NR_VM_NODE_STAT_ITEMS
assert len(VM_EVENT_NAMES) == NR_VM_EVENT_ITEMS


cdef unsigned long sum_vm_event(int item) noexcept nogil:
    cdef kmm_machine *m = KMM()
    cdef unsigned long total = 0
    cdef int cpu
    for cpu in range(m.nr_cpu_ids):
        total += m.cpus[cpu].vm_event_states.event[item]
    return total


def vmstat_show():
    """The machine's /proc/vmstat as (name, value) pairs, in the kernel's order."""
    cdef kmm_machine *m = KMM()
    cdef int nid, zid, i
    cdef long zone_sum[16]
    cdef long numa_sum[8]
    cdef long node_sum[32]
    for i in range(NR_VM_ZONE_STAT_ITEMS):
        zone_sum[i] = 0
    for i in range(NR_VM_NUMA_EVENT_ITEMS):
        numa_sum[i] = 0
    for i in range(NR_VM_NODE_STAT_ITEMS):
        node_sum[i] = 0
    for nid in range(m.nr_node_ids):
        for zid in range(MAX_NR_ZONES):
            for i in range(NR_VM_ZONE_STAT_ITEMS):
                zone_sum[i] += m.node_data[nid].node_zones[zid].vm_stat[i]
            for i in range(NR_VM_NUMA_EVENT_ITEMS):
                numa_sum[i] += m.node_data[nid].node_zones[zid].vm_numa_event[i]
        for i in range(NR_VM_NODE_STAT_ITEMS):
            node_sum[i] += m.node_data[nid].vm_stat[i]
    out = []
    for i in range(NR_VM_ZONE_STAT_ITEMS):
        out.append((ZONE_STAT_NAMES[i], zone_sum[i]))
    for i in range(NR_VM_NUMA_EVENT_ITEMS):
        out.append((NUMA_STAT_NAMES[i], numa_sum[i]))
    for i in range(NR_VM_NODE_STAT_ITEMS):
        out.append((NODE_STAT_NAMES[i], node_sum[i]))
    for i in range(NR_VM_EVENT_ITEMS):
        if i >= NR_TLB_REMOTE_FLUSH and not m.kconfig.CONFIG_DEBUG_TLBFLUSH:
            continue
        if VM_EVENT_NAMES[i].endswith("_dma") and not m.kconfig.CONFIG_ZONE_DMA:
            continue                     # TEXT_FOR_DMA() is empty without ZONE_DMA
        out.append((VM_EVENT_NAMES[i], sum_vm_event(i)))
    return out


def vm_events_per_cpu(name):
    """One VM event's per-CPU counts (the kernel's per_cpu vm_event_states)."""
    cdef kmm_machine *m = KMM()
    cdef int item = VM_EVENT_NAMES.index(name)
    return [m.cpus[cpu].vm_event_states.event[item] for cpu in range(m.nr_cpu_ids)]
