"""gfp masks by name, for the Python API (Machine.alloc_pages(gfp=...),
fault-injection sites): the kernel's flag names (include/linux/gfp_types.h)
as %pGg prints them (include/trace/events/mmflags.h)."""

from kmm.linux.include_.linux.gfp_types cimport *

from kmm.emu.config import KmmConfigError

# gfp flag names, composite masks first as the kernel's %pGg prints them
# (include/trace/events/mmflags.h); parse_gfp accepts each, gfp_names names
GFP = {
    "GFP_HIGHUSER_MOVABLE": GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER": GFP_HIGHUSER,
    "GFP_USER": GFP_USER, "GFP_KERNEL": GFP_KERNEL, "GFP_NOWAIT": GFP_NOWAIT,
    "__GFP_HIGHMEM": __GFP_HIGHMEM, "__GFP_MOVABLE": __GFP_MOVABLE, "__GFP_HIGH": __GFP_HIGH,
    "__GFP_IO": __GFP_IO, "__GFP_FS": __GFP_FS, "__GFP_ZERO": __GFP_ZERO,
    "__GFP_DIRECT_RECLAIM": __GFP_DIRECT_RECLAIM, "__GFP_KSWAPD_RECLAIM": __GFP_KSWAPD_RECLAIM,
    "__GFP_NOWARN": __GFP_NOWARN, "__GFP_NORETRY": __GFP_NORETRY, "__GFP_COMP": __GFP_COMP,
    "__GFP_NOMEMALLOC": __GFP_NOMEMALLOC, "__GFP_HARDWALL": __GFP_HARDWALL,
    "__GFP_THISNODE": __GFP_THISNODE, "__GFP_ACCOUNT": __GFP_ACCOUNT,
}
_GFP_PARSE_ONLY = {"GFP_ATOMIC": GFP_ATOMIC, "GFP_DMA": GFP_DMA, "GFP_DMA32": GFP_DMA32}


def gfp_names(mask):
    """A gfp mask as 'GFP_HIGHUSER_MOVABLE|__GFP_THISNODE'."""
    parts = []
    for name, bits in GFP.items():
        if mask & bits == bits:
            parts.append(name)
            mask &= ~bits
    return "|".join(parts + ([f"{mask:#x}"] if mask else [])) or "0"



def parse_gfp(gfp):
    """'GFP_HIGHUSER_MOVABLE|__GFP_THISNODE' or an int -> gfp_t."""
    if isinstance(gfp, bool):
        raise KmmConfigError(f"gfp: {gfp!r} is not a gfp mask")
    if isinstance(gfp, int):
        if not 0 <= gfp < (1 << 26):
            raise KmmConfigError(f"gfp: {gfp:#x} has bits outside __GFP_BITS_MASK")
        return gfp
    if not isinstance(gfp, str):
        raise KmmConfigError(f"gfp: {gfp!r}; expected an int or names like 'GFP_KERNEL|__GFP_THISNODE'")
    out = 0
    for part in gfp.split("|"):
        name = part.strip()
        bits = GFP.get(name, _GFP_PARSE_ONLY.get(name))
        if bits is None:
            raise KmmConfigError(f"gfp: unknown flag {name!r}; accepted: "
                                 f"{', '.join(list(GFP) + list(_GFP_PARSE_ONLY))}")
        out |= bits
    return out
