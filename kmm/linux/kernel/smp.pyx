"""Mirrors kernel/smp.c: running a function on other CPUs (IPIs).

The emulator runs the handlers synchronously: each target's handler runs
with KMM().cpu set to the target, then the caller's CPU is restored, so
per-CPU state and this_cpu counters land on the target as in the kernel.
Every call waits (wait=false is treated as true); every CPU is online."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine
from kmm.linux.include_.linux.cpumask cimport cpumask_t, cpumask_test_cpu, cpumask_set_cpu
from kmm.linux.include_.linux.smp cimport smp_call_func_t, smp_cond_func_t


cdef void on_each_cpu_cond_mask(smp_cond_func_t cond_func, smp_call_func_t func,
                                void *info, bint wait, const cpumask_t *mask) noexcept nogil:
    """kernel/smp.c (via smp_call_function_many_cond): run func on each CPU
    of mask for which cond_func (if given) is true.  All conditions are
    evaluated before any handler runs, as the kernel decides the targets
    before sending the IPIs; then the remote handlers run in CPU order and
    the local one (if selected) last."""
    cdef kmm_machine *m = KMM()
    cdef int this_cpu = m.cpu
    cdef int cpu
    cdef cpumask_t targets = 0
    cdef bint run_local
    for cpu in range(m.nr_cpu_ids):
        if not cpumask_test_cpu(cpu, mask):
            continue
        if cond_func != NULL and not cond_func(cpu, info):
            continue
        cpumask_set_cpu(cpu, &targets)
    run_local = cpumask_test_cpu(this_cpu, &targets)
    for cpu in range(m.nr_cpu_ids):
        if cpu == this_cpu or not cpumask_test_cpu(cpu, &targets):
            continue
        m.cpu = cpu
        func(info)
        m.cpu = this_cpu
    if run_local:
        func(info)
