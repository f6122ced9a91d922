"""Mirrors lib/fault-inject.c: the decision whether a call fails.

Not modelled: current->fail_nth (/proc/<pid>/fail-nth), the task filter
(make-it-fail), the stack-trace filters and fail_dump()'s message (nothing
is printed; the caller counts the failures instead)."""

from kmm.linux.include_.linux.fault_inject cimport fault_attr, FAULT_NOWARN
from kmm.linux.include_.linux.random cimport get_random_u32_below


cdef bint should_fail_ex(fault_attr *attr, long size, int flags) noexcept nogil:
    """lib/fault-inject.c: in this order -- probability 0 answers no before
    anything else is looked at (so nothing is drawn or counted); no times
    left: no; while space exceeds size it shrinks by size: no; with
    interval > 1 only every interval-th call goes on (count); then a draw
    in [0, 100) below probability fails the call, using up one of `times`
    unless it is -1."""
    if attr.probability == 0:
        return False
    if attr.times == 0:
        return False
    if attr.space > size:
        attr.space -= size
        return False
    if attr.interval > 1:
        attr.count += 1
        if attr.count % attr.interval:
            return False
    if attr.probability <= get_random_u32_below(100):
        return False
    # fail: (fail_dump() unless FAULT_NOWARN: not modelled)
    if attr.times != -1 and attr.times != 0:  # atomic_dec_not_zero()
        attr.times -= 1
    return True


cdef bint should_fail(fault_attr *attr, long size) noexcept nogil:
    return should_fail_ex(attr, size, 0)
