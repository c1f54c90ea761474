"""Issue 13's operators: local response normalization (``lrn``), bilinear resize (``resize`` with ``method:
bilinear``), batch normalization left unfolded (``batch_norm``) and embedding lookup (``embedding``). Each formula
against a hand derivation on small shapes; each kind executed by ``verify`` under bp (counted forward, dX and dW
equal the analytic figures, the schedule holds the tracked bytes); the hand-written backward against autograd;
importer round trips from files made here; the onnx wheel's model-zoo graphs these operators unblock."""

from __future__ import annotations


import pytest

import learncost
from learncost.errors import SpecError
from learncost.spec import build_model, validate_spec


def _model(layers, shape, task="classification", dtype=None):
    spec = {"name": "t", "task": task, "input": {"shape": list(shape)}, "layers": layers}
    if dtype:
        spec["input"]["dtype"] = dtype
    return build_model(validate_spec(spec))


def _macc(model, setup="int8-fp32grad"):
    ops = ("forward", "backward", "weight_update", "bias_gradient")
    a = learncost.analyze(model, ["bp"], setup=setup)
    return {lr.name: {k: v for k, v in lr.macc.items() if v and k in ops} for lr in a.layers}


def _verify_bp(model, setup="int8-fp32grad"):
    """verify under bp: every counted operation equals the analytic one, the schedule holds the tracked bytes.
    Returns the counted MACs of the bp training step by layer and operation."""
    pytest.importorskip("torch")
    from learncost.verify import verify

    v = verify(model, ["bp"], setup=setup)
    assert v.unexplained == []
    for c in v.checks:
        for o in c.operations:
            assert o.counted == o.analytic, (c.procedure, c.phase, o.operation, o.counted, o.analytic)
        assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes
    return v


def _gradients_match_autograd(monkeypatch, model):
    pytest.importorskip("torch")
    from test_verify_setups import gradients_match_autograd

    return gradients_match_autograd(monkeypatch, model)


# -- local response normalization ---------------------------------------------------------------------

LRN = [  # AlexNet's order: convolution, ReLU, LRN, then on; an even window (4) to exercise the asymmetric one
    {"name": "c1", "kind": "conv2d", "filters": 6, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "n1", "kind": "lrn", "size": 4, "alpha": 1e-2, "beta": 0.75, "k": 2.0},
    {"name": "c2", "kind": "conv2d", "filters": 4, "kernel": 1},
    {"name": "n2", "kind": "lrn", "size": 5},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "fc", "kind": "dense", "units": 3},
    {"name": "softmax", "kind": "softmax"},
]


def test_lrn_shapes_and_formulas():
    """(5, 5, 3) -> c1 (5, 5, 6) -> n1, window 4: E = 5 * 5 * 6 = 150. Forward: a^2 (150), the window sums
    (4 taps x 150 = 600), k + alpha / n sum (150), a s^-beta (150): (4 + 3) x 150 = 1,050. Backward from the kept
    input: s again (150 + 600 + 150 = 900), g s^-beta (150), g a s^(-beta-1) (300), its window sums (600), times a
    (150), the scaled subtraction (150): (2 x 4 + 7) x 150 = 2,250. n2 on (5, 5, 4), window 5 (the defaults
    alpha 1e-4, beta 0.75, k 1): E = 100, forward 8 x 100 = 800, backward 17 x 100 = 1,700. No parameters."""
    m = _model(LRN, (5, 5, 3))
    n1, n2 = m.by_name["n1"], m.by_name["n2"]
    assert n1.output_shape == (5, 5, 6) and (n1.weights, n1.biases, n1.has_weights) == (0, 0, False)
    assert n2.attrs == (("size", 5), ("alpha", 1e-4), ("beta", 0.75), ("k", 1.0))
    f = _macc(m)
    assert f["n1"] == {"forward": 1_050, "backward": 2_250}
    assert f["n2"] == {"forward": 800, "backward": 1_700}
    with pytest.raises(SpecError, match="feature map"):
        _model([{"kind": "dense", "units": 4}, {"kind": "lrn", "size": 3}], (5, 5, 3))
    with pytest.raises(SpecError, match="positive number"):
        _model([{"kind": "lrn", "size": 3, "beta": -1}], (5, 5, 3))


