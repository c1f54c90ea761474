"""Engine profiles fitted on public measurements: ``python -m learncost.calibrate [--write]``.

Inference (MLPerf Tiny v1.0 closed only; later rounds test the result, never enter it). For engine e,
board b of core g and benchmark n with the built-in model's forward MACC by kind class, M_n,k, and its
kernel calls N_n (layers with forward MACC), the measured cycles per inference are modelled as

    T_b,n = clock_b / throughput_b,n  ~  sum_k M_n,k c_e,g,k + N_n o_e

with c_e,g,k the engine's cycles per MACC for class k (conv, depthwise, dense) on core g, shared by the
boards of that core (four benchmarks per board leave one degree of freedom for three rates), and o_e a
per-kernel overhead. o_e is 0 in every profile: the data cannot separate it from the rates (fitted
together, shared by an engine's cores, it came out 0 for five engines and, for microTVM's native
schedules, 141k cycles with a dense rate of 0, a degenerate split). The fit is non-negative least squares
on relative error (each equation divided by T_b,n), so the autoencoder's 0.26 M MACC weighs as much as
ResNet-8's 12.5 M. The residual of each benchmark, predicted / measured - 1, is kept: it is the range
every prediction of the profile carries.

Power: where a submission measured energy, P_b,n = E_b,n x throughput of the energy run (uJ x 1/s = uW);
the profile keeps the median and the extremes per board.

Training (``../shared/reference/tiny-training.md``: Lin et al., NeurIPS 2022, per-image training latency
on the STM32F746 at 216 MHz with the Tiny Training Engine and with TF-Lite Micro's kernels, one bar per
model, scheme not stated): one rate for every training operation, int8 forward and fp32 backward alike,

    c_e = median over models m and the five schemes s of  t_m x clock / MACC_m,s

(the executed MACC of one training step of the scheme's setup), with the extremes as the range: three
figures cannot separate forward from backward rates or say which scheme was measured.
"""

from __future__ import annotations

import statistics
import sys
from functools import lru_cache

from .engines import RATE_CLASSES as CLASSES
BENCHMARKS = ("kws", "vww", "ic", "ad")
CALIBRATION_ROUND = "v1.0"

#: Lin et al., NeurIPS 2022, Fig. "latency and peak memory" (../shared/reference/tiny-training.md):
#: per-image training latency on the STM32F746 (216 MHz), ms
TTE_MEASURED = {
    "tinyengine": {"mcunet-5fps": 546, "mbv2-w0.35": 373, "proxyless-w0.3": 443},
    "tflm-kernels": {"mcunet-5fps": 5607, "mbv2-w0.35": 3448, "proxyless-w0.3": 4111},
}
TTE_SCHEMES = {"mcunet-5fps": ("mcunet", ("49kb", "74kb", "99kb", "124kb", "148kb")),
               "mbv2-w0.35": ("mbv2", ("49kb", "73kb", "99kb", "123kb", "138kb")),
               "proxyless-w0.3": ("proxyless", ("49kb", "74kb", "98kb", "120kb", "148kb"))}
TTE_BOARD = "disco-f746ng"


def forward_vector(model_id: str) -> tuple[dict[str, int], int]:
    """The built-in model's forward MACC by rate class (paper convention) and its kernel calls."""
    from .engines import kind_class
    from .evaluate import Evaluator
    from .zoo import load_model

    model = load_model(model_id)
    by_class = dict.fromkeys(CLASSES, 0)
    calls = 0
    for layer, costs in zip(model.layers, Evaluator(model, "paper").costs):
        if costs["forward"]:
            by_class[kind_class(layer.kind)] += costs["forward"]
            calls += 1
    return by_class, calls


def measured_cycles(sub, benchmark: str) -> float:
    from .catalog import get_mcu

    return get_mcu(sub.board).clock_mhz * 1e6 / sub.results[benchmark]["throughput"]


