"""learncost's analytic figures against the four procedures executed in PyTorch.

Expected values are either the analytic figures themselves (the claim under test is that
execution counts exactly them), or hand derivations from the models' layer tables, stated
beside each. Buffer sizes are the built-in models' INT8 activations (softmax float32).
"""

import json

import pytest

pytest.importorskip("torch")

import learncost  # noqa: E402
from learncost.layers import HEAD_KINDS  # noqa: E402
from learncost.memory import buffers  # noqa: E402
from learncost.verify import verify  # noqa: E402

from conftest import MODELS_DIR, needs_models, run_cli  # noqa: E402

MODELS = ["kws", "vww", "ic", "ad"]
PAPER_PROCEDURES = ["bp", "ff", "pepita", "mempepita"]


@pytest.fixture(scope="module")
def verified():
    return {m: verify(learncost.load_model(m), PAPER_PROCEDURES) for m in MODELS}


@pytest.mark.parametrize("model_id", MODELS)
def test_every_difference_is_predicted(verified, model_id):
    v = verified[model_id]
    assert len(v.checks) == 8  # 4 procedures x (training, inference)
    for c in v.checks:
        assert c.unexplained == [], (c.procedure, c.phase)


@pytest.mark.parametrize("model_id", MODELS)
def test_forward_backward_update_equal_per_layer(verified, model_id):
    """Every layer's counted forward, input-gradient and weight-gradient MACs are the analytic
    ones, except the head's X-CUBE-AI constants (2 per element per converter, 15 per softmax)."""
    model = verified[model_id].model
    for c in verified[model_id].checks:
        for d in c.layers:
            if d.operation in ("forward", "backward", "weight_update"):
                layer = model.by_name[d.layer]
                assert d.operation == "forward" and layer.kind in HEAD_KINDS, (c.procedure, c.phase, d)
                per_element = 15 if layer.kind == "softmax" else 2
                assert d.counted == 0
                assert d.analytic % (per_element * layer.output_elements) == 0


def test_kws_head_difference_is_the_sheets_constants(verified):
    # sheet T18 = 24, U18 = 180, V18 = 24: one inference forward books 228 MACC for the head
    c = verified["kws"].check("bp", "inference")
    (fwd,) = [o for o in c.operations if o.operation == "forward"]
    assert fwd.analytic - fwd.counted == 24 + 180 + 24
    assert fwd.counted == 2_664_768  # = the sheet's forward 2,664,996 (W18) without the head
    # PEPITA runs the full model twice (the head once per pass in the paper's count): 2 x 228
    pep = verified["kws"].check("pepita", "training")
    assert [o.analytic - o.counted for o in pep.operations if o.operation == "forward"] == [456]


@pytest.mark.parametrize("model_id, last, n", [("kws", "fc", 12), ("ic", "fc", 10), ("vww", "fc", 2),
                                               ("ad", "fc10", 640)])
def test_ff_normalization_skips_the_last_trainable_output(verified, model_id, last, n):
    """FF normalizes what the next trainable layer reads; the paper also normalizes the last
    trainable layer's output (n elements), per pass: 2 in training, classes (or 1) in inference."""
    model = verified[model_id].model
    for phase, passes in (("training", 2), ("inference", model.classes if model.supervised else 1)):
        c = verified[model_id].check("ff", phase)
        diffs = [(d.layer, d.analytic - d.counted) for d in c.layers if d.operation == "normalization"]
        assert diffs == [(last, passes * n)]
        goodness = [o for o in c.operations if o.operation == "goodness"][0]
        assert goodness.counted == goodness.analytic


@pytest.mark.parametrize("model_id", MODELS)
def test_error_and_projection_equal(verified, model_id):
    model = verified[model_id].model
    for c in verified[model_id].checks:
        for o in c.operations:
            if o.operation == "error":
                assert o.counted == o.analytic == model.output.output_elements
            if o.operation == "projection":
                # F e: (output elements) x (input elements), e.g. kws 12 x 490 = 5,880
                assert o.counted == o.analytic == model.output.output_elements * model.input.output_elements


@pytest.mark.parametrize("model_id", MODELS)
def test_analytic_side_is_analyze(verified, model_id):
    """verify's analytic totals are exactly what ``learncost analyze`` reports."""
    a = learncost.analyze(model_id)
    for c in verified[model_id].checks:
        assert c.analytic_total == a.row(c.procedure, c.phase).macc


def _extra(check, name):
    return {o.operation: o.counted for o in check.operations}.get(name, 0)


