"""kmm/study/patch.py: the unified-diff parser behind `kmm study`.

The seed patch is read from ../shared/seed/ beside the repository root (the
project keeps no patch text); the synthetic diffs below are made up."""

from pathlib import Path

import pytest

from kmm import KmmConfigError
from kmm.study.patch import function_of, parse_patch, parse_text, split_id

SEED_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "seed"
SEED = SEED_DIR / "migrc-v4-2of3.patch"
MAIL = SEED_DIR / "migrc-v4-2of3.lkml.txt"

need_seed = pytest.mark.skipif(not SEED.exists() or not MAIL.exists(),
                               reason=f"seed patch not found in {SEED_DIR.resolve()} "
                                      "(the steering repository's shared/seed/)")

# The seed patch's files in patch order and how many hunks each has
# (its diffstat lists the same ten files).
SEED_FILES = [
    ("include/linux/mm_types.h", 1), ("include/linux/mmzone.h", 2),
    ("include/linux/page-flags.h", 2), ("include/linux/sched.h", 1),
    ("include/trace/events/mmflags.h", 1), ("mm/internal.h", 1), ("mm/memory.c", 1),
    ("mm/migrate.c", 10), ("mm/page_alloc.c", 4), ("mm/rmap.c", 2),
]
SEED_IDS = [f"{f}#{n}" for f, k in SEED_FILES for n in range(1, k + 1)]


@need_seed
def test_seed_patch_has_25_hunks_in_patch_order():
    p = parse_patch(SEED)
    assert p.ids == SEED_IDS and len(SEED_IDS) == 25
    assert [f.path for f in p.files] == [f for f, _ in SEED_FILES]
    assert not p.mail and p.repairs == []
    assert p.subject.startswith("[v4 2/3] mm:")


@need_seed
def test_seed_headers_counts_and_functions():
    p = parse_patch(SEED)
    h = p.hunk("mm/migrate.c#4")
    assert (h.old_start, h.old_count, h.new_start, h.new_count) == (1620, 12, 1783, 21)
    assert h.function == "migrate_pages_batch"
    assert h.header.startswith("@@ -1620,12 +1783,21 @@ ")
    assert [p.hunk(i).function for i in ("mm/memory.c#1", "mm/page_alloc.c#1", "mm/page_alloc.c#2",
                                          "mm/page_alloc.c#3", "mm/page_alloc.c#4", "mm/rmap.c#2")] == [
        "do_wp_page", "post_alloc_hook", "__zone_watermark_ok", "zone_watermark_fast",
        "get_page_from_freelist", "set_tlb_ubc_flush_pending"]
    assert p.hunk("include/linux/mmzone.h#1").function == "struct zone"
    assert p.hunk("include/linux/mmzone.h#2").function == "struct pglist_data"
    assert p.hunk("include/trace/events/mmflags.h#1").function is None      # bare "@@ ... @@"
    assert p.hunk("mm/migrate.c#1").context == ""
    # every hunk holds exactly the lines its header counts
    for h in p.hunks:
        old = sum(ln[0] in " -" for ln in h.lines)
        new = sum(ln[0] in " +" for ln in h.lines)
        assert (old, new) == (h.old_count, h.new_count), h.id
        assert h.missing == (0, 0)
    # the only removals: mmflags.h's unevictable line, zone_watermark_fast's
    # usable_free line, and rmap.c's blank line and two if/else lines
    assert {h.id: len(h.removed) for h in p.hunks if h.removed} == {
        "include/trace/events/mmflags.h#1": 1, "mm/page_alloc.c#3": 1,
        "mm/rmap.c#1": 1, "mm/rmap.c#2": 2}
    assert sum(len(h.added) for h in p.hunks) == 349          # the diffstat's insertions


@need_seed
def test_mail_text_parses_to_the_same_hunks():
    # The archive's text lost context prefixes and blank context lines, and
    # turned "&curren" into a currency sign; the hunks come out the same.
    a, b = parse_patch(SEED), parse_patch(MAIL)
    assert b.mail and b.ids == a.ids
    for x, y in zip(a.hunks, b.hunks):
        assert (x.old_start, x.new_start, x.function) == (y.old_start, y.new_start, y.function)
        assert x.lines == y.lines, x.id
    short = [h.id for h in b.hunks if any(h.missing)]
    assert "mm/migrate.c#4" in short and b.hunk("mm/migrate.c#4").missing == (4, 4)
    assert any("\u00a4" in r and "&curren" in r for r in b.repairs)
    assert not any("\u00a4" in ln for h in b.hunks for ln in h.lines)


