"""The procedures beyond the paper (FA, DFA, DRTP, MeZO, forward gradient, checkpointed BP, FF with a readout) against
hand derivations on a
3-layer MLP and the CNN of test_setups, their execution counted exactly, and a procedure registered
from outside picked up by every consumer.

    mlp:  input 8 -> d1 dense 16, ReLU -> d2 dense 16, ReLU -> d3 dense 4

MACC per sample: forward d1 8*16 = 128, d2 16*16 = 256, d3 16*4 = 64: 448; the same for the weight
gradient (every layer trained, every channel). Input gradient (dX) where a trained layer lies before:
d2 256 + d3 64 = 320. Output error 4 (one per class). Bias gradient 16 + 16 + 4 = 36. Parameters
128 + 16 + 256 + 16 + 64 + 4 = 484: SGD applies one MACC each.

Memory under int8-fp32grad (live accounting, errors counted): int8 activations (input 8 B, d1 16, d2 16,
d3 4), 1-bit masks (2 B for 16 values), fp32 errors (e 16 B, a 16-wide error 64 B); resident: int8
weights 448 B and int32 biases 36 x 4 = 144 B; feedback matrices in RAM, int8.
"""

from __future__ import annotations

import pytest

import learncost
from learncost.evaluate import Evaluator
from learncost.procedures import PROCEDURES, Phase, Procedure, Term, get_procedure, register
from learncost.setups import build, load
from learncost.spec import model_from_data

from test_setups import CNN, RESIDUAL

MLP = {"name": "mlp", "classes": 4, "input": {"shape": [8]}, "layers": [
    {"name": "d1", "kind": "dense", "units": 16, "activation": "relu"},
    {"name": "d2", "kind": "dense", "units": 16, "activation": "relu"},
    {"name": "d3", "kind": "dense", "units": 4}]}
NEW = ["fa", "dfa", "drtp", "mezo", "bp-checkpoint", "forward-gradient", "ff-readout"]


def _model(spec):
    return model_from_data(spec, origin=f"{spec['name']}.yaml")


def _setup(**changes):
    data = {k: v for k, v in load("int8-fp32grad").model_dump().items() if k != "parameters"}
    data["memory"] = "live"
    data.update(changes)
    return build(data, "test")


def _figures(proc: str, spec=MLP, **changes):
    return Evaluator(_model(spec), _setup(**changes)).figures(get_procedure(proc), "training")


def _ops(f) -> dict:
    return {op: v for op, v in f.macc_by_operation.items() if v}


BP_OPS = {"forward": 448, "backward": 320, "weight_update": 448, "error": 4, "bias_gradient": 36, "optimizer": 484}


# -- MACC: hand derivations on the MLP ----------------------------------------------------------------

def test_feedback_alignment_does_backpropagations_work():
    """FA: B_l in place of W_l^T, the same products (1,740); regenerated, each B_l is drawn where it is
    read, one generator step per value: B for d2 (16 x 16) and d3 (4 x 16), 320."""
    assert _ops(_figures("fa")) == BP_OPS and _figures("fa").macc == 1_740
    assert _ops(_figures("fa", feedback="regenerated"))["feedback_generation"] == 320


@pytest.mark.parametrize("proc, projection", [("dfa", "error_projection"), ("drtp", "target_projection")])
def test_direct_projections(proc, projection):
    """DFA and DRTP: no input gradients; B_l e (or B_l y*) onto d1 and d2, 16 x 4 each: 128.
    448 + 448 + 4 + 36 + 484 + 128 = 1,548."""
    f = _figures(proc)
    assert _ops(f) == {"forward": 448, "weight_update": 448, "error": 4, "bias_gradient": 36, "optimizer": 484,
                       projection: 128}
    assert f.macc == 1_548


def test_mezo():
    """Two forward passes (896); the loss ||y - t||^2 twice, 2 per output (16); z drawn at each of its four
    uses (4 x 484 = 1,936); three perturbations (1,452); the SGD update (484): 4,784."""
    f = _figures("mezo")
    assert _ops(f) == {"forward": 896, "error": 16, "perturbation": 1_452, "random_generation": 1_936,
                       "optimizer": 484}
    assert f.macc == 4_784


