"""Fuzzed command lines: every command with options drawn from hostile values (NaN, inf, negative,
huge, empty, markup, control characters) and hostile paths (a directory, a FIFO, /dev/zero, a
dangling symlink, a name of 300 bytes, a missing folder) as model or --output. Invariants:
fuzz_harness.check."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from fuzz_harness import check
from test_fuzz_specs import budget

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e-300", "1e308", "3", "2.5", "99999999999999999999999", "1" * 5000, "",
           "x", "0x10", "1_000"]
TEXTS = ["", " ", "[/x]", "\x1b[2J", "kws", "stm32h735g-dk", "disco-f746ng", "cifar10", "bp", "ff", "é", "a" * 300,
         "-f", "--", "json"]
OPTIONS = {
    "--clock-mhz": NUMBERS, "--cycles-per-macc": NUMBERS, "--sram-kb": NUMBERS, "--flash-kb": NUMBERS,
    "--epochs": NUMBERS, "--samples": NUMBERS, "--classes": NUMBERS, "--mcu": TEXTS, "-p": TEXTS, "--dataset": TEXTS,
    "--input-shape": ["1,3,8,8", "0", "-1", "1," * 20, "nan", "", "99999999999", "1x2x3"],
    "--param": ["filters=8", "blocks=0", "blocks=100000", "alpha=nan", "width=1:100000000:1", "width=", "=3",
                "width=1e400", "nope=1", "blocks=1:5000:1", "width=8,8", "width=" + "9" * 40, "resolution=1:200:1"],
    "-f": ["json", "csv", "markdown", "table", "xml"],
    "--force": None, "--per-layer": None, "--allow-unsupported": None, "--as-published": None, "--errata": None,
    "--seed": NUMBERS,
    "--dtype": ["int8", "int16", "float32", "int8-paper", "int4", "", "INT8", "[/x]"],
    "--quiet": None, "-q": None,
}
PATHS = ["kws", "vww", "ic", "ad", "resnet", "", "dir", "fifo.tflite", "/dev/zero", "dangling.yaml", "missing.onnx",
         "x" * 300 + ".yaml", "nodir/m.yaml", "model.pt", "noext", "[/x].yaml", "bad.yaml"]
OUTPUTS = ["out.json", "out.csv", "out.md", "out.html", "out.png", "out.xlsx", "dir", "dangling.yaml", "nodir/out.json",
           "y" * 300 + ".json", "out.docx", "out", "fifo.tflite", "existing.csv"]
COMMANDS = ["analyze", "fit", "sweep", "compare", "paper", "models", "mcus", "datasets", "procedures", "completion",
            "nosuch"]


def _setup(cwd) -> None:
    (cwd / "dir").mkdir()
    os.mkfifo(cwd / "fifo.tflite")
    os.symlink(cwd / "nowhere.yaml", cwd / "dangling.yaml")
    (cwd / "bad.yaml").write_text("name: [unclosed\n")
    (cwd / "existing.csv").write_text("keep me\n")


CALLS = st.tuples(
    st.sampled_from(COMMANDS), st.sampled_from(PATHS),
    st.lists(st.one_of(st.sampled_from(sorted(OPTIONS)).flatmap(
        lambda opt: st.just([opt]) if OPTIONS[opt] is None else st.sampled_from(OPTIONS[opt]).map(lambda v: [opt, v]))),
        max_size=4),
    st.one_of(st.none(), st.sampled_from(OUTPUTS)))


@budget(900)
@given(call=CALLS)
def test_hostile_command_lines(fuzz_worker, case_dir, call):
    command, model, options, output = call
    cwd = case_dir()
    _setup(cwd)
    argv = [command]
    if command in ("analyze", "fit", "sweep", "compare"):
        argv.append(model)
    if command == "compare":
        argv.append("kws")
    for opt in options:
        argv += opt
    if output is not None:
        argv += ["-o", output]
    before = {p.name for p in cwd.iterdir()}
    outcome = check(fuzz_worker.run(argv, cwd), argv, cwd, before, "options: " + command)
    assert (cwd / "existing.csv").read_text() == "keep me\n" or "--force" in argv, "overwritten without --force"
    assert os.path.islink(cwd / "dangling.yaml") or "--force" in argv, "dangling symlink replaced without --force"
    if output == "fifo.tflite":
        assert outcome["status"] == 2  # a FIFO is never opened for writing (it would block)
