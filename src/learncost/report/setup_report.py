"""How reports state a training setup: one line for titles and notes, every field for listings."""

from __future__ import annotations


def fields(setup) -> list[list]:
    """[field, value] rows, nested fields flattened with dots."""
    rows: list[list] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            rows.append([prefix, _text(value)])

    data = setup.model_dump(mode="json")
    data["micro_batch"] = setup.micro
    walk("", data)
    return rows


def _text(value) -> str:
    if isinstance(value, dict):
        return "{}" if not value else ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def _bits(setup, role: str) -> str:
    b = setup.bits(role)
    return "model dtype" if b is None else f"{b}-bit"


def summary(setup, accounting: str) -> str:
    """``setup int8-fp32grad: activations 8-bit, errors 32-bit (counted), masks, batch 1, sgd, weights all,
    biases all; memory: live``."""
    upd = setup.update
    parts = [f"activations {_bits(setup, 'activation')}", f"weights {_bits(setup, 'weight')}",
             f"biases {_bits(setup, 'bias')}",
             f"errors {_bits(setup, 'error')}" if setup.count_errors else "errors not counted",
             "1-bit ReLU masks" if setup.masks else "no masks",
             f"batch {setup.batch}" + (f" in micro-batches of {setup.micro}" if setup.micro != setup.batch else ""),
             setup.optimizer, f"trained weights: {_selection(upd.weights)}", f"trained biases: {_selection(upd.biases)}",
             f"frozen parameters in {setup.residency.frozen}", f"F {setup.feedback}", f"MACC convention {setup.convention}"]
    return f"setup {setup.key}: " + ", ".join(parts) + f"; memory accounting: {accounting}"


def _selection(sel) -> str:
    if isinstance(sel, str):
        return sel
    d = sel.model_dump()
    if "last" in d:
        ratio = d.get("ratio", 1)
        return f"last {d['last']}" + (f" on {ratio:g} of their channels" if ratio != 1 else "")
    layers = d["layers"]
    if isinstance(layers, dict):
        return ", ".join(f"{k} ({v:g})" for k, v in layers.items())
    return ", ".join(map(str, layers))
