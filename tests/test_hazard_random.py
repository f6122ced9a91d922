"""Randomized safety testing of migrc (docs/hazards.md): hypothesis drives
random sequences of mmap/munmap/mprotect, loads and stores from several
CPUs, write(2)/read(2)/truncate of a file, demotion and promotion
(migrate, and the NUMA scan's PROT_NONE + hint faults), allocation
pressure, migrc flushes and a store racing one, on a small seed-shaped
machine with CONFIG_DEBUG_VM.

Asserted after every step:
- the allocator/LRU/refcount invariants hold (CONFIG_DEBUG_VM checks each
  API call; check_invariants() runs again here);
- baseline and migrc+fixes never record a violation;
- on migrc and migrc+pause every violation falls in a documented class,
  decided from the operations since the migration that moved the page the
  stale translation points to: page_cache_write (write(2) to that file
  page), shared_mapping_write (a store to it through another shared
  mapping), flush_race (a store racing migrc_flush_free_folios).  Anything
  else fails the test as "unclassified".

KMM_HAZARD_EXAMPLES sets the examples per kernel (default 30: CI),
KMM_HAZARD_STEPS the steps per sequence (default 30), and
KMM_HAZARD_STATS=PATH appends the sequences/operations/violations counts
as JSON lines.  CI runs derandomized (the same sequences every time);
KMM_HAZARD_RANDOMIZE=1 draws new ones.  A long run:

    KMM_HAZARD_EXAMPLES=2000 KMM_HAZARD_STEPS=60 KMM_HAZARD_RANDOMIZE=1 \\
        python -m pytest -q -s tests/test_hazard_random.py
"""

import json
import os

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import kmm
from kmm.emu.config import KmmStateError
from kmm.hazards._common import KERNELS

EXAMPLES = int(os.environ.get("KMM_HAZARD_EXAMPLES", "30"))
STEPS = int(os.environ.get("KMM_HAZARD_STEPS", "30"))
RANDOMIZE = os.environ.get("KMM_HAZARD_RANDOMIZE", "") not in ("", "0")
STATS_PATH = os.environ.get("KMM_HAZARD_STATS")

PAGE = 4096
NODES = [{"cpus": 4, "mem": "8M"}, {"cpus": 0, "mem": "16M"}]
FILE_PAGES = 4
ALLOWED = {
    "baseline": set(),
    "migrc": {"page_cache_write", "shared_mapping_write", "flush_race"},
    "migrc+pause": {"page_cache_write", "shared_mapping_write", "flush_race"},
    "migrc+fixes": set(),
}
STATS = {}


def _event(what):
    """hypothesis.event(), and nothing when a test drives the machine by hand."""
    try:
        event(what)
    except Exception:
        pass


def _idx(data, n):
    """An index in 0..n-1 drawn evenly (hypothesis draws small integers far
    more often, which would pick the first region nearly every time)."""
    return data.draw(st.integers(0, 2**16)) % n


def _stats(kernel):
    return STATS.setdefault(kernel, {"sequences": 0, "operations": 0, "violations": 0, "classes": {}})


