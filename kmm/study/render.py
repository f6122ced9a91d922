"""`kmm study PATCH [--html OUT]`: each hunk of a patch, in patch order,
next to the emulator code that mirrors it and the tests that check it
(emulator-only, pure Python).

The terminal output uses rich (plain text when stdout is not a terminal);
the HTML page is one self-contained file (inline CSS from pygments, no
scripts, no external assets): a table of contents, then one
``<section class="hunk">`` per hunk with the kernel hunk on the left and its
mirrors on the right, linked both ways.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from pygments import highlight, lex
from pygments.formatters import HtmlFormatter
from pygments.lexers import CLexer, CythonLexer
from pygments.token import STANDARD_TYPES

import kmm
from kmm.emu.config import KmmConfigError
from kmm.study import hunkmap as hm
from kmm.study.patch import Hunk, Patch, parse_patch


def summary_line(patch: Patch, hmap: hm.HunkMap) -> str:
    n, mirrored, tested, without = hm.summary(patch, hmap)
    line = f"{n} hunks, {mirrored} mirrored, {tested} tested"
    return f"{line}, {without} without behaviour" if without else line


# --- terminal ---------------------------------------------------------------

def make_console():
    """A rich console on stdout: colours on a terminal, plain text (120
    columns unless COLUMNS says otherwise) when piped."""
    import os
    import sys

    from rich.console import Console
    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(highlight=False, width=120 if piped else None)


def render_terminal(patch: Patch, hmap: hm.HunkMap, problems: list[str], console=None) -> None:
    from rich.rule import Rule
    from rich.syntax import Syntax
    from rich.text import Text

    con = console or make_console()
    title = Text.assemble(("kmm study: ", "bold"), (Path(patch.source).name, "bold cyan"))
    if patch.subject:
        title.append(f"  {patch.subject}")
    con.print(title)
    for r in patch.repairs:
        con.print(Text(f"  (mail text) {r}", style="dim"), soft_wrap=True)
    hunks = patch.hunks
    for k, h in enumerate(hunks, 1):
        con.print()
        con.print(Rule(Text.assemble((f"{k}/{len(hunks)} ", "dim"), (h.id, "bold"),
                                     ("  " + h.header, "dim")), align="left"))
        con.print(Syntax(h.text().rstrip("\n"), "diff", theme="ansi_dark", background_color="default",
                         word_wrap=True))
        mirrors = hmap.mirrors.get(h.id, [])
        if not mirrors:
            con.print(Text("no mirror", style="bold red"))
        for m in mirrors:
            if not m.found:
                con.print(Text(f"mirror {m.symbol}: NOT FOUND ({m.error}; declared in "
                               f"{m.declared_in})", style="bold red"))
                continue
            con.print(Text.assemble(("mirror ", "bold green"), (m.symbol, "bold"),
                                    (f" ({m.kind})  ", "dim"), (m.where, "cyan")))
            con.print(Syntax(m.source().rstrip("\n"), "cython", theme="ansi_dark", background_color="default",
                             line_numbers=True, start_line=m.start, word_wrap=True,
                             highlight_lines=set(m.focus)))
        tests = hmap.tests.get(h.id, [])
        if tests:
            for t in tests:
                con.print(Text.assemble(("test ", "bold green"), t), soft_wrap=True)
        elif h.id in hmap.without_behaviour:
            con.print(Text("no behaviour (whitespace only): nothing to test", style="dim"))
        else:
            con.print(Text("no test", style="bold red"))
    con.print()
    if problems:
        con.print(Text(f"hunk-map problems ({len(problems)}):", style="bold yellow"))
        for p in problems:
            con.print(Text(f"  {p}"), soft_wrap=True)
    con.print(Text(summary_line(patch, hmap), style="bold"))


# --- HTML -------------------------------------------------------------------

_CSS = """
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1f2328; background: #f6f8fa; }
header, nav, main, #problems, footer { max-width: 1800px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 16px; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.15em; }
code, pre, .code, .hl { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
                        font-size: 13px; }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
