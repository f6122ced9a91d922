"""The README runs: every ```python block of README.md and of docs/*.md is
executed, top to bottom, each block in the namespace the previous blocks of
the same file left (in a subprocess with a timeout, so a crash or a hang
fails the test).  A block preceded by a `<!-- not-run -->` line is skipped.
The README's `kmm ...` command lines must parse with kmm's own parser (they
are not run), and every option the README names must exist."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from kmm import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_RUN = "<!-- not-run -->"
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks(path, lang):
    """[(first line number, text)] of the ```lang blocks of a Markdown file,
    without those marked not-run."""
    out, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        if m.group(1) == lang and prev != NOT_RUN:
            out.append((i + 2, "\n".join(lines[i + 1:j]) + "\n"))
        i = j + 1
    return out


# Runs the blocks of one file in one namespace; stops at the first failure
# with a traceback whose file name is "FILE:LINE" of the block.
RUNNER = """\
import json, sys, traceback
name, todo = json.load(sys.stdin)
ns = {"__name__": "__readme__"}
for line, code in todo:
    try:
        exec(compile(code, f"{name}:{line}", "exec"), ns)
    except BaseException:
        print(f"block at {name}:{line} failed", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""

DOCS = [README] + sorted((ROOT / "docs").glob("*.md"))
# Docs whose python blocks are known not to run yet (strict: the entry must
# go when they are made runnable or marked not-run).
FRAGMENTS = {}


def python_docs():
    out = []
    for p in DOCS:
        rel = str(p.relative_to(ROOT))
        if not blocks(p, "python"):
            continue
        marks = [pytest.mark.xfail(strict=True, reason=FRAGMENTS[rel])] if rel in FRAGMENTS else []
        out.append(pytest.param(p, id=rel, marks=marks))
    return out


@pytest.mark.parametrize("path", python_docs())
def test_python_blocks_run(path):
    todo = blocks(path, "python")
    rel = str(path.relative_to(ROOT))
    p = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps([rel, todo]),
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]


def test_readme_has_runnable_blocks_and_few_not_run_marks():
    text = README.read_text()
    assert len(blocks(README, "python")) >= 5
    assert text.count(NOT_RUN) <= 1


# -- the README's command lines ------------------------------------------------------------

def sh_commands(text):
    """Every `kmm ...` command of the ```sh blocks (split at && and ;,
    comments dropped)."""
    cmds = []
    for blk in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        for line in blk.splitlines():
            line = line.split(" #", 1)[0].strip()
            for part in re.split(r"&&|;", line):
                part = part.strip()
                if part.startswith("kmm ") or part == "kmm":
                    cmds.append(part)
    return cmds


def subparsers():
    parser = cli.make_parser()
    return parser, next(a for a in parser._actions if a.dest == "cmd").choices


def test_readme_sh_commands_parse():
    """The command lines of the README's ```sh blocks parse as they are."""
    cmds = sh_commands(README.read_text())
    parser, _ = subparsers()
    seen = set()
    for c in cmds:
        try:
            args, extra = parser.parse_known_args(shlex.split(c)[1:])
        except SystemExit as e:
            pytest.fail(f"README command {c!r} does not parse (exit {e.code})")
        assert extra == [], f"README command {c!r}: unknown {extra}"
        seen.add(args.cmd)
    assert {"run", "study"} <= seen


def test_readme_inline_commands_name_real_options():
    """`kmm CMD --opt ...` in the prose: CMD is a subcommand and every
    --opt one of its options (placeholders such as PATH are not parsed)."""
    spans = re.findall(r"`kmm ([a-z]+)((?: [^`]*)?)`", README.read_text())
    _, sub = subparsers()
    assert {c for c, _ in spans} >= {"run", "study", "hazards", "info"}
    for cmd, rest in spans:
        assert cmd in sub, f"`kmm {cmd}`: no such command"
        opts = {o for a in sub[cmd]._actions for o in a.option_strings}
        for o in re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", rest):
            assert o in opts, f"`kmm {cmd}{rest}`: {o} is not an option of kmm {cmd}"


def test_readme_run_options_exist():
    text = README.read_text()
    section = text[text.index("## The main job: `kmm run`"):]
    section = section[:section.index("\n## ", 3)]
    table = [ln for ln in section.splitlines() if ln.startswith("| `--")]
    named = {o for ln in table for o in re.findall(r"`(--[a-z-]+)", ln)}
    _, sub = subparsers()
    run = {o for a in sub["run"]._actions for o in a.option_strings}
    assert named and named <= run, named - run
    assert run - named <= {"-h", "--help"}, f"undocumented: {run - named - {'-h', '--help'}}"


def test_readme_counts_the_modules_it_builds():
    """The Quick start's build-time note names the number of Cython modules."""
    n = len(list((ROOT / "kmm").rglob("*.pyx")))
    quick = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"\b{n} Cython extension\s+modules", quick), f"{n} .pyx modules"


def test_readme_tools_exist():
    text = README.read_text()
    tools = set(re.findall(r"python (tools/[\w/]+\.py)", text))
    assert tools and all((ROOT / t).is_file() for t in tools), tools
