"""Memory analysis at scale: analysis time of 1,000, 10,000 and 100,000-layer chains and residual
graphs, beside a linear fit through the smallest size, so that anything worse than linear shows.

    python benchmarks/bench_memory.py [--sizes 1000,10000,100000]

Each model is built directly in learncost's IR (a spec stops at 10,000 layers, see limits.py):
a chain of dense layers of 16 units with ReLU, and the same with a residual add every three layers.
Timed per size: ``analyze`` under the paper's setup (its rules), the ``live`` accounting of every
procedure under int8-fp32grad (their schedules), and the ``arena`` plan of one inference. The
arena's greedy placement compares each tensor with the placed ones its life overlaps; on
inference those are its neighbours, so it too stays near linear.
"""

from __future__ import annotations

import argparse
import sys
import time


def chain(n: int, residual: bool):
    from learncost.ir import Layer, Model

    layers = [Layer("input", "input", (), (), (16,))]
    k = 0
    while len(layers) < n:
        prev = layers[-1].name
        k += 1
        layers.append(Layer(f"d{k}", "dense", (prev,), ((16,),), (16,), weights=256, biases=16, activation="relu"))
        if residual and k % 3 == 0 and len(layers) < n:
            layers.append(Layer(f"a{k}", "add", (f"d{k}", f"d{k - 2}"), ((16,), (16,)), (16,), activation="relu"))
    return Model("bench", layers, task="regression")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    import learncost
    from learncost.evaluate import Evaluator
    from learncost.procedures import get_procedure

    learncost.analyze(chain(100, False), mcus=[])  # imports done before timing
    print(f"{'graph':<10} {'layers':>8} {'paper analyze':>15} {'live, 4 procedures':>20} {'arena, inference':>18}")
    for residual in (False, True):
        base = None
        for n in sizes:
            model = chain(n, residual)
            t_paper = timed(lambda: learncost.analyze(model, mcus=[]))
            t_live = timed(lambda: learncost.analyze(model, mcus=[], setup="int8-fp32grad", memory="live"))
            t_arena = timed(lambda: Evaluator(model, "int8-fp32grad").layout(get_procedure("bp"), "inference"))
            if base is None:
                base = (n, t_paper, t_live, t_arena)
            scale = n / base[0]
            fit = [f"{t:8.3f} s ({t / (b * scale):4.2f}x linear)" for t, b in
                   zip((t_paper, t_live, t_arena), base[1:])]
            print(f"{'residual' if residual else 'chain':<10} {n:>8,} " + " ".join(fit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
