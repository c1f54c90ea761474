"""Broken, truncated, random and unsupported files: one stderr line naming file and problem,
exit code 2, and (fuzzed) nothing but learncost's own error type ever escapes."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import learncost
from conftest import MODELS_DIR, run_cli
from learncost.errors import LearncostError
from test_importers import KERAS2, onnx_model
from tflite_writer import small_cnn

SUFFIXES = [".tflite", ".h5", ".keras", ".onnx"]


def _valid(suffix: str, tmp: Path) -> bytes:
    if suffix == ".tflite":
        return small_cnn()
    if suffix == ".onnx":
        return onnx_model()
    import json

    if suffix == ".h5":
        import h5py

        path = tmp / "valid.h5"
        with h5py.File(path, "w") as f:
            f.attrs["model_config"] = json.dumps(KERAS2)
        return path.read_bytes()
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", json.dumps(KERAS2))
    return buf.getvalue()


def _check_one_line(out, filename: str, needle: str) -> None:
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert filename in lines[0] and needle in lines[0], lines[0]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_empty_file(tmp_path, suffix):
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    _check_one_line(run_cli("analyze", str(path)), path.name, "empty")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_random_bytes(tmp_path, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(random.Random(7).randbytes(4096))
    out = run_cli("analyze", str(path))
    _check_one_line(out, path.name, ":")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_truncated_file(tmp_path, suffix):
    data = _valid(suffix, tmp_path)
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(data[: len(data) // 2])
    _check_one_line(run_cli("analyze", str(path)), path.name, ":")


def test_unsupported_operator_named(tmp_path):
    import tflite

    path = tmp_path / "exp.tflite"
    path.write_bytes(small_cnn(tflite.BuiltinOperator.EXP))
    _check_one_line(run_cli("analyze", str(path)), "exp.tflite", "unsupported operator(s): EXP (operator 8)")
    ok = run_cli("analyze", str(path), "--allow-unsupported", "-f", "markdown")
    assert ok.returncode == 0 and "EXP (operator 8, exp_8) is not costed" in ok.stdout


def test_keras_without_model_config(tmp_path):
    import h5py

    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("kernel", data=[1.0, 2.0])
    _check_one_line(run_cli("analyze", str(path)), "weights.h5", "no model configuration")


def test_onnx_symbolic_dims_cli(tmp_path):
    path = tmp_path / "sym.onnx"
    path.write_bytes(onnx_model(("N", 2, "H", "W")))
    _check_one_line(run_cli("analyze", str(path)), "sym.onnx", "--input-shape")
    ok = run_cli("analyze", str(path), "--input-shape", "1,2,8,8", "-p", "bp", "-f", "json")
    assert ok.returncode == 0, ok.stderr
    _check_one_line(run_cli("analyze", str(path), "--input-shape", "1,two"), "", "--input-shape must be")


def test_pickled_checkpoint_refused(tmp_path):
    path = tmp_path / "ckpt.pth"
    path.write_bytes(b"\x80\x04")
    _check_one_line(run_cli("analyze", str(path)), "ckpt.pth", "arbitrary code")


def test_unknown_extension(tmp_path):
    path = tmp_path / "model.pb"
    path.write_bytes(b"x")
    _check_one_line(run_cli("analyze", str(path)), "model.pb", "unsupported model format")


_SEEDS = {}


def _mutated(suffix: str, data: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    blob = bytearray(data)
    for pos, value in edits:
        blob[pos % len(blob)] = value
    blob = blob[: max(1, len(blob) - cut)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(bytes(blob))
        try:
            learncost.load_model(path)
        except LearncostError:
            pass  # the only exception a user may ever see


@pytest.mark.parametrize("suffix", [".tflite", ".onnx", ".keras"])
@settings(max_examples=int(os.environ.get("LEARNCOST_FUZZ_EXAMPLES", 120)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=12),
       cut=st.integers(0, 64))
def test_fuzz_mutated_bytes(suffix, edits, cut):
    if suffix not in _SEEDS:
        real = MODELS_DIR / "ad01_int8.tflite"  # the smallest real MLPerf Tiny file, when ../shared is there
        if suffix == ".tflite" and real.exists():
            _SEEDS[suffix] = real.read_bytes()
        else:
            with tempfile.TemporaryDirectory() as tmp:
                _SEEDS[suffix] = _valid(suffix, Path(tmp))
    _mutated(suffix, _SEEDS[suffix], edits, cut)


def test_onnx_input_without_a_batch_axis(tmp_path):
    """A rank-1 graph input ([784], seen in a public X-CUBE-AI project's MNIST export) used to leak a schema
    message; it is one line naming the shape and the way out."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import numpy as np

    w = numpy_helper.from_array(np.zeros((10, 784), dtype=np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["w", "x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [784])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [10])], [w])
    path = tmp_path / "flat.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    _check_one_line(run_cli("analyze", str(path)), "flat.onnx", "has shape [784] without a batch axis")
