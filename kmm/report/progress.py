"""A rich progress bar per run: virtual time done of the run's expected
virtual time, the run's wall time and its ETA (rich's, from the run's own
recent pace).  Each kernel's bar starts when its run starts, so both stay
per kernel also when the kernels run in parallel processes (their progress
is relayed by kmm/experiments/parallel.py).  Drawn on stderr, and only
when both stdout and stderr are terminals (`enabled()`), so redirected or
piped output stays clean."""

from __future__ import annotations

import sys


def enabled(quiet=False) -> bool:
    if quiet:
        return False
    return sys.stdout.isatty() and sys.stderr.isatty()


class _Bar:
    """A context manager around a rich Progress (self._progress)."""

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)


class RichProgress(_Bar):
    """The experiment's progress protocol (see run_seed_experiment) drawn
    with rich; use as a context manager."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self._progress = Progress(
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[virtual]}"),
            TextColumn("wall"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._tasks = {}

    def start(self, kernel, expected_virtual_s):
        total = expected_virtual_s or 1.0
        tid = self._progress.add_task(kernel, total=total, virtual=self._virtual(0.0, expected_virtual_s))
        self._tasks[kernel] = (tid, total, expected_virtual_s)

        def update(virtual_s, fraction):
            self._progress.update(tid, completed=fraction * total,
                                  virtual=self._virtual(virtual_s, expected_virtual_s))
        return update

    def finish(self, kernel, run):
        tid, total, expected = self._tasks[kernel]
        self._progress.update(tid, completed=total, virtual=self._virtual(run["virtual_s"], None))

    @staticmethod
    def _virtual(v, expected):
        if expected:
            return f"{v:6.1f}/{expected:.1f} virtual s"
        return f"{v:6.1f} virtual s"


class SweepProgress(_Bar):
    """A rich progress bar over a sweep's runs: done/total, wall time, ETA,
    and the run that finished last; use as a context manager.  The
    protocol of kmm/experiments/sweep.py: start(total, done), advance(row),
    finish()."""

    def __init__(self, label=None):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self._progress = Progress(
            TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
            TextColumn("wall"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(stderr=True),
        )
        if label is None:
            from kmm.experiments.sweep import run_label as label
        self._label = label
        self._task = None

    def start(self, total, done):
        self._task = self._progress.add_task("runs", total=total, completed=done,
                                             last=f"({done} from the output)" if done else "")

    def advance(self, row):
        self._progress.update(self._task, advance=1, last=f"done: {self._label(row)}")

    def finish(self):
        pass
