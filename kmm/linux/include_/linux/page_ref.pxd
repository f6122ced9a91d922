# Mirrors include/linux/page_ref.h: the page / folio reference count.

from kmm.linux.include_.linux.mm_types cimport page, folio


cdef inline int page_ref_count(const page *p) noexcept nogil:
    return p._refcount

cdef inline int folio_ref_count(const folio *f) noexcept nogil:
    return f._refcount

cdef inline void set_page_count(page *p, int v) noexcept nogil:
    p._refcount = v

cdef inline void init_page_count(page *p) noexcept nogil:
    p._refcount = 1

cdef inline void page_ref_inc(page *p) noexcept nogil:
    p._refcount += 1

cdef inline void folio_ref_inc(folio *f) noexcept nogil:
    f._refcount += 1

cdef inline void folio_ref_add(folio *f, int nr) noexcept nogil:
    f._refcount += nr

cdef inline void folio_ref_sub(folio *f, int nr) noexcept nogil:
    f._refcount -= nr

cdef inline bint page_ref_dec_and_test(page *p) noexcept nogil:
    p._refcount -= 1
    return p._refcount == 0

cdef inline bint folio_ref_dec_and_test(folio *f) noexcept nogil:
    f._refcount -= 1
    return f._refcount == 0

cdef inline bint folio_ref_try_add_rcu(folio *f, int count) noexcept nogil:
    if f._refcount == 0:
        return False
    f._refcount += count
    return True

cdef inline bint folio_ref_freeze(folio *f, int count) noexcept nogil:
    """Set the count to 0 only if it is exactly count (page_ref_freeze)."""
    if f._refcount != count:
        return False
    f._refcount = 0
    return True

cdef inline void folio_ref_unfreeze(folio *f, int count) noexcept nogil:
    f._refcount = count
