"""A model beside X-CUBE-AI's report of it, layer by layer: the paper's validation, automated.

The report's rows with MACC are aligned with learncost's layers in execution order, by kind (a Conv2D row
with a conv2d or depthwise_conv2d layer, Dense/Gemm with dense, Pool with a pool or mean, Eltwise with an
element-wise layer, Conversion with a converter, Nonlinearity with an activation or a softmax). learncost's
figure is the forward MACC under the ``xcubeai`` convention (``costs.registry.XCUBEAI``). Every difference is
zero or carries its reason:

- a fused activation: the report's model table books it (1 MACC per element) on a row of its own; learncost
  books none. X-CUBE-AI's C model drops it in integer kernels (``c_macc -100%``) and keeps it in fused float
  kernels (``dense_of32/nl_of32``: the recap's model and C-model MACC are then equal), which the totals say;
- before 6.0, X-CUBE-AI left the bias out of a dense layer's MACC;
- anything else is UNEXPLAINED (exit status 3, as ``verify``).

Memory is set beside the report's: ``weights (ro)`` against learncost's parameter bytes, ``activations (rw)``
against learncost's arena for one inference (greedy by size, the ``arena`` accounting), with the report's
kernel scratch buffers (C arrays named ``*scratch*`` in the activations pool) and, where the report
allocates them there (``*``), the input and output buffers as what the arena does not plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Model
from .results import Reported
from .xcubeai import Report, ReportLayer

#: report row type -> learncost kinds it can stand for
ROW_KINDS = {
    "Conv2D": {"conv2d", "depthwise_conv2d"},
    "Dense": {"dense", "matmul"},
    "Gemm": {"dense", "matmul"},
    "MatMul": {"dense", "matmul"},
    "Pool": {"avg_pool2d", "max_pool2d", "mean"},
    "Eltwise": {"add", "mul", "sub"},
    "Conversion": {"quantize", "dequantize"},
    "Nonlinearity": {"activation", "softmax"},
    "Eltwise/add": {"add"}, "Eltwise/mul": {"mul"}, "Eltwise/sub": {"sub"},
}
FUSED = "fused activation: X-CUBE-AI books it on a row of its own ({k} per element), learncost books none"
BN_SKIPPED = ("batch normalization: learncost's importers leave it out (folded, as the paper assumes), X-CUBE-AI "
              "books it at 2 MACC per element")
ABSORBED = "a converter or activation X-CUBE-AI's C model runs inside its integer kernels (c_info.json lists C nodes)"
NO_DENSE_BIAS = "X-CUBE-AI before 6.0 (ONNX Gemm: before 7.0) leaves a dense layer's bias out of its MACC"
#: NPU reports and some layouts give the original operator as the row's type: TFLite and ONNX names
OP_KINDS = {
    "CONV_2D": {"conv2d"}, "DEPTHWISE_CONV_2D": {"depthwise_conv2d"}, "Conv": {"conv2d", "depthwise_conv2d"},
    "FULLY_CONNECTED": {"dense"}, "Gemm": {"dense", "matmul"}, "MatMul": {"dense", "matmul"},
    "BATCH_MATMUL": {"matmul"},
    "AVERAGE_POOL_2D": {"avg_pool2d"}, "MAX_POOL_2D": {"max_pool2d"}, "MEAN": {"mean", "avg_pool2d"},
    "AveragePool": {"avg_pool2d"}, "MaxPool": {"max_pool2d"}, "GlobalAveragePool": {"avg_pool2d", "mean"},
    "ReduceMean": {"mean"},
    "ADD": {"add"}, "Add": {"add"}, "MUL": {"mul"}, "Mul": {"mul"}, "SUB": {"sub"}, "Sub": {"sub"},
    "SOFTMAX": {"softmax"}, "Softmax": {"softmax"},
    "QUANTIZE": {"quantize", "dequantize"}, "DEQUANTIZE": {"quantize", "dequantize"},
    "QuantizeLinear": {"quantize", "dequantize"}, "DequantizeLinear": {"quantize", "dequantize"},
    "LOGISTIC": {"activation"}, "TANH": {"activation"}, "RELU": {"activation"}, "Relu": {"activation"},
    "Sigmoid": {"activation"}, "Tanh": {"activation"}, "HARD_SWISH": {"activation"},
}
BN_TYPES = {"ScaleBias", "BatchNormalization"}
UNEXPLAINED = "UNEXPLAINED"


@dataclass
class Pair:
    report: ReportLayer | None
    layer: str | None
    kind: str | None
    report_macc: int | None
    macc: int | None  # learncost, xcubeai convention
    reason: str  # "equal" or why not
    paper_macc: int | None = None  # learncost, the paper's convention

    @property
    def difference(self) -> int | None:
        if self.report_macc is None or self.macc is None:
            return None
        return self.macc - self.report_macc


@dataclass(repr=False)
class Validation(Reported):
    """learncost's counts beside an X-CUBE-AI / ST Edge AI Core report (``learncost validate``)."""

    REPORT = "validate_report"
    model: Model
    report: Report
    pairs: list[Pair]
    macc: int  # learncost's forward total, xcubeai convention
    paper_macc: int
    params_bytes: int
    arena_bytes: int
    scratch_bytes: int
    io_in_activations: bool
    totals: list[dict] = field(default_factory=list)

    @property
    def unexplained(self) -> list[Pair]:
        return [p for p in self.pairs if p.reason == UNEXPLAINED] + \
            [p for p in self.totals if p["reason"] == UNEXPLAINED]  # type: ignore[misc]

    def __repr__(self) -> str:
        return (f"<Validation {self.model.id or self.model.name} against {self.report.tool} {self.report.version}: "
                f"{len(self.pairs)} layers, {len(self.unexplained)} unexplained>")