def fit_inference(engine: str) -> dict:
    """One engine's rates per core and its overhead, with residuals and power per board."""
    import numpy as np
    from scipy.optimize import nnls

    from .catalog import get_mcu, submissions

    subs = [s for s in submissions() if s.engine == engine and s.round == CALIBRATION_ROUND]
    cores = sorted({get_mcu(s.board).core for s in subs})
    vectors = {b: forward_vector(b) for b in BENCHMARKS}
    rows, targets, keys = [], [], []
    for s in subs:
        g = cores.index(get_mcu(s.board).core)
        for b in BENCHMARKS:
            if b not in s.results:
                continue
            by_class, calls = vectors[b]
            t = measured_cycles(s, b)
            row = np.zeros(len(cores) * len(CLASSES))
            for k, cls in enumerate(CLASSES):
                row[g * len(CLASSES) + k] = by_class[cls]
            rows.append(row / t)
            targets.append(1.0)
            keys.append((s, b, row, t))
    x, _ = nnls(np.array(rows), np.array(targets))
    out = {"overhead_cycles": 0, "cores": {}}
    for g, core in enumerate(cores):
        rates = {cls: round(float(x[g * len(CLASSES) + k]), 4) for k, cls in enumerate(CLASSES)}
        out["cores"][core] = {"cycles_per_macc": rates, "boards": {}}
    for s, b, row, t in keys:
        core = get_mcu(s.board).core
        entry = out["cores"][core]["boards"].setdefault(s.board, {"residuals": {}})
        rates = out["cores"][core]["cycles_per_macc"]
        by_class, calls = vectors[b]
        predicted = sum(by_class[c] * rates[c] for c in CLASSES) + calls * out["overhead_cycles"]
        entry["residuals"][b] = round(predicted / t - 1, 4)
        r = s.results[b]
        if "energy_uj" in r:
            entry.setdefault("power_mw", {})[b] = round(r["energy_uj"] * r["energy_run_throughput"] / 1e3, 2)
    return out


@lru_cache(maxsize=None)
def _tte_steps() -> dict[tuple[str, str], tuple]:
    """(model, scheme) -> (model, the executed MACC of one training step, its breakdown), for the 15 schemes
    MIT's figure may show: evaluated once, read by both training engines and by the backward allowance."""
    from .evaluate import Evaluator
    from .procedures import get_procedure
    from .zoo import load_model

    bp = get_procedure("bp")
    out = {}
    for model_id, (prefix, labels) in TTE_SCHEMES.items():
        model = load_model(model_id)
        for label in labels:
            ev = Evaluator(model, f"tte-{prefix}-{label}")
            out[(model_id, label)] = (model, ev.figures(bp, "training").macc, ev.breakdown(bp, "training"))
    return out


def training_rates(engine: str) -> dict:
    """cycles per executed training MACC for each (model, scheme) the figure may show."""
    from .catalog import get_mcu

    clock = get_mcu(TTE_BOARD).clock_mhz * 1e6
    return {(model_id, label): TTE_MEASURED[engine][model_id] / 1e3 * clock / macc
            for (model_id, label), (_, macc, _) in _tte_steps().items()}


def fit_training(engine: str) -> dict:
    rates = training_rates(engine)
    values = sorted(rates.values())
    return {"cycles_per_macc": round(statistics.median(values), 3),
            "range": [round(values[0], 3), round(values[-1], 3)]}


#: the inference profile measured on the TTE's board, against which its training runs are compared
FORWARD_RATE_ENGINE = "plumerai"


def backward_allowance(forward_rates: dict[str, float]) -> float:
    """How much longer MIT's Tiny Training Engine trained than forward-rate kernels predict: the median over
    the three models and five schemes of measured / predicted, the prediction every training operation at
    the forward rate of its layer's kind under the inference engine measured on the same board (Plumerai on
    the STM32F746). Training rows under an inference-only profile carry it as the high end of their range:
    their backward kernels were never measured."""
    from .catalog import get_mcu
    from .engines import Rates, cycles as engine_cycles

    mcu = get_mcu(TTE_BOARD)
    r = Rates(FORWARD_RATE_ENGINE, mcu.id, mcu.clock_mhz, forward_rates)
    ratios = [TTE_MEASURED["tinyengine"][model_id] / (engine_cycles(r, split, model) / (mcu.clock_mhz * 1e3))
              for (model_id, _), (model, _, split) in _tte_steps().items()]
    return round(statistics.median(ratios), 3)


