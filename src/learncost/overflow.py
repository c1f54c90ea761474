"""Which sweep variants could overflow int64, decided before their figures are computed.

A sweep evaluates a group of variants with numpy int64 arrays, and numpy wraps around past 2**63
without a word: a sweep of ResNet-8 widths up to 9e9 printed negative RAM. ``analyze`` computes
with Python's exact integers and has no such limit. Rather than slow every sweep down with
exact arithmetic, each group is bounded first: every figure learncost computes is a sum, over
layers and operations, of products of one layer's sizes, and none exceeds

    2**12 x max(classes, 1) x (sum over layers of (K (C + 1) (O + 1) + I)  +  O_out x I_in)

where K is the layer's kernel area, O its output elements, I its input elements, C its input
channels when input and output are feature maps (else C = I, as ``ir.Dims`` maps dense layers), and
O_out x I_in PEPITA's projection. (Per layer and operation a formula is at most 15 x K x C x O: a
convolution is K x C_in x H_out W_out C_out, a dense layer I x O, the softmax 15 per element; a
phase sums at most 8 terms, each at most 3 times or once per class; a buffer is at most 8 bytes per
element; weights are at most K x C x O.) A training setup multiplies figures by its batch (the
``scale``), and adds up to 13 operations (the optimizer's 8 MACC per parameter among them) and up to
11 tensor roles at most 64 bits per element: a further factor of 4 covers them.
A variant whose bound reaches 2**62 is set aside with the reason; the others are computed in
int64, exactly. ``tests/test_overflow.py`` checks the bound against exact figures.
"""

from __future__ import annotations

import math
from typing import Any

#: variants whose bound reaches this are set aside (2**63 - 1 is int64's largest value)
LIMIT = 2.0**62
#: the constant factor of the bound (see the module's docstring)
FACTOR = 2.0**14


def _float(x: Any) -> Any:
    return x.astype("float64") if hasattr(x, "astype") else float(x)


def bound(model, value=_float, scale: float = 1.0, copies: dict | None = None) -> Any:
    """An upper bound on every figure of ``model`` (the layers' sizes may be numpy arrays, one
    element per variant), as a float or a float array. ``value`` maps each size to a float or a
    float array (the default), or to its largest value: then the bound holds for the whole group.
    ``copies``: a sweep's union weighing layers (``union``), each layer's term counted per copy."""
    copies = copies or {}
    counted: dict[int, Any] = {}

    def elements(shape) -> Any:  # a layer's input shape is its source's output shape: the same tuple
        key = id(shape)
        if key not in counted:
            counted[key] = math.prod(value(d) for d in shape)
        return counted[key]

    total: Any = 0.0
    for layer in model.layers:
        out = elements(layer.output_shape)
        inp = sum(elements(s) for s in layer.input_shapes) if layer.input_shapes else 0.0
        kernel = elements(layer.kernel) if layer.kernel else 1.0
        first = layer.input_shapes[0] if layer.input_shapes else ()
        channels = value(first[2]) if len(first) == 3 and len(layer.output_shape) == 3 else inp
        term = kernel * (channels + 1.0) * (out + 1.0) + inp
        k = copies.get(layer.name)
        total = total + (term if k is None else term * value(k))
    total = total + elements(model.layers[-1].output_shape) * sum(elements(i.output_shape) for i in model.inputs)
    passes = value(model.classes if model.classes is not None else 1)
    passes = passes.clip(min=1.0) if hasattr(passes, "clip") else max(passes, 1.0)
    return FACTOR * scale * passes * total


def too_large(model, scale: float = 1.0, copies: dict | None = None) -> Any:
    """Per variant: True where int64 could overflow (None when no variant can)."""
    largest: dict[int, float] = {}

    def top(x: Any) -> float:  # sizes are non-negative: the group's largest bound every variant
        if not hasattr(x, "max"):
            return float(x)
        if id(x) not in largest:  # one array serves many layers (a width feeds several shapes)
            largest[id(x)] = float(x.max())
        return largest[id(x)]

    if bound(model, top, scale, copies) < LIMIT:  # plain floats: the common case costs no numpy work
        return None
    risky = bound(model, scale=scale, copies=copies) >= LIMIT
    if hasattr(risky, "any"):
        return risky if risky.any() else None
    return True if risky else None


def reason(model, index: int | None, scale: float = 1.0) -> str:
    b = bound(model, scale=scale)
    value = float(b[index]) if hasattr(b, "shape") and b.shape else float(b)
    return (f"its figures may pass 64-bit integers (their bound is {value:.3g}, beyond 2**62): sweeps compute "
            "in int64, which would wrap around; `learncost analyze` computes it exactly")


def set_aside(result, model, members, scale: float = 1.0) -> Any:
    """Records the variants of ``members`` whose figures could overflow int64 as impossible, with
    the reason; returns the members left to evaluate, or None when none could overflow."""
    import numpy as np

    risky = too_large(model, scale)
    if risky is None:
        return None
    mask = np.broadcast_to(np.asarray(risky, dtype=bool), (len(members),))
    for k in np.flatnonzero(mask):
        result.errors[int(members[k])] = reason(model, int(k) if np.ndim(bound(model, scale=scale)) else None, scale)
    return members[~mask]
