"""ERRNO_NAMES: errno number -> the kernel's name, from the constants of
include/uapi/asm-generic/errno-base.h (errno_base.pxd), so the Python face
can decode a mirrored function's -errno."""

from kmm.linux.include_.uapi.asm_generic cimport errno_base as E

ERRNO_NAMES = {
    E.EPERM: "EPERM", E.ENOENT: "ENOENT", E.ESRCH: "ESRCH", E.EINTR: "EINTR", E.EIO: "EIO",
    E.ENXIO: "ENXIO", E.E2BIG: "E2BIG", E.ENOEXEC: "ENOEXEC", E.EBADF: "EBADF",
    E.ECHILD: "ECHILD", E.EAGAIN: "EAGAIN", E.ENOMEM: "ENOMEM", E.EACCES: "EACCES",
    E.EFAULT: "EFAULT", E.ENOTBLK: "ENOTBLK", E.EBUSY: "EBUSY", E.EEXIST: "EEXIST",
    E.EXDEV: "EXDEV", E.ENODEV: "ENODEV", E.ENOTDIR: "ENOTDIR", E.EISDIR: "EISDIR",
    E.EINVAL: "EINVAL", E.ENFILE: "ENFILE", E.EMFILE: "EMFILE", E.ENOTTY: "ENOTTY",
    E.ETXTBSY: "ETXTBSY", E.EFBIG: "EFBIG", E.ENOSPC: "ENOSPC", E.ESPIPE: "ESPIPE",
    E.EROFS: "EROFS", E.EMLINK: "EMLINK", E.EPIPE: "EPIPE", E.EDOM: "EDOM",
    E.ERANGE: "ERANGE", E.ENOSYS: "ENOSYS",
}
