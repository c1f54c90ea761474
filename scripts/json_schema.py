"""Write the JSON Schema of learncost's JSON output from real output.

    pip install -e '.[schema]'
    python scripts/json_schema.py > src/learncost/data/schema/output.schema.json

Every document type (one per command that writes JSON) is inferred with GenSON from the output of
several real runs (different models, setups, boards, engines), so a key is ``required`` only when
every run wrote it. Maps keyed by a board, model, dataset or parameter id become
``additionalProperties`` (their keys are the user's choice, not the schema's), and each document's
top-level keys get the description below. Keys may be added in a minor version: no object forbids
additional properties. ``tests/test_schema.py`` validates other runs' output against the file.
"""

from __future__ import annotations

import json
import subprocess
import sys

from genson import SchemaBuilder

#: document -> the learncost invocations whose output the schema is inferred from
RUNS = {
    "paper": [["paper"], ["paper", "--as-published"], ["paper", "-m", "disco-f746ng", "--engine", "plumerai"],
              ["paper", "-m", "nucleo-h7a3zi-q", "-m", "nucleo-u575zi-q"]],
    "errata": [["paper", "--errata"]],
    "analysis": [["analyze", "kws"], ["analyze", "vww", "--per-layer", "-d", "vww"],
                 ["analyze", "ic", "--setup", "int8-fp32grad", "-m", "disco-f746ng", "-p", "bp", "-p", "ff"],
                 ["analyze", "mcunet-5fps", "--setup", "tte-mcunet-49kb", "--per-layer"],
                 ["analyze", "ad", "--memory", "tflm", "-m", "nucleo-l4r5zi", "--per-layer"],
                 ["analyze", "kws", "--setup", "last-k"]],
    "fit": [["fit", "kws"], ["fit", "vww", "-m", "disco-f746ng", "--max-ms", "50", "--max-hours", "60"]],
    "sweep": [["sweep", "kws", "--param", "filters=8:32:8"],
              ["sweep", "vww", "--param", "alpha=0.25,0.5", "-m", "disco-f746ng", "-d", "vww"]],
    "memory": [["memory", "kws"], ["memory", "ad", "-p", "pepita", "--phase", "inference"]],
    "compare": [["compare", "kws", "vww"], ["compare", "ic", "ic"]],
    "procedures_comparison": [["compare-procedures", "kws"], ["compare-procedures", "ad", "-m", "disco-f746ng"]],
    "verification": [["verify", "ad"], ["verify", "kws", "-p", "bp", "--setup", "int8-fp32grad"]],
    "models": [["models"]], "mcus": [["mcus"]], "engines": [["engines"]], "datasets": [["datasets"]],
    "setups": [["setups"]], "procedures": [["procedures"]],
}

#: keys whose object values are maps from an id (board, model, dataset, parameter) to a value
MAPS = {"mcus", "datasets", "parameters", "latency_ms", "latency_ms_range", "train_hours", "train_hours_range",
        "energy_mj", "energy_mj_range", "train_energy_wh", "fit", "engine_cycles_per_macc", "fits", "pareto",
        "impossible", "relative", "memory_by_role", "residency"}
#: maps whose values are real numbers (or objects of them) even where a run's happened to be whole
REAL_MAPS = {"engine_cycles_per_macc", "parameters", "latency_ms", "latency_ms_range", "train_hours",
             "train_hours_range", "energy_mj", "energy_mj_range", "train_energy_wh", "relative"}

#: keys null in some output no inference run shows: a setup without a published source, a budget on
#: hours alone, a layer present in one model only, a board without a measured engine or power
NULLABLE = {"source", "ms", "hours", "a", "b", "a_forward", "b_forward", "engine", "latency_spread",
            "power_mw", "power_mw_range", "model", "micro_batch", "dataset", "note"}

DOCUMENTS = {
    "paper": "learncost paper: the paper's four models, procedures and boards, every row of the sheet",
    "errata": "learncost paper --errata: the sheet's errata and what each changes",
    "analysis": "learncost analyze: one model under procedures, a setup and boards",
    "fit": "learncost fit: which procedure trains on which board, with the margins",
    "sweep": "learncost sweep: every variant of a parametrised model",
    "memory": "learncost memory: one phase's tensors laid out in an arena",
    "compare": "learncost compare: two models layer by layer",
    "procedures_comparison": "learncost compare-procedures: every procedure against a baseline",
    "verification": "learncost verify: analytic counts against the counts of executing each procedure",
    "validation": "learncost validate: learncost's counts against an X-CUBE-AI / ST Edge AI Core report",
    "error": "an error under --format json (on stderr, exit status 2 or more)",
    "models": "learncost models: the built-in models", "mcus": "learncost mcus: the board catalogue",
    "engines": "learncost engines: the engine profiles", "datasets": "learncost datasets: training workloads",
    "setups": "learncost setups: the named training setups", "procedures": "learncost procedures: the procedures",
}