def test_lrn_executes_as_counted_and_matches_pytorch():
    """The executor's LRN is PyTorch's nn.LocalResponseNorm (odd window: the same channels around c); verify under
    bp counts the analytic forward and dX of both LRN layers, and the backward passes through them to c1."""
    torch = pytest.importorskip("torch")
    from learncost.torch_build import build_module

    m = _model(LRN, (5, 5, 3))
    net = build_module(m)
    x = torch.rand(2, 4, 5, 5) + 0.5
    ours = net.run_layer(m.by_name["n2"], [x])[1]
    assert torch.allclose(ours, torch.nn.LocalResponseNorm(5)(x), rtol=1e-5, atol=1e-6)
    v = _verify_bp(m)
    counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
    # dX: n1 2,250 + c2 (1 x 1 x 6 x 5 x 5 x 4 = 600) + n2 1,700 + the mean (100) + fc (4 x 3 = 12); c1 none
    assert counted["backward"] == 2_250 + 600 + 1_700 + 100 + 12 == 4_662


def test_lrn_backward_matches_autograd(monkeypatch):
    """The hand-written J^T g through the window (the even window transposed) gives autograd's gradients."""
    assert _gradients_match_autograd(monkeypatch, _model(LRN, (5, 5, 3))) == 6  # c1, c2, fc: weight and bias


def test_lrn_tangent_costs_the_backward():
    """J t through an LRN costs its J^T g, (2 n + 7) E (the same terms in another order): the forward gradient
    executes as counted."""
    pytest.importorskip("torch")
    from learncost.evaluate import Evaluator
    from learncost.verify import verify

    m = _model(LRN, (5, 5, 3))
    ev = Evaluator(m, "int8-fp32grad")
    tangents = {layer.name: c["tangent"] for layer, c in zip(m.layers, ev.costs)}
    assert (tangents["n1"], tangents["n2"]) == (2_250, 1_700)
    v = verify(m, ["forward-gradient"], setup="int8-fp32grad")
    assert v.unexplained == [] and all(o.counted == o.analytic for c in v.checks for o in c.operations)


