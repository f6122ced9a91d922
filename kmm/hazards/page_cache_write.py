"""write(2) through the page cache into a page whose old copy other CPUs
still read through deferred translations.

Objection.  Deferring the flush is only safe while the data cannot change,
and page-cache data changes without any PTE being touched: "Page
migration/reclaim ends up freeing the old page. TLB not flushed. write()
to the new page / write from other process to the new page. CPU reads stale
content from old page" (David Hildenbrand, quoted by Dave Hansen, Re:
[PATCH v11 09/12] mm: implement LUF, 2024-06-03,
https://lkml.iu.edu/hypermail/linux/kernel/2406.0/01768.html).  Dave
Hansen's rule: "A LUF'd page's position in the page cache can't be replaced
until after a luf_flush()"; the LUF series then flushed in
mapping_write_begin() and file_end_write().  migrc v4 hooks only
do_wp_page, which write(2) never reaches.

Run.  Process A (15 threads) maps a file MAP_SHARED read-only and reads its
pages; they are demoted (migrc: deferred, the sources held).  Process B on
CPU 15 writes the file with write(2) (generic_perform_write into the page
cache's new page); A's threads read again.
"""

from kmm.hazards._common import Run, machine, load_all, stale_translations, deferred_file_pages

NAME = "page_cache_write"
TITLE = "write(2) into a deferred page-cache page"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    f, a_proc, b_proc, addrs = deferred_file_pages(m, r, NPAGES, "page-cache page")
    r.facts["stale_before_write"] = len(stale_translations(m, a_proc.threads, a_proc, addrs))
    for i in range(NPAGES):
        m.file_write(f, i, cpu=b_proc.threads[0].cpu)
    r.facts["stale_after_write"] = len(stale_translations(m, a_proc.threads, a_proc, addrs))
    load_all(r, a_proc.threads, addrs)
    if r.facts["stale_before_write"] == 0:
        closed = "the migration flushed at once: no stale translation to begin with"
    else:
        closed = (f"{r.facts['stale_before_write']} stale translations before write(2), "
                  f"{r.facts['stale_after_write']} after it")
    return r.outcome(closed)
