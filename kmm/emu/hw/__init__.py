"""The emulated CPU hardware (not a kernel mirror): TLB caches, perf-like
event counters, and later the page walker."""
