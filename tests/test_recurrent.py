"""Recurrent cells (issue 13): ``lstm`` and ``gru`` unrolled over the T steps of a (T, F) sequence, TFLite's
``svdf`` on one frame. Each formula against a hand derivation; each kind executed by ``verify`` (counted MACs
equal the analytic forward, dX and dW; the schedule holds the tracked bytes, the saved states included, at every
step) with a hand-written backward through time that matches autograd's gradients; TFLite round trips and the
TensorFlow Lite Micro examples, read from the local mirror of tflite-micro when it exists.

Notation (``costs.formulas``): T steps, F features, u units, G gates (LSTM 4, GRU 3), rs = 1 where every step's
output is read. Forward: LSTM T (4 u (F + u) + 4 u), GRU T (3 u (F + u) + 7 u), SVDF units rank (F + memory).
Backward: the gate errors through time (LSTM 5 u T + (T - 1) (4 u u + 2 u), GRU 6 u T + (T - 1) (3 u u + rs u),
SVDF units rank), booked with dX = T G u F (SVDF units rank F) where an error passes to the input, else with
dW = T G u (F + u) (SVDF units rank (F + memory))."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import learncost
from learncost.errors import LearncostError, SetupError, SpecError
from learncost.spec import build_model, validate_spec

PAPER_OPS = ("forward", "backward", "weight_update")


def _model(layers, shape, task="classification"):
    return build_model(validate_spec({"name": "t", "task": task, "input": {"shape": list(shape)}, "layers": layers}))


def _macc(model, procedure="bp"):
    a = learncost.analyze(model, [procedure])
    return {lr.name: {k: v for k, v in lr.macc.items() if v and k in PAPER_OPS} for lr in a.layers}


#: a dense layer before the cells, so that an error passes to their inputs (dX booked)
STACK = [
    {"name": "d", "kind": "dense", "units": 12},
    {"name": "seq", "kind": "reshape", "shape": [4, 3]},
    {"name": "l", "kind": "lstm", "units": 3},
    {"name": "g", "kind": "gru", "units": 2, "return_sequences": False},
    {"name": "fc", "kind": "dense", "units": 2},
    {"name": "out", "kind": "softmax"},
]
#: a cell first: no error passes to its input, its gate errors are dW's
LSTM_FIRST = [{"name": "l", "kind": "lstm", "units": 3, "return_sequences": False, "bias_vectors": 2},
              {"name": "fc", "kind": "dense", "units": 2}, {"name": "out", "kind": "softmax"}]
GRU_FIRST = [{"name": "g", "kind": "gru", "units": 3}, {"name": "f", "kind": "flatten"},
             {"name": "fc", "kind": "dense", "units": 2}, {"name": "out", "kind": "softmax"}]
SVDF = [{"name": "s", "kind": "svdf", "units": 4, "rank": 2, "memory": 3, "activation": "relu"},
        {"name": "s2", "kind": "svdf", "units": 3, "memory": 4},
        {"name": "fc", "kind": "dense", "units": 2}, {"name": "out", "kind": "softmax"}]
MODELS = {"stack": (STACK, (6,)), "lstm_first": (LSTM_FIRST, (5, 4)), "gru_first": (GRU_FIRST, (5, 4)),
          "svdf": (SVDF, (6,))}


def _built(name):
    layers, shape = MODELS[name]
    return _model(layers, shape)


# -- shapes and parameters ----------------------------------------------------------------------------

def test_shapes_and_parameter_counts():
    m = _built("stack")
    lstm, gru = m.by_name["l"], m.by_name["g"]
    # LSTM: 4 gates x (F + u) x u = 4 x (3 + 3) x 3 = 72 weights, 4 u = 12 biases; every step's h_t: (4, 3)
    assert (lstm.output_shape, lstm.weights, lstm.biases, lstm.has_weights) == ((4, 3), 72, 12, True)
    # GRU: 3 x (3 + 2) x 2 = 30 weights; PyTorch's two bias vectors per gate by default, 2 x 3 x 2 = 12; the last h_T
    assert (gru.output_shape, gru.weights, gru.biases) == ((2,), 30, 12)
    first = _built("lstm_first").by_name["l"]
    assert (first.weights, first.biases) == (4 * (4 + 3) * 3, 2 * 4 * 3)  # 84, two bias vectors: 24
    s = _built("svdf").by_name["s"]
    # SVDF: feature filter units rank x F = 8 x 6, time filter 8 x memory 3: 72 weights; one bias per unit
    assert (s.output_shape, s.weights, s.biases) == ((4,), 8 * 6 + 8 * 3, 4)


def test_refusals_name_the_field():
    with pytest.raises(SpecError, match=r"needs a sequence \(T, F\)"):
        _model([{"kind": "lstm", "units": 2}], (4, 4, 2))
    with pytest.raises(SpecError, match="one frame"):
        _model([{"kind": "svdf", "units": 2, "memory": 3}], (4, 6))
    with pytest.raises(SpecError, match="must be 1 or 2"):
        _model([{"kind": "gru", "units": 2, "bias_vectors": 3}], (4, 6))


# -- formulas, derived by hand ----------------------------------------------------------------------------

def test_lstm_and_gru_formulas_after_a_trained_layer():
    """l: T 4, F 3, u 3, every step read. Forward 4 x (4 x 3 x (3 + 3) + 4 x 3) = 4 x (72 + 12) = 336. Gate errors
    5 x 3 x 4 + 3 x (4 x 9 + 2 x 3) = 60 + 126 = 186, dX 4 x 12 x 3 = 144: backward 330. dW 4 x 12 x 6 = 288.
    g: T 4, F 3, u 2, the last step read. Forward 4 x (3 x 2 x 5 + 7 x 2) = 4 x 44 = 176. Gate errors
    6 x 2 x 4 + 3 x (3 x 4 + 0) = 48 + 36 = 84, dX 4 x 6 x 3 = 72: backward 156. dW 4 x 6 x 5 = 120."""
    f = _macc(_built("stack"))
    assert f["l"] == {"forward": 336, "backward": 330, "weight_update": 288}
    assert f["g"] == {"forward": 176, "backward": 156, "weight_update": 120}


def test_gate_errors_go_to_dw_where_no_error_passes():
    """A cell first: no dX, its gate errors join dW. LSTM T 5, F 4, u 3: forward 5 x (12 x 7 + 12) = 480; dW
    5 x 12 x 7 = 420 plus gate errors 5 x 3 x 5 + 4 x (4 x 9 + 2 x 3) = 75 + 168 = 243: 663. GRU T 5, F 4, u 3, every
    step read: forward 5 x (9 x 7 + 21) = 420; dW 5 x 9 x 7 = 315 plus 6 x 3 x 5 + 4 x (3 x 9 + 3) = 90 + 120 = 210:
    525."""
    assert _macc(_built("lstm_first"))["l"] == {"forward": 480, "weight_update": 663}
    assert _macc(_built("gru_first"))["g"] == {"forward": 420, "weight_update": 525}


def test_svdf_formulas():
    """s: F 6, units 4, rank 2, memory 3, first: forward 4 x 2 x (6 + 3) = 72; dW 72 plus the newest frame's error
    da, one product per filter (8): 80. s2: F 4, units 3, rank 1, memory 4: forward 3 x (4 + 4) = 24; backward
    da (3) + W_f^T da (3 x 4): 15; dW 24."""
    f = _macc(_built("svdf"))
    assert f["s"] == {"forward": 72, "weight_update": 80}
    assert f["s2"] == {"forward": 24, "backward": 15, "weight_update": 24}


def test_bias_gradients_and_local_procedures():
    """db sums each bias vector's gate errors over time: LSTM T G u per vector, 5 x 12 x 2 = 120 (int8-fp32grad
    books it). FF and PEPITA train a cell from its local error, its weight gradient through time as BP's."""
    from learncost.evaluate import Evaluator

    m = _built("lstm_first")
    costs = dict(zip([layer.name for layer in m.layers], Evaluator(m, "int8-fp32grad").costs))
    assert costs["l"]["bias_gradient"] == 120
    for procedure in ("ff", "pepita"):
        assert _macc(m, procedure)["l"]["weight_update"] == 663


