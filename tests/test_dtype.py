"""--dtype: a float model costed as the integer model it is deployed as (and the reverse). Expected
values are hand derivations on one small network: conv 3x3, 3 -> 8 channels, valid, on 32x32x3, then
flatten and dense 7,200 -> 10.

    weights 3*3*3*8 + 7,200*10 = 216 + 72,000 = 72,216; biases 8 + 10 = 18
    activations (the paper's rule, every buffer kept): input 3,072 + conv 7,200 + dense 10 = 10,282 elements
"""

from __future__ import annotations

import json

import pytest

import learncost
from conftest import run_cli
from learncost.dtypes import DEPLOYED, deployed

WEIGHTS, BIASES, ELEMENTS = 72_216, 18, 10_282

SPEC = """
name: tiny
classes: 10
dtype: float32
input: {shape: [32, 32, 3]}
layers:
  - {name: conv, kind: conv2d, filters: 8, kernel: 3, padding: valid, weight_dtype: float32, bias_dtype: float32}
  - {kind: flatten}
  - {name: fc, kind: dense, units: 10, weight_dtype: float32, bias_dtype: float32}
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize("dtype,act,weight,bias", [
    ("float32", 4, 4, 4),
    ("int8", 1, 1, 4),     # TFLite int8: int32 biases
    ("int16", 2, 1, 8),    # TFLite 16x8: int16 activations, int8 weights, int64 biases
    ("int8-paper", 1, 1, 1),
])
def test_bytes_of_each_deployed_form(tiny, dtype, act, weight, bias):
    model = learncost.load_model(tiny, dtype=dtype)
    assert model.input.dtype == DEPLOYED[dtype][0]
    assert sum(lr.params_bytes for lr in model.layers) == WEIGHTS * weight + BIASES * bias
    assert sum(lr.activation_bytes for lr in model.layers if lr.kind != "flatten") == ELEMENTS * act
    a = learncost.analyze(model, procedures=["bp"], mcus=["disco-f746ng"])
    inference = a.row("bp", "inference")
    assert inference.params_bytes == WEIGHTS * weight + BIASES * bias
    assert inference.macc == 3 * 3 * 3 * 8 * 30 * 30 + 7_200 * 10  # MACC do not depend on the element type
    assert any(f"--dtype {dtype}" in w for w in model.warnings)


def test_float_import_as_the_deployed_int8_model(tmp_path, tiny):
    """The float32 ONNX graph under --dtype int8 has the figures of the same network written as an int8
    spec with int32 biases (an independent path: the spec loader), and a quarter of its float32 activations."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in
             [("cw", (8, 3, 3, 3)), ("cb", (8,)), ("fw", (7_200, 10)), ("fb", (10,))]]
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("MatMul", ["f", "fw"], ["m"]), helper.make_node("Add", ["m", "fb"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), path)

    def rows(*args):
        r = run_cli("analyze", *args, "-p", "bp", "-m", "disco-f746ng", "-f", "json")
        assert r.returncode == 0, r.stderr
        return {x["phase"]: (x["ram_bytes"], x["params_bytes"], x["activations_bytes"]) for x in json.loads(r.stdout)["rows"]}

    as_float = rows(str(path))
    as_int8 = rows(str(path), "--dtype", "int8")
    spec = tmp_path / "tiny_int8.yaml"
    spec.write_text(SPEC.replace("float32", "int8").replace("bias_dtype: int8", "bias_dtype: int32"))
    assert as_int8 == rows(str(spec))
    assert as_int8["inference"][1] == WEIGHTS + 4 * BIASES and as_float["inference"][1] == 4 * (WEIGHTS + BIASES)
    assert as_float["training"][2] == 4 * as_int8["training"][2] == 4 * ELEMENTS


def test_builtin_in_float32():
    """kws as the paper states it (INT8 tensors; its softmax already runs in float32 between a dequantize
    and a quantize, as in the MLPerf Tiny file) and as a float32 model: every activation 4 bytes an element,
    parameters x4, MACC unchanged."""
    int8, float32 = learncost.load_model("kws"), learncost.load_model("kws", dtype="float32")
    assert all(lr.activation_bytes == 4 * lr.output_elements for lr in float32.layers)
    assert [lr.name for lr in int8.layers if lr.dtype == "float32"] == ["to_float", "softmax"]
    a = learncost.analyze(int8, procedures=["bp"]).row("bp", "training")
    b = learncost.analyze(float32, procedures=["bp"]).row("bp", "training")
    assert b.macc == a.macc and b.params_bytes == 4 * a.params_bytes
    assert b.memory_by_role["weight"] == 4 * a.memory_by_role["weight"]


def test_bad_dtype(tiny):
    r = run_cli("analyze", str(tiny), "--dtype", "int4")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "int8-paper" in r.stderr
    with pytest.raises(learncost.LearncostError, match="unknown --dtype 'int4'"):
        deployed(learncost.load_model(tiny), "int4")
