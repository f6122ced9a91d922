"""Replay of a page-access trace.  Emulator-only.

Formats (one record per access, in each thread's program order):
- CSV with the header `thread,page,write` (the three columns, in any order,
  and no others), one record per line; blank lines are skipped.
- NumPy `.npy`: a structured array with integer fields `thread`, `page`,
  `write`, or an (n, 3) integer array whose columns are thread, page, write.
  (A numpy array can also be passed directly.)
`thread` is the thread number (0-based), `page` a page index within one
anonymous private rw region, `write` 1 for a store and 0 for a load.  The
region has max(page)+1 pages; the number of threads is max(thread)+1 unless
`threads` is given.  The records of one thread are replayed in file order
(the order across threads is the engine's); an access goes to the first
byte of its page.  There is no init phase: a page is faulted by its first
access (a read of an untouched page maps the zero page, as in Linux).

A missing, unreadable or malformed trace raises kmm.KmmConfigError naming
the file, the line (CSV, 1-based, the header is line 1) or the record index
(npy, 0-based) and the problem: no such file, a directory or another file
that is not a regular file, bytes that are not UTF-8 text (CSV), a missing
or unknown column, a value that is not an integer, a negative thread or
page, thread >= threads, write not 0 or 1, or an empty trace.

Virtual time: ns_per_access per access (a parameter; default 100 ns).
"""

import io
import os
import re
import stat

import numpy as np

from libc.stdint cimport int64_t

from kmm.workloads.base cimport Workload, PHASE_RUN, PHASE_DONE

from kmm.emu.config import KmmConfigError
from kmm.workloads.base import check_int, check_float

COLUMNS = ("thread", "page", "write")
MAX_PAGES = 1 << 30            # Process.mmap's limit
_INT = re.compile(r"^[+-]?\d+$")


def _bad(where, msg):
    raise KmmConfigError(f"{where}: {msg}")


def _read(name):
    """The bytes of a trace file; refuses a missing file, a directory and
    anything that is not a regular file (a FIFO or device would block or
    never end)."""
    try:
        st = os.stat(name)
    except FileNotFoundError:
        _bad(name, "no such file")
    except OSError as e:
        _bad(name, f"cannot read: {e.strerror or e}")
    if stat.S_ISDIR(st.st_mode):
        _bad(name, "is a directory, not a trace file")
    if not stat.S_ISREG(st.st_mode):
        _bad(name, "is not a regular file")
    try:
        with open(name, "rb") as f:
            return f.read()
    except OSError as e:
        _bad(name, f"cannot read: {e.strerror or e}")


def _text(name):
    """A CSV trace's text; refuses bytes that are not UTF-8 or are NUL (a
    binary file), naming the first one's line."""
    raw = _read(name)
    bad = raw.find(b"\0")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start if bad < 0 else min(bad, e.start)
    if bad >= 0:
        line = raw.count(b"\n", 0, bad) + 1
        _bad(f"{name} line {line}",
             f"not text: byte {bad} is not UTF-8 text (a CSV trace is text with the header "
             f"'thread,page,write')")
    return text


def parse_csv(path):
    """(thread, page, write) int64 arrays from a CSV trace."""
    thread, page, write, lines = [], [], [], []
    name = os.fspath(path)
    with io.StringIO(_text(name), newline="") as f:
        header = f.readline()
        if not header.strip():
            _bad(f"{name} line 1", "empty trace: no header 'thread,page,write' and no records")
        cols = [c.strip() for c in header.rstrip("\r\n").split(",")]
        for c in COLUMNS:
            if c not in cols:
                _bad(f"{name} line 1", f"missing column {c!r}; the header must be "
                     f"'thread,page,write' (got {header.strip()!r})")
        extra = [c for c in cols if c not in COLUMNS]
        if extra or len(cols) != 3:
            _bad(f"{name} line 1", f"unknown or repeated column(s) {extra or cols!r}; the header "
                 f"must be 'thread,page,write'")
        idx = [cols.index(c) for c in COLUMNS]
        for lineno, line in enumerate(f, start=2):
            s = line.strip()
            if not s:
                continue
            fields = [x.strip() for x in s.split(",")]
            if len(fields) != 3:
                _bad(f"{name} line {lineno}", f"{len(fields)} field(s) in {s!r}; expected 3 "
                     f"(thread,page,write)")
            vals = []
            for c, i in zip(COLUMNS, idx):
                v = fields[i]
                if not _INT.match(v):
                    _bad(f"{name} line {lineno}", f"{c} {v!r} is not an integer")
                vals.append(int(v))
            thread.append(vals[0])
            page.append(vals[1])
            write.append(vals[2])
            lines.append(lineno)
    if not thread:
        _bad(f"{name} line 2", "empty trace: the header has no records after it")
    return (np.array(thread, dtype=object), np.array(page, dtype=object),
            np.array(write, dtype=object), lambda i: f"{name} line {lines[i]}")


