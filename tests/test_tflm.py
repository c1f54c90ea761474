"""TFLite Micro as the oracle of the ``tflm`` accounting: for every model its own Python interpreter
can run, learncost's inference arena equals the arena head the interpreter records, byte for byte
(RecordingMicroAllocator, ``print_allocations``). The interpreter is the ``tflite-micro`` package
(reference kernels); the models are the MLPerf Tiny files in ``../shared`` and small graphs written
here with odd sizes (alignment), residual adds, reshapes and unread outputs."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("tflite_micro")

import learncost  # noqa: E402

from conftest import MODELS_DIR, needs_models  # noqa: E402
from tflite_writer import FLOAT32, TFLiteWriter, add_options, conv_options, fc_options  # noqa: E402

import tflite  # noqa: E402

PROBE = """
import os, sys
from tflite_micro.python.tflite_micro import runtime
it = runtime.Interpreter.from_file(sys.argv[1], arena_size=16 << 20)  # 16-aligned: its end too
it.print_allocations()
"""


def tflm_recorded(path) -> tuple[int, int]:
    """The arena head and tail TFLite Micro's interpreter records for a model (its C++ prints to stderr),
    in an arena of 16 MiB: the tail moves by 8 B with the arena end's alignment, which this fixes."""
    r = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    head = re.search(r"Arena allocation head (\d+) bytes", text)
    tail = re.search(r"Arena allocation tail (\d+) bytes", text)
    if r.returncode or not head or not tail:
        raise RuntimeError(text.strip())
    return int(head.group(1)), int(tail.group(1))


def tflm_head(path) -> int:
    return tflm_recorded(path)[0]


def learncost_arena(path) -> int:
    """learncost's head: the planned tensors (the tail is checked apart, on the interpreter's own target)."""
    model = learncost.load_model(str(path))
    by_role = learncost.analyze(model, ["bp"], [], memory="tflm").row("bp", "inference").memory_by_role
    return sum(v for role, v in by_role.items() if role != "runtime")  # activations, scratch, fragmentation


def learncost_tail(path, target="host") -> int:
    from learncost.tflm import tail

    return tail(learncost.load_model(str(path)).runtime["tflm"], target)


@needs_models
@pytest.mark.parametrize("name", sorted(p.name for p in MODELS_DIR.glob("*.tflite")))
def test_mlperf_tiny_files(name):
    path = MODELS_DIR / name
    if name == "kws_ref_model_float32.tflite":
        # a hybrid model (float activations, INT8 weights in five convolutions): TFLite Micro refuses it
        with pytest.raises(RuntimeError, match="Hybrid models are not supported"):
            tflm_head(path)
        pytest.skip("TFLite Micro does not run hybrid models")
    assert (learncost_arena(path), learncost_tail(path)) == tflm_recorded(path)


def test_cortex_m_tails():
    """The tail on a 32-bit Cortex-M (GCC's short enums, the plain interpreter): every pointer-holding
    struct halves, TfLiteTensor is 32 B; the figures the research's ARM builds of the snapshot gave."""
    if not MODELS_DIR.exists():
        pytest.skip("../shared absent")
    tails = {name: learncost_tail(MODELS_DIR / f"{name}.tflite", "cortex-m") for name in
             ("ad01_fp32", "ad01_int8", "kws_ref_model_int8", "resnet8_int8", "vww_96_int8")}
    assert tails == {"ad01_fp32": 1_456, "ad01_int8": 1_492, "kws_ref_model_int8": 6_772, "resnet8_int8": 5_188,
                     "vww_96_int8": 26_932}
    row = learncost.analyze(learncost.load_model(str(MODELS_DIR / "vww_96_int8.tflite")), ["bp"], [],
                            memory="tflm").row("bp", "inference")
    assert row.ram_bytes == 73_728 + 26_932 and row.memory_by_role["runtime"] == 26_932


def test_vww_is_four_thirds_of_its_live_peak():
    """The README's example: MobileNet's INT8 head is 73,728 B (18,432 B over the 55,296 B live peak)."""
    if not (MODELS_DIR / "vww_96_int8.tflite").exists():
        pytest.skip("../shared absent")
    model = learncost.load_model(str(MODELS_DIR / "vww_96_int8.tflite"))
    row = learncost.analyze(model, ["bp"], [], memory="tflm").row("bp", "inference")
    assert row.memory_by_role["activation"] == 55_296 and row.memory_by_role["fragmentation"] == 18_432


