"""kmm: a Cython emulator of the Linux v6.6 memory-management paths touched
by the migrc patch series (Byungchul Park, 2023)."""

__version__ = "0.1.0"

from kmm.emu.config import KmmError, KmmConfigError, KmmStateError  # noqa: E402
from kmm.emu.machine import Machine  # noqa: E402

__all__ = ["Machine", "KmmError", "KmmConfigError", "KmmStateError", "__version__"]
