"""Page flags (include/linux/page-flags.h v6.6, x86-64 with CONFIG_MMU,
CONFIG_X86_PAT -> PG_uncached, CONFIG_MEMORY_FAILURE, CONFIG_PAGE_IDLE_FLAG;
the migrc patch appends PG_migrc), the generated helpers, refcount
freezing and what freeing does to the flags (free_pages_prepare)."""

import pathlib
import subprocess
import sys

import pytest

import kmm
from kmm.emu import testing as T

ROOT = pathlib.Path(__file__).resolve().parent.parent

# enum pageflags, in order
KERNEL_PG = [
    "locked", "writeback", "referenced", "uptodate", "dirty", "lru", "head",
    "waiters", "active", "workingset", "error", "slab", "owner_priv_1",
    "arch_1", "reserved", "private", "private_2", "mappedtodisk", "reclaim",
    "swapbacked", "unevictable", "mlocked", "uncached", "hwpoison", "young",
    "idle", "migrc",
]
KERNEL_ALIASES = {"readahead": "reclaim", "anon_exclusive": "mappedtodisk",
                  "checked": "owner_priv_1", "swapcache": "owner_priv_1",
                  "isolated": "reclaim", "reported": "uptodate"}


def test_pg_numbering():
    bits = T.flag_bits()
    for i, name in enumerate(KERNEL_PG):
        assert bits[name] == i, name
    assert (bits["locked"], bits["unevictable"], bits["mlocked"], bits["uncached"],
            bits["hwpoison"], bits["young"], bits["idle"], bits["migrc"]) == (0, 20, 21, 22, 23, 24, 25, 26)
    assert bits["head"] == 6 and bits["waiters"] == 7     # "must be bit 6 / 7"
    assert bits["__NR_PAGEFLAGS"] == 27
    for alias, target in KERNEL_ALIASES.items():
        assert bits[alias] == bits[target], alias


def test_generated_pxds_are_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools/gen_page_flags.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, "run tools/gen_page_flags.py: the generated .pxd files are stale"


@pytest.fixture
def page(small):
    return small, small.alloc_pages(0)


@pytest.mark.parametrize("name", ["dirty", "migrc", "lru", "uncached", "hwpoison", "young", "idle",
                                  "anon_exclusive", "swapcache"])
def test_flag_helpers(page, name):
    m, pfn = page
    bit = T.flag_bits()[name]
    f = lambda op: T.folio_flag(m, pfn, name, op)   # noqa: E731
    base = T.raw_flags(m, pfn)
    assert f("test") is False
    f("set")
    assert f("test") is True and T.raw_flags(m, pfn) == base | (1 << bit)
    f("clear")
    assert f("test") is False and T.raw_flags(m, pfn) == base
    f("__set")
    assert f("test") is True
    f("__clear")
    assert f("test") is False
    assert f("test_set") is False          # was clear, now set
    assert f("test_set") is True           # was set, stays set
    assert f("test_clear") is True         # was set, now clear
    assert f("test_clear") is False        # was clear, stays clear
    assert T.raw_flags(m, pfn) == base


def test_aliases_share_a_bit(page):
    m, pfn = page
    T.folio_flag(m, pfn, "swapcache", "set")
    assert T.folio_flag(m, pfn, "owner_priv_1", "test")
    T.folio_flag(m, pfn, "mappedtodisk", "set")
    assert T.folio_flag(m, pfn, "anon_exclusive", "test")
    assert "owner_priv_1" in m.page(pfn)["flags"] and "mappedtodisk" in m.page(pfn)["flags"]


def test_flags_do_not_touch_zone_and_node_bits():
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}, {"cpus": 0, "mem": "16M"}])
    pfn = m.alloc_pages(0, nid=1, gfp="GFP_KERNEL|__GFP_THISNODE")
    for name in KERNEL_PG:
        T.folio_flag(m, pfn, name, "set")
    page = m.page(pfn)
    assert (page["node"], page["zone"]) == (1, "DMA32")
    assert T.raw_flags(m, pfn) & ((1 << 27) - 1) == (1 << 27) - 1
    for name in KERNEL_PG:
        T.folio_flag(m, pfn, name, "clear")
    assert (m.page(pfn)["node"], m.page(pfn)["zone"]) == (1, "DMA32")


def test_flag_names_print_order(page):
    # include/trace/events/mmflags.h order, with the patch's "migrc" after
    # "unevictable"
    m, pfn = page
    for name in ("hwpoison", "migrc", "uncached", "mlocked", "locked", "young", "idle"):
        T.folio_flag(m, pfn, name, "set")
    assert m.page(pfn)["flags"] == ["locked", "migrc", "mlocked", "uncached", "hwpoison",
                                    "idle", "young"]


def test_ref_freeze_unfreeze(page):
    m, pfn = page
    m.folio_get(pfn)                          # refcount 2
    assert T.ref_freeze(m, pfn, 1) is False   # only freezes at the expected count
    assert m.page(pfn)["refcount"] == 2
    assert T.ref_freeze(m, pfn, 2) is True
    assert m.page(pfn)["refcount"] == 0
    # a frozen page has no reference to drop
    with pytest.raises(kmm.KmmStateError, match="no reference"):
        m.folio_put(pfn)
    assert T.ref_unfreeze(m, pfn, 2) == 2
    m.folio_put(pfn)
    m.folio_put(pfn)
    assert m.page(pfn)["buddy"]


def test_free_clears_every_flag_but_hwpoison():
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}])
    free0 = m.zone(0, "DMA")["free"]
    # order 0, no hwpoison: every flag goes (PG_migrc too)
    pfn = m.alloc_pages(0)
    for name in KERNEL_PG:
        if name not in ("hwpoison", "head"):
            T.folio_flag(m, pfn, name, "set")
    m.free_pages(pfn)
    assert T.raw_flags(m, pfn) & ((1 << 27) - 1) == 0
    assert m.page(pfn)["buddy"]
    # order 1, hwpoison on both pages: the others go, hwpoison stays
    pfn = m.alloc_pages(1)
    for p in (pfn, pfn + 1):
        for name in ("dirty", "migrc", "referenced", "hwpoison", "young"):
            T.folio_flag(m, p, name, "set")
    m.free_pages(pfn, 1)
    for p in (pfn, pfn + 1):
        assert T.raw_flags(m, p) & ((1 << 27) - 1) == 1 << 23
    assert m.zone(0, "DMA")["free"] == free0


def test_hwpoisoned_order0_page_is_not_freed():
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}])
    pfn = m.alloc_pages(0)
    vm0 = m.vmstat()
    T.folio_flag(m, pfn, "hwpoison", "set")
    T.folio_flag(m, pfn, "dirty", "set")
    m.folio_put(pfn)
    vm1 = m.vmstat()
    # free_pages_prepare() refuses it: not on a free list, no PGFREE
    page = m.page(pfn)
    assert not page["buddy"] and page["refcount"] == 0
    assert vm1["nr_free_pages"] == vm0["nr_free_pages"]
    assert vm1["pgfree"] == vm0["pgfree"]
    assert "hwpoison" in page["flags"]
    assert m.check_invariants() == []
    with pytest.raises(kmm.KmmStateError):
        m.free_pages(pfn)