#: descriptions of the documents' top-level keys and of the keys of their rows
KEYS = {
    "schema_version": "version of this schema the document follows (major.minor; minor versions only add keys)",
    "model": "the model's id (built-in) or file name", "setup": "the training setup (id, or its full definition)",
    "memory_accounting": "how RAM is counted: paper (every buffer kept, the sheet's rule), arena or tflm (a planner)",
    "mcus": "board id -> the board's clock, cycles per MACC, SRAM and flash (KB = 1024 B), engine and rates",
    "rows": "one row per (model, procedure, phase)", "parameters": "parameter name -> value of the model spec",
    "dataset": "the training workload: epochs x samples", "datasets": "model id -> its training workload",
    "warnings": "what learncost could not cost exactly (unsupported operators carried at zero cost...)",
    "layers": "per-layer figures (with --per-layer)", "macc": "multiply-accumulates per sample",
    "ram_bytes": "peak RAM in bytes", "params_bytes": "bytes of parameters", "latency_ms": "ms per sample per board",
    "train_hours": "hours of a full training run per board", "procedure": "procedure id (bp, ff, pepita, ...)",
    "phase": "training or inference", "mode": "consistent (learncost's rules) or as-published (the sheet's errata applied)",
    "errata_applied": "ids of the errata applied", "relative": "ratios of the paper's comparisons",
    "errata": "the sheet's errata", "fit": "one verdict per (procedure, phase, board)",
    "time_budget": "the --max-ms / --max-hours budget, or null", "engine": "the engine profile timing the row (in listings: the board's default)",
    "variants": "number of variants swept", "impossible": "variants that cannot be built, with the reason",
    "pareto": "procedure -> variants on its Pareto front (RAM vs forward MACC)",
    "fits": "board -> procedure -> how many variants train", "engines": "board -> engine profile",
    "procedures": "one row per procedure and phase", "baseline": "the procedure the others are compared to",
    "checks": "one check per (procedure, phase)", "seed": "seed of the random inputs the procedures ran on",
    "a": "first model", "b": "second model", "differing": "number of layers that differ",
    "left_out": "layers of each model with no counterpart", "arena_bytes": "size of the planned arena",
    "alignment": "alignment of every tensor's offset in bytes", "live_peak_bytes": "largest sum of live tensors",
    "live_peak_at": "the step where the live peak is", "fragmentation_bytes": "arena minus live peak",
    "resident_bytes": "bytes outside the arena (parameters, state)", "steps": "the schedule's steps in order",
    "tensors": "every planned tensor: life (first..last step), offset and size", "resident": "tensors outside the arena",
    "code": "the error code (LC-...)", "message": "what is wrong", "location": "file, layer or field, or null",
    "hint": "the way out, or null", "exit_status": "the process exit status",
    "id": "the entry's id (what options take)", "name": "the entry's full name", "description": "what it is",
    "classes": "number of output classes", "aliases": "other ids accepted for it", "core": "the CPU core",
    "clock_mhz": "clock in MHz", "cycles_per_macc": "the one-number latency model: cycles per MACC",
    "cycles_basis": "where cycles_per_macc comes from", "sram_kb": "SRAM in KB (1024 B)",
    "flash_kb": "flash in KB (1024 B)", "source": "where the figures come from",
    "engines_measured": "engine profiles measured on this board", "conv": "cycles per MACC of convolutions",
    "depthwise": "cycles per MACC of depthwise convolutions", "dense": "cycles per MACC of dense and other kinds",
    "measured_on": "the boards the profile was fitted on", "spread": "true / predicted over the fit's benchmarks",
    "power_mw": "power drawn in inference (mW)", "backward": "what the backward kernels' rates rest on",
    "epochs": "training epochs", "samples": "samples per epoch", "memory": "the memory accounting it uses",
    "training MACC": "the training MACC rule, in terms", "training memory": "the training memory rule",
    "inference MACC": "the inference MACC rule", "inference memory": "the inference memory rule",
    "reference": "the publication defining the procedure", "step": "what one training step does",
    "feedback": "how the error reaches the layers", "notes": "remarks on the rules",
    "training": "the training phase's operations and memory", "inference": "the inference phase's",
    "report": "the report read: path, tool, version", "convention": "the MACC convention compared",
    "paper_macc": "the model's MACC under the paper's convention", "totals": "MACC, weights and activations: "
    "the report's against learncost's", "unexplained": "number of rows whose difference no known rule explains",
}


def infer(document: str) -> dict:
    """The schema of one document, inferred from its runs' output."""
    builder = SchemaBuilder(schema_uri=None)
    for args in RUNS[document]:
        out = subprocess.run([sys.executable, "-m", "learncost", *args, "--format", "json"], capture_output=True,
                             text=True, check=True).stdout
        builder.add_object(json.loads(out))
    return builder.to_schema()


