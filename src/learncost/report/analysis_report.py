"""Reports of ``learncost analyze``."""

from __future__ import annotations

import json

from ..analysis import Analysis
from ..costs import OPERATIONS
from .tables import Table, to_csv

LAYER_FIELDS = ["name", "kind", "output_shape", "activations_bytes", "weights", "biases", *OPERATIONS]


def _row_columns(a: Analysis) -> list[str]:
    cols = ["model", "procedure", "phase", "macc", "activations_bytes", "params_bytes", "ram_bytes", "memory_rule",
            "peak_at"]
    cols += [f"latency_ms[{m.id}]" for m in a.mcus]
    if a.dataset:
        cols += [f"train_hours[{m.id}]" for m in a.mcus]
    cols += [f"fits[{m.id}]" for m in a.mcus]
    return cols


def _row_values(a: Analysis, r) -> list:
    values = [r.model, r.procedure, r.phase, r.macc, r.activations_bytes, r.params_bytes, r.ram_bytes,
              r.memory_rule, r.peak_at]
    values += [r.latency_ms[m.id] for m in a.mcus]
    if a.dataset:
        values += [(r.train_hours or {}).get(m.id) for m in a.mcus]
    values += [r.fit[m.id].fits for m in a.mcus]
    return values


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def model_label(m) -> str:
    """``MobileNetV1 (vww, alpha=0.5, resolution=96)``: the name, id and parameter values."""
    from ..params import describe

    inside = ", ".join(x for x in (m.id, describe(m.parameters) if m.parameters else "") if x)
    return f"{m.name} ({inside})" if inside else m.name


def mcu_note(mcu) -> str:
    cycles = "cycles/MACC unknown (give --cycles-per-macc)" if mcu.cycles_per_macc is None \
        else f"{mcu.cycles_per_macc:.3g} cycles/MACC"
    memory = f", {mcu.sram_kb:g} KB SRAM, {mcu.flash_kb:g} KB flash" if mcu.sram_kb and mcu.flash_kb else ""
    return f"{mcu.id}: {mcu.clock_mhz:g} MHz, {cycles}{memory}"


def setup_note(a: Analysis) -> str:
    from .setup_report import summary

    return summary(a.setup, a.evaluator.accounting)


def tables(a: Analysis, per_layer: bool) -> list[Table]:
    m = a.model
    ds = f"; training on {a.dataset.name}: {a.dataset.epochs} epochs x {a.dataset.samples:,} samples" if a.dataset else ""
    cols = ["procedure", "phase", "MACC", "activations B", "params B", "RAM B"]
    cols += [f"{mcu.id} ms" for mcu in a.mcus]
    if a.dataset:
        cols += [f"{mcu.id} h" for mcu in a.mcus]
    cols += [f"fits {mcu.id}" for mcu in a.mcus]
    rows = []
    for r in a.rows:
        row = [r.procedure, r.phase, r.macc, r.activations_bytes, r.params_bytes if r.phase == "training" else None,
               r.ram_bytes]
        row += [_round(r.latency_ms[mcu.id]) for mcu in a.mcus]
        if a.dataset:
            row += [_round((r.train_hours or {}).get(mcu.id)) for mcu in a.mcus]
        row += [r.fit[mcu.id].verdict() for mcu in a.mcus]
        rows.append(row)
    notes = [mcu_note(mcu) for mcu in a.mcus]
    notes.append("fits: training RAM (inference: activations) within SRAM and parameters within flash; "
                 "'no' says by how much it misses (1 KB = 1024 B)")
    notes.append(setup_note(a))
    if a.setup.key == "paper" and a.evaluator.accounting == "paper":
        notes.append("RAM = activations + parameters in training, activations only in inference")
    else:
        notes.append("RAM by role at the peak is in the JSON (memory_by_role); activations B = activations, saved "
                     "activations, masks and errors at the peak; params B = every parameter (what flash holds)")
    if a.setup.batch > 1:
        notes.append(f"training MACC and RAM per step of {a.setup.batch} samples; latency per sample")
    notes += [f"warning: {w}" for w in a.warnings]
    out = [Table(f"{model_label(m)}, setup {a.setup.key}: {m.weights:,} weights, {m.biases:,} biases{ds}", cols, rows,
                 notes,
                 numeric=set(range(2, len(cols))))]
    if per_layer:
        lcols = ["layer", "kind", "output", "act. B", "weights", "biases", *OPERATIONS]
        lrows = [[lr.name, lr.kind, "x".join(map(str, lr.output_shape)), lr.activations_bytes, lr.weights, lr.biases,
                  *(lr.macc[op] for op in OPERATIONS)] for lr in a.layers]
        out.append(Table(f"{m.name}: per layer and operation (MACC)", lcols, lrows, numeric=set(range(3, len(lcols)))))
    return out


def to_json(a: Analysis, per_layer: bool) -> str:
    return json.dumps(a.to_dict(per_layer=per_layer), indent=2)


def csv_text(a: Analysis, per_layer: bool) -> str:
    if per_layer:
        return to_csv(LAYER_FIELDS, [[lr.name, lr.kind, "x".join(map(str, lr.output_shape)), lr.activations_bytes,
                                      lr.weights, lr.biases, *(lr.macc[op] for op in OPERATIONS)] for lr in a.layers])
    return to_csv(_row_columns(a), [_row_values(a, r) for r in a.rows])
