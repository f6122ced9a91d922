"""The hunk map: which emulator code mirrors which hunk of the seed patch,
and which tests check it (emulator-only, pure Python).

Declarations live next to the mirrors (see docs/study.md):

* a mirroring ``.pyx`` module has a module-level dict ``HUNKS``::

      HUNKS = {
          "mm/migrate.c#1": ("migrc_mark_pending", "migrc_under_processing"),
          "mm/migrate.c#4": ("migrate_pages_batch",),
      }

  A bare symbol is looked up in the module's own ``.pyx``; ``"FILE:SYMBOL"``
  names a file beside it (``"migrate.pxd:migrc_req_start"``).

* a hunk that changes only whitespace (blank lines, indentation) has no
  behaviour to test: the mirroring module lists it beside HUNKS::

      HUNKS_WITHOUT_BEHAVIOUR = ("mm/migrate.c#2",)

  check() verifies against the patch that such a hunk really changes only
  whitespace, and that no test claims it (a test cannot fail because of
  it); a whitespace-only hunk not listed there is a problem too.

* ``.pxd``-only mirrors (headers) are declared in the same way in the
  ``__init__.py`` of the package that holds the ``.pxd``; there every
  symbol names its file::

      HUNKS = {
          "include/linux/mmzone.h#1": ("mmzone.pxd:zone.migrc_pending_nr",),
      }

* tests: a test in ``tests/hunks/`` names its hunk with
  ``@pytest.mark.hunk("mm/migrate.c#3")`` (several ids allowed; a module's
  ``pytestmark`` and a class's marks apply to every test in them).  The
  tests are found by reading those files (ast), without running pytest.

load() imports every module that declares HUNKS and returns a HunkMap;
check(patch) lists the problems: a hunk with no mirror or (unless it has no
behaviour) no test, a symbol that is not in its file, an id that is not in
the patch.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from kmm.study.patch import Hunk, Patch, parse_patch, split_id
from kmm.study.source import locate

_DECL = re.compile(r"^HUNKS\s*(?::[^=]*)?=", re.MULTILINE)


@dataclass(frozen=True)
class Mirror:
    hunk: str                  # "mm/migrate.c#1"
    symbol: str                # kernel symbol as declared: "migrc_mark_pending", "zone.migrc_pending_nr"
    file: str                  # emulator file, relative to the repository root: "kmm/linux/mm/migrate.pyx"
    path: Path                 # the same, absolute
    start: int | None          # 1-based first line of its source, None when not found
    end: int | None            # 1-based last line (inclusive)
    kind: str | None           # "function", "struct", "field", "enum member", ...
    declared_in: str           # the module holding the declaration: "kmm.linux.mm.migrate"
    focus: tuple[int, ...] = ()    # lines in the span that mention the hunk id
    error: str | None = None   # why the source was not found

    @property
    def found(self) -> bool:
        return self.error is None

    @property
    def lines(self) -> str:
        """'131' or '129-135' (empty when not found)."""
        if not self.found:
            return ""
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.lines}" if self.found else self.file

    def source(self) -> str:
        if not self.found:
            return ""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return "\n".join(lines[self.start - 1:self.end]) + "\n"


@dataclass
class HunkMap:
    mirrors: dict[str, list[Mirror]] = field(default_factory=dict)
    tests: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    declared_by: dict[str, list[str]] = field(default_factory=dict)   # hunk id -> modules
    without_behaviour: dict[str, str] = field(default_factory=dict)   # hunk id -> declaring module

    def add_mirror(self, m: Mirror) -> None:
        self.mirrors.setdefault(m.hunk, []).append(m)
        mods = self.declared_by.setdefault(m.hunk, [])
        if m.declared_in not in mods:
            mods.append(m.declared_in)

    def add_test(self, hunk: str, name: str) -> None:
        names = self.tests.setdefault(hunk, [])
        if name not in names:
            names.append(name)


def repo_root() -> Path:
    """The checkout holding kmm/ (and tests/ in a development install)."""
    import kmm
    return Path(kmm.__file__).resolve().parent.parent


def default_tests_dir() -> Path:
    return repo_root() / "tests" / "hunks"


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _declaring_files(pkg_dir: Path):
    """(module name, declaring file, is_package) for every .pyx module and
    package __init__.py under pkg_dir whose text assigns HUNKS."""
    base = pkg_dir.parent
    for f in sorted(list(pkg_dir.rglob("*.pyx")) + list(pkg_dir.rglob("__init__.py"))):
        try:
            text = f.read_text(encoding="utf-8")
        except OSError:
            continue
        if not _DECL.search(text):
            continue
        parts = f.relative_to(base).with_suffix("").parts
        if f.name == "__init__.py":
            yield ".".join(parts[:-1]), f, True
        else:
            yield ".".join(parts), f, False


def _resolve(hmap: HunkMap, hunk: str, spec, module: str, declfile: Path,
             is_pkg: bool, root: Path, cache: dict) -> None:
    if not isinstance(spec, str) or not spec:
        hmap.errors.append(f"{module}.HUNKS[{hunk!r}]: {spec!r} is not a symbol name")
        return
    fname, sep, symbol = spec.rpartition(":")
    if sep:
        path = declfile.parent / fname
    elif is_pkg:
        hmap.errors.append(f"{module}.HUNKS[{hunk!r}]: {spec!r} needs its file, "
                           f"e.g. 'mmzone.pxd:{spec}' (a package __init__ declares .pxd mirrors)")
        return
    else:
        path = declfile
    rel = _rel(path, root)
    if path not in cache:
        try:
            cache[path] = path.read_text(encoding="utf-8")
        except OSError as e:
            cache[path] = None
            hmap.errors.append(f"{module}.HUNKS[{hunk!r}]: cannot read {rel}: {e.strerror or e}")
    text = cache[path]
    if text is None:
        hmap.add_mirror(Mirror(hunk, symbol, rel, path, None, None, None, module,
                               error=f"cannot read {rel}"))
        return
    span = locate(text, symbol)
    if span is None:
        hmap.add_mirror(Mirror(hunk, symbol, rel, path, None, None, None, module,
                               error=f"{symbol} not found in {rel}"))
        return
    lines = text.splitlines()
    focus = tuple(n for n in range(span.start, span.end + 1) if hunk in lines[n - 1])
    hmap.add_mirror(Mirror(hunk, symbol, rel, path, span.start, span.end, span.kind, module,
                           focus=focus))


def add_declarations(hmap: HunkMap, module: str, hunks, declfile: Path, is_pkg: bool,
                     root: Path, cache: dict | None = None) -> None:
    """Add one module's HUNKS dict to hmap (validating its shape)."""
    cache = {} if cache is None else cache
    if not isinstance(hunks, dict):
        hmap.errors.append(f"{module}.HUNKS is a {type(hunks).__name__}, expected a dict "
                           "{'FILE#N': ('symbol', ...)}")
        return
    for hunk, specs in hunks.items():
        try:
            split_id(hunk)
        except ValueError as e:
            hmap.errors.append(f"{module}.HUNKS: {e}")
            continue
        if isinstance(specs, str):
            specs = (specs,)
        if not isinstance(specs, (tuple, list)) or not specs:
            hmap.errors.append(f"{module}.HUNKS[{hunk!r}]: expected a tuple of symbol names, "
                               f"got {specs!r}")
            continue
        for spec in specs:
            _resolve(hmap, hunk, spec, module, declfile, is_pkg, root, cache)