class HazardMachine(RuleBasedStateMachine):
    KERNEL = None
    ABLATE = ()
    TRACK = True                    # count into STATS (not when a test scripts the machine)

    @initialize()
    def boot(self):
        kc = {"CONFIG_DEBUG_VM": True}
        kc.update(KERNELS[self.KERNEL])
        self.m = kmm.Machine.preset("seed", nodes=NODES, kconfig=kc, tlb="unbounded",
                                    ablate=list(self.ABLATE))
        self.f = self.m.create_file(FILE_PAGES)
        self.procs = [self.m.spawn(threads=3), self.m.spawn(threads=1, cpus=[3])]
        self.regions = []           # dicts: proc, addr, npages, file (bool), shared, prot
        self.pressure = []          # pfns held to push node 0 towards its watermarks
        self.step = 0
        self.log = []               # (step, op, detail)
        self.moved_at = {}          # source pfn -> step of the migration that left it
        self.snap = {}
        self.seen = 0
        self.stats = _stats(self.KERNEL) if self.TRACK else \
            {"sequences": 0, "operations": 0, "violations": 0, "classes": {}}
        self.stats["sequences"] += 1
        # start with one anonymous and one shared read-only file mapping,
        # so short sequences reach the interesting states
        p = self.procs[0]
        self.regions.append(dict(proc=p, addr=p.mmap(2), npages=2, file=False, shared=False,
                                 prot="rw", pgoff=0))
        self.regions.append(dict(proc=p, addr=p.mmap(FILE_PAGES, "r", shared=True, file=self.f),
                                 npages=FILE_PAGES, file=True, shared=True, prot="r", pgoff=0))
        self.snap = self._snapshot()

    # -- book-keeping ---------------------------------------------------------------------

    def _snapshot(self):
        out = {}
        for r in self.regions:
            for i in range(r["npages"]):
                pfn = r["proc"].pfn(r["addr"] + i * PAGE)
                if pfn is not None:
                    out[(r["proc"].pid, r["addr"] + i * PAGE)] = pfn
        return out

    def _after(self, op, **detail):
        self.step += 1
        self.stats["operations"] += 1
        self.log.append((self.step, op, detail))
        snap = self._snapshot()
        for key, pfn in self.snap.items():
            if snap.get(key) not in (None, pfn):
                self.moved_at[pfn] = self.step
        self.snap = snap
        viol = self.m.oracle.violations
        for v in viol[self.seen:]:
            cls = self._classify(v)
            self.stats["violations"] += 1
            self.stats["classes"][cls] = self.stats["classes"].get(cls, 0) + 1
            _event(f"violation class {cls}")
            assert cls in ALLOWED[self.KERNEL], (
                f"{self.KERNEL}: {cls} violation {v} after {self.log[-12:]}")
        self.seen = len(viol)

    def _region_of(self, pid, addr):
        for r in self.regions:
            if r["proc"].pid == pid and r["addr"] <= addr < r["addr"] + r["npages"] * PAGE:
                return r
        return None

    def _file_index(self, r, addr):
        return r["pgoff"] + (addr - r["addr"]) // PAGE if r is not None and r["file"] else None

    def _classify(self, v):
        pid = next((p.pid for p in self.m.processes if p.mm_id == v["mm"]), None)
        r = self._region_of(pid, v["addr"])
        idx = self._file_index(r, v["addr"])
        since = self.moved_at.get(v["pfn"], 0)
        later = [(op, d) for s, op, d in self.log if s >= since]
        if any(op == "racy_store" and d["key"] in ((pid, v["addr"]), ("file", idx)) for op, d in later):
            return "flush_race"
        if idx is not None:
            if any(op == "file_write" and d["index"] == idx for op, d in later):
                return "page_cache_write"
            if any(op == "store" and d.get("shared_file_index") == idx and d["key"] != (pid, v["addr"])
                   for op, d in later):
                return "shared_mapping_write"
        return "unclassified"

    def _try(self, fn):
        try:
            fn()
            return True
        except KmmStateError as e:
            if str(e).startswith("CONFIG_DEBUG_VM"):
                raise
            _event(f"refused: {str(e).split(':')[-1].strip()[:40]}")
            return False

    # -- rules --------------------------------------------------------------------------

    @precondition(lambda self: len(self.regions) < 6)
    @rule(pi=st.integers(0, 1), n=st.integers(1, 3))
    def mmap_anon(self, pi, n):
        p = self.procs[pi]
        self.regions.append(dict(proc=p, addr=p.mmap(n), npages=n, file=False, shared=False,
                                 prot="rw", pgoff=0))
        self._after("mmap_anon")

    @precondition(lambda self: len(self.regions) < 6)
    @rule(pi=st.integers(0, 1), shared=st.booleans(), prot=st.sampled_from(["r", "rw"]))
    def mmap_file(self, pi, shared, prot):
        p = self.procs[pi]
        self.regions.append(dict(proc=p, addr=p.mmap(FILE_PAGES, prot, shared=shared, file=self.f),
                                 npages=FILE_PAGES, file=True, shared=shared, prot=prot, pgoff=0))
        self._after("mmap_file")

    @precondition(lambda self: len(self.regions) > 2)
    @rule(data=st.data())
    def munmap(self, data):
        """Unmap one of the regions mapped later (the two first stay)."""
        r = self.regions.pop(2 + _idx(data, len(self.regions) - 2))
        r["proc"].munmap(r["addr"], r["npages"])
        self._after("munmap")

    @precondition(lambda self: self.regions)
    @rule(data=st.data(), prot=st.sampled_from(["r", "rw", "none"]))
    def mprotect(self, data, prot):
        r = self.regions[_idx(data, len(self.regions))]
        if self._try(lambda: r["proc"].mprotect(r["addr"], r["npages"], prot)):
            r["prot"] = prot
        self._after("mprotect")

    def _pick(self, data):
        r = self.regions[_idx(data, len(self.regions))]
        i = _idx(data, r["npages"])
        t = r["proc"].threads[_idx(data, len(r["proc"].threads))]
        return r, r["addr"] + i * PAGE, t

    @precondition(lambda self: self.regions)
    @rule(data=st.data())
    def load(self, data):
        r, addr, t = self._pick(data)
        self._try(lambda: t.load(addr))
        self._after("load")

    @precondition(lambda self: self.regions)
    @rule(data=st.data())
    def load_everywhere(self, data):
        r, addr, _ = self._pick(data)
        for t in r["proc"].threads:
            self._try(lambda: t.load(addr))
        self._after("load_everywhere")

    @precondition(lambda self: self.regions)
    @rule(data=st.data())
    def store(self, data):
        r, addr, t = self._pick(data)
        self._try(lambda: t.store(addr))
        idx = self._file_index(r, addr)
        self._after("store", key=(r["proc"].pid, addr),
                    shared_file_index=idx if r["shared"] else None)

    @precondition(lambda self: self.regions)
    @rule(data=st.data(), node=st.integers(0, 1), reason=st.sampled_from(["demotion", "numa_misplaced"]))
    def migrate(self, data, node, reason):
        r = self.regions[_idx(data, len(self.regions))]
        self.m.migrate(r["proc"], r["addr"], r["npages"], node=node, reason=reason,
                       cpu=data.draw(st.integers(0, 3)))
        self._after("migrate")

    @precondition(lambda self: self.regions)
    @rule(data=st.data(), reason=st.sampled_from(["demotion", "numa_misplaced"]))
    def warm_and_migrate(self, data, reason):
        """Every thread of the owner reads the region (their TLBs cache it),
        then it is migrated to the other node: the usual way into a
        deferral."""
        r = self.regions[_idx(data, len(self.regions))]
        for t in r["proc"].threads:
            for i in range(r["npages"]):
                self._try(lambda: t.load(r["addr"] + i * PAGE))
        pfn = r["proc"].pfn(r["addr"])
        node = 1 if pfn is None or self.m.page(pfn)["node"] == 0 else 0
        self.m.migrate(r["proc"], r["addr"], r["npages"], node=node, reason=reason)
        if any(v["pending"] for v in self.m.migrc_pending().values()):
            _event("something deferred")
        self._after("warm_and_migrate")

    @precondition(lambda self: self.regions)
    @rule(data=st.data())
    def read_all(self, data):
        """Every thread of the owner reads every page of a region."""
        r = self.regions[_idx(data, len(self.regions))]
        for t in r["proc"].threads:
            for i in range(r["npages"]):
                self._try(lambda: t.load(r["addr"] + i * PAGE))
        self._after("read_all")

    @precondition(lambda self: any(not r["file"] for r in self.regions))
    @rule(data=st.data())
    def make_read_only_clean(self, data):
        """The NUMA round trip that leaves anonymous pages read-only and
        clean on node 0 (kmm.hazards._common.read_only_clean_anon)."""
        anon = [r for r in self.regions if not r["file"]]
        r = anon[_idx(data, len(anon))]
        t0 = r["proc"].threads[0]
        for i in range(r["npages"]):
            self._try(lambda: t0.store(r["addr"] + i * PAGE))
        self.m.migrate(r["proc"], r["addr"], r["npages"], node=1, reason="demotion")
        r["proc"]._change_prot_numa(r["addr"], r["npages"])
        self.m._clock_advance_ns(10_000_000)
        for i in range(r["npages"]):
            self._try(lambda: t0.load(r["addr"] + i * PAGE))
        self._after("make_read_only_clean")

    @precondition(lambda self: self.regions)
    @rule(data=st.data())
    def numa_scan(self, data):
        r = self.regions[_idx(data, len(self.regions))]
        r["proc"]._change_prot_numa(r["addr"], r["npages"], cpu=data.draw(st.integers(0, 3)))
        self.m._clock_advance_ns(10_000_000)
        self._after("numa_scan")

    @rule(index=st.integers(0, FILE_PAGES - 1), cpu=st.integers(0, 3))
    def file_write(self, index, cpu):
        self.m.file_write(self.f, index, cpu=cpu)
        self._after("file_write", index=index)

    @rule(index=st.integers(0, FILE_PAGES - 1), cpu=st.integers(0, 3))
    def file_write_and_read(self, index, cpu):
        """write(2), then every thread of every process mapping the file
        reads that page."""
        self.m.file_write(self.f, index, cpu=cpu)
        self._after("file_write", index=index)
        for r in self.regions:
            if r["file"] and r["pgoff"] <= index < r["pgoff"] + r["npages"]:
                for t in r["proc"].threads:
                    self._try(lambda: t.load(r["addr"] + (index - r["pgoff"]) * PAGE))
        self._after("read_file_page_everywhere")

    @precondition(lambda self: self.regions)
    @rule(data=st.data())
    def store_and_read(self, data):
        """A store, then every thread of every process mapping the same
        data (the region, or the same file page elsewhere) reads it."""
        r, addr, t = self._pick(data)
        self._try(lambda: t.store(addr))
        idx = self._file_index(r, addr)
        self._after("store", key=(r["proc"].pid, addr), shared_file_index=idx if r["shared"] else None)
        for q in self.regions:
            if q is r or (idx is not None and q["file"] and q["pgoff"] <= idx < q["pgoff"] + q["npages"]):
                a = addr if q is r else q["addr"] + (idx - q["pgoff"]) * PAGE
                for u in q["proc"].threads:
                    self._try(lambda: u.load(a))
        self._after("read_everywhere")

    @rule(index=st.integers(0, FILE_PAGES - 1), cpu=st.integers(0, 3))
    def file_read(self, index, cpu):
        self.m.file_read(self.f, index, cpu=cpu)
        self._after("file_read")

    @rule(npages=st.integers(0, FILE_PAGES), cpu=st.integers(0, 3))
    def truncate(self, npages, cpu):
        self.m.truncate(self.f, npages, cpu=cpu)
        self._after("truncate")

    @rule(n=st.integers(1, 1024))
    def pressure(self, n):
        for _ in range(n):
            pfn = self.m.alloc_pages(0, nid=0, gfp="GFP_HIGHUSER_MOVABLE|__GFP_THISNODE", cpu=0)
            if pfn is None:
                _event("node 0 exhausted")
                break
            self.pressure.append(pfn)
        self._after("pressure")

    @precondition(lambda self: self.pressure)
    @rule()
    def release(self):
        for pfn in self.pressure:
            self.m.free_pages(pfn)
        self.pressure = []
        self._after("release")

    @rule(cpu=st.integers(0, 3))
    def migrc_flush(self, cpu):
        self.m.migrc_flush_free_folios(cpu=cpu)
        self._after("migrc_flush")

    @precondition(lambda self: self.regions)
    @rule(data=st.data(), cpu=st.integers(0, 3))
    def racy_store(self, data, cpu):
        """A store (and everyone's loads) inside another CPU's
        migrc_flush_free_folios(), between gathering and flushing."""
        r, addr, t = self._pick(data)

        def window(point):
            self._try(lambda: t.store(addr))
            for u in r["proc"].threads:
                self._try(lambda: u.load(addr))
        with self.m.at("migrc_flush_free_folios:before_flush", window):
            self.m.migrc_flush_free_folios(cpu=cpu)
        idx = self._file_index(r, addr)
        self._after("racy_store", key=("file", idx) if idx is not None and r["shared"] else (r["proc"].pid, addr))

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def invariants_hold(self):
        # CONFIG_DEBUG_VM already ran check_invariants() after every API
        # call of the step (a failure raises KmmStateError); here the
        # migrc state
        if not hasattr(self, "m"):
            return
        pending = sum(v["pending"] for v in self.m.migrc_pending().values())
        assert pending >= 0
        if not self.m.kconfig["CONFIG_MIGRC"]:
            assert pending == 0
        assert self.m.migrc_fix_flushes() is not None

    def teardown(self):
        if not hasattr(self, "m"):
            return
        for p in list(self.m.processes):
            p.exit()
        for pfn in self.pressure:
            self.m.free_pages(pfn)
        self.m.migrc_flush_free_folios()
        assert self.m.check_invariants() == []
        # everything unmapped and flushed: only the page cache holds pages
        assert sum(v["pending"] for v in self.m.migrc_pending().values()) == 0


