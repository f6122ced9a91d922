"""Workload models (kmm/workloads): XSBench, GUPS-like, trace replay, and
the reference driver.  Expected sizes are computed here from XSBench's
formulas (GridInit.c: N*G NuclideGridPoints of 48 bytes, N*G doubles, N*N*G
ints; each a malloc'd mmap with a 16-byte header), never read back from the
model."""

import json
import math

import numpy as np
import pytest

import kmm
from kmm import KmmConfigError
from kmm.workloads.base import WAIT
from kmm.workloads.driver import Driver, run_workload
from kmm.workloads.gups import GUPS
from kmm.workloads.trace import Trace
from kmm.workloads.xsbench import XSBench

PAGE = 4096


def machine(cpus=4, mem="256M"):
    return kmm.Machine(nodes=[{"cpus": cpus, "mem": mem}])


def pages(nbytes):
    return math.ceil((16 + nbytes) / PAGE)


def xs_pages(n, g):
    return {"nuclide_grid": pages(n * g * 48), "unionized_grid": pages(n * g * 8),
            "index_grid": pages(n * n * g * 4)}


def small_xs(**kw):
    args = dict(size="small", scale=0.01, particles=300, threads=4, seed=7)
    args.update(kw)
    return XSBench(**args)


# -- XSBench: sizes ------------------------------------------------------------------

@pytest.mark.parametrize("size,n", [("small", 68), ("large", 355)])
def test_xsbench_region_sizes_full_scale(size, n):
    w = XSBench(size=size, threads=1)
    d = w.describe()
    assert (d["nuclides"], d["gridpoints"]) == (n, 11303)
    g = 11303
    want = xs_pages(n, g)
    assert {k: v["pages"] for k, v in d["regions"].items()} == want
    assert d["regions"]["index_grid"]["bytes"] == n * n * g * 4
    assert w.total_pages == sum(want.values())
    if size == "large":
        # the brief's figures: ~184 MiB, ~32 MB (30.6 MiB), ~5.4 GiB (5.3 GiB)
        assert round(d["regions"]["nuclide_grid"]["bytes"] / 2**20, 1) == 183.7
        assert round(d["regions"]["unionized_grid"]["bytes"] / 2**20, 1) == 30.6
        assert round(d["regions"]["index_grid"]["bytes"] / 2**30, 2) == 5.31


@pytest.mark.parametrize("scale,g", [(0.01, 113), (0.1, 1130), (1e-9, 2)])
def test_xsbench_scale_shrinks_only_gridpoints(scale, g):
    w = XSBench(size="large", scale=scale, threads=1)
    assert (w.n_isotopes, w.n_gridpoints) == (355, g)
    assert {k: v["pages"] for k, v in w.describe()["regions"].items()} == xs_pages(355, g)


def test_xsbench_setup_maps_the_regions():
    m = machine()
    w = small_xs()
    p = m.spawn(threads=4)
    w.setup(m, p)
    regs = w.regions()
    assert [r["name"] for r in regs] == ["nuclide_grid", "unionized_grid", "index_grid"]
    assert [r["npages"] for r in regs] == list(xs_pages(68, 113).values())
    for r in regs:      # inside anonymous VMAs (adjacent mappings may merge, as in Linux)
        assert any(v["start"] <= r["addr"] and r["addr"] + r["npages"] * PAGE <= v["end"]
                   and not v["file"] for v in p.vmas())
    spans = sorted((r["addr"], r["addr"] + r["npages"] * PAGE) for r in regs)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    with pytest.raises(kmm.KmmStateError):
        w.setup(m, p)


def test_xsbench_refuses_a_machine_too_small():
    m = machine(mem="64M")
    with pytest.raises(kmm.KmmConfigError, match="needs .* pages"):
        run_workload(m, XSBench(size="small", threads=1, particles=1))


