"""Importers: synthetic TFLite/Keras/ONNX files built here, checked layer by layer, exactly."""

from __future__ import annotations

import json
import zipfile

import pytest

import learncost
from learncost.importers.common import ImportFailure
from tflite_writer import small_cnn


def layers(model):
    return [(lr.kind, lr.output_shape, lr.weights, lr.biases) for lr in model.layers]


def forward(model):
    a = learncost.analyze(model, ["bp"])
    return {lr.name: lr.macc["forward"] for lr in a.layers}


# --- TFLite ---------------------------------------------------------------------------------

def test_tflite_small_cnn(tmp_path):
    path = tmp_path / "small.tflite"
    path.write_bytes(small_cnn())
    m = learncost.load_model(path)
    assert layers(m) == [
        ("input", (8, 8, 2), 0, 0),
        ("conv2d", (8, 8, 4), 3 * 3 * 2 * 4, 4),
        ("pad", (10, 10, 4), 0, 0),
        ("depthwise_conv2d", (8, 8, 4), 3 * 3 * 4, 4),
        ("add", (8, 8, 4), 0, 0),
        ("max_pool2d", (4, 4, 4), 0, 0),
        ("reshape", (64,), 0, 0),
        ("dense", (5,), 64 * 5, 5),
        ("softmax", (5,), 0, 0),
    ]
    conv = m.layers[1]
    assert (conv.activation, conv.padding, conv.weight_dtype, conv.bias_dtype) == ("relu", (1, 1, 1, 1), "int8", "int32")
    assert m.supervised and m.classes == 5
    f = list(forward(m).values())
    assert f == [0, 3 * 3 * 2 * 8 * 8 * 4, 0, 3 * 3 * 8 * 8 * 4, 8 * 8 * 4, 4 * 4 * 4 * 2 * 2, 0, 64 * 5, 15 * 5]
    bp = learncost.analyze(m, ["bp"]).row("bp", "training")
    assert bp.params_bytes == (72 + 36 + 320) * 1 + (4 + 4 + 5) * 4  # int8 weights, int32 biases


def test_tflite_unsupported_operator(tmp_path):
    import tflite

    path = tmp_path / "exp.tflite"
    path.write_bytes(small_cnn(tflite.BuiltinOperator.EXP))
    with pytest.raises(ImportFailure) as err:
        learncost.load_model(path)
    assert "EXP (operator 8)" in err.value.line() and "--allow-unsupported" in err.value.line()
    m = learncost.load_model(path, allow_unsupported=True)
    assert m.layers[-1].kind == "opaque" and forward(m)[m.layers[-1].name] == 0
    assert any("EXP" in w for w in m.warnings)


def test_classes_override(tmp_path):
    path = tmp_path / "small.tflite"
    path.write_bytes(small_cnn())
    with pytest.raises(learncost.LearncostError, match="classes"):
        learncost.load_model(path, classes=7)
    assert learncost.load_model(path, classes=5).classes == 5


# --- Keras ----------------------------------------------------------------------------------

def _k2(name, cls, cfg, inbound):
    return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
            "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]] if inbound else []}


KERAS2 = {"class_name": "Functional", "config": {"name": "m", "layers": [
    _k2("in", "InputLayer", {"batch_input_shape": [None, 8, 8, 2], "dtype": "float32"}, []),
    _k2("conv", "Conv2D", {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
                           "activation": "linear", "use_bias": True}, ["in"]),
    _k2("bn", "BatchNormalization", {}, ["conv"]),
    _k2("act", "Activation", {"activation": "relu"}, ["bn"]),
    _k2("zp", "ZeroPadding2D", {"padding": [[1, 1], [1, 1]]}, ["act"]),
    _k2("dw", "DepthwiseConv2D", {"kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
                                  "depth_multiplier": 2, "activation": "relu", "use_bias": False}, ["zp"]),
    _k2("proj", "Conv2D", {"filters": 8, "kernel_size": 1, "strides": 1, "padding": "valid", "activation": "linear",
                           "use_bias": True}, ["act"]),
    _k2("sum", "Add", {}, ["dw", "proj"]),
    _k2("gap", "GlobalAveragePooling2D", {}, ["sum"]),
    _k2("drop", "Dropout", {"rate": 0.1}, ["gap"]),
    _k2("fc", "Dense", {"units": 3, "activation": "softmax", "use_bias": True}, ["drop"]),
]}}