def _case(kernel):
    cls = type(f"Hazards_{kernel.replace('+', '_')}", (HazardMachine,), {"KERNEL": kernel})
    cls.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                                     derandomize=not RANDOMIZE, database=None,
                                     suppress_health_check=[HealthCheck.too_slow,
                                                            HealthCheck.filter_too_much])
    return cls.TestCase


TestBaseline = _case("baseline")
TestMigrc = _case("migrc")
TestMigrcPause = _case("migrc+pause")
TestMigrcFixes = _case("migrc+fixes")


def test_random_runs_report():
    """Runs after the four state machines (file order): report the totals
    (printed with -s; appended to KMM_HAZARD_STATS as JSON lines)."""
    for k in KERNELS:
        if k not in STATS:
            pytest.skip("the state machines did not run in this session")
    for k in KERNELS:
        s = STATS[k]
        print(f"{k}: {s['sequences']} sequences, {s['operations']} operations, "
              f"{s['violations']} violations {s['classes']}")
    if STATS_PATH:
        with open(STATS_PATH, "a") as fh:
            fh.write(json.dumps({"examples": EXAMPLES, "steps": STEPS, "randomized": RANDOMIZE,
                                 "stats": STATS}) + "\n")
    assert STATS["baseline"]["violations"] == 0 and STATS["migrc+fixes"]["violations"] == 0
    for k in ("migrc", "migrc+pause"):
        assert set(STATS[k]["classes"]) <= ALLOWED[k]


