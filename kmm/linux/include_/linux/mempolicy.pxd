# Mirrors include/linux/mempolicy.h and include/uapi/linux/mempolicy.h: the
# NUMA memory policy modes and flags.  The emulator has no mbind() or
# set_mempolicy(): every task uses the kernel's default, the per-node
# preferred_node_policy (see kmm/linux/mm/mempolicy.pyx).

from kmm.linux.include_.linux.nodemask cimport nodemask_t

cdef enum:  # enum (uapi mempolicy modes)
    MPOL_DEFAULT
    MPOL_PREFERRED
    MPOL_BIND
    MPOL_INTERLEAVE
    MPOL_LOCAL
    MPOL_PREFERRED_MANY
    MPOL_MAX

cdef enum:  # internal mode flags (include/uapi/linux/mempolicy.h)
    MPOL_F_SHARED = 1 << 0
    MPOL_F_MOF = 1 << 3       # this policy wants migrate on fault
    MPOL_F_MORON = 1 << 4     # migrate on protnone (NUMA hint) reference on node

cdef struct mempolicy:
    unsigned short mode
    unsigned short flags
    nodemask_t nodes

# include/uapi/linux/mempolicy.h: flags of mbind(2) and move_pages(2)
cdef enum:
    MPOL_MF_STRICT = 1 << 0
    MPOL_MF_MOVE = 1 << 1        # move the pages of this process only
    MPOL_MF_MOVE_ALL = 1 << 2    # move every page, even shared ones (CAP_SYS_NICE)
