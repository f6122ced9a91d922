# Mirrors include/linux/fault-inject.h: one fault-injection capability's
# attributes (lib/fault-inject.c decides with them, see should_fail_ex).
# Each field is the debugfs file of the same name.

from kmm.linux.include_.linux.gfp_types cimport gfp_t


cdef struct fault_attr:
    unsigned long probability                # percent of the calls that reach the draw
    unsigned long interval                   # only every interval-th such call may fail
    int times                                # atomic_t: failures left; -1: no limit
    int space                                # atomic_t: size let through before any failure
    unsigned long verbose                    # (nothing is printed here: fail_dump is not modelled)
    unsigned long count                      # calls seen by the interval check


cdef enum fault_flags:
    FAULT_NOWARN = 1 << 0


# mm/fail_page_alloc.c: the static `fail_page_alloc` (an anonymous struct
# there; it lives in struct kmm_machine here).
cdef struct fail_page_alloc_t:
    fault_attr attr
    bint ignore_gfp_highmem                  # debugfs ignore-gfp-highmem
    bint ignore_gfp_reclaim                  # debugfs ignore-gfp-wait
    unsigned int min_order                   # debugfs min-order
