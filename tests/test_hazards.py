"""The hazard catalogue (kmm/hazards/, docs/hazards.md): each scenario's
outcome on each kernel, and that the outcome comes from the mechanism the
scenario is about -- it changes when the deferral is switched off
(mm/migrate.c#4 ablated: migrate_pages_batch never starts a migrc request),
when the closing flush is removed, or when the relevant hunk is ablated."""

import json

import pytest

import kmm
from kmm import KmmConfigError, KmmStateError
from kmm import hazards
from kmm.cli import main as cli_main

PAGE = 4096
KERNELS = ("baseline", "migrc", "migrc+pause", "migrc+fixes")
NO_DEFERRAL = ["mm/migrate.c#4"]
NO_BATCHED_PENDING = {"CONFIG_KMM_NO_BATCHED_PENDING_FLUSH": True}


def run(name, kernel, **kw):
    return hazards.scenario(name).run(kernel, **kw)


# -- the matrix -------------------------------------------------------------------------

@pytest.mark.parametrize("name", hazards.SCENARIOS)
def test_baseline_never_violates(name):
    o = run(name, "baseline")
    assert o.violations == [] and o.first is None
    assert o.account.startswith("no violation")


@pytest.mark.parametrize("name", ["page_cache_write", "shared_mapping_write", "flush_race"])
@pytest.mark.parametrize("kernel", ["migrc", "migrc+pause"])
def test_open_hazards_read_stale_data_on_migrc(name, kernel):
    o = run(name, kernel)
    assert o.nr_violations > 0
    assert set(o.kinds()) == {"stale-read"}
    assert o.first["pfn_role"] == "source page, migrated away"
    assert o.account.startswith("stale-read: CPU ")


@pytest.mark.parametrize("name", ["page_cache_write", "shared_mapping_write", "flush_race"])
def test_open_hazards_need_the_deferral(name):
    """With migrate_pages_batch never starting a request, nothing is
    deferred and the same steps read coherent data."""
    o = run(name, "migrc", ablate=NO_DEFERRAL)
    assert o.violations == []


@pytest.mark.parametrize("name", hazards.SCENARIOS)
def test_fixes_close_every_scenario(name):
    assert run(name, "migrc+fixes").violations == []


def test_page_cache_write_numbers_and_the_fix_point():
    """15 readers x 2 pages read the held source's old data once write(2)
    put new data in the page cache; with the fixes, generic_perform_write
    did the deferred flush (one fix flush, the second write found nothing)."""
    o = run("page_cache_write", "migrc")
    assert o.nr_violations == 30
    assert o.counters["stale_before_write"] == o.counters["stale_after_write"] == 30
    f = run("page_cache_write", "migrc+fixes")
    assert f.counters["fix_flushes"] == {"generic_perform_write": 1}
    assert f.counters["stale_after_write"] == 0


def test_shared_mapping_write_goes_through_no_write_protect_fault():
    """B's first touch is a write fault on an empty PTE: do_shared_fault
    maps the page writable, do_wp_page never runs, so the seed's hunk
    (memory.c#1) cannot matter: ablating it changes nothing."""
    o = run("shared_mapping_write", "migrc")
    assert o.counters["b_pte_writable"]
    assert run("shared_mapping_write", "migrc", ablate=["mm/memory.c#1"]).nr_violations == o.nr_violations
    f = run("shared_mapping_write", "migrc+fixes")
    assert f.counters["fix_flushes"] == {"handle_mm_fault": 1}


def test_flush_race_and_the_in_flight_fix():
    o = run("flush_race", "migrc")
    assert o.counters["window_opened"]
    # the 14 CPUs other than the writer's still cache the old pages; the 13
    # readers among them (threads 1..14 but the writer) read them
    assert o.counters["stale_after_write_fault"] == 28 and o.nr_violations == 26
    f = run("flush_race", "migrc+fixes")
    assert f.counters["window_opened"] and f.counters["stale_after_write_fault"] == 0
    assert f.counters["fix_flushes"].get("migrc_flush_free_folios", 0) >= 1


# -- scenarios closed by v6.6's own flushes, and what closes them ---------------------

