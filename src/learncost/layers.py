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
#: kinds whose output is a constant its readers read from flash, with the weights: no buffer in RAM
FLASH_KINDS = frozenset({"constant"})
#: kinds whose weights a sparse update trains by input channel (C_out x C_in x kernel: a fraction of C_in)
INPUT_CHANNEL_KINDS = frozenset({"conv2d", "conv2d_transpose"})


def transient(layer) -> bool:
    """A layer whose output is not a buffer of its own: its input's (a padding, reshape or converter read
    through), or a constant read from flash."""
    return layer.kind in TRANSIENT_KINDS and bool(layer.inputs) or layer.kind in FLASH_KINDS


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
    groups: int = 1
    dilation: tuple[int, int] | None = None
    attrs: tuple[tuple[str, Any], ...] = ()


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
    """Kernel, stride, explicit padding and output size of a window sliding over ``src``; a dilated
    kernel spans dilation x (kernel - 1) + 1 input positions."""
    k = _pair(p.get("kernel"), "kernel", loc)
    s = _pair(p.get("stride"), "stride", loc, (1, 1))
    d = _pair(p.get("dilation"), "dilation", loc, (1, 1))
    span = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    pads = _explicit_padding(p.get("padding"), src[:2], span, s, loc)
    return k, s, pads, _window(src, span, s, pads, loc), (None if d == (1, 1) else d)


def _positive(p: dict, field: str, loc: str, default: int | None = None) -> int:
    value = p.get(field, default)
    if not _is_int(value) or any_true(value < 1):
        raise SpecError(f"must be a positive integer, got {value!r}", location=f"{loc}.{field}")
    return value


