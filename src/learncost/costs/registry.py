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
    #: booked by the paper's sheet (the ``paper`` MACC convention counts only these)
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
    Operation("feedback_generation", "sample", False, "F regenerated from a seed where it is used, one value at a time"),
    Operation("optimizer", "step", False, "applying the update to each trained parameter, optimizer state included"),
    Operation("gradient_accumulation", "step", False, "adding a micro-batch's gradient into the gradient buffers"),
)
OPS: dict[str, Operation] = {op.name: op for op in _OPS}
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
