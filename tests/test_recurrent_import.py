"""Recurrent cells read from ONNX (``LSTM``, ``GRU``), PyTorch (``nn.LSTM``, ``nn.GRU``) and Keras (``LSTM``,
``GRU``): each file or module made here, its layers and per-layer forward MACC equal to the same network written
as a spec with the ``lstm``/``gru`` kinds (an independent path) and to the hand derivation; each variant learncost
has no formula for refused in one line.

Notation (``costs.formulas``): T steps, F features, u units. Forward: LSTM T (4 u (F + u) + 4 u) (the gates
4 u (F + u), c_t = f c_{t-1} + i g 3 u, h_t = o tanh(c_t) u); GRU T (3 u (F + u) + 7 u) (the gates 3 u (F + u), r
and z sum their two parts 2 u, n = tanh(x_n + r h_n) 2 u, h_t = n + z (h_{t-1} - n) 3 u). Weights G u (F + u);
biases G u per vector, two vectors in ONNX, PyTorch and Keras's reset_after GRU (one in a Keras LSTM).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import learncost
from conftest import run_cli
from learncost.importers.common import ImportFailure
from learncost.spec import build_model, validate_spec


def _spec(layers, shape):
    return build_model(validate_spec({"name": "s", "task": "classification", "input": {"shape": list(shape)},
                                      "layers": layers}))


def _layers(model):
    """(kind, output shape, weights, biases) per layer, and the cells' return_sequences."""
    return [(lr.kind, lr.output_shape, lr.weights, lr.biases,
             lr.attr("return_sequences") if lr.kind in ("lstm", "gru") else None) for lr in model.layers]


def _forward(model) -> list[int]:
    return [lr.macc["forward"] for lr in learncost.analyze(model, ["bp"]).layers]


def _same_as_spec(model, layers, shape):
    """The imported model's layers and forward MACC, layer by layer, equal the spec's."""
    spec = _spec(layers, shape)
    assert _layers(model) == _layers(spec)
    assert _forward(model) == _forward(spec)
    return _forward(model)


# -- ONNX ----------------------------------------------------------------------------------------------------

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402


def _onnx_cell(op, steps, features, units, *, layout=0, attrs=None, extra=(), read="h", classes=2, bias=True):
    """x (1, T, F) -> [Transpose to (T, 1, F) where layout 0] -> op -> the last h (Y_h squeezed) or the whole Y
    (flattened, batch first) -> Gemm -> Softmax; ``extra`` replaces the optional inputs after B."""
    gates = {"LSTM": 4, "GRU": 3}[op]
    rng = np.random.default_rng(0)

    def weight(name, *dims):
        return helper.make_tensor(name, TensorProto.FLOAT, dims, rng.standard_normal(dims).astype(np.float32).ravel())

    inits = [weight("W", 1, gates * units, features), weight("R", 1, gates * units, units)]
    if bias:
        inits.append(weight("B", 1, 2 * gates * units))
    nodes = []
    x = "x"
    if layout == 0:
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]))
        x = "xt"
    nodes.append(helper.make_node(op, [x, "W", "R", "B" if bias else "", *extra], ["Y", "Y_h"], hidden_size=units,
                                  layout=layout, **({"linear_before_reset": 1} if op == "GRU" else {}) | (attrs or {})))
    inits.append(helper.make_tensor("axes", TensorProto.INT64, [1], [0]))
    inits.append(helper.make_tensor("flat", TensorProto.INT64, [2], [1, -1]))
    if read == "h":  # Y_h (1, 1, u) -> (1, u)
        nodes.append(helper.make_node("Squeeze", ["Y_h", "axes"], ["last"]))
        width = units
    else:  # Y (T, 1, 1, u) time-major, or (1, T, 1, u) batch-first: every step, flattened
        if layout == 0:
            nodes.append(helper.make_node("Transpose", ["Y"], ["Yb"], perm=[2, 0, 1, 3]))
        nodes.append(helper.make_node("Reshape", ["Yb" if layout == 0 else "Y", "flat"], ["last"]))
        width = steps * units
    inits.append(weight("Wfc", classes, width))
    nodes += [helper.make_node("Gemm", ["last", "Wfc"], ["logits"], transB=1),
              helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    graph = helper.make_graph(nodes, "cell", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, steps, features])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString()


