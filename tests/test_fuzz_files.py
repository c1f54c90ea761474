"""Fuzzed model files: byte flips, zeroed runs, truncations and spliced chunks of valid .tflite,
.onnx, .h5 and .keras files (the ones built by the tests, and the MLPerf Tiny files of ../shared when
present), through analyze and compare. Invariants: fuzz_harness.check."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import MODELS_DIR
from fuzz_harness import check
from test_fuzz_specs import budget
from test_importers import KERAS2, onnx_model
from tflite_writer import small_cnn


def _h5() -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = json.dumps(KERAS2)
    return buf.getvalue()


def _keras() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", json.dumps(KERAS2))
    return buf.getvalue()


OWN = {".tflite": small_cnn, ".onnx": onnx_model, ".h5": _h5, ".keras": _keras}
SHARED = ["kws_ref_model_int8.tflite", "vww_96_float.tflite", "resnet8_int8.tflite", "ad01.h5"]


@pytest.fixture(scope="module")
def originals():
    files = {f"own{suffix}": make() for suffix, make in OWN.items()}
    for name in SHARED:  # mutated in memory only: the shared files are never copied into the repository
        if (MODELS_DIR / name).exists():
            files[name] = (MODELS_DIR / name).read_bytes()
    return files


EDIT = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**20), st.integers(0, 255)),
    st.tuples(st.just("zero"), st.integers(0, 2**20), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 2**20), st.just(0)),
    st.tuples(st.just("splice"), st.integers(0, 2**20), st.integers(0, 2**20)),
    st.tuples(st.just("ones"), st.integers(0, 2**20), st.integers(1, 8)))


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for kind, at, arg in edits:
        if not out:
            break
        # most structure sits in the first kilobytes: bias positions there half of the time
        at = at % len(out) if at % 2 else at % min(len(out), 4096)
        if kind == "flip":
            out[at] = arg
        elif kind == "zero":
            out[at:at + arg] = bytes(min(arg, len(out) - at))
        elif kind == "ones":
            out[at:at + arg] = b"\xff" * min(arg, len(out) - at)
        elif kind == "truncate":
            del out[at:]
        else:
            src = arg % len(out)
            out[at:at + 16] = out[src:src + 16]
    return bytes(out)


@budget(900)
@given(pick=st.integers(0, 100), edits=st.lists(EDIT, min_size=1, max_size=4),
       command=st.sampled_from([["analyze", "-f", "json"], ["analyze", "--per-layer"], ["compare", "kws"],
                                ["fit", "-f", "csv", "-m", "nucleo-g474re"], ["analyze", "--allow-unsupported", "-f", "json"]]))
def test_mutated_model_files(fuzz_worker, case_dir, originals, pick, edits, command):
    names = sorted(originals)
    name = names[pick % len(names)]
    cwd = case_dir()
    target = "m" + name[name.index("."):]
    (cwd / target).write_bytes(mutate(originals[name], edits))
    argv = [command[0], target, *command[1:]] if command[0] != "compare" else ["compare", target, "kws"]
    check(fuzz_worker.run(argv, cwd), argv, cwd, {target}, "files: mutated " + name[name.index("."):])
