"""Regression tests of "never crash, never hang, never lie": each reproducer
of the issue, fixed.  A candidate crash or hang runs in a subprocess with a
timeout, so a segfault or a hang fails the test instead of killing pytest."""

import inspect
import os
import subprocess
import sys
import textwrap

import pytest

import kmm
from kmm import KmmConfigError, KmmError, KmmStateError
from kmm.workloads.gups import GUPS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_py(code, timeout=120):
    """Run code in a fresh interpreter; returns (returncode, stdout, stderr).
    A hang fails the test through the timeout."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=timeout, env=env, cwd=ROOT)
    return r.returncode, r.stdout, r.stderr


def small():
    return kmm.Machine(nodes=[{"cpus": 1, "mem": "8M"}])


def mapped_page(m):
    p = m.spawn(1)
    a = p.mmap(1)
    p.threads[0].store(a)
    return p, a, p.pfn(a)


# -- 1. out of memory in spawn -------------------------------------------------------

def test_spawn_after_oom_then_teardown():
    """mm_alloc() whose pgd_alloc() fails frees the half-built mm: the
    machine's teardown must not walk it (it exited 139)."""
    rc, out, err = run_py("""
        import kmm
        m = kmm.Machine(nodes=[{'cpus': 1, 'mem': '4M'}])
        while m.alloc_pages() is not None:
            pass
        try:
            m.spawn(1)
        except kmm.KmmError as e:
            print(e)
        del m
        print("end")
    """)
    assert rc == 0, err
    assert out.split("\n")[:2] == ["spawn: out of memory for the page-table root", "end"]


def test_huge_min_free_kbytes_is_taken_as_the_kernel_takes_it():
    """min_free_kbytes_sysctl_handler accepts any int >= 0 (extra1 =
    SYSCTL_ZERO, no upper bound); __setup_per_zone_wmarks gives a zone
    pages_min * managed / lowmem_pages as its MIN, here above all its
    pages, so an allocation without reserves fails: spawn is out of memory,
    and nothing crashes."""
    rc, out, err = run_py("""
        import kmm
        m = kmm.Machine(nodes=[{'cpus': 1, 'mem': '16M'}], sysctl={'vm.min_free_kbytes': 99999999})
        zones = m.zones()
        lowmem = sum(z['managed'] for z in zones if z['zone'] != 'Movable')
        for z in zones:
            assert z['min'] == (99999999 >> 2) * z['managed'] // lowmem, z
            assert z['min'] > z['managed']
        try:
            m.spawn(1)
        except kmm.KmmError as e:
            print(e)
        print(m.check_invariants())
    """)
    assert rc == 0, err
    assert out.split("\n")[:2] == ["spawn: out of memory for the page-table root", "[]"]


def test_cli_run_out_of_memory_is_an_error_not_a_crash():
    rc, out, err = run_py("""
        import sys
        from kmm import cli
        sys.exit(cli.main(['run', '--quiet', '--sysctl', 'vm.min_free_kbytes=99999999',
                           '--particles', '1000']))
    """, timeout=300)
    assert rc in (1, 2), (rc, err)
    assert "out of memory" in err and "Traceback" not in err


# -- 2. the engine and barriers ------------------------------------------------------------

