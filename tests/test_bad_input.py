"""Misuse raises a KmmError subclass naming the key or value and what is
accepted; nothing crashes and the machine stays sound."""

import pytest

import kmm
from kmm import KmmConfigError, KmmError, KmmStateError

GOOD = [{"cpus": 1, "mem": "16M"}]


@pytest.mark.parametrize("nodes, fragment", [
    ([{"cpus": 1, "mem": "1X"}], "'1X' is not a size"),
    ([{"cpus": 1, "mem": "12345"}], "not a multiple of the 4096-byte page size"),
    ([{"cpus": 1, "mem": 12345}], "not a multiple of the 4096-byte page size"),
    ([{"cpus": 1, "mem": -1}], "-1 is negative"),
    ([{"cpus": 1, "mem": "-1"}], "'-1' is not a size"),
    ([{"cpus": 1, "mem": 1.5}], "is not a size"),
    ([{"cpus": 1, "mem": True}], "is not a size"),
    ([{"cpus": 0, "mem": "16M"}], "no node has CPUs"),
    ([{"cpus": 65, "mem": "16M"}], "at most 64 (NR_CPUS)"),
    ([{"cpus": 40, "mem": "16M"}, {"cpus": 40, "mem": "16M"}], "80 CPUs in all"),
    ([{"cpus": 1, "mem": "4M"}] * 9, "at most 8 (MAX_NUMNODES)"),
    ([{"cpus": 1, "mem": "2M"}], "below the 4M minimum"),
    ([{"cpus": 1, "mem": 0}], "below the 4M minimum"),
    ([{"cpus": 1}], "memoryless nodes are not modelled"),
    ([{"cpus": 1, "mem": "16M"}, {"cpus": 0}], "nodes[1]: 'mem' is required"),
    ([{"cpus": -1, "mem": "16M"}], "nodes[0].cpus: -1"),
    ([{"cpus": "2", "mem": "16M"}], "expected a whole number"),
    ([{"cpus": 1, "mem": "16M", "gpus": 1}], "unknown key(s) ['gpus']"),
    ([], "expected a non-empty list"),
    ("16M", "expected a non-empty list"),
    (["16M"], "expected a dict"),
    ([{"cpus": 1, "mem": "65G"}], "at most 64G"),
])
def test_bad_topology(nodes, fragment):
    with pytest.raises(KmmConfigError) as e:
        kmm.Machine(nodes=nodes)
    assert fragment in str(e.value)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(kconfig={"CONFIG_NOPE": True}), "unknown option 'CONFIG_NOPE'; accepted: CONFIG_MIGRC"),
    (dict(kconfig={"CONFIG_DEBUG_VM": "maybe"}), "'maybe' is not a boolean; accepted: true/false"),
    (dict(kconfig={"CONFIG_MIGRC_PAUSE": True}), "CONFIG_MIGRC_PAUSE=y needs CONFIG_MIGRC=y"),
    (dict(kconfig=["CONFIG_MIGRC"]), "expected a dict of CONFIG_* names"),
    (dict(sysctl={"vm.nope": 1}), "unknown key 'vm.nope'; accepted: vm.min_free_kbytes"),
    (dict(sysctl={"vm.watermark_scale_factor": 0}), "0 is out of range; accepted: 1..3000"),
    (dict(sysctl={"vm.watermark_scale_factor": 3001}), "3001 is out of range; accepted: 1..3000"),
    (dict(sysctl={"vm.min_free_kbytes": -1}), "accepted: 0..2147483647"),
    (dict(sysctl={"vm.min_free_kbytes": "lots"}), "'lots' is not a whole number"),
    (dict(sysctl={"vm.lowmem_reserve_ratio": (1, 2, 3)}), "expected 4 whole numbers"),
    (dict(sysctl={"kernel.numa_balancing": 4}), "accepted: 0..3"),
    (dict(cpu={"x86_phys_bits": 60}), "cpu.x86_phys_bits: 60 is out of range; accepted: 36..52"),
    (dict(cpu={"x86_bug_meltdown": True}), "unknown key 'x86_bug_meltdown'"),
    (dict(seed=-1), "seed: -1"),
    (dict(seed=2**64), "expected a whole number in 0..2**64-1"),
])
def test_bad_machine_options(kwargs, fragment):
    with pytest.raises(KmmConfigError) as e:
        kmm.Machine(nodes=GOOD, **kwargs)
    assert fragment in str(e.value)


def test_bad_preset():
    with pytest.raises(KmmConfigError, match=r"unknown machine 'seeed'; accepted: seed"):
        kmm.Machine.preset("seeed")
    with pytest.raises(KmmConfigError, match=r"unknown argument\(s\) \['bogus'\]; accepted: "
                                             r"nodes, kconfig, sysctl, cpu, seed, tlb, ablate, fault_inject, cost, "
                                             r"cmdline, swap_cluster_max$"):
        kmm.Machine.preset("seed", bogus=1)
    with pytest.raises(KmmConfigError, match=r"CONFIG_NOPE"):
        kmm.Machine.preset("seed", kconfig={"CONFIG_NOPE": 1})
    for bad in (0, 33, 2.0, True, "32"):
        with pytest.raises(KmmConfigError, match=r"swap_cluster_max: .*accepted: 1\.\.32 pages"):
            kmm.Machine.preset("seed", swap_cluster_max=bad)


