"""Every MLPerf Tiny file in ../shared imports and matches the built-in model layer by layer.

Documented differences (checked here, not hidden): the files have no explicit zero-padding
(padding 'same' inside the convolution) and no INT8<->float converters around the softmax
(int8 softmax in the int8 files), they have a reshape/flatten before the dense layer, int8
files store biases as int32, float files hold 4-byte activations and parameters, and Keras
files carry batch normalization, which the paper does not count (folded, with a warning).
kws_ref_model_float32.tflite is a hybrid model whose convolution weights are INT8.
"""

from __future__ import annotations

import pytest

import learncost
from conftest import MODELS_DIR, needs_models
from learncost.compare import compare

pytestmark = needs_models

FILES = {
    "kws_ref_model_int8.tflite": "kws", "kws_ref_model_float32.tflite": "kws",
    "vww_96_int8.tflite": "vww", "vww_96_float.tflite": "vww", "vww_96.h5": "vww",
    "resnet8_int8.tflite": "ic", "resnet8_float.tflite": "ic", "resnet8.h5": "ic",
    "ad01_int8.tflite": "ad", "ad01_fp32.tflite": "ad", "ad01.h5": "ad",
}


def test_every_shared_file_is_covered():
    on_disk = {p.name for p in MODELS_DIR.iterdir() if p.suffix in (".tflite", ".h5")}
    assert on_disk == set(FILES)


@pytest.mark.parametrize("filename", sorted(FILES))
def test_shared_file_matches_builtin(filename):
    builtin = learncost.load_model(FILES[filename])
    imported = learncost.load_model(MODELS_DIR / filename)
    result = compare(builtin, imported)
    assert result.differing == 0, [(p.a and p.a.name, p.b and p.b.name, p.differences) for p in result.pairs]
    assert all(p.a is not None and p.b is not None for p in result.pairs)
    # what the built-in has and the file has not: padding and the softmax converters
    assert {name.split(" ")[0] for name in result.left_out["a"]} == {
        lr.name for lr in builtin.layers if lr.kind in ("pad", "quantize", "dequantize")}
    assert {name.split(" ")[0] for name in result.left_out["b"]} <= {
        lr.name for lr in imported.layers if lr.kind in ("reshape", "flatten")}
    assert imported.classes == builtin.classes
    assert imported.task == builtin.task


@pytest.mark.parametrize("filename", sorted(FILES))
def test_shared_file_totals_and_element_sizes(filename):
    builtin = learncost.analyze(FILES[filename], ["bp"])
    imported = learncost.analyze(learncost.load_model(MODELS_DIR / filename), ["bp"])
    converters = sum(lr.macc["forward"] for lr in builtin.layers if lr.kind in ("quantize", "dequantize"))
    assert imported.row("bp", "inference").macc == builtin.row("bp", "inference").macc - converters
    m = imported.model
    weights, biases = m.weights, m.biases
    assert (weights, biases) == (builtin.model.weights, builtin.model.biases)
    if "int8" in filename:
        assert imported.row("bp", "training").params_bytes == weights + 4 * biases  # int32 biases
        assert {lr.dtype for lr in m.layers} == {"int8"}
    elif filename == "kws_ref_model_float32.tflite":
        # a hybrid model: its five CONV_2D weight tensors are INT8 (2560 + 4 x 4096), the rest float32
        conv_w = 10 * 4 * 64 + 4 * 64 * 64
        assert imported.row("bp", "training").params_bytes == conv_w + 4 * (weights - conv_w + biases)
        assert {lr.dtype for lr in m.layers} == {"float32"}
    else:
        assert imported.row("bp", "training").params_bytes == 4 * (weights + biases)
        assert {lr.dtype for lr in m.layers} == {"float32"}
    if filename.endswith(".h5"):
        assert any("batch normalization" in w for w in m.warnings)
