"""A unified-diff parser for `kmm study` (emulator-only, pure Python).

parse_patch(path) / parse_text(text) split a patch into files and hunks.
Each hunk gets the id the hunk map uses, ``FILE#N``: FILE is the kernel
path after ``b/`` and N the 1-based position of the hunk within its file
in this patch (``mm/migrate.c#3`` is the third ``@@`` of mm/migrate.c).

Two inputs are accepted:

* a well-formed patch (``git format-patch`` / ``git diff`` output, with or
  without a mail header before the first ``diff --git``): the line counts
  of every ``@@ -a,b +c,d @@`` header must match the lines that follow;
* the same diff as a mailing-list archive shows it: context lines have
  lost their leading space, blank context lines are gone (so a hunk holds
  fewer lines than its header counts) and ``&curren`` was turned into
  ``¤`` by an HTML-entity decoder.  The parser notices the missing
  prefixes, ends such a hunk at the next ``@@``/``diff``/file header or at
  the ``-- `` signature, restores ``&curren`` and records each repair in
  ``Patch.repairs``.

Anything else that cannot be a patch raises KmmConfigError naming the line:
a file without hunks, a malformed ``@@`` header, a hunk before any file
header, or (in a well-formed patch) a hunk whose lines do not match its
header's counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kmm.emu.config import KmmConfigError

_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(?: (.*))?$")
_VERSION = re.compile(r"^\d+(\.\d+)+")          # the line after git's "-- " signature
_FUNC = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_AGGREGATE = re.compile(r"\b(struct|union|enum)\s+([A-Za-z_]\w*)")
_ID = re.compile(r"^(?P<file>[^#\s]+)#(?P<n>[1-9]\d*)$")


@dataclass
class Hunk:
    """One ``@@`` hunk.  ``lines`` keep their one-character prefix
    (``' '``, ``'+'``, ``'-'`` or ``'\\'``); a mail's lost context prefix
    is put back as ``' '``."""

    file: str                    # kernel path, e.g. "mm/migrate.c"
    index: int                   # 1-based position within its file in this patch
    header: str                  # the whole "@@ -a,b +c,d @@ context" line
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    context: str                 # text after the second "@@" (the enclosing function line)
    function: str | None         # best-effort symbol of `context` ("migrate_pages_batch", "struct zone")
    lines: list[str]
    lineno: int                  # line of the header in the patch file (1-based)
    missing: tuple[int, int] = (0, 0)   # (old, new) lines the header counts but the text lost

    @property
    def id(self) -> str:
        return f"{self.file}#{self.index}"

    @property
    def added(self) -> list[str]:
        return [ln[1:] for ln in self.lines if ln.startswith("+")]

    @property
    def removed(self) -> list[str]:
        return [ln[1:] for ln in self.lines if ln.startswith("-")]

    def text(self) -> str:
        """The hunk as unified-diff text: header and lines."""
        return "\n".join([self.header, *self.lines]) + "\n"

    def numbered(self):
        """Yield (kind, old_lineno, new_lineno, text) for each line:
        kind is ' ', '+', '-' or '\\'; a line number is None where the
        line is not on that side.  After a line lost from a mail the
        numbers may run short."""
        old, new = self.old_start, self.new_start
        for ln in self.lines:
            kind, body = ln[:1], ln[1:]
            if kind == "+":
                yield kind, None, new, body
                new += 1
            elif kind == "-":
                yield kind, old, None, body
                old += 1
            elif kind == "\\":
                yield kind, None, None, body
            else:
                yield " ", old, new, body
                old += 1
                new += 1


@dataclass
class FilePatch:
    path: str                    # new path (after "b/"); the old one for a deleted file
    old_path: str | None
    lineno: int                  # line of its "diff --git" or "---" header
    hunks: list[Hunk] = field(default_factory=list)


@dataclass
class Patch:
    source: str                  # the file name (or "<text>")
    files: list[FilePatch]
    mail: bool = False           # context prefixes were lost (mailing-list archive text)
    repairs: list[str] = field(default_factory=list)
    subject: str | None = None

    @property
    def hunks(self) -> list[Hunk]:
        return [h for f in self.files for h in f.hunks]

    def hunk(self, hunk_id: str) -> Hunk:
        for h in self.hunks:
            if h.id == hunk_id:
                return h
        raise KeyError(hunk_id)

    @property
    def ids(self) -> list[str]:
        return [h.id for h in self.hunks]


def split_id(hunk_id: str) -> tuple[str, int]:
    """'mm/migrate.c#3' -> ('mm/migrate.c', 3); KmmConfigError otherwise."""
    m = _ID.match(hunk_id) if isinstance(hunk_id, str) else None
    if not m:
        raise KmmConfigError(f"hunk id {hunk_id!r}: expected FILE#N, e.g. 'mm/migrate.c#3'")
    return m["file"], int(m["n"])


def function_of(context: str) -> str | None:
    """The symbol a hunk header's context names: the first identifier
    followed by '(' (a function), else 'struct NAME' / 'enum NAME'."""
    context = context.strip()
    m = _FUNC.search(context)
    if m:
        return m.group(1)
    m = _AGGREGATE.search(context)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    return None


def _strip_prefix(path: str, prefix: str) -> str:
    path = path.split("\t", 1)[0].strip()
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    return path[len(prefix):] if path.startswith(prefix) else path


def _is_signature(lines: list[str], i: int) -> bool:
    """git format-patch's "-- " line followed by the version (or nothing)."""
    if lines[i].rstrip() != "--":
        return False
    rest = [ln for ln in lines[i + 1:] if ln.strip()]
    return not rest or bool(_VERSION.match(rest[0]))


