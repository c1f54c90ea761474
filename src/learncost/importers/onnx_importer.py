"""ONNX graphs, read with the ``onnx`` package and its shape inference. NCHW tensors become the
IR's (H, W, C); a symbolic input dimension needs ``--input-shape``.

Each operator type is one entry of ``HANDLERS``. Constants in any form are weights, never layers:
initializers, ``Constant`` and ``ConstantOfShape`` nodes, and every node whose inputs are all
constants (an ``Identity``, ``Transpose`` or ``Cast`` of a weight); their values are computed, with
onnx's reference evaluator, only where a handler reads them (pads, axes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..layers import INPUT_DERIVATIVE
from .common import (GraphBuilder, ImportFailure, Table, ir_axis, ir_permutation, read_bytes, to_hwc,
                     transposed_crop, whole_scale)

ELEM = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 10: "float16"}
ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "LeakyRelu": "leaky_relu",
               "HardSwish": "hard_swish", "HardSigmoid": "hard_sigmoid", "Elu": "elu", "Gelu": "gelu", "PRelu": "prelu"}
SKIPPED = {"BatchNormalization": "batch normalization", "Dropout": "dropout", "Identity": "identity"}
#: a constant whose values a handler needs is computed only up to this many elements
MAX_EVALUATED = 1 << 16

HANDLERS = Table()
#: operators computing each position of a channels-last feature map (N, H, W, C) from the same position of their
#: inputs: the layout kept (``_Graph.last``)
CHANNELS_LAST_WISE = frozenset({"Add", "Sub", "Mul", "Div", "Gelu", "Relu", "Sigmoid", "Tanh", "Erf", "HardSwish",
                                "Dropout", "Identity", "LayerNormalization", "MatMul"})
#: operators whose translation reads no axis, or reads a time-major sequence as such (the recurrent cells): they
#: take a tensor whose first axis is not the batch as it is
LAYOUT_FREE = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Relu", "Sigmoid", "Tanh",
                         "Gelu", "Erf", "HardSwish", "HardSigmoid", "LeakyRelu", "Elu", "LSTM", "GRU"})


def load(path: Path, *, allow_unsupported: bool = False, classes: int | None = None,
         input_shape: list[int] | None = None):
    data = read_bytes(path)
    try:
        import onnx
        from onnx import shape_inference
    except ImportError:
        raise ImportFailure(f"{path.name}: reading ONNX needs the onnx package",
                            hint="pip install 'learncost[onnx]'", code="LC-DEPENDENCY") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:
        raise ImportFailure(f"{path.name}: not a readable ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise ImportFailure(f"{path.name}: the ONNX graph has no nodes")
    try:
        if input_shape:
            _set_input_shape(model, input_shape, path.name)
        model = shape_inference.infer_shapes(model)
        return _load(path, model, allow_unsupported, classes)
    except ImportFailure:
        raise
    except Exception as exc:
        raise ImportFailure(f"{path.name}: malformed ONNX graph ({type(exc).__name__}: {exc})") from None


def _set_input_shape(model, shape: list[int], origin: str) -> None:
    init = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ImportFailure(f"{origin}: --input-shape has {len(shape)} dimensions, the graph input has {len(dims)}",
                            code="LC-IMPORT-SHAPE")
    for d, v in zip(dims, shape):
        d.ClearField("dim_param")
        d.dim_value = v


@dataclass
class _Const:
    """A constant tensor: its dimensions and element type (None where shape inference gives none),
    the TensorProto where the file stores it, or the node computing it from other constants."""

    dims: list[int] | None
    data_type: int
    proto: object = None
    node: object = None


class _Graph:
    def __init__(self, origin: str, model):
        self.origin = origin
        self.model = model
        g = model.graph
        self.shapes: dict[str, list] = {}
        self.types: dict[str, int] = {}
        for vi in [*g.input, *g.value_info, *g.output]:
            tt = vi.type.tensor_type
            self.shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                                    for d in tt.shape.dim]
            self.types[vi.name] = tt.elem_type
        self.consts: dict[str, _Const] = {t.name: _Const(list(t.dims), t.data_type, proto=t) for t in g.initializer}
        self._values: dict[str, object] = {}
        self.b: GraphBuilder | None = None
        #: tensors a recurrent cell reads or writes: True where their layer holds the (T, F) sequence itself
        #: (a cell's output and its layout views), False for a batch-first input seen time-major (``_sequence_layout``)
        self.sequences: dict[str, bool] = {}
        #: the graph's inputs, once read: a batch of one makes a rank-1 tensor after them that batch's one sample
        self.inputs: set[str] = set()
        self.batch_of_one = False
        #: rank-4 tensors laid out (N, H, W, C), a Transpose [0, 2, 3, 1] of a feature map read as such (ConvNeXt's):
        #: the IR's (H, W, C), as every feature map
        self.last: set[str] = set()
        self.readers: dict[str, list] = {}
        for node in g.node:
            for i in node.input:
                self.readers.setdefault(i, []).append(node)

    def fold(self, node) -> bool:
        """A node computing only from constants (or from nothing) produces constants: weights. So
        does ``Shape`` of a tensor whose shape is static (exporters compute reshapes from it)."""
        if node.op_type == "Shape" and len(node.input) == 1 and node.input[0] not in self.consts:
            raw = self.shapes.get(node.input[0])
            if raw is None or not all(isinstance(d, int) and d > 0 for d in raw) or node.attribute:
                return False
            import numpy as np

            self.consts[node.output[0]] = _Const([len(raw)], 7)
            self._values[node.output[0]] = np.array(raw, dtype=np.int64)
            return True
        if not all(not i or i in self.consts for i in node.input):
            return False
        for k, out in enumerate(node.output):
            if not out:
                continue
            proto = None
            if node.op_type == "Constant" and k == 0:
                proto = next((a.t for a in node.attribute if a.name == "value"), None)
            if proto is not None:
                self.consts[out] = _Const(list(proto.dims), proto.data_type, proto=proto)
            else:
                raw = self.shapes.get(out)
                dims = [int(d) for d in raw] if raw is not None and all(isinstance(d, int) and d >= 0 for d in raw) \
                    else None
                self.consts[out] = _Const(dims, self.types.get(out, 1), node=node)
        return True

    def value(self, name: str):
        """A constant's values as a numpy array (None when unknown or too large to compute)."""
        if name in self._values:
            return self._values[name]
        c = self.consts.get(name)
        result = None
        if c is not None and c.proto is not None:
            from onnx import numpy_helper

            result = numpy_helper.to_array(c.proto)
        elif c is not None and c.node is not None and (c.dims is None or math.prod(c.dims) <= MAX_EVALUATED):
            result = self._evaluate(c.node, name)
        self._values[name] = result
        return result

    def _evaluate(self, node, name: str):
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        feeds = {}
        for i in node.input:
            if i:
                v = self.value(i)
                if v is None:
                    return None
                feeds[i] = v
        inputs = [helper.make_tensor_value_info(i, self.consts[i].data_type, None) for i in feeds]
        outputs = [helper.make_tensor_value_info(o, 0, None) for o in node.output if o]
        graph = helper.make_graph([node], "constant", inputs, outputs)
        opsets = list(self.model.opset_import)
        try:
            results = ReferenceEvaluator(helper.make_model(graph, opset_imports=opsets)).run(None, feeds)
        except Exception:  # an operator the evaluator lacks: the value stays unknown, the handler decides
            return None
        for o, r in zip([o for o in node.output if o], results):
            if o != name:
                self._values.setdefault(o, r)
        return dict(zip([o for o in node.output if o], results)).get(name)

    def ints(self, name: str) -> list[int] | None:
        v = self.value(name) if name in self.consts else None
        return None if v is None else [int(x) for x in v.reshape(-1)]

    def batchless(self, name: str) -> bool:
        """After an input with a batch of one, a tensor whose first axis is not 1: the batch folded into it (Swin's
        windows) or away (a classifier's flattened features). Every axis is the sample's."""
        raw = self.shapes.get(name)
        return bool(self.batch_of_one and name not in self.inputs and raw and raw[0] != 1)

    def folded(self, name: str) -> bool:
        """A batchless tensor of rank 2 or more: its axes, which the handlers reading axes batch-first do not
        expect. (A vector, the batch folded away, is read whole as it is.)"""
        return self.batchless(name) and len(self.shapes[name]) >= 2

    def shape_of(self, name: str, what: str) -> list[int]:
        raw = self.shapes.get(name)
        if raw is None:
            raise ImportFailure(f"{self.origin}: no shape known for {what} {name!r}", hint="give --input-shape",
                                code="LC-IMPORT-SHAPE")
        if self.batchless(name) and all(isinstance(d, int) and d > 0 for d in raw):
            return to_hwc([int(d) for d in raw])  # every axis is the sample's
        if name in self.last and len(raw) == 4 and all(isinstance(d, int) and d > 0 for d in raw[1:]):
            return [int(d) for d in raw[1:]]
        if len(raw) < 2:  # the first axis is read as the batch: a rank-1 input has nothing after it
            raise ImportFailure(f"{self.origin}: {what} {name!r} has shape {list(raw)} without a batch axis; learncost "
                                "reads the first axis of an ONNX tensor as the batch",
                                hint="re-export the model with a batch axis (e.g. torch.onnx.export with an input of "
                                     "shape [1, ...])", code="LC-IMPORT-UNSUPPORTED")
        if any(isinstance(d, str) for d in raw[1:]) or any(d <= 0 for d in raw[1:]):
            raise ImportFailure(f"{self.origin}: {what} {name!r} has symbolic dimensions {raw}",
                                hint="give the input shape with --input-shape, e.g. --input-shape 1,3,96,96",
                                code="LC-IMPORT-SHAPE")
        return to_hwc([int(d) for d in raw[1:]])

    def dtype_of(self, name: str) -> str:
        t = self.consts[name].data_type if name in self.consts else self.types.get(name, 1)
        if t not in ELEM:
            raise ImportFailure(f"{self.origin}: tensor {name!r} has ONNX element type {t}, which learncost does "
                                "not size", code="LC-IMPORT-UNSUPPORTED")
        return ELEM[t]

    def weight_dims(self, name: str) -> list[int] | None:
        c = self.consts.get(name)
        return None if c is None else c.dims


