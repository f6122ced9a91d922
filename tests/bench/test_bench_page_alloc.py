"""Order-0 page allocator throughput: __alloc_pages() + folio_put() pairs
in a C loop (kmm.emu.testing.bench_alloc_free), on node 0 of the seed machine.

The normal suite runs each benchmark once as a test (--benchmark-disable in
pyproject's addopts); measure with
    pytest tests/bench --benchmark-enable --benchmark-json=bench.json
The target is >= 5 M pairs/s on one core."""

import pytest

import kmm
from kmm.emu import testing as T

N = 200_000


@pytest.fixture(scope="module")
def seed():
    return kmm.Machine.preset("seed")


def test_bench_order0_alloc_free(benchmark, seed):
    free0 = seed.vmstat()["nr_free_pages"]
    done = benchmark(T.bench_alloc_free, seed, N)
    assert done == N
    # every page went back
    vm = seed.vmstat()
    assert vm["nr_free_pages"] == free0
    assert seed.check_invariants() == []
    stats = benchmark.stats
    if stats is not None and stats.stats.mean > 0:    # None when benchmarks are disabled
        benchmark.extra_info["pairs_per_second"] = N / stats.stats.mean
        benchmark.extra_info["pairs_per_call"] = N
