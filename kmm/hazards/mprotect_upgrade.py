"""mprotect upgrade: a deferred read-only page becomes writable through
mprotect(PROT_READ|PROT_WRITE).

Objection.  A deferral is only safe while nobody can write the new copy;
anything that installs a PTE inconsistent with the cached one -- a write
fault, but also mprotect making a PTE writable -- must do the deferred
flush first (Byungchul Park listing the flush points "permission to
writable e.i. mprotect or fault handler", and Dave Hansen: "anything that
installs a PTE which is inconsistent with the original PTE", Re: [PATCH
v11 09/12] mm: implement LUF, 2024-06-03,
https://lkml.iu.edu/hypermail/linux/kernel/2406.0/01768.html and the
thread around it).  The seed patch only hooks do_wp_page; mprotect changes
the PTE without any write fault.

Run.  Fifteen threads of one process read pages that are read-only
(mprotect 'r'), clean and exclusive; the pages are demoted (deferred under
migrc).  Thread 15, which never touched them, waits in the window of
mprotect('rw') between the PTE change and the flush at tlb_end_vma
(interleaving point change_protection_range:before_flush): it stores
through the new writable PTE (a TLB miss, so no fault and no mmap_lock),
then threads 1..14 load through whatever they cache.

What decides it: change_pte_range() first calls
flush_tlb_batched_pending(mm), and set_tlb_ubc_flush_pending() counts
migrc's read-only batch in mm->tlb_flush_batched like any other, so the
deferred CPUs of this mm are flushed (flush_tlb_mm) before any PTE changes.
The debug kconfig CONFIG_KMM_NO_BATCHED_PENDING_FLUSH removes that flush to
show it is the one that closes the window (tests/test_hazards.py).
"""

from kmm.hazards._common import PAGE, Run, machine, read_only_clean_anon, load_all, stale_translations

NAME = "mprotect_upgrade"
TITLE = "mprotect upgrade of a deferred read-only page"
NPAGES = 2


def run(kernel, ablate=(), kconfig=None):
    m = machine(kernel, ablate, kconfig)
    r = Run(NAME, kernel, m)
    p = m.spawn(threads=16)
    a = read_only_clean_anon(m, p, NPAGES)
    addrs = [a + i * PAGE for i in range(NPAGES)]
    p.mprotect(a, NPAGES, "r")
    readers, writer = p.threads[:15], p.threads[15]
    load_all(r, readers, addrs)
    for x in addrs:
        r.role(p.pfn(x), "source page, migrated away")
    m.migrate(p, a, NPAGES, node=1, reason="demotion")
    for x in addrs:
        r.role(p.pfn(x), "destination page")
    r.facts["deferred"] = sum(v["pending"] for v in m.migrc_pending().values())
    r.facts["stale_before_mprotect"] = len(stale_translations(m, readers, p, addrs))
    window = {}

    def in_window(point):
        window["stale_in_window"] = len(stale_translations(m, readers, p, addrs))
        for x in addrs:
            r.access(writer, x, write=True)
        load_all(r, readers[1:], addrs)

    before = m.vmstat()["nr_tlb_remote_flush"]
    with m.at("change_protection_range:before_flush", in_window):
        p.mprotect(a, NPAGES, "rw")
    r.facts.update(window)
    r.facts["mprotect_remote_flushes"] = m.vmstat()["nr_tlb_remote_flush"] - before
    load_all(r, p.threads, addrs)
    if r.facts["stale_before_mprotect"] == 0:
        closed = "the migration flushed at once: no stale translation to begin with"
    elif window.get("stale_in_window") == 0:
        closed = (f"{r.facts['stale_before_mprotect']} stale translations before mprotect, none left "
                  f"in its window: change_pte_range's flush_tlb_batched_pending flushed the mm first")
    else:
        closed = f"{window.get('stale_in_window')} stale translations in mprotect's window"
    return r.outcome(closed)
