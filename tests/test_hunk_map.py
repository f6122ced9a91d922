"""The hunk map (kmm/study/hunkmap.py, tools/check_hunk_map.py): every hunk
of the seed patch has a mirror in the emulator and a test in tests/hunks/.

The seed patch is read from ../shared/seed/ beside the repository root; the
checker itself is tested on a made-up patch with fake declarations."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kmm.study import hunkmap as hm
from kmm.study.patch import parse_patch
from kmm.study.source import locate

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / ".." / "shared" / "seed" / "migrc-v4-2of3.patch"


def test_seed_patch_every_hunk_has_a_mirror_and_a_test():
    if not SEED.exists():
        pytest.skip(f"seed patch not found at {SEED.resolve()} (the steering repository's shared/seed/)")
    hmap = hm.load()
    assert hm.check(SEED, hmap) == []
    # mm/migrate.c#2 adds a blank line, mm/rmap.c#1 removes one: no behaviour, no test
    assert sorted(hmap.without_behaviour) == ["mm/migrate.c#2", "mm/rmap.c#1"]
    assert hm.summary(parse_patch(SEED), hmap) == (25, 25, 23, 2)


@pytest.mark.skipif(not SEED.exists(), reason="seed patch not found in ../shared/seed/")
def test_seed_header_mirrors_are_declared_and_found():
    # The header mirrors that are already in the emulator are in the map and
    # their source is found; nothing declared is broken or misnamed.
    hmap = hm.load()
    assert hmap.errors == []
    problems = hm.check(SEED, hmap)
    assert not [p for p in problems if "not found" in p or "no such hunk" in p], problems
    where = {(m.symbol, m.file, m.kind) for ms in hmap.mirrors.values() for m in ms}
    assert ("migrc_req", "kmm/linux/include_/linux/mm_types.pxd", "struct") in where
    assert ("zone.migrc_pending_nr", "kmm/linux/include_/linux/mmzone.pxd", "field") in where
    assert ("PG_migrc", "kmm/linux/include_/linux/page_flags.pxd", "enum member") in where
    assert "tests/hunks/test_include_linux_page_flags_h.py::test_pg_migrc_is_the_last_page_flag" \
        in hmap.tests["include/linux/page-flags.h#1"]


# --- the checker on a made-up patch -----------------------------------------

TOY_PATCH = """\
From: someone
Subject: [PATCH] toy: two files, three hunks

---
diff --git a/mm/toy.c b/mm/toy.c
--- a/mm/toy.c
+++ b/mm/toy.c
@@ -10,2 +10,3 @@ static int toy_alloc(int n)
 a
+b
 c
@@ -40,2 +41,3 @@ static void toy_free(int n)
 d
+e
 f
diff --git a/include/linux/toy.h b/include/linux/toy.h
--- a/include/linux/toy.h
+++ b/include/linux/toy.h
@@ -1,2 +1,3 @@ struct toy {
 int x;
+int pending_nr;
 };
"""

TOY_PYX = """\
# Mirrors mm/toy.c
from somewhere cimport thing

HUNKS = {
    "mm/toy.c#1": ("toy_alloc",),
    "mm/toy.c#2": ("toy_free", "toy_helper"),
}

cdef int toy_alloc(int n) noexcept nogil:
    \"\"\"mm/toy.c: allocate.\"\"\"
    # mm/toy.c#1: the new line
    return n + 1


cdef void toy_free(int n) noexcept nogil:
    pass

# helpers
cdef inline int toy_helper(int n,
                           int m) noexcept nogil:
    return n

cdef void after() noexcept nogil:
    pass
"""

TOY_PXD = """\
cdef struct toy:
    int x
    # the patch's counter
    int pending_nr
"""

TOY_TESTS = """\
import pytest

pytestmark = pytest.mark.hunk("mm/toy.c#1")

def test_alloc():
    pass

@pytest.mark.hunk("mm/toy.c#2", "include/linux/toy.h#1")
def test_free_and_struct():
    pass

@pytest.mark.hunk("include/linux/toy.h#1")
class TestToy:
    def test_field(self):
        pass

def helper_not_a_test():
    pass
"""


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "toy.patch").write_text(TOY_PATCH)
    pkg = tmp_path / "toykmm"
    (pkg / "mm").mkdir(parents=True)
    (pkg / "include_" / "linux").mkdir(parents=True)
    (pkg / "mm" / "toy.pyx").write_text(TOY_PYX)
    (pkg / "include_" / "linux" / "toy.pxd").write_text(TOY_PXD)
    tests = tmp_path / "tests" / "hunks"
    tests.mkdir(parents=True)
    (tests / "test_toy.py").write_text(TOY_TESTS)
    return tmp_path


PYX_HUNKS = {"mm/toy.c#1": ("toy_alloc",), "mm/toy.c#2": ("toy_free", "toy_helper")}
PXD_HUNKS = {"include/linux/toy.h#1": ("toy.pxd:toy.pending_nr",)}


def toy_map(root, pyx=PYX_HUNKS, pxd=PXD_HUNKS, tests=True):
    """The map load() would build from the toy package's declarations."""
    hmap = hm.HunkMap()
    hm.add_declarations(hmap, "toykmm.mm.toy", pyx, root / "toykmm" / "mm" / "toy.pyx", False, root)
    hm.add_declarations(hmap, "toykmm.include_.linux", pxd,
                        root / "toykmm" / "include_" / "linux" / "__init__.py", True, root)
    if tests:
        hm.scan_tests(hmap, root / "tests" / "hunks", root)
    return hmap


