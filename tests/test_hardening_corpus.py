"""Regression corpus: every reproducer of issue 12 and every bug the fuzz suite found, as a real
command line in a fresh interpreter, with the exit status and LC-* code it must give, within 10 s
and a 1 GiB address space. Files are built here (or mutated from ../shared in memory), never stored."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MODELS_DIR, ROOT
from test_importers import KERAS2
from tflite_writer import FLOAT32, TFLiteWriter

LIMIT_S = 10.0


def run(args, cwd, timeout=30):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    start = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "learncost", *args], capture_output=True, text=True, cwd=cwd,
                       timeout=timeout, preexec_fn=limit)
    return r, time.monotonic() - start


def one_error(r, code: str) -> str:
    lines = r.stderr.splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("learncost: error: ") and lines[0].endswith(f"[{code}]"), lines[0]
    return lines[0]


def spec(cwd: Path, name: str, text: str) -> str:
    (cwd / name).write_text(text, encoding="utf-8")
    return name


def bomb() -> str:
    # 9 x 9 x ... aliases: 9**9 = 387,420,489 entries once expanded, in 382 bytes
    text = "a: &a [1,1,1,1,1,1,1,1,1]\n"
    for k in range(8):
        prev, cur = chr(97 + k), chr(98 + k)
        text += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text + "name: m\ninput: {shape: [4]}\nlayers:\n  - {kind: dense, units: 4, kernel: *i}\n"


CASES = [
    # id, files (name -> text), args, expected status, code, needle in the line
    ("sweep-int64", {}, ["sweep", "ic", "--param", "width=100000000:9000000000:7000000", "-p", "bp", "--mcu",
                         "disco-f746ng", "-f", "markdown"], 2, "LC-SPEC-FIELD", "may pass 64-bit integers"),
    ("zfill", {"z.yaml": "name: m\ninput: {shape: [4]}\nlayers:\n  - {kind: dense, units: \"=int('a'.zfill(10**9))\"}\n"},
     ["analyze", "z.yaml"], 2, "LC-SPEC-EXPR", "calls a method"),
    ("chained-power", {"p.yaml": "name: m\nparameters: {a: 10}\ninput: {shape: [4]}\nlayers:\n"
                                 "  - {kind: dense, units: \"=((a**64)**64)**64\"}\n"},
     ["analyze", "p.yaml"], 2, "LC-LIMIT-EXPR", "the power grows too large"),
    ("alias-bomb", {"b.yaml": bomb()}, ["analyze", "b.yaml"], 2, "LC-LIMIT-EXPANSION", "expands to more than"),
    ("repeat-100000", {"r.yaml": "name: m\ninput: {shape: [4]}\nlayers:\n  - repeat: 100000\n    layers:\n"
                                 "      - {kind: dense, units: 4}\n"},
     ["analyze", "r.yaml"], 2, "LC-LIMIT-LAYERS", "100,000 layers, more than the 10,000"),
    ("blocks-100000", {}, ["analyze", "kws", "--param", "blocks=100000"], 2, "LC-LIMIT-LAYERS", "300,006 layers"),
    ("deep-yaml", {"d.yaml": "name: " + "[" * 3000 + "]" * 3000 + "\n"}, ["analyze", "d.yaml"], 2, "LC-LIMIT-DEPTH",
     "nested more than 32"),
    ("deep-toml", {"d.toml": "name = " + "[" * 3000 + "]" * 3000 + "\n"}, ["analyze", "d.toml"], 2, "LC-LIMIT-DEPTH",
     "nested more than 32"),
    ("4300-digits", {"i.yaml": "name: m\ninput: {shape: [" + "9" * 5000 + "]}\nlayers: [{kind: dense, units: 2}]\n"},
     ["analyze", "i.yaml"], 2, "LC-LIMIT-INT", "more than 4,300 digits"),
    ("int-beyond-1e308", {"h.yaml": "name: m\ninput: {shape: [" + "9" * 400 + "]}\nlayers: [{kind: dense, units: 2}]\n"},
     ["analyze", "h.yaml"], 2, "LC-LIMIT-INT", "input.shape[0]: is beyond 2,147,483,647"),
    ("filters-true", {"t.yaml": "name: m\ninput: {shape: [4, 4, 1]}\nlayers: [{kind: conv2d, filters: true, kernel: 1}]\n"},
     ["analyze", "t.yaml"], 2, "LC-SPEC-FIELD", "not true or false"),
    ("repeat-without-parameters", {"n.yaml": "name: m\ninput: {shape: [4]}\nlayers:\n  - repeat: 2\n    layers:\n"
                                             "      - {name: \"fc{i}\", kind: dense, units: 4}\n"},
     ["analyze", "n.yaml", "-f", "json"], 0, None, None),
    ("sram-nan", {}, ["fit", "kws", "--clock-mhz", "1", "--cycles-per-macc", "1", "--sram-kb", "nan", "--flash-kb", "1"],
     2, "LC-OPTION", "--sram-kb must be a finite number"),
    ("clock-inf", {}, ["analyze", "kws", "--clock-mhz", "inf", "--cycles-per-macc", "2"], 2, "LC-OPTION",
     "--clock-mhz must be a finite number"),
    ("dataset-empty", {}, ["analyze", "kws", "--dataset", ""], 2, "LC-OPTION", "--dataset needs a dataset id"),
    ("dev-zero", {}, ["analyze", "/dev/zero"], 2, "LC-INPUT-FILE", "is a device, not a regular file"),
    ("output-dir-force", {}, ["analyze", "kws", "-o", "adir", "--force"], 2, "LC-OUTPUT-PATH", "unsupported extension"),
    ("output-dir-json", {}, ["analyze", "kws", "-o", "adir.json", "--force"], 2, "LC-OUTPUT-PATH", "it is a directory"),
    ("output-255", {}, ["analyze", "kws", "-o", "y" * 300 + ".json"], 2, "LC-OUTPUT-WRITE", "the name is too long"),
    ("output-dangling", {}, ["analyze", "kws", "-o", "link.json"], 2, "LC-OUTPUT-EXISTS", "is a symbolic link"),
    ("markup-name", {"k.yaml": "name: \"[/x]\"\ninput: {shape: [4]}\nlayers: [{name: \"[/x]\\e[2J\", kind: dense, units: 2}]\n"},
     ["analyze", "k.yaml", "--per-layer"], 0, None, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reproducer(tmp_path, case):
    name, files, args, status, code, needle = case
    for fname, text in files.items():
        spec(tmp_path, fname, text)
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.json").mkdir()
    os.symlink(tmp_path / "nowhere", tmp_path / "link.json")
    before = {p.name for p in tmp_path.iterdir()}
    r, seconds = run(args, tmp_path)
    assert seconds < LIMIT_S, f"{name} took {seconds:.1f} s"
    if status == 2:
        assert needle in one_error(r, code)
    else:
        assert r.returncode == 0, r.stderr
    assert {p.name for p in tmp_path.iterdir()} == before  # nothing written, nothing half-written
    assert os.path.islink(tmp_path / "link.json")


def test_repeat_without_parameters_is_expanded(tmp_path):
    """Before, a repeat block without a parameters: block failed validation ('kind: Field required')."""
    spec(tmp_path, "n.yaml", "name: m\ninput: {shape: [4]}\nlayers:\n  - repeat: 2\n    layers:\n"
                             "      - {name: \"fc{i}\", kind: dense, units: 4}\n")
    r, _ = run(["analyze", "n.yaml", "--per-layer", "-f", "json"], tmp_path)
    layers = json.loads(r.stdout)["layers"]
    # input, fc1, fc2: each dense layer 4 x 4 weights (H_in x H_out) and 4 biases
    assert [(lr["name"], lr["weights"], lr["biases"]) for lr in layers] == [("input", 0, 0), ("fc1", 16, 4), ("fc2", 16, 4)]


def test_markup_and_escapes_in_names_are_shown_not_obeyed(tmp_path):
    spec(tmp_path, "k.yaml", "name: \"[/x]\"\ninput: {shape: [4]}\nlayers: [{name: \"[bold]x\\e[2J\", kind: dense, units: 2}]\n")
    r, _ = run(["analyze", "k.yaml", "--per-layer", "-p", "bp"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout  # piped: no styling, and the name's own ESC is escaped
    assert "[bold]x\\x1b[2J" in r.stdout and "[/x]" in r.stdout


def test_fifo_is_refused_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "m.tflite")
    r, seconds = run(["analyze", "m.tflite"], tmp_path)
    assert "m.tflite is a FIFO, not a regular file" in one_error(r, "LC-INPUT-FILE") and seconds < LIMIT_S


def test_hdf5_that_loops_in_the_c_library_ends_in_one_line(tmp_path):
    """A 5,000-byte Keras .h5 with 10 bytes at offset 916 replaced by 64 zero bytes: h5py.File() on it
    does not return within 20 s (found by mutating this file); learncost stops the reader."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = json.dumps(KERAS2)
    data = buf.getvalue()
    (tmp_path / "loop.h5").write_bytes(data[:916] + bytes(64) + data[926:])
    r, seconds = run(["analyze", "loop.h5"], tmp_path)
    assert "loop.h5: reading it took more than 6 s" in one_error(r, "LC-LIMIT-TIME")
    assert seconds < LIMIT_S


