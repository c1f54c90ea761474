"""Graphs with several inputs (sensor fusion, a sample and its side information): every input is a layer
of kind ``input`` at the head of the IR, filled before the first layer runs. The same two-input network
written as a spec, a PyTorch module, an ONNX graph, a Keras model and a .tflite file gives the same
layers and counts; every procedure executes it as counted; TFLite Micro's own interpreter is the oracle
of its arena (test_tflm.py, "two inputs").

The network (hand derivation of every figure below, executed convention, int8-fp32grad):
  input 8x8x1 -> conv 3x3 'same', 4 filters: 3*3*1 * 8*8*4 = 2,304 MACC
              -> global average pool 8x8x4: 8*8*4 = 256, flatten
  side (6,)   -> dense 6 -> 4: 24
  concat (8,) -> dense 8 -> 4 (the logits): 32           forward: 2,304 + 256 + 24 + 32 = 2,616
"""

from __future__ import annotations

import json

import pytest

import learncost
from conftest import run_cli
from learncost.errors import SpecError
from learncost.spec import model_from_data

SPEC = {
    "name": "two-input", "classes": 4, "input": {"shape": [8, 8, 1]},
    "layers": [
        {"kind": "input", "name": "side", "shape": [6]},
        {"kind": "conv2d", "name": "c1", "filters": 4, "kernel": 3, "padding": "same", "inputs": ["input"],
         "activation": "relu"},
        {"kind": "avg_pool2d", "name": "gap", "global": True},
        {"kind": "flatten", "name": "flat"},
        {"kind": "dense", "name": "d_side", "units": 4, "inputs": ["side"], "activation": "relu"},
        {"kind": "concat", "name": "cat", "inputs": ["flat", "d_side"]},
        {"kind": "dense", "name": "logits", "units": 4},
    ],
}
FORWARD = {"c1": 2_304, "gap": 256, "d_side": 24, "logits": 32}


def _spec():
    return model_from_data(SPEC, origin="two.yaml")


def _forward(model) -> dict[str, int]:
    rows = learncost.analyze(model, ["bp"], setup="int8-fp32grad").layers
    return {lr.name: lr.macc["forward"] for lr in rows if lr.macc["forward"]}


def test_inputs_head_the_ir_and_are_filled_first():
    m = _spec()
    assert [lr.name for lr in m.inputs] == ["input", "side"] and m.input.name == "input"
    assert m.input_elements == 64 + 6 and [lr.name for lr in m.computed][0] == "c1"
    assert _forward(m) == FORWARD
    a = learncost.analyze(m, ["bp", "pepita"], setup="int8-fp32grad", memory="live")
    # PEPITA's F spans every input: classes x (64 + 6) = 280, the projection F e
    pepita = a.row("pepita", "training")
    assert pepita.macc_by_operation["projection"] == 4 * 70
    # inference: both inputs are held while the convolution runs: 64 + 6 + its 8x8x4 output = 326 B
    assert a.row("bp", "inference").activations_bytes == 64 + 6 + 256
    # the paper's setup: the same forward (no softmax head here), the inputs' buffers at the paper's rule
    assert learncost.analyze(m, ["bp"]).row("bp", "inference").macc == sum(FORWARD.values()) == 2_616


def test_an_input_after_a_computing_layer_is_refused_with_the_way_out():
    data = json.loads(json.dumps(SPEC))
    data["layers"].insert(1, data["layers"].pop(0))  # side after c1
    data["layers"][1]["inputs"] = []
    with pytest.raises(SpecError) as err:
        model_from_data(data, origin="two.yaml")
    assert err.value.location == "two.yaml: layers[1] (side).kind"
    assert "before every layer that computes" in err.value.message and "top of layers" in err.value.hint
    data = json.loads(json.dumps(SPEC))
    data["layers"][0]["inputs"] = ["input"]
    with pytest.raises(SpecError, match="input takes 0 input"):
        model_from_data(data, origin="two.yaml")


def test_every_procedure_executes_two_inputs_as_counted():
    pytest.importorskip("torch")
    from learncost.procedures import PROCEDURES
    from learncost.verify import verify

    v = verify(_spec(), list(PROCEDURES), setup="int8-fp32grad")
    assert v.unexplained == []
    for c in v.checks:
        for o in c.operations:
            assert o.counted == o.analytic, (c.procedure, c.phase, o.operation)
        assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes, c.procedure
    pepita = next(c for c in v.checks if c.procedure == "pepita" and c.phase == "training")
    assert next(o.counted for o in pepita.operations if o.operation == "projection") == 280
    # checkpointed BP cuts its body only where no input waits for a reader: the first segment starts from both
    plan = learncost.analyze(_spec(), ["bp-checkpoint"], setup="int8-fp32grad")
    assert plan.row("bp-checkpoint", "training").macc > 0