@pytest.mark.parametrize("kw,match", [
    ({"size": "XL"}, "size"), ({"scale": 0}, "scale"), ({"scale": 2}, "scale"),
    ({"sample_ueg": 3}, "sample_ueg"), ({"sample_nuclide": 512}, "sample_nuclide"),
    ({"particles": 0}, "particles"), ({"threads": 0}, "threads"), ({"init": "lazy"}, "init"),
    ({"lookup_ns": -1.0}, "lookup_ns"), ({"seed": -1}, "seed"),
])
def test_xsbench_bad_parameters(kw, match):
    with pytest.raises(kmm.KmmConfigError, match=match):
        XSBench(**kw)


# -- XSBench: the lookup's page touches ---------------------------------------------------

def test_xsbench_expected_pages_per_lookup_large():
    # the brief's measured figures: ~12.9 unionized-grid pages (log2 of 7838
    # pages ~ 12.9), ~1.08 index-grid pages, ~56 nuclide-grid pages per lookup
    e = XSBench(size="large", threads=1).expected_pages
    assert abs(e["unionized_grid"] - 12.9) < 0.2
    assert abs(e["index_grid"] - 1.08) < 0.02
    # sum over materials of P(mat) * nuclides(mat) = 55.70; low and low+1
    # straddle a page boundary ~2% of the time
    mean_nucs = sum(p * n for p, n in zip(
        (0.140, 0.052, 0.275, 0.134, 0.154, 0.064, 0.066, 0.055, 0.008, 0.015, 0.025, 0.013),
        (321, 5, 4, 4, 27, 21, 21, 21, 21, 21, 9, 9)))
    assert abs(mean_nucs - 55.70) < 0.01
    assert mean_nucs < e["nuclide_grid"] < mean_nucs * 1.03


def test_xsbench_material_mix():
    m = machine()
    r = run_workload(m, small_xs(particles=600, sample_ueg=256, sample_nuclide=256))
    mats = r["workload"]["lookups_per_material"]
    total = sum(mats)
    assert total == 600 * 34
    for got, p in zip(mats, (0.140, 0.052, 0.275, 0.134, 0.154, 0.064, 0.066, 0.055, 0.008,
                             0.015, 0.025, 0.013)):
        assert abs(got / total - p) < 4 * math.sqrt(p * (1 - p) / total) + 1e-3


# -- XSBench: init and run --------------------------------------------------------------

@pytest.mark.parametrize("init", ["serial", "parallel"])
def test_xsbench_init_steps_in_grid_inits_order(init):
    """grid_init_do_not_profile: fill the nuclide grids, sort them, fill the
    unionized grid, sort it, then fill the index grid.  Each step is one
    pass over its structure: the fills fault every page in once, the sorts
    rewrite pages already there."""
    m = machine()
    w = small_xs(init=init)
    d = Driver(m, w, record=True)
    r = d.run(until="run")
    total = w.total_pages
    sizes = xs_pages(68, 113)
    assert total == sum(sizes.values())
    touches = total + sizes["nuclide_grid"] + sizes["unionized_grid"]
    assert w.phase == "run" and w.init_fraction() == 1.0 and w.done_fraction() == 0.0
    assert r["init_stores"] == touches and r["init_loads"] == 0 and r["run_loads"] == 0
    regs = {reg["name"]: reg for reg in w.regions()}
    counts = d.page_counts()
    for name, c in counts.items():
        assert (c == (1 if name == "index_grid" else 2)).all()   # written, then sorted
    assert r["pgfault"] == total                    # one write fault per page, no zero page
    th, addr, wr = d.recorded()
    assert wr.all()
    expect = []
    for name in ("nuclide_grid", "nuclide_grid", "unionized_grid", "unionized_grid", "index_grid"):
        reg = regs[name]
        expect.append(reg["addr"] + PAGE * np.arange(reg["npages"], dtype=np.int64))
    expect = np.concatenate(expect)
    if init == "serial":
        assert (th == 0).all()
        assert (addr.astype(np.int64) == expect).all()
    else:
        # each step split across the threads, a barrier after each: the
        # steps' page sets come in order
        assert set(th.tolist()) == {0, 1, 2, 3}
        bounds = np.cumsum([0] + [sizes[n] for n in ("nuclide_grid", "nuclide_grid",
                                                     "unionized_grid", "unionized_grid",
                                                     "index_grid")])
        for a, b in zip(bounds[:-1], bounds[1:]):
            assert sorted(addr[a:b].tolist()) == expect[a:b].tolist()