def test_ablate_needs_config_migrc():
    """The ablatable hunks are the seed patch's: without CONFIG_MIGRC there
    is nothing to switch off, so asking for it is a mistake, not a no-op."""
    for kconfig in (None, {"CONFIG_MIGRC": False}):
        with pytest.raises(KmmConfigError, match=r"ablate: \['mm/memory.c#1'\] .*needs CONFIG_MIGRC=y"):
            kmm.Machine(nodes=GOOD, kconfig=kconfig, ablate=["mm/memory.c#1"])
    m = kmm.Machine(nodes=GOOD, kconfig={"CONFIG_MIGRC": True}, ablate=["mm/memory.c#1"])
    assert m.ablated == ["mm/memory.c#1"]
    assert kmm.Machine(nodes=GOOD, ablate=[]).ablated == []


def test_bad_sysctl_writes_leave_state_alone(small):
    before = small.zones()
    with pytest.raises(KmmConfigError, match=r"sysctl: unknown key 'vm.swappiness'"):
        small.set_sysctl("vm.swappiness", 60)
    with pytest.raises(KmmConfigError, match=r"vm.watermark_scale_factor: 0 is out of range"):
        small.set_sysctl("vm.watermark_scale_factor", 0)
    with pytest.raises(KmmConfigError, match=r"vm.min_free_kbytes\[|vm.min_free_kbytes: "):
        small.set_sysctl("vm.min_free_kbytes", 2**31)
    assert small.zones() == before


@pytest.mark.parametrize("call, exc, fragment", [
    (lambda m: m.alloc_pages(11), KmmConfigError, "order: 11; accepted: a whole number in 0..10"),
    (lambda m: m.alloc_pages(-1), KmmConfigError, "order: -1"),
    (lambda m: m.alloc_pages("1"), KmmConfigError, "order: '1'"),
    (lambda m: m.alloc_pages(2**70), KmmConfigError, "order: "),
    (lambda m: m.alloc_pages(0, nid=1), KmmConfigError, "nid: 1; this machine has nodes 0..0"),
    (lambda m: m.alloc_pages(0, nid=-1), KmmConfigError, "nid: -1"),
    (lambda m: m.alloc_pages(0, nid="0"), KmmConfigError, "nid: '0'"),
    (lambda m: m.alloc_pages(0, cpu=1), KmmConfigError, "cpu: 1; this machine has CPUs 0..0"),
    (lambda m: m.alloc_pages(0, cpu=0.5), KmmConfigError, "cpu: 0.5"),
    (lambda m: m.alloc_pages(0, gfp="GFP_BOGUS"), KmmConfigError, "unknown flag 'GFP_BOGUS'; accepted: GFP_HIGHUSER_MOVABLE"),
    (lambda m: m.alloc_pages(0, gfp=1 << 26), KmmConfigError, "outside __GFP_BITS_MASK"),
    (lambda m: m.alloc_pages(0, gfp=None), KmmConfigError, "expected an int or names"),
    (lambda m: m.free_pages(4096), KmmConfigError, "pfn: 4096; this machine has pfns 0..4095"),
    (lambda m: m.free_pages(-1), KmmConfigError, "pfn: -1"),
    (lambda m: m.free_pages("0"), KmmConfigError, "pfn: '0'"),
    (lambda m: m.free_pages(0), KmmStateError, "pfn 0 is not allocated (refcount 0)"),
    (lambda m: m.free_pages(0, 11), KmmConfigError, "order: 11"),
    (lambda m: m.folio_put(5), KmmStateError, "pfn 5 has no reference to drop"),
    (lambda m: m.folio_get(5), KmmStateError, "pfn 5 is free"),
    (lambda m: m.page(10**9), KmmConfigError, "pfn: 1000000000"),
    (lambda m: m.cpu_to_node(3), KmmConfigError, "cpu: 3"),
    (lambda m: m.node_cpus(2), KmmConfigError, "nid: 2"),
    (lambda m: m.node_is_toptier(None), KmmConfigError, "nid: None"),
    (lambda m: m.next_demotion_node(8), KmmConfigError, "nid: 8"),
    (lambda m: m.kswapd_woken(1), KmmConfigError, "nid: 1"),
    (lambda m: m.node_free_pages(1), KmmConfigError, "nid: 1"),
    (lambda m: m.zone(0, "Normal"), KmmConfigError, "node 0 has no populated Normal zone"),
    (lambda m: m.zone(0, "HighMem"), KmmConfigError, "zone: 'HighMem'; accepted: DMA, DMA32"),
    (lambda m: m.watermark_ok(0, "DMA", 0, "max"), KmmConfigError, "mark: 'max'; accepted"),
    (lambda m: m.watermark_ok(0, "DMA", 0, 10, highest_zoneidx=4), KmmConfigError, "highest_zoneidx: 4"),
    (lambda m: m.watermark_ok(0, "DMA", 12, 10), KmmConfigError, "order: 12"),
    (lambda m: m.watermark_ok(0, "DMA", 0, -5), KmmConfigError, "mark: -5"),
    (lambda m: m.vm_events_per_cpu("pgsteal"), KmmConfigError, "unknown name 'pgsteal'"),
])
def test_bad_api_calls(small, call, exc, fragment):
    with pytest.raises(exc) as e:
        call(small)
    assert fragment in str(e.value)
    assert isinstance(e.value, KmmError)
    assert small.check_invariants() == []
    assert small.vmstat()["nr_free_pages"] == 4096


