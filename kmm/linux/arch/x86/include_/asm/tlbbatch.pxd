# Mirrors arch/x86/include/asm/tlbbatch.h: on x86 a batch of deferred TLB
# flushes is only the set of CPUs that may cache the unmapped entries.

from kmm.linux.include_.linux.cpumask cimport cpumask_t

cdef struct arch_tlbflush_unmap_batch:
    cpumask_t cpumask
