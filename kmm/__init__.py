"""kmm: a Cython emulator of the Linux v6.6 memory-management paths touched
by the migrc patch series (Byungchul Park, 2023)."""

__version__ = "0.1.0"

from kmm.emu.config import KmmError, KmmConfigError, KmmStateError  # noqa: E402
from kmm.emu.machine import Machine  # noqa: E402

__all__ = ["Machine", "KmmError", "KmmConfigError", "KmmStateError", "__version__",
           "source_fingerprint"]

_SOURCE_SUFFIXES = (".py", ".pyx", ".pxd", ".json")
_fingerprint = None


def source_fingerprint() -> str:
    """The first 16 hex digits of a SHA-256 over this kmm's sources (every
    .py, .pyx, .pxd and .json file of the package, by relative path): two
    processes with the same value run the same mechanism, whatever their
    version string or compiler.  `kmm sweep` stores it with each run and
    refuses to mix runs of different sources (docs/sweep.md)."""
    global _fingerprint
    if _fingerprint is None:
        import hashlib
        from pathlib import Path
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for f in sorted(p for p in root.rglob("*") if p.suffix in _SOURCE_SUFFIXES and p.is_file()):
            rel = f.relative_to(root).as_posix()
            if "__pycache__" in rel:
                continue
            h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
        _fingerprint = h.hexdigest()[:16]
    return _fingerprint
