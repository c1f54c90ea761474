"""Verification by execution under real setups: every MAC counted equals learncost's figure in the
executed convention, and learncost's schedule holds, at every step, exactly the bytes of each role
the execution holds (so the live peak is what the execution needs). The hand-written backward pass
of the reference computes the same gradients as PyTorch's autograd, which shows that what it keeps
(masks, input slices) suffices."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import learncost  # noqa: E402
from learncost.evaluate import Evaluator  # noqa: E402
from learncost.setups import build, load  # noqa: E402
from learncost.torch_build import example_input, module_key  # noqa: E402
from learncost.verify import verify  # noqa: E402
from learncost.verify import reference as R  # noqa: E402

from test_setups import CNN, RESIDUAL, _model  # noqa: E402


def _variant(base: str, **changes):
    data = {k: v for k, v in load(base).model_dump().items() if k != "parameters"}
    data.update(changes)
    return build(data, f"{base}+test")


def _assert_exact(v):
    assert v.unexplained == []
    for c in v.checks:
        for o in c.operations:
            assert o.counted == o.analytic, (c.procedure, c.phase, o.operation)  # executed convention: no difference
        m = c.memory
        assert m.schedule_mismatch == [] and m.tracked_bytes == m.schedule_bytes, (c.procedure, c.phase)
        if m.accounting == "live":
            assert m.tracked_bytes == m.analytic_bytes


SETUPS = {
    "int8-fp32grad": lambda: load("int8-fp32grad"),
    "batch 4, Adam": lambda: _variant("int8-fp32grad", batch=4, optimizer="adam"),
    "batch 4 in micro-batches of 1, momentum": lambda: _variant("int8-fp32grad", batch=4, micro_batch=1,
                                                                  optimizer="sgd-momentum"),
    "bias-only": lambda: _variant("int8-fp32grad", update={"weights": "none", "biases": "all"}),
    "last 3 on a quarter of their channels, F regenerated": lambda: _variant(
        "int8-fp32grad", update={"weights": {"last": 3, "ratio": 0.25}, "biases": {"last": 3}}, feedback="regenerated"),
    "float32, F in flash, trained slices resident": lambda: _variant(
        "float32", feedback="flash", residency={"frozen": "flash", "updated": "slice"},
        update={"weights": {"last": 2, "ratio": 0.5}, "biases": "none"}),
}


@pytest.mark.parametrize("setup", list(SETUPS))
def test_kws_executes_as_counted(setup):
    _assert_exact(verify(learncost.load_model("kws"), setup=SETUPS[setup]()))


def test_resnet8_executes_as_counted():
    _assert_exact(verify(learncost.load_model("ic"), setup="int8-fp32grad"))


@pytest.mark.parametrize("spec", [CNN, RESIDUAL], ids=["cnn", "residual"])
@pytest.mark.parametrize("setup", ["int8-fp32grad", "batch 4, Adam", "bias-only"])
def test_synthetic_models_execute_as_counted(spec, setup):
    _assert_exact(verify(_model(spec), setup=SETUPS[setup]()))


@pytest.mark.parametrize("setup", ["int8-fp32grad", "batch 4, Adam", "bias-only"])
def test_tte_model_executes_as_counted(setup):
    _assert_exact(verify(learncost.load_model("mcunet-5fps"), setup=SETUPS[setup]()))


def test_tte_scheme_executes_as_counted():
    v = verify(learncost.load_model("mcunet-5fps"), setup="tte-mcunet-49kb")
    _assert_exact(v)
    bp = v.check("bp", "training").memory
    # the sparse update keeps so little that the forward pass's widest step is the peak
    assert bp.tracked_at == "forward b2_expand" and bp.tracked_by_role == {"activation": 163_840}


def test_tracked_residual_block_matches_the_hand_derivation():
    c = verify(_model(RESIDUAL), ["bp"], setup="int8-fp32grad").check("bp", "training")
    assert c.memory.tracked_bytes == 324 and c.memory.tracked_at == "backward c2"  # test_setups derives it


def sgd_step_against_autograd(m, setup):
    """One SGD step of the reference's backpropagation at learning rate 1 (set by the caller), then autograd
    on the whole graph from the same weights and sample: (evaluator, the autograd module, weights before,
    weights after). W0 - W1 is the reference's gradient, from what it kept; the module's ``.grad`` autograd's."""
    ev = Evaluator(m, setup)
    step = R.Step(ev, seed=3)
    before = {k: v.detach().clone() for k, v in step.net.state_dict().items()}
    x = example_input(m, seed=3)
    with step.counter:
        R.bp_training(step)
    after = step.net.state_dict()

    net = R.build_module(m)
    net.load_state_dict(before)
    values = {m.input.name: x}
    for layer in m.layers[1:]:
        values[layer.name] = net.run_layer(layer, [values[s] for s in layer.inputs])[1]
    logits = values[ev.plan.logits.name].reshape(1, -1)
    target = step.target(values, 1)
    if m.output.kind in ("softmax", "quantize"):
        loss = torch.nn.functional.cross_entropy(logits, target.argmax(1))  # dL/dlogits = p - y
    else:
        loss = 0.5 * ((logits - target) ** 2).sum()  # dL/dlogits = logits - y
    loss.backward()
    return ev, net, before, after


