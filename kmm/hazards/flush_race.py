"""A write fault racing another CPU's migrc_flush_free_folios().

Objection.  The deferred flush must be complete before a page turns
writable ("When any non-writable TLB entry changes to writable e.g.
through fault handler, give up migrc mechanism so as to perform TLB flush
required right away", the seed patch's own rule).  migrc_flush_free_folios()
takes the requests off the node lists (migrc_gather) before it flushes; a
do_wp_page() on another CPU that calls it in between finds the lists empty,
returns at once, and makes the page writable while the first caller's IPIs
have not gone out yet.  The LUF series keeps every batch until a
generation number says it is flushed (luf_flush() folds the batch and
flushes whatever is still pending), so a second caller cannot skip it.

Run.  Fifteen threads read read-only, clean pages; the pages are demoted
(migrc: deferred).  CPU 15 runs migrc_flush_free_folios() (as
get_page_from_freelist() does under memory pressure); in its window after
gathering and before flushing (point migrc_flush_free_folios:before_flush)
thread 3 stores to each page -- a write-protect fault whose
do_wp_page() also calls migrc_flush_free_folios() -- and threads 1..14
read.  On a kernel with nothing deferred the window never opens; the store
and the reads then happen after the call.
"""

from kmm.hazards._common import PAGE, Run, machine, read_only_clean_anon, load_all, stale_translations

NAME = "flush_race"
TITLE = "write fault racing a concurrent migrc_flush_free_folios()"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    p = m.spawn(threads=15)
    m.spawn(threads=1, cpus=[15])
    a = read_only_clean_anon(m, p, NPAGES)
    addrs = [a + i * PAGE for i in range(NPAGES)]
    load_all(r, p.threads, addrs)
    for x in addrs:
        r.role(p.pfn(x), "source page, migrated away")
    m.migrate(p, a, NPAGES, node=1, reason="demotion")
    for x in addrs:
        r.role(p.pfn(x), "destination page")
    r.facts["deferred"] = sum(v["pending"] for v in m.migrc_pending().values())
    writer = p.threads[3]
    window = {}

    def in_window(point):
        window["window_opened"] = True
        for x in addrs:
            r.access(writer, x, write=True)
        window["stale_after_write_fault"] = len(stale_translations(m, p.threads, p, addrs))
        load_all(r, p.threads[1:], addrs)

    with m.at("migrc_flush_free_folios:before_flush", in_window):
        m.migrc_flush_free_folios(cpu=15)
    r.facts["window_opened"] = window.get("window_opened", False)
    r.facts["stale_after_write_fault"] = window.get("stale_after_write_fault")
    if not r.facts["window_opened"]:
        for x in addrs:
            r.access(writer, x, write=True)
    load_all(r, p.threads, addrs)
    if not r.facts["window_opened"]:
        closed = "nothing was pending: the flush's window never opened"
    else:
        closed = (f"{r.facts['stale_after_write_fault']} stale translations left when the write "
                  f"fault returned inside the other CPU's flush")
    return r.outcome(closed)
