"""The seed experiment's kernels in parallel processes (`kmm run --jobs N`).

Each kernel's run is one call of seed.run_kernel in a fresh child process
(one task per process, so the machine's memory goes back to the system when
its run ends).  The child returns the same plain-data tuple as in-process;
the parent assembles the result exactly as the serial path does, so the
counters cannot depend on the number of jobs.

Processes are started with 'spawn', not 'fork': the parent may already run
threads (rich's refresh thread, the progress manager's), and a forked child
inherits their locks in whatever state they were (a deadlock waiting to
happen; Python 3.12 warns about it).  'forkserver' would avoid that too, but
is POSIX-only and saves nothing that matters here: a child's start-up (~1 s
to import kmm) is small against a run of seconds to minutes.

Progress: with a progress object, a child reports ("start", kernel,
expected_virtual_s) and ("update", kernel, virtual_s, fraction) through a
multiprocessing Manager queue, and the parent drives `progress` from it.  A
Manager queue's put returns once the item is in the queue, so when a child's
result is in, all its messages can be read: finish() always comes last.
Without a progress object there is no queue and no traffic.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import queue as queue_mod
import signal
import time

from kmm.emu.config import KmmStateError

UPDATE_EVERY_S = 0.2         # a child sends at most this often (wall s); rich redraws at 10 Hz
POLL_S = 0.1                 # the parent reads the queue this often


class _QueueProgress:
    """The progress protocol in a child: forwards to the parent's queue."""

    def __init__(self, q):
        self.q = q

    def start(self, kernel, expected_virtual_s):
        self.q.put(("start", kernel, expected_virtual_s))
        last = [0.0]

        def update(virtual_s, fraction):
            now = time.monotonic()
            if now - last[0] >= UPDATE_EVERY_S:
                last[0] = now
                self.q.put(("update", kernel, virtual_s, fraction))
        return update

    def finish(self, kernel, run):
        pass                 # the parent calls finish() with the run it receives


def _child_init():
    # Ctrl-C reaches the whole process group: the parent alone handles it
    # (it stops the children), so a child prints no traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _child_run(q, kernel, args, snapshot_every, kwargs):
    from kmm.experiments.seed import run_kernel
    return run_kernel(kernel, *args, progress=_QueueProgress(q) if q is not None else None,
                      snapshot_every=snapshot_every, **kwargs)


def _drain(q, progress, updates):
    while True:
        try:
            msg = q.get_nowait()
        except queue_mod.Empty:
            return
        if msg[0] == "start":
            updates[msg[1]] = progress.start(msg[1], msg[2])
        elif updates.get(msg[1]) is not None:
            updates[msg[1]](msg[2], msg[3])


def _stop(pool):
    """End the running children now (the pool has no public call for it
    before Python 3.14) and drop the queued ones."""
    for p in list((getattr(pool, "_processes", None) or {}).values()):
        if p.is_alive():
            p.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_kernels(kernels, jobs, args, snapshot_every=None, progress=None, kwargs=None) -> dict:
    """{kernel: run_kernel(kernel, *args, **kwargs, ...)} for each kernel, `jobs` at a
    time in child processes.  The first child error (in kernel order among
    those done together) is raised as it is, after the other children are
    stopped; Ctrl-C stops them too."""
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager() if progress is not None else None
    q = manager.Queue() if manager is not None else None
    updates = {}
    results = {}
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1,
                                  initializer=_child_init)
    try:
        futures = {pool.submit(_child_run, q, k, args, snapshot_every, kwargs or {}): k for k in kernels}
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=POLL_S if q is not None else None,
                                    return_when=cf.FIRST_COMPLETED)
            if q is not None:
                _drain(q, progress, updates)
            for f in sorted(done, key=lambda f: kernels.index(futures[f])):
                k = futures[f]
                try:
                    results[k] = f.result()
                except cf.process.BrokenProcessPool as e:
                    raise KmmStateError(
                        f"jobs: the process running the {k} kernel ended abnormally ({e}); "
                        f"run with one job (kmm run --jobs 1) to see the failure in-process. "
                        f"A script that runs kernels in parallel needs "
                        f"`if __name__ == '__main__':` around its top-level code") from None
                if progress is not None:
                    progress.finish(k, results[k][0])
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True)
        if manager is not None:
            manager.shutdown()
    return {k: results[k] for k in kernels}
