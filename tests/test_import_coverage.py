"""Importers beyond the paper's kinds: constants in any form folded as weights, the new operators in
each format, nested and custom Keras layers, and --allow-unsupported on anything. Files are made
here (onnx's helper, the TFLite writer, Keras configurations, torch modules); the onnx wheel's own
test graphs are read where the installed package ships them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import learncost
from conftest import run_cli
from learncost.errors import LearncostError
from learncost.importers.common import ImportFailure
from tflite_writer import FLOAT32, INT32, TFLiteWriter, conv_options


def _forward(model) -> dict[str, int]:
    return {lr.name: lr.macc["forward"] for lr in learncost.analyze(model, ["bp"]).layers}


# -- ONNX ----------------------------------------------------------------------------------------

def _onnx(nodes, inits, x_shape, out="y", extra_outputs=(), opset=14):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in (out, *extra_outputs)]
    graph = helper.make_graph(nodes, "g", [x], outs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def _zeros(name, *shape):
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)


def _ints(name, values):
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def test_onnx_constants_in_any_form_are_weights(tmp_path):
    """Weights from ConstantOfShape (the onnx model zoo's light graphs), a Constant node, Identity and
    Transpose of an initializer: all weights, none a layer; a Mul and Add by per-channel constants after
    a convolution is batch normalization, folded."""
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper

    value = helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])
    nodes = [
        helper.make_node("ConstantOfShape", ["w1_shape"], ["w1"], value=value),
        helper.make_node("Constant", [], ["b1"], value=helper.make_tensor("b", TensorProto.FLOAT, [4], np.zeros(4))),
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c1", "scale"], ["bn1"]),
        helper.make_node("Add", ["bn1", "shift"], ["bn2"]),
        helper.make_node("Relu", ["bn2"], ["r1"]),
        helper.make_node("Identity", ["w2_raw"], ["w2"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"]),
        helper.make_node("GlobalAveragePool", ["c2"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["fl"]),
        helper.make_node("Transpose", ["w3_t"], ["w3"], perm=[1, 0]),
        helper.make_node("MatMul", ["fl", "w3"], ["y"]),
    ]
    inits = [_ints("w1_shape", [4, 3, 3, 3]), _zeros("scale", 4, 1, 1), _zeros("shift", 4, 1, 1),
             _zeros("w2_raw", 6, 4, 1, 1), _zeros("w3_t", 5, 6)]
    path = tmp_path / "constants.onnx"
    path.write_bytes(_onnx(nodes, inits, (1, 3, 8, 8)))
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape, lr.weights, lr.biases, lr.activation) for lr in m.layers[1:]] == [
        ("conv2d", (8, 8, 4), 3 * 3 * 3 * 4, 4, "relu"),  # the ReLU fuses once the scale and shift are folded
        ("conv2d", (8, 8, 6), 4 * 6, 0, None),
        ("avg_pool2d", (1, 1, 6), 0, 0, None),
        ("reshape", (6,), 0, 0, None),
        ("dense", (5,), 6 * 5, 0, None),
    ]
    assert any("batch normalization" in w for w in m.warnings)


def test_onnx_new_operators(tmp_path):
    """A grouped dilated convolution, squeeze-excitation (ReduceMean, Mul), HardSwish, PRelu, a channel
    Pad, Transpose, Slice, Split, Concat on H and MaxPool with ceil_mode, each checked against the shape
    onnx's own inference states (the importer refuses a disagreement)."""
    pytest.importorskip("onnx")
    from onnx import helper

    nodes = [
        helper.make_node("Conv", ["x", "wg"], ["g"], group=2, dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("HardSwish", ["g"], ["hs"]),
        helper.make_node("ReduceMean", ["hs"], ["sq"], axes=[2, 3], keepdims=1),
        helper.make_node("Conv", ["sq", "ws"], ["ex"]),
        helper.make_node("Sigmoid", ["ex"], ["sig"]),
        helper.make_node("Mul", ["hs", "sig"], ["se"]),
        helper.make_node("PRelu", ["se", "slope"], ["pr"]),
        helper.make_node("Pad", ["pr", "pads"], ["pc"]),
        helper.make_node("Transpose", ["pc"], ["tr"], perm=[0, 1, 3, 2]),
        helper.make_node("Slice", ["tr", "starts", "ends", "axes", "steps"], ["sl"]),
        helper.make_node("Split", ["sl"], ["s1", "s2"], axis=1),
        helper.make_node("Concat", ["s1", "s2"], ["cat"], axis=2),
        helper.make_node("MaxPool", ["cat"], ["y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    ]
    inits = [_zeros("wg", 8, 2, 3, 3), _zeros("ws", 8, 8, 1, 1), _zeros("slope", 8, 1, 1),
             _ints("pads", [0, 1, 0, 0, 0, 1, 0, 0]), _ints("starts", [1]), _ints("ends", [9]), _ints("axes", [3]),
             _ints("steps", [2])]
    path = tmp_path / "ops.onnx"
    path.write_bytes(_onnx(nodes, inits, (1, 4, 9, 9)))
    m = learncost.load_model(path)
    got = [(lr.kind, lr.output_shape) for lr in m.layers[1:]]
    assert got == [
        ("conv2d", (9, 9, 8)), ("activation", (9, 9, 8)), ("avg_pool2d", (1, 1, 8)), ("conv2d", (1, 1, 8)),
        ("mul", (9, 9, 8)), ("activation", (9, 9, 8)), ("pad", (9, 9, 10)), ("transpose", (9, 9, 10)),
        ("slice", (9, 4, 10)),  # NCHW axis 3 (the IR's W) from 1 to 9 by 2
        ("slice", (9, 4, 5)), ("slice", (9, 4, 5)), ("concat", (18, 4, 5)), ("max_pool2d", (9, 2, 5)),
    ]
    g = m.layers[1]
    assert (g.groups, g.dilation, g.weights) == (2, (2, 2), 3 * 3 * 2 * 8)
    assert m.layers[4].activation == "sigmoid"  # fused: its derivative follows from the output
    prelu = m.layers[6]
    assert (prelu.activation, prelu.weights) == ("prelu", 8)
    f = _forward(m)
    assert f[g.name] == 3 * 3 * 2 * 9 * 9 * 8  # H_ker W_ker (C_in / G) H_out W_out C_out
    assert f[m.layers[5].name] == 9 * 9 * 8  # the SE product: one multiply per output element


def _onnx_test_data() -> Path:
    onnx = pytest.importorskip("onnx")
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    if not (root / "light").is_dir():
        pytest.skip("this onnx wheel ships no backend test data")
    return root


@pytest.mark.parametrize("name", ["squeezenet", "vgg19", "resnet50", "inception_v2", "bvlc_alexnet", "zfnet512",
                                  "inception_v1", "densenet121", "shufflenet"])
def test_onnx_zoo_light_graphs_import_and_match_an_independent_count(name):
    """The onnx wheel's light model-zoo graphs store every weight as ConstantOfShape: they import
    without --allow-unsupported, and learncost's convolution and Gemm forward MACC equal a count made
    here from the graph itself (onnx's shape inference: output elements x C_in / group x kernel); so do
    the LRN layers' (AlexNet, ZFNet, Inception-v1): per output element the square, the size taps of the
    window sum, the scale and bias, the product by the power, (size + 3) x output elements. DenseNet's batch
    normalizations (BatchNormalization, then Mul and Add by its scale and shift) after a concatenation or a pool
    are batch_norm layers, 2 per element; those after a convolution fold into it, as before. ShuffleNet's grouped
    convolutions and 5-D channel shuffles import too."""
    import onnx
    from onnx import shape_inference

    path = _onnx_test_data() / "light" / f"light_{name}.onnx"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this onnx wheel")
    m = learncost.load_model(path)
    g = shape_inference.infer_shapes(onnx.load(path)).graph
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in [*g.value_info, *g.output]}
    init = {t.name: list(onnx.numpy_helper.to_array(t)) for t in g.initializer}
    dims = {n.output[0]: init[n.input[0]] for n in g.node if n.op_type == "ConstantOfShape"}  # weight shapes
    dims |= {name: shape for name, shape in shapes.items() if name not in dims}  # a weight reshaped (Inception-v1's)
    count = lrn = 0
    for node in g.node:
        if node.op_type == "LRN":
            size = next(a.i for a in node.attribute if a.name == "size")
            lrn += (size + 3) * math.prod(shapes[node.output[0]][1:])
        if node.op_type == "Conv":  # weight (C_out, C_in / group, kH, kW): each output reads C_in / group x kH x kW
            w = dims[node.input[1]]
            count += math.prod(shapes[node.output[0]][1:]) * w[1] * w[2] * w[3]
        elif node.op_type == "Gemm":
            w = dims[node.input[1]]
            count += w[0] * w[1]
    learn = sum(v for layer, v in _forward(m).items() if m.by_name[layer].kind in ("conv2d", "depthwise_conv2d",
                                                                                    "dense"))
    assert learn == count > 0
    assert sum(v for layer, v in _forward(m).items() if m.by_name[layer].kind == "lrn") == lrn
    assert (lrn > 0) == (name in ("bvlc_alexnet", "zfnet512", "inception_v1"))
    producer = {out: node for node in g.node for out in node.output}
    unfolded = 0
    for node in g.node:  # a Mul after a BatchNormalization that reads no Conv: scale and shift, 2 per element
        bn = producer.get(node.input[0])
        if node.op_type == "Mul" and bn is not None and bn.op_type == "BatchNormalization" and \
                producer[bn.input[0]].op_type != "Conv":
            unfolded += 2 * math.prod(shapes[node.output[0]][1:])
    assert sum(v for layer, v in _forward(m).items() if m.by_name[layer].kind == "batch_norm") == unfolded
    assert (unfolded > 0) == (name == "densenet121")


def test_onnx_test_data_never_crashes_with_allow_unsupported():
    """Every graph the onnx wheel ships imports with --allow-unsupported, or is refused with one of
    learncost's import errors (a scalar input, element types it does not size); nothing else escapes."""
    files = sorted(_onnx_test_data().rglob("*.onnx"))
    assert len(files) > 100
    imported = 0
    for path in files:
        try:
            learncost.load_model(path, allow_unsupported=True)
            imported += 1
        except LearncostError as exc:
            assert exc.code.startswith("LC-IMPORT"), (path, exc.line())
    assert imported >= 117  # 117 of the 149 graphs of onnx 1.23.2 (107 before graphs with several inputs)


def test_allow_unsupported_carries_any_unknown_operator(tmp_path):
    """Unknown operators reading only constants, with several outputs, or with no stated shape are
    each carried as a zero-cost layer and named in a warning."""
    pytest.importorskip("onnx")
    from onnx import helper

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"]),
        helper.make_node("Foo", ["c"], ["f1", "f2"], domain="custom.ops"),
        helper.make_node("Add", ["f1", "f2"], ["s"]),
        helper.make_node("Bar", ["k"], ["kk"], domain="custom.ops"),
        helper.make_node("Baz", ["s", "kk"], ["y"], domain="custom.ops"),
    ]
    import onnx
    from onnx import TensorProto

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[_zeros("w", 3, 2, 1, 1), _zeros("k", 3)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("custom.ops", 1)])
    path = tmp_path / "unknown.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ImportFailure) as err:
        learncost.load_model(path)
    assert "Foo (operator 1)" in err.value.line() and "Baz (operator 4)" in err.value.line()
    m = learncost.load_model(path, allow_unsupported=True)
    assert [lr.kind for lr in m.layers[1:]] == ["conv2d", "opaque", "add", "opaque"]
    assert m.layers[-1].output_shape == (4, 4, 3)  # no stated shape: its input's
    assert sum("is not costed" in w for w in m.warnings) == 2  # Bar computes from constants: a weight


# -- TFLite --------------------------------------------------------------------------------------



def test_tflite_float16_weights_decoded_by_dequantize(tmp_path):
    """MediaPipe's graphs store float16 weights that DEQUANTIZE decodes before the convolution reads
    them: the weights are the stored constant (2 bytes each), the decoder no layer."""
    import tflite

    B, FLOAT16 = tflite.BuiltinOperator, tflite.TensorType.FLOAT16
    w = TFLiteWriter()
    x = w.tensor("x", [1, 6, 6, 4], FLOAT32)
    w16 = w.tensor("w16", [8, 3, 3, 2], FLOAT16, bytes(2 * 8 * 3 * 3 * 2))
    b16 = w.tensor("b16", [8], FLOAT16, bytes(16))
    wf = w.tensor("w", [8, 3, 3, 2], FLOAT32)
    bf = w.tensor("b", [8], FLOAT32)
    w.op(B.DEQUANTIZE, [w16], [wf])
    w.op(B.DEQUANTIZE, [b16], [bf])
    c = w.tensor("conv", [1, 6, 6, 8], FLOAT32)
    w.op(B.CONV_2D, [x, wf, bf], [c], conv_options(activation=0))  # grouped: filters read 2 of 4 channels
    hs = w.tensor("hs", [1, 6, 6, 8], FLOAT32)
    w.op(B.HARD_SWISH, [c], [hs])
    m8 = w.tensor("mean", [1, 1, 1, 8], FLOAT32)
    w.op(B.MEAN, [hs, w.int32("axes", [1, 2])], [m8])
    se = w.tensor("se", [1, 6, 6, 8], FLOAT32)
    w.op(B.MUL, [hs, m8], [se])
    tr = w.tensor("tr", [1, 8, 6, 6], FLOAT32)
    w.op(B.TRANSPOSE, [se, w.int32("perm", [0, 3, 1, 2])], [tr])
    sl = w.tensor("sl", [1, 4, 6, 3], FLOAT32)
    w.op(B.STRIDED_SLICE, [tr, w.int32("b", [0, 0, 0, 0]), w.int32("e", [1, 4, 6, 6]), w.int32("s", [1, 1, 1, 2])],
         [sl])
    path = tmp_path / "mediapipe_like.tflite"
    path.write_bytes(w.bytes([x], [sl]))
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("conv2d", (6, 6, 8)), ("activation", (6, 6, 8)), ("avg_pool2d", (1, 1, 8)), ("mul", (6, 6, 8)),
        ("transpose", (8, 6, 6)), ("slice", (4, 6, 3))]
    conv = m.layers[1]
    assert (conv.groups, conv.weights, conv.weight_dtype, conv.bias_dtype) == (2, 3 * 3 * 2 * 8, "float16", "float16")
    assert conv.params_bytes == (3 * 3 * 2 * 8 + 8) * 2
    assert _forward(m)[conv.name] == 3 * 3 * 2 * 6 * 6 * 8


# -- Keras ---------------------------------------------------------------------------------------

def _layer(name, cls, cfg, inbound=None, **extra):
    entry = {"class_name": cls, "name": name, "config": {"name": name, **cfg}, **extra}
    if inbound is not None:
        entry["inbound_nodes"] = [[[i, 0, 0, {}] for i in inbound]]
    return entry


def _h5(tmp_path, config, name="m.h5"):
    import h5py

    path = tmp_path / name
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
    return path


def test_keras_nested_sequential_and_multiply(tmp_path):
    block = {"class_name": "Sequential", "name": "block", "config": {"name": "block", "layers": [
        {"class_name": "InputLayer", "config": {"name": "bin", "batch_input_shape": [None, 8, 8, 4]}},
        {"class_name": "Conv2D", "config": {"name": "conv", "filters": 4, "kernel_size": 3, "strides": 1,
                                            "padding": "same", "activation": "relu", "groups": 2}},
        {"class_name": "Activation", "config": {"name": "sw", "activation": "swish"}},
    ]}, "inbound_nodes": [[["in", 0, 0, {}]]]}
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        _layer("in", "InputLayer", {"batch_input_shape": [None, 8, 8, 4]}, []),
        block,
        _layer("gap", "GlobalAveragePooling2D", {"keepdims": True}, ["block"]),
        _layer("scale", "Multiply", {}, ["block", "gap"]),
        _layer("flat", "Flatten", {}, ["scale"]),
        _layer("fc", "Dense", {"units": 3, "activation": "softmax"}, ["flat"]),
    ]}}
    m = learncost.load_model(_h5(tmp_path, config))
    assert [(lr.name, lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("block_conv", "conv2d", (8, 8, 4)), ("block_sw", "activation", (8, 8, 4)), ("gap", "avg_pool2d", (1, 1, 4)),
        ("scale", "mul", (8, 8, 4)), ("flat", "reshape", (256,)), ("fc", "dense", (3,)),
        ("fc_softmax", "softmax", (3,))]
    conv = m.by_name["block_conv"]
    assert conv.groups == 2 and conv.weights == 3 * 3 * 2 * 4 and m.by_name["block_sw"].activation == "silu"
    assert m.by_name["scale"].inputs == ("block_sw", "gap")


def test_keras_custom_layer_refused_by_name(tmp_path):
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 4, 4, 2]}},
        {"class_name": "MyAttention", "config": {"name": "att"}, "module": "my_project.layers",
         "registered_name": "Custom>MyAttention"},
        {"class_name": "Flatten", "config": {"name": "flat"}},
    ]}}
    path = _h5(tmp_path, config, "custom.h5")
    out = run_cli("analyze", str(path))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    line = out.stderr.strip()
    assert "custom Keras layer(s) MyAttention (att)" in line and "spec" in line and "LC-IMPORT-UNSUPPORTED-OP" in line
    m = learncost.load_model(path, allow_unsupported=True)
    assert [lr.kind for lr in m.layers[1:]] == ["opaque", "reshape"]
    assert any("MyAttention" in w for w in m.warnings)


