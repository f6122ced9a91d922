# Mirrors the part of include/linux/swap.h the mirror uses.
from kmm.linux.include_.kmm.machine cimport KMM


cdef inline unsigned long SWAP_CLUSTER_MAX() noexcept nogil:
    """The pages reclaim works on at a time: the kernel's 32
    (kmm/emu/config.py SWAP_CLUSTER_MAX), kept per
    machine (kmm_machine.kmm_swap_cluster_max) because `kmm run`'s scaling
    rule scales it with the memory (docs/run.md, "Scaling")."""
    return KMM().kmm_swap_cluster_max
