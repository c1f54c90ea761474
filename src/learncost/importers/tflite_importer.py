"""TFLite flatbuffers (int8 and float32), read with the ``tflite`` package: no TensorFlow needed."""

from __future__ import annotations

import math
from pathlib import Path

from .common import GraphBuilder, ImportFailure, drop_batch, read_bytes

FUSED = {0: None, 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit"}
PADDING = {0: "same", 1: "valid"}
ACTIVATION_OPS = {"RELU": "relu", "RELU6": "relu6", "RELU_N1_TO_1": "relu_n1_to_1", "TANH": "tanh",
                  "LOGISTIC": "sigmoid", "HARD_SWISH": "hard_swish"}


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


def _load(path: Path, data: bytes, allow_unsupported: bool, classes: int | None):
    import tflite

    ops_by_code = _enum_names(tflite.BuiltinOperator)
    dtypes = {tflite.TensorType.FLOAT32: "float32", tflite.TensorType.FLOAT16: "float16",
              tflite.TensorType.INT32: "int32", tflite.TensorType.UINT8: "uint8",
              tflite.TensorType.INT16: "int16", tflite.TensorType.INT8: "int8"}
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ImportFailure(f"{path.name}: the TFLite model has no subgraph")
    g = model.Subgraphs(0)
    origin = path.name

    def tensor(i):
        if i < 0 or i >= g.TensorsLength():
            raise ImportFailure(f"{origin}: operator refers to tensor {i}, the graph has {g.TensorsLength()}")
        return g.Tensors(i)

    def shape(i) -> list[int]:
        t = tensor(i)
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def dtype(i) -> str:
        t = tensor(i)
        if t.Type() not in dtypes:
            raise ImportFailure(f"{origin}: tensor {name(i)!r} has an element type learncost does not size "
                                f"({_enum_names(tflite.TensorType).get(t.Type(), t.Type())})",
                                code="LC-IMPORT-UNSUPPORTED")
        return dtypes[t.Type()]

    def name(i) -> str:
        """The tensor's name for messages and notes; the schema makes names optional."""
        raw = tensor(i).Name()
        return raw.decode(errors="replace") if raw else f"tensor {i}"

    def key(i) -> str:
        # operators are wired by tensor index: names may be missing or repeated
        tensor(i)
        return f"#{i}"

    def constant(i):
        buf = model.Buffers(tensor(i).Buffer())
        return buf.DataAsNumpy() if buf is not None and buf.DataLength() else None

    def int_values(i) -> list[int]:
        import numpy as np

        raw = constant(i)
        if raw is None:
            raise ImportFailure(f"{origin}: expected constant values in tensor {name(i)!r}")
        return [int(v) for v in np.frombuffer(raw.tobytes(), dtype=np.int32)]

    if g.InputsLength() != 1:
        raise ImportFailure(f"{origin}: the graph has {g.InputsLength()} inputs; learncost models one input",
                            code="LC-IMPORT-UNSUPPORTED")
    in_idx = int(g.InputsAsNumpy()[0])
    b = GraphBuilder(origin, drop_batch(shape(in_idx), origin, "the input"), dtype(in_idx))
    b.alias[key(in_idx)] = "input"

    def options(cls, op, pos, opname, required=True):
        """The operator's options table; None when absent and the defaults are meaningful (no fused
        activation), an error when the operator cannot be costed without them (strides, filter size)."""
        table = op.BuiltinOptions()
        if table is None:
            if required:
                raise ImportFailure(f"{origin}: operator {pos} ({opname}) has no options (its stride, padding or "
                                    "size are not stated)", hint="re-export the model with its converter")
            return None
        opt = cls()
        opt.Init(table.Bytes, table.Pos)
        return opt

    last_softmax = False
    for pos in range(g.OperatorsLength()):
        op = g.Operators(pos)
        code = model.OperatorCodes(op.OpcodeIndex())
        opname = ops_by_code.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), f"CUSTOM_{code.BuiltinCode()}")
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if not outs:
            raise ImportFailure(f"{origin}: operator {pos} ({opname}) has no output")
        out_names = [key(i) for i in outs]
        y = drop_batch(shape(outs[0]), origin, f"the output of operator {pos} ({opname})")
        ydt = dtype(outs[0])
        raw = f"{opname.lower()}_{pos}"
        last_softmax = opname == "SOFTMAX"
        if opname in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            is_conv = opname == "CONV_2D"
            opt = options(tflite.Conv2DOptions if is_conv else tflite.DepthwiseConv2DOptions, op, pos, opname)
            if opt.DilationHFactor() not in (0, 1) or opt.DilationWFactor() not in (0, 1):
                b.opaque(f"{opname} (dilated)", pos, raw, [key(ins[0])], out_names, tuple(y))
                continue
            w = shape(ins[1])
            bias = ins[2] if len(ins) > 2 and ins[2] >= 0 else None
            common = dict(kernel=[w[1], w[2]], stride=[opt.StrideH(), opt.StrideW()],
                          padding=PADDING.get(opt.Padding(), "valid"), activation=FUSED.get(opt.FusedActivationFunction()),
                          use_bias=bias is not None, dtype=ydt, weight_dtype=dtype(ins[1]),
                          bias_dtype=dtype(bias) if bias is not None else None, note=name(outs[0]))
            if is_conv:
                if w[3] != shape(ins[0])[-1]:  # grouped convolution: not one of the paper's kinds
                    b.opaque(f"{opname} (grouped)", pos, raw, [key(ins[0])], out_names, tuple(y))
                    continue
                b.add(raw, "conv2d", [key(ins[0])], out_names, expect=tuple(y), filters=w[0], **common)
            else:
                mult = max(1, w[3] // max(1, shape(ins[0])[-1]))
                b.add(raw, "depthwise_conv2d", [key(ins[0])], out_names, expect=tuple(y), depth_multiplier=mult, **common)
        elif opname == "FULLY_CONNECTED":
            opt = options(tflite.FullyConnectedOptions, op, pos, opname, False)
            w = shape(ins[1])
            bias = ins[2] if len(ins) > 2 and ins[2] >= 0 else None
            if math.prod(y) != w[0]:
                b.opaque(f"{opname} (batched rows)", pos, raw, [key(ins[0])], out_names, tuple(y))
                continue
            b.add(raw, "dense", [key(ins[0])], out_names, expect=tuple(y), units=w[0], use_bias=bias is not None,
                  activation=FUSED.get(opt.FusedActivationFunction()) if opt else None, dtype=ydt,
                  weight_dtype=dtype(ins[1]), bias_dtype=dtype(bias) if bias is not None else None, note=name(outs[0]))
        elif opname in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            opt = options(tflite.Pool2DOptions, op, pos, opname)
            b.add(raw, "avg_pool2d" if opname.startswith("AVERAGE") else "max_pool2d", [key(ins[0])], out_names,
                  expect=tuple(y), kernel=[opt.FilterHeight(), opt.FilterWidth()], stride=[opt.StrideH(), opt.StrideW()],
                  padding=PADDING.get(opt.Padding(), "valid"), activation=FUSED.get(opt.FusedActivationFunction()),
                  dtype=ydt, note=name(outs[0]))
        elif opname in ("PAD", "PADV2"):
            pads = int_values(ins[1])
            if len(pads) != 8 or pads[0] or pads[1] or pads[6] or pads[7]:
                b.opaque(f"{opname} (not spatial)", pos, raw, [key(ins[0])], out_names, tuple(y))
                continue
            b.add(raw, "pad", [key(ins[0])], out_names, expect=tuple(y), padding=[pads[2], pads[3], pads[4], pads[5]],
                  dtype=ydt)
        elif opname in ("ADD", "CONCATENATION"):
            live = [i for i in ins if constant(i) is None]
            if len(live) < 2:
                b.opaque(f"{opname} (with a constant)", pos, raw, [key(live[0])] if live else [], out_names, tuple(y))
                continue
            if opname == "CONCATENATION":
                opt = options(tflite.ConcatenationOptions, op, pos, opname)
                if opt.Axis() not in (-1, len(shape(outs[0])) - 1):
                    b.opaque(f"{opname} (axis {opt.Axis()})", pos, raw, [key(i) for i in live], out_names, tuple(y))
                    continue
                b.add(raw, "concat", [key(i) for i in live], out_names, expect=tuple(y), dtype=ydt,
                      activation=FUSED.get(opt.FusedActivationFunction()))
            else:
                opt = options(tflite.AddOptions, op, pos, opname, False)
                b.add(raw, "add", [key(i) for i in live], out_names, expect=tuple(y), dtype=ydt,
                      activation=FUSED.get(opt.FusedActivationFunction()) if opt else None)
        elif opname in ("RESHAPE", "SQUEEZE"):
            b.add(raw, "reshape", [key(ins[0])], out_names, expect=tuple(y), shape=y, dtype=ydt)
        elif opname == "MEAN":
            x = shape(ins[0])
            axes = sorted(a % len(x) for a in int_values(ins[1]))
            if len(x) != 4 or axes != [1, 2]:
                b.opaque(f"{opname} (axes {axes})", pos, raw, [key(ins[0])], out_names, tuple(y))
                continue
            pooled = b.add(raw, "avg_pool2d", [key(ins[0])], out_names, **{"global": True}, dtype=ydt,
                           note=f"MEAN over H, W: {name(outs[0])}")
            if len(y) != 3:
                b.add(raw + "_squeeze", "reshape", [out_names[0]], out_names, expect=tuple(y), shape=y, dtype=ydt)
            else:
                b.expected[pooled] = tuple(y)
        elif opname == "SOFTMAX":
            b.add(raw, "softmax", [key(ins[0])], out_names, expect=tuple(y), dtype=ydt)
        elif opname in ("QUANTIZE", "DEQUANTIZE"):
            b.add(raw, opname.lower(), [key(ins[0])], out_names, expect=tuple(y), dtype=ydt)
        elif opname in ACTIVATION_OPS and b.fuse_activation(key(ins[0]), out_names, ACTIVATION_OPS[opname]):
            last_softmax = False
        else:
            b.opaque(opname, pos, raw, [key(i) for i in ins if i >= 0 and constant(i) is None][:1], out_names, tuple(y))
    built = b.build(name=path.stem, allow_unsupported=allow_unsupported, classes=classes, softmax_output=last_softmax)
    # TFLite Micro breaks ties between equal-size tensors by their order in the file
    for k, layer in b.alias.items():
        built.tensor_order[layer] = max(built.tensor_order.get(layer, -1), int(k[1:]))
    built.runtime["tflm"] = _tflm_graph(model, ops_by_code)
    return built


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
