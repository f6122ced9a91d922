"""Find a symbol's source span in a .pyx/.pxd file by reading its text
(emulator-only, pure Python; no Cython parser needed).

locate(text, symbol) -> Span | None.  A symbol is one of

* a function: ``cdef [inline] TYPE name(``, ``cpdef ... name(``,
  ``def name(`` -- the span runs from its def line (decorators included)
  to the next statement at the same or a lower indentation;
* a struct, union, enum or cdef class: ``cdef struct name:``,
  ``ctypedef struct name:``, ``cdef enum name:``, ``cdef class name`` --
  the whole indented block;
* a struct field or enum member: ``STRUCT.FIELD`` (``zone.migrc_pending_nr``)
  or a bare enum member name (``PG_migrc``) -- that one line, with the
  comment lines directly above it;
* a ctypedef, a module-level C variable or Python name (``ctypedef ... name``,
  ``cdef TYPE name``, ``name = ...``) -- that one statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENT = r"[A-Za-z_]\w*"


@dataclass(frozen=True)
class Span:
    start: int            # 1-based first line
    end: int              # 1-based last line (inclusive)
    kind: str             # "function", "struct", "field", "enum member", ...


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _blank(line: str) -> bool:
    return not line.strip()


def _header_end(lines: list[str], i: int) -> int:
    """Index of the last line of a statement starting at i (follows open
    parentheses and trailing backslashes across lines)."""
    depth = 0
    j = i
    while j < len(lines):
        code = lines[j].split("#", 1)[0]
        depth += sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
        if depth <= 0 and not code.rstrip().endswith("\\"):
            return j
        j += 1
    return len(lines) - 1


def _block_end(lines: list[str], i: int) -> int:
    """Last line of the block whose header starts at line index i: up to the
    next non-blank line (comments included) indented no deeper than the
    header, trailing blank lines trimmed."""
    base = _indent(lines[i])
    j = _header_end(lines, i) + 1
    last = j - 1
    while j < len(lines):
        ln = lines[j]
        if not _blank(ln):
            if _indent(ln) <= base:
                break
            last = j
        j += 1
    return last


def _with_decorators(lines: list[str], i: int) -> int:
    base = _indent(lines[i])
    while i > 0 and lines[i - 1].lstrip().startswith("@") and _indent(lines[i - 1]) == base:
        i -= 1
    return i


def _with_comments(lines: list[str], i: int) -> int:
    base = _indent(lines[i])
    while i > 0 and lines[i - 1].lstrip().startswith("#") and _indent(lines[i - 1]) == base:
        i -= 1
    return i


def _find_function(lines, name):
    pat = re.compile(rf"^\s*(?:(?:cdef|cpdef)\b[^(#=]*?[\s*&]|def\s+){re.escape(name)}\s*\(")
    for i, ln in enumerate(lines):
        if pat.match(ln):
            return Span(_with_comments(lines, _with_decorators(lines, i)) + 1,
                        _block_end(lines, i) + 1, "function")
    return None


_BLOCK = re.compile(
    rf"^\s*(?:cdef|ctypedef)\s+(?:packed\s+|public\s+|readonly\s+|extern\s+)*"
    rf"(?P<kind>struct|union|enum|class)\s+(?P<name>{_IDENT})\b[^:#]*:")


def _find_block(lines, name, kinds=("struct", "union", "enum", "class")):
    for i, ln in enumerate(lines):
        m = _BLOCK.match(ln)
        if m and m["name"] == name and m["kind"] in kinds:
            return i, Span(_with_comments(lines, _with_decorators(lines, i)) + 1,
                           _block_end(lines, i) + 1, m["kind"])
    return None


def _member_line(lines, start, end, name, kind):
    """Line (index) within lines[start+1..end] of member `name`: a field
    declaration ``TYPE name``, ``TYPE *name``, ``TYPE name[N]``, an enum
    member ``name`` / ``name = value``, or a method."""
    field = re.compile(rf"^\s+(?!#)[^#(=]*?[\s*&]{re.escape(name)}\s*(?:\[[^\]]*\])?\s*(?:#.*)?$")
    member = re.compile(rf"^\s+{re.escape(name)}\s*(?:=[^#]*)?,?\s*(?:#.*)?$")
    method = re.compile(rf"^\s+(?:(?:cdef|cpdef)\b[^(#=]*?[\s*&]|def\s+){re.escape(name)}\s*\(")
    for j in range(start + 1, end + 1):
        ln = lines[j]
        if method.match(ln):
            return Span(_with_decorators(lines, j) + 1, _block_end(lines, j) + 1, "method")
        if field.match(ln) or member.match(ln):
            return Span(_with_comments(lines, j) + 1, j + 1, "enum member" if kind == "enum" else "field")
    return None


def _find_enum_member(lines, name):
    for i, ln in enumerate(lines):
        m = re.match(r"^(\s*)cdef\s+(?:public\s+)?enum\b[^:#]*:\s*(?:#.*)?$", ln)
        if not m:
            continue
        end = _block_end(lines, i)
        span = _member_line(lines, i, end, name, "enum")
        if span:
            return span
    return None


def _find_statement(lines, name):
    n = re.escape(name)
    pats = [
        re.compile(rf"^\s*ctypedef\s+[^#]*?\b{n}\s*(?:\[[^\]]*\])?\s*(?:#.*)?$"),
        re.compile(rf"^\s*ctypedef\s+[^#]*\(\s*\*\s*{n}\s*\)"),
        re.compile(rf"^\s*cdef\s+(?!struct|union|enum|class|inline|extern)[^#(=]*?[\s*&]{n}\s*(?:\[[^\]]*\])?\s*(?:=.*)?(?:#.*)?$"),
        re.compile(rf"^{n}\s*(?::[^=]*)?=(?!=)"),
    ]
    for i, ln in enumerate(lines):
        if any(p.match(ln) for p in pats):
            kind = "ctypedef" if ln.lstrip().startswith("ctypedef") else "variable"
            return Span(_with_comments(lines, i) + 1, _header_end(lines, i) + 1, kind)
    return None


def locate(text: str, symbol: str) -> Span | None:
    """The span of `symbol` in the .pyx/.pxd `text`, or None."""
    lines = text.splitlines()
    if "." in symbol:
        outer, _, member = symbol.partition(".")
        found = _find_block(lines, outer)
        if not found:
            return None
        i, span = found
        return _member_line(lines, i, span.end - 1, member, span.kind)
    return (_find_function(lines, symbol)
            or (_find_block(lines, symbol) or (None, None))[1]
            or _find_enum_member(lines, symbol)
            or _find_statement(lines, symbol))
