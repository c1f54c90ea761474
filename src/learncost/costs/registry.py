"""The registry of cost formulas, in the spirit of fvcore's per-operator handlers.

A formula is a pure function ``f(d: Dims, layer: Layer) -> int`` registered for one layer
kind and one operation. A (kind, operation) pair with no formula costs nothing by
definition (a padding has no forward MACC, a pool no weight update). The two model-level
operations, ``error`` and ``projection``, are attributed to the output and input layer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Mapping

from ..ir import Dims, Layer, Model

#: operations in the order reports show them
OPERATIONS = ("forward", "backward", "weight_update", "goodness", "normalization", "error", "projection")

Formula = Callable[[Dims, Layer], int]
_FORMULAS: dict[tuple[str, str], Formula] = {}
_MODEL_FORMULAS: dict[str, Callable[[Model], int]] = {}


def formula(kinds: str | tuple[str, ...], op: str):
    """Register ``fn`` as the MACC formula of ``op`` for each of ``kinds``."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}")
    names = (kinds,) if isinstance(kinds, str) else kinds

    def register(fn: Formula) -> Formula:
        for kind in names:
            _FORMULAS[(kind, op)] = fn
        return fn

    return register


def model_formula(op: str):
    def register(fn: Callable[[Model], int]) -> Callable[[Model], int]:
        _MODEL_FORMULAS[op] = fn
        return fn

    return register


def formulas_for(kind: str) -> dict[str, Formula]:
    return {op: fn for (k, op), fn in _FORMULAS.items() if k == kind}


def model_formula_for(op: str) -> Callable[[Model], int]:
    return _MODEL_FORMULAS[op]


#: per (layer name, operation): either dims to substitute or the operation whose formula to use.
#: Only the paper's errata use these, to reproduce the sheet exactly.
Overrides = Mapping[tuple[str, str], Mapping[str, object]]


def layer_maccs(model: Model, overrides: Overrides | None = None) -> list[dict[str, int]]:
    """MACCs of every operation for every layer, in execution order."""
    overrides = overrides or {}
    result = []
    for layer in model.layers:
        maccs: dict[str, int] = {}
        for op in OPERATIONS[:5]:
            if op == "backward" and not model.has_trainable_ancestor[layer.name]:
                maccs[op] = 0  # no earlier layer consumes this error
                continue
            patch = overrides.get((layer.name, op), {})
            fn = _FORMULAS.get((layer.kind, str(patch.get("formula", op))))
            if fn is None:
                maccs[op] = 0
                continue
            dims = layer.dims
            if patch.get("dims"):
                dims = replace(dims, **patch["dims"])  # type: ignore[arg-type]
            maccs[op] = fn(dims, layer)
        maccs["error"] = _MODEL_FORMULAS["error"](model) if layer is model.output else 0
        maccs["projection"] = _MODEL_FORMULAS["projection"](model) if layer is model.input else 0
        result.append(maccs)
    return result
