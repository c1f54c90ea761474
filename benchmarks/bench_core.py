"""Core benchmark: the full paper computation in-process, and the cold start of `learncost paper`.

Targets: cold start of `learncost paper` under 0.5 s (issue 2) and at most 8x a bare `python -c pass`
(issue 17); `import learncost` loads none of pandas, matplotlib, torch. The peers measured in the same
run, alternately with learncost: the bare interpreter; the libraries the CLI is built on (importing
pydantic's BaseModel, typer, rich's tables and PyYAML, nothing run); and the modules `learncost paper`
loads (rich's tables and console, learncost's evaluation path and the paper's report, imported and
nothing run), so the ratios say what the computation and the printing add. Bytecode and the package's
precompiled data files are cached as on a user's machine (PYTHONDONTWRITEBYTECODE is dropped for the
measured runs and one warm-up run writes both).

    python benchmarks/bench_core.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
FLOOR = "from pydantic import BaseModel, Field; import typer, rich.table, rich.console, yaml"
#: the part of it that is rich's: the tables `learncost paper` prints
RICH = "import rich.table, rich.console, rich.text"
#: what `learncost paper` imports (`python -X importtime -m learncost paper`), nothing run
LOADS = "import rich.table, rich.console, rich.text, learncost.launch, learncost.jobs, learncost.paper, " \
        "learncost.report.paper_report, learncost.report.tables"


def walls(cmds: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Median wall time of each command, the commands run in turn ``repeat`` times (load hits all alike)."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for cmd in cmds.values():  # warm-up: bytecode written, files in the page cache
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
    for _ in range(repeat):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


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

    import io

    from rich.console import Console

    from learncost.report import paper_report
    from learncost.report.tables import to_rich

    result = paper.compute(as_published=False)
    renders = []
    for _ in range(args.repeat):  # the tables as `learncost paper` prints them into a pipe (240 columns)
        start = time.perf_counter()
        to_rich(paper_report.tables(result), Console(file=io.StringIO(), width=240))
        renders.append(time.perf_counter() - start)
    render = statistics.median(renders)

    w = walls({"python": [sys.executable, "-c", "pass"], "floor": [sys.executable, "-c", FLOOR],
               "loads": [sys.executable, "-c", LOADS], "rich": [sys.executable, "-c", RICH],
               "paper": [sys.executable, "-m", "learncost", "paper"],
               "version": [sys.executable, "-m", "learncost", "--version"]}, args.repeat)
    python, cold = w["python"], w["paper"]
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, learncost.cli; print([m for m in ('pandas','matplotlib','torch') if m in sys.modules])"],
        capture_output=True, text=True, check=True).stdout.strip()

    print(f"first load of the four built-in models (imports, kept specs, shapes): {first * 1e3:8.1f} ms")
    print(f"paper tables, consistent + as published (in-process, median): {in_process * 1e3:8.1f} ms")
    print(f"rich rendering the paper's tables (in-process, median):       {render * 1e3:8.1f} ms")
    print(f"python -c pass (peer, median of {args.repeat}):                  {python * 1e3:8.1f} ms")
    print(f"pydantic.BaseModel, typer, rich, yaml (the floor, median):    {w['floor'] * 1e3:8.1f} ms"
          f"   ratio {w['floor'] / python:.1f}x")
    print(f"the modules `learncost paper` loads, nothing run (median):    {w['loads'] * 1e3:8.1f} ms"
          f"   ratio {w['loads'] / python:.1f}x")
    print(f"  of which rich's tables and console alone (median):          {w['rich'] * 1e3:8.1f} ms"
          f"   ratio {w['rich'] / python:.1f}x")
    print(f"learncost --version, cold start (median of {args.repeat}):       {w['version'] * 1e3:8.1f} ms"
          f"   ratio {w['version'] / python:.1f}x")
    print(f"learncost paper, cold start (median of {args.repeat}):           {cold * 1e3:8.1f} ms"
          f"   ratio {cold / python:.1f}x the bare interpreter, {cold / w['floor']:.1f}x the floor")
    print(f"  target < 500 ms: {'met' if cold < 0.5 else 'MISSED'};  target <= 8x python -c pass: "
          f"{'met' if cold <= 8 * python else 'MISSED'}")
    print(f"heavy modules loaded by `import learncost.cli`: {heavy}")
    return 0 if cold < 0.5 and heavy == "[]" else 1


if __name__ == "__main__":
    sys.exit(main())
