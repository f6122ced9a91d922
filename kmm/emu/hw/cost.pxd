# The cost model's charging (emulator-only, not a kernel mirror): mirrored
# kernel paths and the emulated hardware call kmm_charge() where they do a
# costed operation; the time lands on the CPU that runs it, as user-task
# kernel time, interrupt time or kernel-thread time, and as pending time
# that the engine (kmm/emu/engine.pyx) takes from whatever task runs on
# that CPU next.  The costs (ns per operation) are the machine's
# kmm_cost_ns[], loaded from a preset (kmm/emu/hw/costs.py); the zero preset
# makes every charge a no-op.  docs/cost-model.md has the table.

from kmm.linux.include_.kmm.machine cimport KMM, kmm_machine, kmm_cpu
from kmm.linux.include_.linux.sched cimport PF_KTHREAD
from kmm.emu.hw.cpu cimport *


cdef inline void kmm_charge_ns_cpu(kmm_machine *m, int cpu, long long ns) noexcept nogil:
    """Charge ns of virtual time to cpu, in the context it is in."""
    cdef kmm_cpu *c
    if ns <= 0:
        return
    c = &m.cpus[cpu]
    c.kmm_time.pending_ns += ns
    if c.kmm_time.in_irq:
        c.kmm_time.irq_ns += ns
    else:
        # the running task's own time (se.sum_exec_runtime; interrupt time
        # is not the task's, as with CONFIG_IRQ_TIME_ACCOUNTING)
        c.current_task.se_sum_exec_runtime += ns
        if c.current_task != c.idle and (c.current_task.flags & PF_KTHREAD):
            c.kmm_time.kthread_ns += ns
        else:
            c.kmm_time.sys_ns += ns


cdef inline void kmm_charge(int op, unsigned long n) noexcept nogil:
    """n operations op by the CPU running this code."""
    cdef kmm_machine *m = KMM()
    kmm_charge_ns_cpu(m, m.cpu, m.kmm_cost_ns[op] * <long long>n)


cdef inline void kmm_charge_cpu(int cpu, int op, unsigned long n) noexcept nogil:
    """n operations op by cpu (the emulated hardware names its CPU)."""
    cdef kmm_machine *m = KMM()
    kmm_charge_ns_cpu(m, cpu, m.kmm_cost_ns[op] * <long long>n)
