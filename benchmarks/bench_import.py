"""Import benchmark: each shared MLPerf Tiny file imported and fully analysed (all procedures,
both MCUs), against counting the same network's forward MACs with PyTorch's own counter
(torch.utils.flop_counter.FlopCounterMode) on an equivalent module, in the same run.

Target (issue 3): every shared file imported and analysed in under 50 ms.

    python benchmarks/bench_import.py [--repeat N] [--shared PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    args = parser.parse_args()
    folder = args.shared / "models" / "mlperf-tiny"
    files = sorted(p for p in folder.glob("*") if p.suffix in (".tflite", ".h5"))
    if not files:
        print(f"no model files under {folder}")
        return 1

    import learncost

    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from learncost.torch_build import build_module, example_input
    except ImportError:
        torch = None
        print("torch not installed (pip install 'learncost[torch]'): the PyTorch counter column is skipped")

    learncost.analyze("kws")  # warm the package's own caches once, as a session would
    worst = 0.0
    print(f"{'file':32} {'learncost ms':>12} {'torch count ms':>14} {'ratio':>7} {'conv+dense MACs':>16} {'torch MACs':>11}")
    for path in files:
        def ours():
            return learncost.analyze(learncost.load_model(path))

        ms = median_ms(ours, args.repeat)
        worst = max(worst, ms)
        result = ours()
        ours_macs = sum(lr.macc["forward"] for lr in result.layers if lr.kind in ("conv2d", "depthwise_conv2d", "dense"))
        torch_cell, ratio, torch_macs = "-", "-", "-"
        if torch is not None:
            module = build_module(result.model).eval()
            x = example_input(result.model)

            def count():
                with FlopCounterMode(display=False) as counter, torch.no_grad():
                    module(x)
                return counter.get_total_flops() // 2

            tms = median_ms(count, args.repeat)
            torch_cell, ratio, torch_macs = f"{tms:.1f}", f"{ms / tms:.2f}", f"{count():,}"
        print(f"{path.name:32} {ms:12.1f} {torch_cell:>14} {ratio:>7} {ours_macs:>16,} {torch_macs:>11}")
    print(f"slowest import + analysis: {worst:.1f} ms (target < 50 ms: {'met' if worst < 50 else 'MISSED'})")
    print("ratio = learncost (parse the file + every procedure, MACC and memory) / PyTorch (forward count only)")
    return 0 if worst < 50 else 1


if __name__ == "__main__":
    sys.exit(main())
