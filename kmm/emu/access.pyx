"""The one access loop: a batch of loads and stores by the task running on
a CPU, each through kmm/emu/hw/mmu.pyx cpu_access() (TLB, page walk, page
fault).  The run engine, the workload driver and Thread.load()/store() all
go through it, and access_failure() turns a failed access into the one error
message they all give."""

from kmm.emu.hw.mmu cimport cpu_access_walked, cpu_access_prefetch, CPU_ACCESS_PREFETCH_MAX
from kmm.linux.include_.uapi.asm_generic.errno_base cimport EFAULT, ENOMEM, EAGAIN
from kmm.emu.config import KmmStateError
from kmm.linux.include_.uapi.asm_generic.errno import ERRNO_NAMES


cdef long cpu_access_batch(int cpu, const unsigned long *addrs, const unsigned char *writes,
                           long n, int *rc) noexcept nogil:
    """Perform addrs[0..n) on cpu (writes[i] != 0: a store).  Stops at the
    first access that fails, with *rc its negative errno; returns how many
    accesses completed.  The host reads of each chunk are prefetched first
    (kmm/emu/hw/mmu.pyx cpu_access_prefetch: speed only), and its PTE slots
    spare the accesses their walks until kernel code runs."""
    cdef unsigned long *ptes[CPU_ACCESS_PREFETCH_MAX]
    cdef long base = 0, i, k
    cdef bint kernel_ran
    rc[0] = 0
    while base < n:
        k = min(n - base, <long>CPU_ACCESS_PREFETCH_MAX)
        cpu_access_prefetch(cpu, addrs + base, k, ptes)
        kernel_ran = False
        for i in range(k):
            rc[0] = cpu_access_walked(cpu, addrs[base + i], writes[base + i],
                                      NULL if kernel_ran else ptes[i], &kernel_ran)
            if rc[0]:
                return base + i
        base += k
    return n


# what a failed user access means (the errno cpu_access returns)
_ACCESS_ERRNO = {
    EFAULT: "segmentation fault (no VMA allows it)",
    ENOMEM: "out of memory",
    EAGAIN: "the page is under migration (the task would sleep in migration_entry_wait)",
}


def access_failure(int rc, int cpu, unsigned long addr, bint write, bint mmap_write_locked=False):
    """The KmmStateError for an access that failed with rc (a negative errno)."""
    what = f"{'store' if write else 'load'} at {addr:#x} on CPU {cpu}"
    if rc == -EAGAIN and mmap_write_locked:
        return KmmStateError(f"{what}: the fault would sleep on mmap_lock, held for write by an "
                             f"operation in progress")
    return KmmStateError(f"{what}: {_ACCESS_ERRNO.get(-rc, f'errno {-rc}')}")


def errno_name(long rc):
    """'ENOMEM (errno 12)' for rc = -12: how every face error names an errno
    (the names are the mirror's, ERRNO_NAMES of errno_base.pxd)."""
    name = ERRNO_NAMES.get(-rc)
    return f"{name} (errno {-rc})" if name else f"errno {-rc}"