def test_mezo_parameter_work_is_per_step():
    """Batch 8: the passes and losses per sample (8 x 912 = 7,296), the parameter work once (3,872):
    11,168 per step, 1,396 per sample."""
    f = _figures("mezo", batch=8)
    assert f.macc == 11_168 and f.samples == 8


def test_mezo_under_adam():
    """Adam reads a gradient: g = s z formed (484), then 8 MACC per parameter (3,872); its two moments
    resident in fp32: 2 x 484 x 4 = 3,872 B; no gradient buffer (z is regenerated)."""
    f = _figures("mezo", optimizer="adam")
    assert f.macc_by_operation["gradient_estimate"] == 484 and f.macc_by_operation["optimizer"] == 3_872
    assert f.memory.by_role["optimizer_state"] == 3_872
    assert "weight_gradient" not in f.memory.by_role and "bias_gradient" not in f.memory.by_role


def test_forward_gradient():
    """Tangent: d1 has no tangent arriving, v_W x 128 + v_b 16 = 144; d2 W t 256 + v_W x 256 + 16 = 528;
    d3 64 + 64 + 4 = 132: 804. The directional derivative e . t: 2 per output (8). v drawn for the pass
    and again for the update (2 x 484). 448 + 804 + 8 + 968 + 484 = 2,712."""
    f = _figures("forward-gradient")
    assert _ops(f) == {"forward": 448, "tangent": 804, "error": 8, "random_generation": 968, "optimizer": 484}
    assert f.macc == 2_712


def test_forward_gradient_draws_its_direction_per_micro_batch():
    """Batch 4 in micro-batches of 2: v drawn for each micro-batch's pass and for the update: 3 x 484."""
    f = _figures("forward-gradient", batch=4, micro_batch=2)
    assert f.macc_by_operation["random_generation"] == 3 * 484


def test_checkpointed_bp_recomputes_every_segment_but_the_last():
    """Three body layers: segments of isqrt(3) = 1 layer; d1 and d2 are checkpoints; both segments
    before the last are run again: 128 + 256 = 384 on top of BP's 1,740."""
    ev = Evaluator(_model(MLP), _setup())
    assert ev.plan.checkpoints == ["d1", "d2"] and ev.plan.segments == [["d1"], ["d2"], ["d3"]]
    f = ev.figures(get_procedure("bp-checkpoint"), "training")
    assert _ops(f) == {**BP_OPS, "recompute": 384} and f.macc == 2_124


def test_checkpoints_follow_the_setup_and_skip_frozen_segments():
    """checkpoint_every 2: d2 ends the first segment (two layers), d3 the last. Training d3 alone, no
    error reaches the first segment: nothing is recomputed."""
    ev = Evaluator(_model(MLP), _setup(checkpoint_every=2))
    assert ev.plan.segments == [["d1", "d2"], ["d3"]] and ev.plan.recomputed == {"d1", "d2"}
    frozen = Evaluator(_model(MLP), _setup(checkpoint_every=2, update={"weights": {"last": 1}, "biases": {"last": 1}}))
    assert frozen.plan.recomputed == frozenset()
    assert frozen.figures(get_procedure("bp-checkpoint"), "training").macc_by_operation["recompute"] == 0


def test_residual_checkpoints_only_where_one_value_is_live():
    """In the residual block c1 is read by c2 and by the add: no cut between c1 and the add. The
    body (c1, c2, add, fc) is cut after the add, the first place one value alone is live."""
    ev = Evaluator(_model(RESIDUAL), _setup())
    assert ev.plan.checkpoints == ["add"] and ev.plan.segments == [["c1", "c2", "add"], ["fc"]]


