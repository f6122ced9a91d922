"""XSBench's stores (kmm/workloads/xsbench.pyx, docs/workloads.md "Stores"):
the lookup loop's stack frames, libgomp's dynamic schedule and the
reduction, counted by hand from Simulation.c and libgomp's loop code."""

import pytest

import kmm
from kmm.emu import testing
from kmm.emu.engine import run
from kmm.workloads.driver import Driver, run_workload
from kmm.workloads.xsbench import XSBench

PAGE = 4096
VM_READ, VM_WRITE, VM_GROWSDOWN = 0x1, 0x2, 0x100


def xs(**kw):
    args = dict(size="small", scale=0.01, particles=250, lookups=5, threads=4, seed=1)
    args.update(kw)
    return XSBench(**args)


def vma_of(p, addr):
    return [v for v in p.vmas() if v["start"] <= addr < v["end"]]


def test_stores_per_lookup_per_chunk_and_per_thread():
    m = kmm.Machine(nodes=[{"cpus": 4, "mem": "64M"}])
    w = xs()
    r = run_workload(m, w)
    s = r["workload"]
    assert s["lookups"] == 250 * 5
    assert s["stack_stores"] == s["lookups"]          # one call of calculate_macro_xs each
    # gomp_iter_dynamic_next: 3 chunks (100, 100, 50 particles), then one
    # grab per thread that finds the loop done
    assert s["schedule_stores"] == 3 + 4
    # gomp_new_team, 3 pthread_create, 4 reductions into `verification`
    assert s["other_stores"] == 1 + 3 + 4
    assert r["run_stores"] == s["stack_stores"] + s["schedule_stores"] + s["other_stores"]


def test_each_stack_is_its_threads_mapping_and_faults_in_on_its_node():
    m = kmm.Machine(nodes=[{"cpus": 2, "mem": "64M"}, {"cpus": 2, "mem": "64M"}])
    w = xs()
    p = m.spawn(threads=4)
    Driver(m, w, process=p).run()
    stacks = w.stacks()
    # the main thread's: exec's grow-down stack, 132 KiB below the top
    main = vma_of(p, stacks[0]["frame"])[0]
    assert main["end"] == stacks[0]["top"] == (1 << 47) - PAGE
    assert main["start"] == main["end"] - 33 * PAGE and main["flags"] & VM_GROWSDOWN
    for t, st in enumerate(stacks):
        assert st["frame"] // PAGE == st["top"] // PAGE - 2       # one page below the top
        assert m.page(p.pfn(st["frame"]))["node"] == m.cpu_to_node(t)
        if t == 0:
            continue
        # glibc's allocate_stack: a PROT_NONE guard page below 8 MiB of rw
        guard = vma_of(p, st["guard"])[0]
        assert guard["end"] == st["guard"] + PAGE and not guard["flags"] & (VM_READ | VM_WRITE)
        v = vma_of(p, st["frame"])[0]
        assert v["start"] == st["guard"] + PAGE and v["flags"] & VM_WRITE and not v["file"]
        assert st["top"] - st["guard"] == (1 + 2048) * PAGE
        # pthread_create() wrote the top page (struct pthread, TLS) from CPU 0
        assert m.page(p.pfn(st["top"] - 8))["node"] == 0
        # the rest of the 8 MiB is never touched
        assert p.pfn(st["top"] - 3 * PAGE) is None
    heap = w.heap()
    assert m.page(p.pfn(heap["team"]))["node"] == 0              # gomp_new_team on CPU 0
    assert sum(p.pfn(heap["addr"] + i * PAGE) is not None for i in range(heap["npages"])) == 1


def test_after_a_full_flush_the_next_stack_store_misses_the_dtlb():
    m = kmm.Machine(nodes=[{"cpus": 2, "mem": "64M"}])
    w = xs(threads=2, particles=100)
    p = m.spawn(threads=2)
    Driver(m, w, process=p).run(until="run")
    frame = w.stacks()[1]["frame"]
    th = p.threads[1]

    def next_frame_store():
        """Perform thread 1's accesses up to its next stack store; return
        the dTLB-store-misses that store caused."""
        while True:
            k, a, wr, _ = w.next_batch(1, 1)
            assert k == 1
            if wr[0] and a[0] == frame:
                before = m.perf(1)["dTLB-store-misses"]
                th.store(int(a[0]))
                return m.perf(1)["dTLB-store-misses"] - before
            (th.store if wr[0] else th.load)(int(a[0]))

    next_frame_store()                       # faults the frame page in
    assert next_frame_store() == 0           # the next lookup's call hits the TLB
    testing.tlb_flush_local(m, 1)            # CPU 1's PCID flushed
    assert next_frame_store() == 1
    assert next_frame_store() == 0


def test_store_misses_after_init_come_from_flushes():
    """perf reset once the lookups run: without NUMA balancing the stack
    and team stores miss only when a sampled lookup's burst of pages evicts
    them from their dTLB set; with tiering, the migrations' flushes make
    more of them miss (the same lookups in both runs)."""
    def store_misses_after_init(tiering):
        sysctl = {"kernel.numa_balancing": 2, "vm.demotion_enabled": 1} if tiering else {}
        m = kmm.Machine(nodes=[{"cpus": 4, "mem": "6M"}, {"cpus": 0, "mem": "64M"}],
                        sysctl=sysctl, cpu={"x86_bug_l1tf": True, "x86_phys_bits": 40})
        w = XSBench(size="small", scale=0.05, particles=60_000, threads=4)
        reset = []

        def progress(t, done):
            if done > 0 and not reset:
                m.perf_reset()
                reset.append(t)
        r = run(m, w, progress=progress)
        assert r["finished"] and reset
        return r["perf"]["dTLB-store-misses"], r["vmstat"]["pgmigrate_success"]
    quiet, moved0 = store_misses_after_init(False)
    busy, moved = store_misses_after_init(True)
    assert moved0 == 0 and moved > 0
    assert busy > quiet > 0