def add_without_behaviour(hmap: HunkMap, module: str, ids) -> None:
    """Add one module's HUNKS_WITHOUT_BEHAVIOUR (a tuple of hunk ids)."""
    if isinstance(ids, str) or not isinstance(ids, (tuple, list)):
        hmap.errors.append(f"{module}.HUNKS_WITHOUT_BEHAVIOUR is {ids!r}, expected a tuple of "
                           "hunk ids ('FILE#N', ...)")
        return
    for hid in ids:
        try:
            split_id(hid)
        except (ValueError, TypeError, AttributeError) as e:
            hmap.errors.append(f"{module}.HUNKS_WITHOUT_BEHAVIOUR: {e}")
            continue
        hmap.without_behaviour[hid] = module


def whitespace_only(h: Hunk) -> bool:
    """Does the hunk change nothing but whitespace (its removed and added
    lines are the same text once every blank is dropped)?"""
    def squeeze(lines):
        return "".join("".join(ln.split()) for ln in lines)
    return squeeze(h.removed) == squeeze(h.added)


# --- tests ------------------------------------------------------------------

def _hunk_marks(decorators) -> tuple[list[str], list[str]]:
    """Hunk ids of @pytest.mark.hunk(...) / @mark.hunk(...) decorators (or a
    pytestmark value), and complaints about non-literal arguments."""
    ids, bad = [], []
    nodes = []
    for d in decorators:
        nodes.extend(d.elts if isinstance(d, (ast.List, ast.Tuple)) else [d])
    for d in nodes:
        if not (isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                and d.func.attr == "hunk"):
            continue
        owner = d.func.value
        if not ((isinstance(owner, ast.Attribute) and owner.attr == "mark")
                or (isinstance(owner, ast.Name) and owner.id == "mark")):
            continue
        for a in d.args:
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                ids.append(a.value)
            else:
                bad.append(f"line {d.lineno}: hunk marker argument must be a string literal")
        if not d.args:
            bad.append(f"line {d.lineno}: hunk marker names no hunk")
    return ids, bad


