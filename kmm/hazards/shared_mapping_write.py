"""A write through another process's writable mapping of a deferred
page-cache page, set up by a fresh fault (no write-protect fault).

Objection.  The same as write(2) ("write from other process to the new
page", David Hildenbrand, quoted in Re: [PATCH v11 09/12] mm: implement
LUF, 2024-06-03, https://lkml.iu.edu/hypermail/linux/kernel/2406.0/01768.html),
through a mapping: migrc relies on do_wp_page to notice that a deferred
page turns writable, but a process that maps the file after the migration
gets a writable PTE straight from do_shared_fault (page_mkwrite) -- no
write-protect fault ever happens.  The LUF series flushed at the end of
handle_mm_fault() for any fault in a VMA with VM_WRITE|VM_MAYWRITE, or a
write fault.

Run.  Process A (15 threads) maps a file MAP_SHARED read-only and reads
it; the pages are demoted (migrc: deferred).  Process B on CPU 15 maps the
file MAP_SHARED read-write (after the migration) and stores to each page,
a first-touch write fault; A's threads read again.
"""

from kmm.hazards._common import PAGE, Run, machine, load_all, stale_translations, deferred_file_pages

NAME = "shared_mapping_write"
TITLE = "first write through another process's shared writable mapping"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    f, a_proc, b_proc, addrs = deferred_file_pages(m, r, NPAGES, "page-cache page")
    r.facts["stale_before_write"] = len(stale_translations(m, a_proc.threads, a_proc, addrs))
    b = b_proc.mmap(NPAGES, "rw", shared=True, file=f)
    for i in range(NPAGES):
        r.access(b_proc.threads[0], b + i * PAGE, write=True)
    r.facts["b_pte_writable"] = all(b_proc.pte(b + i * PAGE)["write"] for i in range(NPAGES))
    r.facts["stale_after_write"] = len(stale_translations(m, a_proc.threads, a_proc, addrs))
    load_all(r, a_proc.threads, addrs)
    if r.facts["stale_before_write"] == 0:
        closed = "the migration flushed at once: no stale translation to begin with"
    else:
        closed = (f"{r.facts['stale_before_write']} stale translations before B's write fault, "
                  f"{r.facts['stale_after_write']} after it")
    return r.outcome(closed)
