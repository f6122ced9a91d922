"""Shared benchmark helper: throughput into benchmark.extra_info."""


def record_throughput(benchmark, n, key, target=None):
    """Store n / mean seconds under key (stats are None when benchmarks are
    disabled, as in the normal test run)."""
    stats = benchmark.stats
    if stats is not None and stats.stats.mean > 0:
        benchmark.extra_info[key] = n / stats.stats.mean
        if target is not None:
            benchmark.extra_info["target_" + key] = target
