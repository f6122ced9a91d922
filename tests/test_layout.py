"""The layout keeps the promise the mirror makes (docs/architecture.md):

- kernel logic lives only in the mirror, kmm/linux/: no module-level function
  outside it (kmm/emu, the studies, tools, tests) carries the name of a
  mirrored kernel function -- a function of that name elsewhere would be a
  second copy of kernel logic.  Methods of the Python face may name the
  kernel entry they drive (Machine.alloc_pages drives __alloc_pages).
- the mirror never imports the face: kmm/linux/ may import the mirror, the
  emulated hardware (kmm.emu.hw), the debug facilities (kmm.emu.debug) and
  the current-machine pointer (kmm.emu.current), nothing else of kmm.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT / "kmm" / "linux"
ALLOWED = ("kmm.linux", "kmm.emu.hw", "kmm.emu.debug", "kmm.emu.current")

DEF = re.compile(r"^(?:cdef|cpdef|def)\s+(?:inline\s+)?(?:[\w\[\]]+[\s*]+)*?\**(\w+)\s*\(", re.M)
IMPORT = re.compile(r"^\s*(?:from\s+(kmm[\w.]*)\s+c?import|c?import\s+(kmm[\w.]*))", re.M)


def mirror_files():
    return sorted(p for p in MIRROR.rglob("*") if p.suffix in (".pyx", ".pxd", ".py"))


def defined(path):
    return set(DEF.findall(path.read_text()))


def mirrored_names():
    names = set()
    for p in mirror_files():
        names |= defined(p)
    return names


def test_the_regex_sees_mirrored_functions():
    names = mirrored_names()
    # a few the kernel has, in headers (inline) and in .c files
    for n in ("__alloc_pages", "migrate_pages_batch", "flush_tlb_mm_range", "folio_put",
              "set_tlb_ubc_flush_pending", "change_prot_numa", "pte_pfn"):
        assert n in names, n
    assert len(names) > 300


def test_no_mirrored_kernel_function_is_defined_outside_the_mirror():
    names = mirrored_names()
    outside = [p for p in sorted((ROOT / "kmm").rglob("*"))
               if p.suffix in (".pyx", ".pxd", ".py") and MIRROR not in p.parents]
    outside += sorted((ROOT / "tools").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    clashes = [f"{p.relative_to(ROOT)}: {n}" for p in outside for n in sorted(defined(p) & names)]
    assert clashes == []


def test_the_mirror_imports_nothing_from_the_face():
    bad = []
    for p in mirror_files():
        for a, b in IMPORT.findall(p.read_text()):
            mod = a or b
            if not mod.startswith(ALLOWED):
                bad.append(f"{p.relative_to(ROOT)}: {mod}")
    assert bad == []


def test_the_top_of_kmm_shows_the_rooms():
    """kmm/linux is the mirror, kmm/emu the emulated machine; everything
    else at the top is a study or the command line."""
    top = sorted(p.name for p in (ROOT / "kmm").iterdir()
                 if p.name not in ("__pycache__",) and not p.name.endswith((".so", ".c")))
    assert top == ["__init__.py", "cli.py", "emu", "experiments", "hazards", "linux", "report",
                   "study", "workloads"]
    assert sorted(p.name for p in MIRROR.iterdir() if p.is_dir() and p.name != "__pycache__") == \
        ["arch", "fs", "include_", "kernel", "lib", "mm"]