def test_ff_with_a_readout():
    """Hinton 2022, section 3.3. FF's passes: forward 2 x 448, dW 2 x 448, goodness 2 x 36 (every layer's
    outputs, 16 + 16 + 4), normalization 2 x 32 (d1 and d2 feed weights; d3 feeds none), db 2 x 36, local errors
    2 x 36, SGD 2 x 484 (two update passes). The neutral pass: forward 448, goodness 36, normalization 32. The
    readout reads d2 and d3 (all but the first hidden layer), 16 + 4 = 20 activities x 4 classes = 80 weights:
    logits 80, error 4 (softmax - y), readout gradient 80, its SGD step 80. Total 3,800."""
    f = _figures("ff-readout")
    assert _ops(f) == {"forward": 1_344, "weight_update": 896, "goodness": 108, "normalization": 96,
                       "bias_gradient": 72, "local_error": 72, "optimizer": 968, "readout": 80, "error": 4,
                       "readout_gradient": 80, "readout_step": 80}
    assert f.macc == 3_800
    # one neutral pass and the readout, 448 + 36 + 32 + 80 = 596, against FF's 4 passes of 516 = 2,064
    ev = Evaluator(_model(MLP), _setup())
    inference = ev.figures(get_procedure("ff-readout"), "inference")
    assert _ops(inference) == {"forward": 448, "goodness": 36, "normalization": 32, "readout": 80}
    assert ev.figures(get_procedure("ff"), "inference").macc == 4 * 516
    # the readout's 80 int8 weights are parameters: in RAM in training, in flash (448 + 144 + 80 B)
    assert f.params_bytes == f.flash_bytes == 672
    # peak: FF's positive pass at d2's local error, input 8 + d1 16 + d2 16 + d2's fp32 error 64 = 104; the
    # neutral pass holds less (at its d3: d2 16 + d3 4 kept + logits 4)
    assert (f.memory.working, f.memory.at) == (104, "positive local error d2")
    assert f.memory.by_role == {"weight": 448 + 80, "bias": 144, "activation": 40, "error": 64}
    # inference: at d2 the pair d1 16 + d2 16; the logits accumulate from d2's share on
    assert (inference.memory.working, inference.memory.at) == (32, "neutral d2")


def test_ff_readout_needs_a_layer_with_weights(tmp_path):
    """A model with nothing for the readout to read: one line and exit 2, from analyze and from verify."""
    import subprocess
    import sys

    spec = tmp_path / "pool.yaml"
    spec.write_text("name: pool\nclasses: 4\ninput: {shape: [8, 8, 4]}\n"
                    "layers: [{name: p, kind: avg_pool2d, global: true}, {name: f, kind: flatten}]\n")
    for command in ("analyze", "verify"):
        out = subprocess.run([sys.executable, "-m", "learncost", command, str(spec), "-p", "ff-readout"],
                             capture_output=True, text=True)
        assert out.returncode == 2 and out.stderr.count("\n") == 1
        assert "no layer with weights" in out.stderr and out.stderr.rstrip().endswith("[LC-PROCEDURE-MODEL]")


def test_ff_readout_is_updated_once_per_step():
    """Batch 4 in micro-batches of 2 under Adam: the readout's gradient per sample (4 x 80), one Adam step on
    its 80 weights (8 x 80 = 640) and one accumulation (the second micro-batch's, 80); FF's layers: two update
    passes x 2 micro-batches - 1 = 3 accumulations of 484."""
    ops = _ops(_figures("ff-readout", batch=4, micro_batch=2, optimizer="adam"))
    assert (ops["readout_gradient"], ops["readout_step"], ops["readout_accumulation"]) == (320, 640, 80)
    assert ops["gradient_accumulation"] == 3 * 484


# -- memory: hand-replayed schedules on the MLP -------------------------------------------------------

@pytest.mark.parametrize("proc, working, at, roles", [
    # BP: input, d1, both masks held for the backward; at d2's backward d2's own output is gone (d3's
    # weight gradient read it): 8 + 16 + 2 + 2 + d2's error 64 + d1's error 64 = 156
    ("bp", 156, "backward d2", {"saved": 24, "mask": 4, "error": 128}),
    # FA: the same tensors; its B_l (d2 16 x 16, d3 4 x 16 = 320 B int8) resident
    ("fa", 156, "backward d2", {"saved": 24, "mask": 4, "error": 128, "feedback": 320}),
    # DFA: keeps what BP keeps; at d2's update: input 8, d1 16, masks 4, e 16, B_2 e 64 = 108
    ("dfa", 108, "update d2", {"saved": 24, "mask": 4, "error": 80, "feedback": 128}),
    # DRTP: nothing kept; at d2's update: d1 16, d2 16, B_2 y* 64 = 96
    ("drtp", 96, "update d2", {"activation": 32, "error": 64, "feedback": 128}),
    # MeZO: inference's pair, d1 16 + d2 16
    ("mezo", 32, "theta + eps z: forward d2", {"activation": 32}),
    # checkpointed: d1 and the input are checkpoints (no masks in the forward pass); d2 recomputed with
    # its mask, then its backward: input 8, d1 16, d2's mask 2, d2's error 64, d1's 64 = 154
    ("bp-checkpoint", 154, "backward d2", {"saved": 24, "mask": 2, "error": 128}),
    # forward gradient: at d2, d1 16 and d2 16 with their fp32 tangents (64 + 64) and d2's direction while it
    # runs, (256 + 16) x 4 = 1,088: 1,248
    ("forward-gradient", 1_248, "forward d2", {"activation": 32, "tangent": 1_216}),
])
def test_live_memory(proc, working, at, roles):
    m = _figures(proc).memory
    assert m.working == working and m.at == at
    assert {r: v for r, v in m.by_role.items() if r not in ("weight", "bias")} == roles
    assert m.by_role["weight"] == 448 and m.by_role["bias"] == 144