def test_lrn_import_in_every_format(tmp_path):
    """ONNX LRN (alpha as the IR's), TFLite LOCAL_RESPONSE_NORMALIZATION (radius 2 -> window 5, its alpha times
    the window: 2e-5 x 5 = 1e-4), torch nn.LocalResponseNorm: an lrn layer of 8 x (6 x 6 x 4) = 1,152 MACC."""
    pytest.importorskip("onnx")
    import tflite
    from onnx import TensorProto, helper

    from tflite_writer import FLOAT32, TFLiteWriter, lrn_options

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("LRN", ["x"], ["y"], size=5, alpha=1e-4, beta=0.75, bias=1.0)
    path = tmp_path / "lrn.onnx"
    path.write_bytes(helper.make_model(helper.make_graph([node], "g", [x], [y]),
                                       opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    w = TFLiteWriter()
    tx, ty = w.tensor("x", [1, 6, 6, 4], FLOAT32), w.tensor("y", [1, 6, 6, 4], FLOAT32)
    w.op(tflite.BuiltinOperator.LOCAL_RESPONSE_NORMALIZATION, [tx], [ty], lrn_options(2, 1.0, 2e-5, 0.75))
    tfl = tmp_path / "lrn.tflite"
    tfl.write_bytes(w.bytes([tx], [ty]))
    models = [learncost.load_model(path), learncost.load_model(tfl)]
    torch = pytest.importorskip("torch")
    models.append(learncost.from_torch(torch.nn.LocalResponseNorm(5, alpha=1e-4), (1, 4, 6, 6)))
    for m in models:
        (layer,) = m.layers[1:]
        assert (layer.kind, layer.output_shape, layer.attr("size"), layer.attr("beta")) == ("lrn", (6, 6, 4), 5, 0.75)
        assert layer.attr("alpha") == pytest.approx(1e-4, rel=1e-6)
        assert learncost.analyze(m, ["bp"]).layers[1].macc["forward"] == 8 * 6 * 6 * 4 == 1_152


# -- bilinear resize ------------------------------------------------------------------------------------

BILINEAR = [  # a decoder's shape: down, up to a size that is no whole factor (3 x 3 -> 5 x 7), a skip after
    {"name": "c1", "kind": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same", "activation": "relu"},
    {"name": "up", "kind": "resize", "method": "bilinear", "size": [5, 7]},
    {"name": "c2", "kind": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "up2", "kind": "resize", "method": "bilinear", "scale": 2, "coordinates": "align_corners"},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "fc", "kind": "dense", "units": 3},
    {"name": "softmax", "kind": "softmax"},
]


def test_bilinear_resize_shapes_and_formulas():
    """(6, 6, 2) -> c1 (3, 3, 4) -> up, bilinear to (5, 7, 4): 140 output elements, each 4 taps weighed:
    forward 4 x 140 = 560; backward, each error scattered to its 4 taps times their weights: 560. up2 by whole
    factors 2 x 2, corners aligned: (10, 14, 4), 560 elements, 2,240 each way. A nearest resize stays a block
    copy (0 forward, one add per output element back)."""
    m = _model(BILINEAR, (6, 6, 2))
    up, up2 = m.by_name["up"], m.by_name["up2"]
    assert up.output_shape == (5, 7, 4) and up.attrs == (("method", "bilinear"), ("size", (5, 7)),
                                                         ("coordinates", "half_pixel"))
    assert up2.output_shape == (10, 14, 4) and up2.attr("coordinates") == "align_corners"
    f = _macc(m)
    assert f["up"] == {"forward": 560, "backward": 560} and f["up2"] == {"forward": 2_240, "backward": 2_240}
    nearest = _model([{"name": "c", "kind": "conv2d", "filters": 2, "kernel": 1},
                      {"name": "up", "kind": "resize", "scale": [2, 3]}], (3, 3, 2), task="regression")
    assert _macc(nearest)["up"] == {"backward": 6 * 9 * 2}
    with pytest.raises(SpecError, match="whole factors: give scale"):
        _model([{"kind": "resize", "size": [5, 7]}], (3, 3, 2))
    with pytest.raises(SpecError, match="unknown coordinates"):
        _model([{"kind": "resize", "method": "bilinear", "size": [5, 7], "coordinates": "tf_crop"}], (3, 3, 2))


def test_bilinear_resize_executes_as_counted_and_matches_autograd(monkeypatch):
    """verify under bp counts 4 per output element each way; the executed backward (PyTorch's own bilinear
    scatter) gives autograd's gradients through both resizes."""
    m = _model(BILINEAR, (6, 6, 2))
    v = _verify_bp(m)
    counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
    # dX: up 560, c2 (3 x 3 x 4 x 5 x 7 x 4 = 5,040), up2 2,240, the mean 560, fc 12; c1 (the first) none
    assert counted["backward"] == 560 + 5_040 + 2_240 + 560 + 12 == 8_412
    assert _gradients_match_autograd(monkeypatch, m) == 6


def test_bilinear_resize_in_every_format(tmp_path):
    """TFLite RESIZE_BILINEAR (its default mapping asymmetric; half-pixel centers; aligned corners), ONNX Resize in
    linear mode (half_pixel) and Upsample (linear: asymmetric), Keras UpSampling2D with bilinear interpolation, torch
    nn.Upsample and F.interpolate bilinear: a resize to (6, 10, 2) from (4, 4, 2), 4 x 120 = 480 MACC forward."""
    pytest.importorskip("onnx")
    import tflite
    from onnx import helper

    from test_import_coverage import _h5, _onnx
    from tflite_writer import FLOAT32, TFLiteWriter

    def bilinear_options(corners, centers):
        def build(b):
            tflite.ResizeBilinearOptionsStart(b)
            tflite.ResizeBilinearOptionsAddAlignCorners(b, corners)
            tflite.ResizeBilinearOptionsAddHalfPixelCenters(b, centers)
            return tflite.ResizeBilinearOptionsEnd(b)

        return tflite.BuiltinOptions.ResizeBilinearOptions, build

    found = []
    for corners, centers, want in ((False, False, "asymmetric"), (False, True, "half_pixel"),
                                   (True, False, "align_corners")):
        w = TFLiteWriter()
        x, y = w.tensor("x", [1, 4, 4, 2], FLOAT32), w.tensor("y", [1, 6, 10, 2], FLOAT32)
        w.op(tflite.BuiltinOperator.RESIZE_BILINEAR, [x, w.int32("size", [6, 10])], [y],
             bilinear_options(corners, centers))
        path = tmp_path / "bilinear.tflite"
        path.write_bytes(w.bytes([x], [y]))
        found.append((learncost.load_model(path), want))
    sizes = helper.make_tensor("sizes", 7, [4], [1, 2, 6, 10])
    path = tmp_path / "linear.onnx"
    path.write_bytes(_onnx([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")], [sizes],
                           (1, 2, 4, 4), opset=13))
    found.append((learncost.load_model(path), "half_pixel"))
    scales = helper.make_tensor("scales", 1, [4], [1.0, 1.0, 1.5, 2.5])
    path.write_bytes(_onnx([helper.make_node("Upsample", ["x", "scales"], ["y"], mode="linear")], [scales],
                           (1, 2, 4, 4), opset=9))
    found.append((learncost.load_model(path), "asymmetric"))
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 3, 5, 2]}},
        {"class_name": "UpSampling2D", "config": {"name": "up", "size": [2, 2], "interpolation": "bilinear"}}]}}
    found.append((learncost.load_model(_h5(tmp_path, config)), "half_pixel"))
    torch = pytest.importorskip("torch")

    class Functional(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, size=(6, 10), mode="bilinear", align_corners=True)

    found.append((learncost.from_torch(torch.nn.Upsample(size=(6, 10), mode="bilinear"), (1, 2, 4, 4)), "half_pixel"))
    found.append((learncost.from_torch(Functional(), (1, 2, 4, 4)), "align_corners"))
    for m, want in found:
        (layer,) = m.layers[1:]
        assert (layer.kind, layer.attr("method"), layer.output_shape, layer.attr("coordinates")) == \
            ("resize", "bilinear", (6, 10, 2), want), m.source
        assert learncost.analyze(m, ["bp"]).layers[1].macc["forward"] == 4 * 6 * 10 * 2 == 480


