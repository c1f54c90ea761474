"""The command line: output formats, the JSON contract, options, and bad input (one line, exit 2)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import run_cli

ROW_KEYS = {"model", "procedure", "phase", "macc", "activations_bytes", "params_bytes", "ram_bytes", "latency_ms"}
LAYER_KEYS = {"name", "kind", "output_shape", "activations_bytes", "weights", "biases", "forward", "backward",
              "weight_update", "goodness", "normalization", "error", "projection"}


def test_paper_json_contract():
    out = run_cli("paper", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["mode"] == "consistent"
    rows = data["rows"]
    assert len(rows) == 4 * 4 * 2
    for row in rows:
        assert ROW_KEYS <= set(row)
        assert row["procedure"] in {"bp", "ff", "pepita", "mempepita"}
        assert row["phase"] in {"training", "inference"}
        assert set(row["latency_ms"]) == {"stm32h735g-dk", "nucleo-g474re"}
        assert ("train_hours" in row) == (row["phase"] == "training")
    kws_bp = next(r for r in rows if r["model"] == "kws" and r["procedure"] == "bp" and r["phase"] == "training")
    assert kws_bp["macc"] == 7666544  # sheet B33: no erratum touches DS-CNN's MACCs
    assert kws_bp["activations_bytes"] == 72614  # sheet B34 (72602) plus the dense output it omits (12)


def test_paper_as_published_json():
    data = json.loads(run_cli("paper", "--as-published", "-f", "json").stdout)
    assert data["mode"] == "as-published" and len(data["errata_applied"]) == 9
    vww = next(r for r in data["rows"] if r["model"] == "vww" and r["procedure"] == "bp" and r["phase"] == "training")
    assert vww["macc"] == 22356136  # sheet B79
    assert round(data["relative"]["CNN"]["ff"]["inference_macc"] * 100, 1) == 730.5  # sheet C222


def test_paper_table_and_markdown():
    table = run_cli("paper")
    assert table.returncode == 0 and "DS-CNN/SC" in table.stdout and "Relative change" in table.stdout
    md = run_cli("paper", "--as-published", "-f", "markdown").stdout
    assert "| DS-CNN/SC | BP | 7.7 | 72.6 | 95.2 | 2.7 | 20.1 |" in md  # sheet C197, C198, C199, C214, C215


def test_paper_errata_listing():
    out = run_cli("paper", "--errata", "-f", "json")
    errata = json.loads(out.stdout)["errata"]
    assert len(errata) == 9
    dw6 = next(e for e in errata if e["id"] == "vww-dw6-output-size")
    assert {"T57", "T58"} <= set(dw6["cells"])
    fwd = next(c for c in dw6["layer_changes"] if c["quantity"] == "forward")
    assert (fwd["consistent"], fwd["as_published"]) == (3 * 3 * 6 * 6 * 64, 3 * 3 * 16 * 16 * 64)


def test_analyze_per_layer_json():
    data = json.loads(run_cli("analyze", "ic", "--per-layer", "-f", "json", "-p", "bp").stdout)
    assert [r["procedure"] for r in data["rows"]] == ["bp", "bp"]
    layers = data["layers"]
    assert all(LAYER_KEYS <= set(layer) for layer in layers)
    assert [layer["name"] for layer in layers][:4] == ["input", "conv1", "pad1", "conv2"]
    add1 = next(layer for layer in layers if layer["name"] == "add1")
    assert add1["output_shape"] == [32, 32, 16] and add1["forward"] == 32 * 32 * 16


def test_analyze_csv_per_layer():
    out = run_cli("analyze", "kws", "--per-layer", "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    dw1 = next(r for r in rows if r["name"] == "dw1")
    assert int(dw1["forward"]) == 3 * 3 * 25 * 5 * 64 and dw1["output_shape"] == "25x5x64"


def test_analyze_custom_mcu_and_workload():
    data = json.loads(run_cli("analyze", "kws", "-p", "bp", "--clock-mhz", "100", "--cycles-per-macc", "2",
                              "--epochs", "10", "--samples", "1000", "-f", "json").stdout)
    row = data["rows"][0]
    assert row["latency_ms"] == {"custom": pytest.approx(7666544 * 2 / 100e6 * 1e3)}
    assert row["train_hours"]["custom"] == pytest.approx(7666544 * 2 / 100e6 * 10 * 1000 / 3600)


def test_analyze_selected_mcu_and_dataset():
    data = json.loads(run_cli("analyze", "ad", "--mcu", "nucleo-g474re", "--dataset", "cifar10", "-f", "json").stdout)
    assert data["dataset"]["id"] == "cifar10"
    row = data["rows"][0]
    assert list(row["latency_ms"]) == ["nucleo-g474re"]
    assert row["train_hours"]["nucleo-g474re"] == pytest.approx(711296 * 4.5 / 170e6 * 500 * 50000 / 3600)


def test_training_rows_keep_train_hours_without_a_dataset(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("name: m\nclasses: 2\ninput: {shape: [4]}\nlayers:\n  - {kind: dense, units: 2}\n")
    rows = json.loads(run_cli("analyze", str(spec), "-p", "bp", "-f", "json").stdout)["rows"]
    assert rows[0]["phase"] == "training" and rows[0]["train_hours"] == {}
    assert "train_hours" not in rows[1]


def test_listing_commands():
    assert "stm32h735g-dk" in run_cli("mcus").stdout
    assert "speech-commands" in run_cli("datasets", "-f", "csv").stdout
    models = json.loads(run_cli("models", "-f", "json").stdout)
    # the MLPerf Tiny models of the paper, then MIT's on-device training models
    assert [m["id"] for m in models] == ["kws", "vww", "ic", "ad", "mcunet-5fps", "mbv2-w0.35", "proxyless-w0.3",
                                            "kwt"]
    assert "largest_pair_plus_larger" in run_cli("procedures").stdout
    setups = json.loads(run_cli("setups", "-f", "json").stdout)
    assert [s["id"] for s in setups][:6] == ["paper", "int8-fp32grad", "float32", "bias-only", "last-k",
                                             "tte-mbv2-49kb"]
    assert len(setups) == 5 + 15  # and MIT's fifteen schemes


@pytest.mark.parametrize("args,needle", [
    (("analyze", "nosuchmodel"), "unknown model 'nosuchmodel' (valid: kws, vww, ic, ad"),
    (("analyze", "kws", "-p", "sgd"), "unknown procedure 'sgd' (valid: bp, ff, pepita, mempepita, bp-checkpoint, fa, dfa, drtp, mezo, forward-gradient, ff-readout, all)"),
    (("analyze", "kws", "--mcu", "esp32"), "unknown MCU 'esp32' (did you mean esp32-s3-devkitc-1? valid: stm32h735g-dk,"),
    (("analyze", "kws", "--mcu", "nucleo-h7a3"), "did you mean nucleo-h7a3zi-q, "),
    (("analyze", "kws", "-d", "mnist"), "unknown dataset 'mnist' (valid: speech-commands, vww, cifar10, toyadmos)"),
    (("analyze", "kws", "--format", "xml"), "'xml' is not one of"),
    (("analyze", "kws", "--frobnicate"), "No such option"),
    # (--clock-mhz alone is a custom board whose latency is unknown until --cycles-per-macc: valid)
    (("analyze", "kws", "--clock-mhz", "0"), "--clock-mhz must be positive"),
    (("analyze", "kws", "--samples", "0"), "--samples must be positive"),
    (("paper", "--mcu", "nucleo"), "unknown MCU 'nucleo'"),
    (("analyze", "missing.yaml"), "no such file: missing.yaml"),
    (("analyze", "model.onnx2"), "no such file"),
])
def test_bad_input_one_line_exit_2(args, needle):
    out = run_cli(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("learncost: error: ")
    assert needle in lines[0]
    assert "Traceback" not in out.stderr


def test_version_and_short_help():
    from learncost import __version__

    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"learncost {__version__}"
    r = run_cli("analyze", "-h")
    assert r.returncode == 0 and "Usage: learncost analyze" in r.stdout and "--engine" in r.stdout


def test_errata_written_with_output(tmp_path):
    """`paper --errata -o FILE` writes the list (it used to print it and write nothing); the file holds the
    same nine errata as the JSON on stdout (README: the sheet has nine)."""
    listed = json.loads(run_cli("paper", "--errata", "-f", "json").stdout)["errata"]
    assert len(listed) == 9
    r = run_cli("paper", "--errata", "-o", str(tmp_path / "errata.json"))
    assert r.returncode == 0 and r.stdout == "" and "wrote" in r.stderr
    assert json.loads((tmp_path / "errata.json").read_text())["errata"] == listed
    assert run_cli("paper", "--errata", "-o", str(tmp_path / "errata.csv")).returncode == 0
    ids = {row["id"] for row in csv.DictReader(io.StringIO((tmp_path / "errata.csv").read_text()))}
    assert ids == {e["id"] for e in listed}
    r = run_cli("paper", "--errata", "-o", str(tmp_path / "errata.png"))
    assert r.returncode == 2 and "unsupported extension .png" in r.stderr and not (tmp_path / "errata.png").exists()
