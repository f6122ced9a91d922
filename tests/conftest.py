"""Shared helpers.  Every expected number in the tests is derived by hand
from the kernel's formulas (mm/page_alloc.c v6.6), never read back from the
emulator's own derived state."""

import math

import pytest

import kmm

PAGE_SIZE = 4096
MAX_ORDER = 10
NR_PAGE_ORDERS = MAX_ORDER + 1
MAX_DMA_PFN = (16 << 20) // PAGE_SIZE        # x86-64 ZONE_DMA limit
MAX_DMA32_PFN = (4 << 30) // PAGE_SIZE       # x86-64 ZONE_DMA32 limit

# Kernel facts for one small machine used all over: one node, 1 CPU, 16 MiB.
# Only ZONE_DMA (pfn 0..4095) is populated.
#   lowmem_kbytes = 4096 pages * 4 = 16384; int_sqrt(16384 * 16) = 512
#   pages_min = 512 >> 2 = 128; MIN = 128 * 4096 // 4096 = 128
#   tmp = max(128 >> 2, mult_frac(4096, 10, 10000) = 4) = 32
#   LOW = 160, HIGH = 192, PROMO = 224
SMALL = [{"cpus": 1, "mem": "16M"}]
SMALL_MIN, SMALL_LOW, SMALL_HIGH, SMALL_PROMO = 128, 160, 192, 224


@pytest.fixture
def small():
    return kmm.Machine(nodes=SMALL)


def mult_frac(x, n, d):
    """include/linux/math.h: x * n / d without overflowing."""
    return (x // d) * n + ((x % d) * n) // d


def expected_zones(zone_managed, *, min_free_kbytes=None, scale_factor=10,
                   ratios=(256, 256, 32, 0)):
    """The kernel's init_per_zone_wmark_min() computed by hand.

    zone_managed: {(nid, zid): managed pages} of every populated zone.
    Returns (min_free_kbytes, {(nid, zid): dict(min, low, high, promo,
    lowmem_reserve)}).
    """
    lowmem_pages = sum(v for (nid, zid), v in zone_managed.items() if zid != 3)
    if min_free_kbytes is None:
        # calculate_min_free_kbytes(): nr_free_buffer_pages() counts
        # managed - high of zones <= ZONE_NORMAL; at boot no watermark is
        # set yet, so it is all managed pages.
        lowmem_kbytes = lowmem_pages * (PAGE_SIZE >> 10)
        min_free_kbytes = min(max(math.isqrt(lowmem_kbytes * 16), 128), 262144)
    pages_min = min_free_kbytes >> 2
    out = {}
    nids = {nid for nid, _ in zone_managed}
    for (nid, zid), managed in zone_managed.items():
        tmp = pages_min * managed // lowmem_pages
        wmin = tmp
        tmp = max(tmp >> 2, mult_frac(managed, scale_factor, 10000))
        low = wmin + tmp
        high = low + tmp
        promo = high + tmp
        out[(nid, zid)] = {"min": wmin, "low": low, "high": high, "promo": promo}
    for nid in nids:
        for i in range(4):
            if (nid, i) not in out:
                continue
            managed_i = zone_managed[(nid, i)]
            clear = ratios[i] == 0 or managed_i == 0
            reserve = [0, 0, 0, 0]
            upper = 0
            for j in range(i + 1, 4):
                upper += zone_managed.get((nid, j), 0)
                reserve[j] = 0 if clear else upper // ratios[i]
            out[(nid, i)]["lowmem_reserve"] = tuple(reserve)
    return min_free_kbytes, out


def zone_layout(node_bytes):
    """Zones of nodes laid out back to back from pfn 0, split at the x86-64
    limits.  Returns {(nid, zid): (start_pfn, pages)}."""
    out = {}
    start = 0
    for nid, nbytes in enumerate(node_bytes):
        end = start + nbytes // PAGE_SIZE
        for zid, (lo, hi) in enumerate(((0, MAX_DMA_PFN), (MAX_DMA_PFN, MAX_DMA32_PFN),
                                        (MAX_DMA32_PFN, 1 << 60))):
            zs, ze = max(lo, start), min(hi, end)
            if zs < ze:
                out[(nid, zid)] = (zs, ze - zs)
        start = end
    return out


def by_key(machine):
    return {(z["node"], z["zone_idx"]): z for z in machine.zones()}


def nr_free(machine, nid=0, zone="DMA"):
    return machine.zone(nid, zone)["nr_free"]


class RecordingProgress:
    """The experiment's progress protocol (start/update/finish), recording
    every call in .seen as ("start", kernel, expected), ("update", kernel,
    virtual_s, fraction) and ("finish", kernel, virtual_s)."""

    def __init__(self):
        self.seen = []

    def start(self, kernel, expected):
        self.seen.append(("start", kernel, expected))
        return lambda v, f: self.seen.append(("update", kernel, v, f))

    def finish(self, kernel, run):
        self.seen.append(("finish", kernel, run["virtual_s"]))