def test_extras_hand_counts(verified):
    kws = verified["kws"]
    bp = kws.check("bp", "training")
    # kws parameters: conv1 10*4*64 + 64 = 2,624; 4 dw 9*64 + 64 = 640; 4 pw 64*64 + 64 = 4,160;
    # fc 64*12 + 12 = 780  ->  2,624 + 2,560 + 16,640 + 780 = 22,604 (one apply per parameter)
    assert _extra(bp, "optimizer") == 22_604
    # bias gradient: every output element of a biased layer: conv1 25*5*64 = 8,000, 8 dw/pw
    # layers 8,000 each, fc 12  ->  8,000 + 64,000 + 12 = 72,012
    assert _extra(bp, "bias_gradient") == 72_012
    ff = kws.check("ff", "training")
    assert _extra(ff, "local_error") == 2 * 72_012  # dL/dy on every trainable output, two passes
    assert _extra(ff, "optimizer") == 2 * 22_604
    pep = kws.check("pepita", "training")
    assert _extra(pep, "local_error") == 72_000  # h - h_mod on all but fc, which reads e
    # ResNet-8's forks: conv1 (16x32x32) feeds conv2 and add1; add1 (16,384) feeds conv4 and
    # shortcut1; add2 (32x16x16 = 8,192) feeds conv6 and shortcut2
    assert _extra(verified["ic"].check("bp", "training"), "gradient_sum") == 16_384 + 16_384 + 8_192
    for m in MODELS:
        for c in verified[m].checks:
            if c.phase == "inference":
                assert {o.operation for o in c.operations} <= {"forward", "goodness", "normalization"}


def _memory_expectations(model_id: str) -> dict[tuple[str, str], int]:
    """Tracked activation peaks, derived by hand from the buffers each algorithm must hold."""
    s = buffers(learncost.load_model(model_id)).sizes
    every = sum(s.values())
    head = s["pool"] + s["fc"] + s["softmax"] if model_id != "ad" else 0
    if model_id == "kws":  # chain: input 490, conv1..pw4 8,000 each, pool 64, fc 12, softmax 48
        pair, pair_input = s["conv1"] + s["dw1"], s["input"] + s["conv1"] + s["dw1"]
        mem = {("mempepita", "training"): 3 * 8_000}
    elif model_id == "vww":  # the largest pair is dw1 -> pw1 (48x48x8 + 48x48x16)
        pair, pair_input = s["dw1"] + s["pw1"], s["input"] + s["dw1"] + s["pw1"]
        mem = {("mempepita", "training"): s["dw1"] + 2 * s["pw1"]}
    elif model_id == "ic":  # while conv3 runs, conv1 waits for add1: three 16,384 B buffers
        pair, pair_input = 3 * 16_384, s["input"] + 3 * 16_384
        # MEMPEPITA holds that shortcut in both passes: conv1, conv2, conv3 (recomputed) and
        # conv1, conv2 (modulated); the rule counts the live three plus the larger one
        mem = {("mempepita", "training"): 5 * 16_384}
    else:  # ad: input 640 -> 4 x 128 -> 8 -> 4 x 128 -> 640
        pair, pair_input = 640 + 128, 640 + 128 + 640
        mem = {("mempepita", "training"): 640 + 128 + 640}
    mem.update({(p, "inference"): pair for p in ("bp", "pepita", "mempepita")})
    mem[("ff", "inference")] = pair if model_id == "ad" else pair_input  # the autoencoder is unsupervised: one pass
    mem[("ff", "training")] = pair_input
    # BP keeps what its backward pass reads: each trained layer's input and each ReLU's output (no
    # masks in the paper's setup). Every buffer is read so on kws, vww and the autoencoder; on
    # ResNet-8 the outputs of conv3, conv5, conv7 and the shortcuts (no activation, read by an add
    # only) are not. Its worst step is add2 running: the input 3,072, conv1, conv2, add1 (3 x 16,384),
    # conv4 and add2 (2 x 8,192) kept, conv5 and shortcut1 (2 x 8,192) read by add2.
    mem[("bp", "training")] = every if model_id != "ic" else 3_072 + 3 * 16_384 + 4 * 8_192
    # PEPITA: the modulated pass's first output joins the clean outputs its updates will read;
    # pooling, adds, the logits and the softmax output are not read by any update and are gone.
    # (The autoencoder's peak is the end of the clean pass: every buffer.)
    adds = sum(v for k, v in s.items() if k.startswith("add"))
    first = "fc1" if model_id == "ad" else "conv1"
    mem[("pepita", "training")] = every if model_id == "ad" else every - head - adds + s[first]
    return mem


