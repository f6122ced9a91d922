# Mirrors include/linux/sched/sysctl.h: the bits of sysctl
# kernel.numa_balancing (the mode itself is kmm_machine.sysctl_numa_balancing_mode).

cdef enum:
    NUMA_BALANCING_DISABLED = 0x0
    NUMA_BALANCING_NORMAL = 0x1
    NUMA_BALANCING_MEMORY_TIERING = 0x2