@dataclass
class _Node:
    pos: int
    op: str
    node: object
    a: dict
    live: list[str]
    raw: str
    g: _Graph

    @property
    def outs(self) -> list[str]:
        return list(self.node.output[:1])

    @property
    def y(self) -> list[int]:
        return self.g.shape_of(self.outs[0], f"output of {self.op}")

    @property
    def ydt(self) -> str:
        return self.g.dtype_of(self.outs[0])

    @property
    def stated(self) -> tuple[int, ...] | None:
        """The output shape the graph states, None where shape inference gives none (after an unknown
        operator): the layer's own shape rule then stands alone."""
        if self.outs[0] not in self.g.shapes:
            return None
        return tuple(self.y)

    def add(self, kind: str, inputs: list[str], **params) -> str:
        return self.g.b.add(self.raw, kind, inputs, self.outs, expect=self.stated, dtype=self.ydt, **params)

    def opaque(self, what: str | None = None, inputs: list[str] | None = None) -> None:
        """Carried at zero cost with the shape the graph states (its input's where it states none);
        every output of the node is the opaque layer's."""
        try:
            shape = tuple(self.y)
        except ImportFailure:
            shape = ()
        self.g.b.opaque(what or self.op, self.pos, self.raw, self.live[:1] if inputs is None else inputs,
                        [o for o in self.node.output if o], shape)


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load(path: Path, model, allow_unsupported: bool, classes: int | None):
    origin = path.name
    g = _Graph(origin, model)
    init = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    if not inputs:
        raise ImportFailure(f"{origin}: the graph has no input", code="LC-IMPORT-UNSUPPORTED")
    x = inputs[0].name
    g.inputs = {i.name for i in inputs}
    g.b = GraphBuilder(origin, g.shape_of(x, "input"), g.dtype_of(x))
    g.batch_of_one = g.shapes[x][0] == 1
    g.b.alias[x] = "input"
    for k, other in enumerate(inputs[1:], 2):
        g.b.add_input(other.name, g.shape_of(other.name, f"input {k}"), g.dtype_of(other.name))
    last_softmax = False
    for pos, node in enumerate(model.graph.node):
        if g.fold(node):
            continue
        op = node.op_type
        live = [i for i in node.input if i and i not in g.consts]
        n = _Node(pos, op, node, _attrs(node), live, node.name or f"{op.lower()}_{pos}", g)
        last_softmax = op == "Softmax"
        if _sequence_layout(n):  # a recurrent cell's layout nodes, translated by the cell: no layer
            continue
        if op not in LAYOUT_FREE and any(g.folded(t) for t in [*live, *n.outs]):
            n.opaque(f"{op} (on a tensor whose batch is folded into its first axis)", live)
            continue
        if op == "Reshape" and len(g.shapes.get(n.outs[0], [])) == 4 and _read_channels_last(g, n.outs[0]):
            g.last.add(n.outs[0])  # a reshape has no layout of its own: its readers' (Swin's windows merged back)
        if any(t in g.last for t in live) and op != "Transpose":
            # what reads a channels-last map keeps that layout: a position-wise operator, and (as far as learncost
            # can tell) an operator it carries unsupported (Swin's padding of its windows)
            g.last.update(o for o in node.output if len(g.shapes.get(o, [])) == 4)
            if op not in CHANNELS_LAST_WISE:
                n.opaque(f"{op} (on a channels-last feature map)", live)
                continue
        HANDLERS.get(op, _unsupported)(n)
    g.b.several_outputs([o.name for o in model.graph.output])
    return g.b.build(name=path.stem, allow_unsupported=allow_unsupported, classes=classes,
                     softmax_output=last_softmax)