# -- batch normalization left unfolded ------------------------------------------------------------------

BATCH_NORM = [  # DenseNet's order: a concatenation, its batch normalization (with ReLU), a convolution
    {"name": "c1", "kind": "conv2d", "filters": 3, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "cat", "kind": "concat", "inputs": ["input", "c1"]},
    {"name": "bn", "kind": "batch_norm", "activation": "relu"},
    {"name": "c2", "kind": "conv2d", "filters": 4, "kernel": 1},
    {"name": "bn2", "kind": "batch_norm", "shift": False},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "fc", "kind": "dense", "units": 3},
    {"name": "softmax", "kind": "softmax"},
]


def test_batch_norm_shapes_and_formulas():
    """(4, 4, 2) joined with c1 (4, 4, 3): bn on (4, 4, 5), E = 80, 5 scales and 5 shifts. Forward y = gamma' x +
    beta': a multiply and an add per element, 160; backward gamma' g: 80; dgamma' = sum of g x over the 16
    positions: 80; dbeta' = sum of g: 80. bn2 (no shift) on (4, 4, 4), E = 64: forward 64, backward 64, dgamma'
    64, no bias. Under a setup training everything, both are trained as a layer's weights, whole."""
    m = _model(BATCH_NORM, (4, 4, 2))
    bn, bn2 = m.by_name["bn"], m.by_name["bn2"]
    assert (bn.output_shape, bn.weights, bn.biases, bn.has_weights) == ((4, 4, 5), 5, 5, True)
    assert (bn2.weights, bn2.biases, bn2.attr("shift")) == (4, 0, False)
    f = _macc(m)
    assert f["bn"] == {"forward": 160, "backward": 80, "weight_update": 80, "bias_gradient": 80}
    assert f["bn2"] == {"forward": 64, "backward": 64, "weight_update": 64}
    from learncost.errors import SetupError
    from learncost.setups import build, load

    base = {k: v for k, v in load("int8-fp32grad").model_dump().items() if k != "parameters"}
    half = build({**base, "update": {"weights": {"layers": {"bn": 0.5}}, "biases": "none"}}, "test")
    with pytest.raises(SetupError, match="trains 0.5 of batch_norm layer .bn.: learncost trains its per-channel scale"):
        learncost.analyze(m, ["bp"], setup=half)


def test_batch_norm_executes_as_counted_and_matches_autograd(monkeypatch):
    """verify under bp: forward 2 E (1 E unshifted), dX gamma' g, dgamma' and dbeta' as counted; the reference's
    gradients of every layer (the batch normalizations' scales and shifts included) equal autograd's."""
    m = _model(BATCH_NORM, (4, 4, 2))
    v = _verify_bp(m)
    counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
    # dW: c1 (3 x 3 x 2 x 4 x 4 x 3 = 864) + bn 80 + c2 (5 x 4 x 16 = 320) + bn2 64 + fc (4 x 3 = 12)
    assert counted["weight_update"] == 864 + 80 + 320 + 64 + 12 == 1_340
    assert _gradients_match_autograd(monkeypatch, m) == 9  # c1, bn, c2, fc: weight and bias; bn2: its scale