def test_forward_gradient_and_partial_training_are_refused():
    m = _built("stack")
    with pytest.raises(LearncostError) as err:
        learncost.analyze(m, ["forward-gradient"])
    assert err.value.code == "LC-PROCEDURE-MODEL" and "recurrent layer 'l'" in err.value.line()
    from learncost.evaluate import Evaluator
    from learncost.setups import LastK, load

    paper = load("paper")
    half = paper.model_copy(update={"update": paper.update.model_copy(update={"weights": LastK(last=3, ratio=0.5)})})
    with pytest.raises(SetupError, match="trains it whole"):
        Evaluator(m, half)


# -- executed as counted --------------------------------------------------------------------------------

@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad", "bias-only"])
@pytest.mark.parametrize("name", list(MODELS))
def test_recurrent_kinds_execute_as_counted(name, setup):
    pytest.importorskip("torch")
    from learncost.verify import verify

    v = verify(_built(name), ["bp"], setup=setup)
    assert v.unexplained == []
    for c in v.checks:
        for o in c.operations:
            assert o.counted == o.expected, (c.phase, o.operation)
            if setup != "paper" or o.operation in ("backward", "weight_update"):
                assert o.counted == o.analytic, (c.phase, o.operation)
        assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes
    counted = {o.operation: o.counted for o in v.check("bp", "training").operations}
    analytic = {lr.name: lr.macc for lr in learncost.analyze(_built(name), ["bp"], setup=setup).layers}
    assert counted.get("weight_update", 0) == sum(m.get("weight_update", 0) for m in analytic.values())
    assert counted.get("weight_update", 0) > 0 or setup == "bias-only"


