# Mirrors include/linux/migrate_mode.h: how hard a migration may try
# (enum migrate_mode) and why it happens (enum migrate_reason).

cdef enum:  # enum migrate_mode
    MIGRATE_ASYNC            # never block: batch the unmaps, defer their TLB flush
    MIGRATE_SYNC_LIGHT       # may block, but not on writeback
    MIGRATE_SYNC             # may block
    MIGRATE_SYNC_NO_COPY     # may block, the data is copied by someone else

cdef enum:  # enum migrate_reason
    MR_COMPACTION
    MR_MEMORY_FAILURE
    MR_MEMORY_HOTPLUG
    MR_SYSCALL               # also applies to cpusets
    MR_MEMPOLICY_MBIND
    MR_NUMA_MISPLACED
    MR_CONTIG_RANGE
    MR_LONGTERM_PIN
    MR_DEMOTION
    MR_TYPES
