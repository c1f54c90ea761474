"""The kinds beyond the paper's: grouped and dilated convolutions, pooling with ceil_mode, element-wise
mul/sub and broadcasting add, standalone activations, mean over any axes, concat on any axis, transpose,
strided slice, pad on any axis, nearest resize, softmax inside the model, matmul of two activations, layer
normalization. Each formula against a hand derivation; each shape against PyTorch's
own; and every kind executed by ``verify`` (counted MACs equal the analytic figures, the schedule holds
the tracked bytes at every step) with a hand-written backward that matches autograd's gradients."""

from __future__ import annotations

import pytest

import learncost
from learncost.errors import SpecError
from learncost.spec import build_model, validate_spec


def _model(layers, shape=(8, 8, 4), task="regression"):
    return build_model(validate_spec({"name": "t", "task": task, "input": {"shape": list(shape)}, "layers": layers}))


PAPER_OPS = ("forward", "backward", "weight_update", "error")  # the operations these tests derive


def _macc(model):
    a = learncost.analyze(model, ["bp"])
    return {lr.name: {k: v for k, v in lr.macc.items() if v and k in PAPER_OPS} for lr in a.layers}


# -- shapes and formulas, derived by hand ------------------------------------------------------------

def test_grouped_convolution():
    # 8x8x4 -> 6 filters 3x3 in 2 groups, same padding: each filter reads 4 / 2 = 2 channels
    m = _model([{"name": "g", "kind": "conv2d", "filters": 6, "kernel": 3, "padding": "same", "groups": 2},
                {"name": "h", "kind": "conv2d", "filters": 2, "kernel": 1}])
    g = m.by_name["g"]
    assert g.output_shape == (8, 8, 6) and g.weights == 3 * 3 * 2 * 6 and g.biases == 6
    assert g.dims.C_in == 2
    f = _macc(m)["g"]
    assert f["forward"] == 3 * 3 * 2 * 8 * 8 * 6 == 6912  # H_ker W_ker (C_in / G) H_out W_out C_out
    assert f["weight_update"] == 6912
    assert _macc(m)["h"]["forward"] == 8 * 8 * 6 * 2
    with pytest.raises(SpecError, match="groups must divide"):
        _model([{"kind": "conv2d", "filters": 6, "kernel": 3, "groups": 4}])


def test_dilated_convolution_spans_dilation_times_kernel():
    # a 3x3 kernel at dilation 2 spans 5 positions: 9x9 valid -> 5x5; the taps (MACC) are still 3x3
    m = _model([{"name": "d", "kind": "conv2d", "filters": 3, "kernel": 3, "dilation": 2},
                {"name": "s", "kind": "depthwise_conv2d", "kernel": 3, "dilation": [1, 2], "padding": "same"}],
               shape=(9, 9, 2))
    d, s = m.by_name["d"], m.by_name["s"]
    assert d.output_shape == (5, 5, 3) and d.dilation == (2, 2)
    assert _macc(m)["d"]["forward"] == 3 * 3 * 2 * 5 * 5 * 3
    # same padding for the dilated span: W pads (5 - 1) = 4 in total, H (3 - 1) = 2
    assert s.output_shape == (5, 5, 3) and s.padding == (1, 1, 2, 2)


@pytest.mark.parametrize("size,kernel,stride,pad", [(7, 2, 2, 0), (7, 3, 2, 1), (8, 3, 2, 0), (6, 3, 3, 1)])
def test_ceil_mode_matches_pytorch(size, kernel, stride, pad):
    torch = pytest.importorskip("torch")
    m = _model([{"name": "p", "kind": "max_pool2d", "kernel": kernel, "stride": stride, "padding": pad,
                 "ceil_mode": True}], shape=(size, size, 3))
    want = torch.nn.functional.max_pool2d(torch.zeros(1, 3, size, size), kernel, stride, pad, ceil_mode=True).shape
    p = m.by_name["p"]
    assert p.output_shape == (want[2], want[3], 3)
    # every window costs its full kernel, the overhang included (as an explicit padding would)
    assert _macc(m)["p"]["forward"] == want[2] * want[3] * 3 * kernel * kernel


