"""fork() and copy-on-write of a deferred page.

Objection.  A deferred page can be shared copy-on-write between a parent
and a child; whoever writes first gets a copy, and the other process's
CPUs must not go on reading the old source through deferred translations
once the data they should see has moved on.  More generally, "anything
that installs a PTE which is inconsistent with the original PTE" needs the
deferred flush first (Dave Hansen, Re: [PATCH v11 09/12] mm: implement LUF,
2024-06-03, https://lkml.iu.edu/hypermail/linux/kernel/2406.0/01768.html)
-- and fork() installs PTEs (copy_page_range) and write-protects the
parent's.  (No review message dedicated to fork was found; this is the
general rule applied to copy_page_range and the COW fault.)

Run, two phases.
1. COW after the deferral: parent P (8 threads, CPUs 0-7) has two
   read-only, clean pages; it forks child C (8 threads, CPUs 8-15);
   everyone reads.  The pages, now mapped by both, are demoted (migrc:
   deferred for both mms).  Page 1: P unmaps it, so when C's thread 8
   writes it, do_wp_page() finds the page no longer shared and reuses it in
   place, with no flush at all: only the seed's do_wp_page hunk (memory.c#1,
   the page carries PG_migrc) flushes C's deferred translations; C's
   threads read it.  Page 0: C writes it while P still maps it --
   wp_page_copy() gives C a copy and flushes the address in C's mm
   (ptep_clear_flush); because the deferred unmap already raised C's
   tlb_gen, that flush is a full one on every CPU (flush_tlb_func's
   generation catch-up), so it drops every deferred translation of C
   whatever migrc does.  Then every thread reads.
2. fork during the deferral: C exits; P's pages are made read-only and
   clean again and read by all of P's threads, demoted (deferred), and P
   forks C2 (CPUs 8-15); P's thread 0 writes (COW), everyone reads.
   dup_mmap() ends with flush_tlb_mm(oldmm), which flushes the parent's
   deferred translations whatever migrc does.
"""

from kmm.hazards._common import PAGE, Run, machine, read_only_clean_anon, load_all, stale_translations

NAME = "fork_cow"
TITLE = "fork and copy-on-write of a deferred page"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    p = m.spawn(threads=8)
    # phase 1: COW of a page deferred while shared with a child
    a = read_only_clean_anon(m, p, NPAGES)
    addrs = [a + i * PAGE for i in range(NPAGES)]
    c = p.fork(threads=8, cpus=range(8, 16))
    load_all(r, p.threads + c.threads, addrs)
    for x in addrs:
        r.role(p.pfn(x), "source page, migrated away")
    m.migrate(p, a, NPAGES, node=1, reason="demotion")
    for x in addrs:
        r.role(p.pfn(x), "destination page (shared by parent and child)")
    r.facts["deferred_shared"] = sum(v["pending"] for v in m.migrc_pending().values())
    r.facts["stale_in_child_before_cow"] = len(stale_translations(m, c.threads, c, addrs))
    p.munmap(addrs[1], 1)                              # now only the child maps page 1
    r.access(c.threads[0], addrs[1], write=True)       # exclusive again: reused in place
    r.facts["child_reused_in_place"] = \
        r.roles.get(c.pfn(addrs[1])) == "destination page (shared by parent and child)"
    r.facts["stale_in_child_after_reuse"] = len(stale_translations(m, c.threads, c, addrs[1:]))
    load_all(r, c.threads, addrs[1:])
    r.access(c.threads[0], addrs[0], write=True)       # still shared: copy + flush
    r.role(c.pfn(addrs[0]), "child's COW copy")
    r.facts["stale_in_child_after_copy"] = len(stale_translations(m, c.threads, c, addrs))
    load_all(r, c.threads, addrs)
    load_all(r, p.threads, addrs[:1])
    r.facts["phase1_violations"] = len(m.oracle.violations)
    c.exit()
    # phase 2: fork while the parent's flush is deferred
    b = read_only_clean_anon(m, p, NPAGES)
    baddrs = [b + i * PAGE for i in range(NPAGES)]
    load_all(r, p.threads, baddrs)
    for x in baddrs:
        r.role(p.pfn(x), "source page, migrated away")
    m.migrate(p, b, NPAGES, node=1, reason="demotion")
    for x in baddrs:
        r.role(p.pfn(x), "destination page")
    r.facts["deferred_before_fork"] = sum(v["pending"] for v in m.migrc_pending().values())
    r.facts["stale_in_parent_before_fork"] = len(stale_translations(m, p.threads, p, baddrs))
    c2 = p.fork(threads=8, cpus=range(8, 16))
    r.facts["stale_in_parent_after_fork"] = len(stale_translations(m, p.threads, p, baddrs))
    for x in baddrs:
        r.access(p.threads[0], x, write=True)
        r.role(p.pfn(x), "parent's COW copy")
    load_all(r, p.threads + c2.threads, baddrs)
    r.facts["phase2_violations"] = len(m.oracle.violations) - r.facts["phase1_violations"]
    closed = (f"COW after deferral: {r.facts['stale_in_child_before_cow']} stale translations in the "
              f"child, {r.facts['stale_in_child_after_reuse']} after an in-place reuse, "
              f"{r.facts['stale_in_child_after_copy']} after a copy; fork during "
              f"deferral: {r.facts['stale_in_parent_before_fork']} in the parent before fork(), "
              f"{r.facts['stale_in_parent_after_fork']} after")
    return r.outcome(closed)