def test_checker_passes_when_every_hunk_is_mapped(toy):
    hmap = toy_map(toy)
    assert hm.check(toy / "toy.patch", hmap) == []
    assert hm.summary(parse_patch(toy / "toy.patch"), hmap) == (3, 3, 3, 0)
    m = hmap.mirrors["mm/toy.c#1"][0]
    assert (m.symbol, m.file, m.start, m.end, m.kind) == ("toy_alloc", "toykmm/mm/toy.pyx", 9, 12,
                                                         "function")
    assert m.focus == (11,)              # the line that names the hunk
    assert m.source().splitlines()[0].startswith("cdef int toy_alloc(")
    helper = hmap.mirrors["mm/toy.c#2"][1]
    assert (helper.start, helper.end) == (18, 21)        # comment above, continued signature
    field = hmap.mirrors["include/linux/toy.h#1"][0]
    assert (field.file, field.start, field.end, field.kind) == (
        "toykmm/include_/linux/toy.pxd", 3, 4, "field")
    assert hmap.tests == {
        # the module's pytestmark applies to every test in it, the class's too
        "mm/toy.c#1": ["tests/hunks/test_toy.py::test_alloc", "tests/hunks/test_toy.py::test_free_and_struct",
                       "tests/hunks/test_toy.py::TestToy::test_field"],
        "mm/toy.c#2": ["tests/hunks/test_toy.py::test_free_and_struct"],
        "include/linux/toy.h#1": ["tests/hunks/test_toy.py::test_free_and_struct",
                                  "tests/hunks/test_toy.py::TestToy::test_field"],
    }


def test_checker_fails_naming_the_hunk_whose_mirror_is_removed(toy):
    hmap = toy_map(toy)
    del hmap.mirrors["mm/toy.c#2"]           # as if the declaration were deleted
    assert hm.check(toy / "toy.patch", hmap) == [
        "mm/toy.c#2: no mirror (declare it in HUNKS of the mirroring module; docs/study.md)"]
    hmap = toy_map(toy, pyx={"mm/toy.c#1": ("toy_alloc",)})
    problems = hm.check(toy / "toy.patch", hmap)
    assert len(problems) == 1 and problems[0].startswith("mm/toy.c#2: no mirror")


def test_checker_fails_on_missing_test_missing_symbol_and_bad_ids(toy):
    assert hm.check(toy / "toy.patch", toy_map(toy, tests=False)) == [
        f"{h}: no test (mark one in tests/hunks/ with @pytest.mark.hunk({h!r}))"
        for h in ("mm/toy.c#1", "mm/toy.c#2", "include/linux/toy.h#1")]
    renamed = {"mm/toy.c#1": ("toy_alloc",), "mm/toy.c#2": ("toy_free", "toy_helpr")}
    assert hm.check(toy / "toy.patch", toy_map(toy, pyx=renamed)) == [
        "mm/toy.c#2: mirror toy_helpr not found in toykmm/mm/toy.pyx (declared in toykmm.mm.toy)"]
    typo = dict(PYX_HUNKS, **{"mm/toy.c#3": ("after",), "mm/other.c#1": ("after",)})
    assert hm.check(toy / "toy.patch", toy_map(toy, pyx=typo)) == [
        "mm/toy.c#3: declared in toykmm.mm.toy but the patch has no such hunk (mm/toy.c has 2)"]
    # a package __init__ must name the .pxd; malformed declarations are reported
    bad = hm.HunkMap()
    hm.add_declarations(bad, "toykmm.include_.linux", {"include/linux/toy.h#1": ("toy.pending_nr",),
                                                       "toy.h": ("x",), "a.h#1": 5},
                        toy / "toykmm" / "include_" / "linux" / "__init__.py", True, toy)
    hm.add_declarations(bad, "toykmm.mm.toy", ["mm/toy.c#1"], toy / "toykmm" / "mm" / "toy.pyx", False, toy)
    assert len(bad.errors) == 4
    assert "needs its file, e.g. 'mmzone.pxd:toy.pending_nr'" in bad.errors[0]
    assert "FILE#N" in bad.errors[1] and "expected a tuple" in bad.errors[2]
    assert "HUNKS is a list" in bad.errors[3]


WS_PATCH = TOY_PATCH.replace("""@@ -40,2 +41,3 @@ static void toy_free(int n)
 d
+e
 f
""", """@@ -40,3 +41,3 @@ static void toy_free(int n)
 d
-\tf(x,  y);
+\tf(x, y);
 g
""")


