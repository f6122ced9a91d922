"""The buddy allocator: splitting (expand), coalescing (__free_one_page),
free-list order (FPI_TO_TAIL at boot, buddy_merge_likely) and alignment.

The 16 MiB machine has four order-10 blocks, pfns 0, 1024, 2048, 3072,
freed at boot in that order to the tail of the order-10 list, so the first
allocation splits the block at pfn 0."""

import pytest

from conftest import MAX_ORDER, nr_free

BOOT = (0,) * MAX_ORDER + (4,)


def after_one_split(remaining_top=3):
    # Splitting one order-10 block for an order-0 page leaves one free block
    # at each order 0..9 (pfns 1, 2, 4, ..., 512).
    return (1,) * MAX_ORDER + (remaining_top,)


def test_boot_free_lists(small):
    assert nr_free(small) == BOOT
    for pfn in (0, 1024, 2048, 3072):
        page = small.page(pfn)
        assert page["buddy"] and page["buddy_order"] == 10 and page["refcount"] == 0


def test_order0_alloc_splits_first_max_order_block_and_free_coalesces(small):
    pfn = small.alloc_pages(0)
    assert pfn == 0
    assert nr_free(small) == after_one_split()
    # expand(): the upper half at each order goes back on the free lists
    for order in range(MAX_ORDER):
        page = small.page(1 << order)
        assert page["buddy"] and page["buddy_order"] == order
    page = small.page(0)
    assert not page["buddy"] and page["refcount"] == 1
    small.free_pages(pfn)
    assert nr_free(small) == BOOT
    assert small.page(0)["buddy_order"] == 10


@pytest.mark.parametrize("first", [0, 1])
def test_two_buddies_freed_in_either_order(small, first):
    a, b = small.alloc_pages(0), small.alloc_pages(0)
    assert (a, b) == (0, 1)          # the second comes off the order-0 list
    assert nr_free(small) == (0,) + (1,) * (MAX_ORDER - 1) + (3,)
    pfns = (a, b) if first == 0 else (b, a)
    small.free_pages(pfns[0])
    # its buddy is still allocated: no merge
    assert nr_free(small) == after_one_split()
    assert small.page(pfns[0])["buddy_order"] == 0
    small.free_pages(pfns[1])
    assert nr_free(small) == BOOT


def test_high_order_alignment(small):
    assert small.alloc_pages(0) == 0
    # order 3 comes from the free order-3 block at pfn 8
    assert small.alloc_pages(3) == 8
    pfns = [small.alloc_pages(3) for _ in range(20)]
    assert all(p % 8 == 0 for p in pfns)
    assert len(set(pfns)) == 20
    for order in range(MAX_ORDER + 1):
        pfn = small.alloc_pages(order)
        assert pfn % (1 << order) == 0


def test_max_order_alloc_and_free(small):
    vm0 = small.vmstat()
    pfn = small.alloc_pages(MAX_ORDER)
    assert pfn == 0
    assert nr_free(small) == (0,) * MAX_ORDER + (3,)
    vm1 = small.vmstat()
    assert vm1["pgalloc_dma"] - vm0["pgalloc_dma"] == 1024
    small.free_pages(pfn, MAX_ORDER)     # order > 3: __free_pages_ok()
    assert nr_free(small) == BOOT
    assert small.vmstat()["pgfree"] - vm1["pgfree"] == 1024


def test_freed_block_queued_at_tail_when_next_higher_buddy_is_free(small):
    """buddy_merge_likely(): a block whose order+1 buddy is free goes to
    the tail of its list, so the allocator hands out other blocks first.
    The buddy it looks at is the one at the order where merging stopped."""
    assert [small.alloc_pages(0) for _ in range(4)] == [0, 1, 2, 3]
    assert small.alloc_pages(2) == 4       # the free order-2 block
    assert small.alloc_pages(1) == 8       # splits order-3 block 8: 12 -> o2, 10 -> o1
    small.free_pages(4, 2)                 # buddy 0 (o2) in use: stays order 2
    small.free_pages(3)                    # buddy 2 in use: stays order 0
    small.free_pages(2)                    # merges with 3 into order 1 at pfn 2;
    # buddy 0 (o1) is in use, so merging stops at order 1.  The order-2
    # block 0..3 has its buddy (pfn 4, order 2) free: pfn 2 goes to the
    # tail of the order-1 list, behind pfn 10.
    assert small.alloc_pages(1) == 10
    assert small.alloc_pages(1) == 2


def test_free_pages_with_extra_reference_frees_the_tail_pages(small):
    """__free_pages() on a non-compound block someone else still holds:
    the first page stays, the rest are freed as smaller blocks."""
    assert small.alloc_pages(0) == 0
    pfn = small.alloc_pages(2)
    assert pfn == 4
    free0 = small.zone(0, "DMA")["free"]
    small.folio_get(pfn)
    small.free_pages(pfn, 2)
    assert small.page(pfn)["refcount"] == 1
    # pfn 6 (order 1) and pfn 5 (order 0) went back
    assert small.zone(0, "DMA")["free"] == free0 + 3
    assert small.page(6)["buddy_order"] == 1 and small.page(5)["buddy_order"] == 0
    small.folio_put(pfn)
    small.free_pages(0)
    assert nr_free(small) == BOOT


def test_buddies_never_merge_across_nodes():
    """Adjacent pfns of two nodes are buddies by number but not by zone."""
    import kmm
    m = kmm.Machine(nodes=[{"cpus": 1, "mem": "6M"}, {"cpus": 0, "mem": "6M"}])
    # node 0: pfns 0..1535 -> one order-10 and one order-9 block;
    # node 1: pfns 1536..3071 -> 1536 (o9), 2048 (o10)
    assert m.zone(0, "DMA")["nr_free"] == (0,) * 9 + (1, 1)
    assert m.zone(1, "DMA")["nr_free"] == (0,) * 9 + (1, 1)
    assert m.page(1536)["node"] == 1 and m.page(1535)["node"] == 0
    pfn = m.alloc_pages(9, nid=1, gfp="GFP_KERNEL|__GFP_THISNODE")
    assert pfn == 1536
    m.free_pages(pfn, 9)
    # pfn 1536's order-9 buddy is pfn 1024 (node 0, free at order 9): no merge
    assert m.zone(1, "DMA")["nr_free"] == (0,) * 9 + (1, 1)
    assert m.check_invariants() == []