def scan_tests(hmap: HunkMap, tests_dir: Path, root: Path | None = None) -> None:
    """Add every test in tests_dir/**/*.py that carries a hunk marker."""
    tests_dir = Path(tests_dir)
    if not tests_dir.is_dir():
        return
    root = root or tests_dir.parent.parent
    for f in sorted(tests_dir.rglob("*.py")):
        rel = _rel(f, root.resolve())
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        except (OSError, SyntaxError) as e:
            hmap.errors.append(f"{rel}: cannot scan for hunk markers: {e}")
            continue
        module_ids: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
                ids, bad = _hunk_marks([node.value])
                module_ids += ids
                hmap.errors += [f"{rel}: {b}" for b in bad]

        def visit(body, prefix, inherited):
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                    ids, bad = _hunk_marks(node.decorator_list)
                    hmap.errors.extend(f"{rel}: {b}" for b in bad)
                    for h in inherited + ids:
                        hmap.add_test(h, f"{rel}::{prefix}{node.name}")
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    ids, bad = _hunk_marks(node.decorator_list)
                    hmap.errors.extend(f"{rel}: {b}" for b in bad)
                    for sub in node.body:
                        if (isinstance(sub, ast.Assign) and any(
                                isinstance(t, ast.Name) and t.id == "pytestmark" for t in sub.targets)):
                            more, bad = _hunk_marks([sub.value])
                            ids += more
                            hmap.errors.extend(f"{rel}: {b}" for b in bad)
                    visit(node.body, f"{prefix}{node.name}::", inherited + ids)

        visit(tree.body, "", module_ids)


# --- loading and checking ---------------------------------------------------

def load(package: str = "kmm", tests_dir=None) -> HunkMap:
    """Collect every HUNKS declaration under `package` (importing the
    compiled modules that have one) and every hunk-marked test in
    `tests_dir` (default: tests/hunks of the checkout; absent in an
    installed copy, where no tests are found)."""
    pkg = importlib.import_module(package)
    pkg_dir = Path(pkg.__file__).resolve().parent
    root = pkg_dir.parent
    hmap = HunkMap()
    cache: dict = {}
    for module, declfile, is_pkg in _declaring_files(pkg_dir):
        try:
            mod = importlib.import_module(module)
        except Exception as e:               # an unbuilt or broken module is a problem to report
            hmap.errors.append(f"{module}: cannot import to read HUNKS "
                               f"({type(e).__name__}: {e}); is it compiled?")
            continue
        if not hasattr(mod, "HUNKS"):
            hmap.errors.append(f"{module}: {_rel(declfile, root)} assigns HUNKS but the "
                               "imported module has none (stale build?)")
            continue
        add_declarations(hmap, module, mod.HUNKS, declfile, is_pkg, root, cache)
        if hasattr(mod, "HUNKS_WITHOUT_BEHAVIOUR"):
            add_without_behaviour(hmap, module, mod.HUNKS_WITHOUT_BEHAVIOUR)
    scan_tests(hmap, Path(tests_dir) if tests_dir is not None else root / "tests" / "hunks", root)
    return hmap


