"""Presentation of experiment results (emulator-only): text tables in the
seed's own format (`tables`), matplotlib figures (`plots`, the `plot`
extra) and the terminal progress bar (`progress`)."""
