"""Layer kinds: the parameters each takes, its output shape and parameter counts.

Every kind registers a builder that checks the layer against its inputs and returns the
fields of the IR ``Layer``. An impossible layer (kernel larger than its padded input, a
channel mismatch at an add, ...) raises ``SpecError`` naming the layer and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import SpecError
from .ir import Shape, any_true

#: kinds whose output buffer the memory rules do not count: the sheet never counts
#: explicit zero-padding or INT8<->float converters as stored activations in training,
#: and a reshape is a view of its input. Their consumers read through them.
TRANSIENT_KINDS = frozenset({"pad", "reshape", "flatten", "quantize", "dequantize"})

#: the classifier's output head as the sheet models it (INT8->float converter, softmax,
#: float->INT8 converter). Forward-Forward does not use it (sheet: FF sums R18, not W18).
HEAD_KINDS = frozenset({"softmax", "quantize", "dequantize"})


@dataclass
class Built:
    output_shape: Shape
    weights: int = 0
    biases: int = 0
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int, int, int] | None = None


Builder = Callable[[dict[str, Any], list[Shape], str], Built]
KINDS: dict[str, Builder] = {}
#: how many inputs each kind takes: (min, max); None = unbounded
ARITY: dict[str, tuple[int, int | None]] = {}


def kind(name: str, arity: tuple[int, int | None] = (1, 1)):
    def register(fn: Builder) -> Builder:
        KINDS[name] = fn
        ARITY[name] = arity
        return fn

    return register


def _is_int(value: Any) -> bool:
    """An integer, or an integer array (one value per sweep variant)."""
    if hasattr(value, "dtype"):
        return value.dtype.kind in "iu"
    return isinstance(value, int) and not isinstance(value, bool)


def _clip0(value: Any) -> Any:
    return value.clip(min=0) if hasattr(value, "clip") else max(value, 0)


def _pair(value: Any, field: str, loc: str, default: tuple[int, int] | None = None) -> tuple[int, int]:
    if value is None:
        if default is None:
            raise SpecError("is required", location=f"{loc}.{field}")
        return default
    if _is_int(value):
        value = (value, value)
    value = tuple(value)
    if len(value) == 1:
        value = (value[0], value[0])
    if len(value) != 2:
        raise SpecError(f"needs 1 or 2 integers, got {len(value)}", location=f"{loc}.{field}")
    if any(any_true(v < 1) for v in value):
        raise SpecError(f"must be >= 1, got {list(value)}", location=f"{loc}.{field}")
    return value  # type: ignore[return-value]


def _shape(value: Any, field: str, loc: str) -> Shape:
    if not value or any(not _is_int(d) or any_true(d < 1) for d in value):
        raise SpecError(f"must be a list of positive integers, got {value!r}", location=f"{loc}.{field}")
    return tuple(value)


def _feature_map(shape: Shape, loc: str) -> Shape:
    if len(shape) != 3:
        raise SpecError(
            f"needs a feature map (H, W, C) as input, got shape {list(shape)}", location=f"{loc}.inputs"
        )
    return shape


def _explicit_padding(padding: Any, in_hw: tuple[int, int], kernel: tuple[int, int],
                      stride: tuple[int, int], loc: str) -> tuple[int, int, int, int]:
    """Resolve 'valid' / 'same' (TensorFlow semantics) / int / [t, b, l, r] to 4 integers."""
    if padding is None or (isinstance(padding, str) and padding == "valid"):
        return (0, 0, 0, 0)
    if isinstance(padding, str) and padding == "same":
        pads = []
        for size, k, s in zip(in_hw, kernel, stride):
            out = -(-size // s)
            total = _clip0((out - 1) * s + k - size)
            pads += [total // 2, total - total // 2]
        return (pads[0], pads[1], pads[2], pads[3])
    if _is_int(padding):
        padding = [padding] * 4
    if isinstance(padding, (list, tuple)):
        if len(padding) == 2:
            padding = [padding[0], padding[0], padding[1], padding[1]]
        if len(padding) == 4 and all(_is_int(p) and not any_true(p < 0) for p in padding):
            return tuple(padding)  # type: ignore[return-value]
    raise SpecError(
        f"must be 'valid', 'same', an integer or [top, bottom, left, right] >= 0, got {padding!r}",
        location=f"{loc}.padding",
    )


def _window(shape: Shape, kernel: tuple[int, int], stride: tuple[int, int],
            pads: tuple[int, int, int, int], loc: str) -> tuple[int, int]:
    h = shape[0] + pads[0] + pads[1]
    w = shape[1] + pads[2] + pads[3]
    if any_true(kernel[0] > h) or any_true(kernel[1] > w):
        raise SpecError(
            f"kernel {kernel[0]}x{kernel[1]} is larger than the padded input {h}x{w}",
            location=f"{loc}.kernel",
        )
    return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1


@kind("input", arity=(0, 0))
def _input(p: dict, ins: list[Shape], loc: str) -> Built:
    return Built(_shape(p.get("shape"), "shape", loc))


def _sliding(p: dict, src: Shape, loc: str):
    """Kernel, stride, explicit padding and output size of a window sliding over ``src``."""
    k = _pair(p.get("kernel"), "kernel", loc)
    s = _pair(p.get("stride"), "stride", loc, (1, 1))
    pads = _explicit_padding(p.get("padding"), src[:2], k, s, loc)
    return k, s, pads, _window(src, k, s, pads, loc)


def _positive(p: dict, field: str, loc: str, default: int | None = None) -> int:
    value = p.get(field, default)
    if not _is_int(value) or any_true(value < 1):
        raise SpecError(f"must be a positive integer, got {value!r}", location=f"{loc}.{field}")
    return value


@kind("conv2d")
def _conv2d(p: dict, ins: list[Shape], loc: str) -> Built:
    src = _feature_map(ins[0], loc)
    filters = _positive(p, "filters", loc)
    k, s, pads, (ho, wo) = _sliding(p, src, loc)
    return Built((ho, wo, filters), weights=k[0] * k[1] * src[2] * filters,
                 biases=filters if p.get("use_bias", True) else 0, kernel=k, stride=s, padding=pads)


@kind("depthwise_conv2d")
def _depthwise(p: dict, ins: list[Shape], loc: str) -> Built:
    src = _feature_map(ins[0], loc)
    c_out = src[2] * _positive(p, "depth_multiplier", loc, 1)
    k, s, pads, (ho, wo) = _sliding(p, src, loc)
    return Built((ho, wo, c_out), weights=k[0] * k[1] * c_out,
                 biases=c_out if p.get("use_bias", True) else 0, kernel=k, stride=s, padding=pads)


@kind("dense")
def _dense(p: dict, ins: list[Shape], loc: str) -> Built:
    units = _positive(p, "units", loc)
    n_in = math.prod(ins[0])
    return Built((units,), weights=n_in * units, biases=units if p.get("use_bias", True) else 0)


def _pool(p: dict, ins: list[Shape], loc: str) -> Built:
    src = _feature_map(ins[0], loc)
    if p.get("global"):
        k = (src[0], src[1])
    else:
        k = _pair(p.get("kernel"), "kernel", loc)
    s = _pair(p.get("stride"), "stride", loc, k)
    pads = _explicit_padding(p.get("padding"), src[:2], k, s, loc)
    ho, wo = _window(src, k, s, pads, loc)
    return Built((ho, wo, src[2]), kernel=k, stride=s, padding=pads)


kind("avg_pool2d")(_pool)
kind("max_pool2d")(_pool)


@kind("pad")
def _pad(p: dict, ins: list[Shape], loc: str) -> Built:
    src = _feature_map(ins[0], loc)
    if p.get("padding") is None or isinstance(p["padding"], str):
        raise SpecError("needs explicit amounts: an integer or [top, bottom, left, right]",
                        location=f"{loc}.padding")
    pads = _explicit_padding(p.get("padding"), src[:2], (1, 1), (1, 1), loc)
    return Built((src[0] + pads[0] + pads[1], src[1] + pads[2] + pads[3], src[2]), padding=pads)


@kind("add", arity=(2, None))
def _add(p: dict, ins: list[Shape], loc: str) -> Built:
    first = ins[0]
    for i, shape in enumerate(ins[1:], start=1):
        if len(shape) != len(first) or any(any_true(a != b) for a, b in zip(shape, first)):
            raise SpecError(
                f"input {i} has shape {list(shape)} but input 0 has {list(first)} (channel or size mismatch)",
                location=f"{loc}.inputs",
            )
    return Built(first)


@kind("flatten")
@kind("reshape")
def _reshape(p: dict, ins: list[Shape], loc: str) -> Built:
    target = _shape(p.get("shape") or [math.prod(ins[0])], "shape", loc)
    if any_true(math.prod(target) != math.prod(ins[0])):
        raise SpecError(
            f"{list(target)} holds {math.prod(target)} elements, the input {list(ins[0])} holds {math.prod(ins[0])}",
            location=f"{loc}.shape",
        )
    return Built(target)


@kind("concat", arity=(2, None))
def _concat(p: dict, ins: list[Shape], loc: str) -> Built:
    """Joined along the last (channel) axis; the other dimensions must agree."""
    first = ins[0]
    for i, shape in enumerate(ins[1:], start=1):
        if len(shape) != len(first) or any(any_true(a != b) for a, b in zip(shape[:-1], first[:-1])):
            raise SpecError(f"input {i} has shape {list(shape)}, input 0 has {list(first)}: only the last axis may differ",
                            location=f"{loc}.inputs")
    return Built((*first[:-1], sum(s[-1] for s in ins)))


@kind("opaque", arity=(0, None))
def _opaque(p: dict, ins: list[Shape], loc: str) -> Built:
    """An operator learncost has no formula for, carried at zero cost with the shape its file states
    (or, where the file states none, its input's shape)."""
    return Built(_shape(p.get("shape") or (list(ins[0]) if ins else None), "shape", loc))


def _same_shape(p: dict, ins: list[Shape], loc: str) -> Built:
    return Built(ins[0])


for _name in ("softmax", "quantize", "dequantize"):
    kind(_name)(_same_shape)

#: kinds whose default output dtype is fixed rather than inherited from the input
DEFAULT_DTYPE = {"dequantize": "float32", "quantize": "int8"}