@pytest.mark.skipif(not (MODELS_DIR / "ad01.h5").exists(), reason=f"ad01.h5 not found in {MODELS_DIR}")
def test_shared_hdf5_mutation_that_hangs(tmp_path):
    """ad01.h5 with 10 bytes at 2,104 replaced by 64 zero bytes (found by the mutation campaign)."""
    data = (MODELS_DIR / "ad01.h5").read_bytes()
    (tmp_path / "ad.h5").write_bytes(data[:2104] + bytes(64) + data[2114:])
    r, seconds = run(["analyze", "ad.h5"], tmp_path)
    assert one_error(r, "LC-LIMIT-TIME") and seconds < LIMIT_S


def _unnamed_tflite(op: int) -> bytes:
    """A float32 dense layer (4 -> 3) whose tensors have no name field and whose operator has no options."""
    w = TFLiteWriter()
    x = w.tensor(None, [1, 4], FLOAT32)
    k = w.const(None, [3, 4], FLOAT32)
    y = w.tensor(None, [1, 3], FLOAT32)
    w.op(op, [x, k], [y], None)
    return w.bytes([x], [y])


def test_tflite_without_tensor_names_or_options(tmp_path):
    import tflite

    (tmp_path / "u.tflite").write_bytes(_unnamed_tflite(tflite.BuiltinOperator.FULLY_CONNECTED))
    r, _ = run(["analyze", "u.tflite", "--per-layer", "-f", "json", "-p", "bp"], tmp_path)
    assert r.returncode == 0, r.stderr
    dense = json.loads(r.stdout)["layers"][1]
    assert (dense["kind"], dense["weights"], dense["biases"], dense["forward"]) == ("dense", 12, 0, 12)  # 4 x 3


