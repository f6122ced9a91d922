"""Machine.set_sysctl hands each write to the key's proc handler, mirrored
beside its variable: mm/page_alloc.c's min_free_kbytes_sysctl_handler,
watermark_scale_factor_sysctl_handler, lowmem_reserve_ratio_sysctl_handler
and kernel/sched/core.c's sysctl_numa_balancing (with reset_memory_tiering).
Numbers derived by hand from the v6.6 code."""

import kmm

PAGE = 4096
MS = 1_000_000
L1TF_40 = {"x86_bug_l1tf": True, "x86_phys_bits": 40}


def two_tiers(mode):
    """16 CPUs on node 0 (not roomy: pgdat_free_space_enough wants 1 GiB
    free), CPU-less slower node 1; kernel.numa_balancing written at boot."""
    return kmm.Machine(nodes=[{"cpus": 16, "mem": "64M"}, {"cpus": 0, "mem": "128M"}],
                       sysctl={"kernel.numa_balancing": mode, "vm.demotion_enabled": 1},
                       cpu=L1TF_40)


def promoted_after(m, delay_ms):
    """A page written on node 0, demoted to node 1, made PROT_NONE by the
    scanner (stamped with now), touched delay_ms later by its CPU: was the
    hint fault's promotion done (numa_pages_migrated)?"""
    p = m.spawn(threads=1)
    a = p.mmap(1)
    p.threads[0].store(a)
    assert m.migrate(p, a, 1, node=1) == 1
    assert m._prot_numa(p, a, 1) == 1
    m._clock_advance_ns(delay_ms * MS)
    before = m.vmstat()["numa_pages_migrated"]
    p.threads[0].load(a)
    return m.vmstat()["numa_pages_migrated"] - before == 1


# -- kernel.numa_balancing ------------------------------------------------------------

def test_switching_tiering_on_starts_the_hot_threshold_period_afresh():
    """sysctl_numa_balancing: NUMA_BALANCING_MEMORY_TIERING newly set ->
    reset_memory_tiering(): nbp_threshold 0, nbp_th_start = now (ms).  Then
    numa_promotion_adjust_threshold() leaves the threshold alone until
    now - nbp_th_start > scan_period_max (60 s): a page touched 1100 ms
    after its scan is cold against the sysctl's 1000 ms.
    Mode 1 for 100 s first, then 2 at runtime: the reset happens at the
    write, so 1.1 s later there is still no adjustment."""
    m = two_tiers(1)
    m._clock_advance_ns(100_000 * MS)
    m.set_sysctl("kernel.numa_balancing", 2)
    assert m.sysctl["kernel.numa_balancing"] == 2
    assert not promoted_after(m, 1100)
    # at boot too (the write from 1 to 2 resets at time 0)
    assert not promoted_after(two_tiers(2), 1100)


def test_the_first_adjustment_comes_one_period_after_the_reset():
    """61.1 s after the reset: now - nbp_th_start > 60000, the threshold
    moves: no candidate counted since the reset (diff_cand 0 < 90% of the
    reference) -> up one step of 2 * 1000 / 16 = 125 ms, to 1125.  The page
    touched 1100 ms after its scan is now hot and promoted."""
    m = two_tiers(2)
    m._clock_advance_ns(60_000 * MS)
    assert promoted_after(m, 1100)


def test_writing_tiering_again_does_not_reset():
    """Tiering already on (reset at boot, time 0): writing 2 again, or 3,
    does not call reset_memory_tiering(), so 100 s later the period has
    long run out and the first check adjusts to 1125 ms at once."""
    for again in (2, 3):
        m = two_tiers(2)
        m._clock_advance_ns(100_000 * MS)
        m.set_sysctl("kernel.numa_balancing", again)
        assert promoted_after(m, 1100), again


def test_switching_tiering_off_and_on_resets_again():
    """2 -> 1 -> 2 at 100 s: the second write sets the bit anew and resets
    the period, so 1.1 s later the threshold is still 1000 ms."""
    m = two_tiers(2)
    m._clock_advance_ns(100_000 * MS)
    m.set_sysctl("kernel.numa_balancing", 1)
    m.set_sysctl("kernel.numa_balancing", 2)
    assert not promoted_after(m, 1100)


# -- the watermark handlers ---------------------------------------------------------

def test_watermark_handlers_at_runtime_recompute_the_zones():
    """Writes after boot go through the same handlers as boot's: the seed
    machine's node 1 Normal zone (hand-derived in test_watermarks.py):
    scale factor 200 -> tmp = max(1706 >> 2, 1310720 * 200 // 10000 = 26214):
    MIN 1706, LOW 27920, HIGH 54134, PROMO 80348; min_free_kbytes 65536
    -> pages_min 16384, MIN 16384 * 1310720 // 2359296 = 9102, the gap
    max(9102 >> 2 = 2275, 26214) = 26214; a ratio below 1 means no reserve
    (lowmem_reserve_ratio_sysctl_handler stores 0)."""
    m = kmm.Machine.preset("seed")
    m.set_sysctl("vm.watermark_scale_factor", 200)
    z = m.zone(1, "Normal")
    assert (z["min"], z["low"], z["high"], z["promo"]) == (1706, 27920, 54134, 80348)
    m.set_sysctl("vm.min_free_kbytes", 65536)
    assert m.sysctl["vm.min_free_kbytes"] == 65536
    z = m.zone(1, "Normal")
    assert (z["min"], z["low"], z["high"], z["promo"]) == (9102, 35316, 61530, 87744)
    m.set_sysctl("vm.lowmem_reserve_ratio", (0, 256, 32, 0))
    assert m.sysctl["vm.lowmem_reserve_ratio"] == (0, 256, 32, 0)
    assert m.zone(0, "DMA")["lowmem_reserve"] == (0, 0, 0, 0)
    assert m.zone(1, "DMA32")["lowmem_reserve"] == (0, 0, 5120, 5120)
