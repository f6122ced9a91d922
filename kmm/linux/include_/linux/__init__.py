# Seed-patch hunks mirrored by the .pxd headers of this package, for the hunk
# map (`kmm study`, tools/check_hunk_map.py): hunk id -> ("FILE.pxd:SYMBOL", ...).
# SYMBOL is a function, struct, enum member, or STRUCT.FIELD.  docs/study.md.
HUNKS = {
    "include/linux/mm_types.h#1": ("mm_types.pxd:migrc_req",),
    "include/linux/mmzone.h#1": ("mmzone.pxd:zone.migrc_pending_nr",),
    "include/linux/mmzone.h#2": ("mmzone.pxd:pglist_data.migrc_reqs",),
    "include/linux/page-flags.h#1": ("page_flags.pxd:PG_migrc",),
    # TESTCLEARFLAG(Migrc) and __PAGEFLAG(Migrc): the folio helpers
    "include/linux/page-flags.h#2": ("page_flags.pxd:folio_test_migrc",
                                     "page_flags.pxd:folio_test_clear_migrc",
                                     "page_flags.pxd:__folio_set_migrc",
                                     "page_flags.pxd:__folio_clear_migrc"),
    "include/linux/sched.h#1": ("sched.pxd:task_struct.can_migrc",),
}