def test_unsupported_operator_is_named(tmp_path):
    """An operator learncost has no formula for (CUMSUM) is named with its position, tensors unnamed."""
    import tflite

    (tmp_path / "c.tflite").write_bytes(_unnamed_tflite(tflite.BuiltinOperator.CUMSUM))
    r, _ = run(["analyze", "c.tflite"], tmp_path)
    assert "unsupported operator(s): CUMSUM (operator 0)" in one_error(r, "LC-IMPORT-UNSUPPORTED-OP")


def test_svdf_without_options_is_malformed(tmp_path):
    """SVDF is costed now (tests/test_recurrent.py); one whose options (its rank) are missing is refused."""
    import tflite

    (tmp_path / "s.tflite").write_bytes(_unnamed_tflite(tflite.BuiltinOperator.SVDF))
    r, _ = run(["analyze", "s.tflite"], tmp_path)
    assert "operator 0 (SVDF) has no options" in one_error(r, "LC-IMPORT-MALFORMED")


def test_json_error_object(tmp_path):
    r, _ = run(["analyze", "kws", "--mcu", "esp32", "-f", "json"], tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    error = json.loads(r.stderr)
    assert error == {"schema_version": "1.0", "code": "LC-UNKNOWN-MCU", "message": "unknown MCU 'esp32'", "location": None,
                     "hint": error["hint"], "exit_status": 2}
    assert error["hint"].startswith("did you mean esp32-s3-devkitc-1?")


def test_codes_are_documented():
    from learncost.errors import CODES

    page = (ROOT / "docs" / "cli.md").read_text()  # the command line page lists every code
    assert [c for c in CODES if f"`{c}`" not in page] == []
