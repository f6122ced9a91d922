"""Names of the interleaving points (kmm/linux/include_/kmm/interleave.pxd).

A point is named "function:where", after the mirrored kernel function that
reaches it.  Machine.at(name, fn) / Machine.interleave({name: fn}) run fn
there (see kmm/emu/machine.pyx and docs/hazards.md).
"""

from kmm.linux.include_.kmm.interleave cimport (
    KMM_POINT_MIGRATE_UNMAPPED, KMM_POINT_MIGRATE_FLUSHED, KMM_POINT_MIGRC_BEFORE_FLUSH,
    KMM_POINT_CHANGE_PROT_BEFORE_FLUSH, KMM_POINT_ZAP_BEFORE_FLUSH, KMM_POINT_UNMAP_BEFORE_FINISH,
    KMM_POINT_DUP_MMAP_BEFORE_FLUSH, KMM_POINT_TRUNCATE_UNMAPPED, KMM_NR_POINTS)

NR_POINTS = KMM_NR_POINTS

# id -> (name, what holds at that moment)
POINTS = {
    KMM_POINT_MIGRATE_UNMAPPED: (
        "migrate_pages_batch:unmapped",
        "every folio of the batch is a migration entry; try_to_unmap_flush() not yet run, "
        "so other CPUs may still use their cached translations of the old pages"),
    KMM_POINT_MIGRATE_FLUSHED: (
        "migrate_pages_batch:flushed",
        "the batch's flush is done (migrc-deferred entries excepted); nothing copied yet"),
    KMM_POINT_MIGRC_BEFORE_FLUSH: (
        "migrc_flush_free_folios:before_flush",
        "the nodes' migrc requests are taken off their lists (gathered), not yet flushed; "
        "the held source folios are not yet freed"),
    KMM_POINT_CHANGE_PROT_BEFORE_FLUSH: (
        "change_protection_range:before_flush",
        "mprotect()/change_prot_numa() changed this VMA's PTEs; tlb_end_vma() has not "
        "flushed them yet (mmap_lock held for write by mprotect)"),
    KMM_POINT_ZAP_BEFORE_FLUSH: (
        "unmap_page_range:before_flush",
        "munmap()/exit/truncation cleared this VMA's PTEs; tlb_end_vma() has not flushed "
        "them, the pages are not freed"),
    KMM_POINT_UNMAP_BEFORE_FINISH: (
        "unmap_region:before_tlb_finish_mmu",
        "munmap(): every VMA zapped and flushed, page tables unhooked; tlb_finish_mmu() has "
        "not yet flushed the freed tables nor freed the pages and tables"),
    KMM_POINT_DUP_MMAP_BEFORE_FLUSH: (
        "dup_mmap:before_flush",
        "fork(): the child's VMAs and PTEs are copied and the parent's write-protected; "
        "flush_tlb_mm(oldmm) not yet run (both mms' mmap_lock held for write)"),
    KMM_POINT_TRUNCATE_UNMAPPED: (
        "truncate_pagecache:unmapped",
        "truncate: unmap_mapping_range() zapped every mapping of the cut pages; "
        "truncate_inode_pages_range() has not yet removed them from the page cache"),
}

POINT_NAMES = {k: v[0] for k, v in POINTS.items()}
POINT_IDS = {v[0]: k for k, v in POINTS.items()}
assert sorted(POINTS) == list(range(1, KMM_NR_POINTS))


def describe():
    """[(name, description)] in point order."""
    return [POINTS[k] for k in sorted(POINTS)]
