"""Seed patch, include/trace/events/mmflags.h: the "migrc" page-flag name."""

import pytest

import kmm
from kmm.emu import testing as T


@pytest.mark.hunk("include/trace/events/mmflags.h#1")
def test_migrc_name_prints_after_unevictable():
    # DEF_PAGEFLAG_NAME(migrc) goes between unevictable and the
    # IF_HAVE_PG_MLOCK(mlocked) entry, so dump_page() prints it there.
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}])
    pfn = m.alloc_pages(0)
    for name in ("mlocked", "migrc", "unevictable", "swapbacked"):
        T.folio_flag(m, pfn, name, "set")
    assert m.page(pfn)["flags"] == ["swapbacked", "unevictable", "migrc", "mlocked"]


@pytest.mark.hunk("include/trace/events/mmflags.h#1")
def test_deferred_migration_prints_migrc_on_both_folios():
    """dump_page() of a deferred migration's folios: the held source and the
    mapped destination both print "migrc", after swapbacked (and where
    unevictable would be), before nothing else of theirs."""
    from migrc_scenario import deferred, machine
    m = machine()
    p, a, srcs, dsts, d = deferred(m, n=1)
    assert m.page(srcs[0])["flags"] == ["uptodate", "dirty", "swapbacked", "migrc"]
    assert m.page(dsts[0])["flags"] == ["uptodate", "dirty", "lru", "mappedtodisk", "swapbacked",
                                        "migrc"]
