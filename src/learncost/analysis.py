"""Putting it together: a model, procedures, MCUs and a workload in; figures out.

Nothing here prints or formats: ``Analysis`` holds plain numbers that reports render.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

from .catalog import MCU, Dataset, get_dataset, get_mcu, mcus as all_mcus
from .costs import OPERATIONS, layer_maccs
from .fit import Fit, check as check_fit
from .ir import Model
from .memory import Peak, apply_rule, buffers
from .procedures import PHASES, PROCEDURES, Procedure, get_procedure


@dataclass(frozen=True)
class Patches:
    """Deviations from the consistent rules, used only to reproduce published figures."""

    #: (layer, op) -> {"dims": {...}} or {"formula": other_op}
    costs: Mapping[tuple[str, str], Mapping[str, object]] = field(default_factory=dict)
    #: layer -> bytes added to its buffer
    buffer_delta: Mapping[str, int] = field(default_factory=dict)
    #: (procedure, phase) -> buffers summed instead of applying the memory rule
    memory: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


@dataclass
class LayerReport:
    name: str
    kind: str
    inputs: list[str]
    output_shape: list[int]
    dtype: str
    activations_bytes: int
    weights: int
    biases: int
    params_bytes: int
    macc: dict[str, int]
    note: str | None = None


@dataclass
class Row:
    model: str
    procedure: str
    phase: str
    macc: int
    activations_bytes: int
    params_bytes: int
    ram_bytes: int
    latency_ms: dict[str, float]
    train_hours: dict[str, float] | None
    macc_by_operation: dict[str, int]
    memory_rule: str
    peak_at: str | None
    peak_buffers: list[str]
    fit: dict[str, Fit] = field(default_factory=dict)  # by MCU id

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fit"] = {mcu_id: f.to_dict() for mcu_id, f in self.fit.items()}  # with the verdicts, not just fields
        if d["train_hours"] is None:
            del d["train_hours"]
        return d


@dataclass
class Analysis:
    model: Model
    layers: list[LayerReport]
    rows: list[Row]
    mcus: list[MCU]
    dataset: Dataset | None
    warnings: list[str] = field(default_factory=list)

    @property
    def model_key(self) -> str:
        return self.model.id or self.model.name

    def row(self, procedure: str, phase: str) -> Row:
        for r in self.rows:
            if r.procedure == procedure and r.phase == phase:
                return r
        raise KeyError((procedure, phase))

    def breakdown(self, procedure: str, phase: str) -> dict[str, dict[str, int]]:
        """MACC of each layer and operation under one procedure's phase (terms applied, no zeros)."""
        return phase_breakdown(self.model, [lr.macc for lr in self.layers], get_procedure(procedure).phase(phase))

    def to_dict(self, per_layer: bool = False) -> dict:
        out = {
            "model": self.model_key,
            "parameters": self.model.parameters,
            "mcus": {m.id: {"clock_mhz": m.clock_mhz, "cycles_per_macc": m.cycles_per_macc, "sram_kb": m.sram_kb,
                            "flash_kb": m.flash_kb} for m in self.mcus},
            "dataset": asdict(self.dataset) if self.dataset else None,
            "rows": [r.to_dict() for r in self.rows],
            "warnings": self.warnings,
        }
        if per_layer:
            out["layers"] = [layer_dict(lr) for lr in self.layers]
        return out

    def to_dataframe(self, per_layer: bool = False):
        """Rows (or, with ``per_layer``, layers) as a pandas DataFrame (pandas is imported here only)."""
        import pandas as pd

        if per_layer:
            return pd.DataFrame([layer_dict(lr) for lr in self.layers])
        flat = []
        for r in self.rows:
            d = r.to_dict()
            for key in ("latency_ms", "train_hours"):
                for mcu, value in (d.pop(key, None) or {}).items():
                    d[f"{key}[{mcu}]"] = value
            d.update({f"macc[{op}]": v for op, v in d.pop("macc_by_operation").items()})
            d.update({f"fits[{mcu}]": f["fits"] for mcu, f in d.pop("fit").items()})
            flat.append(d)
        return pd.DataFrame(flat)


def layer_dict(lr: LayerReport) -> dict:
    d = asdict(lr)
    d.update(d.pop("macc"))
    return d


def term_times(model: Model, term) -> int:
    """How many times a term counts its operation: ``passes`` is the number of classes for a
    supervised classifier (FF inference tries every label), else 1."""
    if term.times == "passes":
        return model.classes if model.supervised else 1
    return int(term.times)