def _onnx(tmp_path, data, name="cell.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_onnx_lstm_last_step(tmp_path):
    """T 6, F 4, u 3, the last h read (Y_h): forward 6 (4 x 3 x (4 + 3) + 4 x 3) = 6 x 96 = 576; weights 4 x 3 x 7 =
    84, biases ONNX's two vectors 2 x 4 x 3 = 24. Dense 3 -> 2: 6, softmax 15 x 2 = 30 (the paper's convention)."""
    m = learncost.load_model(_onnx(tmp_path, _onnx_cell("LSTM", 6, 4, 3)))
    forward = _same_as_spec(m, [{"name": "l", "kind": "lstm", "units": 3, "return_sequences": False,
                                 "bias_vectors": 2}, {"name": "fc", "kind": "dense", "units": 2, "use_bias": False},
                                {"name": "out", "kind": "softmax"}], (6, 4))
    assert forward == [0, 576, 6, 30]
    assert _layers(m)[1] == ("lstm", (3,), 84, 24, False)
    pytest.importorskip("torch")  # executing needs PyTorch
    assert learncost.verify(m, ["bp"]).unexplained == []


def test_onnx_gru_every_step_batch_first(tmp_path):
    """layout 1 (X (1, T, F), Y (1, T, 1, u)), every step read: T 5, F 4, u 3: forward 5 (3 x 3 x (4 + 3) + 7 x 3) =
    5 x 84 = 420; weights 3 x 3 x 7 = 63, no bias. Flattened 15 -> dense 2: 30."""
    m = learncost.load_model(_onnx(tmp_path, _onnx_cell("GRU", 5, 4, 3, layout=1, read="seq", bias=False)))
    forward = _same_as_spec(m, [{"name": "g", "kind": "gru", "units": 3, "use_bias": False},
                                {"name": "f", "kind": "reshape", "shape": [15]},
                                {"name": "fc", "kind": "dense", "units": 2, "use_bias": False},
                                {"name": "out", "kind": "softmax"}], (5, 4))
    assert forward == [0, 420, 0, 30, 30]
    assert _layers(m)[1] == ("gru", (5, 3), 63, 0, True)
    pytest.importorskip("torch")  # executing needs PyTorch
    assert learncost.verify(m, ["bp"]).unexplained == []


def test_onnx_lstm_every_step_time_major(tmp_path):
    """Y (T, 1, 1, u) transposed batch first, then flattened: the transpose moves only axes of length 1, no layer.
    T 4, F 2, u 5: forward 4 (20 x 7 + 20) = 640."""
    m = learncost.load_model(_onnx(tmp_path, _onnx_cell("LSTM", 4, 2, 5, read="seq")))
    forward = _same_as_spec(m, [{"name": "l", "kind": "lstm", "units": 5, "bias_vectors": 2},
                                {"name": "f", "kind": "reshape", "shape": [20]},
                                {"name": "fc", "kind": "dense", "units": 2, "use_bias": False},
                                {"name": "out", "kind": "softmax"}], (4, 2))
    assert forward == [0, 640, 0, 40, 30]


@pytest.mark.parametrize("op, attrs, extra, match", [
    ("LSTM", {"direction": "bidirectional"}, (), "runs bidirectional"),
    ("GRU", {"linear_before_reset": 0}, (), "linear_before_reset=0"),
    ("LSTM", {"activations": ["Sigmoid", "Relu", "Tanh"]}, (), "activations"),
    ("LSTM", {}, ("", "", "", "P"), "peephole"),
])
def test_onnx_variants_are_refused_in_one_line(tmp_path, op, attrs, extra, match):
    data = onnx.load_model_from_string(_onnx_cell(op, 3, 2, 2, attrs=attrs, extra=extra))
    if extra:  # the peepholes P (directions, 3 u)
        data.graph.initializer.append(helper.make_tensor("P", TensorProto.FLOAT, [1, 6], [0.0] * 6))
    if attrs.get("direction") == "bidirectional":  # two directions' weights
        for t in data.graph.initializer:
            if t.name in ("W", "R", "B"):
                t.dims[0] = 2
                t.float_data.extend(t.float_data)
    with pytest.raises(ImportFailure, match=match) as err:
        learncost.load_model(_onnx(tmp_path, data.SerializeToString()))
    assert "\n" not in err.value.line() and err.value.code == "LC-IMPORT-UNSUPPORTED"


def test_onnx_refusal_exits_2_from_the_cli(tmp_path):
    path = _onnx(tmp_path, _onnx_cell("GRU", 3, 2, 2, attrs={"linear_before_reset": 0}))
    r = run_cli("analyze", str(path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "linear_before_reset=0" in lines[0] and "PyTorch's form" in lines[0]


def test_onnx_exported_by_torch(tmp_path):
    """torch.onnx.export of nn.LSTM(batch_first=True) then nn.Linear on the last step: Transpose (1, T, F) ->
    (T, 1, F), LSTM, Transpose/Reshape/Transpose back to (1, T, u) (axes of length 1 moved: no layer), Gather of
    step -1 (the last h: return_sequences false), Gemm. T 5, F 10, u 8: forward 5 (32 x 18 + 32) = 3,040; dense 24."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = torch.nn.LSTM(10, 8, batch_first=True), torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    path = tmp_path / "exported.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 5, 10),), str(path), dynamo=True, verbose=False)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops == ["Transpose", "LSTM", "Transpose", "Reshape", "Transpose", "Gather", "Gemm"]
    m = learncost.load_model(path)
    forward = _same_as_spec(m, [{"name": "l", "kind": "lstm", "units": 8, "return_sequences": False,
                                 "bias_vectors": 2}, {"name": "fc", "kind": "dense", "units": 3}], (5, 10))
    assert forward == [0, 3040, 24]
    assert learncost.verify(m, ["bp"]).unexplained == []


# -- PyTorch -------------------------------------------------------------------------------------------------

def _torch():
    return pytest.importorskip("torch")


def _net(forward, **modules):
    torch = _torch()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for k, v in modules.items():
                setattr(self, k, v)

    Net.forward = forward
    return Net()


def test_torch_lstm_last_step():
    """``y, (h, c) = lstm(x)`` then ``fc(y[:, -1])``: the last step only, return_sequences false; the unread h and c
    no layer. T 5, F 10, u 8: forward 5 (32 x 18 + 32) = 3,040; weights 32 x 18 = 576, PyTorch's two bias vectors
    2 x 32 = 64; dense 8 -> 3: 24."""
    nn = _torch().nn

    def forward(self, x):
        y, (h, c) = self.rnn(x)
        return self.fc(y[:, -1])

    m = learncost.from_torch(_net(forward, rnn=nn.LSTM(10, 8, batch_first=True), fc=nn.Linear(8, 3)), (1, 5, 10))
    forward = _same_as_spec(m, [{"name": "l", "kind": "lstm", "units": 8, "return_sequences": False,
                                 "bias_vectors": 2}, {"name": "fc", "kind": "dense", "units": 3}], (5, 10))
    assert forward == [0, 3040, 24]
    assert _layers(m)[1] == ("lstm", (8,), 576, 64, False)
    assert learncost.verify(m, ["bp"]).unexplained == []


def test_torch_gru_time_major_h_n():
    """batch_first=False, input (T, 1, F), ``fc(h_n[-1])``: T 5, F 10, u 8: forward 5 (24 x 18 + 7 x 8) = 5 x 488 =
    2,440; dense 24."""
    nn = _torch().nn

    def forward(self, x):
        return self.fc(self.rnn(x)[1][-1])

    m = learncost.from_torch(_net(forward, rnn=nn.GRU(10, 8), fc=nn.Linear(8, 3)), (5, 1, 10))
    forward = _same_as_spec(m, [{"name": "g", "kind": "gru", "units": 8, "return_sequences": False},
                                {"name": "fc", "kind": "dense", "units": 3}], (5, 10))
    assert forward == [0, 2440, 24]
    assert learncost.verify(m, ["bp"]).unexplained == []


def test_torch_stacked_cells_after_a_dense_layer():
    """dense 6 -> 30, viewed (1, 5, 6) batch first (the IR's (1, 6, 5) of a 3-D tensor, reshaped to the (5, 6) the
    cell reads), LSTM every step (read by the GRU), GRU without bias, its last step, dense. LSTM T 5, F 6, u 5:
    5 (20 x 11 + 20) = 1,200; GRU T 5, F 5, u 4: 5 (12 x 9 + 28) = 680; dense 180 and 8."""
    nn = _torch().nn

    def forward(self, x):
        y, _ = self.lstm(self.a(x).view(1, 5, 6))
        z, _ = self.gru(y)
        return self.fc(z[:, -1])

    m = learncost.from_torch(_net(forward, a=nn.Linear(6, 30), lstm=nn.LSTM(6, 5, batch_first=True),
                                  gru=nn.GRU(5, 4, batch_first=True, bias=False), fc=nn.Linear(4, 2)), (1, 6))
    forward = _same_as_spec(m, [{"name": "a", "kind": "dense", "units": 30},
                                {"name": "v", "kind": "reshape", "shape": [1, 6, 5]},
                                {"name": "s", "kind": "reshape", "shape": [5, 6]},
                                {"name": "l", "kind": "lstm", "units": 5, "bias_vectors": 2},
                                {"name": "g", "kind": "gru", "units": 4, "return_sequences": False, "use_bias": False},
                                {"name": "fc", "kind": "dense", "units": 2}], (6,))
    assert forward == [0, 180, 0, 0, 1200, 680, 8]
    assert learncost.verify(m, ["bp"]).unexplained == []


@pytest.mark.parametrize("make, match", [
    (lambda nn: nn.LSTM(4, 3, num_layers=2, batch_first=True), "num_layers > 1"),
    (lambda nn: nn.GRU(4, 3, bidirectional=True, batch_first=True), "bidirectional"),
    (lambda nn: nn.LSTM(4, 3, proj_size=2, batch_first=True), "proj_size"),
])
def test_torch_variants_are_refused_in_one_line(make, match):
    nn = _torch().nn

    def forward(self, x):
        return self.rnn(x)[0]

    with pytest.raises(ImportFailure, match=match) as err:
        learncost.from_torch(_net(forward, rnn=make(nn)), (1, 3, 4))
    assert "\n" not in err.value.line() and err.value.code == "LC-IMPORT-UNSUPPORTED"


def test_torch_cell_state_read_is_refused():
    nn = _torch().nn

    def forward(self, x):
        return self.rnn(x)[1][1]

    with pytest.raises(ImportFailure, match="cell state c_n read"):
        learncost.from_torch(_net(forward, rnn=nn.LSTM(4, 3, batch_first=True)), (1, 3, 4))


# -- Keras ---------------------------------------------------------------------------------------------------

def _k2(name, cls, cfg, inbound):
    return {"class_name": cls, "name": name, "config": {"name": name, **cfg},
            "inbound_nodes": [[[i, 0, 0, {}] for i in inbound]] if inbound else []}


def _keras(tmp_path, layers):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"name": "m", "layers": layers}})
    return path


CELL = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True}


def test_keras_stacked_lstm_and_gru(tmp_path):
    """Input (T 6, F 4); LSTM 5 units every step (Keras's one bias vector: 4 x 5 = 20); GRU 3 units, its last step
    (reset_after, two vectors: 2 x 9 = 18); Dense 2 with softmax. LSTM 6 (20 x 9 + 20) = 1,200; GRU 6 (9 x 8 + 21) =
    6 x 93 = 558; dense 6; softmax 30."""
    path = _keras(tmp_path, [
        _k2("in", "InputLayer", {"batch_input_shape": [None, 6, 4], "dtype": "float32"}, []),
        _k2("l", "LSTM", {**CELL, "units": 5, "return_sequences": True}, ["in"]),
        _k2("g", "GRU", {**CELL, "units": 3, "return_sequences": False, "reset_after": True}, ["l"]),
        _k2("fc", "Dense", {"units": 2, "activation": "softmax", "use_bias": True}, ["g"])])
    m = learncost.load_model(path)
    forward = _same_as_spec(m, [{"name": "l", "kind": "lstm", "units": 5},
                                {"name": "g", "kind": "gru", "units": 3, "return_sequences": False},
                                {"name": "fc", "kind": "dense", "units": 2},
                                {"name": "fc_softmax", "kind": "softmax"}], (6, 4))
    assert forward == [0, 1200, 558, 6, 30]
    assert [lr[2:4] for lr in _layers(m)[1:3]] == [(180, 20), (72, 18)]
    pytest.importorskip("torch")  # executing needs PyTorch
    assert learncost.verify(m, ["bp"]).unexplained == []


@pytest.mark.parametrize("cls, cfg, match", [
    ("GRU", {"reset_after": False}, "reset_after=False"),
    ("LSTM", {"recurrent_activation": "hard_sigmoid"}, "recurrent_activation='hard_sigmoid'"),
    ("LSTM", {"go_backwards": True}, "go_backwards"),
])
def test_keras_variants_are_refused_in_one_line(tmp_path, cls, cfg, match):
    path = _keras(tmp_path, [
        _k2("in", "InputLayer", {"batch_input_shape": [None, 6, 4], "dtype": "float32"}, []),
        _k2("c", cls, {**CELL, "units": 3, **cfg}, ["in"])])
    with pytest.raises(ImportFailure, match=match) as err:
        learncost.load_model(path)
    assert "\n" not in err.value.line() and err.value.code == "LC-IMPORT-UNSUPPORTED"