def _collapse(schema: dict) -> dict:
    """Maps keyed by ids become ``additionalProperties``: their keys vary with the user's choice."""
    if not isinstance(schema, dict):
        return schema
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = _collapse(schema[key])
    for key in ("anyOf",):
        if key in schema:
            schema[key] = [_collapse(s) for s in schema[key]]
    props = schema.get("properties")
    if props:
        for name, sub in props.items():
            props[name] = _collapse(sub)
            if name in MAPS and "properties" in sub:
                merged = SchemaBuilder(schema_uri=None)
                for value in sub["properties"].values():
                    merged.add_schema(value)
                rest = {k: v for k, v in sub.items() if k not in ("properties", "required")}
                values = _collapse(merged.to_schema())
                props[name] = rest | {"additionalProperties": _widen(values) if name in REAL_MAPS else values}
    return schema


def _widen(schema):
    """``integer`` -> ``number``: a rate or a time that happened to be whole in every run is still real."""
    if isinstance(schema, dict):
        return {k: ("number" if k == "type" and v == "integer" else
                    list(dict.fromkeys("number" if x == "integer" else x for x in v)) if k == "type" and isinstance(v, list) else
                    _widen(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_widen(s) for s in schema]
    return schema


def _nullable(schema):
    """Adds ``null`` to the type of every NULLABLE key."""
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            if name in NULLABLE and isinstance(sub.get("type"), (str, list)):
                types = [sub["type"]] if isinstance(sub["type"], str) else sub["type"]
                sub["type"] = list(dict.fromkeys([*types, "null"])) if len(types) > 1 or types != ["null"] else "null"
            elif name in NULLABLE and "anyOf" in sub and {"type": "null"} not in sub["anyOf"]:
                sub["anyOf"].append({"type": "null"})
        for value in schema.values():
            _nullable(value)
    elif isinstance(schema, list):
        for value in schema:
            _nullable(value)
    return schema


def _bracketed(schema: dict) -> dict:
    """Sweep rows name a board in their keys (``latency_ms[board]``): a pattern, not a list of boards."""
    row = schema["properties"]["rows"]["items"]
    bracketed = {k: v for k, v in row["properties"].items() if "[" in k}
    merged = SchemaBuilder(schema_uri=None)
    for value in bracketed.values():
        merged.add_schema(value)
    for k in bracketed:
        del row["properties"][k]
    row["required"] = [k for k in row.get("required", []) if k not in bracketed and k in
                       ("variant", "procedure", "phase", "macc", "forward_macc", "params_bytes", "ram_bytes")]
    row["patternProperties"] = {r"^[a-z_]+\[[^\]]+\]$": merged.to_schema()}
    return schema


def _describe(schema: dict) -> dict:
    target = schema["items"] if schema.get("type") == "array" else schema
    for name, sub in target.get("properties", {}).items():
        if name in KEYS:
            sub["description"] = KEYS[name]
        items = sub.get("items", {})
        for rname, rsub in items.get("properties", {}).items() if isinstance(items, dict) else []:
            if rname in KEYS:
                rsub["description"] = KEYS[rname]
    return schema


def error_schema() -> dict:
    """The error object: written by hand, as no run should fail to produce it."""
    nullable = {"type": ["string", "null"]}
    return {"type": "object", "required": ["schema_version", "code", "message", "location", "hint", "exit_status"],
            "properties": {"schema_version": {"type": "string"}, "code": {"type": "string", "pattern": "^LC-[A-Z0-9-]+$"},
                           "message": {"type": "string"}, "location": nullable, "hint": nullable,
                           "exit_status": {"type": "integer", "minimum": 2}}}


def validation_schema() -> dict:
    """``learncost validate`` needs a model and a report: the tests' hand-derived pair, in two report layouts."""
    import tempfile
    from importlib import import_module
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    reports = import_module("xcubeai_reports")
    builder = SchemaBuilder(schema_uri=None)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "tiny.yaml"
        model.write_text(reports.SPEC)
        for text in (reports.v7(), reports.v8()):
            report = Path(tmp) / "network_generate_report.txt"
            report.write_text(text)
            out = subprocess.run([sys.executable, "-m", "learncost", "validate", str(model), str(report),
                                  "--format", "json"], capture_output=True, text=True).stdout
            builder.add_object(json.loads(out))
    return builder.to_schema()


def main() -> int:
    from learncost.report.schema import SCHEMA_VERSION

    defs = {}
    for document in RUNS:
        schema = _nullable(_collapse(infer(document)))
        if document == "sweep":
            schema = _bracketed(schema)
        defs[document] = _describe(schema) | {"description": DOCUMENTS[document]}
    defs["validation"] = _describe(_nullable(_collapse(validation_schema()))) | {"description": DOCUMENTS["validation"]}
    defs["error"] = _describe(error_schema()) | {"description": DOCUMENTS["error"]}
    for name in ("models", "mcus", "engines", "datasets", "setups", "procedures"):
        defs[name]["description"] += " (an array: catalogue listings carry no schema_version; this file's version applies)"
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": f"https://learncost.dev/schema/output-{SCHEMA_VERSION}.json",
              "title": f"learncost JSON output, schema version {SCHEMA_VERSION}",
              "description": "Every JSON document learncost writes; pick the $defs entry of the command.",
              "anyOf": [{"$ref": f"#/$defs/{name}"} for name in defs], "$defs": defs}
    json.dump(schema, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