.subject { margin: 0 0 6px; color: #57606a; }
.summary { display: inline-block; margin: 4px 0 10px; padding: 4px 10px; border-radius: 6px;
           background: #ddf4ff; border: 1px solid #54aeff; font-weight: 600; }
.note { color: #57606a; font-size: 0.9em; margin: 2px 0; }
nav table { border-collapse: collapse; background: #fff; border: 1px solid #d0d7de; width: 100%; }
nav td, nav th { padding: 3px 10px; border-bottom: 1px solid #eaeef2; text-align: left;
                 vertical-align: top; }
nav th { background: #f6f8fa; font-weight: 600; }
.ok { color: #1a7f37; font-weight: 600; }
.missing { color: #cf222e; font-weight: 600; }
section.hunk { margin: 18px 0; }
section.hunk > h2 { margin: 0; padding: 8px 12px; background: #fff; border: 1px solid #d0d7de;
                    border-bottom: none; border-radius: 6px 6px 0 0; display: flex;
                    flex-wrap: wrap; gap: 4px 12px; align-items: baseline; }
section.hunk > h2 .seq { color: #57606a; font-weight: 400; }
section.hunk > h2 .hdr { color: #57606a; font-weight: 400; font-size: 12px; }
section.hunk > h2 .up { margin-left: auto; font-size: 0.8em; font-weight: 400; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
        border: 1px solid #d0d7de; background: #fff; }
.pane { min-width: 0; }
.pane + .pane { border-left: 1px solid #d0d7de; }
.pane-title { padding: 5px 10px; background: #f6f8fa; border-bottom: 1px solid #eaeef2;
              font-size: 0.9em; }
.scroll { overflow: auto; max-height: 42em; }
table.diff { border-collapse: collapse; width: 100%; }
table.diff td { padding: 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; vertical-align: top; }
table.diff td.ln { color: #8c959f; text-align: right; user-select: none; width: 1%;
                   white-space: nowrap; overflow-wrap: normal;
                   font-size: 12px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
table.diff td.sign { width: 1%; user-select: none; white-space: nowrap; }
.hl .err { border: none; }
table.diff tr.add { background: #e6ffec; }
table.diff tr.add td.ln { background: #ccffd8; }
table.diff tr.del { background: #ffebe9; }
table.diff tr.del td.ln { background: #ffd7d5; }
table.diff tr.meta td { color: #57606a; font-style: italic; }
.mirror + .mirror { border-top: 3px double #d0d7de; }
.hl pre { margin: 0; padding: 4px 10px; line-height: 1.45; white-space: pre-wrap;
          overflow-wrap: anywhere; }
.hl .linenos { color: #8c959f; padding-right: 10px; user-select: none; }
.hl .hll { background: #fff8c5; }
.nomirror { margin: 14px; padding: 14px; border: 2px dashed #cf222e; border-radius: 6px;
            color: #cf222e; font-weight: 700; font-size: 1.1em; text-align: center; }
.notfound { margin: 10px; color: #cf222e; font-weight: 600; }
.tests { background: #fff; border: 1px solid #d0d7de; border-top: none; padding: 6px 12px;
         border-radius: 0 0 6px 6px; }
.tests ul { margin: 2px 0; padding-left: 20px; }
#problems ul { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px;
               padding: 8px 8px 8px 28px; }
footer { color: #57606a; font-size: 0.85em; padding-bottom: 30px; }
@media (max-width: 1000px) {
  .pair { grid-template-columns: minmax(0, 1fr); }
  .pane + .pane { border-left: none; border-top: 1px solid #d0d7de; }
}
@media print { .scroll { max-height: none; overflow: visible; } }
"""


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-")


def _ttype_class(tt) -> str:
    while tt not in STANDARD_TYPES:
        tt = tt.parent
    return STANDARD_TYPES[tt]


def _c_lines(texts: list[str], lexer=CLexer(stripnl=False, ensurenl=False)) -> list[str]:
    """Lines of C as pygments-classed spans (styled by the .hl CSS).  The
    lines are lexed together, so a comment spanning lines stays one."""
    out: list[list[str]] = [[]]
    for tt, val in lex("\n".join(texts), lexer):
        cls = _ttype_class(tt)
        for k, part in enumerate(val.split("\n")):
            if k:
                out.append([])
            if part:
                out[-1].append(f'<span class="{cls}">{_esc(part)}</span>' if cls else _esc(part))
    return ["".join(parts) for parts in out][:len(texts)]


def _diff_table(h: Hunk) -> str:
    rows = []
    numbered = list(h.numbered())
    code = _c_lines([body for _, _, _, body in numbered])
    for (kind, old, new, body), html_body in zip(numbered, code):
        if kind == "\\":
            rows.append(f'<tr class="meta"><td class="ln"></td><td class="ln"></td>'
                        f'<td class="sign"></td><td class="code">\\{_esc(body)}</td></tr>')
            continue
        cls = {"+": "add", "-": "del"}.get(kind, "ctx")
        rows.append(f'<tr class="{cls}"><td class="ln">{old or ""}</td><td class="ln">{new or ""}</td>'
                    f'<td class="sign code">{_esc(kind)}</td><td class="code">{html_body}</td></tr>')
    return f'<table class="diff hl">{"".join(rows)}</table>'


def _mirror_html(m: hm.Mirror, anchor: str, hunk_anchor: str, fmt_style: str) -> str:
    title = (f'<div class="pane-title"><a class="back" href="#{hunk_anchor}">&#8598; {_esc(m.hunk)}</a> '
             f'&nbsp;<code class="sym">{_esc(m.symbol)}</code> ')
    if not m.found:
        return (f'<div class="mirror" id="{anchor}" data-hunk="{_esc(m.hunk)}" '
                f'data-symbol="{_esc(m.symbol)}" data-found="0">{title}</div>'
                f'<div class="notfound">declared in {_esc(m.declared_in)} but not found: '
                f'{_esc(m.error)}</div></div>')
    fmt = HtmlFormatter(style=fmt_style, cssclass="hl", linenos="inline", linenostart=m.start,
                        hl_lines=[n - m.start + 1 for n in m.focus], wrapcode=True)
    code = highlight(m.source(), CythonLexer(), fmt)
    return (f'<div class="mirror" id="{anchor}" data-hunk="{_esc(m.hunk)}" '
            f'data-symbol="{_esc(m.symbol)}" data-found="1">{title}'
            f'<span class="kind">({_esc(m.kind)})</span> &mdash; '
            f'<code class="where">{_esc(m.file)}:{m.lines.replace("-", "&ndash;")}</code></div>'
            f'<div class="scroll">{code}</div></div>')


def render_html(patch: Patch, hmap: hm.HunkMap, problems: list[str], style: str = "default") -> str:
    hunks = patch.hunks
    used: set[str] = set()

    def anchor(base: str) -> str:
        a, k = base, 2
        while a in used:
            a, k = f"{base}-{k}", k + 1
        used.add(a)
        return a

    h_anchor = {h.id: anchor(f"hunk-{_slug(h.id)}") for h in hunks}
    m_anchor = {}
    for h in hunks:
        for k, m in enumerate(hmap.mirrors.get(h.id, []), 1):
            m_anchor[(h.id, k)] = anchor(f"mirror-{_slug(h.id)}-{k}")

    name = Path(patch.source).name
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f'<title>kmm study: {_esc(name)}</title>',
           f'<style>{_CSS}\n{HtmlFormatter(style=style).get_style_defs(".hl")}</style>',
           '</head><body>',
           f'<header id="top"><h1>kmm study &mdash; <code>{_esc(name)}</code></h1>']
    if patch.subject:
        out.append(f'<p class="subject">{_esc(patch.subject)}</p>')
    out.append(f'<p class="summary" id="summary">{_esc(summary_line(patch, hmap))}</p>')
    for r in patch.repairs:
        out.append(f'<p class="note">mail text: {_esc(r)}</p>')
    out.append('</header>')

    # table of contents
    out.append('<nav id="toc"><h2>Contents</h2><table><thead><tr><th>#</th><th>hunk</th>'
               '<th>kernel context</th><th>mirror</th><th>tests</th></tr></thead><tbody>')
    for k, h in enumerate(hunks, 1):
        mirrors = hmap.mirrors.get(h.id, [])
        if mirrors:
            links = ", ".join(
                f'<a href="#{m_anchor[(h.id, j)]}" class="{"ok" if m.found else "missing"}">'
                f'{_esc(m.symbol)}</a>' for j, m in enumerate(mirrors, 1))
        else:
            links = '<span class="missing">no mirror</span>'
        nt = len(hmap.tests.get(h.id, []))
        if nt:
            tests = f'<span class="ok">{nt}</span>'
        elif h.id in hmap.without_behaviour:
            tests = '<span class="note">no behaviour</span>'
        else:
            tests = '<span class="missing">no test</span>'
        out.append(f'<tr><td>{k}</td><td><a href="#{h_anchor[h.id]}">{_esc(h.id)}</a></td>'
                   f'<td><code>{_esc(h.function or h.context or "")}</code></td>'
                   f'<td>{links}</td><td>{tests}</td></tr>')
    out.append('</tbody></table></nav><main>')

    for k, h in enumerate(hunks, 1):
        ha = h_anchor[h.id]
        mirrors = hmap.mirrors.get(h.id, [])
        out.append(f'<section class="hunk" id="{ha}" data-hunk="{_esc(h.id)}" data-index="{k}">')
        out.append(f'<h2><span class="seq">{k}/{len(hunks)}</span> '
                   f'<a class="self" href="#{ha}">{_esc(h.id)}</a> '
                   f'<code class="hdr">{_esc(h.header)}</code>'
                   f'<a class="up" href="#toc">contents &#8593;</a></h2>')
        out.append('<div class="pair"><div class="pane kernel"><div class="pane-title">kernel '
                   f'<code>{_esc(h.file)}</code>')
        if mirrors:
            out.append(' &rarr; mirror: ' + ", ".join(
                f'<a class="to-mirror" href="#{m_anchor[(h.id, j)]}">{_esc(m.symbol)}</a>'
                for j, m in enumerate(mirrors, 1)))
        if any(h.missing):
            out.append(f' <span class="note">({h.missing[0]} old / {h.missing[1]} new lines '
                       'lost from the mail)</span>')
        out.append(f'</div><div class="scroll">{_diff_table(h)}</div></div>')
        out.append('<div class="pane emu">')
        if not mirrors:
            out.append('<div class="nomirror">no mirror</div>')
        for j, m in enumerate(mirrors, 1):
            out.append(_mirror_html(m, m_anchor[(h.id, j)], ha, style))
        out.append('</div></div>')
        tests = hmap.tests.get(h.id, [])
        if tests:
            out.append('<div class="tests">tests:<ul>' + "".join(
                f'<li><code>{_esc(t)}</code></li>' for t in tests) + '</ul></div>')
        elif h.id in hmap.without_behaviour:
            out.append('<div class="tests"><span class="note">no behaviour (whitespace only): '
                       'nothing to test</span></div>')
        else:
            out.append('<div class="tests"><span class="missing notest">no test</span></div>')
        out.append('</section>')
    out.append('</main>')
    if problems:
        out.append(f'<section id="problems"><h2>Hunk-map problems ({len(problems)})</h2><ul>'
                   + "".join(f"<li>{_esc(p)}</li>" for p in problems) + '</ul></section>')
    out.append(f'<footer>kmm {_esc(kmm.__version__)} &middot; <code>kmm study</code> &middot; '
               '<a href="#top">top</a></footer></body></html>\n')
    return "\n".join(out)


# --- the command --------------------------------------------------------------

def study(patch_path, html_out=None, console=None, hmap: hm.HunkMap | None = None) -> int:
    """Parse the patch, load the hunk map, print every hunk with its
    mirrors and tests, write the HTML page if asked.  Returns 0 when it
    rendered (unmapped hunks included); KmmConfigError on a missing,
    unreadable or malformed patch or an unwritable output."""
    patch = parse_patch(patch_path)
    if hmap is None:
        hmap = hm.load()
    problems = hm.check(patch, hmap)
    if html_out is not None:
        page = render_html(patch, hmap, problems)
        out = Path(html_out)
        try:
            out.write_text(page, encoding="utf-8")
        except OSError as e:
            raise KmmConfigError(f"--html {out}: cannot write: {e.strerror or e}") from None
    render_terminal(patch, hmap, problems, console=console)
    if html_out is not None:
        (console or make_console()).print(f"wrote {html_out}", markup=False, soft_wrap=True)
    return 0