def test_saved_states_are_held_until_the_backward_step():
    """lstm_first under int8-fp32grad (saved tensors int8, gradients float32): the LSTM's states, 6 u T = 6 x 3 x 5
    = 90 values, 90 bytes, are live from its forward step until its backward step; float32 saved tensors, 360."""
    pytest.importorskip("torch")
    from learncost.evaluate import Evaluator
    from learncost.procedures import get_procedure

    from learncost.schedules.common import states_bytes, states_elements
    from learncost.verify import verify

    ev = Evaluator(_built("lstm_first"), "int8-fp32grad")
    layer = ev.model.by_name["l"]
    assert states_elements(layer) == 90 and states_bytes(layer, ev.sizes, 1) == 90
    assert states_bytes(layer, Evaluator(ev.model, "float32").sizes, 1) == 360
    assert get_procedure("bp").id == "bp"
    memory = verify(ev.model, ["bp"], setup="int8-fp32grad").check("bp", "training").memory
    assert "states l" in memory.tracked_buffers


@pytest.mark.parametrize("name", list(MODELS))
def test_backward_through_time_matches_autograd(monkeypatch, name):
    """One SGD step at learning rate 1: W0 - W1 is the reference's gradient, from the saved states alone; autograd's
    comes from the whole graph."""
    pytest.importorskip("torch")
    from test_verify_setups import gradients_match_autograd

    assert gradients_match_autograd(monkeypatch, _built(name)) > 0


@pytest.mark.parametrize("name", list(MODELS))
def test_recurrent_kinds_under_other_procedures(name):
    """Checkpointed backpropagation (the forward recomputed), FA (the error through fixed B_l), DFA (the output error
    projected to each layer) and MeZO (forward passes and perturbations alone) run every cell too: each operation
    counted equals its formula, the bytes held the schedule's (under bp only before). Under DFA a cell after another
    computes its gate errors through time for its update alone: the analysis booked them with a dX DFA never
    computes, and left them out (3 MACs for the SVDF's second cell, 270 for the stack's GRU)."""
    pytest.importorskip("torch")
    from learncost.verify import verify

    v = verify(_built(name), ["bp-checkpoint", "fa", "dfa", "mezo"], setup="int8-fp32grad")
    assert v.unexplained == [] and len(v.checks) == 8
    for c in v.checks:
        assert all(o.counted == o.analytic for o in c.operations), (c.procedure, c.phase)
        assert c.memory.schedule_mismatch == [] and c.memory.tracked_bytes == c.memory.schedule_bytes