def _file_header_at(lines: list[str], i: int) -> bool:
    return (lines[i].startswith("--- ") and i + 1 < len(lines)
            and lines[i + 1].startswith("+++ "))


def _boundary(lines: list[str], i: int) -> bool:
    ln = lines[i]
    return (ln.startswith("@@") or ln.startswith("diff --git ")
            or _file_header_at(lines, i) or _is_signature(lines, i))


def _subject(preamble: list[str]) -> str | None:
    """The mail's Subject: line, else the first line of the preamble."""
    for ln in preamble:
        if ln.lower().startswith("subject:"):
            return ln[len("subject:"):].strip() or None
    for ln in preamble:
        if ln.strip() and not ln.startswith("From "):
            return ln.strip()
    return None


def parse_text(text: str, source: str = "<text>") -> Patch:
    lines = text.splitlines()
    where = source
    files: list[FilePatch] = []
    cur: FilePatch | None = None
    pending_git: tuple[str, str, int] | None = None   # diff --git a/X b/Y seen, no ---/+++ yet
    lost_prefix: list[int] = []                       # line numbers of context lines without ' '
    short: list[tuple[Hunk, int]] = []                # hunks that ended before their counts
    excess: list[tuple[Hunk, int]] = []               # diff lines right after a complete hunk
    i = 0
    n = len(lines)
    while i < n:
        ln = lines[i]
        if ln.startswith("diff --git "):
            m = re.match(r"^diff --git (\S+) (\S+)", ln)
            if m:
                pending_git = (_strip_prefix(m.group(1), "a/"), _strip_prefix(m.group(2), "b/"), i + 1)
            cur = None
            i += 1
            continue
        if _file_header_at(lines, i):
            old = lines[i][4:]
            new = lines[i + 1][4:]
            old_path = None if old.startswith("/dev/null") else _strip_prefix(old, "a/")
            new_path = None if new.startswith("/dev/null") else _strip_prefix(new, "b/")
            path = new_path or old_path
            if path is None:
                raise KmmConfigError(f"{where}:{i + 1}: file header names /dev/null on both sides")
            cur = FilePatch(path=path, old_path=old_path,
                            lineno=pending_git[2] if pending_git else i + 1)
            files.append(cur)
            pending_git = None
            i += 2
            continue
        if ln.startswith("@@"):
            m = _HEADER.match(ln.rstrip("\r"))
            if not m:
                raise KmmConfigError(
                    f"{where}:{i + 1}: malformed hunk header {ln!r}; expected "
                    "'@@ -START,COUNT +START,COUNT @@ [context]'")
            if cur is None:
                if pending_git is not None:      # git header without ---/+++ (mode change...)
                    raise KmmConfigError(f"{where}:{i + 1}: hunk header after 'diff --git' "
                                         "without '--- a/FILE' and '+++ b/FILE' lines")
                raise KmmConfigError(f"{where}:{i + 1}: hunk header before any file header "
                                     "('--- a/FILE' / '+++ b/FILE')")
            a, b, c, d, ctx = m.groups()
            old_count = 1 if b is None else int(b)
            new_count = 1 if d is None else int(d)
            ctx = ctx or ""
            hunk = Hunk(file=cur.path, index=len(cur.hunks) + 1, header=ln.rstrip("\r"),
                        old_start=int(a), old_count=old_count, new_start=int(c),
                        new_count=new_count, context=ctx.strip(), function=function_of(ctx),
                        lines=[], lineno=i + 1)
            cur.hunks.append(hunk)
            ro, rn = old_count, new_count
            i += 1
            while i < n:
                body = lines[i].rstrip("\r")
                if ro <= 0 and rn <= 0:
                    if body.startswith("\\"):
                        hunk.lines.append(body)
                        i += 1
                        continue
                    if (body[:1] in ("+", "-", " ") and not _boundary(lines, i)):
                        excess.append((hunk, i + 1))
                    break
                if _boundary(lines, i):
                    break
                kind = body[:1]
                if kind == "+":
                    rn -= 1
                elif kind == "-":
                    ro -= 1
                elif kind == "\\":
                    pass
                else:
                    if kind != " ":
                        if body:                 # "" is a blank context line whose space got trimmed
                            lost_prefix.append(i + 1)
                        body = " " + body
                    ro -= 1
                    rn -= 1
                hunk.lines.append(body)
                i += 1
            if ro > 0 or rn > 0:
                short.append((hunk, i))          # its last line (1-based)
                hunk.missing = (max(ro, 0), max(rn, 0))
            continue
        i += 1

    files = [f for f in files if f.hunks]
    if not files:
        raise KmmConfigError(f"{where}: no hunks found (expected a unified diff with "
                             "'--- a/FILE', '+++ b/FILE' and '@@ -a,b +c,d @@' lines)")
    patch = Patch(source=source, files=files, mail=bool(lost_prefix),
                  subject=_subject(lines[:files[0].lineno - 1]))
    if not patch.mail:
        if short:
            h, at = short[0]
            raise KmmConfigError(
                f"{where}:{h.lineno}: hunk {h.id} '{h.header}' stops at line {at}, short of its "
                f"header's counts by {h.missing[0]} old and {h.missing[1]} new lines "
                "(truncated or hand-edited patch?)")
        if excess:
            h, at = excess[0]
            raise KmmConfigError(
                f"{where}:{at}: line continues hunk {h.id} '{h.header}' past the "
                f"{h.old_count} old and {h.new_count} new lines its header counts")
    else:
        patch.repairs.append(
            f"{len(lost_prefix)} context lines had lost their leading space (first at line "
            f"{lost_prefix[0]}); {len(short)} hunks hold fewer lines than their headers count "
            "(blank context lines lost)")
        for h in patch.hunks:
            fixed = 0
            for k, body in enumerate(h.lines):
                if "\u00a4" in body:
                    h.lines[k] = body.replace("\u00a4", "&curren")
                    fixed += 1
            if fixed:
                patch.repairs.append(f"{h.id}: '\u00a4' restored to '&curren' on {fixed} "
                                     f"line{'s' if fixed > 1 else ''} (HTML entity decoded "
                                     "by the archive)")
    return patch


def parse_patch(path) -> Patch:
    """Parse the patch at `path`.  KmmConfigError on an unreadable file or
    one that is not a patch (the message names the file and line)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise KmmConfigError(f"{p}: no such patch file") from None
    except IsADirectoryError:
        raise KmmConfigError(f"{p}: is a directory, not a patch file") from None
    except OSError as e:
        raise KmmConfigError(f"{p}: cannot read the patch: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_text(text, source=str(p))
