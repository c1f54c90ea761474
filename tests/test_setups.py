"""Training setups: every feature against a hand derivation on small synthetic models, the TTE
models against their block lists, MIT's scheme labels, setup files and their errors.

The synthetic models are small enough to derive by hand (each figure's derivation is beside it):

    cnn:       input 6x6x2 -> c1 conv 3x3 same, 4 filters, ReLU -> c2 conv 3x3 valid, 4 filters, ReLU
               -> fc dense 3            (6x6x4 = 144, 4x4x4 = 64, 3 outputs)
    residual:  input 4x4x2 -> c1 conv 3x3 same, 2 filters, ReLU -> c2 conv 3x3 same, 2 filters
               -> add(c2, c1) ReLU -> fc dense 3          (every feature map 4x4x2 = 32)

cnn forward MACC: c1 3*3*2*6*6*4 = 2,592; c2 3*3*4*4*4*4 = 2,304; fc 64*3 = 192: 5,088.
Parameters: c1 72 + 4, c2 144 + 4, fc 192 + 3: 419.
"""

from __future__ import annotations

import json
import math

import pytest

import learncost
from learncost.errors import LearncostError, SpecError
from learncost.evaluate import Evaluator
from learncost.procedures import get_procedure
from learncost.setups import build, load, preset_ids
from learncost.spec import model_from_data

from conftest import run_cli