def test_verify_refuses_other_procedures_in_one_line():
    pytest.importorskip("torch")
    from learncost.verify import verify

    with pytest.raises(LearncostError) as err:
        verify(_built("svdf"), ["bp", "ff"])
    assert err.value.code == "LC-VERIFY-UNSUPPORTED" and "under bp, bp-checkpoint, fa, dfa, mezo only, not ff" in \
        err.value.line()


# -- TFLite round trips ---------------------------------------------------------------------------------

def _lstm_file(peephole: bool = False) -> bytes:
    """x (1, 6, 5) -> UNIDIRECTIONAL_SEQUENCE_LSTM of 4 units (int8 weights, int32 biases) -> (1, 6, 4)."""
    import tflite
    from tflite_writer import INT32, TFLiteWriter, lstm_options

    w = TFLiteWriter()
    x = w.tensor("x", [1, 6, 5])
    ins = [x] + [w.const(f"w{k}", [4, 5]) for k in range(4)] + [w.const(f"r{k}", [4, 4]) for k in range(4)]
    ins += [w.const("peep", [4]) if peephole else -1, -1, -1]
    ins += [w.const(f"b{k}", [4], INT32) for k in range(4)] + [-1, -1]
    ins += [w.tensor("h0", [1, 4]), w.tensor("c0", [1, 4])] + [-1] * 4
    y = w.tensor("y", [1, 6, 4])
    w.op(tflite.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, ins, [y], lstm_options())
    return w.bytes([x], [y])


def test_tflite_lstm_round_trip(tmp_path):
    """T 6, F 5, u 4: weights 4 x 4 x (5 + 4) = 144, biases 16; forward 6 x (16 x 9 + 16) = 960."""
    path = tmp_path / "lstm.tflite"
    path.write_bytes(_lstm_file())
    m = learncost.load_model(path)
    lstm = m.layers[1]
    assert (lstm.kind, lstm.input_shapes[0], lstm.output_shape) == ("lstm", (6, 5), (6, 4))
    assert (lstm.weights, lstm.biases, lstm.weight_dtype, lstm.bias_dtype) == (144, 16, "int8", "int32")
    assert _macc(m)[lstm.name] == {"forward": 960, "weight_update": 6 * 16 * 9 + 5 * 4 * 6 + 5 * (64 + 8)}


def test_tflite_lstm_variants_are_named(tmp_path):
    from learncost.importers.common import ImportFailure

    path = tmp_path / "peephole.tflite"
    path.write_bytes(_lstm_file(peephole=True))
    with pytest.raises(ImportFailure) as err:
        learncost.load_model(path)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM (peephole connections) (operator 0)" in err.value.line()


def test_tflite_svdf_round_trip(tmp_path):
    """x (1, 10) -> SVDF rank 2, 3 units (6 filters), memory 5, relu -> (1, 3): weights 6 x 10 + 6 x 5 = 90, biases 3;
    forward 3 x 2 x (10 + 5) = 90."""
    import tflite
    from tflite_writer import INT32, TFLiteWriter, svdf_options

    w = TFLiteWriter()
    x = w.tensor("x", [1, 10])
    ins = [x, w.const("feature", [6, 10]), w.const("time", [6, 5]), w.const("bias", [3], INT32),
           w.tensor("state", [1, 30])]
    y = w.tensor("y", [1, 3])
    w.op(tflite.BuiltinOperator.SVDF, ins, [y], svdf_options(rank=2))
    path = tmp_path / "svdf.tflite"
    path.write_bytes(w.bytes([x], [y]))
    m = learncost.load_model(path)
    s = m.layers[1]
    assert (s.kind, s.output_shape, s.weights, s.biases, s.activation) == ("svdf", (3,), 90, 3, "relu")
    assert (s.attr("units"), s.attr("rank"), s.attr("memory")) == (3, 2, 5)
    assert _macc(m)[s.name]["forward"] == 90


# -- TensorFlow Lite Micro's examples, from the local mirror ------------------------------------------------

MIRROR = Path("/work/.mirror/tensorflow+tflite-micro/repo")