def test_batch_norm_folds_by_default_and_unfolds_only_where_nothing_absorbs_it(tmp_path):
    """ONNX: a BatchNormalization stays folded (the paper's assumption, unchanged); the Mul and Add by per-channel
    constants after it that no linear layer absorbs (DenseNet's, after a concatenation) become one batch_norm
    layer with its scale and shift; a Mul and Add after a convolution still fold into it."""
    pytest.importorskip("onnx")
    from onnx import helper

    from test_import_coverage import _onnx, _zeros

    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Concat", ["x", "c"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "s", "b", "mu", "var"], ["bn"]),
             helper.make_node("Mul", ["bn", "scale"], ["sc"]), helper.make_node("Add", ["sc", "shift"], ["sh"]),
             helper.make_node("Relu", ["sh"], ["r"]), helper.make_node("Conv", ["r", "w2"], ["c2"]),
             helper.make_node("Mul", ["c2", "scale2"], ["c2s"]), helper.make_node("Add", ["c2s", "shift2"], ["y"])]
    inits = [_zeros("w", 3, 2, 1, 1), *(_zeros(k, 5) for k in ("s", "b", "mu", "var")), _zeros("scale", 1, 5, 1, 1),
             _zeros("shift", 1, 5, 1, 1), _zeros("w2", 4, 5, 1, 1), _zeros("scale2", 1, 4, 1, 1),
             _zeros("shift2", 1, 4, 1, 1)]
    path = tmp_path / "dense_block.onnx"
    path.write_bytes(_onnx(nodes, inits, (1, 2, 4, 4)))
    m = learncost.load_model(path)
    assert [(lr.kind, lr.output_shape, lr.weights, lr.biases, lr.activation) for lr in m.layers[1:]] == [
        ("conv2d", (4, 4, 3), 6, 0, None), ("concat", (4, 4, 5), 0, 0, None), ("batch_norm", (4, 4, 5), 5, 5, "relu"),
        ("conv2d", (4, 4, 4), 20, 0, None)]
    assert any("batch normalization" in w for w in m.warnings)
    assert _macc(m)[m.layers[3].name]["forward"] == 2 * 4 * 4 * 5 == 160


# -- embedding lookup --------------------------------------------------------------------------------------

EMBEDDING = [  # 6 int32 tokens into a 10 x 4 table, then a 1 x 1 convolution over the tokens and a mean
    {"name": "emb", "kind": "embedding", "vocab": 10, "dim": 4},
    {"name": "r", "kind": "reshape", "shape": [6, 1, 4]},
    {"name": "c", "kind": "conv2d", "filters": 3, "kernel": 1},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "softmax", "kind": "softmax"},
]


def test_embedding_shapes_formulas_and_execution():
    """(6,) int32 indices -> (6, 4): a lookup, no forward MACC, and no error to integer indices (no dX);
    dW adds each of the 6 output rows' 4 errors into the row its index selects: 6 x 4 = 24 (the 10 x 4 = 40
    weights, trained whole). The conv after it: 6 x 4 x 3 = 72 forward, dX and dW. verify under bp counts them."""
    m = _model(EMBEDDING, (6,), dtype="int32")
    emb = m.by_name["emb"]
    assert (emb.output_shape, emb.weights, emb.biases, emb.has_weights, m.input.dtype) == ((6, 4), 40, 0, True, "int32")
    f = _macc(m)
    assert f["emb"] == {"weight_update": 24}
    assert f["c"] == {"forward": 72, "backward": 72, "weight_update": 72, "bias_gradient": 18}
    v = _verify_bp(m)
    counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
    assert counted["weight_update"] == 24 + 72 and counted["forward"] == 72 + 6 * 3  # the conv and the mean
    with pytest.raises(SpecError, match="sequence of indices"):
        _model([{"kind": "embedding", "vocab": 10, "dim": 4}], (6, 2))


