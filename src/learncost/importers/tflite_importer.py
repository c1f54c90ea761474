"""TFLite flatbuffers (int8 and float32), read with the ``tflite`` package: no TensorFlow needed.

Each builtin operator is one entry of ``HANDLERS``: a small function translating it into spec
layers. An operator without an entry is carried as an opaque layer (refused unless
``--allow-unsupported``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

from ..layers import INPUT_DERIVATIVE
from .common import GraphBuilder, ImportFailure, Table, drop_batch, read_bytes, transposed_crop, whole_scale

FUSED = {0: None, 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit"}
PADDING = {0: "same", 1: "valid"}
ACTIVATION_OPS = {"RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1", "TANH": "tanh",
                  "LOGISTIC": "sigmoid", "HARD_SWISH": "hard_swish", "LEAKY_RELU": "leaky_relu", "ELU": "elu",
                  "GELU": "gelu", "PRELU": "prelu"}
#: operators that decode a constant (float16 or int8 weights) into the tensor an operator reads:
#: applied to a constant, their output is that constant, stored at the source's element type
DECODERS = ("DEQUANTIZE", "DENSIFY")

HANDLERS = Table()


def _enum_names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def load(path: Path, *, allow_unsupported: bool = False, classes: int | None = None):
    data = read_bytes(path)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ImportFailure(f"{path.name}: not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        return _load(path, data, allow_unsupported, classes)
    except ImportFailure:
        raise
    except Exception as exc:  # a corrupt flatbuffer fails anywhere inside the generated accessors
        raise ImportFailure(f"{path.name}: malformed or truncated TFLite file ({type(exc).__name__})") from None


class _Graph:
    """The file's first subgraph: its tensors, their constants, and the layers collected so far."""

    def __init__(self, origin: str, model, tflite):
        self.origin = origin
        self.model = model
        self.tflite = tflite
        self.g = model.Subgraphs(0)
        self.dtypes = {tflite.TensorType.FLOAT32: "float32", tflite.TensorType.FLOAT16: "float16",
                       tflite.TensorType.INT32: "int32", tflite.TensorType.UINT8: "uint8",
                       tflite.TensorType.INT16: "int16", tflite.TensorType.INT8: "int8"}
        #: tensor -> the stored constant it was decoded from (DEQUANTIZE/DENSIFY of weights)
        self.decoded: dict[int, int] = {}
        self.b: GraphBuilder | None = None

    def tensor(self, i):
        if i < 0 or i >= self.g.TensorsLength():
            raise ImportFailure(f"{self.origin}: operator refers to tensor {i}, the graph has {self.g.TensorsLength()}")
        return self.g.Tensors(i)

    def shape(self, i) -> list[int]:
        t = self.tensor(i)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def dtype(self, i) -> str:
        t = self.tensor(self.decoded.get(i, i))
        if t.Type() not in self.dtypes:
            raise ImportFailure(f"{self.origin}: tensor {self.name(i)!r} has an element type learncost does not size "
                                f"({_enum_names(self.tflite.TensorType).get(t.Type(), t.Type())})",
                                code="LC-IMPORT-UNSUPPORTED")
        return self.dtypes[t.Type()]

    def name(self, i) -> str:
        """The tensor's name for messages and notes; the schema makes names optional."""
        raw = self.tensor(i).Name()
        return raw.decode(errors="replace") if raw else f"tensor {i}"

    def key(self, i) -> str:
        # operators are wired by tensor index: names may be missing or repeated
        self.tensor(i)
        return f"#{i}"

    def stored(self, i):
        buf = self.model.Buffers(self.tensor(i).Buffer())
        return buf.DataAsNumpy() if buf is not None and buf.DataLength() else None

    def constant(self, i) -> bool:
        """Whether the tensor holds values stored in the file (directly, or decoded from them)."""
        return i in self.decoded or self.stored(i) is not None

    def int_values(self, i) -> list[int]:
        import numpy as np

        raw = self.stored(i)
        if raw is None:
            raise ImportFailure(f"{self.origin}: expected constant values in tensor {self.name(i)!r}")
        return [int(v) for v in np.frombuffer(raw.tobytes(), dtype=np.int32)]

    def live(self, indices) -> list[int]:
        return [i for i in indices if i >= 0 and not self.constant(i)]