def _unsupported(n: _Node) -> None:
    n.opaque()


@HANDLERS(*SKIPPED)
def _skipped(n: _Node) -> None:
    n.g.b.skip(n.live[0], list(n.node.output), SKIPPED[n.op])


def _is_same_upper(a: dict) -> bool:
    return a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER")


@HANDLERS("Conv")
def _conv(n: _Node) -> None:
    g, a, node = n.g, n.a, n.node
    w = g.weight_dims(node.input[1])
    if w is None or len(w) not in (3, 4):
        n.opaque(f"Conv ({'3-D' if w else 'non-constant weights'})", n.live)
        return
    c_in = g.shape_of(n.live[0], "input of Conv")[-1]
    dil = a.get("dilations", [1] * len(w[2:]))
    dil = dil if len(dil) == 2 else [1, dil[0]]
    group = a.get("group", 1)
    k = w[2:] if len(w) == 4 else [1, w[2]]
    s = a.get("strides", [1, 1])
    s = s if len(s) == 2 else [1, s[0]]
    pads = a.get("pads", [0] * (2 * len(w[2:])))
    pad = [pads[0], pads[2], pads[1], pads[3]] if len(pads) == 4 else [0, 0, pads[0], pads[1]]
    if _is_same_upper(a):
        pad = "same"
    bias = len(node.input) > 2 and bool(node.input[2])
    common = dict(kernel=k, stride=s, padding=pad, use_bias=bias, weight_dtype=g.dtype_of(node.input[1]),
                  bias_dtype=g.dtype_of(node.input[2]) if bias else None, dilation=None if dil == [1, 1] else dil)
    if group == c_in and group > 1 and w[1] == 1:
        n.add("depthwise_conv2d", n.live[:1], depth_multiplier=w[0] // c_in, **common)
    else:
        n.add("conv2d", n.live[:1], filters=w[0], groups=group if group > 1 else None, **common)


@HANDLERS("ConvTranspose")
def _conv_transpose(n: _Node) -> None:
    """Weights (C_in, C_out, kh, kw); the crop of the full output follows from the output shape onnx infers (pads,
    output_padding, output_shape or auto_pad): its start is the pads' where stated, half of it otherwise."""
    g, a, node = n.g, n.a, n.node
    w = g.weight_dims(node.input[1])
    if w is None or len(w) != 4 or a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
        n.opaque("ConvTranspose (grouped, dilated, 1-D or 3-D)" if w else "ConvTranspose (non-constant weights)",
                 n.live)
        return
    src = g.shape_of(n.live[0], "input of ConvTranspose")
    stride = list(a.get("strides", [1, 1]))
    pads = a.get("pads")
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    begin = [pads[0], pads[1]] if pads and auto == "NOTSET" else None
    crop = transposed_crop(src, n.y, w[2:], stride, begin)
    if crop is None or auto == "SAME_LOWER":
        n.opaque("ConvTranspose (an output padding past the full output)" if crop is None else
                 "ConvTranspose (SAME_LOWER)", n.live)
        return
    bias = len(node.input) > 2 and bool(node.input[2])
    n.add("conv2d_transpose", n.live[:1], filters=w[1], kernel=w[2:], stride=stride, padding=crop, use_bias=bias,
          weight_dtype=g.dtype_of(node.input[1]), bias_dtype=g.dtype_of(node.input[2]) if bias else None)


@HANDLERS("Gemm", "MatMul")
def _gemm(n: _Node) -> None:
    g, a, node = n.g, n.a, n.node
    w = g.weight_dims(node.input[1]) if len(node.input) >= 2 else None
    if n.op == "MatMul" and len(n.live) == 2:
        # two activations (attention). The IR reads a 3-D tensor (N, n, k) as (1, k, n), its transpose: the
        # product A B is then the IR's B A ((A B)^T = B^T A^T). A 4-D one is read as an image, its axes
        # rotated: a spec states that product (kind matmul)
        if all(len(g.shapes.get(x, [])) == 3 for x in n.live):
            n.add("matmul", [n.live[1], n.live[0]])
        else:
            n.opaque("MatMul of two 4-D activations (write it in a spec: kind matmul)", n.live)
        return
    if w is None or a.get("transA", 0):
        n.opaque(f"{n.op} (non-constant weights)", n.live)
        return
    x = g.shapes.get(n.live[0], []) if n.live else []
    if n.op == "MatMul" and n.live[0] in g.last and not a.get("transB", 0):  # each position of (N, H, W, C)
        n.add("conv2d", n.live[:1], filters=w[-1], kernel=1, use_bias=False, weight_dtype=g.dtype_of(node.input[1]))
        return
    if len(x) > 2 and math.prod(d if isinstance(d, int) else 2 for d in x[1:-1]) > 1:
        # the same weights at every position of a sequence or feature map: not the IR's dense, which reads its
        # input whole (nor a 1x1 convolution: the IR puts a sequence's features on another axis)
        n.opaque(f"{n.op} by constant weights at each position of a rank-{len(x)} tensor", n.live)
        return
    units = w[0] if a.get("transB", 0) else w[-1]
    bias = n.op == "Gemm" and len(node.input) > 2 and bool(node.input[2])
    n.add("dense", n.live[:1], units=units, use_bias=bias, weight_dtype=g.dtype_of(node.input[1]),
          bias_dtype=g.dtype_of(node.input[2]) if bias else None)


@HANDLERS("LayerNormalization")
def _layer_norm(n: _Node) -> None:
    """Over the last axis of a channels-last feature map (ConvNeXt's) or of a vector: the IR's layer normalization,
    its scale and bias (inputs 1 and 2) as its gamma and beta. Over other axes, or a scale without a bias:
    unsupported, named."""
    g, node = n.g, n.node
    rank = len(g.shapes.get(n.live[0], [])) if n.live else 0
    axis = n.a.get("axis", -1) % rank if rank else None
    scale = len(node.input) > 1 and bool(node.input[1])
    bias = len(node.input) > 2 and bool(node.input[2])
    if axis != rank - 1 or not (rank == 2 or n.live[0] in g.last) or scale != bias:
        n.opaque(f"LayerNormalization (axis {n.a.get('axis', -1)} of a rank-{rank} tensor)", n.live)
        return
    n.add("layer_norm", n.live[:1], affine=scale)


def _read_channels_last(g: _Graph, tensor: str) -> bool:
    """Whether a (N, H, W, C) tensor is read as a channels-last feature map: following its readers through
    position-wise operators, a layer normalization or a product by constant weights reads it before any other
    operator does."""
    seen, frontier = set(), [tensor]
    while frontier:
        t = frontier.pop(0)
        for node in g.readers.get(t, []):
            if node.output[0] in seen:
                continue
            seen.add(node.output[0])
            if node.op_type == "LayerNormalization" or node.op_type == "MatMul" and node.input[1] in g.consts:
                return True
            if node.op_type not in CHANNELS_LAST_WISE:
                return False
            frontier.extend(o for o in node.output if o)
    return False


@HANDLERS("AveragePool", "MaxPool")
def _pool(n: _Node) -> None:
    a = n.a
    k = a["kernel_shape"]
    pads = a.get("pads", [0] * 2 * len(k))
    stride = a.get("strides", k)
    if len(k) == 1:
        k, stride, pads = [1, k[0]], [1, stride[0]], [0, pads[0], 0, pads[1]]
    if len(k) != 2 or any(d != 1 for d in a.get("dilations", [1])):
        n.opaque(f"{n.op} ({len(k)}-D or dilated)", n.live)
        return
    n.add("avg_pool2d" if n.op == "AveragePool" else "max_pool2d", n.live[:1], kernel=k, stride=stride,
          padding=[pads[0], pads[2], pads[1], pads[3]], ceil_mode=bool(a.get("ceil_mode", 0)))


@HANDLERS("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(n: _Node) -> None:
    n.add("avg_pool2d" if "Average" in n.op else "max_pool2d", n.live[:1], **{"global": True})


@HANDLERS("ReduceMean")
def _reduce_mean(n: _Node) -> None:
    node = n.node
    axes = n.a.get("axes") or (n.g.ints(node.input[1]) if len(node.input) > 1 and node.input[1] in n.g.consts
                               else None)
    rank = len(n.g.shapes.get(n.live[0], []))
    if axes is not None and sorted(v % 4 for v in axes) != [2, 3] and rank in (2, 4) and 0 not in [v % rank for v in axes]:
        n.add("mean", n.live[:1], axes=[ir_axis(v, rank) for v in axes], keepdims=bool(n.a.get("keepdims", 1)))
        return
    if axes is None or sorted(v % 4 for v in axes) != [2, 3]:
        n.opaque(f"ReduceMean (axes {axes})", n.live)
        return
    y = n.y
    n.g.b.add(n.raw, "avg_pool2d", n.live[:1], n.outs, **{"global": True}, dtype=n.ydt)
    if len(y) != 3:
        n.g.b.add(n.raw + "_squeeze", "reshape", n.outs, n.outs, expect=tuple(y), shape=y, dtype=n.ydt)


@HANDLERS("Pad")
def _pad(n: _Node) -> None:
    node = n.node
    p = n.a.get("pads") or (n.g.ints(node.input[1]) if len(node.input) > 1 and node.input[1] in n.g.consts
                            else None)
    if p is None or len(p) != 8 or p[0] or p[4] or n.a.get("mode", b"constant") not in (b"constant", "constant"):
        n.opaque("Pad (not a zero padding of a feature map)", n.live)
        return
    if p[1] or p[5]:  # channels: pads [[before, after] per IR axis (H, W, C)]
        n.add("pad", n.live[:1], pads=[[p[2], p[6]], [p[3], p[7]], [p[1], p[5]]])
        return
    n.add("pad", n.live[:1], padding=[p[2], p[6], p[3], p[7]])


def _laid_out_apart(n: _Node) -> bool:
    """Operands whose IR shapes do not broadcast to the output's (a channels-last map beside one the IR reads
    channels-first, windows beside a map): the operation is unsupported, named, rather than refused. Where the graph
    states no shape (after an unknown operator), the IR's own rule stands."""
    import numpy as np

    if any(t not in n.g.shapes for t in [*n.live, n.outs[0]]):
        return False
    try:
        joint = tuple(np.broadcast_shapes(*(tuple(n.g.shape_of(t, "operand")) for t in n.live)))
        stated = tuple(n.y)
    except (ImportFailure, ValueError):
        return True
    return joint != stated


def _of_activations(n: _Node, kind: str) -> None:
    """An element-wise operation of two or more activations, unsupported where the IR lays them out apart."""
    if _laid_out_apart(n):
        n.opaque(f"{n.op} (of tensors whose axes the IR lays out apart)", n.live)
    else:
        n.add(kind, n.live)


@HANDLERS("Add", "Sum")
def _add(n: _Node) -> None:
    if len(n.live) >= 2:
        _of_activations(n, "add")
    elif not _fold_bias(n.g, n.live[0], n.outs, n.node.input) and not _fold_affine(n) and not _channel_affine(n):
        n.opaque("Add (with a constant)", n.live)


@HANDLERS("Mul", "Sub")
def _elementwise(n: _Node) -> None:
    """Products and differences of activations (squeeze-excitation's scale, x * sigmoid(x)); with a
    constant, a scale or shift folded as batch normalization is."""
    if len(n.live) >= 2:
        _of_activations(n, n.op.lower())
    elif not _fold_affine(n) and not _channel_affine(n):
        n.opaque(f"{n.op} (with a constant)", n.live)


@HANDLERS("Div")
def _div(n: _Node) -> None:
    if not (len(n.live) == 1 and n.node.input[0] == n.live[0] and (_fold_affine(n) or _channel_affine(n))):
        n.opaque()


def _fold_affine(n: _Node) -> bool:
    """x * c, x + c, x - c, x / c with a scalar or per-channel constant c right after a convolution or a
    dense layer: batch normalization decomposed by an exporter, folded into that layer's weights and
    bias as the paper folds batch normalization (reported, not counted)."""
    g = n.g
    layer = g.b.producer(n.live[0])
    const = next((name for name in n.node.input if name in g.consts), None)
    if layer is None or layer["kind"] not in ("conv2d", "depthwise_conv2d", "dense") or const is None:
        return False
    if layer.get("activation") not in (None, "linear"):
        return False
    dims = g.consts[const].dims
    y = n.y
    if dims is None or math.prod(dims) not in (1, y[-1]):
        return False
    g.b.skip(n.live[0], list(n.node.output), "constant scale or shift after a linear layer (batch normalization)")
    return True


def _channel_affine(n: _Node) -> bool:
    """A per-channel scale no linear layer before it absorbs (DenseNet's batch normalization after a concatenation,
    exported as BatchNormalization then Mul and Add by its scale and shift) is a ``batch_norm`` layer, its scale as
    weights; an Add or Sub of a per-channel constant right after one without a shift becomes its shift. The
    constant must hold one value per channel on the channel axis."""
    g = n.g
    const = next((name for name in n.node.input if name in g.consts), None)
    dims = g.consts[const].dims if const is not None else None
    y = n.y
    rank = len(g.shapes.get(n.live[0], []))
    if dims is None or rank not in (2, 4) or y[-1] < 2 or math.prod(dims) != y[-1] or \
            [d for d in dims[-3 if rank == 4 else -1:] if d != 1] != [y[-1]] or \
            (rank == 4 and (len(dims) < 3 or dims[-3] != y[-1])):
        return False
    if n.op in ("Mul", "Div"):
        n.add("batch_norm", n.live[:1], shift=False, weight_dtype=g.dtype_of(const))
        return True
    layer = g.b.producer(n.live[0])
    if layer is None or layer["kind"] != "batch_norm" or layer.get("shift", True) or layer.get("activation"):
        return False
    layer["shift"] = True
    layer["bias_dtype"] = g.dtype_of(const)
    for t in n.outs:
        g.b.alias[t] = layer["name"]
    return True


@HANDLERS("Concat")
def _concat(n: _Node) -> None:
    y = n.y
    if n.a.get("axis") in (1, -3 if len(y) == 3 else 1):
        n.add("concat", n.live)
        return
    rank = len(n.g.shapes.get(n.live[0], []))
    axis = n.a.get("axis", 0) % max(rank, 1)
    if rank in (2, 4) and axis:
        n.add("concat", n.live, axis=ir_axis(axis, rank))
        return
    n.opaque(f"Concat (axis {n.a.get('axis')})", n.live)


#: ONNX Resize's coordinate_transformation_mode as the IR's bilinear ``coordinates`` (Upsample's linear mode is
#: asymmetric); tf_crop_and_resize and half_pixel_symmetric stay opaque
LINEAR_COORDINATES = {b"half_pixel": "half_pixel", b"pytorch_half_pixel": "half_pixel",
                      b"align_corners": "align_corners", b"asymmetric": "asymmetric"}


@HANDLERS("Resize", "Upsample")
def _resize(n: _Node) -> None:
    """Nearest by whole factors; any coordinate mapping but align_corners and tf_crop_and_resize selects
    block copies at whole factors (half_pixel with rounding included). Linear (bilinear on H and W, N and C
    kept) to any size."""
    mode = n.a.get("mode", b"nearest")
    mapping = n.a.get("coordinate_transformation_mode", b"half_pixel" if n.op == "Resize" else b"asymmetric")
    if mode in (b"linear", b"bilinear") and n.live:
        _resize_linear(n, mapping)
        return
    scale = whole_scale(n.g.shape_of(n.live[0], f"input of {n.op}"), n.y) if n.live else None
    if mode != b"nearest" or mapping in (b"align_corners", b"tf_crop_and_resize") or scale is None:
        n.opaque(f"{n.op} ({mode.decode()}, {mapping.decode()})" if scale else f"{n.op} (not a whole factor)")
        return
    n.add("resize", n.live[:1], scale=scale)


def _resize_linear(n: _Node, mapping: bytes) -> None:
    src, y = n.g.shape_of(n.live[0], f"input of {n.op}"), n.y
    if len(src) != 3 or len(y) != 3 or src[2] != y[2] or mapping not in LINEAR_COORDINATES:
        n.opaque(f"{n.op} (linear, {mapping.decode()}{'' if len(y) == 3 and src[2] == y[2] else ', beyond H and W'})")
        return
    n.add("resize", n.live[:1], method="bilinear", size=y[:2], coordinates=LINEAR_COORDINATES[mapping])


@HANDLERS("Gather")
def _gather(n: _Node) -> None:
    """A lookup of integer indices (the graph's input) in a constant table (vocab, dim), on its first axis: an
    embedding. Any other gather stays opaque."""
    table = n.g.weight_dims(n.node.input[0])
    if table is None or len(table) != 2 or n.a.get("axis", 0) != 0 or len(n.live) != 1 or \
            n.node.input[1] != n.live[0] or n.g.dtype_of(n.live[0]) not in ("int32", "int64"):
        n.opaque("Gather (not integer indices into a constant 2-D table)", n.live)
        return
    n.add("embedding", n.live[:1], vocab=table[0], dim=table[1], weight_dtype=n.g.dtype_of(n.node.input[0]))


@HANDLERS("LRN")
def _lrn(n: _Node) -> None:
    """Across the channels of a feature map: ONNX's alpha is the IR's (divided by the window)."""
    a = n.a
    if len(n.g.shapes.get(n.live[0], [])) != 4:
        n.opaque("LRN (not on a 4-D feature map)", n.live)
        return
    n.add("lrn", n.live[:1], size=a["size"], alpha=a.get("alpha", 1e-4), beta=a.get("beta", 0.75), k=a.get("bias", 1.0))


@HANDLERS("Transpose")
def _transpose(n: _Node) -> None:
    """A permutation keeping the batch first, of a 3-D to 5-D tensor (a 5-D one is a feature map whose
    channels are split in two axes: ShuffleNet's channel shuffle, ``to_hwc``), as the IR's: output axis j
    is input axis perm[j], so output IR axis ir(j) is input IR axis ir(perm[j])."""
    g = n.g
    rank = len(g.shapes.get(n.live[0], []))
    perm = list(n.a.get("perm") or reversed(range(rank)))
    last = n.live[0] in g.last
    if rank == 4 and (perm == [0, 2, 3, 1] and not last and _read_channels_last(g, n.outs[0])
                      or perm == [0, 3, 1, 2] and last):  # between (N, C, H, W) and (N, H, W, C): a view
        if not last:
            g.last.add(n.outs[0])
        g.b.alias[n.outs[0]] = g.b.source(n.live[0])
        return
    if last:
        g.last.update(o for o in n.node.output if len(g.shapes.get(o, [])) == 4)
        n.opaque(f"Transpose (perm {perm}) of a channels-last feature map", n.live)
        return
    ir_perm = ir_permutation(perm, rank) if rank in (3, 4, 5) else None
    if ir_perm is None:
        n.opaque(f"Transpose (perm {perm})", n.live)
        return
    n.add("transpose", n.live[:1], perm=ir_perm)


@HANDLERS("DepthToSpace", "SpaceToDepth")
def _depth_to_space(n: _Node) -> None:
    """On an NCHW feature map; DepthToSpace's ``mode`` DCR (the default, TFLite's order) or CRD (PyTorch's pixel
    shuffle); SpaceToDepth has DCR's order (``GraphBuilder.rearrange``)."""
    shape = n.g.shapes.get(n.live[0], [])
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape):
        n.opaque(f"{n.op} (a rank-{len(shape)} tensor)", n.live)
        return
    mode = n.a.get("mode", "DCR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    n.g.b.rearrange(n.raw, n.live[0], n.outs, tuple(n.g.shape_of(n.live[0], f"input of {n.op}")), n.a["blocksize"],
                    to_depth=n.op == "SpaceToDepth", channels_first=mode == "CRD", dtype=n.ydt)


@HANDLERS("Slice")
def _slice(n: _Node) -> None:
    g, node = n.g, n.node
    shape = g.shapes.get(n.live[0], [])
    rank = len(shape)
    args = [g.ints(node.input[k]) if len(node.input) > k and node.input[k] else None for k in range(1, 5)]
    starts, ends, axes, steps = args
    if starts is None or ends is None or rank not in (2, 4) or not all(isinstance(d, int) for d in shape):
        n.opaque("Slice (non-constant bounds)", n.live)
        return
    axes = axes or list(range(len(starts)))
    steps = steps or [1] * len(starts)
    begin, end, step = [0] * (rank - 1), [int(d) for d in shape[1:]], [1] * (rank - 1)
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax %= rank
        d = shape[ax]
        st = max(0, st + d if st < 0 else st)
        en = min(d, en + d if en < 0 else en)
        if ax == 0 or sp < 1:
            n.opaque(f"Slice (axis {ax}, step {sp})", n.live)
            return
        k = ax - 1
        begin[k], end[k], step[k] = st, en, sp
    order = [ir_axis(j, rank) for j in range(1, rank)]  # NCHW position -> IR axis
    ib, ie, istep = [0] * (rank - 1), [0] * (rank - 1), [0] * (rank - 1)
    for k, a in enumerate(order):
        ib[a], ie[a], istep[a] = begin[k], end[k], step[k]
    n.add("slice", n.live[:1], begin=ib, end=ie, step=istep)


@HANDLERS("Split")
def _split(n: _Node) -> None:
    """A split is one slice per part, each its own layer reading the whole input."""
    g, node = n.g, n.node
    shape = g.shapes.get(n.live[0], [])
    rank = len(shape)
    axis = n.a.get("axis", 0) % max(rank, 1)
    outs = [o for o in node.output if o]
    sizes = n.a.get("split") or (g.ints(node.input[1]) if len(node.input) > 1 and node.input[1] else None)
    if rank not in (2, 4) or axis == 0 or not isinstance(shape[axis], int):
        n.opaque(f"Split (axis {axis})", n.live)
        return
    if sizes is None:
        each = -(-shape[axis] // len(outs))
        sizes = [min(each, shape[axis] - k * each) for k in range(len(outs))]
    ia = ir_axis(axis, rank)
    src = g.shape_of(n.live[0], "input of Split")
    start = 0
    for out, size in zip(outs, sizes):
        begin, end = [0] * len(src), list(src)
        begin[ia], end[ia] = start, start + size
        g.b.add(f"{n.raw}_{out}", "slice", n.live[:1], [out], expect=tuple(g.shape_of(out, "output of Split")),
                dtype=n.ydt, begin=begin, end=end)
        start += size


@HANDLERS("Flatten", "Reshape", "Squeeze", "Unsqueeze")
def _reshape(n: _Node) -> None:
    n.add("reshape", n.live[:1], shape=n.y)


@HANDLERS("Softmax")
def _softmax(n: _Node) -> None:
    """Along ``axis`` (opset 13 on: one axis, default the last). Before opset 13 the axis and those after it
    are flattened into one: the same where at most one of them is longer than 1."""
    shape = list(n.g.shapes.get(n.live[0], [])) if n.live else []
    rank = len(shape)
    if rank < 2 or any(not isinstance(d, int) for d in shape):
        n.add("softmax", n.live[:1])
        return
    opset = next((o.version for o in n.g.model.opset_import if o.domain in ("", "ai.onnx")), 13)
    axis = n.a.get("axis", -1 if opset >= 13 else 1) % rank
    if opset < 13:
        long = [a for a in range(axis, rank) if shape[a] > 1]
        if len(long) > 1:
            n.opaque(f"Softmax (over axes {axis}.. of a rank-{rank} tensor, flattened)", n.live)
            return
        axis = long[0] if long else rank - 1
    if axis == 0:
        n.opaque("Softmax (over the batch)", n.live)
        return
    ir = ir_axis(axis, rank)
    if ir is None:
        n.opaque(f"Softmax (axis {axis} of a rank-{rank} tensor)", n.live)
        return
    n.add("softmax", n.live[:1], axis=ir)


@HANDLERS("QuantizeLinear", "DequantizeLinear")
def _converter(n: _Node) -> None:
    n.add("quantize" if n.op.startswith("Q") else "dequantize", n.live[:1])


@HANDLERS("Clip", *ACTIVATIONS)
def _activation(n: _Node) -> None:
    """Fused into the layer before where it can carry it (its derivative follows from the output);
    otherwise an activation layer of its own (PReLU with its slopes)."""
    fn = "relu6" if n.op == "Clip" else ACTIVATIONS[n.op]
    if fn not in INPUT_DERIVATIVE and n.g.b.fuse_activation(n.live[0], n.outs, fn):
        return
    slopes = None
    if fn == "prelu":
        dims = n.g.weight_dims(n.node.input[1])
        slopes = math.prod(dims) if dims is not None else None
        channels = n.g.shape_of(n.live[0], "input of PRelu")[-1]
        if slopes is None or slopes not in (1, channels):
            n.opaque("PRelu (slopes neither shared nor one per channel)")
            return
    n.add("activation", n.live[:1], function=fn, slopes=slopes, weight_dtype=n.g.dtype_of(n.node.input[1])
          if fn == "prelu" else None)


def _fold_bias(g: _Graph, tensor: str, outs: list[str], names) -> bool:
    """MatMul + Add(constant) is a dense layer with a bias (PyTorch's Linear exported without Gemm), or a 1x1
    convolution's (the same Linear at each position of a channels-last feature map)."""
    b = g.b
    layer = b.producer(tensor)
    const = next((name for name in names if name in g.consts), None)
    per_position = layer is not None and layer["kind"] == "conv2d" and layer.get("kernel") == 1
    if layer is None or not (layer["kind"] == "dense" or per_position) or layer.get("use_bias") or const is None:
        return False
    dims = g.consts[const].dims
    if dims is None or math.prod(dims) != layer.get("units", layer.get("filters")):
        return False
    layer["use_bias"] = True
    layer["bias_dtype"] = ELEM.get(g.consts[const].data_type, "float32")
    for t in outs:
        b.alias[t] = layer["name"]
    return True


# -- recurrent cells ---------------------------------------------------------------------------------------
#
# ONNX's LSTM and GRU read X time-major, (T, batch, F), and write Y (T, directions, batch, H) and Y_h (directions,
# batch, H); exporters wrap them in transposes, reshapes and squeezes that only move the axes of length 1 (the batch
# of one, the one direction). The cell translates those itself (``_cell_views``): they become no layer, the IR
# holding the sequence as the ``lstm``/``gru`` kinds state it, (T, F) in and (T, H) or (H,) out.

CELL_GATES = {"LSTM": 4, "GRU": 3}
CELL_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
#: operators that may only move or drop axes of length 1 (then a view of a cell's sequence, no layer)
LAYOUT = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten"}


def _refuse(n: _Node, what: str, hint: str) -> None:
    raise ImportFailure(f"{n.g.origin}: {n.op} {n.raw!r} (operator {n.pos}) {what}", hint=hint,
                        code="LC-IMPORT-UNSUPPORTED")


def _long_axes(g: _Graph, name: str) -> list[int] | None:
    """The dimensions of a tensor longer than 1, None where they are not all known."""
    raw = g.shapes.get(name)
    return None if raw is None or not all(isinstance(d, int) and d > 0 for d in raw) else [d for d in raw if d != 1]


def _constant(g: _Graph, name: str):
    """A constant's values, the cell reading ahead of the walk: a ``Constant`` node not folded yet counts too."""
    if name in g.consts:
        return g.value(name)
    from onnx import numpy_helper

    node = next((nd for nd in g.model.graph.node if name in nd.output and nd.op_type == "Constant"), None)
    proto = next((a.t for a in node.attribute if a.name == "value"), None) if node is not None else None
    return None if proto is None else numpy_helper.to_array(proto)


def _gathered(g: _Graph, node, src: str) -> tuple[int, int] | None:
    """(axis length, index) of a ``Gather`` of one position of ``src`` (a scalar index), else None."""
    if node.op_type != "Gather" or node.input[0] != src or len(node.input) < 2:
        return None
    index = _constant(g, node.input[1])
    raw = g.shapes.get(src)
    if index is None or index.size != 1 or index.ndim != 0 or raw is None:
        return None
    axis = _attrs(node).get("axis", 0) % len(raw)
    return (raw[axis], int(index)) if isinstance(raw[axis], int) else None


def _is_view(g: _Graph, node, src: str) -> bool:
    """A node moving or dropping only axes of length 1 of ``src`` (a Gather of the one position of such an axis)."""
    if node.op_type not in LAYOUT and _gathered(g, node, src) is None or len(node.output) != 1:
        return False
    if node.op_type == "Gather":
        return _gathered(g, node, src)[0] == 1
    return node.input[0] == src and _long_axes(g, src) is not None and _long_axes(g, src) == _long_axes(g, node.output[0])


def _cell_views(g: _Graph, tensor: str) -> tuple[list[str], list]:
    """The views of a cell's output (itself included) and the nodes reading them that are not views (None for a
    graph output)."""
    outputs = {o.name for o in g.model.graph.output}
    views, readers, todo = [], [], [tensor] if tensor else []
    while todo:
        t = todo.pop()
        views.append(t)
        if t in outputs:
            readers.append(None)
        for nd in g.model.graph.node:
            if t in nd.input:
                (todo.append(nd.output[0]) if _is_view(g, nd, t) else readers.append(nd))
    return views, readers


def _sequence_layout(n: _Node) -> bool:
    """Nodes a cell has translated (their outputs already named), and the transpose of a batch-first (1, T, F)
    to the (T, 1, F) a cell reads: no layer, the cell reshapes where it must."""
    g, node = n.g, n.node
    if all(o in g.b.alias for o in node.output if o) and any(node.output):
        return True
    if node.op_type != "Transpose" or len(n.live) != 1 or list(n.a.get("perm", [])) != [1, 0, 2]:
        return False
    raw = g.shapes.get(n.live[0], [])
    readers = [nd for nd in g.model.graph.node if node.output[0] in nd.input]
    if len(raw) != 3 or raw[0] != 1 or not readers or any(
            nd.op_type not in CELL_GATES or nd.input[0] != node.output[0] for nd in readers):
        return False
    g.b.skip(n.live[0], [node.output[0]], "layout")
    g.b.folded.pop()  # a change of layout, not a layer the paper leaves out
    g.sequences[node.output[0]] = g.sequences.get(n.live[0], False)
    return True


@HANDLERS(*CELL_GATES)
def _cell(n: _Node) -> None:
    """One direction of ``lstm`` or ``gru`` (inputs X, W, R, B, sequence_lens, initial_h, initial_c, P), every
    step's output where something reads Y beyond its last step, else the last h_T. B holds two bias vectors
    (W's and R's): ``bias_vectors: 2``."""
    g, a, node = n.g, n.a, n.node
    ins = list(node.input) + [""] * (8 - len(node.input))
    if a.get("direction", b"forward") not in (b"forward", "forward"):
        _refuse(n, f"runs {a['direction'].decode()}; learncost's {n.op.lower()} runs one direction, forward",
                "export a unidirectional cell; a bidirectional one is two cells, one on the reversed sequence, "
                "which a spec can state")
    if [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", CELL_ACTIVATIONS[n.op])] \
            != CELL_ACTIVATIONS[n.op] or "clip" in a or a.get("input_forget", 0):
        _refuse(n, "uses activations, a clip or a coupled input gate other than the defaults",
                f"learncost's {n.op.lower()} is the plain cell ({', '.join(CELL_ACTIVATIONS[n.op])})")
    if n.op == "GRU" and not a.get("linear_before_reset", 0):
        _refuse(n, "has linear_before_reset=0 (r multiplies h before R); learncost's gru is PyTorch's form, "
                   "n = tanh(W_n x + r (R_n h + b_Rn))", "export with linear_before_reset=1, as torch.onnx does")
    if ins[7]:
        _refuse(n, "has peephole connections (P)", "learncost's lstm has no formula for peepholes")
    layout = a.get("layout", 0)
    x, y, y_h, y_c = ins[0], *(list(node.output) + ["", "", ""])[:3]
    raw = g.shapes.get(x)
    w = g.weight_dims(ins[1])
    if w is None or raw is None or len(raw) != 3 or not all(isinstance(d, int) for d in raw):
        _refuse(n, "has weights computed by the graph or an input of unknown shape", "export it with constant weights "
                "and a fixed input shape")
    steps, features = (raw[0], raw[2]) if layout == 0 else (raw[1], raw[2])
    units = a.get("hidden_size", w[1] // CELL_GATES[n.op])
    lens = _constant(g, ins[4]) if ins[4] else None
    if ins[4] and (lens is None or any(int(v) != steps for v in lens.reshape(-1))) \
            or any(i and i not in g.consts for i in ins[5:7]):
        _refuse(n, "has sequence lengths or initial states computed by the graph",
                "learncost's cells run every step from constant initial states")
    if y_c and _cell_views(g, y_c)[1]:
        _refuse(n, "has its cell state Y_c read", "learncost's lstm outputs h only")
    seq_views, seq_readers = _cell_views(g, y)
    last = [nd for nd in seq_readers if nd is not None and _gathered(g, nd, nd.input[0]) in ((steps, -1),
                                                                                              (steps, steps - 1))]
    h_views, h_readers = _cell_views(g, y_h)
    sequences = len(last) < len(seq_readers)
    # the input as (T, F): the graph's input restated, a cell's sequence as it is, a batch-first tensor reshaped
    src = x
    if g.sequences.get(x) is True:
        pass
    elif g.b.source(x) == "input" and not any("input" in layer["inputs"] for layer in g.b.layers):
        g.b.input_shape = [steps, features]
    elif g.sequences.get(x) is False or layout == 1:
        g.b.add(n.raw + "_sequence", "reshape", [x], [n.raw + "#x"], shape=[steps, features], dtype=g.dtype_of(x))
        src = n.raw + "#x"
    else:
        _refuse(n, "reads a time-major input computed by the graph", "learncost reads the first axis of other "
                "operators' tensors as the batch; export batch-first")
    bias = bool(ins[3])
    g.b.add(n.raw, n.op.lower(), [src], seq_views if sequences else [*seq_views, *h_views, *(nd.output[0] for nd in last)],
            expect=(steps, units) if sequences else (units,), units=units, return_sequences=sequences,
            bias_vectors=2 if bias else None, use_bias=bias, dtype=n.ydt if y else g.dtype_of(x),
            weight_dtype=g.dtype_of(ins[1]), bias_dtype=g.dtype_of(ins[3]) if bias else None)
    for t in seq_views if sequences else ():
        g.sequences[t] = True
    # the last step where the sequence is read whole too: a slice of it, as Y_h is
    steps_read = [[nd.output[0]] for nd in last] + ([h_views] if h_readers else [])
    for k, outs in enumerate(steps_read if sequences else ()):
        g.b.add(f"{n.raw}_last" if k == 0 else f"{n.raw}_last_{k}", "slice", [y], outs, expect=(1, units),
                begin=[steps - 1, 0], end=[steps, units], dtype=n.ydt)