_MLPERF = "MLPerf Tiny v1.0 closed, mlcommons/tiny_results_v1.0 (measurements.yaml)"
_INFERENCE_BACKWARD = ("assumed: dX and dW kernels at the forward rate of their layer's kind, int8 or not "
                       "(no public measurement of this engine's backward kernels)")
_TTE = ("Lin et al., On-Device Training Under 256KB Memory, NeurIPS 2022, Fig. latency and peak memory "
        "(../shared/reference/tiny-training.md)")
#: engine id -> (name, source, what the rates of training operations rest on)
ABOUT = {
    "x-cube-ai-7.3": ("X-CUBE-AI 7.3.0 (STMicroelectronics)", _MLPERF, _INFERENCE_BACKWARD),
    "plumerai": ("Plumerai Inference Engine", _MLPERF, _INFERENCE_BACKWARD),
    "microtvm-cmsis-nn": ("microTVM + CMSIS-NN (OctoML)", _MLPERF, _INFERENCE_BACKWARD),
    "microtvm-native": ("microTVM, native schedules (OctoML)", _MLPERF, _INFERENCE_BACKWARD),
    "tflm-mvp": ("TensorFlow Lite for Microcontrollers + Silicon Labs MVP", _MLPERF, _INFERENCE_BACKWARD),
    "tinyengine": ("MIT Tiny Training Engine (TinyEngine kernels), training", _TTE,
                   "measured: one rate for every training operation (int8 forward, fp32 backward), median over "
                   "the three models and their five schemes; inference rows use the same rate (not measured)"),
    "tflm-kernels": ("TF-Lite Micro kernels under the Tiny Training Engine's graph, training", _TTE,
                     "measured: one rate for every training operation, as for tinyengine"),
}
INFERENCE_ENGINES = ("x-cube-ai-7.3", "plumerai", "microtvm-cmsis-nn", "microtvm-native", "tflm-mvp")
TRAINING_ENGINES = ("tinyengine", "tflm-kernels")


def profiles() -> dict:
    """Every shipped profile as ``engines.yaml`` states it."""
    from .catalog import get_mcu

    out = {}
    forward = fit_inference(FORWARD_RATE_ENGINE)["cores"][get_mcu(TTE_BOARD).core]["cycles_per_macc"]
    allowance = backward_allowance(forward)
    for e in INFERENCE_ENGINES + TRAINING_ENGINES:
        name, source, backward = ABOUT[e]
        head = {"name": f'"{name}"', "source": f'"{source}"', "backward": f'"{backward}"'}
        if e in INFERENCE_ENGINES:
            out[e] = head | fit_inference(e)
            out[e]["training_allowance"] = allowance
        else:
            fit = fit_training(e)
            core = get_mcu(TTE_BOARD).core
            rate = fit["cycles_per_macc"]
            out[e] = head | {"overhead_cycles": 0, "cores": {core: {
                "cycles_per_macc": dict.fromkeys(CLASSES, rate), "range": fit["range"],
                "boards": {TTE_BOARD: {}}}}}
    return out


