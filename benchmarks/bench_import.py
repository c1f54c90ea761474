"""Import benchmark: each shared MLPerf Tiny file imported and fully analysed (all procedures,
both MCUs), against counting the same network's forward MACs with PyTorch's own counter
(torch.utils.flop_counter.FlopCounterMode) on an equivalent module, in the same run.

Target (issue 3): every shared file imported and analysed in under 50 ms. Then ``from_torch`` per module,
its shapes on the meta device, against a real forward pass and PyTorch's counter in the same run.

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
    if torch is not None:
        _modules(args.repeat)
    return 0 if worst < 50 else 1


def _Transformer():
    """KWT-1's encoder (Berg et al. 2021; the built-in ``kwt`` spec): 98 tokens of 40 features embedded to 64, 12
    post-norm blocks of single-head attention and a 256-wide GELU feed-forward, the tokens' mean, 12 classes."""
    from torch import nn

    class Transformer(nn.Module):
        def __init__(self, dim=64, depth=12):
            super().__init__()
            self.embed = nn.Linear(40, dim)
            self.blocks = nn.ModuleList(nn.ModuleDict(dict(
                att=nn.MultiheadAttention(dim, 1, batch_first=True), ln1=nn.LayerNorm(dim),
                ff=nn.Sequential(nn.Linear(dim, 256), nn.GELU(), nn.Linear(256, dim)), ln2=nn.LayerNorm(dim)))
                for _ in range(depth))
            self.fc = nn.Linear(dim, 12)

        def forward(self, x):
            x = self.embed(x)
            for b in self.blocks:
                x = b["ln1"](x + b["att"](x, x, x, need_weights=False)[0])
                x = b["ln2"](x + b["ff"](x))
            return self.fc(x.mean(1))

    return Transformer()


def _modules(repeat: int) -> None:
    """``from_torch`` per module (trace, shapes on the meta device, translation), beside what it did before:
    the same trace with shapes from a real forward pass, and PyTorch's own forward count (FlopCounterMode),
    measured in the same run. The first call of a process also loads PyTorch's meta kernels (printed apart)."""
    import torch
    from torch import fx, nn
    from torch.fx.passes.shape_prop import ShapeProp
    from torch.utils.flop_counter import FlopCounterMode

    import learncost

    def block(c):
        return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                             nn.Conv2d(c, c, 3, padding=1), nn.ReLU())

    modules = {
        "ds-cnn (kws-sized)": (nn.Sequential(nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1)), nn.ReLU(),
                                             *[nn.Sequential(nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.ReLU(),
                                                             nn.Conv2d(64, 64, 1), nn.ReLU()) for _ in range(4)],
                                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 12)), (1, 1, 49, 10)),
        "cnn 16 convs at 224x224": (nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.ReLU(),
                                                  *[block(64) for _ in range(8)], nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                  nn.Linear(64, 1000)), (1, 3, 224, 224)),
        "mlp 3 x 4096": (nn.Sequential(nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(),
                                       nn.Linear(4096, 10)), (1, 4096)),
        "transformer kwt-1 (12 blocks)": (_Transformer(), (1, 98, 40)),
    }
    first = True
    print(f"\n{'module':26} {'from_torch ms':>13} {'real-pass ms':>12} {'ratio':>6} {'torch count ms':>14}")
    for name, (module, shape) in modules.items():
        module = module.eval()
        if first:  # the process's first meta propagation imports PyTorch's meta kernels and decompositions
            cold = median_ms(lambda: learncost.from_torch(module, shape), 1)
            print(f"(first call of the process, PyTorch's meta kernels loading: {cold:.0f} ms)")
            first = False
        ours = median_ms(lambda: learncost.from_torch(module, shape), repeat)

        def real_pass():
            ShapeProp(fx.symbolic_trace(module)).propagate(torch.zeros(shape))

        def count():
            with FlopCounterMode(display=False), torch.no_grad():
                module(torch.zeros(shape))

        real, peer = median_ms(real_pass, repeat), median_ms(count, repeat)
        print(f"{name:26} {ours:13.1f} {real:12.1f} {ours / real:6.2f} {peer:14.1f}")
    print("from_torch: trace + meta shapes + translation; real-pass: the trace and a real forward pass alone "
          "(how shapes were found before); torch count: FlopCounterMode over one forward pass")


if __name__ == "__main__":
    sys.exit(main())