def test_keras_h5(tmp_path):
    import h5py

    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(KERAS2)
    m = learncost.load_model(path)
    assert [(lr.name, lr.kind, lr.output_shape, lr.weights, lr.biases) for lr in m.layers] == [
        ("input", "input", (8, 8, 2), 0, 0),
        ("conv", "conv2d", (8, 8, 4), 3 * 3 * 2 * 4, 4),
        ("zp", "pad", (10, 10, 4), 0, 0),
        ("dw", "depthwise_conv2d", (8, 8, 8), 3 * 3 * 8, 0),
        ("proj", "conv2d", (8, 8, 8), 4 * 8, 8),
        ("sum", "add", (8, 8, 8), 0, 0),
        ("gap", "avg_pool2d", (1, 1, 8), 0, 0),
        ("gap_flat", "flatten", (8,), 0, 0),
        ("fc", "dense", (3,), 8 * 3, 3),
        ("fc_softmax", "softmax", (3,), 0, 0),
    ]
    by = m.by_name
    assert by["conv"].activation == "relu"  # the Activation layer after batch norm, fused
    assert by["sum"].inputs == ("dw", "proj") and by["proj"].inputs == ("conv",)
    assert by["conv"].dtype == "float32" and m.classes == 3
    assert any("batch normalization" in w and "dropout" in w for w in m.warnings)


def test_keras3_archive_conv1d(tmp_path):
    def k3(name, cls, cfg, src):
        args = [{"class_name": "__keras_tensor__", "config": {"keras_history": [src, 0, 0]}}] if src else []
        return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
                "inbound_nodes": [{"args": args, "kwargs": {}}] if src else []}

    config = {"class_name": "Functional", "config": {"name": "k3", "layers": [
        k3("x", "InputLayer", {"batch_shape": [None, 16, 3]}, None),
        k3("c1", "Conv1D", {"filters": 6, "kernel_size": [5], "strides": [2], "padding": "valid",
                            "activation": "relu", "use_bias": True}, "x"),
        k3("p1", "MaxPooling1D", {"pool_size": [2], "strides": [2], "padding": "valid"}, "c1"),
        k3("fl", "Flatten", {}, "p1"),
        k3("out", "Dense", {"units": 4, "activation": "linear", "use_bias": True}, "fl"),
    ]}}
    path = tmp_path / "k3.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape) for lr in m.layers] == [
        ("input", (1, 16, 3)), ("conv2d", (1, 6, 6)), ("max_pool2d", (1, 3, 6)), ("reshape", (18,)), ("dense", (4,))]
    assert m.by_name["c1"].kernel == (1, 5) and m.by_name["c1"].weights == 5 * 3 * 6
    assert m.task == "regression"  # no softmax, output unlike the input


# --- ONNX -----------------------------------------------------------------------------------

