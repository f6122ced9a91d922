"""Measure the user CPU time of each step of a real XSBench's initialisation.

The emulated XSBench (kmm/workloads/xsbench.pyx, INIT_MEASURED_S) takes
its init's step times from this measurement.  Build XSBench v20
(github.com/ANL-CESAR/XSBench, openmp-threading, `make`) and run

    python tools/measure_xsbench_init.py --runs 3 -- ./XSBench -t 1 -s large -p 100

The tool samples /proc/PID/stat (utime, stime) and /proc/PID/statm (RSS)
every 2 ms and finds the steps of grid_init_do_not_profile by the RSS:
the nuclide grids are filled while RSS climbs to their size; the qsorts of
each nuclide's grid add no pages; the unionized grid's fill adds its pages,
then its qsort none; the index grid's fill adds the rest.  utime has the
clock tick's resolution (10 ms at USER_HZ 100).  It prints each step's user
time per run and the median, for the large problem (N = 355, G = 11303).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

PAGE = 4096
N, G = 355, 11303
NUC_PAGES = (N * G * 48) // PAGE          # the nuclide grid's pages (to within one)
UEG_PAGES = (N * G * 8) // PAGE


def sample(cmd, every):
    tck = os.sysconf("SC_CLK_TCK")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    rows = []
    while p.poll() is None:
        try:
            with open(f"/proc/{p.pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{p.pid}/statm") as f:
                rss = int(f.read().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            break
        rows.append((time.perf_counter() - t0, int(st[11]) / tck, int(st[12]) / tck, rss))
        time.sleep(every)
    p.wait()
    return rows


def steps(rows):
    """User seconds of each step, from the samples' RSS."""
    def first(pred):
        return next(r for r in rows if pred(r))
    gen_end = first(lambda r: r[3] >= NUC_PAGES)                 # nuclide grids filled
    ueg_start = first(lambda r: r[3] >= NUC_PAGES + 2000)        # the unionized grid's fill
    idx_start = first(lambda r: r[3] >= NUC_PAGES + 3 * UEG_PAGES)   # past the qsort's buffer
    end = max(rows, key=lambda r: r[3])
    return {"nuclide_grid": gen_end[1], "nuclide_sort": ueg_start[1] - gen_end[1],
            "unionized_grid": idx_start[1] - ueg_start[1], "index_grid": end[1] - idx_start[1],
            "wall_s": end[0], "sys_s": end[2], "index_pages": end[3] - idx_start[3]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--every", type=float, default=0.002, help="sampling period, s")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- ./XSBench -t 1 -s large -p 100")
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("give the XSBench command after --")
    results = []
    for i in range(a.runs):
        s = steps(sample(cmd, a.every))
        results.append(s)
        print(f"run {i}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in s.items()))
    print("median user s: " + ", ".join(
        f"{k} {statistics.median(r[k] for r in results):.3f}"
        for k in ("nuclide_grid", "nuclide_sort", "unionized_grid", "index_grid")))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
