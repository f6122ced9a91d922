"""Zone layout, min_free_kbytes, watermarks and lowmem_reserve, checked
against numbers derived by hand from mm/page_alloc.c v6.6
(calculate_min_free_kbytes, __setup_per_zone_wmarks,
setup_per_zone_lowmem_reserve)."""

import pytest

import kmm
from conftest import by_key, expected_zones, zone_layout

GiB = 1 << 30

# The seed machine, by hand:
#   node 0: 16 CPUs, 1 GiB = pfns 0..262143: DMA 0..4095, DMA32 4096..262143
#   node 1: CPU-less, 8 GiB = pfns 262144..2359295: DMA32 up to 4 GiB
#           (pfn 1048576), Normal above.
#   managed: 4096 + 258048 + 786432 + 1310720 = 2359296 pages
#   lowmem_kbytes = 2359296 * 4 = 9437184; int_sqrt(9437184 * 16) = 12288
#   pages_min = 12288 >> 2 = 3072
#   DMA:      MIN = 3072*4096//2359296 = 5;  tmp = max(1, 4)      = 4
#   N0 DMA32: MIN = 336;                     tmp = max(84, 258)   = 258
#   N1 DMA32: MIN = 1024;                    tmp = max(256, 786)  = 786
#   N1 Normal:MIN = 1706;                    tmp = max(426, 1310) = 1310
#   lowmem_reserve: DMA (ratio 256): 258048//256 = 1008 for DMA32..Movable;
#   N1 DMA32: 1310720//256 = 5120 for Normal and Movable; Normal (ratio 32)
#   has nothing above it.
SEED_ZONES = {
    (0, 0): dict(start_pfn=0, managed=4096, min=5, low=9, high=13, promo=17,
                 lowmem_reserve=(0, 1008, 1008, 1008)),
    (0, 1): dict(start_pfn=4096, managed=258048, min=336, low=594, high=852, promo=1110,
                 lowmem_reserve=(0, 0, 0, 0)),
    (1, 1): dict(start_pfn=262144, managed=786432, min=1024, low=1810, high=2596, promo=3382,
                 lowmem_reserve=(0, 0, 5120, 5120)),
    (1, 2): dict(start_pfn=1048576, managed=1310720, min=1706, low=3016, high=4326, promo=5636,
                 lowmem_reserve=(0, 0, 0, 0)),
}
SEED_MIN_FREE_KBYTES = 12288


@pytest.fixture(scope="module")
def seed():
    return kmm.Machine.preset("seed")


def check_machine(m, node_bytes, **kw):
    layout = zone_layout(node_bytes)
    managed = {k: pages for k, (start, pages) in layout.items()}
    mfk, want = expected_zones(managed, **kw)
    got = by_key(m)
    assert set(got) == set(layout)
    assert m.sysctl["vm.min_free_kbytes"] == mfk
    for key, (start, pages) in layout.items():
        z = got[key]
        assert (z["start_pfn"], z["spanned"], z["present"], z["managed"]) == (start, pages, pages, pages), key
        for w in ("min", "low", "high", "promo", "lowmem_reserve"):
            assert z[w] == want[key][w], (key, w)
    return mfk


def test_seed_zones_match_hand_derived_table(seed):
    assert seed.sysctl["vm.min_free_kbytes"] == SEED_MIN_FREE_KBYTES
    got = by_key(seed)
    assert set(got) == set(SEED_ZONES)
    for key, want in SEED_ZONES.items():
        z = got[key]
        for field, value in want.items():
            assert z[field] == value, (key, field)
        assert z["zone"] == ("DMA", "DMA32", "Normal")[key[1]]
        assert z["boost"] == 0


def test_seed_zones_match_formula(seed):
    check_machine(seed, [1 * GiB, 8 * GiB])


def test_other_machine_formula():
    # three nodes, one not a whole number of MAX_ORDER blocks, one with
    # both DMA32 and Normal; int_sqrt is not exact here.
    nodes = [{"cpus": 2, "mem": "2G"}, {"cpus": 2, "mem": "3G"}, {"cpus": 0, "mem": "1500M"}]
    m = kmm.Machine(nodes=nodes)
    mfk = check_machine(m, [2 * GiB, 3 * GiB, 1500 << 20])
    # by hand: managed = 1310720 + 384000 = 1694720 pages;
    # lowmem_kbytes = 6778880; int_sqrt(108462080) = 10414 (10414.5...)
    assert mfk == 10414


def test_single_small_node(small):
    # see conftest: 16 MiB, MIN 128 / LOW 160 / HIGH 192 / PROMO 224
    z = small.zone(0, "DMA")
    assert (z["min"], z["low"], z["high"], z["promo"]) == (128, 160, 192, 224)
    assert z["lowmem_reserve"] == (0, 0, 0, 0)
    assert small.sysctl["vm.min_free_kbytes"] == 512
    assert [x["zone"] for x in small.zones()] == ["DMA"]