def test_mprotect_is_closed_by_flush_tlb_batched_pending():
    o = run("mprotect_upgrade", "migrc")
    assert o.violations == []
    assert o.counters["stale_before_mprotect"] == 30 and o.counters["stale_in_window"] == 0
    knob = run("mprotect_upgrade", "migrc", kconfig=NO_BATCHED_PENDING)
    assert knob.counters["stale_in_window"] == 30
    assert knob.nr_violations > 0 and set(knob.kinds()) == {"stale-read"}
    # without a deferral the window is harmless even without that flush
    assert run("mprotect_upgrade", "baseline", kconfig=NO_BATCHED_PENDING).violations == []
    # and the fixes' tlb_finish_mmu point does not close the window either
    assert run("mprotect_upgrade", "migrc+fixes", kconfig=NO_BATCHED_PENDING).nr_violations > 0


@pytest.mark.parametrize("name", ["munmap_reuse", "truncate"])
def test_zap_paths_are_closed_even_without_flush_tlb_batched_pending(name):
    """The zap's tlb_end_vma() flushes the unmapped range on every CPU of
    the mm; flush_tlb_batched_pending only makes that earlier."""
    o = run(name, "migrc")
    assert o.violations == []
    knob = run(name, "migrc", kconfig=NO_BATCHED_PENDING)
    assert knob.violations == []
    assert knob.counters["cached_in_window"] > 0 and o.counters["cached_in_window"] == 0
    key = "cached_after_munmap" if name == "munmap_reuse" else "cached_after_truncate"
    assert knob.counters[key] == 0


def test_fork_cow_is_closed_by_the_do_wp_page_hunk():
    o = run("fork_cow", "migrc")
    assert o.violations == [] and o.counters["child_reused_in_place"]
    assert o.counters["stale_in_child_before_cow"] == 16 and o.counters["stale_in_child_after_reuse"] == 0
    abl = run("fork_cow", "migrc", ablate=["mm/memory.c#1"])
    assert abl.nr_violations == 7 and abl.counters["phase1_violations"] == 7
    assert abl.counters["stale_in_child_after_reuse"] == 7
    assert abl.first["pfn_role"] == "source page, migrated away"
    # fork during the deferral stays closed by dup_mmap's flush_tlb_mm(oldmm)
    assert abl.counters["phase2_violations"] == 0
    assert abl.counters["stale_in_parent_before_fork"] == 16 and abl.counters["stale_in_parent_after_fork"] == 0
    # the fixed variant's handle_mm_fault point covers the ablated hunk
    assert run("fork_cow", "migrc+fixes", ablate=["mm/memory.c#1"]).violations == []


@pytest.mark.parametrize("hunk,violates", [
    ("mm/migrate.c#7", True),
    ("mm/page_alloc.c#1", False), ("mm/page_alloc.c#2", False),
    ("mm/page_alloc.c#3", False), ("mm/page_alloc.c#4", False),
])
def test_source_reuse_only_without_the_per_folio_fold(hunk, violates):
    """Which single ablation lets a migrated-away source be reused while a
    CPU keeps a translation to it: the per-folio fold_ubc_ro() (#7), not
    the allocator hunks (the held source is only freed after its flush;
    PG_migrc is cleared at free by free_pages_prepare anyway)."""
    o = run("source_reuse", "migrc", ablate=[hunk])
    assert (o.nr_violations > 0) == violates
    if violates:
        assert set(o.kinds()) == {"reused-page"}
        assert o.first["pfn_role"].startswith("file page's source")
        assert o.counters["file_source_reused_after"] is not None


def test_source_reuse_without_ablation():
    o = run("source_reuse", "migrc")
    assert o.violations == []
    assert o.counters["deferred"] == 1
    assert o.counters["file_source_free_after_migration"] and not o.counters["held_source_free_after_migration"]
    assert o.counters["pending_after_fill"] == 0      # get_page_from_freelist flushed and freed it


def test_outcome_records_the_run():
    o = run("page_cache_write", "migrc")
    d = o.to_dict()
    assert d["scenario"] == "page_cache_write" and d["kernel"] == "migrc"
    assert d["kconfig"]["CONFIG_MIGRC"] and d["kinds"] == {"stale-read": 30}
    assert d["counters"]["deferred"] == 2 and d["counters"]["pgmigrate_success"] == 2
    assert d["counters"]["nr_tlb_remote_flush"] == 0      # migrc sent no IPI at all
    json.dumps(d, default=str)


