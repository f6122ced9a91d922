"""Workload models: per-thread memory-access generators (emulator-only).

See kmm/workloads/base.pyx for the interface, docs/workloads.md for the
models and their sampling."""