def _const(w, shape):
    import numpy as np

    return w.tensor(None, shape, FLOAT32, np.zeros(int(np.prod(shape)), np.float32).tobytes())


def _fc(w, x, n_in, n_out):
    y = w.tensor(None, [1, n_out], FLOAT32)
    w.op(tflite.BuiltinOperator.FULLY_CONNECTED, [x, _const(w, [n_out, n_in]), _const(w, [n_out])], [y], fc_options())
    return y


def _graphs():
    B = tflite.BuiltinOperator
    # a chain of odd widths: 37, 13, 101, 5, 64 floats (148, 52, 404, 20, 256 B: aligned 160, 64, 416, 32, 256)
    w = TFLiteWriter()
    x = w.tensor("x", [1, 37], FLOAT32)
    h = x
    for a, b in [(37, 13), (13, 101), (101, 5), (5, 64)]:
        h = _fc(w, h, a, b)
    yield "odd chain", w, x, h
    # residual adds: a value read twice, kept while a branch runs
    w = TFLiteWriter()
    x = w.tensor("x", [1, 30], FLOAT32)
    a = _fc(w, x, 30, 50)
    b = _fc(w, a, 50, 50)
    c = _fc(w, b, 50, 50)
    s = w.tensor(None, [1, 50], FLOAT32)
    w.op(B.ADD, [c, a], [s], add_options())
    y = _fc(w, s, 50, 7)
    yield "residual", w, x, y
    # convolutions and a depthwise at odd sizes, a reshape with its own buffer, equal sizes to break ties on
    w = TFLiteWriter()
    x = w.tensor("x", [1, 9, 7, 3], FLOAT32)
    c1 = w.tensor(None, [1, 9, 7, 5], FLOAT32)
    w.op(B.CONV_2D, [x, _const(w, [5, 3, 3, 3]), _const(w, [5])], [c1], conv_options(activation=0))
    d = w.tensor(None, [1, 5, 4, 5], FLOAT32)
    w.op(B.DEPTHWISE_CONV_2D, [c1, _const(w, [1, 3, 3, 5]), _const(w, [5])], [d],
         conv_options(stride=2, activation=0, depth_multiplier=1))
    c2 = w.tensor(None, [1, 5, 4, 5], FLOAT32)
    w.op(B.CONV_2D, [d, _const(w, [5, 1, 1, 5]), _const(w, [5])], [c2], conv_options(activation=0))
    r = w.tensor(None, [1, 100], FLOAT32)
    w.op(B.RESHAPE, [c2, w.int32("shape", [1, 100])], [r])
    y = _fc(w, r, 100, 3)
    yield "convolutions", w, x, y
    # a nearest resize by 2 x 3 between two convolutions (a decoder's upsampling)
    w = TFLiteWriter()
    x = w.tensor("x", [1, 4, 4, 3], FLOAT32)
    c1 = w.tensor(None, [1, 4, 4, 5], FLOAT32)
    w.op(B.CONV_2D, [x, _const(w, [5, 3, 3, 3]), _const(w, [5])], [c1], conv_options(activation=0))
    up = w.tensor(None, [1, 8, 12, 5], FLOAT32)
    w.op(B.RESIZE_NEAREST_NEIGHBOR, [c1, w.int32("size", [8, 12])], [up])
    y = w.tensor(None, [1, 8, 12, 2], FLOAT32)
    w.op(B.CONV_2D, [up, _const(w, [2, 1, 1, 5]), _const(w, [2])], [y], conv_options(activation=0))
    yield "resize", w, x, y
    # two inputs, the second read only at the end: every input lives from the start (odd sizes: alignment)
    w = TFLiteWriter()
    x = w.tensor("x", [1, 30], FLOAT32)
    side = w.tensor("side", [1, 11], FLOAT32)
    a = _fc(w, _fc(w, x, 30, 50), 50, 21)
    b = _fc(w, side, 11, 21)
    s = w.tensor(None, [1, 21], FLOAT32)
    w.op(B.ADD, [a, b], [s], add_options())
    y = _fc(w, s, 21, 3)
    yield "two inputs", w, [x, side], y


@pytest.mark.parametrize("case", [g[0] for g in _graphs()])
def test_written_graphs(tmp_path, case):
    _, w, x, y = next(g for g in _graphs() if g[0] == case)
    path = tmp_path / "m.tflite"
    path.write_bytes(w.bytes(x if isinstance(x, list) else [x], [y]))
    assert (learncost_arena(path), learncost_tail(path)) == tflm_recorded(path)


