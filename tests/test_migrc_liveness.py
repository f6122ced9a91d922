"""A liveness hazard of the seed patch (2/3) that the emulator reaches at a
small scale (docs/hazards.md, "Promotion stalls behind pending pages").

The patch counts a zone's pending folios (source folios whose TLB flush is
deferred) as free in __zone_watermark_ok() and zone_watermark_fast(), and
frees them (migrc_flush_free_folios) only when get_page_from_freelist()
finds a zone below its watermark, or in do_wp_page().  Once node 0's buddy
lists are empty while its pending folios alone pass the watermarks,
promotion's allocations (__GFP_THISNODE, no reclaim) fail in rmqueue()
without ever failing a watermark, migrate_balanced_pgdat() sees a
balanced node and kswapd stays asleep: nothing frees the pending folios
and promotion stops for good.  Patch 3/3 pauses migrc under pressure."""
from kmm.experiments import seed


def test_promotion_stalls_behind_pending_folios_and_pause_avoids_it():
    # seed 1 at 0.05 stalls (docs/hazards.md); most seeds do not
    r = seed.run_seed_experiment(kernels=("migrc", "migrc+pause"), scale=0.05,
                                 particles=400000, jobs=1, seed=1)
    s = r["runs"]["migrc"]["snapshots"]
    mid, last = s[len(s) // 2], s[-1]
    # node 0's buddy lists are empty, its pending folios pass WMARK_HIGH alone
    assert last["node0_free"] == 0
    assert last["node0_migrc_pending"] > last["node0_high"]
    # the DMA zone, which movable requests may not drain below low +
    # lowmem_reserve, could have failed its watermark and run the flush:
    # its own pending folios, counted as free, outnumber that margin
    dma = last["node0_zones"]["DMA"]
    assert dma["free"] == 0 and dma["migrc_pending"] > dma["low"] + dma["lowmem_reserve"]
    assert f"here it held {dma['migrc_pending']} pending" in r["stalls"][0]
    # hint faults go on; promotions, demotions and deferred flushes do not
    assert last["numa_hint_faults"] > mid["numa_hint_faults"]
    assert last["pgpromote_success"] == mid["pgpromote_success"]
    assert last["pgdemote_kswapd"] == mid["pgdemote_kswapd"]
    # with patch 3/3 the same run keeps promoting
    p = r["runs"]["migrc+pause"]["snapshots"]
    assert p[-1]["pgpromote_success"] > p[len(p) // 2]["pgpromote_success"]
    assert p[-1]["node0_free"] > 0
    # the report says so, for the migrc run only
    assert len(r["stalls"]) == 1 and r["stalls"][0].startswith("migrc: promotion stopped at ")


def test_a_short_run_says_migrc_never_engaged():
    r = seed.run_seed_experiment(particles=10000, jobs=1)
    assert r["engagement"] and r["engagement"][0].startswith("migrc: migrc never engaged")
    assert r["stalls"] == []


def test_node_0s_dma_zone_is_what_runs_the_flush():
    """Hunk #4 flushes only where some zone fails zone_watermark_fast().  Once
    node 0's DMA32 buddy lists are empty and its pending folios pass the
    watermark, the allocation falls through to the DMA zone, which movable
    requests may not drain below its lowmem reserve: it fails its watermark
    and that runs migrc_flush_free_folios().  Without CONFIG_ZONE_DMA node 0
    has one zone, and the same run stalls with no deferred flush at all."""
    def run(kconfig):
        r = seed.run_seed_experiment(kernels=("migrc",), scale=0.05, particles=200000,
                                     jobs=1, seed=3, kconfig=kconfig)
        return r, r["runs"]["migrc"]
    r, with_dma = run({})
    assert r["stalls"] == [] and with_dma["migrc"]["deferred_flushes"] > 0
    r, no_dma = run({"CONFIG_ZONE_DMA": False})
    assert no_dma["migrc"]["deferred_flushes"] == 0
    last = no_dma["snapshots"][-1]
    assert last["node0_free"] == 0 and last["node0_migrc_pending"] > last["node0_high"]
    assert last["pgpromote_success"] < with_dma["snapshots"][-1]["pgpromote_success"] / 10
    assert len(r["stalls"]) == 1 and "without CONFIG_ZONE_DMA" in r["stalls"][0]