# -- PyTorch -------------------------------------------------------------------------------------

def test_torch_functional_forms_and_new_modules_execute_as_counted():
    torch = pytest.importorskip("torch")
    from torch import nn
    from torch.nn import functional as F

    from learncost.verify import verify

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.group = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
            self.act = nn.SiLU()
            self.fc1 = nn.Conv2d(8, 4, 1)
            self.fc2 = nn.Conv2d(4, 8, 1)
            self.pool = nn.AvgPool2d(2, ceil_mode=True)
            self.head = nn.Linear(8 * 2 * 2, 5)

        def forward(self, x):
            x = self.act(self.group(torch.relu(self.stem(x))))
            s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
            x = x * s
            x = F.adaptive_avg_pool2d(self.pool(x), 2)
            return torch.softmax(self.head(torch.flatten(x, 1)), 1)

    m = learncost.from_torch(Net(), (1, 3, 7, 7))
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("conv2d", (7, 7, 8)), ("conv2d", (7, 7, 8)), ("activation", (7, 7, 8)), ("avg_pool2d", (1, 1, 8)),
        ("conv2d", (1, 1, 4)), ("conv2d", (1, 1, 8)), ("mul", (7, 7, 8)), ("avg_pool2d", (4, 4, 8)),
        ("avg_pool2d", (2, 2, 8)), ("reshape", (32,)), ("dense", (5,)), ("softmax", (5,))]
    assert m.layers[2].groups == 4 and m.layers[2].dilation == (2, 2) and m.layers[8].padding == (0, 1, 0, 1)
    v = verify(m, setup="int8-fp32grad")
    assert v.unexplained == []
    for c in v.checks:
        assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)