@dataclass
class _Op:
    """One operator of the graph, as its handler sees it."""

    pos: int
    opname: str
    op: object
    ins: list[int]
    outs: list[int]
    out_names: list[str]
    y: list[int]
    ydt: str

    @property
    def raw(self) -> str:
        return f"{self.opname.lower()}_{self.pos}"

    def options(self, g: _Graph, cls, required: bool = True):
        """The operator's options table; None when absent and the defaults are meaningful (no fused
        activation), an error when the operator cannot be costed without them (strides, filter size)."""
        table = self.op.BuiltinOptions()
        if table is None:
            if required:
                raise ImportFailure(f"{g.origin}: operator {self.pos} ({self.opname}) has no options (its stride, "
                                    "padding or size are not stated)", hint="re-export the model with its converter")
            return None
        opt = cls()
        opt.Init(table.Bytes, table.Pos)
        return opt

    def add(self, g: _Graph, kind: str, inputs: list[int], **params) -> str:
        return g.b.add(self.raw, kind, [g.key(i) for i in inputs], self.out_names, expect=tuple(self.y), **params)

    def opaque(self, g: _Graph, what: str | None = None, inputs: list[int] | None = None) -> None:
        """Carried at zero cost; by default reading the operator's first live input (if any)."""
        chosen = g.live(self.ins)[:1] if inputs is None else inputs
        g.b.opaque(what or self.opname, self.pos, self.raw, [g.key(i) for i in chosen], self.out_names, tuple(self.y))


def _static_input(g: _Graph, index: int) -> None:
    """A dynamic input (shape signature -1 beyond the batch) leaves placeholder shapes (1) in the file: costing
    them would be silently wrong."""
    t = g.tensor(index)
    signature = [int(d) for d in t.ShapeSignatureAsNumpy()] if t.ShapeSignatureLength() else []
    if any(d < 0 for d in signature[1:]):
        raise ImportFailure(f"{g.origin}: the input has dynamic dimensions (shape signature {signature}); the file's "
                            f"tensor shapes are placeholders", code="LC-IMPORT-SHAPE",
                            hint="convert the model again with a fixed input shape (TFLite Micro needs one too)")


def _load(path: Path, data: bytes, allow_unsupported: bool, classes: int | None):
    import tflite

    ops_by_code = _enum_names(tflite.BuiltinOperator)
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ImportFailure(f"{path.name}: the TFLite model has no subgraph")
    g = _Graph(path.name, model, tflite)
    origin = g.origin
    if g.g.InputsLength() < 1:
        raise ImportFailure(f"{origin}: the graph has no input", code="LC-IMPORT-UNSUPPORTED")
    in_idx, *others = (int(i) for i in g.g.InputsAsNumpy())
    for idx in (in_idx, *others):
        _static_input(g, idx)
    g.b = GraphBuilder(origin, drop_batch(g.shape(in_idx), origin, "the input"), g.dtype(in_idx))
    g.b.alias[g.key(in_idx)] = "input"
    for k, idx in enumerate(others, 2):
        g.b.add_input(g.key(idx), drop_batch(g.shape(idx), origin, f"input {k} ({g.name(idx)})"), g.dtype(idx),
                      g.name(idx))

    last_softmax = False
    for pos in range(g.g.OperatorsLength()):
        op = g.g.Operators(pos)
        code = model.OperatorCodes(op.OpcodeIndex())
        opname = ops_by_code.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), f"CUSTOM_{code.BuiltinCode()}")
        if opname == "CUSTOM" and code.CustomCode():  # named by its code: MediaPipe's, a vendor's kernel
            opname = f"CUSTOM:{code.CustomCode().decode(errors='replace')}"
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if not outs:
            raise ImportFailure(f"{origin}: operator {pos} ({opname}) has no output")
        if opname in DECODERS and ins and all(g.constant(i) for i in ins if i >= 0):
            g.decoded[outs[0]] = g.decoded.get(ins[0], ins[0])  # weights decoded once: still the stored constant
            continue
        y = drop_batch(g.shape(outs[0]), origin, f"the output of operator {pos} ({opname})")
        current = _Op(pos, opname, op, ins, outs, [g.key(i) for i in outs], y, g.dtype(outs[0]))
        last_softmax = opname == "SOFTMAX"
        HANDLERS.get(opname, _unsupported)(g, current)
    g.b.several_outputs([g.name(int(i)) for i in g.g.OutputsAsNumpy()] if g.g.OutputsLength() else [])
    model_ir = g.b.build(name=path.stem, allow_unsupported=allow_unsupported, classes=classes,
                         softmax_output=last_softmax)
    # TFLite Micro breaks ties between equal-size tensors by their order in the file
    for k, layer in g.b.alias.items():
        if k[1:].isdigit():  # the file's tensors (an intermediate of two layers has no position)
            model_ir.tensor_order[layer] = max(model_ir.tensor_order.get(layer, -1), int(k[1:]))
    model_ir.runtime["tflm"] = _tflm_graph(model, ops_by_code)
    return model_ir


def _unsupported(g: _Graph, op: _Op) -> None:
    op.opaque(g)


def _bias(op: _Op) -> int | None:
    return op.ins[2] if len(op.ins) > 2 and op.ins[2] >= 0 else None


