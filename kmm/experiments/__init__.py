"""Experiments (emulator-only): whole runs of a workload on emulated
machines, returned as JSON-able dicts.  `seed` is the migrc patch's
BEFORE/AFTER experiment that `kmm run` runs."""
