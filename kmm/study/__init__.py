"""`kmm study`: hold each hunk of a kernel patch next to the emulator code
that mirrors it (emulator-only, pure Python).

patch.py    unified-diff parser (hunk ids FILE#N)
source.py   finds a symbol's source span in a .pyx/.pxd by reading its text
hunkmap.py  the hunk map: HUNKS declarations beside the mirrors, hunk-marked
            tests in tests/hunks/, and the check
render.py   terminal (rich) and self-contained HTML output

How to declare a mirror or a test: docs/study.md.
"""