def test_double_free_and_double_put(small):
    pfn = small.alloc_pages(0)
    small.free_pages(pfn)
    with pytest.raises(KmmStateError, match=rf"free_pages: pfn {pfn} is not allocated"):
        small.free_pages(pfn)
    pfn = small.alloc_pages(0)
    small.folio_put(pfn)
    with pytest.raises(KmmStateError, match=rf"folio_put: pfn {pfn} has no reference to drop"):
        small.folio_put(pfn)
    assert small.check_invariants() == []
    assert small.vmstat()["nr_free_pages"] == 4096


def test_free_with_wrong_order_or_alignment(small):
    a = small.alloc_pages(0)         # pfn 0; pfn 1 is free
    with pytest.raises(KmmStateError, match=r"pfn 1 inside the order-1 block at pfn 0 is free"):
        small.free_pages(a, 1)
    b = small.alloc_pages(0)         # pfn 1, separately allocated
    with pytest.raises(KmmStateError, match=r"pfn 1 inside the order-1 block at pfn 0 is separately referenced"):
        small.free_pages(a, 1)
    c = small.alloc_pages(1)         # pfn 2
    with pytest.raises(KmmStateError, match=r"pfn 1 does not start an order-1 block"):
        small.free_pages(b, 1)
    small.free_pages(c, 1)
    small.free_pages(b)
    small.free_pages(a)
    assert small.check_invariants() == []
    assert small.vmstat()["nr_free_pages"] == 4096


def test_debug_vm_checks_after_each_operation():
    m = kmm.Machine(nodes=GOOD, kconfig={"CONFIG_DEBUG_VM": True})
    pfns = [m.alloc_pages(o) for o in (0, 1, 2, 3)]
    for pfn, o in zip(pfns, (0, 1, 2, 3)):
        m.free_pages(pfn, o)
    assert m.check_invariants() == []


def test_errors_are_value_and_runtime_errors():
    assert issubclass(KmmConfigError, ValueError) and issubclass(KmmConfigError, KmmError)
    assert issubclass(KmmStateError, RuntimeError) and issubclass(KmmStateError, KmmError)


def test_cli_reports_errors(capsys):
    from kmm import cli
    assert cli.main(["nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


# -- trace files: every problem with the file itself is a KmmConfigError naming it ------------

def _trace_files(tmp_path):
    import numpy as np
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "binary.csv").write_bytes(b"thread,page,write\n0,1,0\n\x7fELF\xd0\xff\n")
    (tmp_path / "nul.csv").write_bytes(b"thread,page,write\n0,1\x00,0\n")
    (tmp_path / "latin1.csv").write_bytes("thread,page,write\n0,1,0\n0,2,0\n# caf\xe9\n".encode("latin-1"))
    (tmp_path / "truncated.npy").write_bytes(np.lib.format.magic(1, 0) + b"\x10")
    (tmp_path / "text.npy").write_text("thread,page,write\n")
    os_ = __import__("os")
    if hasattr(os_, "mkfifo"):
        os_.mkfifo(tmp_path / "fifo.csv")   # reading it would block forever
    return [
        ("missing.csv", "missing.csv: no such file"),
        ("dir.csv", "dir.csv: is a directory"),
        ("binary.csv", "binary.csv line 3: not text: byte 28"),
        ("nul.csv", "nul.csv line 2: not text: byte 21"),
        ("latin1.csv", "latin1.csv line 4: not text"),
        ("truncated.npy", "truncated.npy: not a numeric .npy trace"),
        ("text.npy", "text.npy: not a numeric .npy trace"),
    ] + ([("fifo.csv", "fifo.csv: is not a regular file")] if hasattr(os_, "mkfifo") else [])


def test_trace_file_problems_are_config_errors(tmp_path):
    """In a subprocess with a timeout: before the fix a FIFO hung the reader."""
    import json
    import subprocess
    import sys
    cases = _trace_files(tmp_path)
    code = ("import json, sys, kmm\n"
            "from kmm.workloads.trace import Trace\n"
            "out = []\n"
            "for path in sys.argv[1:]:\n"
            "    try:\n"
            "        Trace(path)\n"
            "        out.append('accepted')\n"
            "    except kmm.KmmConfigError as e:\n"
            "        out.append(str(e))\n"
            "print(json.dumps(out))\n")
    p = subprocess.run([sys.executable, "-c", code] + [str(tmp_path / n) for n, _ in cases],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for (name, fragment), msg in zip(cases, json.loads(p.stdout)):
        assert str(tmp_path / name) in msg and fragment in msg, (name, msg)
