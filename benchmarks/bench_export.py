"""Export benchmark: peak memory of writing a sweep's rows as JSON and CSV, for 10^5 and 10^6 variants.

The exports are streamed (``sweep_report.chunks``): rows are built from numpy slices a block at a
time and written as they come, so what an export holds beyond the sweep's own arrays must not
grow with the number of rows. Each case runs in a fresh subprocess and reports:

- the sweep's resident memory once ``sweep.run`` returns (its arrays: the baseline),
- the process's peak resident memory (``ru_maxrss``) once the file is written,
- the export's own allocations at their peak (``tracemalloc``, started after the run; numpy's
  buffers are traced too): the figure that must stay flat from 10^5 to 10^6 variants.

    python benchmarks/bench_export.py [--sizes 100000 1000000] [--formats json csv] [--all]

The grid is ad's ``hidden`` (1,000 values) x ``bottleneck`` (100 or 1,000 values), every variant
possible (ic's large widths at large resolutions would pass int64 and be set aside). By default one procedure (bp) and one board, two rows per variant (10^6 variants write
2 x 10^6 rows, a file of about 0.5 GB as JSON); ``--all`` takes the four procedures and two boards
(eight rows per variant, 16 x 10^6 rows at 10^6 variants: minutes, and gigabytes on disk).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def case(variants: int, fmt: str, every: bool) -> dict:
    """One export measured in this process: run the sweep, then write its rows to a file."""
    import resource
    import tracemalloc

    from learncost import sweep
    from learncost.report import output, sweep_report

    grid = {"hidden": range(8, 1008), "bottleneck": range(1, 1 + variants // 1000)}
    procs, boards = (None, ["stm32h735g-dk", "nucleo-g474re"]) if every else (["bp"], ["stm32h735g-dk"])
    start = time.perf_counter()
    result = sweep.run("ad", grid, procs, boards)
    run_s = time.perf_counter() - start
    assert result.size == variants and result.valid.all()
    rss_run = _rss_mb()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        path = os.path.join(tmp, f"sweep.{fmt}")
        tracemalloc.start()
        start = time.perf_counter()
        output.write(path, False, text=lambda kind: sweep_report.chunks(result, kind), figure=None)
        write_s = time.perf_counter() - start
        traced = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        size = os.path.getsize(path) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rows = int(result.valid.sum()) * len(result.procedures) * 2
    return {"variants": variants, "format": fmt, "rows": rows, "file_mb": size, "run_s": run_s, "write_s": write_s,
            "rss_after_run_mb": rss_run, "peak_rss_mb": peak, "export_traced_peak_mb": traced}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--formats", nargs="+", default=["json", "csv"], choices=["json", "csv"])
    parser.add_argument("--all", action="store_true", help="four procedures and two boards (8 rows per variant)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # variants,format: run one case here
    args = parser.parse_args()
    if args.case:
        variants, fmt = args.case.split(",")
        print(json.dumps(case(int(variants), fmt, args.all)))
        return 0
    print(f"export of a sweep of ad, hidden x bottleneck, {'4 procedures x 2 boards' if args.all else 'bp x 1 board'}; "
          "one subprocess per case")
    print(f"{'variants':>10} {'format':>6} {'rows':>11} {'file MB':>8} {'run s':>6} {'write s':>7} "
          f"{'RSS after run MB':>16} {'peak RSS MB':>11} {'export peak MB':>14}")
    results = {}
    for fmt in args.formats:
        for n in args.sizes:
            cmd = [sys.executable, __file__, "--case", f"{n},{fmt}"] + (["--all"] if args.all else [])
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = results[(fmt, n)] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>10,} {fmt:>6} {r['rows']:>11,} {r['file_mb']:>8.1f} {r['run_s']:>6.1f} {r['write_s']:>7.1f} "
                  f"{r['rss_after_run_mb']:>16.1f} {r['peak_rss_mb']:>11.1f} {r['export_traced_peak_mb']:>14.1f}")
    if len(args.sizes) == 2:
        small, large = sorted(args.sizes)
        for fmt in args.formats:
            a, b = results[(fmt, small)], results[(fmt, large)]
            print(f"{fmt}: {large // small}x the variants: file {b['file_mb'] / a['file_mb']:.1f}x, "
                  f"RSS after run {b['rss_after_run_mb'] / a['rss_after_run_mb']:.2f}x, "
                  f"peak RSS {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}x, "
                  f"export's own peak {b['export_traced_peak_mb'] / a['export_traced_peak_mb']:.2f}x "
                  f"(+{b['peak_rss_mb'] - b['rss_after_run_mb']:.0f} MB over the sweep at {large:,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