def test_xsbench_serial_init_barrier():
    m = machine()
    w = small_xs(particles=1000)
    p = m.spawn(threads=4)
    w.setup(m, p)
    assert w.next_batch(1, 16)[0] == WAIT           # waits while thread 0 initialises
    assert w.thread_phase(1) == "init" and w.phase == "init"
    n = 0
    while n < w.init_touches:
        k, a, wr, ns = w.next_batch(0, 100)
        assert k > 0 and wr.all() and ns > 0
        n += k
        assert n == w.init_touches or w.next_batch(2, 16)[0] == WAIT
    assert n == w.init_touches
    # thread 0's last init write opened the barrier: every thread runs
    # lookups once the runner has started the parallel region (mapped the
    # workers' stacks; the engine then clones them)
    assert w.phase == "run" and all(w.thread_phase(t) == "run" for t in range(4))
    with pytest.raises(kmm.KmmStateError, match=r"call start_parallel\(\) first"):
        w.next_batch(0, 16)                        # would wait for ever: refused
    with pytest.raises(kmm.KmmConfigError, match=r"is not the process the workload was set up in"):
        w.start_parallel(m.spawn())
    w.start_parallel()
    with pytest.raises(kmm.KmmStateError, match=r"already started"):
        w.start_parallel(p)
    team, stacks = w.heap()["team"], w.stacks()
    for t in (1, 2, 3):
        # a chunk grab (the work share's fetch-and-add), then the first
        # lookup's call into calculate_macro_xs on the thread's stack
        k, a, wr, ns = w.next_batch(t, 16)
        assert k == 16 and ns > 0
        assert list(a[:2]) == [team, stacks[t]["frame"]] and wr[:2].all()
        assert set(a[wr == 1]) <= {team, stacks[t]["frame"]}
    # thread 0 first made the team and the three workers (gomp_new_team,
    # pthread_create writing the top of each worker's stack), in no time
    k, a, wr, ns = w.next_batch(0, 16)
    assert list(a[:4]) == [team] + [stacks[t]["top"] - 8 for t in (1, 2, 3)] and wr[:4].all()
    assert list(a[4:6]) == [team, stacks[0]["frame"]] and wr[4:6].all()


def test_xsbench_run_reads_the_data_and_writes_stacks_and_the_team():
    m = machine()
    w = small_xs()
    p = m.spawn(threads=4)
    d = Driver(m, w, process=p)
    r0 = m.vmstat()["pgfault"]
    r = d.run()
    assert w.phase == "done" and w.done_fraction() == 1.0
    # stores: one per lookup (its stack frame), one per chunk grab (3
    # chunks of 100 particles) and per thread's last, empty grab (4), one
    # reduction per thread (4), the team's creation and the 3 workers'
    # struct pthread; none of them in the data regions
    assert r["run_stores"] == 300 * 34 + 3 + 4 + 4 + 1 + 3 and r["run_loads"] > 0
    assert r["outside_regions"] == r["run_stores"]
    # the init faults in the data pages, the run each worker's top and
    # frame pages, the main thread's frame page and the team's page
    assert m.vmstat()["pgfault"] - r0 == w.total_pages + 3 * 2 + 1 + 1
    assert p.rss[0] == w.total_pages + 3 * 2 + 2 + 1   # and exec's top page
    assert r["workload"]["lookups"] == 300 * 34
    # the lookups' virtual time adds up to lookups * lookup_ns
    init_ns = w.init_virtual_s() * 1e9
    assert sum(r["virtual_ns"]) == pytest.approx(init_ns + 300 * 34 * w.lookup_ns)