def test_min_free_kbytes_sysctl():
    m = kmm.Machine.preset("seed")
    m.set_sysctl("vm.min_free_kbytes", 65536)
    check_machine(m, [1 * GiB, 8 * GiB], min_free_kbytes=65536)
    # by hand for one zone: pages_min = 16384; N1 Normal MIN =
    # 16384*1310720//2359296 = 9102; tmp = max(2275, 1310) = 2275
    z = m.zone(1, "Normal")
    assert (z["min"], z["low"], z["high"], z["promo"]) == (9102, 11377, 13652, 15927)
    # lowmem_reserve does not depend on min_free_kbytes
    assert m.zone(0, "DMA")["lowmem_reserve"] == (0, 1008, 1008, 1008)
    # a value below the boot default is taken as is (no clamp on writes)
    m.set_sysctl("vm.min_free_kbytes", 64)
    check_machine(m, [1 * GiB, 8 * GiB], min_free_kbytes=64)


@pytest.mark.parametrize("factor", [1, 200, 3000])
def test_watermark_scale_factor_sysctl(factor):
    m = kmm.Machine.preset("seed", sysctl={"vm.watermark_scale_factor": factor})
    assert m.sysctl["vm.watermark_scale_factor"] == factor
    # min_free_kbytes stays the boot value; only the gaps change
    check_machine(m, [1 * GiB, 8 * GiB], scale_factor=factor)
    if factor == 200:
        # N1 Normal: tmp = max(1706 >> 2, 1310720*200//10000 = 26214)
        z = m.zone(1, "Normal")
        assert (z["min"], z["low"], z["high"], z["promo"]) == (1706, 27920, 54134, 80348)


def test_lowmem_reserve_ratio_sysctl():
    m = kmm.Machine.preset("seed")
    m.set_sysctl("vm.lowmem_reserve_ratio", (1, 0, 32, 0))
    check_machine(m, [1 * GiB, 8 * GiB], ratios=(1, 0, 32, 0))
    # ratio 1: all of DMA32 is kept back from higher-zone allocations;
    # ratio 0: no reserve at all
    assert m.zone(0, "DMA")["lowmem_reserve"] == (0, 258048, 258048, 258048)
    assert m.zone(1, "DMA32")["lowmem_reserve"] == (0, 0, 0, 0)
    m.set_sysctl("vm.lowmem_reserve_ratio", "256 256 32 0")
    assert m.zone(1, "DMA32")["lowmem_reserve"] == (0, 0, 5120, 5120)


def test_watermark_ok_edges_by_alloc_flags(small):
    """__zone_watermark_ok() at its edges, with the alloc flags of
    mm/internal.h: ALLOC_OOM 0x08, ALLOC_NON_BLOCK 0x10,
    ALLOC_MIN_RESERVE 0x20, ALLOC_HIGHATOMIC 0x200."""
    ok = small.watermark_ok
    mark = 128
    # no reserves: free must exceed mark
    assert ok(0, "DMA", 0, mark, free_pages=129)
    assert not ok(0, "DMA", 0, mark, free_pages=128)
    # __GFP_HIGH (MIN_RESERVE): min - min/2 = 64
    assert ok(0, "DMA", 0, mark, alloc_flags=0x20, free_pages=65)
    assert not ok(0, "DMA", 0, mark, alloc_flags=0x20, free_pages=64)
    # MIN_RESERVE | NON_BLOCK (GFP_ATOMIC): 64 - 64/4 = 48
    assert ok(0, "DMA", 0, mark, alloc_flags=0x30, free_pages=49)
    assert not ok(0, "DMA", 0, mark, alloc_flags=0x30, free_pages=48)
    # NON_BLOCK alone (GFP_NOWAIT): no lower mark
    assert not ok(0, "DMA", 0, mark, alloc_flags=0x10, free_pages=128)
    # ALLOC_OOM: 128 - 64 = 64; with MIN_RESERVE too: 64 - 32 = 32
    assert not ok(0, "DMA", 0, mark, alloc_flags=0x08, free_pages=64)
    assert ok(0, "DMA", 0, mark, alloc_flags=0x08, free_pages=65)
    assert not ok(0, "DMA", 0, mark, alloc_flags=0x28, free_pages=32)
    assert ok(0, "DMA", 0, mark, alloc_flags=0x28, free_pages=33)
    # order 3: (1 << 3) - 1 = 7 pages are not usable for the check
    assert ok(0, "DMA", 3, mark, free_pages=136)
    assert not ok(0, "DMA", 3, mark, free_pages=135)


def test_watermark_ok_lowmem_reserve(seed):
    # node 0 DMA, for an allocation that could have used Normal/Movable:
    # free must exceed MIN (5) + lowmem_reserve (1008)
    assert not seed.watermark_ok(0, "DMA", 0, "min", highest_zoneidx=2, free_pages=1013)
    assert seed.watermark_ok(0, "DMA", 0, "min", highest_zoneidx=2, free_pages=1014)
    # a DMA allocation has no reserve to respect
    assert seed.watermark_ok(0, "DMA", 0, "min", highest_zoneidx=0, free_pages=6)
    # the zone as booted (4096 free) passes any mark below it
    assert seed.watermark_ok(0, "DMA", 0, "promo", highest_zoneidx=3)