@pytest.mark.parametrize("threads", [1, 2, 4])
def test_gups_threads_run_to_completion_under_the_engine(threads):
    """Every thread of GUPS exists from the start (parallel_init): each
    writes its share of the table, then all update.  One load per update:
    the init phase only stores."""
    rc, out, err = run_py(f"""
        import kmm
        from kmm.workloads.gups import GUPS
        m = kmm.Machine(nodes=[{{'cpus': 4, 'mem': '64M'}}])
        w = GUPS(table='1M', updates=20000, threads={threads})
        r = m.run(w, until=5)
        print(r['finished'], w.phase, r['perf']['dTLB-loads'], w.stats()['updates_per_thread'])
    """)
    assert rc == 0, err
    finished, phase, loads, per_thread = out.split(" ", 3)
    assert (finished, phase, loads) == ("True", "done", "20000")
    assert per_thread.strip() == str([20000 // threads] * threads)


def test_xsbench_parallel_init_runs_under_the_engine():
    rc, out, err = run_py("""
        import kmm
        from kmm.workloads.xsbench import XSBench
        m = kmm.Machine(nodes=[{'cpus': 4, 'mem': '256M'}])
        w = XSBench(size='small', scale=0.01, particles=200, threads=4, init='parallel')
        r = m.run(w)
        print(r['finished'], w.phase)
    """)
    assert rc == 0, err
    assert out.split() == ["True", "done"]


def test_engine_reports_a_run_no_thread_can_finish():
    """A parallel initialisation run as if serial: thread 0 waits at the
    barrier for threads that start only after it: a KmmStateError naming
    them, not an endless loop."""
    rc, out, err = run_py("""
        import kmm
        from kmm.workloads.gups import GUPS
        m = kmm.Machine(nodes=[{'cpus': 2, 'mem': '64M'}])
        w = GUPS(table='1M', updates=20000, threads=2)
        w.parallel_init = False
        try:
            m.run(w)
        except kmm.KmmStateError as e:
            print(e)
        print(m.check_invariants())
    """)
    assert rc == 0, err
    lines = out.split("\n")
    assert lines[0] == ("engine: no thread of GUPS can progress: thread(s) [0] wait at a barrier "
                        "(phase 'init') for thread(s) [1], which start only when thread 0 leaves "
                        "its init phase (a parallel initialisation must set parallel_init)")
    assert lines[1] == "[]"


def test_cli_gups_finishes_with_loads(tmp_path):
    """`kmm run --workload gups` without --duration runs to the end and
    reports the loads (it used to exit 0 with 0 loads, or spin)."""
    out_json = tmp_path / "g.json"
    rc, out, err = run_py(f"""
        import sys
        from kmm import cli
        sys.exit(cli.main(['run', '--quiet', '--workload', 'gups', '--scale', '0.004',
                           '--threads', '4', '--kernel', 'baseline', '--json', {str(out_json)!r}]))
    """, timeout=300)
    assert rc == 0, err
    import json
    d = json.loads(out_json.read_text())
    run = d["runs"]["baseline"]
    assert run["finished"]
    # one load per update; the init phase writes only
    assert run["perf_all"]["dTLB-loads"] == d["workload"]["updates"] > 0


# -- 3. dropping references the kernel holds ----------------------------------------------------------

NOT_OURS = "its references are the kernel's, and only one taken with alloc_pages() or folio_get() can be dropped here"


@pytest.mark.parametrize("debug_vm", [False, True])
@pytest.mark.parametrize("call", ["free_pages", "folio_put"])
def test_dropping_a_mapped_page_reference_is_refused(call, debug_vm):
    """A mapped anonymous page's one reference is its mapping's
    (page_mapcount 1): dropping it would free a page a PTE still maps.  It
    used to hang check_invariants(), or hand the page out again."""
    rc, out, err = run_py(f"""
        import kmm
        m = kmm.Machine(nodes=[{{'cpus': 1, 'mem': '8M'}}], kconfig={{'CONFIG_DEBUG_VM': {debug_vm}}})
        p = m.spawn(1)
        a = p.mmap(1)
        p.threads[0].store(a)
        pfn = p.pfn(a)
        try:
            m.{call}(pfn)
        except kmm.KmmStateError as e:
            print(e)
        print(m.page(pfn)['refcount'], m.page(pfn)['mapcount'], m.check_invariants())
        print(m.alloc_pages() != pfn)
    """)
    assert rc == 0, err
    lines = out.split("\n")
    assert lines[0] == f"{call}: pfn {lines[0].split()[2]} is still mapped (mapcount 1) (refcount 1); " + NOT_OURS
    assert lines[1:3] == ["1 1 []", "True"]


def test_get_then_put_of_a_mapped_page():
    """folio_get() makes the caller a holder: its folio_put() is legal and
    leaves the mapping's reference alone."""
    m = small()
    p, a, pfn = mapped_page(m)
    m.folio_get(pfn)
    assert m.page(pfn)["refcount"] == 2
    m.folio_put(pfn)
    assert (m.page(pfn)["refcount"], m.page(pfn)["mapcount"]) == (1, 1)
    with pytest.raises(KmmStateError, match="still mapped"):
        m.folio_put(pfn)
    with pytest.raises(KmmStateError, match="was not allocated with alloc_pages"):
        m.folio_get(pfn) or m.free_pages(pfn)
    m.folio_put(pfn)
    assert m.check_invariants() == []


def test_held_reference_outlives_the_process():
    """The caller's reference keeps the page after munmap: zap drops the
    mapping's reference only; the caller's folio_put() frees it (taking it
    off the LRU, __folio_put -> __page_cache_release)."""
    m = small()
    p, a, pfn = mapped_page(m)
    m.folio_get(pfn)
    p.exit()
    page = m.page(pfn)
    assert (page["refcount"], page["mapcount"], page["buddy"]) == (1, 0, False)
    free0 = m.vmstat()["nr_free_pages"]
    m.folio_put(pfn)
    assert m.page(pfn)["buddy"] or m.vmstat()["nr_free_pages"] == free0 + 1
    assert "lru" not in m.page(pfn)["flags"]
    assert m.check_invariants() == []


def test_page_cache_and_page_table_pages_are_refused():
    m = small()
    f = m.create_file(2)
    m.file_read(f, 0)
    pfn = f.cached_pfn(0)
    with pytest.raises(KmmStateError, match=rf"folio_put: pfn {pfn} is on an LRU list"):
        m.folio_put(pfn)
    with pytest.raises(KmmStateError, match=rf"free_pages: pfn {pfn} is on an LRU list"):
        m.free_pages(pfn)
    assert f.cached_pfn(0) == pfn
    p, a, _ = mapped_page(m)
    tables = []
    for q in range(m.max_pfn):
        try:
            m.folio_get(q)
            m.folio_put(q)
        except KmmStateError as e:
            if "is a page table" in str(e):
                tables.append(q)
    assert len(tables) >= 1         # at least the PGD of the process
    for q in tables:
        with pytest.raises(KmmStateError, match=rf"free_pages: pfn {q} is a page table; its mm owns it"):
            m.free_pages(q)
    assert m.check_invariants() == []


def test_folio_put_inside_a_migrate_hook_is_refused():
    """In the "unmapped" window the source folio is isolated and mapped by
    migration entries only; its references are the isolation's and the
    migration's.  folio_put() from the hook is refused, and migrate goes
    on (it used to hang)."""
    rc, out, err = run_py("""
        import kmm
        m = kmm.Machine(nodes=[{'cpus': 1, 'mem': '16M'}, {'cpus': 0, 'mem': '16M'}])
        p = m.spawn(1)
        a = p.mmap(1)
        p.threads[0].store(a)
        pfn = p.pfn(a)
        seen = []
        def hook(point):
            if point == 'unmapped':
                try:
                    m.folio_put(pfn)
                except kmm.KmmStateError as e:
                    seen.append(str(e))
        n = m.migrate(p, a, 1, node=1, hook=hook)
        print(seen[0])
        print(n, p.pfn(a) != pfn, m.check_invariants())
    """)
    assert rc == 0, err
    lines = out.split("\n")
    assert lines[0].startswith("folio_put: pfn ") and NOT_OURS in lines[0]
    assert "isolated from the LRU" in lines[0]
    assert lines[1] == "1 True []"


def test_alloc_pages_blocks_and_orders():
    m = small()
    free0 = m.vmstat()["nr_free_pages"]
    a = m.alloc_pages(2)
    with pytest.raises(KmmStateError, match=rf"free_pages: pfn {a} was allocated with order 2, not 1"):
        m.free_pages(a, 1)
    with pytest.raises(KmmStateError, match=rf"starts an order-2 block from alloc_pages\(\), not a folio"):
        m.folio_put(a)
    m.folio_get(a)
    m.folio_put(a)                  # not the last reference
    m.free_pages(a, 2)
    assert m.check_invariants() == []
    assert m.vmstat()["nr_free_pages"] == free0


def test_corrupted_lists_are_reported_not_looped_over():
    """A cycle that never returns to the list head (as a use-after-free
    leaves) is reported by check_invariants(), bounded by the zone's pages."""
    rc, out, err = run_py("""
        import kmm
        from kmm.emu import testing as T
        m = kmm.Machine(nodes=[{'cpus': 1, 'mem': '8M'}])
        pfn = next(q for q in range(m.max_pfn) if m.page(q)['buddy'])   # heads a free block
        T.list_loop(m, pfn)
        for line in m.check_invariants():
            print(line)
    """)
    assert rc == 0, err
    assert "free list does not end (pfn" in out

    rc, out, err = run_py("""
        import kmm
        from kmm.emu import testing as T
        m = kmm.Machine(nodes=[{'cpus': 1, 'mem': '8M'}])
        p = m.spawn(1)
        a = p.mmap(1)
        p.threads[0].store(a)
        T.list_loop(m, p.pfn(a))
        for line in m.check_invariants():
            print(line)
    """)
    assert rc == 0, err
    assert "list does not end (more entries than the node's" in out


# -- 4. argument types ----------------------------------------------------------------------------

def _machine():
    m = kmm.Machine(nodes=[{"cpus": 2, "mem": "8M"}, {"cpus": 0, "mem": "8M"}])
    p = m.spawn(1)
    a = p.mmap(2)
    p.threads[0].store(a)
    f = m.create_file(2)
    return m, p, a, f


BAD_CALLS = [
    (lambda m, p, a, f: m.idle("a"), "cpu: 'a'"),
    (lambda m, p, a, f: m.idle(2**70), "cpu: 1180591620717411303424"),
    (lambda m, p, a, f: m.current(None), "cpu: None"),
    (lambda m, p, a, f: m.run_kswapd("a"), "nid: 'a'"),
    (lambda m, p, a, f: m.run_kswapd(0, cpu=1.0), "cpu: 1.0"),
    (lambda m, p, a, f: m.file_read(f, 0, cpu="a"), "cpu: 'a'"),
    (lambda m, p, a, f: m.file_write(f, 0, cpu=[0]), "cpu: [0]"),
    (lambda m, p, a, f: m.truncate(f, 1, cpu=2**70), "cpu: 1180591620717411303424"),
    (lambda m, p, a, f: m.file_read("f", 0), "file: 'f'"),
    (lambda m, p, a, f: p.mmap(1, file="x"), "file: 'x'"),
    (lambda m, p, a, f: p.mmap(1, prot=["r"]), "prot: ['r']"),
    (lambda m, p, a, f: p.mmap(1, shared="yes", file=f), "shared: 'yes'"),
    (lambda m, p, a, f: p.mmap(1, offset=3), "offset: 3; an anonymous mapping has none"),
    (lambda m, p, a, f: m.run("xsbench"), "workload: 'xsbench' is not a kmm workload"),
    (lambda m, p, a, f: m.run(GUPS(table="1M", updates=1), until=float("inf")), "until: inf"),
    (lambda m, p, a, f: m.run(GUPS(table="1M", updates=1), progress=3), "progress: 3"),
    (lambda m, p, a, f: m.migrc_flush_free_folios("a"), "cpu: 'a'"),
    (lambda m, p, a, f: m.spawn(1, cpus=5), "cpus: 5"),
    (lambda m, p, a, f: m.spawn(1, cpus=[[0]]), "cpu: [0]"),
    (lambda m, p, a, f: p.fork(2**70), "threads: 1180591620717411303424"),
    (lambda m, p, a, f: m.create_file(1, writable="no"), "writable: 'no'"),
    (lambda m, p, a, f: m.set_sysctl(["vm.min_free_kbytes"], 1), "sysctl: unknown key"),
    (lambda m, p, a, f: m.vm_events_per_cpu(["pgfault"]), "vm event: unknown name"),
    (lambda m, p, a, f: m._migrc_fix_points(off="tlb_finish_mmu"), "off: 'tlb_finish_mmu'"),
    (lambda m, p, a, f: m.at(["x"], print), "point: ['x']"),
    (lambda m, p, a, f: m.folio_put(1.0), "pfn: 1.0"),
    (lambda m, p, a, f: p.add_thread("1"), "cpu: '1'"),
    (lambda m, p, a, f: p.threads[0].task_tick_numa(2**70), "ns: 1180591620717411303424"),
    (lambda m, p, a, f: m.migrate(p, a, 1, reason=["demotion"]), "reason: ['demotion']"),
    (lambda m, p, a, f: m.migrate(p, a, 1, mode=[0]), "mode: [0]"),
]


@pytest.mark.parametrize("call,fragment", BAD_CALLS)
def test_bad_argument_types_are_config_errors(call, fragment):
    m, p, a, f = _machine()
    with pytest.raises(KmmConfigError) as e:
        call(m, p, a, f)
    assert fragment in str(e.value)
    assert m.check_invariants() == []


def test_every_public_method_checks_its_arguments():
    """Each public method of Machine, Process, Thread and File called with
    values of the wrong type or range: a KmmError or success, never another
    exception (the arguments' count aside)."""
    bad_values = ["a", 1.5, None, [0], 2**70, -1, True, {}, float("nan"), b"x"]
    problems = []
    m, p, a, f = _machine()
    for obj in (m, p, p.threads[0], f):
        for name in dir(type(obj)):
            if name.startswith("__") or name in ("run", "preset"):
                continue
            attr = getattr(type(obj), name)
            if isinstance(attr, property) or not callable(attr):
                continue
            params = [x for x in inspect.signature(getattr(obj, name)).parameters.values()
                      if x.kind == x.POSITIONAL_OR_KEYWORD]
            for i in range(len(params)):
                for v in bad_values:
                    m2, p2, a2, f2 = _machine()
                    target = {type(m): m2, type(p): p2, type(f): f2}.get(type(obj), p2.threads[0])
                    args = [0] * len(params)
                    args[i] = v
                    try:
                        getattr(target, name)(*args)
                    except KmmError:
                        pass
                    except Exception as e:      # noqa: BLE001 -- what the test looks for
                        problems.append((type(obj).__name__, name, i, v, repr(e)))
    assert problems == []


# -- 5. objects not made by their factory ------------------------------------------------------

UNINIT = [
    ("kmm.Machine.__new__(kmm.Machine).vmstat()", "Machine: not initialised; use Machine(nodes=[...])"),
    ("kmm.Machine()", "Machine: not initialised"),
    ("kmm.Machine.__new__(kmm.Machine, 1).vmstat()", "Machine: not initialised"),
    ("kmm.Machine.__new__(kmm.Machine, 1).spawn(1)", "Machine: not initialised"),
    ("kmm.Machine.__new__(kmm.Machine, 1).idle(0)", "Machine: not initialised"),
    ("kmm.Machine.__new__(kmm.Machine, 1).free_pages(0)", "Machine: not initialised"),
    ("kmm.Machine.__new__(kmm.Machine, 1).max_pfn", "Machine: not initialised"),
    ("P.Thread().load(0)", "Thread: not initialised; use Machine.spawn()"),
    ("P.Thread().run()", "Thread: not initialised"),
    ("P.Thread().pid", "Thread: not initialised"),
    ("P.Thread().task_tick_numa(1)", "Thread: not initialised"),
    ("P.Process().mmap(1)", "Process: not initialised; use Machine.spawn()"),
    ("P.Process().mm_id", "Process: not initialised"),
    ("P.Process().munmap(0, 1)", "Process: not initialised"),
    ("P.Process().fork()", "Process: not initialised"),
    ("P.File().nrpages", "File: not initialised; use Machine.create_file()"),
    ("P.File().cached_pfn(0)", "File: not initialised"),
    ("kmm.Machine(nodes=[{'cpus': 1, 'mem': '4M'}]).spawn(1).mmap(1, file=P.File())", "File: not initialised"),
]


@pytest.mark.parametrize("expr,message", UNINIT)
def test_objects_not_made_by_their_factory_refuse_use(expr, message):
    rc, out, err = run_py(f"""
        import kmm
        from kmm.emu import process as P
        try:
            {expr}
        except kmm.KmmStateError as e:
            print(e)
    """)
    assert rc == 0, err
    assert message in out


def test_uninitialised_objects_every_method():
    """Every public method and property of a Process, Thread and File made
    without its factory, and of a Machine never booted: a KmmError (or a
    harmless answer, e.g. a readonly attribute), never a crash or another
    exception."""
    rc, out, err = run_py("""
        import inspect, kmm
        from kmm.emu import process as P
        skip = {'preset', 'interleave_points'}           # static: no machine needed
        bad = []
        for make in (lambda: kmm.Machine.__new__(kmm.Machine, 1), P.Process, P.Thread, P.File):
            obj = make()
            for name in dir(type(obj)):
                if name.startswith('__') or name in skip:
                    continue
                attr = getattr(type(obj), name)
                try:
                    if callable(attr) and not isinstance(attr, property):
                        n = len([x for x in inspect.signature(getattr(obj, name)).parameters.values()
                                 if x.kind == x.POSITIONAL_OR_KEYWORD and x.default is x.empty])
                        getattr(obj, name)(*[0] * n)
                    else:
                        getattr(obj, name)
                except kmm.KmmError:
                    pass
                except Exception as e:
                    bad.append((type(obj).__name__, name, repr(e)))
        print(bad)
    """)
    assert rc == 0, err
    assert out.strip() == "[]"


def test_thread_of_an_exited_process_cannot_run():
    m = small()
    p = m.spawn(1)
    t = p.threads[0]
    p.exit()
    with pytest.raises(KmmStateError, match=rf"process {p.pid} has exited"):
        t.run()
    assert m.current(0)[0] != t.pid
    assert m.check_invariants() == []