def check(patch, hmap: HunkMap | None = None) -> list[str]:
    """Problems of the hunk map against `patch` (a path or a parsed Patch),
    in patch order; [] when every hunk has a mirror whose source is found
    and at least one test, except a hunk without behaviour (whitespace
    only, declared in HUNKS_WITHOUT_BEHAVIOUR), which has none."""
    if not isinstance(patch, Patch):
        patch = parse_patch(patch)
    if hmap is None:
        hmap = load()
    problems = list(hmap.errors)
    ids = set(patch.ids)
    for h in patch.hunks:
        mirrors = hmap.mirrors.get(h.id, [])
        if not mirrors:
            problems.append(f"{h.id}: no mirror (declare it in HUNKS of the mirroring module; "
                            "docs/study.md)")
        for m in mirrors:
            if not m.found:
                problems.append(f"{h.id}: mirror {m.error} (declared in {m.declared_in})")
        if h.id in hmap.without_behaviour:
            if not whitespace_only(h):
                problems.append(f"{h.id}: declared without behaviour in "
                                f"{hmap.without_behaviour[h.id]} but it changes more than whitespace")
            for name in hmap.tests.get(h.id, []):
                problems.append(f"{h.id}: has no behaviour (whitespace only) but {name} is "
                                "marked as its test, which cannot fail because of it")
        elif whitespace_only(h):
            problems.append(f"{h.id}: changes only whitespace: declare it in "
                            "HUNKS_WITHOUT_BEHAVIOUR of its mirroring module, with no test")
        elif not hmap.tests.get(h.id):
            problems.append(f"{h.id}: no test (mark one in tests/hunks/ with "
                            f"@pytest.mark.hunk({h.id!r}))")
    # An id of a file the patch does not touch may belong to another patch;
    # one of a file it touches but past its hunks is a typo or stale.
    per_file: dict[str, int] = {}
    for h in patch.hunks:
        per_file[h.file] = per_file.get(h.file, 0) + 1
    files = set(per_file)
    for hid, mods in hmap.declared_by.items():
        f = split_id(hid)[0]
        if hid not in ids and f in files:
            problems.append(f"{hid}: declared in {', '.join(mods)} but the patch has no such "
                            f"hunk ({f} has {per_file[f]})")
    for hid, mod in hmap.without_behaviour.items():
        f = split_id(hid)[0]
        if hid not in ids and f in files:
            problems.append(f"{hid}: declared without behaviour in {mod} but the patch has no "
                            f"such hunk ({f} has {per_file[f]})")
    for hid, names in hmap.tests.items():
        try:
            f = split_id(hid)[0]
        except ValueError as e:
            problems.append(f"{names[0]}: {e}")
            continue
        if hid not in ids and f in files:
            problems.append(f"{hid}: marked on {names[0]} but the patch has no such hunk")
    return problems


def summary(patch: Patch, hmap: HunkMap) -> tuple[int, int, int, int]:
    """(hunks, hunks with a found mirror, hunks with a test, hunks declared
    without behaviour that change only whitespace)."""
    hs = patch.hunks
    mirrored = sum(any(m.found for m in hmap.mirrors.get(h.id, [])) for h in hs)
    tested = sum(bool(hmap.tests.get(h.id)) for h in hs)
    without = sum(h.id in hmap.without_behaviour and whitespace_only(h) for h in hs)
    return len(hs), mirrored, tested, without
