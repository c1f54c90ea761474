"""The built-in models against the operators of the real MLPerf Tiny TFLite graphs.

The count here is independent of learncost: MACs read off each operator's tensor shapes in
the .tflite flatbuffer (conv: out_h*out_w*C_out*k_h*k_w*C_in; depthwise: out_h*out_w*C_out*k_h*k_w;
fully connected: in*out; average pool: output*window; add: output elements).
Documented differences: the TFLite graphs have no explicit padding (padding 'same' inside the
convolution), no INT8<->float converters (int8 softmax) and biases stored as int32.
"""

from __future__ import annotations

import math

import pytest

from conftest import MODELS_DIR, needs_models
from learncost import analyze

pytestmark = needs_models
tflite = pytest.importorskip("tflite", reason="the tflite flatbuffer package is not installed")

FILES = {
    "kws": ["kws_ref_model_int8.tflite", "kws_ref_model_float32.tflite"],
    "vww": ["vww_96_int8.tflite", "vww_96_float.tflite"],
    "ic": ["resnet8_int8.tflite", "resnet8_float.tflite"],
    "ad": ["ad01_int8.tflite", "ad01_fp32.tflite"],
}
KIND = {"CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "depthwise_conv2d", "FULLY_CONNECTED": "dense",
        "AVERAGE_POOL_2D": "avg_pool2d", "ADD": "add"}


def tflite_ops(path):
    """(kind, MACs, output elements, weights, biases) per costed operator, in graph order."""
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    buf = path.read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)
    shape = lambda i: list(graph.Tensors(i).ShapeAsNumpy())  # noqa: E731
    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        if name not in KIND:
            continue
        ins = [j for j in op.InputsAsNumpy()]
        y = shape(op.OutputsAsNumpy()[0])
        n_out = math.prod(y)
        if name == "CONV_2D":
            c_out, kh, kw, c_in = shape(ins[1])
            macs, w, b = n_out * kh * kw * c_in, c_out * kh * kw * c_in, math.prod(shape(ins[2]))
        elif name == "DEPTHWISE_CONV_2D":
            _, kh, kw, c_out = shape(ins[1])
            macs, w, b = n_out * kh * kw, kh * kw * c_out, math.prod(shape(ins[2]))
        elif name == "FULLY_CONNECTED":
            units, n_in = shape(ins[1])
            macs, w, b = units * n_in, units * n_in, math.prod(shape(ins[2])) if len(ins) > 2 and ins[2] >= 0 else 0
        elif name == "AVERAGE_POOL_2D":
            opts = tflite.Pool2DOptions()
            bo = op.BuiltinOptions()
            opts.Init(bo.Bytes, bo.Pos)
            macs, w, b = n_out * opts.FilterHeight() * opts.FilterWidth(), 0, 0
        else:  # ADD
            macs, w, b = n_out, 0, 0
        out.append((KIND[name], macs, n_out, w, b))
    return out


@pytest.mark.parametrize("model_id,filename", [(m, f) for m, fs in FILES.items() for f in fs])
def test_builtin_matches_tflite(model_id, filename):
    path = MODELS_DIR / filename
    if not path.exists():
        pytest.skip(f"{filename} not in {MODELS_DIR}")
    ours = [(lr.kind, lr.macc["forward"], math.prod(lr.output_shape), lr.weights, lr.biases)
            for lr in analyze(model_id).layers if lr.kind in KIND.values()]
    assert ours == tflite_ops(path)
