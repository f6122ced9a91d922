"""/proc/sys for an emulated machine: each sysctl key, the kernel variable
it shows and what a write does -- the mirrored proc handler where the
kernel has one (watermarks, numa_balancing), else the plain
proc_dointvec store into the variable.  Values are checked before (by
kmm/emu/config.py check_sysctl_value), as proc_dointvec_minmax would."""

from kmm.emu.machine cimport Machine
from kmm.linux.include_.kmm.machine cimport kmm_machine
from kmm.linux.kernel.sched.core cimport sysctl_numa_balancing
from kmm.linux.kernel.sched.fair cimport kmm_task_scan_floor
from kmm.linux.include_.linux.swap cimport SWAP_CLUSTER_MAX
from kmm.linux.mm.page_alloc cimport (min_free_kbytes_sysctl_handler,
                                      watermark_scale_factor_sysctl_handler,
                                      lowmem_reserve_ratio_sysctl_handler)


def read(Machine mach):
    """Every sysctl with its current value."""
    cdef kmm_machine *m = mach.m
    return {
        "vm.min_free_kbytes": m.min_free_kbytes,
        "vm.watermark_scale_factor": m.watermark_scale_factor,
        "vm.lowmem_reserve_ratio": tuple(m.sysctl_lowmem_reserve_ratio[i] for i in range(4)),
        "kernel.numa_balancing": m.sysctl_numa_balancing_mode,
        "kernel.numa_balancing_promote_rate_limit_MBps": m.sysctl_numa_balancing_promote_rate_limit,
        "kernel.numa_balancing_hot_threshold_ms": m.sysctl_numa_balancing_hot_threshold,
        "kernel.numa_balancing_scan_delay_ms": m.sysctl_numa_balancing_scan_delay,
        "kernel.numa_balancing_scan_period_min_ms": m.sysctl_numa_balancing_scan_period_min,
        "kernel.numa_balancing_scan_period_max_ms": m.sysctl_numa_balancing_scan_period_max,
        "kernel.numa_balancing_scan_size_mb": m.sysctl_numa_balancing_scan_size,
        "vm.demotion_enabled": bool(m.numa_demotion_enabled),
    }


def numa_scan_floor_ms(Machine mach):
    """The floor of task_scan_min() these sysctls give (ms): the NUMA
    scanner never scans faster than MAX_SCAN_WINDOW MB/s
    (kernel/sched/fair.c, kmm_task_scan_floor)."""
    mach._enter()
    return kmm_task_scan_floor()


def swap_cluster_max(Machine mach):
    """Reclaim's batch in pages (include/linux/swap.h SWAP_CLUSTER_MAX: 32),
    a kernel constant, not a sysctl; a Machine's own value, which `kmm
    run`'s scaling rule scales with the memory (docs/run.md)."""
    mach._enter()
    return SWAP_CLUSTER_MAX()


def write(Machine mach, key, v):
    """Write the checked value v of sysctl key on mach (made current)."""
    cdef kmm_machine *m = mach.m
    cdef int ratios[4]                               # MAX_NR_ZONES
    mach._enter()
    if key == "vm.min_free_kbytes":
        min_free_kbytes_sysctl_handler(v)
    elif key == "vm.watermark_scale_factor":
        watermark_scale_factor_sysctl_handler(v)
    elif key == "vm.lowmem_reserve_ratio":
        for i in range(4):
            ratios[i] = v[i]
        lowmem_reserve_ratio_sysctl_handler(ratios)
    elif key == "kernel.numa_balancing":
        sysctl_numa_balancing(v)
    elif key == "kernel.numa_balancing_promote_rate_limit_MBps":
        m.sysctl_numa_balancing_promote_rate_limit = v
    elif key == "kernel.numa_balancing_hot_threshold_ms":
        m.sysctl_numa_balancing_hot_threshold = v
    elif key == "kernel.numa_balancing_scan_delay_ms":
        m.sysctl_numa_balancing_scan_delay = v
    elif key == "kernel.numa_balancing_scan_period_min_ms":
        m.sysctl_numa_balancing_scan_period_min = v
    elif key == "kernel.numa_balancing_scan_period_max_ms":
        m.sysctl_numa_balancing_scan_period_max = v
    elif key == "kernel.numa_balancing_scan_size_mb":
        m.sysctl_numa_balancing_scan_size = v
    elif key == "vm.demotion_enabled":
        m.numa_demotion_enabled = v
    else:
        raise KeyError(key)                          # config.py knows every key