def test_elementwise_with_broadcasting():
    # squeeze-excitation: (6, 6, 8) x (1, 1, 8); its backward sends each input an error
    m = _model([{"name": "x", "kind": "conv2d", "filters": 8, "kernel": 1},
                {"name": "s", "kind": "mean", "axes": [0, 1], "keepdims": True},
                {"name": "w", "kind": "conv2d", "filters": 8, "kernel": 1},
                {"name": "se", "kind": "mul", "inputs": ["x", "w"]},
                {"name": "d", "kind": "sub", "inputs": ["se", "w"]},
                {"name": "a", "kind": "add", "inputs": ["d", "x"]}], shape=(6, 6, 3))
    out = 6 * 6 * 8
    assert m.by_name["se"].output_shape == m.by_name["d"].output_shape == (6, 6, 8)
    f = _macc(m)
    assert f["s"] == {"forward": out, "backward": out}  # one accumulate per input element, one multiply back
    assert f["se"] == {"forward": out, "backward": 2 * out}  # dx = g w, dw = sum over H, W of g x: out each
    assert f["d"] == {"forward": out, "backward": out}  # -g summed over H, W for the broadcast w; g as is for se
    assert f["a"] == {"forward": out, "error": out}  # the add passes its error as it is; the model's output error
    with pytest.raises(SpecError, match="channel or size mismatch"):
        _model([{"name": "a", "kind": "conv2d", "filters": 3, "kernel": 1},
                {"name": "b", "kind": "conv2d", "filters": 2, "kernel": 1}, {"kind": "mul", "inputs": ["a", "b"]}])


def test_reshaping_kinds():
    m = _model([{"name": "t", "kind": "transpose", "perm": [2, 0, 1]},
                {"name": "s", "kind": "slice", "begin": [0, 1, 0], "end": [4, 8, -2], "step": [1, 3, 2]},
                {"name": "p", "kind": "pad", "pads": [[1, 0], [0, 0], [2, 3]]},
                {"name": "c", "kind": "concat", "inputs": ["p", "p"], "axis": 0},
                {"name": "m", "kind": "mean", "axes": [2]},
                {"name": "r", "kind": "activation", "function": "prelu"}])
    t, s, p, c, mean, r = (m.by_name[k] for k in "tspcmr")
    assert t.output_shape == (4, 8, 8)  # (C, H, W)
    assert s.output_shape == (4, 3, 3)  # axis 1: 1, 4, 7; axis 2: 0, 2, 4 before 8 - 2
    assert p.output_shape == (5, 3, 8) and p.padding is None  # channels padded: not the paper's padding
    assert c.output_shape == (10, 3, 8) and mean.output_shape == (10, 3)
    assert r.weights == 3 and not r.has_weights  # one slope per channel, frozen
    f = _macc(m)
    assert all(not f[k].get("forward") and not f[k].get("backward") for k in "tspcr")  # data movement only
    assert f["m"] == {"forward": 10 * 3 * 8}
    spatial = _model([{"name": "p", "kind": "pad", "pads": [[1, 2], [0, 1], [0, 0]]}])
    assert spatial.by_name["p"].padding == (1, 2, 0, 1)  # the paper's spatial padding, as before


# -- executed as counted ------------------------------------------------------------------------------