def onnx_model(batch_dims=(1, 2, 8, 8)):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def w(name, *shape):
        return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)

    inits = [w("W1", 4, 2, 3, 3), w("B1", 4), w("gamma", 4), w("beta", 4), w("mean", 4), w("var", 4),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], dtype=np.int64), "pads"),
             w("W2", 4, 1, 3, 3), w("B2", 4), w("W3", 5, 64), w("B3", 5)]
    nodes = [
        helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("Pad", ["r1", "pads"], ["p1"]),
        helper.make_node("Conv", ["p1", "W2", "B2"], ["dw"], group=4),
        helper.make_node("Add", ["r1", "dw"], ["s"]),
        helper.make_node("AveragePool", ["s"], ["ap"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["ap"], ["fl"]),
        helper.make_node("Gemm", ["fl", "W3", "B3"], ["fc"], transB=1),
        helper.make_node("Softmax", ["fc"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(batch_dims))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def test_onnx_graph(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "g.onnx"
    path.write_bytes(onnx_model())
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape, lr.weights, lr.biases) for lr in m.layers] == [
        ("input", (8, 8, 2), 0, 0),
        ("conv2d", (8, 8, 4), 3 * 3 * 2 * 4, 4),
        ("pad", (10, 10, 4), 0, 0),
        ("depthwise_conv2d", (8, 8, 4), 3 * 3 * 4, 4),
        ("add", (8, 8, 4), 0, 0),
        ("avg_pool2d", (4, 4, 4), 0, 0),
        ("reshape", (64,), 0, 0),
        ("dense", (5,), 64 * 5, 5),
        ("softmax", (5,), 0, 0),
    ]
    assert m.layers[1].activation == "relu" and m.layers[1].dtype == "float32"
    assert list(forward(m).values())[1] == 3 * 3 * 2 * 8 * 8 * 4


def test_onnx_symbolic_dims_need_input_shape(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "sym.onnx"
    path.write_bytes(onnx_model(("N", 2, "H", "W")))
    with pytest.raises(ImportFailure) as err:
        learncost.load_model(path)
    assert "symbolic" in err.value.line() and "--input-shape" in err.value.line()
    m = learncost.load_model(path, input_shape=[1, 2, 8, 8])
    assert m.layers[-1].output_shape == (5,)


# --- refused and broken files ---------------------------------------------------------------

def test_pickled_torch_refused(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x04not really")
    with pytest.raises(learncost.LearncostError, match="arbitrary code"):
        learncost.load_model(path)


def _scaled_sequence() -> bytes:
    """A TFLite Conv1D model as the converter writes one (the shape of a public activity tracker's):
    input 1x16x3 -> MUL by 3 per-channel constants -> ADD 3 constants (a normalization) -> EXPAND_DIMS
    -> 1x16x3 conv 1x5 to 8 valid -> max pool 1x2 -> MUL by a scalar (batch normalization left after a pool)
    -> reshape 48 -> fully connected 2."""
    import tflite

    from tflite_writer import INT32, TFLiteWriter, conv_options, fc_options

    B = tflite.BuiltinOperator
    w = TFLiteWriter()
    x = w.tensor("x", [1, 16, 3])
    m = w.tensor("mul", [1, 16, 3])
    w.op(B.MUL, [x, w.const("scale", [3])], [m])
    a = w.tensor("add", [1, 16, 3])
    w.op(B.ADD, [m, w.const("shift", [3])], [a])
    e = w.tensor("expanded", [1, 1, 16, 3])
    w.op(B.EXPAND_DIMS, [a, w.int32("axis", [1])], [e])
    c = w.tensor("conv", [1, 1, 12, 8])
    w.op(B.CONV_2D, [e, w.const("cw", [8, 1, 5, 3]), w.const("cb", [8], INT32)], [c],
         conv_options(padding=tflite.Padding.VALID))
    p = w.tensor("pool", [1, 1, 6, 8])
    from tflite_writer import pool_options

    w.op(B.MAX_POOL_2D, [c], [p], _pool_1x2(pool_options))
    s = w.tensor("bn", [1, 1, 6, 8])
    w.op(B.MUL, [p, w.const("gamma", [1])], [s])
    r = w.tensor("flat", [1, 48])
    w.op(B.RESHAPE, [s, w.int32("newshape", [1, 48])], [r])
    f = w.tensor("fc", [1, 2])
    w.op(B.FULLY_CONNECTED, [r, w.const("fw", [2, 48]), w.const("fb", [2], INT32)], [f], fc_options())
    return w.bytes([x], [f])


def _pool_1x2(pool_options):
    import tflite

    kind, build = pool_options(2, 2)

    def one_by_two(b):
        tflite.Pool2DOptionsStart(b)
        tflite.Pool2DOptionsAddPadding(b, tflite.Padding.VALID)
        tflite.Pool2DOptionsAddStrideH(b, 1)
        tflite.Pool2DOptionsAddStrideW(b, 2)
        tflite.Pool2DOptionsAddFilterHeight(b, 1)
        tflite.Pool2DOptionsAddFilterWidth(b, 2)
        return tflite.Pool2DOptionsEnd(b)

    return (kind, one_by_two)


def test_tflite_constant_scales_read_as_1x1_depthwise(tmp_path):
    """MUL by a per-channel constant on a sequence: a 1x1 depthwise convolution on 1x16x3 (reshapes around it,
    free), forward 16 x 3 = 48 MACC; the ADD of a constant after it is its bias (3 parameters). EXPAND_DIMS is
    a reshape. The scalar MUL after the pool: a 1x1 depthwise on 1x6x8, 48 MACC, its one value counted as 8
    weights (its note says so). Conv 1x5x3 x 8 filters x 12 positions = 1,440; pool 1x2 x 48 outputs = 96;
    dense 48 x 2 = 96 (paper convention, hand derivation)."""
    from learncost import load_model
    from learncost.evaluate import Evaluator
    from learncost.verify import verify

    path = tmp_path / "seq.tflite"
    path.write_bytes(_scaled_sequence())
    model = load_model(str(path), classes=2)
    scales = [layer for layer in model.layers if layer.kind == "depthwise_conv2d"]
    assert [(s.weights, s.biases, s.output_shape) for s in scales] == [(3, 3, (1, 16, 3)), (8, 0, (1, 6, 8))]
    assert "its one value counted as 8 weights" in scales[1].note
    forward = {layer.name: c["forward"] for layer, c in zip(model.layers, Evaluator(model, "paper").costs)}
    assert [forward[s.name] for s in scales] == [48, 48]
    assert sum(forward.values()) == 48 + 1_440 + 96 + 48 + 96
    # executed in PyTorch, every procedure's counted MACs and tracked bytes are the analytic ones
    pytest.importorskip("torch")
    result = verify(model, ["bp", "ff", "pepita"])
    assert not [u for c in result.checks for u in c.unexplained]


def test_verify_executes_bp_through_a_max_pool(tmp_path):
    """BP through a max pool (an internal error before this): the error is routed to each window's maximum,
    H_out x W_out x C_out = 6 x 8 = 48 MACC (formulas.max_pool_backward), found again in the pool's kept
    input; counted MACs and tracked bytes equal the analytic ones under the live accounting."""
    from conftest import run_cli

    pytest.importorskip("torch")
    path = tmp_path / "seq.tflite"
    path.write_bytes(_scaled_sequence())
    r = run_cli("verify", str(path), "-p", "bp", "--classes", "2", "--memory", "live", "-f", "json")
    assert r.returncode == 0, r.stderr
    import json

    checks = json.loads(r.stdout)["checks"]
    assert all(not c["unexplained"] for c in checks)


# --- --input-shape ---------------------------------------------------------------------------

def _keras_file(tmp_path, batch_input_shape):
    import copy

    import h5py

    tmp_path.mkdir(exist_ok=True)
    config = copy.deepcopy(KERAS2)
    config["config"]["layers"][0]["config"]["batch_input_shape"] = batch_input_shape
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
    return path


def test_keras_input_shape_fills_unknown_dimensions(tmp_path):
    """A fully convolutional Keras model saved with an unknown spatial size ([None, None, None, 2]) is
    refused with the way out, and costed at the size --input-shape gives. Hand derivation at 16x16:
    conv 3x3x2x4 same = 16*16*72 = 18,432 MACC; the dense layer's are independent of the size (8*3)."""
    path = _keras_file(tmp_path, [None, None, None, 2])
    with pytest.raises(learncost.LearncostError, match="input shape is unknown") as err:
        learncost.load_model(path)
    assert "--input-shape" in err.value.hint and "1,H,H,2" in err.value.hint
    m = learncost.load_model(path, input_shape=[1, 16, 16, 2])
    assert m.by_name["conv"].output_shape == (16, 16, 4) and m.by_name["fc"].output_shape == (3,)
    at_8 = learncost.load_model(_keras_file(tmp_path / "fixed", [None, 8, 8, 2]))
    assert learncost.load_model(path, input_shape=[1, 8, 8, 2]).by_name["sum"].output_shape == \
        at_8.by_name["sum"].output_shape
    a = learncost.analyze(m, procedures=["bp"], mcus=["disco-f746ng"])
    conv = next(lr for lr in a.layers if lr.name == "conv")
    assert conv.macc["forward"] == 16 * 16 * 3 * 3 * 2 * 4


def test_input_shape_rank_and_formats(tmp_path):
    path = _keras_file(tmp_path, [None, None, None, 2])
    with pytest.raises(learncost.LearncostError, match="3 dimensions .batch included., the model's input has 4"):
        learncost.load_model(path, input_shape=[1, 16, 16])
    tfl = tmp_path / "small.tflite"
    tfl.write_bytes(small_cnn())
    with pytest.raises(learncost.LearncostError, match="cannot resize a TFLite model"):
        learncost.load_model(tfl, input_shape=[1, 8, 8, 2])
    with pytest.raises(learncost.LearncostError, match="states its input shape"):
        learncost.load_model("kws", input_shape=[1, 49, 10, 1])


def test_tflite_dynamic_input_is_refused(tmp_path):
    """A converter writes placeholder shapes (1) for a dynamic input's dimensions: costing them would be
    silently wrong, so the file is refused with the way out."""
    import tflite

    from tflite_writer import TFLiteWriter, conv_options

    w = TFLiteWriter()
    x = w.dynamic(w.tensor("x", [1, 1, 1, 2]), [-1, -1, -1, 2])
    c = w.tensor("conv", [1, 1, 1, 4])
    w.op(tflite.BuiltinOperator.CONV_2D, [x, w.const("cw", [4, 3, 3, 2]), w.const("cb", [4], tflite.TensorType.INT32)],
         [c], conv_options())
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(w.bytes([x], [c]))
    with pytest.raises(learncost.LearncostError, match=r"dynamic dimensions \(shape signature \[-1, -1, -1, 2\]\)"):
        learncost.load_model(path)
    # a dynamic batch alone is the usual converter output and imports
    w.signatures[x] = [-1, 1, 1, 2]
    path.write_bytes(w.bytes([x], [c]))
    assert learncost.load_model(path, classes=4).by_name["input"].output_shape == (1, 1, 2)


def test_a_file_is_read_by_a_child_forked_after_the_spec_builder_is_imported(monkeypatch, tmp_path):
    """Every importer ends in the spec's validation and the IR's builder: imported in the parent before the fork,
    so that a forked child does not import pydantic again for each file (it did once `learncost paper` stopped
    loading pydantic: 150-230 ms a file instead of 21 ms, bench_import)."""
    from learncost import importers, safe_read

    seen = {}

    def capture(module, function, args, kwargs, *, what, timeout, preload=()):
        seen["preload"] = preload
        raise RuntimeError("captured")
    monkeypatch.setattr(safe_read, "run_isolated", capture)
    path = tmp_path / "m.tflite"
    path.write_bytes(b"")
    with pytest.raises(RuntimeError, match="captured"):
        importers.import_file(path)
    assert seen["preload"] == ("tflite", "numpy", "learncost.spec")