def test_xsbench_deterministic():
    def stream(seed, threads=4):
        m = machine()
        r = run_workload(m, small_xs(seed=seed, threads=threads), record=True)
        th, addr, wr = r["driver"].recorded()
        return th, addr, wr, r
    a, b, c = stream(7), stream(7), stream(8)
    assert all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3]))
    assert not np.array_equal(a[1], c[1])
    assert a[3]["regions"] == b[3]["regions"]


def test_xsbench_lookups_do_not_depend_on_thread_count():
    # particles are handed out in chunks of 100, each chunk seeded by its
    # number: 1 or 4 threads perform the same lookups
    def index_counts(threads):
        m = machine()
        r = run_workload(m, small_xs(threads=threads))
        return r["driver"].page_counts()["index_grid"], r["workload"]["lookups_per_material"]
    (c1, m1), (c4, m4) = index_counts(1), index_counts(4)
    assert np.array_equal(c1, c4) and m1 == m4


def test_xsbench_expected_accesses_per_lookup_match_a_run():
    m = machine()
    w = small_xs(particles=1000)
    r = run_workload(m, w)
    per_lookup = (r["run_loads"] + r["run_stores"]) / r["workload"]["lookups"]
    assert per_lookup == pytest.approx(w.describe()["expected_accesses_per_lookup"], rel=0.05)
    assert w.ns_per_access == pytest.approx(w.lookup_ns / w.describe()["expected_accesses_per_lookup"])


def test_xsbench_sampling_matches_touching_everything():
    """A sampled run (the defaults: 1 in 16 lookups' unionized-grid pages,
    1 in 128 lookups' nuclide-grid pages) against a touch-everything run
    (sample 1, 1) of the same 102,000 lookups, at small scale.  Tolerances:
    the index-grid touches are identical; every page of every structure is
    touched in both; the weighted touch count of each sampled structure is
    within 5% of the full run's; the per-page touch distributions are within
    0.05 total-variation distance; the fault counts are equal."""
    def go(su, sn):
        m = machine()
        w = small_xs(particles=3000, sample_ueg=su, sample_nuclide=sn, seed=3)
        r = run_workload(m, w)
        return w, r, r["driver"].page_counts()
    wf, rf, cf = go(1, 1)
    ws, rs, cs = go(16, 128)
    # the data pages, and 8 stack and heap pages (test_xsbench_run_reads...)
    assert rf["pgfault"] == rs["pgfault"] == wf.total_pages + 8
    assert rs["run_loads"] * 10 < rf["run_loads"]              # far fewer accesses
    weight = {"index_grid": 1, "unionized_grid": 16, "nuclide_grid": 128}
    for name, k in weight.items():
        full = cf[name].astype(float) - 1                      # less the init write
        samp = (cs[name].astype(float) - 1) * k
        assert ((full > 0) == (samp > 0)).all() and (full > 0).all()
        if k == 1:
            assert np.array_equal(full, samp)
            continue
        assert samp.sum() == pytest.approx(full.sum(), rel=0.05)
        tvd = 0.5 * np.abs(full / full.sum() - samp / samp.sum()).sum()
        assert tvd < 0.05, (name, tvd)


def test_xsbench_describe_is_json():
    d = small_xs().describe()
    assert json.loads(json.dumps(d)) == d
    assert d["workload"] == "xsbench" and d["lookups_per_particle"] == 34


def test_xsbench_default_virtual_time_from_the_seed():
    w = XSBench(threads=16)
    # 556.787 s for 50e6 x 34 lookups on 16 threads, less the init's measured
    # user time (0.045 + 0.515 + 0.45 + 1.65 s)
    assert w.init_virtual_s() == pytest.approx(2.66)
    assert w.lookup_ns == pytest.approx((556.787113849 - 2.66) * 16 / (50e6 * 34) * 1e9)
    assert 5200 < w.lookup_ns < 5230


