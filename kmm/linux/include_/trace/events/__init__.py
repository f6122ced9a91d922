# Seed-patch hunks mirrored by the .pxd headers of this package, for the hunk
# map (`kmm study`): hunk id -> ("FILE.pxd:SYMBOL", ...).  docs/study.md.
HUNKS = {
    # DEF_PAGEFLAG_NAME(migrc) in __def_pageflag_names, after unevictable
    "include/trace/events/mmflags.h#1": ("mmflags.pxd:pageflag_names_bit",
                                         "mmflags.pxd:pageflag_names_name"),
}