@pytest.mark.parametrize("model_id", MODELS)
def test_tracked_peak_against_rules(verified, model_id):
    expected = _memory_expectations(model_id)
    for c in verified[model_id].checks:
        m = c.memory
        assert m.tracked_bytes == expected[(c.procedure, c.phase)], (c.procedure, c.phase)
        assert m.with_errors_bytes >= m.tracked_bytes
        if m.tracked_bytes == m.analytic_bytes:
            assert m.extra == m.missing == []
        else:  # the explanation names exactly the bytes that make the difference
            assert sum(b for _, b in m.extra) - sum(b for _, b in m.missing) == m.difference


def test_where_the_paper_rule_differs(verified):
    """The findings docs/verify.md lists."""
    diffs = {(m, c.procedure): c.memory.difference for m in MODELS for c in verified[m].checks
             if c.memory.difference}
    assert diffs == {
        ("ic", "bp"): 3_072 + 3 * 16_384 + 4 * 8_192 - 117_874,
        ("kws", "pepita"): 8_000 - 64 - 12 - 48,
        ("vww", "pepita"): 18_432 - 256 - 2 - 8,
        ("ic", "pepita"): 16_384 - (16_384 + 8_192 + 4_096) - 64 - 10 - 40,
        ("ic", "mempepita"): 16_384,
    }


def test_feedback_matrix_is_reported(verified):
    c = verified["ad"].check("pepita", "training")
    assert any("640 x 640 = 409,600" in a for a in c.asides)
    assert verified["ad"].check("bp", "training").asides == []


@needs_models
def test_imported_model_verifies():
    model = learncost.load_model(MODELS_DIR / "resnet8_int8.tflite")
    v = verify(model, ["bp", "pepita"])
    for c in v.checks:
        assert c.unexplained == []
    fwd = [o for o in v.check("bp", "inference").operations if o.operation == "forward"][0]
    # the file's graph keeps the softmax (15 x 10 MACC in the paper's convention) but no converters
    assert fwd.counted == 12_534_400 and fwd.analytic == 12_534_400 + 15 * 10


def test_cli_verify_json():
    r = run_cli("verify", "ad", "-p", "bp", "-p", "ff", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["model"] == "ad"
    assert [(c["procedure"], c["phase"]) for c in data["checks"]] == [
        ("bp", "training"), ("bp", "inference"), ("ff", "training"), ("ff", "inference")]
    bp = data["checks"][0]
    assert bp["analytic_total"] == 711_296 and bp["unexplained"] == []
    assert {o["operation"]: o["status"] for o in bp["operations"]}["backward"] == "equal"


def test_cli_verify_table_names_differences():
    r = run_cli("verify", "kws", "-p", "pepita")
    assert r.returncode == 0, r.stderr
    assert "input_gradient" not in r.stdout and "projection" in r.stdout
    assert "+conv1 (modulated) 8,000 B" in r.stdout and "UNEXPLAINED" not in r.stdout


def test_cli_verify_without_torch_equivalent(tmp_path):
    spec = tmp_path / "odd.yaml"
    spec.write_text("name: odd\ninput: {shape: [8, 8, 1]}\nlayers:\n"
                    "  - {name: c, kind: conv2d, filters: 4, kernel: 3}\n"
                    "  - {name: x, kind: opaque}\n"
                    "  - {name: fc, kind: dense, units: 3}\n")
    r = run_cli("verify", str(spec))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "no PyTorch equivalent" in r.stderr and "'x'" in r.stderr and "opaque" in r.stderr


def test_procedure_without_reference_is_refused():
    from learncost.errors import LearncostError
    from learncost.procedures import PROCEDURES, Procedure, register

    bp = PROCEDURES["bp"]
    register(Procedure("bp2", "BP again", bp.reference, bp.training, bp.inference))
    try:
        with pytest.raises(LearncostError, match="'bp2' has no reference implementation"):
            verify(learncost.load_model("ad"), ["bp2"])
    finally:
        del PROCEDURES["bp2"]


def test_cli_verify_without_torch_installed():
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "from learncost.cli import main\nsys.exit(main(['verify', 'kws']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr == "learncost: error: executing a model needs PyTorch, which is not installed " \
                       "(pip install 'learncost[torch]') [LC-DEPENDENCY]\n"


def test_documented_sample_is_current():
    from conftest import ROOT

    r = run_cli("verify", "kws")
    assert r.returncode == 0, r.stderr
    page = (ROOT / "docs" / "verify.md").read_text()  # the sample `learncost verify kws` the docs show
    for line in r.stdout.splitlines():
        assert line.rstrip() in page, line