def test_torch_channel_shuffle_chunks_single_cat_and_stochastic_depth():
    """ShuffleNet v2 (chunk into two branches, channel shuffle through a 5-D view), DenseNet (a cat of a one-tensor
    list) and EfficientNet (stochastic depth) idioms, written as torchvision writes them (``torch_nets``), import
    with no opaque layer; the forward MACC equal PyTorch's own count; the IR's shuffle moves each value where
    PyTorch's does; verify counts every operation of backpropagation as analysed."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    from learncost.torch_build import build_module
    from learncost.verify import verify
    from torch_nets import ShuffleDenseNet, channel_shuffle

    net = ShuffleDenseNet().eval()
    m = learncost.from_torch(net, (1, 3, 6, 6))
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("conv2d", (6, 6, 8)), ("slice", (6, 6, 4)), ("slice", (6, 6, 4)), ("conv2d", (6, 6, 4)),
        ("depthwise_conv2d", (6, 6, 4)), ("conv2d", (6, 6, 4)), ("concat", (6, 6, 8)), ("reshape", (6, 6, 2, 4)),
        ("transpose", (6, 6, 4, 2)), ("reshape", (6, 6, 8)), ("conv2d", (6, 6, 8)), ("add", (6, 6, 8)),
        ("avg_pool2d", (1, 1, 8)), ("reshape", (8,)), ("dense", (5,))]
    x1, x2 = m.layers[2:4]
    assert (x1.attr("begin"), x1.attr("end"), x2.attr("begin"), x2.attr("end")) == (
        (0, 0, 0), (6, 6, 4), (0, 0, 4), (6, 6, 8))
    assert m.layers[9].attr("perm") == (0, 1, 3, 2)
    assert not any("unsupported" in w for w in m.warnings)
    assert any("stochastic depth" in w for w in m.warnings)
    # by hand: stem 6*6*8*27 = 7,776; branch 576 + 1,296 + 576; dense 1x1 6*6*8*8 = 2,304; head 40; the residual
    # add and the global pool one per element each (6*6*8 = 288); the slices, the shuffle and the cat none
    forward = _forward(m)
    assert sum(forward.values()) == 7_776 + 576 + 1_296 + 576 + 2_304 + 40 + 288 + 288 == 13_144
    products = sum(v for lr, v in zip(m.layers, forward.values()) if lr.kind in ("conv2d", "depthwise_conv2d", "dense"))
    with FlopCounterMode(display=False) as flops:  # convolutions and matrix products only
        net(torch.zeros(1, 3, 6, 6))
    assert products == flops.get_total_flops() // 2 == 12_568
    built = build_module(m)
    x = torch.arange(8 * 36, dtype=torch.float32).reshape(1, 8, 6, 6)
    shuffled = x
    for layer in m.layers[8:11]:
        shuffled = built.run_layer(layer, [shuffled])[1]
    assert torch.equal(shuffled, channel_shuffle(x, 2))
    v = verify(m, setup="int8-fp32grad")
    assert v.unexplained == []
    for c in v.checks:
        assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)


def test_onnx_channel_shuffle_and_ranks_beyond_the_ir(tmp_path):
    """The ONNX export of a channel shuffle (Reshape to 5-D, Transpose [0, 2, 1, 3, 4], Reshape back) is the
    torch path's three layers; a Softmax over a 6-D tensor and a 6-D Transpose have no IR layout: carried as
    unsupported (they were reported as a malformed graph, a KeyError)."""
    from onnx import helper

    nodes = [helper.make_node("Reshape", ["x", "s5"], ["v"]),
             helper.make_node("Transpose", ["v"], ["t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "s4"], ["y"])]
    path = tmp_path / "shuffle.onnx"
    path.write_bytes(_onnx(nodes, [_ints("s5", [1, 2, 4, 6, 6]), _ints("s4", [1, 8, 6, 6])], (1, 8, 6, 6)))
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("reshape", (6, 6, 2, 4)), ("transpose", (6, 6, 4, 2)), ("reshape", (6, 6, 8))]
    assert m.layers[2].attr("perm") == (0, 1, 3, 2)

    nodes = [helper.make_node("Reshape", ["x", "s5"], ["v"]), helper.make_node("Softmax", ["v"], ["w"], axis=-1),
             helper.make_node("Reshape", ["w", "s6"], ["u"]), helper.make_node("Softmax", ["u"], ["z"], axis=-1),
             helper.make_node("Transpose", ["z"], ["t"], perm=[0, 1, 3, 2, 4, 5]),
             helper.make_node("Reshape", ["t", "s4"], ["y"])]
    inits = [_ints("s5", [1, 2, 4, 6, 6]), _ints("s6", [1, 2, 4, 2, 3, 6]), _ints("s4", [1, 8, 6, 6])]
    path.write_bytes(_onnx(nodes, inits, (1, 8, 6, 6)))
    with pytest.raises(ImportFailure, match=r"Softmax \(axis 5 of a rank-6 tensor\).*Transpose \(perm \[0, 1, 3, 2, 4, 5\]\)"):
        learncost.load_model(path)
    m = learncost.load_model(path, allow_unsupported=True)
    # the 5-D softmax runs along W, the IR's axis 1
    assert [lr.kind for lr in m.layers[1:]] == ["reshape", "softmax", "reshape", "opaque", "opaque", "reshape"]
    assert m.layers[2].attr("axis") == 1

    # the same weights at each of 4 positions (MaxViT's): no dense, which reads its input whole; carried at the
    # output shape ONNX states, so that what follows is sized right (a Split after it was refused as malformed)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["p"]), helper.make_node("Split", ["p"], ["y", "z"], axis=2)]
    path.write_bytes(_onnx(nodes, [_zeros("w", 6, 4)], (1, 4, 6), extra_outputs=("z",), opset=13))
    with pytest.raises(ImportFailure, match=r"MatMul by constant weights at each position of a rank-3 tensor"):
        learncost.load_model(path)
    m = learncost.load_model(path, allow_unsupported=True)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [("opaque", (1, 4, 4)), ("opaque", (1, 2, 4))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]  # one position: the dense it is
    path.write_bytes(_onnx(nodes, [_zeros("w", 6, 4)], (1, 1, 6)))
    assert [(lr.kind, lr.output_shape) for lr in learncost.load_model(path).layers[1:]] == [("dense", (4,))]


def test_depth_to_space_in_every_format(tmp_path):
    """TFLite DEPTH_TO_SPACE / SPACE_TO_DEPTH (channels ordered b, b, C), ONNX DepthToSpace (DCR and CRD) and
    SpaceToDepth, PyTorch's pixel shuffle and unshuffle (C, b, b): a reshape to rank 5, a transpose (the copy, no
    MACC) and a reshape; each value lands where PyTorch's own operator puts it; verify counts every operation and
    byte of backpropagation through them."""
    torch = pytest.importorskip("torch")
    import tflite
    from onnx import helper
    from torch import nn

    from learncost.torch_build import build_module
    from learncost.verify import verify
    from tflite_writer import FLOAT32, TFLiteWriter, block_options

    def steps(m):
        return [(lr.kind, lr.output_shape, lr.attr("perm")) for lr in m.layers[1:]]

    dcr = [("reshape", (4, 6, 2, 2, 3), None), ("transpose", (4, 2, 6, 2, 3), (0, 2, 1, 3, 4)),
           ("reshape", (8, 12, 3), None)]
    crd = [("reshape", (4, 6, 3, 2, 2), None), ("transpose", (4, 2, 6, 2, 3), (0, 3, 1, 4, 2)),
           ("reshape", (8, 12, 3), None)]
    w = TFLiteWriter()
    tx, ty = w.tensor("x", [1, 4, 6, 12], FLOAT32), w.tensor("y", [1, 8, 12, 3], FLOAT32)
    w.op(tflite.BuiltinOperator.DEPTH_TO_SPACE, [tx], [ty], block_options(2))
    (tmp_path / "d2s.tflite").write_bytes(w.bytes([tx], [ty]))
    assert steps(learncost.load_model(tmp_path / "d2s.tflite")) == dcr
    w = TFLiteWriter()
    tx, ty = w.tensor("x", [1, 8, 12, 3], FLOAT32), w.tensor("y", [1, 4, 6, 12], FLOAT32)
    w.op(tflite.BuiltinOperator.SPACE_TO_DEPTH, [tx], [ty], block_options(2, to_depth=True))
    (tmp_path / "s2d.tflite").write_bytes(w.bytes([tx], [ty]))
    assert steps(learncost.load_model(tmp_path / "s2d.tflite")) == [
        ("reshape", (4, 2, 6, 2, 3), None), ("transpose", (4, 6, 2, 2, 3), (0, 2, 1, 3, 4)), ("reshape", (4, 6, 12), None)]
    for mode, expected in (("DCR", dcr), ("CRD", crd)):
        path = tmp_path / f"d2s_{mode}.onnx"
        path.write_bytes(_onnx([helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode=mode)], [],
                               (1, 12, 4, 6)))
        assert steps(learncost.load_model(path)) == expected
    (tmp_path / "s2d.onnx").write_bytes(_onnx([helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2)], [],
                                              (1, 3, 8, 12)))
    assert [lr.output_shape for lr in learncost.load_model(tmp_path / "s2d.onnx").layers[1:]] == [
        (4, 2, 6, 2, 3), (4, 6, 2, 2, 3), (4, 6, 12)]
    with pytest.raises(ImportFailure, match="block size 5 does not divide the input's 12 channels"):
        (tmp_path / "bad.onnx").write_bytes(_onnx([helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=5)], [],
                                                  (1, 12, 4, 6)))
        learncost.load_model(tmp_path / "bad.onnx")

    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2), nn.Conv2d(3, 4, 3, padding=1),
                        nn.PixelUnshuffle(2), nn.Flatten(), nn.Linear(16 * 4 * 6, 5))
    m = learncost.from_torch(net, (1, 3, 4, 6))
    assert steps(m)[1:4] == crd
    # by hand: 4*6*12*27 = 7,776; 8*12*4*27 = 10,368; 384*5 = 1,920; the rearrangements none
    assert sum(_forward(m).values()) == 7_776 + 10_368 + 1_920
    built = build_module(m)
    x = torch.arange(12 * 24, dtype=torch.float32).reshape(1, 12, 4, 6)
    for layer in m.layers[2:5]:
        x = built.run_layer(layer, [x])[1]
    assert torch.equal(x, torch.nn.functional.pixel_shuffle(torch.arange(12 * 24, dtype=torch.float32).reshape(
        1, 12, 4, 6), 2))
    v = verify(m, setup="int8-fp32grad")
    assert v.unexplained == []
    for c in v.checks:
        assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)


def test_onnx_batch_of_one_folded_away(tmp_path):
    """torch.onnx.export with a batch of one may fold the batch away: a Reshape to [16] of a (1, 4, 2, 2) input (the
    classifier of ConvNeXt's and Swin's exports). After an input with a batch of one, that is the one sample's 16
    values, as [1, 16] would say; it was refused as 'without a batch axis'. A graph whose batch is not one still
    is."""
    from onnx import helper

    nodes = [helper.make_node("Reshape", ["x", "s"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["y"])]
    path = tmp_path / "folded.onnx"
    path.write_bytes(_onnx(nodes, [_ints("s", [16]), _zeros("w", 16, 3)], (1, 4, 2, 2)))
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [("reshape", (16,)), ("dense", (3,))]
    assert _forward(m)["matmul_1"] == 16 * 3
    path.write_bytes(_onnx(nodes, [_ints("s", [32]), _zeros("w", 32, 3)], (2, 4, 2, 2)))
    with pytest.raises(ImportFailure, match="without a batch axis"):
        learncost.load_model(path)
    # the batch folded into the first axis (Swin's windows): (4, 2, 2) holds the sample's 16 values; an operator
    # reading its axes batch-first would misread them: unsupported, named; a reshape back reads them whole
    nodes = [helper.make_node("Reshape", ["x", "s"], ["w4"]), helper.make_node("Transpose", ["w4"], ["t"], perm=[1, 0, 2]),
             helper.make_node("Reshape", ["t", "s2"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["y"])]
    path.write_bytes(_onnx(nodes, [_ints("s", [4, 2, 2]), _ints("s2", [1, 16]), _zeros("w", 16, 3)], (1, 4, 2, 2)))
    with pytest.raises(ImportFailure, match=r"Transpose \(on a tensor whose batch is folded into its first axis\)"):
        learncost.load_model(path)
    m = learncost.load_model(path, allow_unsupported=True)
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:]] == [
        ("reshape", (2, 2, 4)), ("opaque", (4, 2, 2)), ("reshape", (16,)), ("dense", (3,))]


def test_several_inputs_and_several_outputs(tmp_path):
    """A Keras model with two inputs is two input layers (test_several_inputs.py: every format). Of several
    outputs the IR follows the last layer's, and a warning says so."""
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        _layer("a", "InputLayer", {"batch_input_shape": [None, 4]}, []),
        _layer("b", "InputLayer", {"batch_input_shape": [None, 4]}, []),
        _layer("s", "Add", {}, ["a", "b"]),
    ]}}
    m = learncost.load_model(_h5(tmp_path, config, "two.h5"))
    assert [(lr.name, lr.kind) for lr in m.layers] == [("input", "input"), ("b", "input"), ("s", "add")]
    assert m.by_name["s"].inputs == ("input", "b") and _forward(m) == {"input": 0, "b": 0, "s": 4}
    pytest.importorskip("onnx")
    from onnx import helper

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["aux"]),
             helper.make_node("GlobalAveragePool", ["c"], ["y"])]
    path = tmp_path / "two_outputs.onnx"
    path.write_bytes(_onnx(nodes, [_zeros("w", 3, 2, 1, 1)], (1, 2, 4, 4), extra_outputs=("aux",)))
    m = learncost.load_model(path)
    assert m.output.kind == "avg_pool2d"
    assert any("the graph has 2 outputs (y, aux)" in w for w in m.warnings)