SCALE = "scale"  # a 1x1 depthwise convolution the TFLite importer reads a constant MUL as
SCALED = ("a constant scale (and the shift after it): learncost reads them as a 1x1 depthwise convolution with a "
          "bias (1 MACC per element, 1 per channel), X-CUBE-AI as element-wise layers (1 per element each)")
FOLDED = ("a constant scale or shift learncost folds into the layer before it (batch normalization), X-CUBE-AI books "
          "1 per element")


def _is_scale(layer) -> bool:
    return layer.kind == "depthwise_conv2d" and "MUL by a constant" in (layer.note or "")


def _matches(layer, kinds: set[str]) -> bool:
    return (SCALE in kinds and _is_scale(layer)) or (layer.kind in kinds and not _is_scale(layer))


def _row_kinds(row: ReportLayer) -> set[str]:
    if row.type == "Conv2D" and row.original and "DEPTHWISE" in row.original.upper():
        return {"depthwise_conv2d"}
    if row.type == "Conv2D" and row.original and row.original.upper() in ("CONV_2D", "CONV2D", "CONV1D"):
        return {"conv2d"}
    if row.type == "Eltwise" and (row.original or "").upper() == "MUL":
        return {"mul", SCALE}
    if row.type == "Nonlinearity" and row.original and row.original.upper() == "SOFTMAX":
        return {"softmax"}
    if row.type not in ROW_KINDS and row.name.startswith("nl_") and row.type.upper() != "SOFTMAX":
        return {"activation"}  # NPU layout: a fused activation's row carries its layer's operator as the type
    return ROW_KINDS.get(row.type) or OP_KINDS.get(row.type) or OP_KINDS.get(row.original or "", set())


def _is_bn(row: ReportLayer) -> bool:
    return row.type in BN_TYPES or "batchnorm" in (row.original or "").lower()


def _unmatched(layer, forward: dict[str, int], report: Report) -> Pair:
    absorbed = report.c_model_rows and layer.kind in ("quantize", "dequantize", "activation")
    return Pair(None, layer.name, layer.kind, None, forward[layer.name], ABSORBED if absorbed else UNEXPLAINED)


def _version(report: Report) -> tuple[int, ...]:
    major = tuple(int(x) for x in report.version.split("."))
    return major if report.tool == "X-CUBE-AI" else (9 + major[0],) + major[1:]  # Core 1.x is X-CUBE-AI 9.1