def _example(tmp_path, path: str) -> Path:
    if not MIRROR.exists():
        pytest.skip(f"no local mirror of tflite-micro at {MIRROR}")
    out = tmp_path / Path(path).name
    data = subprocess.run(["git", "--git-dir", str(MIRROR), "show", f"HEAD:{path}"], capture_output=True, check=False)
    if data.returncode:
        pytest.skip(f"{path} is not in the mirror")
    out.write_bytes(data.stdout)
    return out


def _forward(model) -> dict:
    a = learncost.analyze(model, ["bp"])
    return {layer.kind + ":" + lr.name: lr.macc.get("forward", 0) for layer, lr in zip(model.layers, a.layers)
            if lr.macc.get("forward", 0)}


def test_tflm_mnist_lstm(tmp_path):
    """mnist_lstm/trained_lstm_int8.tflite: 28 rows of 28 pixels, LSTM of 20 units, every step read, then dense
    560 -> 10 and the softmax. LSTM 28 x (4 x 20 x (28 + 20) + 4 x 20) = 28 x 3,920 = 109,760; dense 5,600;
    softmax 15 x 10 = 150 (the paper's convention)."""
    m = learncost.load_model(_example(tmp_path, "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm_int8.tflite"))
    lstm = m.layers[1]
    assert (lstm.kind, lstm.input_shapes[0], lstm.output_shape, lstm.weights, lstm.biases) == \
        ("lstm", (28, 28), (28, 20), 4 * 20 * 48, 80)
    assert list(_forward(m).values()) == [109_760, 5_600, 150]


def test_tflm_micro_speech_lstm(tmp_path):
    """micro_speech_lstm.tflite: 49 frames of 257 features, LSTM of 80 units: 49 x (320 x 337 + 320) = 5,299,840;
    dense 3,920 -> 3: 11,760; softmax 45."""
    m = learncost.load_model(_example(tmp_path, "third_party/xtensa/examples/micro_speech_lstm/micro_speech_lstm.tflite"))
    assert list(_forward(m).values()) == [5_299_840, 11_760, 45]


def test_tflm_keyword_scrambled_svdf(tmp_path):
    """keyword_scrambled_8bit.tflite: 96 features; SVDF rank 1 of 64 units, memory 8: 64 x (96 + 8) = 6,656; three
    dense 64 -> 16 (1,024) each before an SVDF 16 -> 64 units, memory 8: 64 x (16 + 8) = 1,536; SVDF 16 -> 32,
    memory 32: 32 x (16 + 32) = 1,536; two SVDF 32 -> 32, memory 32: 32 x 64 = 2,048; dense 32 -> 2: 64; the
    quantize (2 per element: 192 and 4) and softmax (30) under the paper's convention. Total 21,282."""
    m = learncost.load_model(_example(tmp_path, "tensorflow/lite/micro/models/keyword_scrambled_8bit.tflite"))
    f = _forward(m)
    svdf = [v for k, v in f.items() if k.startswith("svdf:")]
    assert svdf == [6_656, 1_536, 1_536, 1_536, 1_536, 2_048, 2_048]
    assert [v for k, v in f.items() if k.startswith("dense:")] == [1_024] * 4 + [64]
    assert sum(f.values()) == 21_282
    assert all(layer.activation == "relu" for layer in m.layers if layer.kind == "svdf")


def test_tflm_pytorch_converted_mobilenet_v2(tmp_path):
    """The PyTorch-converted MobileNetV2 (1 x 3 x 224 x 224) imports as it is: its leading TRANSPOSE (NCHW -> NHWC)
    is a ``transpose``; 35 convolutions 278,777,856, 17 depthwise 20,716,416, 10 adds 216,384, the 7 x 7 x 1,280
    pool 62,720, the dense 1,280 x 1,000 = 1,280,000: 301,053,376 forward MACC."""
    m = learncost.load_model(_example(
        tmp_path, "third_party/xtensa/examples/pytorch_to_tflite/mobilenet_v2_quantized_1x3x224x224.tflite"))
    assert (m.layers[1].kind, m.layers[1].output_shape) == ("transpose", (224, 224, 3))
    f = _forward(m)
    assert sum(v for k, v in f.items() if k.startswith("dense:")) == 1_280_000
    assert sum(f.values()) == 301_053_376
