"""Seed patch, include/linux/mmzone.h: zone->migrc_pending_nr."""

import pytest

import kmm


@pytest.mark.hunk("include/linux/mmzone.h#1")
def test_migrc_pending_nr_starts_at_zero_in_every_zone():
    # A zone's count of folios held for a deferred TLB flush is zero at boot
    # in every populated zone of every node.
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "64M"}, {"cpus": 0, "mem": "64M"}])
    zones = m.zones()
    assert {(z["node"], z["zone"]) for z in zones} >= {(0, "DMA"), (0, "DMA32"), (1, "DMA32")}
    assert all(z["migrc_pending_nr"] == 0 for z in zones)
