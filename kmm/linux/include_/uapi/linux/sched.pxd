# Mirrors the clone flags of include/uapi/linux/sched.h the mirror uses.

cdef enum:
    CLONE_VM = 0x00000100        # the child shares the parent's mm
