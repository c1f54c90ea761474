"""The shipped JSON Schema (``data/schema/output.schema.json``) against real output of runs it was not
inferred from (other models, setups, boards, engines, accountings; scripts/json_schema.py lists the
runs it was inferred from), and the schema_version every document carries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

jsonschema = pytest.importorskip("jsonschema")

from learncost.report.schema import SCHEMA_PATH, SCHEMA_VERSION  # noqa: E402

SCHEMA = json.loads(SCHEMA_PATH.read_text())

#: document -> runs not among the schema's inference runs
HELD_OUT = {
    "paper": [["paper", "-m", "nucleo-l4r5zi", "--epochs", "3"]],
    "errata": [["paper", "--errata"]],
    "analysis": [["analyze", "kwt", "--setup", "last-k", "--per-layer"],
                 ["analyze", "vww", "--setup", "bias-only", "--memory", "arena", "-m", "nucleo-h7a3zi-q", "-p", "pepita"],
                 ["analyze", "ad", "--setup", "float32", "-m", "nrf52840-dk", "--cycles-per-macc", "3.5"]],
    "fit": [["fit", "ic", "-m", "nucleo-l4r5zi", "-m", "disco-f746ng", "--max-hours", "5"]],
    "memory": [["memory", "vww", "-p", "ff"]],
    "compare": [["compare", "kws", "ad"]],
    "procedures_comparison": [["compare-procedures", "ic", "--setup", "int8-fp32grad"]],
    "verification": [["verify", "ad", "--setup", "bias-only"]],
    "models": [["models"]], "mcus": [["mcus"]], "engines": [["engines"]], "datasets": [["datasets"]],
    "setups": [["setups"]], "procedures": [["procedures"]],
}


def _learncost(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "learncost", *args, "--format", "json"], capture_output=True,
                          text=True, timeout=300)


def _validator(document: str):
    schema = SCHEMA | {"$ref": f"#/$defs/{document}"}
    schema.pop("anyOf")
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_valid_and_names_its_version():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA_VERSION in SCHEMA["title"] and SCHEMA_VERSION in SCHEMA["$id"]


@pytest.mark.parametrize("document,args", [(d, a) for d, runs in HELD_OUT.items() for a in runs],
                         ids=lambda x: x if isinstance(x, str) else " ".join(x))
def test_real_output_validates(document, args):
    if args[0] == "verify":
        pytest.importorskip("torch")  # verify executes in PyTorch
    r = _learncost(args)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    _validator(document).validate(data)
    if isinstance(data, dict):  # result documents carry the version; catalogue listings are arrays
        assert data["schema_version"] == SCHEMA_VERSION


def test_sweep_output_validates(tmp_path):
    r = _learncost(["sweep", "ic", "--param", "width=8,16", "-m", "disco-f746ng", "-d", "cifar10"])
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    _validator("sweep").validate(data)
    assert data["schema_version"] == SCHEMA_VERSION


def test_validation_output_validates(tmp_path):
    sys.path.insert(0, str(SCHEMA_PATH.parents[4] / "tests"))
    import xcubeai_reports as reports

    model, report = tmp_path / "tiny.yaml", tmp_path / "network_generate_report.txt"
    model.write_text(reports.SPEC)
    report.write_text(reports.v5())  # the schema was inferred from the 7.x and 8.x layouts
    r = subprocess.run([sys.executable, "-m", "learncost", "validate", str(model), str(report), "-f", "json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _validator("validation").validate(json.loads(r.stdout))


def test_error_output_validates():
    r = _learncost(["analyze", "kws", "--setup", "no-such-setup"])
    assert r.returncode == 2 and r.stdout == ""
    error = json.loads(r.stderr)
    _validator("error").validate(error)
    assert error["code"].startswith("LC-") and error["schema_version"] == SCHEMA_VERSION


def test_a_renamed_key_fails_validation():
    """The schema is a contract: a row without its ``ram_bytes`` (renamed, say) is refused."""
    data = json.loads(_learncost(["analyze", "ad"]).stdout)
    data["rows"][0]["peak_ram"] = data["rows"][0].pop("ram_bytes")
    with pytest.raises(jsonschema.ValidationError, match="ram_bytes"):
        _validator("analysis").validate(data)


def test_every_top_level_key_is_described():
    for name, d in SCHEMA["$defs"].items():
        target = d["items"] if d["type"] == "array" else d
        assert d["description"], name
        missing = [k for k, v in target["properties"].items() if not v.get("description")]
        assert not missing, (name, missing)
