"""Mirrors kernel/smp.c: running a function on other CPUs (IPIs).

The emulator runs the handlers synchronously: each target's handler runs
with KMM().cpu set to the target, then the caller's CPU is restored, so
per-CPU state and this_cpu counters land on the target as in the kernel.
Every call waits (wait=false is treated as true); every CPU is online.

A receiver in user mode enters the kernel for the interrupt and returns
(arch/x86/entry/entry_64.pxd: under PTI, two CR3 writes).

Time (kmm/emu/hw/cost.pxd): each receiver spends the interrupt's entry and
exit plus its handler's work as interrupt time; the initiator pays one send
per destination, runs its own handler meanwhile, then spins in
csd_lock_wait() until the slowest receiver has acknowledged:
  send + max(local handler, ack latency + slowest remote handler)."""

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_cpu
from kmm.linux.include_.linux.cpumask cimport cpumask_t, cpumask_test_cpu, cpumask_set_cpu
from kmm.linux.include_.linux.smp cimport smp_call_func_t, smp_cond_func_t
from kmm.emu.hw.cost cimport kmm_charge, kmm_charge_ns_cpu
from kmm.emu.hw.cpu cimport KMM_COST_IRQ, KMM_COST_IPI_SEND, KMM_COST_IPI_ACK_WAIT
from kmm.linux.arch.x86.entry.entry_64 cimport kmm_entry, kmm_exit


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
    cdef kmm_cpu *c
    cdef long long t0, slowest = -1, local_ns = 0
    cdef unsigned long nr_remote = 0
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
        nr_remote += 1
        m.cpu = cpu
        c = &m.cpus[cpu]
        c.kmm_time.in_irq += 1
        t0 = c.kmm_time.irq_ns
        kmm_entry(cpu)
        kmm_charge(KMM_COST_IRQ, 1)
        func(info)
        kmm_exit(cpu)
        if <long long>c.kmm_time.irq_ns - t0 > slowest:
            slowest = c.kmm_time.irq_ns - t0
        c.kmm_time.in_irq -= 1
        m.cpu = this_cpu
    kmm_charge(KMM_COST_IPI_SEND, nr_remote)
    if run_local:
        c = &m.cpus[this_cpu]
        t0 = c.kmm_time.pending_ns
        func(info)
        local_ns = c.kmm_time.pending_ns - t0
    if nr_remote:                              # csd_lock_wait() on the slowest
        kmm_charge_ns_cpu(m, this_cpu, m.kmm_cost_ns[KMM_COST_IPI_ACK_WAIT] + slowest - local_ns)
