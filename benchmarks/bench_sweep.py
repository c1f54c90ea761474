"""Sweep benchmark: variants analysed per second for a 1,000-variant sweep, in-process.

Target (issue 5): at least 10,000 variants/s for 1,000 variants under all four procedures
and two MCUs. The peer measured in the same run is the obvious way to do the same work:
build each variant's model through the spec loader and call ``analyze`` on it, one variant
at a time. Both paths are checked to give the same training MACC and RAM before timing.

    python benchmarks/bench_sweep.py [--model vww|kws|ic] [--repeat N]

With no --model, all three grids run: vww varies only dimensions (one numpy pass), kws
varies the number of blocks too (40 layer lists, one pass each), the hardest case.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

GRIDS = {  # 1,000 variants each
    "vww": {"alpha": [round(0.1 + 0.025 * k, 4) for k in range(25)], "resolution": list(range(32, 192, 4))},
    "kws": {"filters": list(range(8, 208, 8)), "blocks": list(range(1, 41))},
    "ic": {"width": list(range(4, 104, 4)), "resolution": list(range(8, 48))},
}
BOARDS = ["stm32h735g-dk", "nucleo-g474re"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(GRIDS))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    missed = [m for m in ([args.model] if args.model else list(GRIDS)) if not bench(m, args.repeat)]
    return 1 if missed else 0


def bench(model: str, repeat: int) -> bool:
    from learncost import sweep
    from learncost.analysis import analyze
    from learncost.spec import model_from_data
    from learncost.zoo import builtin_spec

    grid = GRIDS[model]
    combos = [dict(zip(grid, c)) for c in itertools.product(*grid.values())]
    assert len(combos) == 1000

    sweep.run(model, grid, mcus=BOARDS)  # warm: imports, parsed expressions
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = sweep.run(model, grid, mcus=BOARDS)
        times.append(time.perf_counter() - start)
    fast = statistics.median(times)

    data = builtin_spec(model)  # parsed once: the peer pays for building and analysing, not for YAML
    start = time.perf_counter()
    peer = [analyze(model_from_data(data, origin=model, values=c), mcus=BOARDS) for c in combos]
    slow = time.perf_counter() - start

    for v, a in enumerate(peer):
        for r in a.rows:
            assert result.macc[(r.procedure, r.phase)][v] == r.macc, (v, r.procedure, r.phase)
            assert result.ram[(r.procedure, r.phase)][v] == r.ram_bytes, (v, r.procedure, r.phase)
    assert int(result.valid.sum()) == len(peer)

    rate, peer_rate = len(combos) / fast, len(combos) / slow
    print(f"sweep of {len(combos):,} {model} variants x 4 procedures x 2 phases x {len(BOARDS)} MCUs")
    print(f"  learncost sweep (numpy, median of {repeat}): {fast * 1e3:8.1f} ms  {rate:10,.0f} variants/s")
    print(f"  one analyze() per variant (peer):          {slow * 1e3:8.1f} ms  {peer_rate:10,.0f} variants/s")
    print(f"  ratio {rate / peer_rate:.0f}x the peer; target >= 10,000 variants/s: {'met' if rate >= 10_000 else 'MISSED'}")
    print(f"  figures identical on all {len(combos) * 8:,} (variant, procedure, phase) rows")
    return rate >= 10_000


if __name__ == "__main__":
    raise SystemExit(main())
