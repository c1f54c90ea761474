"""Sweep benchmark: variants analysed per second for 1,000-variant sweeps, in-process, against a peer.

Target (issue 17): at least 50,000 variants/s on every grid, under all four procedures and two
MCUs. The peer is the obvious way to do the same work: build each variant's model through the
spec loader and call ``analyze`` on it, one variant at a time. The two are timed alternately in
the same process (sweep, peer, sweep, peer...): each peer repetition analyses every
``repeat``-th variant (a different offset each time), so that over the repetitions the peer
analyses each variant exactly once, and every figure of every variant is checked against it:
MACC and RAM of each (variant, procedure, phase), the latency on each board, the fit verdict.

    python benchmarks/bench_sweep.py [--model vww|kws|ic] [--repeat N]

With no --model, all three grids run: vww varies only dimensions (one numpy pass), kws
varies the number of blocks too (40 layer lists, one pass over their union), ic varies width and
resolution.
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
TARGET = 50_000  # variants/s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(GRIDS))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    missed = [m for m in ([args.model] if args.model else list(GRIDS)) if not bench(m, max(1, args.repeat))]
    return 1 if missed else 0


def bench(model: str, repeat: int) -> bool:
    """Times the sweep and the peer alternately, checks every figure, prints the rates; True if on target."""
    from learncost import sweep
    from learncost.analysis import analyze
    from learncost.spec import model_from_data
    from learncost.zoo import builtin_spec

    grid = GRIDS[model]
    combos = [dict(zip(grid, c)) for c in itertools.product(*grid.values())]
    assert len(combos) == 1000
    data = builtin_spec(model)  # parsed once: the peer pays for building and analysing, not for YAML

    sweep.run(model, grid, mcus=BOARDS)  # warm: imports, parsed expressions
    analyze(model_from_data(data, origin=model, values=combos[0]), mcus=BOARDS)
    fast, peer_time, peer = [], 0.0, {}
    for r in range(repeat):
        start = time.perf_counter()
        result = sweep.run(model, grid, mcus=BOARDS)
        fast.append(time.perf_counter() - start)
        sample = range(r, len(combos), repeat)
        start = time.perf_counter()
        peer.update({v: analyze(model_from_data(data, origin=model, values=combos[v]), mcus=BOARDS) for v in sample})
        peer_time += time.perf_counter() - start

    rows = check(result, peer)
    rate, peer_rate = len(combos) / statistics.median(fast), len(peer) / peer_time
    print(f"sweep of {len(combos):,} {model} variants x 4 procedures x 2 phases x {len(BOARDS)} MCUs")
    print(f"  learncost sweep (numpy, median of {repeat}):  {statistics.median(fast) * 1e3:8.1f} ms  "
          f"{rate:10,.0f} variants/s")
    print(f"  one analyze() per variant (peer, {len(peer):,} variants in {repeat} alternating samples): "
          f"{peer_rate:8,.0f} variants/s")
    print(f"  ratio {rate / peer_rate:,.0f}x the peer; target >= {TARGET:,} variants/s: "
          f"{'met' if rate >= TARGET else 'MISSED'}")
    print(f"  figures identical on all {rows:,} (variant, procedure, phase) rows: MACC, RAM, latency, fit")
    return rate >= TARGET


def check(result, peer: dict) -> int:
    """Every figure of the sweep equals its peer's analysis; the number of rows compared."""
    assert int(result.valid.sum()) == len(peer) == result.size
    latency = {(p.id, ph, m.id): result.latency_ms(p.id, ph, m) for p in result.procedures for ph in ("training",
               "inference") for m in result.mcus}
    fits = {(p.id, ph, m.id): result.fits(p.id, m, ph) for p, ph, m in itertools.product(
        result.procedures, ("training", "inference"), result.mcus)}
    rows = 0
    for v, a in peer.items():
        for r in a.rows:
            key = (r.procedure, r.phase)
            assert result.macc[key][v] == r.macc, (v, key)
            assert result.ram[key][v] == r.ram_bytes, (v, key)
            for m in result.mcus:
                assert latency[(*key, m.id)][v] == r.latency_ms[m.id], (v, key, m.id)
                assert fits[(*key, m.id)][v] == r.fit[m.id].fits, (v, key, m.id)
            rows += 1
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
