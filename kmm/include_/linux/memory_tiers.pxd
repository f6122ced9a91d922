# Mirrors include/linux/memory-tiers.h (the functions live in
# kmm/mm/memory_tiers.pyx, as in mm/memory-tiers.c).
from kmm.mm.memory_tiers cimport next_demotion_node, node_is_toptier