def test_feedback_matrices_in_flash_count_in_flash():
    """FA's B_l in flash: the parameters (484 int8 weights/int32 biases = 448 + 144 B) plus 320 B."""
    f = _figures("fa", feedback="flash")
    assert f.flash_bytes == f.params_bytes + 320 and "feedback" not in f.memory.by_role


# -- executed as counted ---------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
from learncost.verify import verify  # noqa: E402
from learncost.verify import reference as R  # noqa: E402

from test_verify_setups import _assert_exact  # noqa: E402

SETUPS = {
    "int8-fp32grad": {},
    "batch 4 in micro-batches of 2, Adam": {"batch": 4, "micro_batch": 2, "optimizer": "adam"},
    "last 2 on half their channels, feedback regenerated": {
        "update": {"weights": {"last": 2, "ratio": 0.5}, "biases": {"last": 2}}, "feedback": "regenerated"},
}


@pytest.mark.parametrize("spec", [MLP, CNN, RESIDUAL], ids=lambda s: s["name"])
@pytest.mark.parametrize("setup", list(SETUPS))
def test_small_models_execute_as_counted(spec, setup):
    _assert_exact(verify(_model(spec), NEW, setup=_setup(**SETUPS[setup])))


@pytest.mark.parametrize("model_id", ["kws", "ic", "ad"])
@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad"])
def test_mlperf_models_execute_as_counted(model_id, setup):
    """Every MAC counted is the analytic figure in the executed convention; under the paper's convention every
    difference is one of its stated rules (converters, softmax); the schedule holds what the execution holds."""
    v = verify(learncost.load_model(model_id), NEW, setup=setup)
    if setup == "paper":
        assert v.unexplained == []
        assert all(c.memory.schedule_mismatch == [] for c in v.checks)
    else:
        _assert_exact(v)


def test_checkpointing_saves_memory_on_resnet8():
    """ResNet-8 under int8-fp32grad, executed: checkpointed BP holds less than BP at its peak, for the
    recomputation's MACC (the forward of every segment but the last)."""
    v = verify(learncost.load_model("ic"), ["bp", "bp-checkpoint"], setup="int8-fp32grad")
    tracked = {c.procedure: c.memory.tracked_bytes for c in v.checks if c.phase == "training"}
    assert tracked["bp-checkpoint"] < tracked["bp"]
    _assert_exact(v)


# -- a procedure registered from outside -------------------------------------------------------------------