# -- nearest resize in every importer ----------------------------------------------------------------

def test_nearest_resize_in_every_format(tmp_path):
    """TFLite RESIZE_NEAREST_NEIGHBOR, ONNX Resize, Keras UpSampling2D, torch nn.Upsample and F.interpolate:
    whole factors become a resize layer ((4, 4, C) -> (8, 12, C): scale [2, 3]); corners aligned, a bicubic
    mode or a factor that is not whole stay opaque, named in the warning (bilinear: tests/test_more_kinds.py)."""
    import tflite

    B = tflite.BuiltinOperator
    w = TFLiteWriter()
    x = w.tensor("x", [1, 4, 4, 2], FLOAT32)
    y = w.tensor("y", [1, 8, 12, 2], FLOAT32)
    w.op(B.RESIZE_NEAREST_NEIGHBOR, [x, w.int32("size", [8, 12])], [y])
    z = w.tensor("z", [1, 16, 24, 2], FLOAT32)

    def corners(b):
        tflite.ResizeNearestNeighborOptionsStart(b)
        tflite.ResizeNearestNeighborOptionsAddAlignCorners(b, True)
        return tflite.ResizeNearestNeighborOptionsEnd(b)

    w.op(B.RESIZE_NEAREST_NEIGHBOR, [y, w.int32("size2", [16, 24])], [z],
         (tflite.BuiltinOptions.ResizeNearestNeighborOptions, corners))
    path = tmp_path / "up.tflite"
    path.write_bytes(w.bytes([x], [z]))
    m = learncost.load_model(path, allow_unsupported=True)
    assert [(lr.kind, lr.output_shape, lr.attr("scale")) for lr in m.layers[1:]] == [
        ("resize", (8, 12, 2), (2, 3)), ("opaque", (16, 24, 2), None)]
    assert any("align_corners" in warning for warning in m.warnings)

    from onnx import helper

    scales = helper.make_tensor("scales", 1, [4], [1.0, 1.0, 2.0, 3.0])
    onnx_path = tmp_path / "up.onnx"
    onnx_path.write_bytes(_onnx([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")], [scales],
                                (1, 2, 4, 4), opset=13))
    m = learncost.load_model(onnx_path)
    assert [(lr.kind, lr.output_shape, lr.attr("scale")) for lr in m.layers[1:]] == [("resize", (8, 12, 2), (2, 3))]
    onnx_path.write_bytes(_onnx([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic")], [scales],
                                (1, 2, 4, 4), opset=13))
    assert learncost.load_model(onnx_path, allow_unsupported=True).layers[1].kind == "opaque"  # bilinear: its own test

    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 4, 4, 2]}},
        {"class_name": "UpSampling2D", "config": {"name": "up", "size": [2, 3], "interpolation": "nearest"}},
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": 1, "strides": 1,
                                            "padding": "valid", "activation": "linear"}},
    ]}}
    m = learncost.load_model(_h5(tmp_path, config))
    assert [(lr.kind, lr.output_shape) for lr in m.layers[1:3]] == [("resize", (8, 12, 2)), ("conv2d", (8, 12, 2))]

    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Functional(nn.Module):
        def forward(self, x):
            return nn.functional.interpolate(x, scale_factor=(2, 3), mode="nearest")

    for module in (nn.Upsample(scale_factor=(2, 3)), Functional()):
        m = learncost.from_torch(module, (1, 2, 4, 4))
        assert [(lr.kind, lr.output_shape, lr.attr("scale")) for lr in m.layers[1:]] == [("resize", (8, 12, 2), (2, 3))]
    bicubic = learncost.from_torch(nn.Upsample(scale_factor=2, mode="bicubic"), (1, 2, 4, 4), allow_unsupported=True)
    assert bicubic.layers[1].kind == "opaque" and any("bicubic" in warning for warning in bicubic.warnings)


