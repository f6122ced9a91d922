"""Tracepoints, the ftrace text, the Perfetto timeline and flush attribution
(docs/tracing.md): each reproduces the kernel's counters exactly."""
import json
import re

import numpy as np
import pytest

import kmm
from kmm.emu import tracing
from kmm.experiments import seed
from kmm.report.ftrace import TLB_FLUSH_REASONS

TLB, CSD = tracing.EVENTS.index("tlb_flush"), tracing.EVENTS.index("csd_function_entry")
REMOTE_SHOOTDOWN, LOCAL_SHOOTDOWN, LOCAL_MM_SHOOTDOWN, REMOTE_SEND_IPI = 1, 2, 3, 4


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    d = tmp_path_factory.mktemp("trace")
    r = seed.run_seed_experiment(scale=0.02, particles=60000, jobs=1,
                                 trace=str(d / "t.txt"), perfetto=str(d / "t.json"))
    return r, d


def _events(r, d, kernel):
    """The kernel's trace lines, read back from the ftrace file the module's
    run wrote (the header line dropped)."""
    return (d / f"t.{kernel}.txt").read_text().splitlines()[1:]


LINE = re.compile(r"^\s*(?P<comm>\S+)-(?P<pid>\d+)\s+\[(?P<cpu>\d{3})\] +(?P<ts>\d+\.\d{6}): "
                  r"(?P<event>\w+): (?P<fields>.*)$")


@pytest.mark.parametrize("kernel", ["baseline", "migrc"])
def test_tlb_flush_events_reproduce_the_vmstat_counters(traced, kernel):
    """arch/x86/mm/tlb.c: flush_tlb_func() traces tlb_flush on every CPU that
    flushed (local: LOCAL_SHOOTDOWN / LOCAL_MM_SHOOTDOWN with pages, or
    TLB_FLUSH_ALL = -1; remote: REMOTE_SHOOTDOWN); the local ones are the
    nr_tlb_local_flush_* counts.  Every remote handler run is a
    csd_function_entry of flush_tlb_func (nr_tlb_remote_flush_received),
    every native_flush_tlb_multi() a REMOTE_SEND_IPI (nr_tlb_remote_flush)."""
    r, d = traced
    vm = r["runs"][kernel]["vmstat_all"]
    local_all = local_one = received = sent = 0
    for ln in _events(r, d, kernel):
        m = LINE.match(ln)
        assert m, ln
        if m["event"] == "tlb_flush":
            f = re.match(r"pages:(-?\d+) reason:(.+) \((\d)\)$", m["fields"])
            pages, reason = int(f[1]), int(f[3])
            assert f[2] == TLB_FLUSH_REASONS[reason]
            if reason in (LOCAL_SHOOTDOWN, LOCAL_MM_SHOOTDOWN):
                if pages == -1:
                    local_all += 1
                else:
                    local_one += pages
            elif reason == REMOTE_SEND_IPI:
                sent += 1
        elif m["event"] == "csd_function_entry" and m["fields"].startswith("func=flush_tlb_func,"):
            received += 1
    assert sent > 0 and received > 0 and local_all > 0
    assert local_all == vm["nr_tlb_local_flush_all"]
    assert local_one == vm["nr_tlb_local_flush_one"]
    assert received == vm["nr_tlb_remote_flush_received"]
    assert sent == vm["nr_tlb_remote_flush"]


@pytest.mark.parametrize("kernel", ["baseline", "migrc"])
def test_attribution_rows_sum_to_vmstat_and_interrupts_row_to_received(traced, kernel):
    r, _ = traced
    run = r["runs"][kernel]
    att = run["attribution"]
    for col in tracing.ATTR_COLUMNS:
        assert sum(row[col] for row in att.values()) == run["vmstat_all"][col], col
    assert sum(run["interrupts_tlb"]) == run["vmstat_all"]["nr_tlb_remote_flush_received"]
    assert len(run["interrupts_tlb"]) == 16
    # a promotion's source PTE is PROT_NONE, not accessible, so
    # set_tlb_ubc_flush_pending() queues no flush for it (mm/rmap.c): the
    # baseline's remote flushes are demotions' and the NUMA scan's
    assert "promotion" not in att
    assert att["demotion"]["nr_tlb_remote_flush"] > 0
    if kernel == "migrc":
        # migrc's deferred flushes are done where get_page_from_freelist
        # finds a zone below its watermark (mm/page_alloc.c hunk #4)
        assert att["migrc flush from get_page_from_freelist"]["nr_tlb_remote_flush"] > 0
        assert att["demotion"]["nr_tlb_remote_flush"] < \
            r["runs"]["baseline"]["attribution"]["demotion"]["nr_tlb_remote_flush"]