def test_embedding_import(tmp_path):
    """ONNX Gather of an initializer table (10, 4) by the graph's int64 indices (1, 6), Keras Embedding (input_dim
    10, output_dim 4), TFLite GATHER (a converted Embedding, int32 indices) and PyTorch's nn.Embedding: an embedding
    layer (6, 4) of 40 weights."""
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from test_import_coverage import _h5

    x = helper.make_tensor_value_info("x", TensorProto.INT64, [1, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    table = numpy_helper.from_array(np.zeros((10, 4), dtype=np.float32), "table")
    graph = helper.make_graph([helper.make_node("Gather", ["table", "x"], ["y"])], "g", [x], [y], initializer=[table])
    path = tmp_path / "emb.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_input_shape": [None, 6]}},
        {"class_name": "Embedding", "config": {"name": "e", "input_dim": 10, "output_dim": 4}}]}}
    import tflite

    from tflite_writer import FLOAT32, INT32, TFLiteWriter

    w = TFLiteWriter()
    tx, ty = w.tensor("x", [1, 6], INT32), w.tensor("y", [1, 6, 4], FLOAT32)
    w.op(tflite.BuiltinOperator.GATHER, [w.const("table", [10, 4], FLOAT32), tx], [ty])
    (tmp_path / "emb.tflite").write_bytes(w.bytes([tx], [ty]))
    for m in (learncost.load_model(path), learncost.load_model(_h5(tmp_path, config)),
              learncost.load_model(tmp_path / "emb.tflite")):
        (layer,) = m.layers[1:]
        assert (layer.kind, layer.output_shape, layer.weights, layer.attr("vocab")) == ("embedding", (6, 4), 40, 10)
    assert learncost.load_model(path).input.dtype == "int64"
    assert learncost.load_model(tmp_path / "emb.tflite").input.dtype == "int32"
    torch = pytest.importorskip("torch")

    class Text(torch.nn.Module):  # indices propagate as integers (a float input cannot index a table)
        def __init__(self):
            super().__init__()
            self.emb, self.fc = torch.nn.Embedding(10, 4), torch.nn.Linear(24, 3)

        def forward(self, x):
            return self.fc(torch.flatten(self.emb(x), 1))

    m = learncost.from_torch(Text(), (1, 6))
    assert [(lr.kind, lr.output_shape, lr.weights) for lr in m.layers] == [
        ("input", (6,), 0), ("embedding", (6, 4), 40), ("reshape", (24,), 0), ("dense", (3,), 72)]
    assert m.input.dtype == "int64"


# -- transposed convolution -------------------------------------------------------------------------

DECODER = [  # an encoder down to 4 x 4, a decoder back to 8 x 8 (TensorFlow's 'same'), a 2 x 2 'valid' one to 9 x 9
    {"name": "enc", "kind": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same", "activation": "relu"},
    {"name": "dec", "kind": "conv2d_transpose", "filters": 3, "kernel": 3, "stride": 2, "padding": "same",
     "activation": "relu"},
    {"name": "dec2", "kind": "conv2d_transpose", "filters": 2, "kernel": 2, "padding": "valid"},
    {"name": "fc", "kind": "dense", "units": 4},
    {"name": "softmax", "kind": "softmax"},
]


def test_transposed_convolution_shapes_and_formulas():
    """dec: 4 x 4 x 4 -> full (4 - 1) x 2 + 3 = 9, 'same' crops 9 - 8 = 1 at the end (the forward convolution's
    padding), 8 x 8 x 3; weights 3 x 3 x 4 x 3 = 108. Forward, dX and dW: each input element's kernel x C_out
    products, 3 x 3 x 4 x (4 x 4) x 3 = 1,728 (PyTorch's counter counts a transposed convolution so: input elements
    x C_out x kernel). dec2: full 8 + 1 = 9, no crop; 2 x 2 x 3 x 64 x 2 = 1,536."""
    m = _model(DECODER, (8, 8, 3))
    dec, dec2 = m.by_name["dec"], m.by_name["dec2"]
    assert (dec.output_shape, dec.padding, dec.weights, dec.biases) == ((8, 8, 3), (0, 1, 0, 1), 108, 3)
    assert (dec2.output_shape, dec2.padding) == ((9, 9, 2), (0, 0, 0, 0))
    costs = {lr.name: lr.macc for lr in learncost.analyze(m, ["bp"], setup="int8-fp32grad").layers}
    assert [costs["dec"][op] for op in ("forward", "backward", "weight_update", "bias_gradient")] == [
        1_728, 1_728, 1_728, 8 * 8 * 3]
    assert costs["dec2"]["forward"] == costs["dec2"]["backward"] == 2 * 2 * 3 * 64 * 2 == 1_536
    with pytest.raises(learncost.LearncostError, match="'same' needs a kernel at least the stride"):
        _model([{"name": "d", "kind": "conv2d_transpose", "filters": 2, "kernel": 1, "stride": 2, "padding": "same"}],
               (4, 4, 2))
    with pytest.raises(learncost.LearncostError, match=r"padding \[2, 2, 0, 0\] crops the whole 3x4 output"):
        _model([{"name": "d", "kind": "conv2d_transpose", "filters": 2, "kernel": 3, "padding": [2, 2, 0, 0]}],
               (1, 2, 2))


def test_transposed_convolution_executes_as_counted():
    """verify, every procedure: each operation executed (PyTorch's conv_transpose2d and its backward on the uncropped
    output) equals its formula, and the bytes held equal the schedule's."""
    pytest.importorskip("torch")
    from learncost.verify import verify

    m = _model(DECODER, (8, 8, 3))
    m.classes = 4
    v = verify(m, setup="int8-fp32grad")
    assert v.unexplained == []
    for c in v.checks:
        assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)
    counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
    # dW: enc 3 x 3 x 3 x 16 x 4 = 1,728, dec 1,728, dec2 1,536, fc 162 x 4 = 648
    assert counted["weight_update"] == 1_728 + 1_728 + 1_536 + 648


