"""munmap() of a deferred range, and the address range mapped again.

Objection.  The deferred translations outlive the mapping they came from:
once the range is unmapped and the addresses reused for a new mapping,
a CPU that still caches the old translation reads the held source page
instead of the new memory ("1. A LUF'd PTE can't be rewritten until
after a luf_flush() occurs", Dave Hansen, Re: [PATCH v11 09/12] mm:
implement LUF, 2024-06-03, and Byungchul Park's list of flush points,
"mmap and munmap e.i. fault handler or unmap_region()").  The LUF series
added a flush in tlb_end_vma().

Run.  Sixteen threads read read-only, clean pages; the pages are demoted
(migrc: deferred).  In munmap's window between the zap and tlb_end_vma's
flush (point unmap_page_range:before_flush) the readers look at what they
still cache; after munmap the same number of pages is mapped again, thread
0 writes them, and everyone reads.

What decides it: zap_pte_range() calls flush_tlb_batched_pending(mm)
before clearing anything, and tlb_end_vma() then flushes the unmapped range
on every CPU of the mm: a translation left by migrc's deferral cannot
reach the new mapping (not even with flush_tlb_batched_pending switched
off).
"""

from kmm.hazards._common import PAGE, Run, machine, read_only_clean_anon, load_all, stale_translations
from kmm.emu import testing as T

NAME = "munmap_reuse"
TITLE = "munmap of a deferred range, addresses mapped again"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    p = m.spawn(threads=16)
    a = read_only_clean_anon(m, p, NPAGES)
    addrs = [a + i * PAGE for i in range(NPAGES)]
    load_all(r, p.threads, addrs)
    for x in addrs:
        r.role(p.pfn(x), "source page, migrated away")
    m.migrate(p, a, NPAGES, node=1, reason="demotion")
    for x in addrs:
        r.role(p.pfn(x), "destination page (unmapped later)")
    r.facts["deferred"] = sum(v["pending"] for v in m.migrc_pending().values())
    r.facts["stale_before_munmap"] = len(stale_translations(m, p.threads, p, addrs))
    window = {}

    def in_window(point):
        # the PTEs are cleared: count the CPUs still caching any translation
        window["cached_in_window"] = sum(T.tlb_probe(m, t.cpu, x) is not None
                                         for t in p.threads for x in addrs)
        load_all(r, p.threads[1:], addrs)     # through the TLB, or SIGSEGV

    with m.at("unmap_page_range:before_flush", in_window):
        p.munmap(a, NPAGES)
    r.facts.update(window)
    r.facts["cached_after_munmap"] = sum(T.tlb_probe(m, t.cpu, x) is not None
                                         for t in p.threads for x in addrs)
    b = p.mmap(NPAGES)
    r.facts["same_addresses"] = b == a
    baddrs = [b + i * PAGE for i in range(NPAGES)]
    for x in baddrs:
        r.access(p.threads[0], x, write=True)
        r.role(p.pfn(x), "new page of the new mapping")
    load_all(r, p.threads, baddrs)
    if r.facts["stale_before_munmap"] == 0:
        closed = "the migration flushed at once: no stale translation to begin with"
    else:
        closed = (f"{r.facts['stale_before_munmap']} stale translations before munmap, "
                  f"{window.get('cached_in_window')} cached in its window, "
                  f"{r.facts['cached_after_munmap']} after it")
    return r.outcome(closed)