def test_perfetto_trace_reads_back_with_the_per_cpu_counts(traced):
    r, d = traced
    for kernel in ("baseline", "migrc"):
        doc = json.loads((d / f"t.{kernel}.json").read_text())
        ev = doc["traceEvents"]
        per_cpu = np.zeros(16, dtype=int)
        for e in ev:
            if e["ph"] == "i" and e["name"] == "flush IPI received":
                per_cpu[e["tid"]] += 1
        assert per_cpu.tolist() == r["runs"][kernel]["interrupts_tlb"]
        names = {e["name"] for e in ev if e["ph"] == "C"}
        assert {"free pages per node", "migrc pending pages", "migrations per s"} <= names
        threads = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
        assert "CPU 0" in threads
    assert r["runs"]["migrc"]["trace"]["dropped"] == 0


def test_event_filter_and_window(tmp_path):
    r = seed.run_seed_experiment(kernels=("baseline",), scale=0.02, particles=30000, jobs=1,
                                 trace=str(tmp_path / "f.txt"),
                                 trace_events="migrate:mm_migrate_pages", trace_window="0.1:0.3")
    lines = (tmp_path / "f.txt").read_text().splitlines()[1:]
    assert lines and all(": mm_migrate_pages: " in ln for ln in lines)
    ts = [float(LINE.match(ln)["ts"]) for ln in lines]
    assert min(ts) >= 0.1 and max(ts) < 0.3
    assert r["runs"]["baseline"]["trace"]["events"] == len(lines)


def test_bad_trace_options_are_refused_before_running(tmp_path):
    with pytest.raises(kmm.KmmConfigError, match="tlb:nope"):
        seed.run_seed_experiment(trace=str(tmp_path / "x"), trace_events="tlb:nope")
    with pytest.raises(kmm.KmmConfigError, match="T0 < T1"):
        seed.run_seed_experiment(trace=str(tmp_path / "x"), trace_window="2:1")
    with pytest.raises(kmm.KmmConfigError, match="need trace or perfetto"):
        seed.run_seed_experiment(trace_window="0:1")
    with pytest.raises(kmm.KmmConfigError, match="does not exist"):
        seed.run_seed_experiment(trace=str(tmp_path / "no" / "x.txt"))
    with pytest.raises(kmm.KmmConfigError, match="not a kmm.Machine"):
        tracing.start("machine")


def test_tracing_off_records_nothing():
    m = seed.make_machine("baseline", 0.01)
    assert not tracing.enabled(m)
    tracing.start(m, "tlb_flush")
    assert tracing.enabled(m)
    tracing.stop(m)
    events, dropped = tracing.read(m)
    assert len(events) == 0 and dropped == 0


SHRINK = re.compile(r"nid=(?P<nid>\d+) nr_scanned=(?P<scanned>\d+) nr_reclaimed=(?P<reclaimed>\d+) "
                    r"nr_dirty=(?P<dirty>\d+) nr_writeback=0 nr_congested=0 nr_immediate=0 "
                    r"nr_activate_anon=(?P<act_anon>\d+) nr_activate_file=(?P<act_file>\d+) "
                    r"nr_ref_keep=(?P<keep>\d+) nr_unmap_fail=0 priority=(?P<prio>\d+) "
                    r"flags=(?P<flags>RECLAIM_WB_ANON|RECLAIM_WB_FILE)\|RECLAIM_WB_ASYNC$")


@pytest.mark.parametrize("kernel", ["baseline", "migrc"])
def test_shrink_inactive_events_reproduce_pgscan_and_pgsteal(traced, kernel):
    """mm/vmscan.c shrink_inactive_list(): every batch that isolated a folio
    is traced after shrink_folio_list() with the folios scanned (the
    pgscan_* count) and reclaimed (pgsteal_*: here demoted), at most
    SWAP_CLUSTER_MAX (32) per batch (get_scan_count()/shrink_lruvec()), at
    a reclaim priority in 1..DEF_PRIORITY (12; balance_pgdat() starts each
    pass at 12 and lowers it while reclaim falls short); each folio reclaimed, kept for a reference
    or activated is one of those scanned."""
    r, d = traced
    vm = r["runs"][kernel]["vmstat_all"]
    scanned = reclaimed = 0
    prios = set()
    n = 0
    for ln in _events(r, d, kernel):
        m = LINE.match(ln)
        if m["event"] != "mm_vmscan_lru_shrink_inactive":
            continue
        f = SHRINK.match(m["fields"])
        assert f, m["fields"]
        n += 1
        s, rec = int(f["scanned"]), int(f["reclaimed"])
        assert 1 <= s <= r["machine"]["swap_cluster_max"]
        assert rec + int(f["keep"]) + int(f["act_anon"]) + int(f["act_file"]) <= s
        prios.add(int(f["prio"]))
        scanned += s
        reclaimed += rec
    assert n > 0
    assert scanned == vm["pgscan_kswapd"] + vm["pgscan_direct"]
    assert reclaimed == vm["pgsteal_kswapd"] + vm["pgsteal_direct"]
    assert reclaimed == vm["pgdemote_kswapd"] + vm["pgdemote_direct"]   # no swap: reclaim demotes
    assert max(prios) == 12 and min(prios) >= 1
