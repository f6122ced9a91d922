# Mirrors include/linux/memory-tiers.h (the functions live in
# kmm/linux/mm/memory_tiers.pyx, as in mm/memory-tiers.c).
from kmm.linux.mm.memory_tiers cimport next_demotion_node, node_is_toptier
