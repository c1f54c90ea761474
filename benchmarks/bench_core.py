"""Core benchmark: the full paper computation in-process, and the cold start of `learncost paper`.

Targets (issue 2): cold start of `learncost paper` under 0.5 s; `import learncost` loads
none of pandas, matplotlib, torch. The peer measured in the same run is the bare Python
interpreter start (`python -c pass`), so the ratio says what learncost adds to it.

    python benchmarks/bench_core.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    start = time.perf_counter()
    from learncost import paper
    from learncost.zoo import load_model

    for model_id in ("kws", "vww", "ic", "ad"):
        load_model(model_id)
    first = time.perf_counter() - start

    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        paper.compute(as_published=False)
        paper.compute(as_published=True)
        runs.append(time.perf_counter() - start)
    in_process = statistics.median(runs)

    python = wall([sys.executable, "-c", "pass"], args.repeat)
    cold = wall([sys.executable, "-m", "learncost", "paper"], args.repeat)
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, learncost.cli; print([m for m in ('pandas','matplotlib','torch') if m in sys.modules])"],
        capture_output=True, text=True, check=True).stdout.strip()

    print(f"first load of the four built-in models (spec parse + shapes): {first * 1e3:8.1f} ms")
    print(f"paper tables, consistent + as published (in-process, median): {in_process * 1e3:8.1f} ms")
    print(f"python -c pass (peer, median of {args.repeat}):                  {python * 1e3:8.1f} ms")
    print(f"learncost paper, cold start (median of {args.repeat}):           {cold * 1e3:8.1f} ms"
          f"   ratio {cold / python:.1f}x the bare interpreter   target < 500 ms: {'met' if cold < 0.5 else 'MISSED'}")
    print(f"heavy modules loaded by `import learncost.cli`: {heavy}")
    return 0 if cold < 0.5 and heavy == "[]" else 1


if __name__ == "__main__":
    sys.exit(main())