def validation() -> list[dict]:
    """Every MLPerf Tiny measurement of a profiled engine beside learncost's prediction through ``analyze``
    (the built-in model's inference under the paper setup), with the engine's profile and with the board's
    one-number constant: round v1.0 shows the fit's residuals, later rounds test it. A later-round board the
    engine was not measured on in v1.0 uses the profile of its core (a transfer)."""
    from .analysis import analyze
    from .catalog import get_mcu, submissions
    from .engines import PAPER, profiles

    out = []
    for s in submissions():
        mcu = get_mcu(s.board)
        if s.engine not in profiles() or mcu.core not in profiles()[s.engine]["cores"]:
            continue
        for b in BENCHMARKS:
            if b not in s.results:
                continue
            measured = 1e3 / s.results[b]["throughput"]
            kernel = analyze(b, ["bp"], [mcu], engine=s.engine).row("bp", "inference").latency_ms[mcu.id]
            row = {"round": s.round, "board": s.board, "engine": s.engine, "benchmark": b,
                   "measured_ms": measured, "predicted_ms": kernel, "error": kernel / measured - 1}
            if mcu.cycles_per_macc is not None:
                whole = analyze(b, ["bp"], [mcu], engine=PAPER).row("bp", "inference").latency_ms[mcu.id]
                row |= {"whole_model_ms": whole, "whole_model_error": whole / measured - 1}
            out.append(row)
    return out


def training_validation() -> list[dict]:
    """Per model and training engine: the measured per-image latency and learncost's prediction for each of
    the five schemes (``analyze`` with the scheme's setup and the engine's profile on the STM32F746)."""
    from .analysis import analyze
    from .catalog import get_mcu

    mcu = get_mcu(TTE_BOARD)
    out = []
    for engine in TRAINING_ENGINES:
        for model_id, ms in TTE_MEASURED[engine].items():
            prefix, labels = TTE_SCHEMES[model_id]
            predicted = {label: analyze(model_id, ["bp"], [mcu], setup=f"tte-{prefix}-{label}", engine=engine)
                         .row("bp", "training").latency_ms[mcu.id] for label in labels}
            out.append({"engine": engine, "model": model_id, "measured_ms": ms, "predicted_ms": predicted})
    return out


def _yaml(value, indent: int = 0) -> list[str]:
    pad = "  " * indent
    lines = []
    for key, v in value.items():
        if isinstance(v, dict) and v and not all(isinstance(x, (int, float)) for x in v.values()):
            lines.append(f"{pad}{key}:")
            lines += _yaml(v, indent + 1)
        elif isinstance(v, dict) and not v:
            lines.append(f"{pad}{key}: {{}}")
        elif isinstance(v, dict):
            lines.append(f"{pad}{key}: {{{', '.join(f'{k}: {x}' for k, x in v.items())}}}")
        elif isinstance(v, list):
            lines.append(f"{pad}{key}: [{', '.join(str(x) for x in v)}]")
        else:
            lines.append(f"{pad}{key}: {v}")
    return lines


HEADER = """# Fitted engine profiles. Generated by `python -m learncost.calibrate --write` (do not edit by hand:
# tests/test_engines.py re-runs the fit and compares). The model and the data are in
# learncost/calibrate.py's docstring; the descriptive fields come from engines_about.yaml.
"""


def render() -> str:
    return HEADER + "\n".join(_yaml(profiles())) + "\n"


def main(argv: list[str] | None = None) -> int:
    from importlib import resources

    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        print("| round | board | engine | benchmark | measured ms | per-kind profile ms | error | one cycles/MACC ms | error |")
        print("|---|---|---|---|---:|---:|---:|---:|---:|")
        for r in validation():
            whole = (f"{r['whole_model_ms']:.2f} | {r['whole_model_error']:+.1%}" if "whole_model_ms" in r
                     else " | ")
            print(f"| {r['round']} | {r['board']} | {r['engine']} | {r['benchmark']} | {r['measured_ms']:.2f} | "
                  f"{r['predicted_ms']:.2f} | {r['error']:+.1%} | {whole} |")
        print()
        print("| engine | model | measured ms | predicted ms, five schemes |")
        print("|---|---|---:|---|")
        for r in training_validation():
            schemes = ", ".join(f"{k} {v:,.0f}" for k, v in r["predicted_ms"].items())
            print(f"| {r['engine']} | {r['model']} | {r['measured_ms']:,} | {schemes} |")
        return 0
    if "--write" in argv:
        path = resources.files("learncost").joinpath("data", "hardware", "engines.yaml")
        with open(str(path), "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