def _same_network(m):
    kinds = [(lr.kind, lr.output_shape) for lr in m.layers if lr.kind not in ("reshape", "softmax")]
    assert kinds[:2] == [("input", (8, 8, 1)), ("input", (6,))]
    assert sorted(v for v in _forward(m).values()) == sorted(FORWARD.values())


def test_pytorch_module_with_two_arguments():
    torch = pytest.importorskip("torch")
    from torch import nn

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.gap = nn.Conv2d(1, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1)
            self.d_side, self.logits = nn.Linear(6, 4), nn.Linear(8, 4)

        def forward(self, x, side):
            a = self.gap(torch.relu(self.c1(x))).flatten(1)
            return self.logits(torch.cat([a, torch.relu(self.d_side(side))], 1))

    m = learncost.from_torch(Two(), [(1, 1, 8, 8), (1, 6)])
    _same_network(m)
    assert [lr.name for lr in m.inputs] == ["input", "side"] and m.by_name["d_side"].inputs == ("side",)
    with pytest.raises(learncost.LearncostError, match="forward takes 2 input"):
        learncost.from_torch(Two(), (1, 1, 8, 8))
    # executed through the same module build verify uses: the values torch computes
    from learncost.torch_build import build_module, example_inputs

    net = build_module(m)
    xs = example_inputs(m, seed=1)
    assert net(*xs).shape == (1, 4)


def test_onnx_graph_with_two_inputs(tmp_path):
    pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def w(name, *shape):
        return numpy_helper.from_array(np.zeros(shape, np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "wc"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["side", "ws"], ["s"], transB=1), helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("Concat", ["f", "sr"], ["cat"], axis=1),
             helper.make_node("Gemm", ["cat", "wl"], ["y"], transB=1)]
    ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8]),
           helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 6])]
    graph = helper.make_graph(nodes, "g", ins, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[w("wc", 4, 1, 3, 3), w("ws", 4, 6), w("wl", 4, 8)])
    path = tmp_path / "two.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString())
    m = learncost.load_model(path)
    _same_network(m)
    assert [lr.name for lr in m.inputs] == ["input", "side"]
    out = run_cli("analyze", str(path), "-p", "pepita", "-s", "int8-fp32grad", "--format", "json")
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout)["rows"] if r["phase"] == "training")
    assert row["macc_by_operation"]["projection"] == 4 * 70


def test_keras_model_with_two_input_layers(tmp_path):
    pytest.importorskip("h5py")
    from test_import_coverage import _h5, _layer

    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        _layer("x", "InputLayer", {"batch_input_shape": [None, 8, 8, 1]}, []),
        _layer("c1", "Conv2D", {"filters": 4, "kernel_size": 3, "strides": 1, "padding": "same",
                                "activation": "relu"}, ["x"]),
        _layer("gap", "GlobalAveragePooling2D", {}, ["c1"]),
        _layer("side", "InputLayer", {"batch_input_shape": [None, 6]}, []),
        _layer("d_side", "Dense", {"units": 4, "activation": "relu"}, ["side"]),
        _layer("cat", "Concatenate", {"axis": -1}, ["gap", "d_side"]),
        _layer("logits", "Dense", {"units": 4}, ["cat"]),
    ]}}
    m = learncost.load_model(_h5(tmp_path, config, "two.h5"))
    _same_network(m)
    assert [lr.name for lr in m.inputs] == ["input", "side"] and m.by_name["d_side"].inputs == ("side",)
    config["config"]["layers"][3]["config"]["batch_input_shape"] = [None, None]
    out = run_cli("analyze", str(_h5(tmp_path, config, "unknown.h5")))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "the shape of input 2 ('side') is unknown" in out.stderr