def compare(model: Model, report: Report) -> Validation:
    from . import setups as S
    from .evaluate import Evaluator
    from .procedures import get_procedure

    setup = S.load("paper").model_copy(update={"convention": "xcubeai"})
    ev = Evaluator(model, setup, memory="arena")
    paper = Evaluator(model, "paper")
    forward = {layer.name: c["forward"] for layer, c in zip(model.layers, ev.costs)}
    layers = [layer for layer in model.layers if forward[layer.name]]
    rows = [r for r in report.layers if r.macc]
    pairs: list[Pair] = []
    i = 0
    last = None  # the learncost layer the previous row matched
    for row in rows:
        kinds = _row_kinds(row)
        if "activation" in kinds and last is not None and last.activation and \
                row.macc % last.output_elements == 0 and (i >= len(layers) or layers[i].kind not in kinds):
            pairs.append(Pair(row, last.name, last.kind, row.macc, 0,
                              FUSED.format(k=row.macc // last.output_elements)))
            continue
        if _is_bn(row) and not any(layer.kind == "batch_norm" for layer in layers[i:i + 4]):
            pairs.append(Pair(row, None, None, row.macc, 0, BN_SKIPPED))
            continue
        j = next((k for k in range(i, min(i + 4, len(layers))) if _matches(layers[k], kinds)), None)
        if j is None and row.type == "Eltwise" and last is not None and \
                (_is_scale(last) or (last.kind in ("conv2d", "depthwise_conv2d", "dense") and not last.activation)):
            pairs.append(Pair(row, last.name, last.kind, row.macc, 0, SCALED if _is_scale(last) else FOLDED))
            continue
        if j is None:
            pairs.append(Pair(row, None, None, row.macc, None, UNEXPLAINED))
            continue
        for skipped in layers[i:j]:
            pairs.append(_unmatched(skipped, forward, report))
        layer = layers[j]
        macc = forward[layer.name]
        reason = "equal" if macc == row.macc else UNEXPLAINED
        if _is_scale(layer) and reason == UNEXPLAINED:
            reason = SCALED
        old = _version(report) < ((7,) if row.type == "Gemm" else (6,))
        if reason == UNEXPLAINED and old and layer.kind in ("dense", "matmul") and macc - layer.biases == row.macc:
            reason = NO_DENSE_BIAS
        pairs.append(Pair(row, layer.name, layer.kind, row.macc, macc, reason))
        last, i = layer, j + 1
    for rest in layers[i:]:
        pairs.append(_unmatched(rest, forward, report))
    total = sum(forward.values())
    bp = get_procedure("bp")
    figures = ev.figures(bp, "inference")
    scratch = sum(a.size_bytes for a in report.c_arrays if a.scratch and a.pool.startswith("activations"))
    io_inside = report.summary.get("activations (rw)", "").rstrip().endswith("*")
    paper_forward = {layer.name: c["forward"] for layer, c in zip(model.layers, paper.costs)}
    for p in pairs:
        if p.layer is not None and p.macc:
            p.paper_macc = paper_forward[p.layer]
    v = Validation(model, report, pairs, total, sum(paper_forward.values()), figures.params_bytes,
                   figures.memory.bytes, scratch, io_inside)
    v.totals = _totals(v)
    return v


def _totals(v: Validation) -> list[dict]:
    """The report's totals beside learncost's, each difference explained by the rows' reasons where a
    combination of them adds up to it (which of them a C model keeps depends on its kernels)."""
    from itertools import combinations

    r = v.report
    parts = {
        "fused activations": -sum(p.report_macc or 0 for p in v.pairs if p.reason.startswith("fused activation")),
        "batch normalizations": -sum(p.report_macc or 0 for p in v.pairs if p.reason == BN_SKIPPED),
        "constant scales and shifts": sum((p.macc or 0) - (p.report_macc or 0) for p in v.pairs
                                          if p.reason in (SCALED, FOLDED)),
        "dense biases (pre-6.0)": sum(p.difference or 0 for p in v.pairs if p.reason == NO_DENSE_BIAS),
        "C kernels' absorbed converters and activations": sum(p.macc or 0 for p in v.pairs if p.reason == ABSORBED),
    }
    parts = {k: x for k, x in parts.items() if x}
    out = []
    if r.macc is not None and r.model_macc is not None and r.model_macc != r.macc:
        # what X-CUBE-AI's C model changes from its own model table (its c_macc column: fused activations it
        # drops, converters it absorbs or adds): the C total differs from the table's by that much
        c_side = {"C model's own changes (its c_macc column)": r.model_macc - r.macc}
    else:
        c_side = {}

    def reason(diff: int, terms: dict[str, int]) -> str:
        if diff == 0:
            return "equal"
        for n in range(1, len(terms) + 1):
            for combo in combinations(terms, n):
                if sum(terms[k] for k in combo) == diff:
                    return "the report's " + " and ".join(f"{k} ({-terms[k]:+,})" for k in combo)
        return UNEXPLAINED

    if r.macc is not None:
        out.append({"figure": "macc (C model)", "report": r.macc, "learncost": v.macc, "difference": v.macc - r.macc,
                    "reason": reason(v.macc - r.macc, parts | c_side)})
    if r.model_macc is not None and r.model_macc != r.macc:
        out.append({"figure": "macc (model table)", "report": r.model_macc, "learncost": v.macc,
                    "difference": v.macc - r.model_macc, "reason": reason(v.macc - r.model_macc, parts)})
    if r.weights_bytes is not None:
        diff = v.params_bytes - r.weights_bytes
        out.append({"figure": "weights (ro) B", "report": r.weights_bytes, "learncost": v.params_bytes,
                    "difference": diff,
                    "reason": "equal" if diff == 0 else "informative: X-CUBE-AI packs and pads its weight arrays "
                                                        "(per-channel scales, alignment)"})
    if r.activations_bytes is not None:
        diff = v.arena_bytes - r.activations_bytes
        parts = [f"kernel scratch {v.scratch_bytes:,} B"] if v.scratch_bytes else []
        if v.io_in_activations:
            parts.append("the input and output buffers (allocated in the activations, *)")
        out.append({"figure": "activations (rw) B", "report": r.activations_bytes, "learncost": v.arena_bytes,
                    "difference": diff,
                    "reason": "equal" if diff == 0 else "informative: learncost's arena (greedy by size) against "
                    "X-CUBE-AI's allocator" + (", whose figure holds " + " and ".join(parts) if parts else "")})
    return out