CNN = {"name": "cnn", "classes": 3, "input": {"shape": [6, 6, 2]}, "layers": [
    {"name": "c1", "kind": "conv2d", "filters": 4, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "c2", "kind": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
    {"name": "fc", "kind": "dense", "units": 3}]}
RESIDUAL = {"name": "residual", "classes": 3, "input": {"shape": [4, 4, 2]}, "layers": [
    {"name": "c1", "kind": "conv2d", "filters": 2, "kernel": 3, "padding": "same", "activation": "relu"},
    {"name": "c2", "kind": "conv2d", "filters": 2, "kernel": 3, "padding": "same"},
    {"name": "add", "kind": "add", "inputs": ["c2", "c1"], "activation": "relu"},
    {"name": "fc", "kind": "dense", "units": 3}]}
BP = get_procedure("bp")


def _model(spec):
    return model_from_data(spec, origin=f"{spec['name']}.yaml")


def _setup(**changes):
    """int8-fp32grad with some fields changed, memory by the live accounting unless said otherwise."""
    data = {k: v for k, v in load("int8-fp32grad").model_dump().items() if k not in ("parameters",)}
    data["memory"] = "live"
    data.update(changes)
    return build(data, "test")


def _bp(spec, **changes):
    ev = Evaluator(_model(spec), _setup(**changes))
    return ev.figures(BP, "training")


# -- MACC of each setup feature (BP, executed convention) -------------------------------------------

def test_every_layer_trained():
    f = _bp(CNN)
    ops = {k: v for k, v in f.macc_by_operation.items() if v}
    assert ops == {
        "forward": 5_088,
        "backward": 2_304 + 192,  # c2 and fc pass an error on; c1 is the first layer
        "weight_update": 5_088,  # one MACC per weight per output position, as the forward
        "error": 3,
        "bias_gradient": 144 + 64 + 3,  # one add per output element of each biased layer
        "optimizer": 419,  # SGD: one per parameter
    }
    assert f.macc == 13_305


def test_frozen_first_layer():
    f = _bp(CNN, update={"weights": {"layers": {"c2": 1, "fc": 1}}, "biases": {"layers": ["c2", "fc"]}})
    ops = f.macc_by_operation
    assert ops["backward"] == 192  # c2 is now the earliest trained layer: no error below it
    assert ops["weight_update"] == 2_304 + 192 and ops["bias_gradient"] == 64 + 3
    assert ops["optimizer"] == 148 + 195
    assert f.macc == 5_088 + 192 + 2_496 + 67 + 3 + 343


def test_bias_only():
    f = _bp(CNN, update={"weights": "none", "biases": "all"})
    ops = f.macc_by_operation
    assert ops["weight_update"] == 0 and ops["backward"] == 2_304 + 192  # c1's bias still needs its error
    assert ops["optimizer"] == 4 + 4 + 3
    assert f.macc == 5_088 + 2_496 + 211 + 3 + 11


def test_last_k():
    f = _bp(CNN, update={"weights": {"last": 1}, "biases": {"last": 1}})  # the classifier alone
    assert f.macc_by_operation["backward"] == 0  # nothing before fc is trained
    assert f.macc == 5_088 + 192 + 3 + 3 + 195


def test_channel_ratio():
    # c2 on half its input channels: int(4 * 0.5) = 2; dW = 4*4*2*3*3*4 = 1,152; 4*2*9 = 72 weights
    f = _bp(CNN, update={"weights": {"layers": {"c2": 0.5}}, "biases": "none"})
    ops = f.macc_by_operation
    assert ops["weight_update"] == 1_152 and ops["optimizer"] == 72 and ops["backward"] == 192
    assert f.macc == 5_088 + 192 + 1_152 + 3 + 72
    # a depthwise layer: the ratio is of its channels (int(64 * 0.25) = 16 of kws's dw1: 25*5*9*16)
    kws = Evaluator(learncost.load_model("kws"), _setup(update={"weights": {"layers": {"dw1": 0.25}}, "biases": "none"}))
    assert kws.costs[[lay.name for lay in kws.model.layers].index("dw1")]["weight_update"] == 25 * 5 * 9 * 16


PER_SAMPLE = 5_088 + 2_496 + 5_088 + 211 + 3  # everything but the optimizer step: 12,886


@pytest.mark.parametrize("changes, expected", [
    ({"batch": 4}, 4 * PER_SAMPLE + 419),  # one SGD step per batch of 4
    ({"batch": 4, "micro_batch": 1}, 4 * PER_SAMPLE + 419 + 3 * 419),  # 3 micro-batch gradients added in
    ({"optimizer": "sgd-momentum"}, PER_SAMPLE + 2 * 419),  # v <- mu v + g, W <- W - eta v
    ({"optimizer": "adam"}, PER_SAMPLE + 8 * 419),  # 2 (m) + 3 (v) + 1 (sqrt(v) + eps) + 2 (W) per parameter
])
def test_batch_and_optimizers(changes, expected):
    f = _bp(CNN, **changes)
    assert f.macc == expected
    assert f.samples == changes.get("batch", 1)


def test_batch_latency_is_per_sample():
    a = learncost.analyze(_model(CNN), ["bp"], ["stm32h735g-dk"], setup=_setup(batch=4))
    row = a.row("bp", "training")
    assert row.macc == 4 * PER_SAMPLE + 419 and row.samples == 4
    assert row.latency_ms["stm32h735g-dk"] == pytest.approx(row.macc / 4 * 3 / 550e6 * 1e3)  # 3 cycles/MACC, 550 MHz


# -- memory (live accounting, hand-replayed schedules) -----------------------------------------------

def test_live_memory_of_the_cnn():
    """int8 activations, 1-bit masks, fp32 errors. Buffers: input 72 B, c1 144, c2 64, fc 3; masks c1 18,
    c2 8; errors c1 576, c2 256, e 12. The worst step is c2's backward: the input (c1's weight gradient)
    72, c1's output (c2's weight gradient) 144, both masks 26, c2's error 256 and c1's 576: 1,074 B.
    Resident: int8 weights 72 + 144 + 192 = 408, int32 biases 11 x 4 = 44."""
    f = _bp(CNN)
    m = f.memory
    assert m.at == "backward c2"
    assert m.by_role == {"saved": 216, "mask": 26, "error": 832, "weight": 408, "bias": 44}
    assert m.bytes == 1_074 + 452 and m.working == 1_074


def test_live_memory_of_the_residual_block():
    """add passes its error to c2 and c1 as one tensor; at c2's backward that tensor is still read
    (c2 holds it) while c1's error becomes its sum with c2's input gradient (a new 128 B tensor):
    input 32 + c1 32 + c1's mask 4 + the add's error 128 + c1's summed error 128 = 324 B."""
    ev = Evaluator(_model(RESIDUAL), _setup())
    f = ev.figures(BP, "training")
    assert f.memory.at == "backward c2" and f.memory.working == 324
    assert f.macc_by_operation["gradient_sum"] == 32  # c1 is read by c2 and by the add: 4x4x2 adds


def test_errors_uncounted_and_paper_accounting():
    f = _bp(CNN, errors="uncounted")
    # without errors the worst step is the end of the forward pass: 72 + 144 + 64 + 26 masks + fc's 3
    assert f.memory.working == 72 + 144 + 64 + 26 + 3 and "error" not in f.memory.by_role
    ev = Evaluator(_model(CNN), "paper")
    paper = ev.figures(BP, "training").memory
    assert paper.accounting == "paper" and paper.rule == "all_buffers"
    assert paper.bytes == 72 + 144 + 64 + 3 + 419  # every buffer + every parameter (INT8, the paper)


def test_saved_for_backward_of_the_cnn():
    """MIT's estimate: the classifier's input 64; c1 mask 18 + int32 bias 16 + input 72 + weights 72;
    c2 mask 8 + bias 16 + input 144 + weights 144."""
    ev = Evaluator(_model(CNN), _setup(), memory="saved-for-backward")
    m = ev.figures(BP, "training").memory
    assert m.bytes == 64 + (18 + 16 + 72 + 72) + (8 + 16 + 144 + 144)
    assert m.by_role == {"mask": 26, "saved": 64 + 72 + 144, "weight": 216, "bias": 32}


def test_saved_for_backward_under_the_model_types():
    """Under the paper's setup (every tensor in the model's own types) the estimate sizes a saved input at its
    buffer's dtype (INT8 here) and a mask at its own 1 bit, so the CNN's figures are the INT8 setup's above but for
    the biases, INT8 in the model (an internal error, 'role saved follows the model's dtypes', before)."""
    m = Evaluator(_model(CNN), "paper", memory="saved-for-backward").figures(BP, "training").memory
    assert m.by_role == {"mask": 26, "saved": 64 + 72 + 144, "weight": 216, "bias": 8}


def test_optimizer_state_gradient_buffers_and_feedback():
    st = _setup(optimizer="adam", feedback="ram")
    ev = Evaluator(_model(CNN), st)
    m = ev.figures(BP, "training").memory
    assert m.by_role["optimizer_state"] == 2 * 419 * 4  # two fp32 moments per trained parameter
    assert m.by_role["weight_gradient"] == 408 * 4 and m.by_role["bias_gradient"] == 11 * 4  # Adam reads whole gradients
    pep = Evaluator(_model(CNN), st).figures(get_procedure("pepita"), "training")
    assert pep.memory.by_role["feedback"] == 3 * 72  # F: 3 outputs x 72 inputs, int8
    flash = Evaluator(_model(CNN), _setup(feedback="flash")).figures(get_procedure("pepita"), "training")
    assert "feedback" not in flash.memory.by_role and flash.flash_bytes == flash.params_bytes + 3 * 72
    regen = Evaluator(_model(CNN), _setup(feedback="regenerated")).figures(get_procedure("pepita"), "training")
    assert regen.macc_by_operation["feedback_generation"] == 3 * 72  # one generator step per value of F
    assert regen.macc - regen.macc_by_operation["feedback_generation"] == \
        Evaluator(_model(CNN), _setup()).figures(get_procedure("pepita"), "training").macc


def test_residency():
    frozen_sram = _bp(CNN, update={"weights": {"last": 1}, "biases": {"last": 1}},
                      residency={"frozen": "sram", "updated": "whole"})
    frozen_flash = _bp(CNN, update={"weights": {"last": 1}, "biases": {"last": 1}},
                       residency={"frozen": "flash", "updated": "whole"})
    assert frozen_sram.memory.by_role["weight"] == 408 and frozen_flash.memory.by_role["weight"] == 192
    sliced = _bp(CNN, update={"weights": {"layers": {"c2": 0.5}}, "biases": "none"},
                 residency={"frozen": "flash", "updated": "slice"})
    # only the trained half of c2's weights (4 x 2 x 3 x 3 = 72 int8) is in SRAM; frozen biases stay in flash
    assert sliced.memory.by_role["weight"] == 72 and "bias" not in sliced.memory.by_role


# -- the paper's setup is today's behaviour ---------------------------------------------------------

def test_paper_setup_is_the_default():
    a = learncost.analyze("kws")
    b = learncost.analyze("kws", setup="paper")
    assert [r.to_dict() for r in a.rows] == [r.to_dict() for r in b.rows]
    assert a.row("bp", "training").macc == 7_666_544 and a.row("bp", "training").ram_bytes == 95_218  # sheet B33, B34+


def test_executed_convention_counts_what_verify_counts():
    """kws BP under int8-fp32grad: the paper's 7,666,544 less the head's 228 (X-CUBE-AI constants), plus
    72,012 bias-gradient adds and 22,604 SGD updates: what learncost verify counts executing it."""
    row = learncost.analyze("kws", ["bp"], [], setup="int8-fp32grad").row("bp", "training")
    assert row.macc == 7_666_544 - 228 + 72_012 + 22_604


# -- MIT's models and schemes ------------------------------------------------------------------------

#: the block lists of ../shared/reference/tiny-training.md: (C_in, C_mid, C_out, kernel, stride, input size, residual)
TTE_BLOCKS = {
    "mcunet-5fps": [(16, 16, 8, 3, 1, 64, 0), (8, 32, 16, 3, 2, 64, 0), (16, 48, 16, 3, 1, 32, 1),
                    (16, 48, 24, 7, 2, 32, 0), (24, 120, 24, 3, 1, 16, 1), (24, 120, 40, 3, 2, 16, 0),
                    (40, 160, 40, 7, 1, 8, 1), (40, 160, 48, 5, 1, 8, 0), (48, 144, 48, 3, 1, 8, 1),
                    (48, 192, 48, 3, 1, 8, 1), (48, 240, 96, 7, 2, 8, 0), (96, 384, 96, 5, 1, 4, 1),
                    (96, 384, 96, 5, 1, 4, 1), (96, 576, 160, 3, 1, 4, 0)],
    "mbv2-w0.35": [(16, 16, 8, 3, 1, 64, 0), (8, 48, 8, 3, 2, 64, 0), (8, 48, 8, 3, 1, 32, 1),
                   (8, 48, 16, 3, 2, 32, 0)] + [(16, 96, 16, 3, 1, 16, 1)] * 2 + [(16, 96, 24, 3, 2, 16, 0)]
                  + [(24, 144, 24, 3, 1, 8, 1)] * 3 + [(24, 144, 32, 3, 1, 8, 0)] + [(32, 192, 32, 3, 1, 8, 1)] * 2
                  + [(32, 192, 56, 3, 2, 8, 0)] + [(56, 336, 56, 3, 1, 4, 1)] * 2 + [(56, 336, 112, 3, 1, 4, 0)],
    "proxyless-w0.3": [(16, 16, 8, 3, 1, 64, 0), (8, 24, 16, 5, 2, 64, 0), (16, 48, 16, 3, 1, 32, 1),
                       (16, 48, 16, 7, 2, 32, 0), (16, 48, 16, 3, 1, 16, 1)] + [(16, 48, 16, 5, 1, 16, 1)] * 2
                      + [(16, 96, 24, 7, 2, 16, 0)] + [(24, 72, 24, 5, 1, 8, 1)] * 3 + [(24, 144, 32, 5, 1, 8, 0)]
                      + [(32, 96, 32, 5, 1, 8, 1)] * 3 + [(32, 192, 64, 7, 2, 8, 0), (64, 384, 64, 7, 1, 4, 1)]
                      + [(64, 192, 64, 7, 1, 4, 1)] * 2 + [(64, 384, 96, 7, 1, 4, 0)],
}


def _from_blocks(blocks, classes=10):
    """Forward MACC, parameters and conv count from a block list, by the usual formulas."""
    macc = 3 * 3 * 3 * 64 * 64 * 16  # the first conv, 3x3 stride 2 on 128x128x3 -> 64x64x16
    params = 3 * 3 * 3 * 16 + 16
    convs = 1
    for k, (cin, cmid, cout, kernel, stride, size, residual) in enumerate(blocks):
        out = math.ceil(size / stride)
        if k:  # the first block has no expand conv
            macc += cin * cmid * size * size
            params += cin * cmid + cmid
            convs += 1
        macc += kernel * kernel * cmid * out * out + cmid * cout * out * out
        params += kernel * kernel * cmid + cmid + cmid * cout + cout
        convs += 2
        if residual:
            macc += cout * out * out
    last = blocks[-1][2]
    macc += last * 4 * 4 + last * classes  # global pool over 4x4, then the classifier
    params += last * classes + classes
    return macc, params, convs


@pytest.mark.parametrize("model_id, convs", [("mcunet-5fps", 42), ("mbv2-w0.35", 51), ("proxyless-w0.3", 60)])
def test_tte_models_against_their_block_lists(model_id, convs):
    model = learncost.load_model(model_id)
    macc, params, n = _from_blocks(TTE_BLOCKS[model_id])
    assert n == convs  # MIT numbers the backbone convs 0..convs-1
    assert sum(1 for lay in model.layers if lay.has_weights) == convs + 1  # and the classifier
    assert model.weights + model.biases == params
    ev = Evaluator(model, "paper")
    assert sum(c["forward"] for c in ev.costs) == macc
    assert learncost.load_model(model_id, params={"classes": 2}).output.output_elements == 2


@pytest.mark.parametrize("setup_id", [s for s in preset_ids() if s.startswith("tte-")])
def test_saved_for_backward_reproduces_each_schemes_label(setup_id):
    """MIT names each scheme by its memory estimate: the label is the estimate in KiB, rounded down."""
    st = load(setup_id)
    ev = Evaluator(learncost.load_model(st.model), st, memory="saved-for-backward")
    label = int(setup_id.rsplit("-", 1)[1].removesuffix("kb"))
    assert ev.figures(BP, "training").memory.bytes // 1024 == label


def test_tte_scheme_selects_what_mit_trains():
    st = load("tte-mcunet-49kb")
    ev = Evaluator(learncost.load_model("mcunet-5fps"), st)
    plan = ev.plan
    convs = plan.weight_layers[:-1]
    assert [lay.name for lay in convs if plan.of(lay.name).bias] == [lay.name for lay in convs[22:]]  # the last 20
    assert {i: plan.of(convs[i].name).ratio for i in (23, 24, 27, 30, 33, 39)} == \
        {23: 0, 24: 0.25, 27: 0.5, 30: 0.5, 33: 0, 39: 0}
    assert plan.of("fc").ratio == 1 and plan.of("fc").bias
    # errors stop at the earliest trained conv (index 22): nothing before it passes one on
    assert not any(plan.needs_input_error[lay.name] for lay in ev.model.layers[:ev.model.layers.index(convs[22]) + 1])


# -- setup files, parameters, sweeps -----------------------------------------------------------------

def test_setup_file_with_parameters_sweeps_last_k(tmp_path):
    path = tmp_path / "last-k.yaml"
    path.write_text("name: last k\nparameters:\n  k: {default: 1}\nprecision: {activation: 8, error: 32}\n"
                    "masks: true\nerrors: counted\nconvention: executed\nmemory: live\n"
                    "update:\n  weights: {last: '=k'}\n  biases: {last: '=k'}\n")
    s = learncost.sweep.run("kws", {"k": list(range(0, 11))}, ["bp"], ["disco-f746ng"], setup=str(path))
    macc = s.macc[("bp", "training")]
    for k in (0, 3, 10):
        one = learncost.analyze("kws", ["bp"], [], setup=load(str(path), {"k": k})).row("bp", "training")
        assert macc[k] == one.macc and s.ram[("bp", "training")][k] == one.ram_bytes
    assert list(macc) == sorted(macc)  # more layers trained, more work


def test_sweep_over_batch():
    s = learncost.sweep.run("kws", {"batch": [1, 2, 4]}, ["bp"], ["disco-f746ng"], setup="int8-fp32grad")
    one = learncost.analyze("kws", ["bp"], [], setup="int8-fp32grad").row("bp", "training")
    assert list(s.samples[("bp", "training")]) == [1, 2, 4]
    assert s.macc[("bp", "training")][2] == 4 * (one.macc - 22_604) + 22_604  # per-sample work x 4, one SGD step


@pytest.mark.parametrize("text, needle", [
    ("name: x\nprecision: {foo: 8}\n", "precision.foo: is not a tensor role"),
    ("name: x\noptimizer: lion\n", "optimizer: unknown optimizer 'lion' (valid: sgd, sgd-momentum, adam)"),
    ("name: x\nupdate: {weights: {layers: {convX: 1}}}\n", "update.weights.layers.convX: no layer named 'convX'"),
    ("name: x\nupdate: {weights: {layers: {conv1: 1.5}}}\n", "update.weights.layers.conv1: Input should be less than"),
    ("name: x\nupdate: {biases: {layers: [pool]}}\n", "layer 'pool' (avg_pool2d) has no weights to train"),
    ("name: x\nupdate: {weights: {last: 30}}\n", "update.weights.last: last 30, but kws has 10 layers with weights"),
    ("name: x\nbatch: 4\nmicro_batch: 3\n", "micro_batch: batch 4 is not a multiple of micro_batch 3"),
    ("name: x\nbatch: [1\n", "not valid YAML"),
])
def test_bad_setup_files(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    r = run_cli("analyze", "kws", "--setup", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert needle in r.stderr and "bad.yaml" in r.stderr


def test_unknown_setup_and_accounting():
    r = run_cli("analyze", "kws", "--setup", "int8")
    assert r.returncode == 2 and "unknown setup 'int8' (did you mean int8-fp32grad?" in r.stderr
    r = run_cli("fit", "kws", "--memory", "heap")
    assert r.returncode == 2 and \
        "unknown memory accounting 'heap' (valid: paper, saved-for-backward, live, arena, tflm)" in r.stderr
    with pytest.raises(LearncostError):
        learncost.analyze("kws", setup="nope")
    with pytest.raises(SpecError):
        build({"name": "x", "parameters": {"k": 1}, "batch": "=k / 2"}, "x")  # a non-integer expression


def test_fit_verdicts_follow_the_setup():
    """FF on VWW fits the DISCO-F746NG under the paper's setup and not once its error buffers count."""
    paper = json.loads(run_cli("fit", "vww", "-m", "disco-f746ng", "-p", "ff", "-f", "json").stdout)
    real = json.loads(run_cli("fit", "vww", "-m", "disco-f746ng", "-p", "ff", "--setup", "int8-fp32grad",
                              "-f", "json").stdout)
    assert paper["setup"] == "paper" and paper["memory_accounting"] == "paper"
    assert real["setup"] == "int8-fp32grad" and real["memory_accounting"] == "arena"
    assert paper["fit"][0]["fits"] is True and real["fit"][0]["fits"] is False
    table = run_cli("fit", "vww", "-m", "disco-f746ng", "-p", "ff", "--setup", "int8-fp32grad", "-f", "markdown").stdout
    assert "setup int8-fp32grad" in table and "memory accounting: arena" in table


def test_json_rows_carry_the_setup():
    rows = json.loads(run_cli("analyze", "kws", "-p", "bp", "--setup", "int8-fp32grad", "-f", "json").stdout)["rows"]
    bp = rows[0]
    assert bp["setup"] == "int8-fp32grad" and bp["memory_accounting"] == "arena" and bp["samples"] == 1
    assert sum(bp["memory_by_role"].values()) == bp["ram_bytes"]
    assert bp["activations_bytes"] == sum(v for k, v in bp["memory_by_role"].items()
                                          if k in ("activation", "saved", "mask", "error"))
    assert bp["memory_by_role"]["fragmentation"] >= 0