# -- the CLI ------------------------------------------------------------------------------

def test_cli_hazards_matrix_and_json(tmp_path, capsys):
    out = tmp_path / "h.json"
    assert cli_main(["hazards", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for s in hazards.SCENARIOS:
        assert s in text
    for k in KERNELS:
        assert k in text.splitlines()[0]
    doc = json.loads(out.read_text())
    assert len(doc["outcomes"]) == len(hazards.SCENARIOS) * len(KERNELS)
    by = {(o["scenario"], o["kernel"]): o for o in doc["outcomes"]}
    assert all(by[(s, "baseline")]["nr_violations"] == 0 for s in hazards.SCENARIOS)
    assert by[("page_cache_write", "migrc")]["nr_violations"] > 0
    assert "Hildenbrand" in doc["scenarios"]["page_cache_write"]["objection"]


def test_cli_hazards_selection_and_errors(capsys):
    assert cli_main(["hazards", "--scenario", "fork_cow", "--kernel", "migrc",
                     "--ablate", "mm/memory.c#1"]) == 0
    assert "stale-read" in capsys.readouterr().out
    assert cli_main(["hazards", "--scenario", "nope"]) == 2
    assert cli_main(["hazards", "--kernel", "nope"]) == 2
    assert cli_main(["hazards", "--ablate", "mm/nope.c#1"]) == 2


# -- the interleaving points --------------------------------------------------------------

def small(**kc):
    return kmm.Machine(nodes=[{"cpus": 4, "mem": "32M"}, {"cpus": 0, "mem": "32M"}], kconfig=kc,
                       sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1})


def test_points_are_named_and_documented():
    names = [n for n, _ in kmm.Machine.interleave_points()]
    assert len(names) == len(set(names)) == 8
    for n in names:
        assert ":" in n
    text = open("docs/hazards.md").read()
    for n in names:
        assert f"`{n}`" in text


def test_point_argument_checks():
    m = small()
    with pytest.raises(KmmConfigError, match="not an interleaving point"):
        m.at("nowhere", print)
    with pytest.raises(KmmConfigError, match="callable"):
        m.at("unmap_page_range:before_flush", 3)
    with pytest.raises(KmmConfigError):
        m.interleave({})
    with m.at("unmap_page_range:before_flush", print):
        with pytest.raises(KmmStateError, match="already"):
            with m.at("unmap_page_range:before_flush", print):
                pass
    with m.at("unmap_page_range:before_flush", print):      # free again after the block
        pass


def test_callbacks_run_at_their_points_and_do_not_nest():
    m = small()
    p = m.spawn(threads=2)
    a = p.mmap(2)
    p.threads[0].store(a)
    seen = []

    def zap(pt):
        seen.append(pt)
        p.munmap(a + PAGE, 1)             # reaches the same point: not dispatched again
    with m.interleave({"unmap_page_range:before_flush": zap,
                       "unmap_region:before_tlb_finish_mmu": seen.append}):
        p.munmap(a, 1)
    assert seen == ["unmap_page_range:before_flush", "unmap_region:before_tlb_finish_mmu"]
    p.munmap(a, 2)
    assert m.check_invariants() == []


def test_callback_exception_is_reraised_after_the_kernel_function():
    m = small()
    p = m.spawn(threads=2)
    a = p.mmap(2)
    p.threads[0].store(a)
    calls = []

    def boom(pt):
        calls.append(pt)
        raise ValueError(pt)
    with m.at("change_protection_range:before_flush", boom):
        with pytest.raises(ValueError, match="change_protection_range"):
            p.mprotect(a, 2, "r")
    assert calls == ["change_protection_range:before_flush"]
    assert [v["flags"] & 0x2 for v in p.vmas()] == [0]        # the mprotect itself completed
    assert p.pte(a)["write"] is False


def test_a_fault_inside_mprotect_would_sleep_on_mmap_lock():
    """mprotect holds mmap_lock for write: a callback's access that needs a
    fault cannot run (the kernel's fault would sleep); a TLB hit can."""
    m = small()
    p = m.spawn(threads=2)
    a = p.mmap(2)
    p.threads[0].store(a)
    p.threads[1].load(a)
    out = {}

    def in_window(pt):
        p.threads[1].load(a)                      # TLB hit
        try:
            p.threads[1].load(a + PAGE)           # needs a fault
        except KmmStateError as e:
            out["err"] = str(e)
    with m.at("change_protection_range:before_flush", in_window):
        p.mprotect(a, 2, "r")
    assert "mmap_lock" in out["err"]
    p.threads[1].load(a + PAGE)                   # fine afterwards


def test_no_callback_registered_means_no_dispatch():
    m = small(CONFIG_MIGRC=True)
    p = m.spawn(threads=2)
    a = p.mmap(1)
    p.threads[0].store(a)
    hit = []
    with m.at("migrate_pages_batch:unmapped", hit.append):
        pass
    m.migrate(p, a, 1, node=1)                    # after the block: nothing runs
    assert hit == []


# -- the fixed variant's cost, and the narrow variant --------------------------------------

def test_fixes_cost_in_a_read_only_tiering_loop():
    """Per round on the read-only loop: baseline pays the demotion's flush,
    change_prot_numa's flush_tlb_batched_pending (flush_tlb_mm) and its
    ranged flush; migrc saves the first; the fixed variant pays it back
    once per round (at tlb_finish_mmu, or at the first hint fault when that
    point is off); the narrow variant does not."""
    from kmm.hazards.cost import run_cost
    rounds = 4
    b = run_cost("baseline", rounds=rounds, npages=16, seed_memory=False)
    m = run_cost("migrc", rounds=rounds, npages=16, seed_memory=False)
    f = run_cost("migrc+fixes", rounds=rounds, npages=16, seed_memory=False)
    n = run_cost("migrc+fixes", rounds=rounds, npages=16, seed_memory=False,
                 fixes_off=("tlb_finish_mmu", "handle_mm_fault_vma"))
    assert b["nr_tlb_remote_flush"] == 3 * rounds
    assert m["nr_tlb_remote_flush"] == 2 * rounds + 1           # the first demotion: writable pages
    assert f["nr_tlb_remote_flush"] == b["nr_tlb_remote_flush"]
    assert f["fix_flushes"] == {"tlb_finish_mmu": rounds - 1}
    assert n["nr_tlb_remote_flush"] == m["nr_tlb_remote_flush"] and n["fix_flushes"] == {}
    for r in (b, m, f, n):
        assert r["violations"] == 0 and r["pgmigrate_success"] == 2 * rounds * 16


def test_a_write_per_round_takes_migrc_s_saving_and_the_write_fault_point_costs():
    """One written page per round puts a writable PTE in every demotion
    batch, whose flush covers the deferred entries too: migrc saves nothing,
    and every fixed variant adds a flush per round for requests whose CPUs
    were flushed already (migrc does not retire them)."""
    from kmm.hazards.cost import run_cost
    rounds = 4
    b = run_cost("baseline", rounds=rounds, npages=16, writes=1, seed_memory=False)
    m = run_cost("migrc", rounds=rounds, npages=16, writes=1, seed_memory=False)
    n = run_cost("migrc+fixes", rounds=rounds, npages=16, writes=1, seed_memory=False,
                 fixes_off=("tlb_finish_mmu", "handle_mm_fault_vma"))
    assert m["nr_tlb_remote_flush"] == b["nr_tlb_remote_flush"]
    assert n["nr_tlb_remote_flush"] == b["nr_tlb_remote_flush"] + rounds - 1
    assert n["fix_flushes"] == {"handle_mm_fault": rounds - 1}


@pytest.mark.parametrize("name", hazards.SCENARIOS)
def test_the_narrow_fixes_close_every_scenario_too(name):
    assert run(name, "migrc+fixes-narrow").violations == []
    assert run(name, "migrc+fixes-narrow", ablate=["mm/memory.c#1"]).violations == []


def test_fix_point_switch_checks():
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "16M"}], kconfig={"CONFIG_MIGRC": True, "CONFIG_MIGRC_FIXES": True})
    assert "tlb_finish_mmu" not in m._migrc_fix_points(off=["tlb_finish_mmu"])
    with pytest.raises(KmmConfigError):
        m._migrc_fix_points(off=["nowhere"])
    assert set(m.migrc_fix_flushes()) == {"handle_mm_fault", "handle_mm_fault_vma", "tlb_finish_mmu",
                                          "generic_perform_write", "truncate_inode_pages_range",
                                          "migrc_flush_free_folios"}