SE = [  # a residual squeeze-excitation block with every new kind on the backward path
    {"name": "c1", "kind": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "g1", "kind": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "groups": 2, "dilation": 2,
     "activation": "relu6"},
    {"name": "hs", "kind": "activation", "function": "hard_swish"},
    {"name": "sq", "kind": "mean", "axes": [0, 1], "keepdims": True},
    {"name": "fc1", "kind": "conv2d", "filters": 4, "kernel": 1, "activation": "relu"},
    {"name": "fc2", "kind": "conv2d", "filters": 8, "kernel": 1},
    {"name": "sig", "kind": "activation", "function": "hard_sigmoid"},
    {"name": "se", "kind": "mul", "inputs": ["hs", "sig"]},
    {"name": "res", "kind": "add", "inputs": ["se", "c1"]},
    {"name": "pool", "kind": "avg_pool2d", "kernel": 2, "stride": 2, "ceil_mode": True},
    {"name": "fc", "kind": "dense", "units": 5},
    {"name": "softmax", "kind": "softmax"},
]
RESHAPING = [  # reshaping kinds, a subtraction, a product of a value with itself, PReLU, SiLU, GELU
    {"name": "c1", "kind": "conv2d", "filters": 6, "kernel": 3, "padding": "same"},
    {"name": "pr", "kind": "activation", "function": "prelu", "slopes": 6},
    {"name": "c2", "kind": "depthwise_conv2d", "kernel": 3, "padding": "same", "dilation": [2, 1]},
    {"name": "si", "kind": "activation", "function": "silu"},
    {"name": "d", "kind": "sub", "inputs": ["si", "pr"]},
    {"name": "cm", "kind": "mean", "axes": [2], "keepdims": True},
    {"name": "b", "kind": "add", "inputs": ["d", "cm"]},
    {"name": "sq", "kind": "mul", "inputs": ["b", "b"]},
    {"name": "t", "kind": "transpose", "perm": [1, 0, 2]},
    {"name": "sl", "kind": "slice", "begin": [0, 1, 0], "end": [6, 5, 6], "step": [2, 1, 1]},
    {"name": "p", "kind": "pad", "pads": [[0, 0], [1, 0], [0, 2]]},
    {"name": "c3", "kind": "conv2d", "filters": 4, "kernel": 1, "activation": "tanh"},
    {"name": "cat", "kind": "concat", "inputs": ["c3", "c3"], "axis": 0},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "ge", "kind": "activation", "function": "gelu"},
    {"name": "fc", "kind": "dense", "units": 3, "activation": "leaky_relu"},
]
# -- nearest resize (upsampling) ---------------------------------------------------------------------