def phase_breakdown(model: Model, per_layer: list[dict[str, int]], phase) -> dict[str, dict[str, int]]:
    """Layer -> operation -> MACC under a phase's terms: ``times`` x the layer's figure, skipping
    ``skip_kinds``; ``passes`` is the number of classes for a supervised classifier, else 1."""
    out: dict[str, dict[str, int]] = {}
    for term in phase.terms:
        times = term_times(model, term)
        for layer, maccs in zip(model.layers, per_layer):
            if layer.kind not in term.skip_kinds and maccs[term.op]:
                ops = out.setdefault(layer.name, {})
                ops[term.op] = ops.get(term.op, 0) + times * maccs[term.op]
    return out


def phase_totals(model: Model, per_layer: list[dict[str, int]], phase, sums: dict | None = None) -> dict[str, int]:
    """Operation -> MACC of the whole model under a phase: the sum of ``phase_breakdown``, written
    as plain sums so that per-layer figures may be numpy arrays (one element per sweep variant).
    ``sums`` keeps each (operation, skipped kinds) total for the next phase of the same model."""
    sums = {} if sums is None else sums
    by_op = {op: 0 for op in OPERATIONS}
    for term in phase.terms:
        times = term_times(model, term)
        key = (term.op, term.skip_kinds)
        if key not in sums:
            sums[key] = sum(maccs[term.op] for layer, maccs in zip(model.layers, per_layer)
                            if layer.kind not in term.skip_kinds)
        by_op[term.op] = by_op[term.op] + times * sums[key]
    return by_op


def resolve_names(items, getter, default):
    if items is None:
        return list(default)
    return [x if not isinstance(x, str) else getter(x) for x in items]


def analyze(
    model: Model | str,
    procedures: Iterable[str | Procedure] | None = None,
    mcus: Iterable[str | MCU] | None = None,
    dataset: str | Dataset | None = None,
    *,
    patches: Patches | None = None,
) -> Analysis:
    """Costs of ``model`` under each procedure, for training and inference.

    ``procedures`` defaults to all registered ones, ``mcus`` to the paper's two boards and
    ``dataset`` to the one the model declares (training hours need a dataset).
    """
    if isinstance(model, str):
        from .zoo import load_model

        model = load_model(model)
    procs = resolve_names(procedures, get_procedure, PROCEDURES.values())
    boards = resolve_names(mcus, get_mcu, all_mcus().values())
    if isinstance(dataset, str):
        dataset = get_dataset(dataset)
    elif dataset is None and model.dataset:
        dataset = get_dataset(model.dataset)
    patches = patches or Patches()

    per_layer = layer_maccs(model, patches.costs)
    bufs = buffers(model, size_delta=patches.buffer_delta)
    layers = [
        LayerReport(
            name=layer.name, kind=layer.kind, inputs=list(layer.inputs), output_shape=list(layer.output_shape),
            dtype=layer.dtype, activations_bytes=layer.activation_bytes,
            weights=layer.weights, biases=layer.biases,
            params_bytes=layer.params_bytes,
            macc=maccs, note=layer.note,
        )
        for layer, maccs in zip(model.layers, per_layer)
    ]
    params_bytes = sum(lr.params_bytes for lr in layers)

    rows = []
    for proc in procs:
        for phase_name in PHASES:
            phase = proc.phase(phase_name)
            by_op = phase_totals(model, per_layer, phase)
            macc = sum(by_op.values())
            rule = phase.memory_rule(model.supervised)
            override = patches.memory.get((proc.id, phase_name))
            if override is not None:
                peak = Peak(bufs.total(override), None, tuple(override))
            else:
                peak = apply_rule(rule, bufs)
            ram = peak.bytes + (params_bytes if phase.params_in_ram else 0)
            latency = {m.id: m.latency_ms(macc) for m in boards}
            hours = None
            if phase_name == "training":  # empty without a workload: the JSON contract keeps the key
                hours = {mcu_id: dataset.train_hours(ms) for mcu_id, ms in latency.items()} if dataset else {}
            rows.append(Row(
                model=model.id or model.name, procedure=proc.id, phase=phase_name, macc=macc,
                activations_bytes=peak.bytes, params_bytes=params_bytes, ram_bytes=ram,
                latency_ms=latency, train_hours=hours, macc_by_operation=by_op,
                memory_rule=rule if override is None else "as published", peak_at=peak.at,
                peak_buffers=list(peak.buffers), fit={m.id: check_fit(ram, params_bytes, m) for m in boards},
            ))
    return Analysis(model=model, layers=layers, rows=rows, mcus=boards, dataset=dataset,
                    warnings=list(model.warnings))