def _npy_columns(arr, label):
    """(thread, page, write) arrays from a structured or (n, 3) array."""
    where = lambda i: f"{label} record {i}"
    if arr.dtype.names is not None:
        for c in COLUMNS:
            if c not in arr.dtype.names:
                _bad(label, f"missing field {c!r}; a structured trace needs the fields "
                     f"thread, page, write (got {arr.dtype.names!r})")
        if arr.ndim != 1:
            _bad(label, f"a structured trace must be 1-D (got shape {arr.shape})")
        cols = [arr[c] for c in COLUMNS]
    else:
        if arr.ndim != 2 or arr.shape[1] != 3:
            _bad(label, f"expected a structured array with fields thread, page, write or an "
                 f"(n, 3) integer array; got shape {arr.shape}")
        cols = [arr[:, i] for i in range(3)]
    if len(cols[0]) == 0:
        _bad(label, "empty trace: no records")
    out = []
    for c, col in zip(COLUMNS, cols):
        k = col.dtype.kind
        if k in "iub":
            out.append(col.astype(object))
        elif k == "f":
            bad = np.nonzero(~np.isfinite(col) | (col != np.floor(col)))[0]
            if len(bad):
                _bad(where(bad[0]), f"{c} {col[bad[0]].item()!r} is not an integer")
            out.append(col.astype(np.int64).astype(object))
        else:
            vals = []
            for i, v in enumerate(col):
                if isinstance(v, np.generic):
                    v = v.item()
                if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                    _bad(where(i), f"{c} {v!r} is not an integer")
                vals.append(int(v))
            out.append(np.array(vals, dtype=object))
    return out[0], out[1], out[2], where


def load_trace(source, threads=None):
    """Validate a trace; returns (thread, page, write) int64 arrays and the
    number of threads."""
    if isinstance(source, np.ndarray):
        t, p, w, where = _npy_columns(source, "trace array")
    else:
        name = os.fspath(source)
        if name.endswith(".npy"):
            raw = _read(name)
            try:
                arr = np.load(io.BytesIO(raw), allow_pickle=False)
            except (ValueError, EOFError, OSError) as e:
                _bad(name, f"not a numeric .npy trace ({e})")
            t, p, w, where = _npy_columns(arr, name)
        elif name.endswith(".csv"):
            t, p, w, where = parse_csv(name)
        else:
            raise KmmConfigError(f"trace: {name!r}; accepted: a .csv or .npy file, or a numpy array")
    if threads is not None:
        check_int("threads", threads, 1, 64)
    # every check names the first offending record
    checks = (
        (t < 0, lambda i: f"thread {t[i]} is negative"),
        (p < 0, lambda i: f"page {p[i]} is negative"),
        ((w != 0) & (w != 1), lambda i: f"write {w[i]} is not 0 or 1"),
        (p >= MAX_PAGES, lambda i: f"page {p[i]} is beyond the {MAX_PAGES}-page region limit"),
        (t >= (threads if threads is not None else 64),
         lambda i: f"thread {t[i]} >= threads ({threads if threads is not None else 64}"
                   f"{'' if threads is not None else ', the most a machine has'})"),
    )
    for mask, msg in checks:
        bad = np.nonzero(mask.astype(bool))[0]
        if len(bad):
            _bad(where(bad[0]), msg(bad[0]))
    t = t.astype(np.int64)
    p = p.astype(np.int64)
    w = w.astype(np.int64)
    return t, p, w, (threads if threads is not None else int(t.max()) + 1)


cdef class Trace(Workload):
    """Replay a page-access trace (see the module docstring)."""
    cdef readonly long nrecords, npages
    cdef readonly double access_ns
    cdef readonly object source
    cdef object _pages, _writes, _offsets
    cdef int64_t *pages
    cdef unsigned char *writes_
    cdef int64_t *offsets          # thread t's records: [offsets[t], offsets[t+1])
    cdef int64_t *pos
    cdef object _pos
    cdef long done

    def __init__(self, source, threads=None, ns_per_access=100.0, seed=0):
        cdef int i
        t, p, w, nthreads = load_trace(source, threads)
        self.access_ns = check_float("ns_per_access", ns_per_access)
        self._set_seed(seed)
        self.source = source if not isinstance(source, np.ndarray) else "array"
        self.nrecords = len(t)
        self.npages = int(p.max()) + 1
        order = np.argsort(t, kind="stable")
        self._pages = np.ascontiguousarray(p[order], dtype=np.int64)
        self._writes = np.ascontiguousarray(w[order], dtype=np.uint8)
        counts = np.bincount(t, minlength=nthreads)
        self._offsets = np.zeros(nthreads + 1, dtype=np.int64)
        self._offsets[1:] = np.cumsum(counts)
        self._pos = self._offsets[:nthreads].copy()
        self.pages = <int64_t *><size_t>self._pages.ctypes.data
        self.writes_ = <unsigned char *><size_t>self._writes.ctypes.data
        self.offsets = <int64_t *><size_t>self._offsets.ctypes.data
        self.pos = <int64_t *><size_t>self._pos.ctypes.data
        self._init_threads(nthreads)
        self.ns_per_access = self.access_ns
        for i in range(nthreads):
            self._thread_phase[i] = PHASE_RUN

    def _layout(self):
        return [("trace", self.npages)]

    cdef long fill(self, int thread, unsigned long *addrs, unsigned char *writes,
                   long n) noexcept nogil:
        cdef int64_t i = self.pos[thread], end = self.offsets[thread + 1]
        cdef long k = 0
        cdef unsigned long base = self._region_base[0]
        self._batch_ns[thread] = 0.0
        if n <= 0 or self._thread_phase[thread] == PHASE_DONE:
            return 0
        while k < n and i < end:
            addrs[k] = base + (<unsigned long>self.pages[i] << 12)
            writes[k] = self.writes_[i]
            k += 1
            i += 1
        self.pos[thread] = i
        self.done += k
        if k == 0:
            self._thread_phase[thread] = PHASE_DONE
            return 0
        self._batch_ns[thread] = k * self.access_ns
        self._batch_phase[thread] = PHASE_RUN
        return k

    def done_fraction(self):
        return <double>self.done / self.nrecords

    def stats(self):
        return {"records": self.nrecords, "replayed": self.done}

    def describe(self):
        return {"workload": "trace", "source": str(self.source), "records": self.nrecords,
                "pages": self.npages, "threads": self.nthreads, "ns_per_access": self.access_ns}
