"""Reuse of a source page while a CPU still holds a translation to it.

Objection.  A page whose flush was deferred must not be handed out again
before the flush: "page goes back to buddy, page is allocated to slab,
application reads through stale TLB entry and sees kernel memory"
(Matthew Wilcox, Re: [PATCH v11 09/12] mm: implement LUF, 2024-06-03,
https://lkml.iu.edu/hypermail/linux/kernel/2406.0/01791.html).  migrc keeps
the source with an extra reference until migrc_flush_free_folios() has
flushed; its allocator hunks count held sources as free in the watermark
checks and flush them when an allocation falls short (page_alloc.c#2-#4),
and post_alloc_hook clears PG_migrc (page_alloc.c#1) -- about which
Matthew Wilcox asked "This flag should already be clear ... ?"
(<ZUzuUf7JfhybYBgg@casper.infradead.org>, 2023-11-09): v6.6's
free_pages_prepare() clears every page flag, PG_migrc included.

Run.  Process X (15 threads) maps, side by side, a file page F read-only
(MAP_SHARED) and an anonymous page A that is read-only and clean; process
Y (CPU 15) maps F read-write and has written it.  One demotion batch takes
F, then A: F has a writable mapping, so it is flushed with the batch and
its source freed at once; A is deferred and its source held.  Y then
faults in pages until node 0 runs out (get_page_from_freelist flushes and
frees the held source when the watermark check fails), and X's threads
read F and A.

What decides it (found by running each single-hunk ablation): the reads
stay coherent unless migrate.c#7 is ablated -- without the per-folio
fold_ubc_ro(), F's read-only entries are still in tlb_ubc_ro when A's
unmap folds that batch into migrc's request, so F's source is freed and
reused while X's CPUs keep translations to it.  Ablating the allocator
hunks changes nothing here: the held source is only ever freed after the
flush.
"""

from kmm.hazards._common import PAGE, Run, machine, read_only_clean_anon, load_all
from kmm.emu import testing as T

NAME = "source_reuse"
TITLE = "reuse of a migrated-away source page"


CHUNK = 256


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    x = m.spawn(threads=15)
    y = m.spawn(threads=1, cpus=[15])
    a = read_only_clean_anon(m, x, 1)
    f = m.create_file(1)
    bf = x.mmap(1, "r", shared=True, file=f)
    if bf + PAGE != a:
        raise RuntimeError(f"setup: the file page ({bf:#x}) is not right below the anonymous one ({a:#x})")
    by = y.mmap(1, "rw", shared=True, file=f)
    r.access(y.threads[0], by, write=True)
    load_all(r, x.threads, [bf, a])
    f_old, a_old = x.pfn(bf), x.pfn(a)
    r.role(f_old, "file page's source, migrated away")
    r.role(a_old, "anonymous page's source, held by migrc" if m.kconfig["CONFIG_MIGRC"]
           else "anonymous page's source, migrated away")
    m.migrate(x, bf, 2, node=1, reason="demotion")
    r.role(x.pfn(bf), "file page's destination")
    r.role(x.pfn(a), "anonymous page's destination")
    r.facts["deferred"] = sum(v["pending"] for v in m.migrc_pending().values())
    r.facts["file_source_free_after_migration"] = m.page(f_old)["buddy"]
    r.facts["held_source_free_after_migration"] = m.page(a_old)["buddy"]
    # memory pressure on node 0: Y faults in pages, a chunk at a time, until
    # they come from node 1; X's threads read as soon as a source is reused
    room = m.node_free_pages(0) + 2 * CHUNK
    fill = y.mmap(room)
    done = 0
    reused = {}
    while done < room:
        done += T.bench_access(y.threads[0], fill + done * PAGE, CHUNK, CHUNK, write=True)
        for pfn, what in ((f_old, "file_source"), (a_old, "held_source")):
            pg = m.page(pfn)
            if what not in reused and not pg["buddy"] and pg["refcount"] > 0:
                reused[what] = done
                r.roles[pfn] = r.roles[pfn] + ", reused by another process"
                load_all(r, x.threads, [bf, a])
    r.facts["fill_pages"] = done
    r.facts["file_source_reused_after"] = reused.get("file_source")
    r.facts["held_source_reused_after"] = reused.get("held_source")
    r.facts["pending_after_fill"] = sum(v["pending"] for v in m.migrc_pending().values())
    load_all(r, x.threads, [bf, a])
    y.munmap(fill, room)
    closed = (f"file page's source reused after {reused.get('file_source')} faults, anonymous "
              f"page's source (held: {not r.facts['held_source_free_after_migration']}) after "
              f"{reused.get('held_source')}; no CPU used a translation to either")
    return r.outcome(closed)
