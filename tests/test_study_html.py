"""`kmm study --html`: the seed patch rendered to one page and loaded in a
real headless browser (Debian's chromium; .ci/run installs it).  The DOM the
browser built must hold the 25 hunk sections in patch order, and every
in-page link must land on an element of the page."""

import os
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kmm.cli import main
from kmm.study import hunkmap as hm
from kmm.study.patch import parse_patch

SEED = Path(__file__).resolve().parents[1] / ".." / "shared" / "seed" / "migrc-v4-2of3.patch"


def _browser():
    for cand in (os.environ.get("KMM_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome", "/usr/bin/chromium"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    return None


BROWSER = _browser()


def _need_browser():
    if BROWSER is None:
        if os.environ.get("CI"):
            pytest.fail("no headless browser, but CI must run this test: .ci/run installs chromium")
        pytest.skip("no headless browser installed (apt-get install chromium)")


def _run_browser(tmp, *args):
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not SEED.exists():
        pytest.skip(f"seed patch not found at {SEED.resolve()} (the steering repository's shared/seed/)")
    tmp = tmp_path_factory.mktemp("study")
    out = tmp / "study.html"
    assert main(["study", str(SEED), "--html", str(out)]) == 0
    return tmp, out


class _Dom(HTMLParser):
    """Element ids, in-page hrefs, and the hunk sections (in order) with the
    mirror anchors each holds."""

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.sections, self.toc_links = set(), [], [], []
        self.tags = set()
        self.mirrors = {}             # mirror anchor id -> its data-hunk
        self._in_toc = False
        self._summary, self.summary = False, ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "id" in a:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids.add(a["id"])
        if tag == "nav" and a.get("id") == "toc":
            self._in_toc = True
        if tag == "a" and a.get("href", "").startswith("#"):
            self.hrefs.append(a["href"][1:])
            if self._in_toc:
                self.toc_links.append(a["href"][1:])
        if tag == "section" and "hunk" in a.get("class", "").split():
            self.sections.append((a["data-hunk"], a["id"]))
        if tag == "div" and "mirror" in a.get("class", "").split():
            self.mirrors[a["id"]] = a["data-hunk"]
        if a.get("id") == "summary":
            self._summary = True

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_toc = False
        if tag == "p":
            self._summary = False

    def handle_data(self, data):
        if self._summary:
            self.summary += data


def test_html_is_self_contained(page):
    _, out = page
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)


def test_dom_in_a_headless_browser(page):
    _need_browser()
    tmp, out = page
    dom = _Dom()
    dom.feed(_run_browser(tmp, "--dump-dom", out.as_uri()))
    patch = parse_patch(SEED)
    # 25 hunk sections, in patch order
    assert [h for h, _ in dom.sections] == patch.ids and len(dom.sections) == 25
    # the table of contents links every section, in the same order
    sections = [sid for _, sid in dom.sections]
    assert [t for t in dom.toc_links if t in sections] == sections
    # every in-page link lands somewhere; hunks link to their mirrors and back
    assert not [h for h in dom.hrefs if h not in dom.ids]
    hmap = hm.load()
    n_mirrors = sum(len(hmap.mirrors.get(i, [])) for i in patch.ids)
    assert len(dom.mirrors) == n_mirrors
    section_of = {h: sid for h, sid in dom.sections}
    for mid, hunk in dom.mirrors.items():
        assert mid in dom.hrefs and section_of[hunk] in dom.hrefs
    n, mirrored, tested, without = hm.summary(patch, hmap)
    assert dom.summary == f"25 hunks, {mirrored} mirrored, {tested} tested, {without} without behaviour"
    assert "table" in dom.tags and "style" in dom.tags


def test_screenshot_is_drawn(page):
    _need_browser()
    tmp, out = page
    png = tmp / "study.png"
    _run_browser(tmp, "--hide-scrollbars", "--window-size=1400,1000", f"--screenshot={png}",
                 out.as_uri())
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 1000)
    assert len(data) > 30_000          # text and colour, not a blank page (a blank one is ~5 KB)
