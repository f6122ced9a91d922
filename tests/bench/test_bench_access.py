"""Emulated page accesses per second through the TLB (mm paths of issue 3).

Targets: >= 20 M/s on TLB hits, >= 5 M/s on misses that walk the page
tables.  Run with --benchmark-enable to measure."""

import kmm

from benchutil import record_throughput
from kmm.emu import testing as T

N = 2_000_000


def _prepared(npages):
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "1G"}])
    p = m.spawn()
    addr = p.mmap(npages, "rw")
    t = p.threads[0]
    assert T.bench_access(t, addr, npages, npages, True) == npages   # fault everything in
    return m, t, addr


def test_bench_access_tlb_hits(benchmark):
    m, t, addr = _prepared(16)                  # fits the 64-entry dTLB
    T.bench_access(t, addr, 16, 16)
    before = m.perf()["dTLB-load-misses"]
    done = benchmark(T.bench_access, t, addr, 16, N)
    assert done == N
    assert m.perf()["dTLB-load-misses"] == before     # really all hits
    record_throughput(benchmark, N, "accesses_per_s", 20e6)


def test_bench_access_tlb_misses_with_walk(benchmark):
    npages = 65536                              # 256 MiB: 40x the STLB
    m, t, addr = _prepared(npages)
    before = m.perf()["dTLB-load-misses"]
    done = benchmark(T.bench_access, t, addr, npages, N)
    assert done == N
    assert m.perf()["dTLB-load-misses"] - before >= N  # every access walked
    record_throughput(benchmark, N, "accesses_per_s", 5e6)