def test_xsbench_init_step_costs():
    """Each step's cost per page: a fill costs the same at every size; a
    qsort of k elements costs k log2 k, so per page it follows log2 k."""
    big, small = XSBench(scale=1.0), XSBench(scale=0.1)
    d = big.describe()["regions"]
    ns = big.init_ns
    assert ns["nuclide_grid"] * d["nuclide_grid"]["pages"] == pytest.approx(0.045e9)
    assert ns["nuclide_sort"] * d["nuclide_grid"]["pages"] == pytest.approx(0.515e9)
    assert (ns["unionized_grid"] + ns["unionized_sort"]) * d["unionized_grid"]["pages"] == \
        pytest.approx(0.45e9)
    assert ns["index_grid"] * d["index_grid"]["pages"] == pytest.approx(1.65e9)
    assert small.init_ns["index_grid"] == ns["index_grid"]
    assert small.init_ns["nuclide_sort"] == pytest.approx(
        ns["nuclide_sort"] * math.log2(1130) / math.log2(11303))
    assert small.init_ns["unionized_sort"] == pytest.approx(
        ns["unionized_sort"] * math.log2(355 * 1130) / math.log2(355 * 11303))
    with pytest.raises(KmmConfigError, match="init_ns"):
        XSBench(init_ns={"qsort": 1.0})


# -- GUPS ---------------------------------------------------------------------------------