@kind("conv2d")
def _conv2d(p: dict, ins: list[Shape], loc: str) -> Built:
    """``groups`` G splits input and output channels into G independent convolutions (ShuffleNet,
    RegNet): each filter reads C_in / G channels."""
    src = _feature_map(ins[0], loc)
    filters = _positive(p, "filters", loc)
    groups = _positive(p, "groups", loc, 1)
    if any_true(src[2] % groups != 0) or any_true(filters % groups != 0):
        raise SpecError(f"{groups} groups must divide the input's {src[2]} channels and the {filters} filters",
                        location=f"{loc}.groups")
    k, s, pads, (ho, wo), d = _sliding(p, src, loc)
    return Built((ho, wo, filters), weights=k[0] * k[1] * (src[2] // groups) * filters,
                 biases=filters if p.get("use_bias", True) else 0, kernel=k, stride=s, padding=pads,
                 groups=groups, dilation=d)


@kind("conv2d_transpose")
def _conv2d_transpose(p: dict, ins: list[Shape], loc: str) -> Built:
    """The transpose of a convolution, a decoder's learned upsampling (TFLite TRANSPOSE_CONV, ONNX ConvTranspose,
    PyTorch's ConvTranspose2d, Keras Conv2DTranspose): each input position scatters kernel x C_out products onto a
    grid ``stride`` apart. The full output, (H_in - 1) x stride + kernel, is cropped by ``padding`` [top, bottom,
    left, right]: 'valid' crops nothing, 'same' crops to H_in x stride (TensorFlow's, the padding of the forward
    convolution it transposes). Weights H_ker x W_ker x C_in x C_out."""
    src = _feature_map(ins[0], loc)
    filters = _positive(p, "filters", loc)
    k = _pair(p.get("kernel"), "kernel", loc)
    s = _pair(p.get("stride"), "stride", loc, (1, 1))
    full = ((src[0] - 1) * s[0] + k[0], (src[1] - 1) * s[1] + k[1])
    padding = p.get("padding")
    if isinstance(padding, str) and padding == "same":
        if any_true(k[0] < s[0]) or any_true(k[1] < s[1]):
            raise SpecError(f"'same' needs a kernel at least the stride ({k[0]}x{k[1]}, stride {s[0]}x{s[1]}): the "
                            "output would extend past the full output", location=f"{loc}.padding")
        crops = [f - n * st for f, n, st in zip(full, src[:2], s)]
        pads = (crops[0] // 2, crops[0] - crops[0] // 2, crops[1] // 2, crops[1] - crops[1] // 2)
    else:
        pads = _explicit_padding(padding, src[:2], k, s, loc)
    ho, wo = full[0] - pads[0] - pads[1], full[1] - pads[2] - pads[3]
    if any_true(ho < 1) or any_true(wo < 1):
        raise SpecError(f"padding {list(pads)} crops the whole {full[0]}x{full[1]} output", location=f"{loc}.padding")
    return Built((ho, wo, filters), weights=k[0] * k[1] * src[2] * filters,
                 biases=filters if p.get("use_bias", True) else 0, kernel=k, stride=s, padding=pads)


@kind("depthwise_conv2d")
def _depthwise(p: dict, ins: list[Shape], loc: str) -> Built:
    src = _feature_map(ins[0], loc)
    c_out = src[2] * _positive(p, "depth_multiplier", loc, 1)
    k, s, pads, (ho, wo), d = _sliding(p, src, loc)
    return Built((ho, wo, c_out), weights=k[0] * k[1] * c_out,
                 biases=c_out if p.get("use_bias", True) else 0, kernel=k, stride=s, padding=pads, dilation=d)


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
    if p.get("ceil_mode"):
        pads = _ceil_padding(src, k, s, pads)
    ho, wo = _window(src, k, s, pads, loc)
    return Built((ho, wo, src[2]), kernel=k, stride=s, padding=pads)


def _ceil_padding(src: Shape, k: tuple[int, int], s: tuple[int, int],
                  pads: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """``ceil_mode`` (PyTorch, ONNX) rounds the output size up, the last window reaching past the
    input; as PyTorch, a window must start inside the input or its leading padding. The overhang
    becomes trailing padding, so that the window count and every formula follow from the padding."""
    out = []
    for size, kk, ss, lead, trail in ((src[0], k[0], s[0], pads[0], pads[1]), (src[1], k[1], s[1], pads[2], pads[3])):
        n = -(-(size + lead + trail - kk) // ss) + 1
        n = n - ((n - 1) * ss >= size + lead)  # a bool, or a bool array in a sweep
        out.append(_clip0((n - 1) * ss + kk - (size + lead + trail)))
    return (pads[0], pads[1] + out[0], pads[2], pads[3] + out[1])


kind("avg_pool2d")(_pool)
kind("max_pool2d")(_pool)


@kind("pad")
def _pad(p: dict, ins: list[Shape], loc: str) -> Built:
    """Zeros around the input: ``padding`` on H and W of a feature map, or ``pads`` ([before, after]
    for every axis of the input, channels too)."""
    if p.get("pads") is not None:
        return _pad_axes(p, ins[0], loc)
    src = _feature_map(ins[0], loc)
    if p.get("padding") is None or isinstance(p["padding"], str):
        raise SpecError("needs explicit amounts: an integer or [top, bottom, left, right]",
                        location=f"{loc}.padding")
    pads = _explicit_padding(p.get("padding"), src[:2], (1, 1), (1, 1), loc)
    return Built((src[0] + pads[0] + pads[1], src[1] + pads[2] + pads[3], src[2]), padding=pads)


def broadcast_shape(ins: list[Shape], loc: str) -> Shape:
    """NumPy's broadcasting on the IR's shapes: trailing axes aligned, each pair equal or one of
    them 1 (a squeeze-excitation scale (1, 1, C) or (C,) against a feature map (H, W, C))."""
    rank = max(len(shape) for shape in ins)
    out = [1] * rank
    for i, shape in enumerate(ins):
        padded = [1] * (rank - len(shape)) + list(shape)
        for axis, (a, b) in enumerate(zip(out, padded)):
            if any_true(a != b) and any_true(a != 1) and any_true(b != 1):
                raise SpecError(f"input {i} has shape {list(shape)} but input 0 has {list(ins[0])} "
                                "(channel or size mismatch: shapes broadcast only where one of them is 1)",
                                location=f"{loc}.inputs")
            out[axis] = b if any_true(a == 1) else a
    return tuple(out)


@kind("add", arity=(2, None))
@kind("mul", arity=(2, None))
@kind("sub", arity=(2, 2))
def _elementwise(p: dict, ins: list[Shape], loc: str) -> Built:
    """Element-wise sum, product or difference of its inputs, broadcast to one shape."""
    return Built(broadcast_shape(ins, loc))


def _pad_axes(p: dict, src: Shape, loc: str) -> Built:
    pads = p["pads"]
    if len(pads) != len(src) or any(len(pair) != 2 or any(not _is_int(v) or any_true(v < 0) for v in pair)
                                    for pair in pads):
        raise SpecError(f"needs [before, after] >= 0 for each of the input's {len(src)} axes, got {pads!r}",
                        location=f"{loc}.pads")
    out = tuple(d + a + b for d, (a, b) in zip(src, pads))
    if len(src) == 3 and not any(pads[2]):  # the spatial case is the paper's padding
        return Built(out, padding=(pads[0][0], pads[0][1], pads[1][0], pads[1][1]))
    return Built(out, attrs=(("pads", tuple(tuple(pair) for pair in pads)),))


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


def _axis(value: Any, rank: int, field: str, loc: str) -> int:
    if not _is_int(value) or not -rank <= value < rank:
        raise SpecError(f"must be an axis of the {rank}-dimensional input (-{rank}..{rank - 1}), got {value!r}",
                        location=f"{loc}.{field}")
    return value % rank


@kind("concat", arity=(2, None))
def _concat(p: dict, ins: list[Shape], loc: str) -> Built:
    """Joined along ``axis`` (default the last, channels); the other dimensions must agree."""
    first = ins[0]
    axis = _axis(p.get("axis", -1), len(first), "axis", loc)
    for i, shape in enumerate(ins[1:], start=1):
        if len(shape) != len(first) or any(any_true(a != b) for j, (a, b) in enumerate(zip(shape, first)) if j != axis):
            where = "the last axis" if axis == len(first) - 1 else f"axis {axis}"
            raise SpecError(f"input {i} has shape {list(shape)}, input 0 has {list(first)}: only {where} may differ",
                            location=f"{loc}.inputs")
    out = list(first)
    out[axis] = sum(s[axis] for s in ins)
    return Built(tuple(out), attrs=(("axis", axis),) if axis != len(first) - 1 else ())


#: activation functions a standalone ``activation`` layer applies (no MACC: a comparison, a select,
#: a lookup or a polynomial a runtime evaluates without multiply-accumulates in the paper's sense)
ACTIVATIONS = frozenset({"relu", "relu6", "relu_n1_to_1", "sigmoid", "tanh", "leaky_relu", "elu", "hard_sigmoid",
                         "hard_swish", "silu", "gelu", "prelu"})
#: functions whose derivative needs the function's input (it cannot be read off the output): a
#: backward pass keeps the input for them
INPUT_DERIVATIVE = frozenset({"hard_sigmoid", "hard_swish", "silu", "gelu", "prelu"})


@kind("activation")
def _activation(p: dict, ins: list[Shape], loc: str) -> Built:
    """A non-linearity on its own (one no layer before it can carry); PReLU's ``slopes`` (1, or
    one per channel, the default) are its parameters."""
    fn = p.get("function")
    if fn not in ACTIVATIONS:
        raise SpecError(f"unknown activation function {fn!r}", location=f"{loc}.function",
                        hint="valid: " + ", ".join(sorted(ACTIVATIONS)))
    slopes = 0
    if fn == "prelu":  # one slope per channel unless stated (Keras's and ONNX exports' usual form)
        slopes = _positive(p, "slopes", loc, ins[0][-1])
        if any_true(slopes != 1) and any_true(slopes != ins[0][-1]):
            raise SpecError(f"must be 1 or the input's {ins[0][-1]} channels, got {slopes}", location=f"{loc}.slopes")
    elif p.get("slopes") is not None:
        raise SpecError("only a prelu has slopes", location=f"{loc}.slopes")
    return Built(ins[0], weights=slopes)


@kind("mean")
def _mean(p: dict, ins: list[Shape], loc: str) -> Built:
    """The mean over ``axes`` (IR axes of the input); ``keepdims`` keeps them as 1."""
    src = ins[0]
    raw = p.get("axes")
    if not raw:
        raise SpecError("needs the axes to reduce", location=f"{loc}.axes")
    axes = sorted({_axis(a, len(src), "axes", loc) for a in raw})
    if p.get("keepdims"):
        out = tuple(1 if i in axes else d for i, d in enumerate(src))
    else:
        out = tuple(d for i, d in enumerate(src) if i not in axes) or (1,)
    return Built(out, attrs=(("axes", tuple(axes)), ("keepdims", bool(p.get("keepdims")))))


@kind("transpose")
def _transpose(p: dict, ins: list[Shape], loc: str) -> Built:
    """The input's axes reordered: output axis i is input axis perm[i] (a copy, not a view)."""
    src = ins[0]
    perm = p.get("perm")
    if perm is None or sorted(perm) != list(range(len(src))):
        raise SpecError(f"must be a permutation of 0..{len(src) - 1}, got {perm!r}", location=f"{loc}.perm")
    return Built(tuple(src[a] for a in perm), attrs=(("perm", tuple(perm)),))


@kind("slice")
def _slice(p: dict, ins: list[Shape], loc: str) -> Built:
    """Elements begin[i], begin[i] + step[i], ... before end[i] along every axis (a strided slice;
    a split is one slice per part). Ends past the input are clipped, as every runtime does; a
    negative end counts from the end."""
    src = ins[0]
    rank = len(src)
    begin = list(p.get("begin") or [0] * rank)
    end = list(p.get("end") or list(src))
    step = list(p.get("step") or [1] * rank)
    if not len(begin) == len(end) == len(step) == rank:
        raise SpecError(f"begin, end and step need one value per axis of the input ({rank})", location=f"{loc}.begin")
    out = []
    for i, (b, e, st, d) in enumerate(zip(begin, end, step, src)):
        e = min(e + d if e < 0 else e, d)  # a negative end counts from the end, as in Python
        if st < 1 or not 0 <= b < e:
            raise SpecError(f"axis {i}: begin {b}, end {e} and step {st} select nothing of {d} (0 <= begin < end, "
                            "step >= 1)", location=f"{loc}.begin")
        begin[i], end[i] = b, e
        out.append(-(-(e - b) // st))
    return Built(tuple(out), attrs=(("begin", tuple(begin)), ("end", tuple(end)), ("step", tuple(step))))


@kind("layer_norm")
def _layer_norm(p: dict, ins: list[Shape], loc: str) -> Built:
    """Each row of the last axis normalized to zero mean and unit variance, then scaled by gamma and
    shifted by beta (one each per feature, frozen: ``ir.WEIGHT_KINDS``); ``affine: false`` drops them."""
    features = ins[0][-1]
    affine = p.get("affine", True)
    return Built(ins[0], weights=features if affine else 0, biases=features if affine else 0)


@kind("matmul", arity=(2, 2))
def _matmul(p: dict, ins: list[Shape], loc: str) -> Built:
    """The product of two activations over their last two axes, A (..., n, k) B (..., k, m) -> (..., n, m),
    the leading axes equal: attention's scores Q K^T and its weights times V."""
    a, b = ins
    if len(a) < 2 or len(a) != len(b) or any(any_true(x != y) for x, y in zip(a[:-2], b[:-2])) \
            or any_true(a[-1] != b[-2]):
        raise SpecError(f"inputs of shapes {list(a)} and {list(b)} do not multiply: (..., n, k) times (..., k, m), "
                        "the leading axes equal", location=f"{loc}.inputs")
    return Built((*a[:-2], a[-2], b[-1]))


#: recurrent cells (``lstm``, ``gru``, ``svdf``): trained as a dense layer is (``ir.WEIGHT_KINDS``), their
#: backward pass running through time from the states their forward pass saves
RECURRENT_GATES = {"lstm": 4, "gru": 3}
RECURRENT_KINDS = frozenset({"lstm", "gru", "svdf"})


def _sequence(shape: Shape, loc: str) -> Shape:
    if len(shape) != 2:
        raise SpecError(f"needs a sequence (T, F) as input (time steps, features), got shape {list(shape)}",
                        location=f"{loc}.inputs", hint="reshape the input to (T, F) first")
    return shape


def _recurrent(gates: int, default_vectors: int) -> Builder:
    """A cell unrolled over the T steps of its (T, F) input: ``gates`` gate pre-activations per step, each
    reading [x_t, h_{t-1}] through one weight row, W of gates x units x (F + units); ``bias_vectors`` 1 or 2
    (PyTorch and ONNX keep an input and a recurrent bias per gate); ``return_sequences``: every step's h_t
    (T, units), or the last one (units,)."""

    def build(p: dict, ins: list[Shape], loc: str) -> Built:
        steps, features = _sequence(ins[0], loc)
        units = _positive(p, "units", loc)
        vectors = p.get("bias_vectors", default_vectors)
        if vectors not in (1, 2):
            raise SpecError(f"must be 1 or 2, got {vectors!r}", location=f"{loc}.bias_vectors")
        sequences = bool(p.get("return_sequences", True))
        biased = p.get("use_bias", True)
        return Built((steps, units) if sequences else (units,), weights=gates * units * (features + units),
                     biases=gates * units * vectors if biased else 0,
                     attrs=(("units", units), ("return_sequences", sequences),
                            ("bias_vectors", vectors if biased else 0)))

    return build


kind("lstm")(_recurrent(RECURRENT_GATES["lstm"], 1))
kind("gru")(_recurrent(RECURRENT_GATES["gru"], 2))


@kind("svdf")
def _svdf(p: dict, ins: list[Shape], loc: str) -> Built:
    """TFLite's SVDF on one frame of F features, as TensorFlow Lite runs it (one frame per invocation): the
    feature filter (units rank x F) writes the frame's rank activations per unit into a state of ``memory``
    frames (memory x units rank, the oldest dropped), the time filter (units rank x memory) weighs the state,
    the rank products of each unit summed, plus the bias (units)."""
    if len(ins[0]) != 1:
        raise SpecError(f"needs one frame (F,) as input, got shape {list(ins[0])}: SVDF runs one frame per "
                        "invocation, its state holding the frames before", location=f"{loc}.inputs")
    units, rank, memory = (_positive(p, f, loc, d) for f, d in (("units", None), ("rank", 1), ("memory", None)))
    return Built((units,), weights=units * rank * (ins[0][0] + memory), biases=units if p.get("use_bias", True) else 0,
                 attrs=(("units", units), ("rank", rank), ("memory", memory)))


#: how a bilinear resize maps an output position onto the input: PyTorch's align_corners=False, ONNX's half_pixel and
#: TFLite's half_pixel_centers (x_in = (x_out + 0.5) / scale - 0.5); corners aligned; TFLite's default (x_out / scale)
RESIZE_COORDINATES = frozenset({"half_pixel", "align_corners", "asymmetric"})


@kind("resize")
def _resize(p: dict, ins: list[Shape], loc: str) -> Built:
    """``method: nearest`` (the default): upsampling by whole factors ``scale`` [H, W] (Keras UpSampling2D, TFLite
    RESIZE_NEAREST_NEIGHBOR, ONNX Resize), each input element copied into a scale_H x scale_W block.
    ``method: bilinear``: any output ``size`` [H, W] (or whole factors ``scale``), each output element a weighted
    sum of the four input elements around its position (``coordinates`` says where: ``RESIZE_COORDINATES``)."""
    src = _feature_map(ins[0], loc)
    method = p.get("method", "nearest")
    if method not in ("nearest", "bilinear"):
        raise SpecError(f"unknown method {method!r}", location=f"{loc}.method", hint="nearest or bilinear")
    if method == "nearest":
        if p.get("size") is not None:
            raise SpecError("a nearest resize is by whole factors: give scale", location=f"{loc}.size",
                            hint="a nearest resize to another size is not modelled; describe it as an opaque layer")
        scale = _pair(p.get("scale"), "scale", loc)
        return Built((src[0] * scale[0], src[1] * scale[1], src[2]), attrs=(("scale", tuple(scale)),))
    coordinates = p.get("coordinates") or "half_pixel"
    if coordinates not in RESIZE_COORDINATES:
        raise SpecError(f"unknown coordinates {coordinates!r}", location=f"{loc}.coordinates",
                        hint="valid: " + ", ".join(sorted(RESIZE_COORDINATES)))
    if p.get("size") is not None:
        size = _pair(p.get("size"), "size", loc)
    else:
        scale = _pair(p.get("scale"), "scale", loc)
        size = (src[0] * scale[0], src[1] * scale[1])
    return Built((size[0], size[1], src[2]), attrs=(("method", "bilinear"), ("size", tuple(size)),
                                                    ("coordinates", coordinates)))


@kind("batch_norm")
def _batch_norm(p: dict, ins: list[Shape], loc: str) -> Built:
    """Batch normalization left unfolded, its statistics frozen and folded into a per-channel scale and shift
    (the last axis: channels): y = gamma' x + beta', gamma' = gamma / sqrt(var + eps), beta' = beta - mean gamma'.
    Only where a spec asks for it or an importer meets a scale no layer before it absorbs: folding stays the
    default. gamma' are its weights, beta' its biases (``shift: false``: none), trained as a layer's when a setup
    trains them (``ir.WEIGHT_KINDS``), whole."""
    channels = ins[0][-1]
    shift = bool(p.get("shift", True))
    return Built(ins[0], weights=channels, biases=channels if shift else 0, attrs=() if shift else (("shift", False),))


@kind("embedding")
def _embedding(p: dict, ins: list[Shape], loc: str) -> Built:
    """A lookup of each of the T integer indices of its input (T,) in a table of ``vocab`` rows of ``dim`` values
    (its weights, trained as a layer's, whole): output (T, dim). No error passes back to integer indices."""
    if len(ins[0]) != 1:
        raise SpecError(f"needs a sequence of indices (T,) as input, got shape {list(ins[0])}", location=f"{loc}.inputs")
    vocab, dim = _positive(p, "vocab", loc), _positive(p, "dim", loc)
    return Built((ins[0][0], dim), weights=vocab * dim, attrs=(("vocab", vocab), ("dim", dim)))


def _positive_number(p: dict, field: str, loc: str, default: float) -> float:
    value = p.get(field, default) if p.get(field) is not None else default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise SpecError(f"must be a positive number, got {value!r}", location=f"{loc}.{field}")
    return float(value)


@kind("lrn")
def _lrn(p: dict, ins: list[Shape], loc: str) -> Built:
    """Local response normalization across channels (AlexNet's; ONNX LRN, TFLite LOCAL_RESPONSE_NORMALIZATION,
    torch nn.LocalResponseNorm): b_c = a_c / (k + alpha / size * sum of a^2 over the ``size`` channels around c)
    ^ beta, the window cut at the edges (ONNX's and PyTorch's alpha, divided by the window; TFLite's is not:
    its importer multiplies it back). No parameters."""
    src = _feature_map(ins[0], loc)
    size = _positive(p, "size", loc)
    alpha = _positive_number(p, "alpha", loc, 1e-4)
    beta = _positive_number(p, "beta", loc, 0.75)
    k = _positive_number(p, "k", loc, 1.0)
    return Built(src, attrs=(("size", size), ("alpha", alpha), ("beta", beta), ("k", k)))


@kind("constant", arity=(0, 0))
def _constant(p: dict, ins: list[Shape], loc: str) -> Built:
    """A learned tensor the model reads as it reads an activation (ViT's class token, its table of positions, a
    layer scale): its values are parameters (``weights``, frozen: ``ir.WEIGHT_KINDS``), read from flash with the
    weights, no buffer in RAM (``FLASH_KINDS``); the same for every sample."""
    shape = _shape(p.get("shape"), "shape", loc)
    return Built(shape, weights=math.prod(shape))


@kind("opaque", arity=(0, None))
def _opaque(p: dict, ins: list[Shape], loc: str) -> Built:
    """An operator learncost has no formula for, carried at zero cost with the shape its file states
    (or, where the file states none, its input's shape)."""
    return Built(_shape(p.get("shape") or (list(ins[0]) if ins else None), "shape", loc))


def _same_shape(p: dict, ins: list[Shape], loc: str) -> Built:
    return Built(ins[0])


for _name in ("quantize", "dequantize"):
    kind(_name)(_same_shape)


@kind("softmax")
def _softmax(p: dict, ins: list[Shape], loc: str) -> Built:
    """Normalized exponentials along ``axis`` (default the last): the output head, or inside the model
    (attention's weights over the keys)."""
    src = ins[0]
    axis = _axis(p.get("axis", -1), len(src), "axis", loc)
    return Built(src, attrs=(("axis", axis),) if axis != len(src) - 1 else ())

#: kinds whose default output dtype is fixed rather than inherited from the input
DEFAULT_DTYPE = {"dequantize": "float32", "quantize": "int8"}


#: kinds a live workbook writes as formulas of their hyperparameters (``report.workbook``)
SPREADSHEET_KINDS = frozenset({"input", "conv2d", "depthwise_conv2d", "dense", "avg_pool2d", "max_pool2d", "pad",
                               "add", "concat", "reshape", "flatten", "softmax", "quantize", "dequantize", "opaque"})


def spreadsheet_gap(layer) -> str | None:
    """Why a workbook's formulas cannot state this layer as learncost computes it (None: they can)."""
    if layer.kind not in SPREADSHEET_KINDS:
        return f"kind {layer.kind}"
    if layer.groups != 1:
        return "a grouped convolution"
    if layer.dilation:
        return "a dilated convolution"
    if layer.attrs:
        return f"{layer.kind} on an axis other than the last" if layer.kind in ("concat", "softmax") else \
            "padding beyond H and W"
    if layer.kind == "add" and any(tuple(s) != tuple(layer.output_shape) for s in layer.input_shapes):
        return "a broadcasting add"
    return None
