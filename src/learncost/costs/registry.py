"""The registry of operations and of their cost formulas, in the spirit of fvcore's per-operator handlers.

An operation is one kind of work a learning step does (a forward pass, an input gradient, a
weight gradient, an optimizer step...). A formula is a pure function ``f(d: Dims, layer: Layer)
-> int`` registered for one layer kind and one operation; it states the geometry of that work on
one layer for one sample. A (kind, operation) pair with no formula costs nothing by definition (a
padding has no forward MACC, a pool no weight gradient). Model-level formulas (the output error,
PEPITA's projection) are attributed to the output and input layer. What a setup changes (which
layers are trained, on which channels, which optimizer) is applied on top by ``costs.ops``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir import Dims, Layer, Model


@dataclass(frozen=True)
class Operation:
    name: str
    #: "sample": done for every sample; "step": done once per optimizer step (batch)
    per: str
    #: booked by the ``paper`` MACC convention: the sheet's operations and each procedure's defining work,
    #: not the bookkeeping the sheet leaves out (bias gradients, local errors, gradient sums, applying
    #: updates, accumulating gradients, regenerating a feedback matrix a setup chooses not to store)
    paper: bool
    doc: str


_OPS = (
    Operation("forward", "sample", True, "the layer's forward computation"),
    Operation("backward", "sample", True, "the error passed to the layer's input (dX), a transposed operation"),
    Operation("weight_update", "sample", True, "the weight gradient (dW) of the trained channels"),
    Operation("goodness", "sample", True, "FF's goodness, the sum of squared activations"),
    Operation("normalization", "sample", True, "FF's length normalization of the output passed on"),
    Operation("error", "sample", True, "the error at the model's output"),
    Operation("projection", "sample", True, "PEPITA's projection of the output error onto the input through F"),
    Operation("bias_gradient", "sample", False, "db: the output error summed over positions"),
    Operation("local_error", "sample", False, "the error a local update reads: FF's dL/dy, PEPITA's h - h_mod"),
    Operation("gradient_sum", "sample", False, "errors of a value read by several layers (a residual fork) added up"),
    Operation("feedback_generation", "sample", False,
              "a fixed random feedback matrix regenerated from its seed where it is used (PEPITA's F, FA's B_l, "
              "DFA's and DRTP's B_l), one value at a time"),
    Operation("optimizer", "step", False, "applying the update to each trained parameter, optimizer state included"),
    Operation("gradient_accumulation", "step", False, "adding a micro-batch's gradient into the gradient buffers"),
    Operation("error_projection", "sample", True, "DFA: the output error projected onto a layer's output through B_l"),
    Operation("target_projection", "sample", True, "DRTP: the target projected onto a layer's output through B_l"),
    Operation("recompute", "sample", True, "checkpointed BP: a segment's forward pass run again in the backward pass"),
    Operation("tangent", "sample", True, "forward gradient: the tangent carried through a layer, W t_in + v_W x + v_b"),
    Operation("perturbation", "step", True, "MeZO: theta <- theta + c z on each trained parameter"),
    Operation("random_generation", "step", True, "values regenerated from a seed, one per trained parameter "
                                                 "(MeZO's z, the forward gradient's v)"),
    Operation("readout", "sample", True, "FF's linear readout: the logits accumulated from a hidden activity, "
                                        "W_r,l h_l"),
    Operation("readout_gradient", "sample", True, "the readout's weight gradient from one hidden activity, e h_l^T"),
    Operation("readout_step", "step", False, "applying the update to the readout's weights, optimizer state "
                                             "included"),
    Operation("readout_accumulation", "step", False, "adding a micro-batch's readout gradient into its buffer"),
    Operation("gradient_estimate", "step", False,
              "a scalar times a regenerated direction, g = (scalar) z, formed for an optimizer that reads the "
              "gradient (momentum, Adam): one per trained parameter; plain SGD folds it into its update"),
)
OPS: dict[str, Operation] = {op.name: op for op in _OPS}

#: conventions that book only the operations the sheet books (``Operation.paper``)
PAPER_LIKE = frozenset({"paper", "xcubeai"})
#: X-CUBE-AI's convention (its printed ``macc``): the paper's, whose head constants (2 MACC per element of
#: a converter, 15 of a float softmax) come from X-CUBE-AI, plus one MACC per bias of a layer. Evidence:
#: X-CUBE-AI 7.3's ModelMacc for the four MLPerf Tiny models (ST's v1.0 submissions,
#: mlcommons/tiny_results_v1.0 closed/STMicroelectronics/code/*/*/*.ioc) exceeds the paper convention's
#: forward MACC by exactly the model's biases: kws 2,665,584 - 2,664,996 = 588, vww 7,494,744 - 7,492,006 =
#: 2,738, ic 12,534,936 - 12,534,590 = 346, ad 265,864 - 264,192 = 1,672
XCUBEAI = "xcubeai"
#: operations in the order reports show them
OPERATIONS = tuple(OPS)
#: the operations the paper's sheet books
PAPER_OPERATIONS = tuple(op.name for op in _OPS if op.paper)

Formula = Callable[[Dims, Layer], int]
_FORMULAS: dict[tuple[str, str], Formula] = {}
_MODEL_FORMULAS: dict[str, Callable[[Model], int]] = {}


def formula(kinds: str | tuple[str, ...], op: str):
    """Register ``fn`` as the MACC formula of ``op`` for each of ``kinds``."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}")
    names = (kinds,) if isinstance(kinds, str) else kinds

    def register(fn: Formula) -> Formula:
        for kind in names:
            _FORMULAS[(kind, op)] = fn
        return fn

    return register


def model_formula(op: str):
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}")

    def register(fn: Callable[[Model], int]) -> Callable[[Model], int]:
        _MODEL_FORMULAS[op] = fn
        return fn

    return register


def formula_for(kind: str, op: str) -> Formula | None:
    return _FORMULAS.get((kind, op))


def formulas_for(kind: str) -> dict[str, Formula]:
    return {op: fn for (k, op), fn in _FORMULAS.items() if k == kind}


def model_formula_for(op: str) -> Callable[[Model], int]:
    return _MODEL_FORMULAS[op]