def test_attention_products_and_softmax_axes(tmp_path):
    """TFLite (channels last, as the IR): BATCH_MATMUL of two activations and a softmax over the keys, 6 tokens
    of 8 features: scores (6, 6) of 8 MACs each, 288, then (6, 8) of 6, 288. ONNX and PyTorch read a 3-D
    tensor as (N, C, L), the IR's (1, L, C): their A B is the IR's B A, with the same counts (and the softmax
    over the keys, ONNX's last axis, is along the IR's axis 1); a product of 4-D activations stays opaque,
    named with the way out (a spec); an ONNX softmax over the channels of an image is along the IR's last."""
    import tflite

    B = tflite.BuiltinOperator
    w = TFLiteWriter()
    x = w.tensor("x", [1, 6, 8], FLOAT32)
    b = w.tensor("b", [1, 8, 6], FLOAT32)
    w.op(B.RESHAPE, [x, w.int32("shape", [1, 8, 6])], [b])
    s = w.tensor("s", [1, 6, 6], FLOAT32)
    w.op(B.BATCH_MATMUL, [x, b], [s])
    sm = w.tensor("w", [1, 6, 6], FLOAT32)
    w.op(B.SOFTMAX, [s], [sm])
    y = w.tensor("y", [1, 6, 8], FLOAT32)
    w.op(B.BATCH_MATMUL, [sm, x], [y])
    path = tmp_path / "att.tflite"
    path.write_bytes(w.bytes([x], [y]))
    m = learncost.load_model(path)
    kinds = [(lr.kind, lr.output_shape) for lr in m.layers if lr.kind in ("matmul", "softmax")]
    assert kinds == [("matmul", (6, 6)), ("softmax", (6, 6)), ("matmul", (6, 8))]
    assert [v for k, v in _forward(m).items() if m.by_name[k].kind == "matmul"] == [288, 288]

    from onnx import helper

    # ONNX and PyTorch 3-D tensors (N, n, k) are the IR's (1, k, n): A B is the IR's B A, the same MACs
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Reshape", ["x", "shape"], ["b"]),
             helper.make_node("MatMul", ["a", "b"], ["s"]), helper.make_node("Softmax", ["s"], ["w"], axis=-1),
             helper.make_node("MatMul", ["w", "a"], ["y"])]
    path = tmp_path / "att.onnx"
    path.write_bytes(_onnx(nodes, [_ints("shape", [1, 8, 6])], (1, 6, 8)))
    m = learncost.load_model(path)
    kinds = [(lr.kind, lr.output_shape, lr.attr("axis")) for lr in m.layers if lr.kind in ("matmul", "softmax")]
    assert kinds == [("matmul", (1, 6, 6), None), ("softmax", (1, 6, 6), 1), ("matmul", (1, 8, 6), None)]
    assert [v for k, v in _forward(m).items() if m.by_name[k].kind == "matmul"] == [288, 288]
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("MatMul", ["a", "x"], ["y"])]
    path.write_bytes(_onnx(nodes, [], (1, 2, 6, 6)))
    m = learncost.load_model(path, allow_unsupported=True)
    assert m.layers[-1].kind == "opaque" and any("kind matmul" in warning for warning in m.warnings)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Softmax", ["c"], ["y"], axis=1)]
    path.write_bytes(_onnx(nodes, [_zeros("w", 4, 3, 1, 1)], (1, 3, 5, 5), opset=13))
    assert [(lr.kind, lr.attr("axis")) for lr in learncost.load_model(path).layers[-1:]] == [("softmax", None)]

    torch = pytest.importorskip("torch")

    class Attention(torch.nn.Module):
        def forward(self, x):
            return torch.softmax(x @ x.reshape(1, 8, 6), dim=-1) @ x

    m = learncost.from_torch(Attention(), (1, 6, 8))
    assert [(lr.kind, lr.output_shape) for lr in m.layers if lr.kind == "matmul"] == [("matmul", (1, 6, 6)),
                                                                                    ("matmul", (1, 8, 6))]
    assert [v for k, v in _forward(m).items() if m.by_name[k].kind == "matmul"] == [288, 288]