def gradients_match_autograd(monkeypatch, model) -> int:
    """One SGD step at learning rate 1: W0 - W1 (the reference's gradient, from what it kept: the factors of
    a product, an activation's input, a cell's saved states) equals autograd's from the whole graph, for every
    trained weight and bias; returns how many were checked."""
    from learncost.setups import load
    from learncost.torch_build import module_key

    monkeypatch.setattr(R, "LEARNING_RATE", 1.0)
    ev, net, before, after = sgd_step_against_autograd(model, load("int8-fp32grad"))
    checked = 0
    for layer in ev.plan.weight_layers:
        weight, bias = net.params(layer)
        key = module_key(layer)
        for kind, auto in (("weight", weight.grad), ("bias", None if bias is None else bias.grad)):
            if auto is None:
                continue
            ref = before[f"ops.{key}.{kind}"] - after[f"ops.{key}.{kind}"]
            # W0 - W1 of float32 weights near 0.2 resolves about 3e-8
            assert float((ref - auto).abs().max()) <= 1e-3 * float(auto.abs().max()) + 5e-8, (layer.name, kind)
            assert float(auto.abs().max()) > 0, (layer.name, kind)
            checked += 1
    return checked


@pytest.mark.parametrize("model, setup", [
    ("cnn", "int8-fp32grad"), ("residual", "int8-fp32grad"), ("kws", "int8-fp32grad"), ("ic", "paper"),
    ("cnn", "channel ratio"),
])
def test_hand_written_backward_matches_autograd(monkeypatch, model, setup):
    """One SGD step with a learning rate of 1: W0 - W1 is the gradient the reference computed from what it
    kept; autograd computes it from the whole graph. The two agree on every trained slice."""
    monkeypatch.setattr(R, "LEARNING_RATE", 1.0)
    m = {"cnn": lambda: _model(CNN), "residual": lambda: _model(RESIDUAL)}.get(model, lambda: learncost.load_model(model))()
    st = _variant("int8-fp32grad", update={"weights": {"last": 2, "ratio": 0.5}, "biases": {"last": 2}}) \
        if setup == "channel ratio" else load(setup)
    ev, net, before, after = sgd_step_against_autograd(m, st)
    checked = 0
    for layer in ev.plan.weight_layers:
        u = ev.plan.of(layer.name)
        weight, bias = net.params(layer)
        key = module_key(layer)
        if u.weights:
            n = int(u.channels)
            ref = (before[f"ops.{key}.weight"] - after[f"ops.{key}.weight"])
            ref, auto = (ref[:n], weight.grad[:n]) if layer.kind == "depthwise_conv2d" else (ref[:, :n], weight.grad[:, :n])
            assert torch.allclose(ref, auto, rtol=1e-3, atol=1e-5), layer.name
            checked += 1
        if u.bias:
            ref = before[f"ops.{key}.bias"] - after[f"ops.{key}.bias"]
            assert torch.allclose(ref, bias.grad, rtol=1e-3, atol=1e-5), layer.name
    assert checked >= 2


def test_a_layer_no_output_depends_on_is_not_trained():
    """A graph's dead end (an importer's unread value, an output learncost does not follow): its convolution gets
    no error and moves no loss, so no procedure trains it, and a warning says so. It was counted as trained (its
    dW, bias gradient and optimizer step) while no execution computes them, and under backpropagation MaxViT's ONNX
    export failed with an internal error (its dead end's error never arrived). Every procedure now executes as
    counted; the dead end's forward (1 x 1 x 4 x 2 on 4 x 4 = 128 MACC) still runs."""
    from learncost.procedures import PROCEDURES
    from learncost.spec import model_from_data

    m = model_from_data({"name": "dead-end", "classes": 3, "input": {"shape": [6, 6, 2]}, "layers": [
        {"kind": "conv2d", "name": "c1", "filters": 4, "kernel": 3, "activation": "relu"},
        {"kind": "conv2d", "name": "dead", "filters": 2, "kernel": 1, "inputs": ["c1"]},
        {"kind": "flatten", "name": "flat", "inputs": ["c1"]},
        {"kind": "dense", "name": "fc", "units": 3}]}, origin="dead.yaml")
    a = learncost.analyze(m, ["bp"], setup="int8-fp32grad")
    dead = next(lr for lr in a.layers if lr.name == "dead")
    assert dead.macc["forward"] == 128 and dead.macc["weight_update"] == dead.macc["optimizer"] == 0
    assert any("not trained: dead" in w for w in a.warnings)
    _assert_exact(verify(m, list(PROCEDURES), setup="int8-fp32grad"))
    assert verify(m, list(PROCEDURES), setup="paper").unexplained == []
