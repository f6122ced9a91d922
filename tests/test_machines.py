"""Several machines in one process: the garbage collector may free one
machine in the middle of another machine's operation."""

import os
import pathlib
import subprocess
import sys

import kmm

SCRIPT = r'''
import gc, kmm
class Holder:
    pass
b = kmm.Machine(nodes=[{"cpus": 1, "mem": "4M"}])
for i in range(20):
    h = Holder(); h.self = h; h.m = kmm.Machine(nodes=[{"cpus": 1, "mem": "4M"}])
    del h                      # only the cycle keeps that machine alive
    gc.set_threshold(1, 1, 1)  # collect at the next allocation
    try:
        b.vmstat()             # allocates Python objects while b is current
    finally:
        gc.set_threshold(700, 10, 10)
    assert b.check_invariants() == []
print("ok")
'''


def test_gc_of_another_machine_keeps_the_current_one():
    # a subprocess, since the failure mode is a segmentation fault
    env = dict(os.environ)
    pkg_parent = str(pathlib.Path(kmm.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    # run from tests/ so the checkout's kmm/ sources do not shadow the installed package
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                       timeout=120, env=env, cwd=pathlib.Path(__file__).parent)
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


def test_interleaved_machines():
    a = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}])
    b = kmm.Machine(nodes=[{"cpus": 1, "mem": "8M"}])
    pa = a.alloc_pages(0)
    assert b.vmstat()["nr_free_pages"] == 2048
    assert a.vmstat()["nr_free_pages"] == 4095
    b.alloc_pages(3)
    a.free_pages(pa)
    assert a.vmstat()["nr_free_pages"] == 4096 and b.vmstat()["nr_free_pages"] == 2040
    del a
    assert b.check_invariants() == []
    assert b.vmstat()["nr_free_pages"] == 2040
