"""Batched migration throughput through Machine.migrate(): order-0
anonymous pages of a 16-thread process, demoted to the slower node and back
(MR_DEMOTION, MIGRATE_ASYNC): isolation, rmap walk, migration entries,
one batched shootdown per 512 pages, copy, PTE rebuild, free.  Run with
--benchmark-enable for timing statistics; pages_per_s in extra_info is the
best of the timed runs either way.  Target: >= 1 M pages/s."""

import time

import kmm

PAGE = 4096
N = 65536
TARGET = 1e6


def test_bench_batched_demotion(benchmark):
    m = kmm.Machine([{"cpus": 16, "mem": "512M"}, {"cpus": 0, "mem": "512M"}],
                    sysctl={"kernel.numa_balancing": 2, "vm.demotion_enabled": 1})
    p = m.spawn(threads=16)
    a = p.mmap(N)
    for i in range(N):
        p.threads[0].store(a + i * PAGE)
    times = []
    state = {"node": 1}

    def run():
        t = time.perf_counter()
        n = m.migrate(p, a, N, node=state["node"], reason="demotion", cpu=0)
        times.append(time.perf_counter() - t)
        state["node"] ^= 1
        return n

    before = m.vmstat()
    result = benchmark.pedantic(run, rounds=4, warmup_rounds=1)
    while len(times) < 3:                          # --benchmark-disable runs once
        run()
    after = m.vmstat()
    rate = N / min(times)
    runs = len(times)
    benchmark.extra_info["pages"] = N
    benchmark.extra_info["pages_per_s"] = rate
    assert result == N
    assert after["pgmigrate_success"] - before["pgmigrate_success"] == N * runs
    # one shootdown per NR_MAX_BATCHED_MIGRATION (512) pages
    assert after["nr_tlb_remote_flush"] - before["nr_tlb_remote_flush"] == N // 512 * runs
    assert m.oracle.violations == []
    benchmark.extra_info["target_pages_per_s"] = TARGET