def test_tflite_file_with_two_inputs(tmp_path):
    import numpy as np
    import tflite
    from tflite_writer import FLOAT32, TFLiteWriter, concat_options, conv_options, fc_options

    B = tflite.BuiltinOperator
    w = TFLiteWriter()

    def const(*shape):
        return w.tensor(None, list(shape), FLOAT32, np.zeros(int(np.prod(shape)), np.float32).tobytes())

    x = w.tensor("x", [1, 8, 8, 1], FLOAT32)
    side = w.tensor("side", [1, 6], FLOAT32)
    c = w.tensor(None, [1, 8, 8, 4], FLOAT32)
    w.op(B.CONV_2D, [x, const(4, 3, 3, 1), const(4)], [c], conv_options())
    g = w.tensor(None, [1, 4], FLOAT32)
    w.op(B.MEAN, [c, w.int32("axes", [1, 2])], [g])
    s = w.tensor(None, [1, 4], FLOAT32)
    w.op(B.FULLY_CONNECTED, [side, const(4, 6), const(4)], [s], fc_options(activation=1))
    cat = w.tensor(None, [1, 8], FLOAT32)
    w.op(B.CONCATENATION, [g, s], [cat], concat_options())
    y = w.tensor(None, [1, 4], FLOAT32)
    w.op(B.FULLY_CONNECTED, [cat, const(4, 8), const(4)], [y], fc_options())
    path = tmp_path / "two.tflite"
    path.write_bytes(w.bytes([x, side], [y]))
    m = learncost.load_model(path)
    _same_network(m)
    assert [lr.name for lr in m.inputs] == ["input", "side"]


@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad"])
def test_live_workbook_recomputes_with_two_inputs(tmp_path, setup):
    """The workbook's PEPITA projection cell is classes x (input's elements + side's elements); recomputed by
    an independent engine (the ``formulas`` package), every total and layer cell is learncost's figure."""
    pytest.importorskip("formulas")
    from learncost.report import workbook as W
    from test_workbook import BOARDS, _check_layers, _check_totals, _compute

    a = learncost.analyze(_spec(), mcus=BOARDS, setup=setup)
    book = W.build([a])
    W.write_xlsx(book, tmp_path / "two.xlsx")
    cells = _compute(tmp_path / "two.xlsx")
    _check_totals(cells, book, [a])
    sheet = book.sheets[2].name
    _check_layers(cells, a, sheet)
    projection = W.col_letter(W.LAYER_COLS.index("projection"))
    assert cells[(sheet.upper(), f"{projection}2")] == a.row("pepita", "training").macc_by_operation["projection"] == 280


@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad"])
def test_a_sweep_over_an_input_size_equals_each_variants_analysis(setup):
    """The side input's size and the filters as parameters: every variant of the sweep (one evaluation over
    arrays) equals its own analysis, MACC and RAM, under every procedure."""
    import itertools

    from learncost import sweep

    data = json.loads(json.dumps(SPEC))
    data["parameters"] = {"side": 6, "f": 4}
    data["layers"][0]["shape"] = ["=side"]
    data["layers"][1]["filters"] = "=f"
    values = {"side": [6, 12, 1], "f": [4, 8]}
    s = sweep.run(data, values, mcus=["stm32h735g-dk"], setup=setup)
    for v, combo in enumerate(itertools.product(*values.values())):
        assignment = dict(zip(values, combo))
        a = learncost.analyze(model_from_data(data, origin="two.yaml", values=assignment), mcus=["stm32h735g-dk"],
                              setup=setup)
        for r in a.rows:
            assert s.macc[(r.procedure, r.phase)][v] == r.macc, (assignment, r.procedure, r.phase)
            assert s.ram[(r.procedure, r.phase)][v] == r.ram_bytes, (assignment, r.procedure, r.phase)
        assert a.row("pepita", "training").macc_by_operation["projection"] == 4 * (64 + assignment["side"])


def test_a_shared_encoder_is_said_to_count_its_parameters_per_call():
    """A siamese network: one Linear(6, 4) applied to both inputs is two dense layers of 24 + 4 parameters each,
    and a warning says its parameters are counted once per call (the IR has no shared weights)."""
    torch = pytest.importorskip("torch")
    from torch import nn

    class Siamese(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.out = nn.Linear(6, 4), nn.Linear(8, 2)

        def forward(self, a, b):
            return self.out(torch.cat([self.enc(a), self.enc(b)], 1))

    m = learncost.from_torch(Siamese(), [(1, 6), (1, 6)])
    assert [(lr.name, lr.inputs) for lr in m.computed if lr.kind == "dense"] == [
        ("enc", ("input",)), ("enc_1", ("b",)), ("out", ("cat",))]
    assert m.weights + m.biases == 2 * (24 + 4) + 16 + 2
    assert any("called more than once: enc;" in w and "counted once per call" in w for w in m.warnings)