def test_checker_wants_whitespace_hunks_declared_without_behaviour_and_untested(toy):
    # toy.c#2 now only changes blanks: its test (test_free_and_struct marks it)
    # cannot fail because of it, and it must be declared without behaviour
    (toy / "ws.patch").write_text(WS_PATCH)
    hmap = toy_map(toy)
    assert hm.whitespace_only(parse_patch(toy / "ws.patch").hunk("mm/toy.c#2"))
    assert not hm.whitespace_only(parse_patch(toy / "ws.patch").hunk("mm/toy.c#1"))
    assert hm.check(toy / "ws.patch", hmap) == [
        "mm/toy.c#2: changes only whitespace: declare it in HUNKS_WITHOUT_BEHAVIOUR of its "
        "mirroring module, with no test"]
    hm.add_without_behaviour(hmap, "toykmm.mm.toy", ("mm/toy.c#2",))
    assert hm.check(toy / "ws.patch", hmap) == [
        "mm/toy.c#2: has no behaviour (whitespace only) but "
        "tests/hunks/test_toy.py::test_free_and_struct is marked as its test, which cannot "
        "fail because of it"]
    hmap.tests["mm/toy.c#2"] = []
    assert hm.check(toy / "ws.patch", hmap) == []
    assert hm.summary(parse_patch(toy / "ws.patch"), hmap) == (3, 3, 2, 1)
    # declared without behaviour, but the original toy.c#2 adds a line
    assert hm.check(toy / "toy.patch", hmap) == [
        "mm/toy.c#2: declared without behaviour in toykmm.mm.toy but it changes more than "
        "whitespace"]
    bad = hm.HunkMap()
    hm.add_without_behaviour(bad, "toykmm.mm.toy", "mm/toy.c#2")
    hm.add_without_behaviour(bad, "toykmm.mm.toy", ("toy.c",))
    assert len(bad.errors) == 2 and "expected a tuple" in bad.errors[0]


def test_load_imports_declaring_modules(toy, monkeypatch):
    # A pure-Python stand-in for the compiled module (toy.py beside toy.pyx)
    # and a package __init__ declaring a .pxd mirror; a .pyx that declares
    # HUNKS but was never built is reported, not skipped.
    pkg = toy / "toykmm"
    for d in (pkg, pkg / "mm", pkg / "include_"):
        (d / "__init__.py").write_text("")
    (pkg / "include_" / "linux" / "__init__.py").write_text(f"HUNKS = {PXD_HUNKS!r}\n")
    (pkg / "mm" / "toy.py").write_text(f"HUNKS = {PYX_HUNKS!r}\n")
    (pkg / "mm" / "unbuilt.pyx").write_text('HUNKS = {"mm/toy.c#1": ("x",)}\n')
    monkeypatch.syspath_prepend(str(toy))
    hmap = hm.load("toykmm", tests_dir=toy / "tests" / "hunks")
    assert [p for p in hm.check(toy / "toy.patch", hmap)] == [
        p for p in hmap.errors]
    assert len(hmap.errors) == 1 and hmap.errors[0].startswith("toykmm.mm.unbuilt: cannot import")
    assert {h: [m.symbol for m in ms] for h, ms in hmap.mirrors.items()} == {
        "mm/toy.c#1": ["toy_alloc"], "mm/toy.c#2": ["toy_free", "toy_helper"],
        "include/linux/toy.h#1": ["toy.pending_nr"]}


def test_tool_exit_codes(toy):
    tool = ROOT / "tools" / "check_hunk_map.py"
    r = subprocess.run([sys.executable, str(tool), str(toy / "toy.patch")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "mm/toy.c#2: no mirror" in r.stdout
    assert r.stdout.splitlines()[-1] == "3 hunks, 0 mirrored, 0 tested: 6 problems"
    r = subprocess.run([sys.executable, str(tool), str(toy / "nope.patch")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no such patch file" in r.stderr


def test_locate_kinds():
    text = textwrap.dedent("""\
        cdef enum:  # enum things
            A_THING = 1
            # the patch's
            B_THING

        ctypedef unsigned long pgprot_t

        cdef struct pglist_data

        cdef struct pglist_data:
            int nr_zones
            llist_head migrc_reqs        # seed patch

        cdef int node_load[4]

        @cython.cdivision(True)
        cdef inline long f(long a) noexcept nogil:
            return a

        cdef class Machine:
            def alloc_pages(self, order=0):
                return None
        """)
    got = {s: locate(text, s) for s in ("A_THING", "B_THING", "pgprot_t", "pglist_data",
                                         "pglist_data.migrc_reqs", "node_load", "f",
                                         "Machine.alloc_pages", "Machine", "missing")}
    assert {s: (v.start, v.end, v.kind) if v else None for s, v in got.items()} == {
        "A_THING": (2, 2, "enum member"), "B_THING": (3, 4, "enum member"),
        "pgprot_t": (6, 6, "ctypedef"), "pglist_data": (10, 12, "struct"),
        "pglist_data.migrc_reqs": (12, 12, "field"), "node_load": (14, 14, "variable"),
        "f": (16, 18, "function"), "Machine.alloc_pages": (21, 22, "method"),
        "Machine": (20, 22, "class"), "missing": None}
