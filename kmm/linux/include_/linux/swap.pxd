# Mirrors the part of include/linux/swap.h the mirror uses.

cdef enum:
    SWAP_CLUSTER_MAX = 32        # pages reclaim works on at a time