UPSAMPLING = [  # a decoder's shape: down, up by whole factors (2 x 3), a skip joined after the resize
    {"name": "c1", "kind": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same", "activation": "relu"},
    {"name": "up", "kind": "resize", "scale": [2, 3]},
    {"name": "c2", "kind": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "fc", "kind": "dense", "units": 3},
    {"name": "softmax", "kind": "softmax"},
]


SOFTMAXES = [  # softmax inside the model, on channels and on the first axis
    {"name": "q", "kind": "conv2d", "filters": 8, "kernel": 1, "activation": "relu"},
    {"name": "sm", "kind": "softmax"},
    {"name": "c2", "kind": "conv2d", "filters": 4, "kernel": 1},
    {"name": "sm0", "kind": "softmax", "axis": 0},
    {"name": "m", "kind": "mean", "axes": [0, 1]},
    {"name": "fc", "kind": "dense", "units": 3},
    {"name": "out", "kind": "softmax"},
]
ATTENTION = [  # a two-head transformer block over 6 tokens of 8 features (tokens as H, features as C), post-norm
    {"name": "q", "kind": "conv2d", "filters": 8, "kernel": 1, "inputs": ["input"]},
    {"name": "k", "kind": "conv2d", "filters": 8, "kernel": 1, "inputs": ["input"]},
    {"name": "v", "kind": "conv2d", "filters": 8, "kernel": 1, "inputs": ["input"]},
    {"name": "qh", "kind": "reshape", "shape": [6, 2, 4], "inputs": ["q"]},
    {"name": "qt", "kind": "transpose", "perm": [1, 0, 2]},
    {"name": "kh", "kind": "reshape", "shape": [6, 2, 4], "inputs": ["k"]},
    {"name": "kt", "kind": "transpose", "perm": [1, 2, 0]},
    {"name": "scores", "kind": "matmul", "inputs": ["qt", "kt"]},
    {"name": "weights", "kind": "softmax"},
    {"name": "vh", "kind": "reshape", "shape": [6, 2, 4], "inputs": ["v"]},
    {"name": "vt", "kind": "transpose", "perm": [1, 0, 2]},
    {"name": "att", "kind": "matmul", "inputs": ["weights", "vt"]},
    {"name": "back", "kind": "transpose", "perm": [1, 0, 2]},
    {"name": "merged", "kind": "reshape", "shape": [6, 1, 8]},
    {"name": "proj", "kind": "conv2d", "filters": 8, "kernel": 1},
    {"name": "res", "kind": "add", "inputs": ["proj", "input"]},
    {"name": "ln1", "kind": "layer_norm"},
    {"name": "ff1", "kind": "conv2d", "filters": 16, "kernel": 1, "activation": "relu"},
    {"name": "ff2", "kind": "conv2d", "filters": 8, "kernel": 1},
    {"name": "res2", "kind": "add", "inputs": ["ff2", "ln1"]},
    {"name": "ln2", "kind": "layer_norm", "affine": False},
    {"name": "pool", "kind": "mean", "axes": [0, 1]},
    {"name": "fc", "kind": "dense", "units": 3},
    {"name": "out", "kind": "softmax"},
]
MODELS = {"se": (SE, (7, 7, 4), "classification"), "reshaping": (RESHAPING, (5, 6, 3), "classification"),
          "upsampling": (UPSAMPLING, (8, 8, 4), "classification"),
          "softmaxes": (SOFTMAXES, (6, 1, 8), "classification"),
          "attention": (ATTENTION, (6, 1, 8), "classification")}


def _built(name):
    layers, shape, task = MODELS[name]
    return _model(layers, shape, task)


@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad"])
@pytest.mark.parametrize("name", list(MODELS))
def test_new_kinds_execute_as_counted(name, setup):
    pytest.importorskip("torch")
    from learncost.verify import verify

    v = verify(_built(name), setup=setup)
    assert v.unexplained == []
    for c in v.checks:
        for o in c.operations:
            assert o.counted == o.expected, (c.procedure, c.phase, o.operation)
            if setup != "paper":
                assert o.counted == o.analytic, (c.procedure, c.phase, o.operation)
        assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes
    bp = v.check("bp", "training")
    counted = {o.operation: o.counted for o in bp.operations}
    assert counted["backward"] > 0 and counted["weight_update"] > 0


@pytest.mark.parametrize("name", list(MODELS))
def test_hand_written_backward_of_new_kinds_matches_autograd(monkeypatch, name):
    """One SGD step at learning rate 1: W0 - W1 is the reference's gradient, from what it kept (the
    factors of a product, an activation's input); autograd's comes from the whole graph."""
    pytest.importorskip("torch")
    from test_verify_setups import gradients_match_autograd

    assert gradients_match_autograd(monkeypatch, _built(name)) > 0


def test_fused_activation_needing_its_input_is_refused_by_verify():
    pytest.importorskip("torch")
    from learncost.verify import verify

    m = _model([{"name": "c", "kind": "conv2d", "filters": 2, "kernel": 1, "activation": "hard_swish"}])
    with pytest.raises(learncost.LearncostError) as err:
        verify(m, ["bp"])
    assert "kind: activation, function: hard_swish" in err.value.line()


def test_workbook_refuses_what_its_formulas_do_not_state(tmp_path):
    pytest.importorskip("openpyxl")
    from conftest import run_cli

    spec = tmp_path / "g.yaml"
    spec.write_text("name: g\ntask: regression\ninput: {shape: [4, 4, 4]}\n"
                    "layers:\n  - {name: g, kind: conv2d, filters: 4, kernel: 1, groups: 2}\n")
    out = run_cli("analyze", str(spec), "-o", str(tmp_path / "g.xlsx"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "'g' is a grouped convolution" in out.stderr and not (tmp_path / "g.xlsx").exists()


def test_resize_shapes_and_formulas():
    """(8, 8, 4) -> c1 (4, 4, 4) -> resize 2 x 3 -> (8, 12, 4). A block copy has no MACC; its error sums each
    block into the input it copies: one add per output element, 8 * 12 * 4 = 384 (c1 is trained, so the
    error passes)."""
    m = _model(UPSAMPLING, task="classification")
    up = m.by_name["up"]
    assert up.output_shape == (8, 12, 4) and up.attr("scale") == (2, 3)
    assert _macc(m)["up"] == {"backward": 8 * 12 * 4}
    assert m.by_name["c2"].output_shape == (8, 12, 4)
    with pytest.raises(SpecError, match="unknown method"):
        _model([{"name": "up", "kind": "resize", "scale": 2, "method": "bicubic"}])
    with pytest.raises(SpecError, match="must be >= 1"):
        _model([{"name": "up", "kind": "resize", "scale": [0, 2]}])


def test_softmax_inside_the_model():
    """A softmax along channels of (6, 1, 8) and along axis 0 of (6, 1, 4): forward 15 per element under the paper's
    convention (X-CUBE-AI's, as the head's), none executed (exp, sum and division); backward dx = y (g - sum(g y)): 3 per element, 3 x 48 = 144 and
    3 x 24 = 72; the forward gradient's tangent through each costs the same (J is symmetric). The head softmax
    is never backpropagated."""
    from learncost.evaluate import Evaluator

    m = _model(SOFTMAXES, shape=(6, 1, 8), task="classification")
    assert m.by_name["sm0"].attr("axis") == 0 and m.by_name["sm"].attr("axis") is None
    f = _macc(m)
    assert f["sm"] == {"forward": 15 * 48, "backward": 144} and f["sm0"] == {"forward": 15 * 24, "backward": 72}
    assert f["out"] == {"forward": 15 * 3, "error": 3}  # the head: the output error is booked on the output
    ev = Evaluator(m, "int8-fp32grad")
    assert (ev.costs[2]["tangent"], ev.costs[4]["tangent"]) == (144, 72)


def test_matmul_of_two_activations():
    """Scores Q K^T per head, (2, 6, 4) x (2, 4, 6): 2 x 6 x 6 outputs of 4 MACs each, 288; weights times V,
    (2, 6, 6) x (2, 6, 4): 48 outputs of 6, 288. Backward: g B^T and A^T g, each the forward's count, for both
    inputs (q, k and v are trained; the weights pass the error on): 576 each. The forward gradient's tangent
    dA B + A dB: a product per input a tangent reaches, 576 each."""
    from learncost.evaluate import Evaluator

    m = _model(ATTENTION, shape=(6, 1, 8), task="classification")
    assert m.by_name["scores"].output_shape == (2, 6, 6) and m.by_name["att"].output_shape == (2, 6, 4)
    f = _macc(m)
    assert f["scores"] == {"forward": 288, "backward": 576} and f["att"] == {"forward": 288, "backward": 576}
    ev = Evaluator(m, "int8-fp32grad")
    tangents = {layer.name: c["tangent"] for layer, c in zip(m.layers, ev.costs)}
    assert (tangents["scores"], tangents["att"]) == (576, 576)
    with pytest.raises(SpecError, match="do not multiply"):
        _model([{"name": "a", "kind": "reshape", "shape": [8, 8, 4]},
                {"name": "mm", "kind": "matmul", "inputs": ["a", "a"]}])


def test_layer_normalization():
    """Over the 8 features of each of 6 tokens (E = 48, 6 rows): forward 5 E + rows for the statistics and x_hat,
    plus gamma x_hat + beta (2 E): 342; 246 without them. Backward from the kept input: 5 E + rows again, gamma g
    (E), 2 means, a product, x_hat times a mean, 2 subtractions and r (7 E): 630; 582 without gamma. gamma and
    beta (8 each) are frozen parameters: counted in the model's, never trained."""
    m = _model(ATTENTION, shape=(6, 1, 8), task="classification")
    ln1, ln2 = m.by_name["ln1"], m.by_name["ln2"]
    assert (ln1.weights, ln1.biases, ln1.has_weights, ln2.weights) == (8, 8, False, 0)
    f = _macc(m)
    assert f["ln1"] == {"forward": 342, "backward": 630} and f["ln2"] == {"forward": 246, "backward": 582}


@pytest.mark.parametrize("name", ["upsampling", "softmaxes", "attention"])
def test_executes_as_counted_under_every_procedure(name):
    """Resize, softmax inside the model, attention: every procedure, under int8-fp32grad and a batch of 4 in
    micro-batches of 2 with Adam: counted MACs equal the analytic figures and the schedule holds the tracked
    bytes at every step."""
    pytest.importorskip("torch")
    from learncost.setups import build, load
    from learncost.verify import verify

    base = {k: v for k, v in load("int8-fp32grad").model_dump().items() if k != "parameters"}
    for changes in ({}, {"batch": 4, "micro_batch": 2, "optimizer": "adam"}):
        v = verify(_built(name), ["all"], setup=build({**base, **changes}, "test"))
        assert v.unexplained == []
        for c in v.checks:
            assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)
            assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes
        counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
        assert counted["backward"] > 0  # the errors went back through the new kinds



# -- the Keyword Transformer (built-in kwt) --------------------------------------------------------------

def test_kwt_forward_by_hand():
    """KWT-1 (Berg et al., Interspeech 2021) as built in: 98 tokens, 40 -> 64 features, 12 blocks, MLP 256.
    embed 98*40*64 = 250,880; per block q, k, v 3*98*64*64 = 1,204,224, scores 98*98*64 = 614,656, softmax
    (the paper's convention, 15 per element) 144,060, weights x V 614,656, projection 401,408, two adds 2*6,272,
    two layer norms 2*(7*6,272 + 98) = 88,004, the feed-forward 2*98*64*256 = 3,211,264: 6,290,816; then the
    tokens' mean 6,272, the classifier 768 and its softmax 180: 75,747,892 per inference."""
    m = learncost.load_model("kwt")
    assert m.by_name["scores1"].output_shape == (1, 98, 98) and m.by_name["ln12b"].output_shape == (98, 1, 64)
    a = learncost.analyze(m, ["bp"])
    assert next(r.macc for r in a.rows if r.phase == "inference") == 250_880 + 12 * 6_290_816 + 6_272 + 768 + 180
    params = sum(lr.weights + lr.biases for lr in m.layers)
    assert params == 2_624 + 12 * (4 * 4_160 + 16_640 + 16_448 + 256) + 780  # embed, blocks, classifier


def test_kwt_executes_as_counted_under_every_procedure():
    """Two blocks of two heads under int8-fp32grad: every procedure counted and held exactly as analysed."""
    pytest.importorskip("torch")
    from learncost.verify import verify

    v = verify(learncost.load_model("kwt", params={"depth": 2, "heads": 2}), ["all"], setup="int8-fp32grad")
    assert v.unexplained == []
    for c in v.checks:
        assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)
        assert c.memory.schedule_mismatch == []


def test_errors_of_readers_through_a_reshape_add_up_in_its_buffer():
    """A reshape read by two trained layers: their errors are summed in the buffer it reads through (c1's), 32
    adds (4 x 1 x 8), booked on c1, where the execution adds them."""
    pytest.importorskip("torch")
    from learncost.verify import verify

    m = _model([{"name": "c1", "kind": "conv2d", "filters": 8, "kernel": 1},
                {"name": "x", "kind": "reshape", "shape": [4, 1, 8]},
                {"name": "q", "kind": "conv2d", "filters": 8, "kernel": 1, "inputs": ["x"]},
                {"name": "k", "kind": "conv2d", "filters": 8, "kernel": 1, "inputs": ["x"]},
                {"name": "s", "kind": "add", "inputs": ["q", "k"]}], shape=(4, 1, 8))
    a = learncost.analyze(m, ["bp"], setup="int8-fp32grad")
    sums = {lr.name: lr.macc["gradient_sum"] for lr in a.layers if lr.macc["gradient_sum"]}
    assert sums == {"c1": 32}
    v = verify(m, ["bp"], setup="int8-fp32grad")
    assert v.unexplained == []
