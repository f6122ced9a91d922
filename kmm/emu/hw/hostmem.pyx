"""Host memory for the emulator's big arrays (emulator-only, not a mirror).

Emulating an access costs a handful of dependent reads in host memory
spread over hundreds of MB at the seed's size: the TLB set, the PTE, its
oracle slot and the data page's struct page.  Two things keep each of them
to one cache line and one host-TLB reach:

- host_alloc(): anonymous memory aligned to 2 MiB and advised
  MADV_HUGEPAGE, so that the host backs it with transparent huge pages (one
  host TLB entry per 2 MiB instead of per 4 KiB) and every 64-byte struct
  page sits in one cache line (calloc's 16-byte header put every struct
  page across two).
- the page-table pool: each emulated page-table page's contents (a
  struct kmm_pt, 4 KiB of entries and 2 KiB of oracle slots, 4 KiB
  aligned) is an 8 KiB block carved from 2 MiB host_alloc() chunks, kept
  together instead of scattered over the malloc heap.  Freed blocks are
  reused last-in first-out.  The pool belongs to the machine and goes with
  it.

Where the host memory lies never changes what is emulated: nothing derives
a counter from a host address.
"""

from libc.stdlib cimport malloc, free
from kmm.linux.include_.kmm.machine cimport kmm_machine

cdef extern from "sys/mman.h" nogil:
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)
    int madvise(void *addr, size_t length, int advice)
    int PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS, MADV_HUGEPAGE
    void *MAP_FAILED

cdef enum:
    HUGE = 2 << 20                   # the host's PMD size: one THP
    PT_BLOCK = 8192                  # a kmm_pt (6 KiB) at 4 KiB alignment
    PT_BLOCKS_PER_CHUNK = HUGE // PT_BLOCK


cdef inline size_t _round_huge(size_t size) noexcept nogil:
    return (size + HUGE - 1) & ~(<size_t>HUGE - 1)


cdef void *host_alloc(size_t size) noexcept nogil:
    """size bytes of zeroed host memory aligned to 2 MiB, advised for huge
    pages; NULL when the host has none.  Free with host_free(p, size)."""
    cdef size_t len = _round_huge(size if size else 1)
    cdef char *raw = <char *>mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    cdef char *p
    cdef size_t head
    if <void *>raw == MAP_FAILED:
        return NULL
    # keep the 2 MiB-aligned len bytes, give back the rest
    p = <char *>((<size_t>raw + HUGE - 1) & ~(<size_t>HUGE - 1))
    head = <size_t>(p - raw)
    if head:
        munmap(raw, head)
    if HUGE - head:
        munmap(p + len, HUGE - head)
    madvise(p, len, MADV_HUGEPAGE)           # advice only: no THP is fine too
    return p


cdef void host_free(void *p, size_t size) noexcept nogil:
    if p != NULL:
        munmap(p, _round_huge(size if size else 1))


# A chunk of the page-table pool: the chunks form a list from the machine.
cdef struct pt_chunk:
    pt_chunk *next
    char *mem


cdef void *pt_block_alloc(kmm_machine *m) noexcept nogil:
    """An 8 KiB, 4 KiB-aligned block for one page-table page's contents
    (not zeroed), or NULL when host memory runs out."""
    cdef void *b = m.kmm_pt_free
    cdef pt_chunk *c
    cdef int i
    if b == NULL:
        c = <pt_chunk *>malloc(sizeof(pt_chunk))
        if c == NULL:
            return NULL
        c.mem = <char *>host_alloc(HUGE)
        if c.mem == NULL:
            free(c)
            return NULL
        c.next = <pt_chunk *>m.kmm_pt_chunks
        m.kmm_pt_chunks = c
        # thread the chunk's blocks on the free list, lowest address first
        for i in range(PT_BLOCKS_PER_CHUNK - 1, -1, -1):
            (<void **>(c.mem + i * PT_BLOCK))[0] = m.kmm_pt_free
            m.kmm_pt_free = c.mem + i * PT_BLOCK
        b = m.kmm_pt_free
    m.kmm_pt_free = (<void **>b)[0]
    return b


cdef void pt_block_free(kmm_machine *m, void *block) noexcept nogil:
    (<void **>block)[0] = m.kmm_pt_free
    m.kmm_pt_free = block


cdef void pt_pool_destroy(kmm_machine *m) noexcept nogil:
    """Give every chunk back (the machine is going away)."""
    cdef pt_chunk *c = <pt_chunk *>m.kmm_pt_chunks
    cdef pt_chunk *n
    while c != NULL:
        n = c.next
        host_free(c.mem, HUGE)
        free(c)
        c = n
    m.kmm_pt_chunks = NULL
    m.kmm_pt_free = NULL