def test_transposed_convolution_in_every_format(tmp_path):
    """TFLite TRANSPOSE_CONV (SAME), ONNX ConvTranspose (pads 1, output_padding 1), PyTorch's ConvTranspose2d (padding
    1, output_padding 1), Keras Conv2DTranspose ('same'): 4 x 4 x 4 -> 8 x 8 x 3 with a 3 x 3 kernel, stride 2. Each
    crops 1 of the full 9: TensorFlow at the end, PyTorch and ONNX (pads first) at the start. Forward MACC 1,728, which
    PyTorch's flop counter gives too."""
    torch = pytest.importorskip("torch")
    import tflite
    from onnx import helper
    from torch.utils.flop_counter import FlopCounterMode

    from test_import_coverage import _h5, _layer, _onnx, _zeros
    from tflite_writer import FLOAT32, TFLiteWriter, transpose_conv_options

    w = TFLiteWriter()
    tx, ty = w.tensor("x", [1, 4, 4, 4], FLOAT32), w.tensor("y", [1, 8, 8, 3], FLOAT32)
    shape = w.int32("shape", [1, 8, 8, 3])
    weights = w.const("w", [3, 3, 3, 4], FLOAT32)
    w.op(tflite.BuiltinOperator.TRANSPOSE_CONV, [shape, weights, tx], [ty], transpose_conv_options(2))
    (tmp_path / "t.tflite").write_bytes(w.bytes([tx], [ty]))
    (tmp_path / "t.onnx").write_bytes(_onnx([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2],
                                                              pads=[1, 1, 1, 1], output_padding=[1, 1])],
                                            [_zeros("w", 4, 3, 3, 3)], (1, 4, 4, 4)))
    net = torch.nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1, bias=False)
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        _layer("in", "InputLayer", {"batch_input_shape": [None, 4, 4, 4]}),
        _layer("up", "Conv2DTranspose", {"filters": 3, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same",
                                         "use_bias": False, "activation": "linear"})]}}
    models = {"tflite": learncost.load_model(tmp_path / "t.tflite"), "onnx": learncost.load_model(tmp_path / "t.onnx"),
              "torch": learncost.from_torch(torch.nn.Sequential(net), (1, 4, 4, 4)), "keras": learncost.load_model(_h5(tmp_path, config))}
    crops = {"tflite": (0, 1, 0, 1), "keras": (0, 1, 0, 1), "onnx": (1, 0, 1, 0), "torch": (1, 0, 1, 0)}
    for fmt, m in models.items():
        (layer,) = m.layers[1:]
        assert (layer.kind, layer.output_shape, layer.padding, layer.weights) == (
            "conv2d_transpose", (8, 8, 3), crops[fmt], 108), fmt
        assert learncost.analyze(m, ["bp"]).layers[1].macc["forward"] == 1_728
    with FlopCounterMode(display=False) as flops:
        net(torch.zeros(1, 4, 4, 4))
    assert flops.get_total_flops() // 2 == 1_728
