"""`kmm study PATCH [--html OUT]` in the terminal: hunks in patch order with
their mirrors and tests, the summary line, and the exit codes."""

import re
from pathlib import Path

import pytest

from kmm.cli import main
from kmm.study import hunkmap as hm
from kmm.study.patch import parse_patch

SEED = Path(__file__).resolve().parents[1] / ".." / "shared" / "seed" / "migrc-v4-2of3.patch"
need_seed = pytest.mark.skipif(not SEED.exists(), reason="seed patch not found in ../shared/seed/")

TOY = """\
--- a/mm/nowhere.c
+++ b/mm/nowhere.c
@@ -1,2 +1,3 @@ int nowhere(void)
 a
+[bold]b[/bold]
 c
"""


@need_seed
def test_study_seed_in_the_terminal(capsys):
    assert main(["study", str(SEED)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out                      # not a tty: plain text
    ids = parse_patch(SEED).ids
    pos = [out.index(f"{k}/25 {i}") for k, i in enumerate(ids, 1)]
    assert pos == sorted(pos)                      # every hunk, in patch order
    n, mirrored, tested, without = hm.summary(parse_patch(SEED), hm.load())
    assert out.rstrip().splitlines()[-1] == (f"25 hunks, {mirrored} mirrored, {tested} tested, "
                                             f"{without} without behaviour")
    # a mirror in place: its file:lines and numbered source
    assert re.search(r"mirror migrc_req \(struct\)\s+kmm/linux/include_/linux/mm_types\.pxd:\d+-\d+", out)
    assert re.search(r"\d+ cdef struct migrc_req:", out)
    assert "test tests/hunks/test_include_linux_page_flags_h.py::test_pg_migrc_is_the_last_page_flag" in out


def test_unmapped_hunk_says_no_mirror(tmp_path, capsys):
    p = tmp_path / "toy.patch"
    p.write_text(TOY)
    assert main(["study", str(p)]) == 0            # rendered, even with nothing mapped
    out = capsys.readouterr().out
    assert "1/1 mm/nowhere.c#1" in out
    assert "+[bold]b[/bold]" in out                 # patch text is not read as markup
    assert "no mirror" in out and "no test" in out
    assert out.rstrip().splitlines()[-1] == "1 hunks, 0 mirrored, 0 tested"


@pytest.mark.parametrize("content, message", [
    (None, "no such patch file"),
    ("just prose, no diff\n", "no hunks found"),
    ("--- a/x\n+++ b/x\n@@ -1,1 +1,1 @ oops\n", ":3: malformed hunk header"),
])
def test_bad_patch_exits_2_with_a_clear_message(tmp_path, capsys, content, message):
    p = tmp_path / "p.patch"
    if content is not None:
        p.write_text(content)
    assert main(["study", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kmm: error: ") and message in err


def test_unwritable_html_exits_2(tmp_path, capsys):
    p = tmp_path / "toy.patch"
    p.write_text(TOY)
    assert main(["study", str(p), "--html", str(tmp_path / "no" / "such" / "dir.html")]) == 2
    assert "cannot write" in capsys.readouterr().err
