"""Seed patch, include/linux/sched.h: task_struct.can_migrc, the per-task
verdict of the current unmap's rmap walk (set by can_migrc_init(), cleared
by can_migrc_fail(), read by can_migrc_test())."""

import pytest

from kmm.emu import testing as T
from migrc_scenario import machine, read_only


@pytest.mark.hunk("include/linux/sched.h#1")
def test_can_migrc_lives_in_the_migrating_task():
    """The flag is current's: a migration run on CPU 5 sets it in the task
    current there (thread 5: true after a read-only folio, false after a
    writable one) and leaves every other CPU's task as it was."""
    m = machine()
    p, a = read_only(m, 1)
    before = [T.task_can_migrc(m, c) for c in range(16)]
    assert before[5] is False                        # never walked an rmap for an unmap
    assert m.migrate(p, a, 1, node=1, cpu=5) == 1
    after = [T.task_can_migrc(m, c) for c in range(16)]
    assert after[5] is True and after[:5] + after[6:] == before[:5] + before[6:]
    w = p.mmap(1)
    for t in p.threads:
        t.store(w)
    assert m.migrate(p, w, 1, node=1, cpu=5) == 1
    assert [T.task_can_migrc(m, c) for c in range(16)] == before