def test_a_registered_procedure_reaches_every_consumer(tmp_path):
    """A procedure declared as data (DFA's terms under another id, its reference registered beside it)
    is analysed, swept, written to the workbook, plotted and verified like a built-in one."""
    dfa = get_procedure("dfa")
    mine = Procedure(id="my-dfa", name="My DFA", reference="test", training=dfa.training, inference=dfa.inference,
                     feedback=dfa.feedback, schedules=dfa.schedules)
    register(mine)
    R.REFERENCES["my-dfa"] = R.REFERENCES["dfa"]
    try:
        a = learncost.analyze("kws", procedures=["my-dfa", "dfa"], setup="int8-fp32grad")
        rows = {(r.procedure, r.phase): r for r in a.rows}
        assert rows[("my-dfa", "training")].macc == rows[("dfa", "training")].macc
        assert rows[("my-dfa", "training")].ram_bytes == rows[("dfa", "training")].ram_bytes
        s = learncost.sweep.run("kws", {"batch": [1, 2]}, ["my-dfa"], ["disco-f746ng"], setup="int8-fp32grad")
        assert s.macc[("my-dfa", "training")][0] == rows[("my-dfa", "training")].macc
        assert s.macc[("my-dfa", "training")][1] == 2 * rows[("my-dfa", "training")].macc - \
            rows[("my-dfa", "training")].macc_by_operation["optimizer"]  # one SGD application per step
        from learncost.report import workbook

        book = workbook.build([a])
        totals = next(sh for sh in book.sheets if sh.name == "totals")
        assert [row[1] for row in totals.rows[1:]].count("my-dfa") == 2
        from learncost.report import plots

        fig = plots.analysis_figure(a)
        assert fig is not None
        v = verify(learncost.load_model("ad"), ["my-dfa"], setup="int8-fp32grad")
        _assert_exact(v)
        assert [c.procedure for c in v.checks] == ["my-dfa", "my-dfa"]
    finally:
        PROCEDURES.pop("my-dfa")
        R.REFERENCES.pop("my-dfa")


# -- the listings ----------------------------------------------------------------------------------------

def test_procedures_json_lists_terms_and_memory():
    import json

    from conftest import run_cli

    r = run_cli("procedures", "--format", "json")
    assert r.returncode == 0, r.stderr
    listed = {p["id"]: p for p in json.loads(r.stdout)}
    assert set(listed) == set(PROCEDURES)
    mezo = listed["mezo"]
    assert mezo["reference"].startswith("Malladi") and mezo["step"]
    assert {"operation": "perturbation", "times": 3, "layers": "all"} in mezo["training"]["terms"]
    assert listed["bp-checkpoint"]["training"]["memory"] == "live schedule"
    assert listed["bp"]["training"]["memory_description"].startswith("all_buffers: Sum of the activation buffers")
    assert listed["ff"]["inference"]["terms"][0] == {"operation": "forward", "times": "classes", "layers": "body"}


def test_compare_procedures_against_bp():
    """kws under the paper's setup, live accounting: ratios are each procedure's figure over BP's in the same
    phase (MACC per sample from the analysis: BP 7,666,544 and MeZO 5,488,268, as test_api's analysis gives)."""
    import json

    from conftest import run_cli

    r = run_cli("compare-procedures", "kws", "--memory", "live", "-m", "stm32h735g-dk", "-f", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    rows = {(p["procedure"], p["phase"]): p for p in out["procedures"]}
    a = learncost.analyze("kws", procedures=["all"], mcus=["stm32h735g-dk"], memory="live")
    for (proc, phase), p in rows.items():
        mine, bp = a.row(proc, phase), a.row("bp", phase)
        assert p["macc_per_sample"] == mine.macc / mine.samples
        assert p["macc_vs_baseline"] == pytest.approx((mine.macc / mine.samples) / (bp.macc / bp.samples))
        assert p["ram_vs_baseline"] == pytest.approx(mine.ram_bytes / bp.ram_bytes)
    assert len(rows) == 2 * len(PROCEDURES) and out["baseline"] == "bp"
    bad = run_cli("compare-procedures", "kws", "-p", "ff", "--baseline", "nosuch")
    assert bad.returncode == 2 and "unknown procedure 'nosuch'" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad"])
@pytest.mark.parametrize("memory", [None, "live", "arena"])
def test_sweep_equals_analyze_for_every_procedure(setup, memory):
    """Every procedure's figures in a sweep (arrays, one per variant) equal its figures on each variant built
    alone: the procedures the paper's rules do not describe take their schedule's peak in a sweep too."""
    from learncost import sweep

    grid = {"filters": [32, 64], "blocks": [2, 4]}
    r = sweep.run("kws", grid, procedures=["all"], setup=setup, memory=memory)
    for v in range(4):
        values = {k: int(r.grid[k][v]) for k in grid}
        ev = Evaluator(learncost.load_model("kws", params=values), setup, memory=memory)
        for proc in r.procedures:
            for phase in ("training", "inference"):
                f = ev.figures(proc, phase)
                key = (proc.id, phase)
                got = [int(t[key][v]) for t in (r.macc, r.ram, r.params, r.flash)]
                assert got == [f.macc, f.ram_bytes, f.params_bytes, f.flash_bytes], (values, key)