def test_gups_read_modify_write_pairs():
    m = machine()
    g = GUPS(table="1M", updates=1001, threads=3, seed=5)
    r = run_workload(m, g, batch=7, record=True)     # odd batches split some pairs
    th, addr, wr = r["driver"].recorded()
    npages = (1 << 20) // PAGE
    assert r["init_stores"] == npages and r["pgfault"] == npages
    assert r["run_loads"] == r["run_stores"] == 1001
    assert (r["driver"].page_counts()["table"] >= 1).all()
    base = g.regions()[0]["addr"]
    for t in range(3):
        a, w_ = addr[th == t], wr[th == t]
        n_init = len(range(npages * t // 3, npages * (t + 1) // 3))
        a, w_ = a[n_init:], w_[n_init:]
        assert (w_[0::2] == 0).all() and (w_[1::2] == 1).all()
        assert np.array_equal(a[0::2], a[1::2])                # load then store, same word
        assert ((a - base) % 8 == 0).all() and (a - base < (1 << 20)).all()
    assert g.done_fraction() == 1.0


def test_gups_deterministic_and_seeded():
    def stream(seed):
        r = run_workload(machine(), GUPS(table="256K", updates=500, threads=2, seed=seed),
                         record=True)
        return r["driver"].recorded()
    a, b, c = stream(1), stream(1), stream(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


@pytest.mark.parametrize("kw", [{"table": 12}, {"table": "1K"}, {"table": 0}, {"updates": -1},
                                {"threads": 65}])
def test_gups_bad_parameters(kw):
    with pytest.raises(kmm.KmmConfigError):
        GUPS(**kw)


# -- trace replay --------------------------------------------------------------------------

def write_csv(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_trace_csv_replay(tmp_path):
    p = write_csv(tmp_path, "thread,page,write\n0,3,1\n1,5,0\n\n0,3,0\n1,0,1\n")
    t = Trace(p)
    assert (t.nthreads, t.npages, t.nrecords) == (2, 6, 4)
    m = machine()
    r = run_workload(m, t, record=True)
    th, addr, wr = r["driver"].recorded()
    base = t.regions()[0]["addr"]
    assert list(zip(th.tolist(), ((addr - base) // PAGE).tolist(), wr.tolist())) == \
        [(0, 3, 1), (0, 3, 0), (1, 5, 0), (1, 0, 1)]
    # page 3 write fault; page 5 read maps the zero page; page 0 write fault
    assert r["pgfault"] == 3 and r["distinct_pages"] == 3
    assert t.done_fraction() == 1.0


def test_trace_columns_in_any_order(tmp_path):
    p = write_csv(tmp_path, "write,thread,page\n1,0,2\n")
    assert (Trace(p).npages, Trace(p).nthreads) == (3, 1)


def test_trace_npy_structured_and_plain(tmp_path):
    rec = np.array([(0, 4, 1), (2, 1, 0)], dtype=[("thread", "i4"), ("page", "i8"), ("write", "u1")])
    np.save(tmp_path / "s.npy", rec)
    np.save(tmp_path / "p.npy", np.array([[0, 4, 1], [2, 1, 0]]))
    for name in ("s.npy", "p.npy"):
        t = Trace(tmp_path / name)
        assert (t.nthreads, t.npages, t.nrecords) == (3, 5, 2)
        r = run_workload(machine(), t)
        assert r["accesses"] == 2 and r["stores"] == 1
    assert Trace(np.array([[0, 0, 0]]), threads=2).nthreads == 2


@pytest.mark.parametrize("text,match", [
    ("thread,page\n0,1\n", r"line 1: missing column 'write'"),
    ("thread,page,write,extra\n0,1,0,0\n", r"line 1: unknown"),
    ("", r"line 1: empty trace"),
    ("thread,page,write\n", r"line 2: empty trace"),
    ("thread,page,write\n0,1,0\n0,x,1\n", r"line 3: page 'x' is not an integer"),
    ("thread,page,write\n0,1.5,1\n", r"line 2: page '1.5' is not an integer"),
    ("thread,page,write\n0,1,0\n\n0,-2,1\n", r"line 4: page -2 is negative"),
    ("thread,page,write\n-1,2,1\n", r"line 2: thread -1 is negative"),
    ("thread,page,write\n0,1,0\n0,2,2\n", r"line 3: write 2 is not 0 or 1"),
    ("thread,page,write\n0,1,0\n3,2,1\n", r"line 3: thread 3 >= threads \(2\)"),
    ("thread,page,write\n0,1\n", r"line 2: 2 field"),
])
def test_trace_malformed_csv(tmp_path, text, match):
    p = write_csv(tmp_path, text)
    with pytest.raises(kmm.KmmConfigError, match=match):
        Trace(p, threads=2)


@pytest.mark.parametrize("arr,match", [
    (np.zeros((0, 3), dtype=np.int64), "empty trace"),
    (np.array([[0, 1, 0], [0, 2, 3]]), r"record 1: write 3 is not 0 or 1"),
    (np.array([[0, 1, 0], [0, -1, 1]]), r"record 1: page -1 is negative"),
    (np.array([[0, 1, 0], [5, 1, 1]]), r"record 1: thread 5 >= threads \(2\)"),
    (np.array([[0, 1.5, 0]]), r"record 0: page 1.5 is not an integer"),
    (np.array([[0, 1, 0, 0]]), r"\(n, 3\)"),
    (np.array([(0, 1)], dtype=[("thread", "i4"), ("page", "i4")]), r"missing field 'write'"),
    (np.array([("a", 1, 0)], dtype=[("thread", "U2"), ("page", "i4"), ("write", "i4")]),
     r"record 0: thread 'a' is not an integer"),
])
def test_trace_malformed_npy(tmp_path, arr, match):
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(kmm.KmmConfigError, match=match) as e:
        Trace(tmp_path / "bad.npy", threads=2)
    assert "bad.npy" in str(e.value)


def test_trace_bad_source(tmp_path):
    with pytest.raises(kmm.KmmConfigError, match=r"\.csv or \.npy"):
        Trace(tmp_path / "trace.txt")


# -- driver ---------------------------------------------------------------------------------

def test_driver_max_accesses_and_resume():
    m = machine()
    w = small_xs()
    d = Driver(m, w, batch=64)
    r = d.run(max_accesses=1000)
    assert 1000 <= r["accesses"] < 1000 + 64 * 4
    r = d.run()
    assert r["phase"] == "done" and r["workload"]["lookups"] == 300 * 34


def test_driver_reports_a_segfault():
    m = machine()
    t = Trace(np.array([[0, 0, 1], [0, 1, 1]]))
    p = m.spawn()
    t.setup(m, p)
    p.munmap(t.regions()[0]["addr"] + PAGE, 1)
    with pytest.raises(kmm.KmmStateError, match="segmentation fault"):
        Driver(m, t, process=p).run()