def test_transposed_convolution_arena(tmp_path):
    """A float decoder, conv 4 x 4 x 3 -> 4 x 4 x 5, TRANSPOSE_CONV stride 2 'same' -> 8 x 8 x 2: the arena head
    equals the interpreter's (a float transposed convolution requests no scratch buffer; the tail, whose operator
    data learncost does not size for TRANSPOSE_CONV, is left out)."""
    from tflite_writer import transpose_conv_options

    B = tflite.BuiltinOperator
    w = TFLiteWriter()
    x = w.tensor("x", [1, 4, 4, 3], FLOAT32)
    c1 = w.tensor(None, [1, 4, 4, 5], FLOAT32)
    w.op(B.CONV_2D, [x, _const(w, [5, 3, 3, 3]), _const(w, [5])], [c1], conv_options(activation=0))
    y = w.tensor(None, [1, 8, 8, 2], FLOAT32)
    w.op(B.TRANSPOSE_CONV, [w.int32("shape", [1, 8, 8, 2]), _const(w, [2, 3, 3, 5]), c1], [y],
         transpose_conv_options(2))
    path = tmp_path / "m.tflite"
    path.write_bytes(w.bytes([x], [y]))
    assert learncost.load_model(str(path)).layers[-1].kind == "conv2d_transpose"
    assert learncost_arena(path) == tflm_head(path)


def test_int8_transposed_convolution_scratch(tmp_path):
    """An int8 TRANSPOSE_CONV 4 x 4 x 5 -> 8 x 8 x 2 (per-channel weights, int32 bias): TFLite Micro's kernel asks for
    an int32 accumulator per output element, 8 x 8 x 2 x 4 = 512 B, beside its input (80 B) and output (128 B): the
    head the interpreter records, 720 B."""
    from tflite_writer import INT8, INT32, transpose_conv_options

    w = TFLiteWriter()
    x = w.quantize(w.tensor("x", [1, 4, 4, 5], INT8), [0.1])
    weights = w.quantize(w.tensor(None, [2, 3, 3, 5], INT8, bytes(90)), [0.05, 0.05])
    bias = w.quantize(w.tensor(None, [2], INT32, bytes(8)), [0.005, 0.005])
    y = w.quantize(w.tensor(None, [1, 8, 8, 2], INT8), [0.2])
    w.op(tflite.BuiltinOperator.TRANSPOSE_CONV, [w.int32("shape", [1, 8, 8, 2]), weights, x, bias], [y],
         transpose_conv_options(2))
    path = tmp_path / "m.tflite"
    path.write_bytes(w.bytes([x], [y]))
    by_role = learncost.analyze(learncost.load_model(str(path)), ["bp"], [], memory="tflm").row(
        "bp", "inference").memory_by_role
    assert by_role["scratch"] == 512
    assert learncost_arena(path) == tflm_head(path) == 80 + 128 + 512


def test_simple_add_model_two_inputs(tmp_path):
    """TFLite Micro's memory_footprint example: two int8 128 x 128 x 1 inputs added (16,384 MACC, one per
    element). Both inputs live from the start, beside the sum: 3 x 16,384 = 49,152 B, the interpreter's head;
    its tail too. Read from the local mirror of tflite-micro when it exists."""
    import subprocess
    from pathlib import Path

    mirror = Path("/work/.mirror/tensorflow+tflite-micro/repo")
    name = "tensorflow/lite/micro/examples/memory_footprint/models/simple_add_model.tflite"
    if not mirror.exists():
        pytest.skip(f"no local mirror of tflite-micro at {mirror}")
    path = tmp_path / "simple_add_model.tflite"
    path.write_bytes(subprocess.run(["git", "-C", str(mirror), "show", f"HEAD:{name}"], capture_output=True,
                                    check=True).stdout)
    m = learncost.load_model(str(path))
    assert [(lr.kind, lr.output_shape) for lr in m.layers] == [("input", (128, 128, 1))] * 2 + [("add", (128, 128, 1))]
    assert learncost.analyze(m, ["bp"], []).row("bp", "inference").macc == 16_384
    assert (learncost_arena(path), learncost_tail(path)) == tflm_recorded(path) == (3 * 16_384, 1_024)
