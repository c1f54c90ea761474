"""The Python API mirrors the CLI; importing learncost stays light; procedures are pluggable."""

from __future__ import annotations

import subprocess
import sys

import pytest

import learncost
from learncost.errors import UnknownNameError


def test_analyze_by_id_and_dataframe():
    result = learncost.analyze("kws", procedures=["bp", "ff"], mcus=["stm32h735g-dk"])
    assert [(r.procedure, r.phase) for r in result.rows] == [
        ("bp", "training"), ("bp", "inference"), ("ff", "training"), ("ff", "inference")]
    df = result.to_dataframe()
    assert list(df["macc"]) == [r.macc for r in result.rows]
    assert "latency_ms[stm32h735g-dk]" in df.columns and "macc[forward]" in df.columns
    layers = result.to_dataframe(per_layer=True)
    assert layers.set_index("name").loc["dw1", "forward"] == 3 * 3 * 25 * 5 * 64


def test_aliases_resolve_to_builtins():
    assert learncost.load_model("resnet").id == "ic"
    assert learncost.load_model("DS-CNN").id == "kws"


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError) as err:
        learncost.analyze("kws", procedures=["hebbian"])
    assert err.value.valid == ["bp", "ff", "pepita", "mempepita", "bp-checkpoint", "fa", "dfa", "drtp", "mezo",
                               "forward-gradient", "ff-readout", "all"]


def test_import_is_light():
    code = ("import sys, learncost, learncost.cli; "
            "heavy = [m for m in ('pandas', 'matplotlib', 'torch', 'onnx', 'numpy', 'pydantic') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_new_procedure_needs_no_change_elsewhere():
    """A procedure is a declaration: register one and every report picks it up."""
    from learncost.procedures import PROCEDURES, Phase, Procedure, Term, register

    frozen = register(Procedure(
        id="bp-last-layer", name="BP of the last layer only (example)", reference="test",
        training=Phase((Term("forward"), Term("error")), "largest_pair", True),
        inference=Phase((Term("forward"),), "largest_pair", False),
    ))
    try:
        result = learncost.analyze("ad", procedures=["bp-last-layer", "bp"])
        row = result.row("bp-last-layer", "training")
        assert row.macc == result.row("bp", "inference").macc + 640  # forward + output error
        assert row.ram_bytes == 768 + 265864  # largest pair + parameters (sheet B185)
    finally:
        PROCEDURES.pop(frozen.id)


def test_options_confirm_not_change_a_stated_model(tmp_path):
    """--classes and --input-shape are for files that lack them; a spec or built-in states both."""
    assert learncost.load_model("kws", classes=12).classes == 12
    with pytest.raises(learncost.LearncostError, match="--classes 5 does not match kws"):
        learncost.load_model("kws", classes=5)
    spec = tmp_path / "m.yaml"
    spec.write_text("name: m\nclasses: 2\ninput: {shape: [4]}\nlayers:\n  - {kind: dense, units: 2}\n")
    with pytest.raises(learncost.LearncostError, match="--classes 3 does not match m"):
        learncost.load_model(spec, classes=3)
    with pytest.raises(learncost.LearncostError, match="--input-shape applies to imported files"):
        learncost.load_model(spec, input_shape=[1, 4])


def test_unknown_phase_is_refused():
    """A misspelt phase used to fall back to inference silently (design review)."""
    from learncost.procedures import get_procedure

    with pytest.raises(UnknownNameError, match="unknown phase 'trainig'"):
        get_procedure("bp").phase("trainig")


def test_the_api_shows_itself():
    """dir() lists the lazy names; reprs are one short line; a missing row says what exists; a sweep has a
    DataFrame like an analysis (2 variants x 1 procedure x 2 phases = 4 rows)."""
    import learncost

    assert {"analyze", "load_model", "verify", "sweep", "setups"} <= set(dir(learncost))
    a = learncost.analyze("kws", ["bp", "ff"], ["nucleo-g474re"])
    assert repr(a) == "<Analysis kws: 2 procedures x 2 phases, 1 MCUs, setup paper>"
    with pytest.raises(KeyError, match="procedures bp, ff; phases training, inference"):
        a.row("bp", "train")
    s = learncost.sweep.run("kws", {"filters": [32, 64]}, ["bp"], ["disco-f746ng"])
    assert repr(s) == "<Sweep kws: 2 variants (2 possible) x 1 procedures, 1 MCUs>"
    df = s.to_dataframe()
    # at 64 filters BP's training step is the README's 7,666,544 MACC; at 32 it is what analyze counts
    small = learncost.analyze(learncost.load_model("kws", params={"filters": 32}), ["bp"], []).row("bp", "training")
    assert len(df) == 4 and list(df["macc"][df["phase"] == "training"]) == [small.macc, 7_666_544]
