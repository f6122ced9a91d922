# Mirrors include/uapi/asm-generic/errno-base.h and the errno.h numbers the
# mirror returns (negated, as kernel functions do).  The Python-visible
# table of names is ERRNO_NAMES in kmm/linux/include_/uapi/asm_generic/errno.pyx.

cdef enum:
    EPERM = 1
    ENOENT = 2
    ESRCH = 3
    EINTR = 4
    EIO = 5
    ENXIO = 6
    E2BIG = 7
    ENOEXEC = 8
    EBADF = 9
    ECHILD = 10
    EAGAIN = 11
    ENOMEM = 12
    EACCES = 13
    EFAULT = 14
    ENOTBLK = 15
    EBUSY = 16
    EEXIST = 17
    EXDEV = 18
    ENODEV = 19
    ENOTDIR = 20
    EISDIR = 21
    EINVAL = 22
    ENFILE = 23
    EMFILE = 24
    ENOTTY = 25
    ETXTBSY = 26
    EFBIG = 27
    ENOSPC = 28
    ESPIPE = 29
    EROFS = 30
    EMLINK = 31
    EPIPE = 32
    EDOM = 33
    ERANGE = 34

# include/uapi/asm-generic/errno.h (the ones the mirror uses)
cdef enum:
    ENOSYS = 38
