"""ONNX graphs, read with the ``onnx`` package and its shape inference. NCHW tensors become the
IR's (H, W, C); a symbolic input dimension needs ``--input-shape``."""

from __future__ import annotations

import math
from pathlib import Path

from .common import GraphBuilder, ImportFailure, read_bytes, to_hwc

ELEM = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 10: "float16"}
ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "LeakyRelu": "leaky_relu",
               "HardSwish": "hard_swish", "HardSigmoid": "hard_sigmoid", "Elu": "elu"}
SKIPPED = {"BatchNormalization": "batch normalization", "Dropout": "dropout", "Identity": "identity"}


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


def _load(path: Path, model, allow_unsupported: bool, classes: int | None):
    from onnx import numpy_helper

    origin = path.name
    g = model.graph
    init = {t.name: t for t in g.initializer}
    consts = dict(init)
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    consts[node.output[0]] = a.t
    inputs = [i for i in g.input if i.name not in init]
    if len(inputs) != 1:
        raise ImportFailure(f"{origin}: the graph has {len(inputs)} inputs; learncost models one input",
                            code="LC-IMPORT-UNSUPPORTED")

    shapes: dict[str, list] = {}
    types: dict[str, int] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        tt = vi.type.tensor_type
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        types[vi.name] = tt.elem_type

    def shape_of(name: str, what: str) -> list[int]:
        raw = shapes.get(name)
        if raw is None:
            raise ImportFailure(f"{origin}: no shape known for {what} {name!r}", hint="give --input-shape",
                                code="LC-IMPORT-SHAPE")
        if any(isinstance(d, str) for d in raw[1:]) or any(d <= 0 for d in raw[1:]):
            raise ImportFailure(f"{origin}: {what} {name!r} has symbolic dimensions {raw}",
                                hint="give the input shape with --input-shape, e.g. --input-shape 1,3,96,96",
                                code="LC-IMPORT-SHAPE")
        return to_hwc([int(d) for d in raw[1:]])

    def dtype_of(name: str) -> str:
        t = consts[name].data_type if name in consts else types.get(name, 1)
        if t not in ELEM:
            raise ImportFailure(f"{origin}: tensor {name!r} has ONNX element type {t}, which learncost does not size",
                                code="LC-IMPORT-UNSUPPORTED")
        return ELEM[t]

    def attrs(node) -> dict:
        import onnx

        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    x = inputs[0].name
    b = GraphBuilder(origin, shape_of(x, "input"), dtype_of(x))
    b.alias[x] = "input"
    last_softmax = False
    for pos, node in enumerate(g.node):
        op, a = node.op_type, attrs(node)
        if op == "Constant":
            continue
        live = [i for i in node.input if i and i not in consts]
        outs = list(node.output[:1])
        raw = node.name or f"{op.lower()}_{pos}"
        last_softmax = op == "Softmax"
        if op in SKIPPED:
            b.skip(live[0], list(node.output), SKIPPED[op])
            continue
        y = shape_of(outs[0], f"output of {op}")
        ydt = dtype_of(outs[0])
        if op == "Conv":
            w = list(consts[node.input[1]].dims) if node.input[1] in consts else None
            if w is None or any(d != 1 for d in a.get("dilations", [1])):
                b.opaque(f"Conv ({'dilated' if w else 'non-constant weights'})", pos, raw, live, outs, tuple(y))
                continue
            c_in = shape_of(live[0], "input of Conv")[-1]
            group = a.get("group", 1)
            k = w[2:] if len(w) == 4 else [1, w[2]]
            s = a.get("strides", [1, 1])
            s = s if len(s) == 2 else [1, s[0]]
            pads = a.get("pads", [0] * (2 * len(w[2:])))
            pad = [pads[0], pads[2], pads[1], pads[3]] if len(pads) == 4 else [0, 0, pads[0], pads[1]]
            if a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER"):
                pad = "same"
            bias = len(node.input) > 2 and bool(node.input[2])
            common = dict(kernel=k, stride=s, padding=pad, use_bias=bias, dtype=ydt,
                          weight_dtype=dtype_of(node.input[1]), bias_dtype=dtype_of(node.input[2]) if bias else None)
            if group == 1:
                b.add(raw, "conv2d", live[:1], outs, expect=tuple(y), filters=w[0], **common)
            elif group == c_in and w[1] == 1:
                b.add(raw, "depthwise_conv2d", live[:1], outs, expect=tuple(y), depth_multiplier=w[0] // c_in, **common)
            else:
                b.opaque(f"Conv (group {group})", pos, raw, live, outs, tuple(y))
        elif op in ("Gemm", "MatMul"):
            if len(node.input) < 2 or node.input[1] not in consts or a.get("transA", 0):
                b.opaque(f"{op} (non-constant weights)", pos, raw, live, outs, tuple(y))
                continue
            w = list(consts[node.input[1]].dims)
            units = w[0] if a.get("transB", 0) else w[-1]
            bias = op == "Gemm" and len(node.input) > 2 and bool(node.input[2])
            b.add(raw, "dense", live[:1], outs, expect=tuple(y), units=units, use_bias=bias, dtype=ydt,
                  weight_dtype=dtype_of(node.input[1]), bias_dtype=dtype_of(node.input[2]) if bias else None)
        elif op in ("AveragePool", "MaxPool"):
            k = a["kernel_shape"]
            pads = a.get("pads", [0] * 2 * len(k))
            b.add(raw, "avg_pool2d" if op == "AveragePool" else "max_pool2d", live[:1], outs, expect=tuple(y),
                  kernel=k if len(k) == 2 else [1, k[0]], stride=a.get("strides", k),
                  padding=[pads[0], pads[2], pads[1], pads[3]] if len(pads) == 4 else 0, dtype=ydt)
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            b.add(raw, "avg_pool2d" if "Average" in op else "max_pool2d", live[:1], outs, expect=tuple(y),
                  **{"global": True}, dtype=ydt)
        elif op == "ReduceMean":
            axes = a.get("axes") or ([int(v) for v in numpy_helper.to_array(consts[node.input[1]])]
                                     if len(node.input) > 1 and node.input[1] in consts else None)
            if axes is None or sorted(v % 4 for v in axes) != [2, 3]:
                b.opaque(f"ReduceMean (axes {axes})", pos, raw, live, outs, tuple(y))
                continue
            b.add(raw, "avg_pool2d", live[:1], outs, **{"global": True}, dtype=ydt)
            if len(y) != 3:
                b.add(raw + "_squeeze", "reshape", outs, outs, expect=tuple(y), shape=y, dtype=ydt)
        elif op == "Pad":
            p = a.get("pads") or ([int(v) for v in numpy_helper.to_array(consts[node.input[1]])]
                                  if len(node.input) > 1 and node.input[1] in consts else None)
            if p is None or len(p) != 8 or any(p[i] for i in (0, 1, 4, 5)) or a.get("mode", b"constant") not in (b"constant", "constant"):
                b.opaque("Pad (not a spatial zero padding)", pos, raw, live, outs, tuple(y))
                continue
            b.add(raw, "pad", live[:1], outs, expect=tuple(y), padding=[p[2], p[6], p[3], p[7]], dtype=ydt)
        elif op in ("Add", "Sum"):
            if len(live) >= 2:
                b.add(raw, "add", live, outs, expect=tuple(y), dtype=ydt)
            elif not _fold_bias(b, live[0], outs, node.input, consts):
                b.opaque("Add (with a constant)", pos, raw, live, outs, tuple(y))
        elif op == "Concat":
            if a.get("axis") not in (1, -3 if len(y) == 3 else 1):
                b.opaque(f"Concat (axis {a.get('axis')})", pos, raw, live, outs, tuple(y))
                continue
            b.add(raw, "concat", live, outs, expect=tuple(y), dtype=ydt)
        elif op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze"):
            b.add(raw, "reshape", live[:1], outs, expect=tuple(y), shape=y, dtype=ydt)
        elif op == "Softmax":
            b.add(raw, "softmax", live[:1], outs, expect=tuple(y), dtype=ydt)
        elif op in ("QuantizeLinear", "DequantizeLinear"):
            b.add(raw, "quantize" if op.startswith("Q") else "dequantize", live[:1], outs, expect=tuple(y), dtype=ydt)
        elif op == "Clip" and b.fuse_activation(live[0], outs, "relu6"):
            last_softmax = False
        elif op in ACTIVATIONS and b.fuse_activation(live[0], outs, ACTIVATIONS[op]):
            last_softmax = False
        else:
            b.opaque(op, pos, raw, live[:1], outs, tuple(y))
    return b.build(name=path.stem, allow_unsupported=allow_unsupported, classes=classes, softmax_output=last_softmax)


def _fold_bias(b: GraphBuilder, tensor: str, outs: list[str], names, consts) -> bool:
    """MatMul + Add(constant) is a dense layer with a bias (PyTorch's Linear exported without Gemm)."""
    layer = b.producer(tensor)
    const = next((n for n in names if n in consts), None)
    if layer is None or layer["kind"] != "dense" or layer.get("use_bias") or const is None:
        return False
    if math.prod(consts[const].dims) != layer["units"]:
        return False
    layer["use_bias"] = True
    layer["bias_dtype"] = ELEM.get(consts[const].data_type, "float32")
    for t in outs:
        b.alias[t] = layer["name"]
    return True
