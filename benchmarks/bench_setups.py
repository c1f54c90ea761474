"""Setups benchmark: MIT's fifteen sparse-update schemes, each on its model, under the four
procedures (training and inference, four memory accountings), evaluated in-process, beside the
obvious peer measured in the same run: one `learncost analyze MODEL --setup SCHEME` per scheme,
as a user scripting the comparison would run it.

    python benchmarks/bench_setups.py [--repeat N]

Prints the in-process time for all 15 x 4 x 2 rows (under each of four accountings), the
peer's total, and the ratio; then the per-scheme table the README shows.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def in_process(schemes):
    from learncost.analysis import analyze
    from learncost.setups import load
    from learncost.zoo import load_model

    out = {}
    for sid in schemes:
        st = load(sid)
        model = load_model(st.model)
        for memory in ("arena", "live", "saved-for-backward", "paper"):
            out[(sid, memory)] = analyze(model, None, [], setup=st, memory=memory)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from learncost.setups import preset_ids

    schemes = [s for s in preset_ids() if s.startswith("tte-")]
    in_process(schemes[:1])  # imports and built-in models loaded once, as in a session
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        results = in_process(schemes)
        times.append(time.perf_counter() - start)
    ours = statistics.median(times)
    rows = sum(len(a.rows) for a in results.values())

    peer = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        for sid in schemes:
            from learncost.setups import load

            subprocess.run([sys.executable, "-m", "learncost", "analyze", load(sid).model, "--setup", sid,
                            "--mcu", "disco-f746ng", "-f", "json"], check=True, stdout=subprocess.DEVNULL)
        peer.append(time.perf_counter() - start)
    theirs = statistics.median(peer)
    print(f"in-process: {len(schemes)} schemes x 4 procedures x 2 phases x 4 accountings = {rows} rows "
          f"in {ours * 1e3:.0f} ms ({ours / len(schemes) * 1e3:.1f} ms per scheme, all accountings)")
    print(f"peer: one `learncost analyze MODEL --setup SCHEME` per scheme: {theirs * 1e3:.0f} ms "
          f"({theirs / len(schemes) * 1e3:.0f} ms each)")
    print(f"ratio: {theirs / ours:.1f}x faster in-process than one CLI run per scheme (median of {args.repeat})")

    print("\n| model | scheme | fwd MACC | dX MACC | dW MACC | total BP MACC | saved-for-backward B | live B | arena B |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for sid in schemes:
        live = results[(sid, "live")].row("bp", "training")
        sfb = results[(sid, "saved-for-backward")].row("bp", "training")
        arena = results[(sid, "arena")].row("bp", "training")
        ops = live.macc_by_operation
        print(f"| {results[(sid, 'live')].model.id} | {sid} | {ops['forward']:,} | {ops['backward']:,} | "
              f"{ops['weight_update']:,} | {live.macc:,} | {sfb.ram_bytes:,} | {live.ram_bytes:,} | "
              f"{arena.ram_bytes:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