# -- the classifier on scripted sequences -------------------------------------------------

class Draws:
    """Stands in for hypothesis' data: returns the given numbers in turn."""

    def __init__(self, *vals):
        self.vals = list(vals)

    def draw(self, strategy):
        return self.vals.pop(0)


def scripted(kernel, ablate=()):
    cls = type("Scripted", (HazardMachine,), {"KERNEL": kernel, "ABLATE": tuple(ablate), "TRACK": False})
    h = cls()
    h.boot()
    return h


def test_classifier_names_the_documented_classes():
    h = scripted("migrc")
    h.warm_and_migrate(Draws(1), "demotion")          # the shared read-only file mapping: deferred
    h.file_write_and_read(0, 3)
    assert h.stats["classes"] == {"page_cache_write": 3}

    h = scripted("migrc")
    h.warm_and_migrate(Draws(1), "demotion")
    h.mmap_file(1, True, "rw")                        # process 1 maps the file writable afterwards
    h.store_and_read(Draws(2, 0, 0))                  # ... and writes page 0: a fresh write fault
    assert set(h.stats["classes"]) == {"shared_mapping_write"}

    h = scripted("migrc")
    h.make_read_only_clean(Draws(0))
    h.warm_and_migrate(Draws(0), "demotion")          # the anonymous pages: deferred
    h.racy_store(Draws(0, 0, 1), 3)
    assert set(h.stats["classes"]) == {"flush_race"}


def test_classifier_rejects_anything_else():
    """With the do_wp_page hunk ablated, a plain store to a deferred
    anonymous page lets the other threads read stale data -- a class the
    documentation does not allow on migrc, so the random test would fail."""
    h = scripted("migrc", ablate=["mm/memory.c#1"])
    h.make_read_only_clean(Draws(0))
    h.warm_and_migrate(Draws(0), "demotion")
    with pytest.raises(AssertionError, match="unclassified"):
        h.store_and_read(Draws(0, 0, 1))


def test_the_fixes_and_baseline_stay_clean_on_the_same_scripts():
    for kernel in ("baseline", "migrc+fixes"):
        h = scripted(kernel)
        h.warm_and_migrate(Draws(1), "demotion")
        h.file_write_and_read(0, 3)
        h.mmap_file(1, True, "rw")
        h.store_and_read(Draws(2, 1, 0))
        h.make_read_only_clean(Draws(0))
        h.warm_and_migrate(Draws(0), "demotion")
        h.racy_store(Draws(0, 0, 1), 3)
        assert h.stats["violations"] == 0
        h.teardown()