def test_hunk_numbering_and_line_numbers():
    p = parse_text(
        "diff --git a/mm/x.c b/mm/x.c\n"
        "index 1..2 100644\n"
        "--- a/mm/x.c\n"
        "+++ b/mm/x.c\n"
        "@@ -10,3 +10,4 @@ int foo(int a)\n"
        " a\n"
        "-b\n"
        "+B\n"
        "+C\n"
        " c\n"
        "@@ -40 +41 @@ struct bar {\n"
        "-x\n"
        "+y\n"
        "diff --git a/y.h b/y.h\n"
        "--- a/y.h\n"
        "+++ b/y.h\n"
        "@@ -1,2 +1,2 @@\n"
        " p\n"
        "-q\n"
        "+r\n"
        "\\ No newline at end of file\n")
    assert p.ids == ["mm/x.c#1", "mm/x.c#2", "y.h#1"]
    h1, h2, h3 = p.hunks
    assert (h1.function, h2.function, h3.function) == ("foo", "struct bar", None)
    assert (h2.old_start, h2.old_count, h2.new_start, h2.new_count) == (40, 1, 41, 1)
    assert list(h1.numbered()) == [(" ", 10, 10, "a"), ("-", 11, None, "b"), ("+", None, 11, "B"),
                                   ("+", None, 12, "C"), (" ", 12, 13, "c")]
    assert h3.lines[-1] == "\\ No newline at end of file"
    assert (h1.lineno, h2.lineno, h3.lineno) == (5, 11, 17)


def test_plain_diff_deleted_file_and_trimmed_blank_context():
    p = parse_text(
        "--- old/a.c\t2023-11-09 00:00:00\n"
        "+++ new/a.c\t2023-11-09 00:00:01\n"
        "@@ -1,3 +1,3 @@\n"
        " x\n"
        "\n"                                     # a blank context line with its space trimmed
        "-y\n"
        "+z\n"
        "--- a/gone.c\n"
        "+++ /dev/null\n"
        "@@ -1 +0,0 @@\n"
        "-bye\n")
    assert p.ids == ["new/a.c#1", "gone.c#1"]
    assert p.hunks[0].lines == [" x", " ", "-y", "+z"]
    assert not p.mail


@pytest.mark.parametrize("text, line, what", [
    ("--- a/f\n+++ b/f\n@@ -1,2 +1,2\n x\n", 3, "malformed hunk header"),
    ("--- a/f\n+++ b/f\n@@ -x,1 +1 @@\n", 3, "malformed hunk header"),
    ("hello\n@@ -1 +1 @@\n-a\n+b\n", 2, "before any file header"),
    ("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n", 3, "stops at line 6, short of its header's counts by 1 old and 1 new"),
    ("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n+c\n", 6, "past the 1 old and 1 new lines"),
])
def test_malformed_patches_name_the_line(text, line, what):
    with pytest.raises(KmmConfigError, match=what) as e:
        parse_text(text, source="bad.patch")
    assert f"bad.patch:{line}:" in str(e.value)


def test_no_hunks_and_unreadable_files(tmp_path):
    with pytest.raises(KmmConfigError, match="no hunks found"):
        parse_text("Subject: not a patch\n\njust words\n---\n a | 1 +\n", source="x")
    with pytest.raises(KmmConfigError, match="no such patch file"):
        parse_patch(tmp_path / "missing.patch")
    with pytest.raises(KmmConfigError, match="is a directory"):
        parse_patch(tmp_path)
    empty = tmp_path / "empty.patch"
    empty.write_text("")
    with pytest.raises(KmmConfigError, match="no hunks found"):
        parse_patch(empty)


def test_ids_and_header_functions():
    assert split_id("mm/migrate.c#10") == ("mm/migrate.c", 10)
    for bad in ("mm/migrate.c", "mm/migrate.c#0", "#1", "a b#1", 3):
        with pytest.raises(KmmConfigError, match="FILE#N"):
            split_id(bad)
    assert function_of("static int migrate_pages_batch(struct list_head *from,") == "migrate_pages_batch"
    assert function_of("struct anon_vma *folio_lock_anon_vma_read(struct folio *folio,") == \
        "folio_lock_anon_vma_read"
    assert function_of("typedef struct pglist_data {") == "struct pglist_data"
    assert function_of("enum {") is None and function_of("") is None
