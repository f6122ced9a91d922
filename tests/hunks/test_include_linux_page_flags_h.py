"""Seed patch, include/linux/page-flags.h: PG_migrc and its helpers."""

import pytest

import kmm
from kmm.emu import testing as T


@pytest.fixture
def page():
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}])
    return m, m.alloc_pages(0)


@pytest.mark.hunk("include/linux/page-flags.h#1")
def test_pg_migrc_is_the_last_page_flag():
    # The hunk appends PG_migrc after the config-dependent flags (PG_young,
    # PG_idle on x86-64; PG_arch_2/3 are arm64-only), just before
    # __NR_PAGEFLAGS, and gives it no alias.
    bits = T.flag_bits()
    assert bits["migrc"] == bits["__NR_PAGEFLAGS"] - 1 == 26
    assert bits["idle"] == bits["migrc"] - 1
    assert [k for k, v in bits.items() if v == bits["migrc"]] == ["migrc"]


@pytest.mark.hunk("include/linux/page-flags.h#2")
def test_migrc_testclear_and_nonatomic_helpers(page):
    # __PAGEFLAG(Migrc): folio_test_migrc, __folio_set_migrc, __folio_clear_migrc;
    # TESTCLEARFLAG(Migrc): folio_test_clear_migrc.  Only bit 26 moves.
    m, pfn = page
    before = T.raw_flags(m, pfn)
    assert T.folio_flag(m, pfn, "migrc", "test") is False
    T.folio_flag(m, pfn, "migrc", "__set")
    assert T.folio_flag(m, pfn, "migrc", "test") is True
    assert T.raw_flags(m, pfn) == before | (1 << 26)
    assert T.folio_flag(m, pfn, "migrc", "test_clear") is True
    assert T.folio_flag(m, pfn, "migrc", "test_clear") is False
    assert T.raw_flags(m, pfn) == before
    T.folio_flag(m, pfn, "migrc", "__set")
    T.folio_flag(m, pfn, "migrc", "__clear")
    assert T.folio_flag(m, pfn, "migrc", "test") is False
