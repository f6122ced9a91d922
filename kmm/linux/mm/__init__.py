# Seed-patch hunks mirrored by the .pxd headers of this package (the .pyx
# modules declare theirs in their own HUNKS dicts); see docs/study.md.
HUNKS = {
    "mm/internal.h#1": ("internal.pxd:migrc_init_page", "internal.pxd:migrc_unpend_if_pending",
                        "internal.pxd:can_migrc_init", "internal.pxd:can_migrc_fail",
                        "internal.pxd:can_migrc_test", "internal.pxd:migrc_pending_nr_in_zone",
                        "migrate.pxd:migrc_flush_free_folios"),
}
