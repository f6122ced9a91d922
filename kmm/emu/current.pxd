# The machine whose state mirrored kernel code is running on.  A leaf module
# so every mirrored module can reach it without import cycles; the pointer is
# untyped here and typed by KMM() in kmm/linux/include_/kmm/machine.pxd.

cdef void *kmm_current() noexcept nogil
cdef void kmm_set_current(void *m) noexcept nogil
cdef void **kmm_current_slot() noexcept nogil

# KMM() runs on every emulated access, several times: rather than a call
# into this module each time, every module that cimports this header keeps
# the address of the one variable (fetched on first use) and reads it.
cdef extern from *:
    """
    static void **kmm__current_slot = 0;
    static CYTHON_INLINE void *kmm__current_fast(void **(*slot_fn)(void)) {
        if (__builtin_expect(kmm__current_slot == 0, 0))
            kmm__current_slot = slot_fn();
        return *kmm__current_slot;
    }
    """
    ctypedef void **(*kmm_slot_fn)() noexcept nogil
    void *kmm__current_fast(kmm_slot_fn slot_fn) noexcept nogil

cdef inline void *kmm_current_fast() noexcept nogil:
    return kmm__current_fast(kmm_current_slot)