@HANDLERS("CONV_2D", "DEPTHWISE_CONV_2D")
def _conv(g: _Graph, op: _Op) -> None:
    tfl = g.tflite
    is_conv = op.opname == "CONV_2D"
    opt = op.options(g, tfl.Conv2DOptions if is_conv else tfl.DepthwiseConv2DOptions)
    dilation = [max(1, opt.DilationHFactor()), max(1, opt.DilationWFactor())]
    w = g.shape(op.ins[1])
    bias = _bias(op)
    common = dict(kernel=[w[1], w[2]], stride=[opt.StrideH(), opt.StrideW()],
                  padding=PADDING.get(opt.Padding(), "valid"), activation=FUSED.get(opt.FusedActivationFunction()),
                  use_bias=bias is not None, dtype=op.ydt, weight_dtype=g.dtype(op.ins[1]),
                  bias_dtype=g.dtype(bias) if bias is not None else None, note=g.name(op.outs[0]),
                  dilation=None if dilation == [1, 1] else dilation)
    if is_conv:
        c_in = g.shape(op.ins[0])[-1]
        if w[3] != c_in and (w[3] < 1 or c_in % w[3]):
            op.opaque(g, f"{op.opname} (filters read {w[3]} of {c_in} channels)", [op.ins[0]])
            return
        groups = c_in // w[3]  # TFLite states a grouped convolution by its filters' depth
        op.add(g, "conv2d", [op.ins[0]], filters=w[0], groups=groups if groups > 1 else None, **common)
    else:
        mult = max(1, w[3] // max(1, g.shape(op.ins[0])[-1]))
        op.add(g, "depthwise_conv2d", [op.ins[0]], depth_multiplier=mult, **common)


#: TfLitePadding, the C enum of a custom operator's parameters (the schema's Padding is SAME 0, VALID 1)
CUSTOM_PADDING = {1: "same", 2: "valid"}


@HANDLERS("TRANSPOSE_CONV", "CUSTOM:Convolution2DTransposeBias")
def _transpose_conv(g: _Graph, op: _Op) -> None:
    """TRANSPOSE_CONV reads the output shape, the weights (C_out, kh, kw, C_in), the input and (schema 2.4 on) a
    bias; MediaPipe's custom Convolution2DTransposeBias reads the input, weights and bias, its padding and strides
    in three int32 custom options (TfLiteTransposeConvParams). The output the file states fixes the crop of the
    full output: 'same' splits it as TensorFlow does, 'valid' crops the end."""
    if op.opname == "TRANSPOSE_CONV":
        x, w_idx = op.ins[2], op.ins[1]
        bias = op.ins[3] if len(op.ins) > 3 and op.ins[3] >= 0 else None
        opt = op.options(g, g.tflite.TransposeConvOptions)
        padding, stride = PADDING.get(opt.Padding(), "valid"), [opt.StrideH(), opt.StrideW()]
        activation = FUSED.get(opt.FusedActivationFunction())
    else:
        x, w_idx, bias = op.ins[0], op.ins[1], _bias(op)
        raw = op.op.CustomOptionsAsNumpy().tobytes() if op.op.CustomOptionsLength() else b""
        if len(raw) < 12:
            op.opaque(g, f"{op.opname} (no padding and strides in its options)", [x])
            return
        code, stride_w, stride_h = struct.unpack("<3i", raw[:12])
        padding, stride, activation = CUSTOM_PADDING.get(code, "valid"), [stride_h, stride_w], None
    w = g.shape(w_idx)
    src = g.shape(x)[1:]
    if len(w) != 4 or len(src) != 3 or w[3] != src[2] or min(stride) < 1:
        op.opaque(g, f"{op.opname} (weights {w} for an input {src})", [x])
        return
    pads = transposed_crop(src, op.y, w[1:3], stride, None if padding == "same" else [0, 0])
    if pads is None:
        op.opaque(g, f"{op.opname} (an output larger than its full output)", [x])
        return
    op.add(g, "conv2d_transpose", [x], filters=w[0], kernel=[w[1], w[2]], stride=stride, padding=pads,
           activation=activation, use_bias=bias is not None, dtype=op.ydt, weight_dtype=g.dtype(w_idx),
           bias_dtype=g.dtype(bias) if bias is not None else None, note=g.name(op.outs[0]))


@HANDLERS("FULLY_CONNECTED")
def _fully_connected(g: _Graph, op: _Op) -> None:
    opt = op.options(g, g.tflite.FullyConnectedOptions, False)
    w = g.shape(op.ins[1])
    bias = _bias(op)
    if math.prod(op.y) != w[0]:
        op.opaque(g, f"{op.opname} (batched rows)", [op.ins[0]])
        return
    op.add(g, "dense", [op.ins[0]], units=w[0], use_bias=bias is not None,
           activation=FUSED.get(opt.FusedActivationFunction()) if opt else None, dtype=op.ydt,
           weight_dtype=g.dtype(op.ins[1]), bias_dtype=g.dtype(bias) if bias is not None else None,
           note=g.name(op.outs[0]))


@HANDLERS("AVERAGE_POOL_2D", "MAX_POOL_2D")
def _pool(g: _Graph, op: _Op) -> None:
    opt = op.options(g, g.tflite.Pool2DOptions)
    op.add(g, "avg_pool2d" if op.opname.startswith("AVERAGE") else "max_pool2d", [op.ins[0]],
           kernel=[opt.FilterHeight(), opt.FilterWidth()], stride=[opt.StrideH(), opt.StrideW()],
           padding=PADDING.get(opt.Padding(), "valid"), activation=FUSED.get(opt.FusedActivationFunction()),
           dtype=op.ydt, note=g.name(op.outs[0]))


@HANDLERS("PAD", "PADV2")
def _pad(g: _Graph, op: _Op) -> None:
    pads = g.int_values(op.ins[1])
    if len(pads) < 4 or pads[0] or pads[1]:
        op.opaque(g, f"{op.opname} (on the batch)", [op.ins[0]])
        return
    if len(pads) == 8 and not pads[6] and not pads[7]:
        op.add(g, "pad", [op.ins[0]], padding=[pads[2], pads[3], pads[4], pads[5]], dtype=op.ydt)
        return
    op.add(g, "pad", [op.ins[0]], pads=[pads[k:k + 2] for k in range(2, len(pads), 2)], dtype=op.ydt)


@HANDLERS("ADD", "CONCATENATION", "MUL", "SUB")
def _join(g: _Graph, op: _Op) -> None:
    live = g.live(op.ins)
    if len(live) < 2:
        if op.opname in ("ADD", "MUL", "SUB") and _fold_affine(g, op, live):
            return
        if op.opname == "MUL" and _constant_scale(g, op, live):
            return
        op.opaque(g, f"{op.opname} (with a constant)", live[:1])
        return
    if op.opname == "CONCATENATION":
        opt = op.options(g, g.tflite.ConcatenationOptions)
        rank = len(g.shape(op.outs[0]))
        axis = opt.Axis() % rank if rank else opt.Axis()
        extra = {} if axis == rank - 1 else {"axis": axis - 1}
        if axis == 0:
            op.opaque(g, f"{op.opname} (axis {opt.Axis()})", live)
            return
        op.add(g, "concat", live, dtype=op.ydt, activation=FUSED.get(opt.FusedActivationFunction()), **extra)
    else:
        cls = {"ADD": g.tflite.AddOptions, "MUL": g.tflite.MulOptions, "SUB": g.tflite.SubOptions}[op.opname]
        opt = op.options(g, cls, False)
        op.add(g, op.opname.lower(), live, dtype=op.ydt,
               activation=FUSED.get(opt.FusedActivationFunction()) if opt else None)


def _fold_affine(g: _Graph, op: _Op, live: list[int]) -> bool:
    """x * c, x + c or x - c with a scalar or per-channel constant right after a convolution or a
    dense layer without activation: batch normalization left unfolded by the converter, folded here
    as the paper folds batch normalization (reported, not counted); a shift on a layer without a bias
    becomes its bias (one parameter per output channel)."""
    if len(live) != 1:
        return False
    layer = g.b.producer(g.key(live[0]))
    if layer is not None and layer["kind"] == "reshape" and layer["name"].endswith("_back"):  # a sequence's scale
        layer = next((x for x in reversed(g.b.layers) if x["name"] == layer["inputs"][0]), None)
    const = next((i for i in op.ins if i >= 0 and g.constant(i)), None)
    if layer is None or layer["kind"] not in ("conv2d", "depthwise_conv2d", "dense") or const is None:
        return False
    if layer.get("activation") not in (None, "linear") or math.prod(g.shape(const) or [1]) not in (1, op.y[-1]):
        return False
    if op.opname in ("ADD", "SUB") and layer.get("use_bias") is False:
        layer["use_bias"] = True  # the shift becomes the bias the layer did not have: one per output channel
        layer["bias_dtype"] = g.dtype(const)
    g.b.skip(g.key(live[0]), op.out_names, "constant scale or shift after a linear layer (batch normalization)")
    return True


def _constant_scale(g: _Graph, op: _Op, live: list[int]) -> bool:
    """x * c, c a scalar or one value per channel, on a feature map and after no linear layer (an input's
    normalization, batch normalization the converter left after a pool or an activation): the per-channel
    affine a 1x1 depthwise convolution computes, read as one (1 MACC per element); a constant shift that
    follows folds into its bias. A scalar c is one value the layer counts once per channel (its note says so)."""
    rank = len(g.shape(live[0]))
    if len(live) != 1 or rank not in (3, 4):  # batch + H, W, C, or batch + L, C (a sequence: read as 1 x L x C)
        return False
    const = next((i for i in op.ins if i >= 0 and g.constant(i)), None)
    channels = g.shape(live[0])[-1]
    values = math.prod(g.shape(const) or [1]) if const is not None else None
    if values not in (1, channels):
        return False
    opt = op.options(g, g.tflite.MulOptions, False)
    note = f"{g.name(op.outs[0])}: MUL by a constant read as a 1x1 depthwise convolution" + (
        f" (its one value counted as {channels} weights)" if values == 1 and channels > 1 else "")
    scale = dict(kernel=1, use_bias=False, dtype=op.ydt, weight_dtype=g.dtype(const),
                 activation=FUSED.get(opt.FusedActivationFunction()) if opt else None, note=note)
    if rank == 4:
        op.add(g, "depthwise_conv2d", [live[0]], **scale)
        return True
    as_map, scaled = f"{op.raw}:as_map", f"{op.raw}:scaled"  # intermediates of no tensor of the file
    g.b.add(f"{op.raw}_as_map", "reshape", [g.key(live[0])], [as_map], shape=[1, *op.y], dtype=op.ydt)
    g.b.add(op.raw, "depthwise_conv2d", [as_map], [scaled], expect=(1, *op.y), **scale)
    g.b.add(f"{op.raw}_back", "reshape", [scaled], op.out_names, expect=tuple(op.y), shape=list(op.y), dtype=op.ydt)
    return True


@HANDLERS("BATCH_MATMUL")
def _batch_matmul(g: _Graph, op: _Op) -> None:
    """Two activations over their last two axes; adjoint operands and 4-D tensors (read by the IR as images)
    stay opaque."""
    live = g.live(op.ins)
    opt = op.options(g, g.tflite.BatchMatMulOptions, False)
    adjoint = opt is not None and (opt.AdjX() or opt.AdjY())
    if len(live) != 2 or adjoint or any(len(g.shape(i)) not in (2, 3) for i in live):
        op.opaque(g, f"{op.opname} ({'adjoint' if adjoint else 'a constant or 4-D operand'})", live[:1])
        return
    op.add(g, "matmul", live, dtype=op.ydt)


@HANDLERS("RESIZE_NEAREST_NEIGHBOR")
def _resize(g: _Graph, op: _Op) -> None:
    opt = op.options(g, g.tflite.ResizeNearestNeighborOptions, False)
    src = g.shape(op.ins[0])[1:]
    scale = whole_scale(src, op.y)
    if opt is not None and opt.AlignCorners():  # corners aligned: not block copies
        op.opaque(g, f"{op.opname} (align_corners)", [op.ins[0]])
    elif scale is None:
        op.opaque(g, f"{op.opname} ({src} to {op.y}: not a whole factor)", [op.ins[0]])
    else:
        op.add(g, "resize", [op.ins[0]], scale=scale, dtype=op.ydt)


@HANDLERS("RESIZE_BILINEAR")
def _resize_bilinear(g: _Graph, op: _Op) -> None:
    """To the output's size, positions mapped as the options say (TFLite's default: asymmetric, x_out / scale)."""
    opt = op.options(g, g.tflite.ResizeBilinearOptions, False)
    corners, centers = (opt.AlignCorners(), opt.HalfPixelCenters()) if opt is not None else (False, False)
    coordinates = "align_corners" if corners else "half_pixel" if centers else "asymmetric"
    if len(op.y) != 3 or len(g.shape(op.ins[0])) != 4:
        op.opaque(g, f"{op.opname} (not on a 4-D feature map)", [op.ins[0]])
        return
    op.add(g, "resize", [op.ins[0]], method="bilinear", size=op.y[:2], coordinates=coordinates, dtype=op.ydt)


@HANDLERS("LOCAL_RESPONSE_NORMALIZATION")
def _lrn(g: _Graph, op: _Op) -> None:
    """TFLite's window is 2 radius + 1 channels and its alpha multiplies the plain sum of squares; the IR's
    (ONNX's) divides by the window: alpha x size."""
    opt = op.options(g, g.tflite.LocalResponseNormalizationOptions)
    size = 2 * opt.Radius() + 1
    op.add(g, "lrn", [op.ins[0]], size=size, alpha=opt.Alpha() * size, beta=opt.Beta(), k=opt.Bias(), dtype=op.ydt)


@HANDLERS("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def _reshape(g: _Graph, op: _Op) -> None:
    op.add(g, "reshape", [op.ins[0]], shape=op.y, dtype=op.ydt)


@HANDLERS("DEPTH_TO_SPACE", "SPACE_TO_DEPTH")
def _depth_to_space(g: _Graph, op: _Op) -> None:
    """NHWC, channels ordered (b, b, C): a reshape, a transpose and a reshape (``GraphBuilder.rearrange``)."""
    x = g.shape(op.ins[0])
    to_depth = op.opname == "SPACE_TO_DEPTH"
    cls = g.tflite.SpaceToDepthOptions if to_depth else g.tflite.DepthToSpaceOptions
    if len(x) != 4:
        op.opaque(g, f"{op.opname} (a rank-{len(x)} tensor)", [op.ins[0]])
        return
    block = op.options(g, cls).BlockSize()
    g.b.rearrange(op.raw, g.key(op.ins[0]), op.out_names, tuple(x[1:]), block, to_depth=to_depth,
                  channels_first=False, dtype=op.ydt)


@HANDLERS("GATHER")
def _gather(g: _Graph, op: _Op) -> None:
    """A lookup of integer indices (the graph's) in a constant table (vocab, dim) along its first axis: an embedding
    (a converted Keras Embedding). Any other gather stays opaque."""
    table, indices = op.ins[0], op.ins[1]
    opt = op.options(g, g.tflite.GatherOptions, False)
    shape = g.shape(table)
    if not g.constant(table) or g.constant(indices) or len(shape) != 2 or (opt is not None and opt.Axis() != 0) \
            or g.dtype(indices) not in ("int32", "int64"):
        op.opaque(g, "GATHER (not integer indices into a constant 2-D table)", g.live(op.ins)[:1])
        return
    op.add(g, "embedding", [indices], vocab=shape[0], dim=shape[1], weight_dtype=g.dtype(table), dtype=op.ydt)


@HANDLERS("MEAN")
def _mean(g: _Graph, op: _Op) -> None:
    x = g.shape(op.ins[0])
    axes = sorted(a % len(x) for a in g.int_values(op.ins[1]))
    if (len(x) != 4 or axes != [1, 2]) and axes and 0 not in axes:
        opt = op.options(g, g.tflite.ReducerOptions, False)
        op.add(g, "mean", [op.ins[0]], axes=[a - 1 for a in axes], keepdims=bool(opt and opt.KeepDims()),
               dtype=op.ydt)
        return
    if len(x) != 4 or axes != [1, 2]:
        op.opaque(g, f"{op.opname} (axes {axes})", [op.ins[0]])
        return
    b = g.b
    pooled = b.add(op.raw, "avg_pool2d", [g.key(op.ins[0])], op.out_names, **{"global": True}, dtype=op.ydt,
                   note=f"MEAN over H, W: {g.name(op.outs[0])}")
    if len(op.y) != 3:
        b.add(op.raw + "_squeeze", "reshape", [op.out_names[0]], op.out_names, expect=tuple(op.y), shape=op.y,
              dtype=op.ydt)
    else:
        b.expected[pooled] = tuple(op.y)


@HANDLERS("SOFTMAX")
def _softmax(g: _Graph, op: _Op) -> None:
    op.add(g, "softmax", [op.ins[0]], dtype=op.ydt)


@HANDLERS("QUANTIZE", "DEQUANTIZE")
def _converter(g: _Graph, op: _Op) -> None:
    op.add(g, op.opname.lower(), [op.ins[0]], dtype=op.ydt)


@HANDLERS(*ACTIVATION_OPS)
def _activation(g: _Graph, op: _Op) -> None:
    """Fused into the layer before where it can carry it (a derivative read off the output);
    otherwise an activation layer of its own, as TFLite runs it (its own output tensor)."""
    fn = ACTIVATION_OPS[op.opname]
    if fn not in INPUT_DERIVATIVE and g.b.fuse_activation(g.key(op.ins[0]), op.out_names, fn):
        return
    slopes = None
    if fn == "prelu":
        slopes = math.prod(g.shape(op.ins[1]) or [1])
        if slopes not in (1, op.y[-1]):
            op.opaque(g, f"{op.opname} (slopes neither shared nor one per channel)")
            return
    op.add(g, "activation", [op.ins[0]], function=fn, slopes=slopes, dtype=op.ydt,
           weight_dtype=g.dtype(op.ins[1]) if fn == "prelu" else None)


@HANDLERS("TRANSPOSE")
def _transpose(g: _Graph, op: _Op) -> None:
    perm = g.int_values(op.ins[1])
    if not perm or perm[0] != 0:
        op.opaque(g, f"{op.opname} (perm {perm})", [op.ins[0]])
        return
    op.add(g, "transpose", [op.ins[0]], perm=[a - 1 for a in perm[1:]], dtype=op.ydt)


#: UNIDIRECTIONAL_SEQUENCE_LSTM's optional inputs learncost's ``lstm`` has no formula for, by position
LSTM_VARIANTS = {"peephole connections": (9, 10, 11), "a projection": (16, 17), "layer normalization": (20, 21, 22, 23)}


@HANDLERS("UNIDIRECTIONAL_SEQUENCE_LSTM")
def _lstm(g: _Graph, op: _Op) -> None:
    """Inputs: x (batch, T, F), the input weights of gates i, f, c, o (1-4, units x F), their recurrent weights
    (5-8, units x units), peepholes (9-11), biases (12-15), a projection (16-17), the states (18-19), layer
    normalization (20-23). The plain cell is ``lstm``; a coupled input gate (no input-gate weights), peepholes,
    a projection, layer normalization or time-major input stay opaque, named."""
    present = op.ins
    opt = op.options(g, g.tflite.UnidirectionalSequenceLSTMOptions, False)
    variant = next((name for name, slots in LSTM_VARIANTS.items()
                    if any(k < len(present) and present[k] >= 0 for k in slots)), None)
    if len(present) < 16 or present[1] < 0:
        variant = "a coupled input and forget gate (CIFG)"
    elif opt is not None and opt.TimeMajor():
        variant = "time-major input"
    if variant:
        op.opaque(g, f"{op.opname} ({variant})", [op.ins[0]])
        return
    units = g.shape(op.ins[1])[0]
    biases = [present[k] for k in range(12, 16) if present[k] >= 0]
    op.add(g, "lstm", [op.ins[0]], units=units, use_bias=bool(biases), dtype=op.ydt, weight_dtype=g.dtype(op.ins[1]),
           bias_dtype=g.dtype(biases[0]) if biases else None, note=g.name(op.outs[0]))


@HANDLERS("SVDF")
def _svdf(g: _Graph, op: _Op) -> None:
    """Inputs: x (batch, F), the feature weights (units rank x F), the time weights (units rank x memory), the
    bias (units, optional), the state (batch, memory units rank)."""
    opt = op.options(g, g.tflite.SVDFOptions)
    rank = max(1, opt.Rank())
    filters, memory = g.shape(op.ins[2])
    bias = op.ins[3] if len(op.ins) > 3 and op.ins[3] >= 0 else None
    op.add(g, "svdf", [op.ins[0]], units=filters // rank, rank=rank, memory=memory, use_bias=bias is not None,
           activation=FUSED.get(opt.FusedActivationFunction()), dtype=op.ydt, weight_dtype=g.dtype(op.ins[1]),
           bias_dtype=g.dtype(bias) if bias is not None else None, note=g.name(op.outs[0]))


def _slice_layer(g: _Graph, op: _Op, x_t: int, begin, end, step, out: int, raw: str | None = None) -> None:
    """A slice of tensor ``x_t`` (its batch axis whole) as the IR's slice layer writing tensor ``out``."""
    x = g.shape(x_t)
    if begin[0] != 0 or min(end[0], x[0]) != x[0] or step[0] != 1:
        op.opaque(g, f"{op.opname} (across the batch)", [x_t])
        return
    g.b.add(raw or op.raw, "slice", [g.key(x_t)], [g.key(out)],
            expect=tuple(drop_batch(g.shape(out), g.origin, f"the output of operator {op.pos}")),
            begin=list(begin[1:]), end=list(end[1:]), step=list(step[1:]), dtype=op.ydt)


@HANDLERS("STRIDED_SLICE")
def _strided_slice(g: _Graph, op: _Op) -> None:
    x = g.shape(op.ins[0])
    opt = op.options(g, g.tflite.StridedSliceOptions, False)
    masks = [opt.BeginMask(), opt.EndMask(), opt.EllipsisMask(), opt.NewAxisMask()] if opt else [0, 0, 0, 0]
    shrink = opt.ShrinkAxisMask() if opt else 0
    begin, end, step = (g.int_values(i) for i in op.ins[1:4])
    if masks[2] or masks[3] or any(s < 1 for s in step) or len(begin) != len(x):
        op.opaque(g, f"{op.opname} (ellipsis, new axes or negative strides)", [op.ins[0]])
        return
    for i, d in enumerate(x):
        b = 0 if masks[0] >> i & 1 else begin[i] + d if begin[i] < 0 else begin[i]
        e = d if masks[1] >> i & 1 else end[i] + d if end[i] < 0 else end[i]
        if shrink >> i & 1:
            e = b + 1
        begin[i], end[i] = b, min(e, d)
    if shrink:  # the slice, then the shrunk axes dropped: a view
        if begin[0] != 0 or end[0] != x[0] or step[0] != 1:
            op.opaque(g, f"{op.opname} (across the batch)", [op.ins[0]])
            return
        key = f"slice of #{op.outs[0]}"
        g.b.add(op.raw, "slice", [g.key(op.ins[0])], [key], begin=begin[1:], end=end[1:], step=step[1:], dtype=op.ydt)
        g.b.add(op.raw + "_squeeze", "reshape", [key], op.out_names, expect=tuple(op.y), shape=op.y, dtype=op.ydt)
        return
    _slice_layer(g, op, op.ins[0], begin, end, step, op.outs[0])


@HANDLERS("SLICE")
def _plain_slice(g: _Graph, op: _Op) -> None:
    x = g.shape(op.ins[0])
    begin, size = g.int_values(op.ins[1]), g.int_values(op.ins[2])
    end = [d if n == -1 else b + n for b, n, d in zip(begin, size, x)]
    _slice_layer(g, op, op.ins[0], begin, end, [1] * len(x), op.outs[0])


@HANDLERS("SPLIT", "SPLIT_V")
def _split(g: _Graph, op: _Op) -> None:
    """One slice layer per output, each reading the whole input."""
    if op.opname == "SPLIT":
        axis_t, x_t = op.ins[0], op.ins[1]
    else:
        x_t, axis_t = op.ins[0], op.ins[2]
    x = g.shape(x_t)
    axis = g.int_values(axis_t)[0] % len(x)
    if axis == 0:
        op.opaque(g, f"{op.opname} (along the batch)", [x_t])
        return
    start = 0
    for k, out in enumerate(op.outs):
        size = g.shape(out)[axis]
        begin, end = [0] * len(x), list(x)
        begin[axis], end[axis] = start, start + size
        _slice_layer(g, op, x_t, begin, end, [1] * len(x), out, raw=f"{op.raw}_{k}")
        start += size


def _tflm_graph(model, ops_by_code):
    """The file's facts TFLite Micro's persistent tail depends on (``learncost.tflm``)."""
    import tflite

    from ..tflm import OPERATOR_KEYS, Graph, Operator

    T = tflite.TensorType
    subgraphs, operators, variables, unknown = [], [], [], []
    sizes = {T.FLOAT32: 4, T.INT32: 4, T.UINT32: 4, T.INT16: 2, T.UINT16: 2, T.FLOAT16: 2, T.INT8: 1, T.UINT8: 1,
             T.BOOL: 1, T.INT64: 8, T.UINT64: 8, T.FLOAT64: 8}

    def channels(t) -> int:
        q = t.Quantization()
        return q.ScaleLength() if q is not None and q.ScaleLength() and q.ZeroPointLength() else 0

    for k in range(model.SubgraphsLength()):
        g = model.Subgraphs(k)
        subgraphs.append((g.TensorsLength(), g.OperatorsLength()))
        for i in range(g.TensorsLength()):
            t = g.Tensors(i)
            if t.IsVariable():
                n = 1
                for d in (t.ShapeAsNumpy() if t.ShapeLength() else []):
                    n *= int(d)
                variables.append(n * sizes.get(t.Type(), 1))
        for i in range(g.OperatorsLength()):
            op = g.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            name = ops_by_code.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            key = OPERATOR_KEYS.get(name)
            if key is None:
                unknown.append(name)
                continue
            ins = [int(j) for j in op.InputsAsNumpy()] if op.InputsLength() else []
            weights = g.Tensors(ins[1]) if len(ins) > 1 and ins[1] >= 0 else None
            shape = [int(d) for d in weights.ShapeAsNumpy()] if weights is not None and weights.ShapeLength() else []
            kind = {"channels": shape[0] if key == "CONV_2D" and shape else shape[3] if key == "DEPTHWISE_CONV_2D"
                    and len(shape) == 4 else 0}
            if key == "FULLY_CONNECTED" and weights is not None and g.Tensors(ins[0]).Type() in (T.INT8, T.INT16):
                q = weights.Quantization()
                scales = q.ScaleLength() if q is not None else 0
                kind["fc_channels"] = scales if scales > 1 else 0
            if key == "SOFTMAX" and ins:
                kind["int16_softmax"] = g.Tensors(ins[0]).Type() == T.INT16
            if weights is not None and key in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                kind["int4_weights"] = weights.Type() == getattr(T, "INT4", -1)
            operators.append(Operator(key, **kind))
    g = model.Subgraphs(0)
    ios = [tuple(channels(g.Tensors(int(j))) for j in (vec() if n else [])) for vec, n in
           ((g.InputsAsNumpy, g.InputsLength()), (g.OutputsAsNumpy, g.OutputsLength()))]
    return Graph(tuple(subgraphs), tuple(operators), tuple(variables), ios[0], ios[1], tuple(unknown))
