"""Truncation and page-cache replacement of a deferred page-cache page.

Objection.  "A LUF'd page's position in the page cache can't be replaced
until after a luf_flush()" (Dave Hansen, Re: [PATCH v11 09/12] mm:
implement LUF, 2024-06-03,
https://lkml.iu.edu/hypermail/linux/kernel/2406.0/01768.html): when the
file is truncated and the index filled again, CPUs still reading the old
copy through deferred translations see data the file no longer has.  The
LUF series added luf_flush() calls to truncate_inode_pages_range(),
truncate_inode_folio(), folio_invalidate() and the invalidate paths.

Run.  Process A (15 threads) maps a file MAP_SHARED read-only and reads
it; the pages are demoted (migrc: deferred).  Process B (CPU 15)
truncates the file to nothing -- in the window between the zap and the
flush of each mapping (unmap_page_range:before_flush) A's threads read
through what they cache -- then grows it again and writes new data with
write(2) (new page-cache pages at the same indices).  A's threads read.

What decides it: unlike LUF, migrc leaves the page mapped (by its
destination), so truncation must zap A's PTEs, and zap_pte_range()'s
flush_tlb_batched_pending() and tlb_end_vma()'s range flush drop the
deferred translations before the page-cache pages go.
"""

from kmm.hazards._common import Run, machine, load_all, stale_translations, deferred_file_pages
from kmm.emu import testing as T

NAME = "truncate"
TITLE = "truncation and page-cache replacement of a deferred page"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    f, a_proc, b_proc, addrs = deferred_file_pages(m, r, NPAGES, "page-cache page (truncated later)")
    r.facts["stale_before_truncate"] = len(stale_translations(m, a_proc.threads, a_proc, addrs))
    window = {}

    def in_window(point):
        if "cached_in_window" not in window:
            window["cached_in_window"] = sum(T.tlb_probe(m, t.cpu, x) is not None
                                             for t in a_proc.threads for x in addrs)
            load_all(r, a_proc.threads[1:], addrs)

    with m.at("unmap_page_range:before_flush", in_window):
        m.truncate(f, 0, cpu=b_proc.threads[0].cpu)
    r.facts.update(window)
    r.facts["cached_after_truncate"] = sum(T.tlb_probe(m, t.cpu, x) is not None
                                           for t in a_proc.threads for x in addrs)
    m.truncate(f, NPAGES, cpu=b_proc.threads[0].cpu)
    for i in range(NPAGES):
        m.file_write(f, i, cpu=b_proc.threads[0].cpu)
        r.role(f.cached_pfn(i), "new page-cache page")
    load_all(r, a_proc.threads, addrs)
    if r.facts["stale_before_truncate"] == 0:
        closed = "the migration flushed at once: no stale translation to begin with"
    else:
        closed = (f"{r.facts['stale_before_truncate']} stale translations before truncation, "
                  f"{window.get('cached_in_window')} cached in the zap's window, "
                  f"{r.facts['cached_after_truncate']} after it")
    return r.outcome(closed)
