"""The paper's tables, computed by the consistent rules or, with its errata applied, as published."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..analysis import Analysis, Patches, analyze
from ..catalog import MCU, Dataset
from ..packaged import parsed
from ..results import Reported

METRICS = ("training_macc", "training_activations", "training_ram", "inference_macc", "inference_ram")


def _read(name: str) -> Any:
    return parsed("paper", name)


@lru_cache(maxsize=None)
def setup() -> dict:
    return _read("paper.yaml")


@lru_cache(maxsize=None)
def sheet_map() -> dict:
    return _read("sheet.yaml")


@dataclass(frozen=True)
class Erratum:
    id: str
    model: str
    cells: tuple[str, ...]
    sheet: str
    consistent: str
    apply: dict

    def patches(self) -> Patches:
        costs: dict[tuple[str, str], dict] = {}
        for item in self.apply.get("costs", []):
            patch = {k: item[k] for k in ("dims", "formula") if k in item}
            for op in item["ops"]:
                costs[(item["layer"], op)] = patch
        memory: dict[tuple[str, str], tuple[str, ...]] = {}
        for item in self.apply.get("memory", []):
            for proc in item["procedures"]:
                memory[(proc, item["phase"])] = tuple(item["buffers"])
        return Patches(costs=costs, buffer_delta=dict(self.apply.get("buffers", {})), memory=memory)


@lru_cache(maxsize=None)
def errata() -> tuple[Erratum, ...]:
    return tuple(
        Erratum(id=e["id"], model=e["model"], cells=tuple(e["cells"]), sheet=e["sheet"],
                consistent=e["consistent"], apply=e["apply"])
        for e in _read("errata.yaml")
    )


def merge(items: list[Erratum]) -> Patches:
    costs: dict = {}
    delta: dict = {}
    memory: dict = {}
    for e in items:
        p = e.patches()
        costs.update(p.costs)
        memory.update(p.memory)
        for k, v in p.buffer_delta.items():
            delta[k] = delta.get(k, 0) + v
    return Patches(costs=costs, buffer_delta=delta, memory=memory)


def patches_for(model_id: str) -> Patches:
    return merge([e for e in errata() if e.model == model_id])


@dataclass(repr=False)
class PaperResult(Reported):
    """The paper's tables (``learncost paper``): one analysis per model, the relative changes."""

    REPORT = "paper_report"
    as_published: bool
    analyses: dict[str, Analysis]
    #: group -> procedure -> metric -> mean relative change against BP (0.397 = +39.7 %)
    relative: dict[str, dict[str, dict[str, float]]]
    mcus: list[MCU]
    errata_applied: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        mode = "as published" if self.as_published else "consistent"
        return (f"<PaperResult {mode}: {', '.join(self.analyses)}, {len(self.mcus)} MCUs, "
                f"{len(self.errata_applied)} errata applied>")


def metric(analysis: Analysis, procedure: str, name: str) -> float:
    phase, what = name.split("_", 1)
    row = analysis.row(procedure, phase)
    return {"macc": row.macc, "activations": row.activations_bytes, "ram": row.ram_bytes}[what]


def relative_changes(analyses: dict[str, Analysis], groups: dict[str, list[str]],
                     procedures: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean over a group's models of (procedure / BP - 1), per metric (sheet rows 205-207, 222-223)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group, members in groups.items():
        present = [m for m in members if m in analyses]
        if not present:
            continue
        out[group] = {
            proc: {
                name: sum(metric(analyses[m], proc, name) / metric(analyses[m], "bp", name) - 1 for m in present)
                / len(present)
                for name in METRICS
            }
            for proc in procedures if proc != "bp"
        }
    return out


def compute(as_published: bool = False, *, models: list[str] | None = None,
            mcus: list[MCU | str] | None = None, dataset_override: dict[str, Dataset] | None = None,
            engine: str | None = "paper") -> PaperResult:
    """The paper's tables for its four models (or ``models``) on its two MCUs (or ``mcus``), timed by the
    paper's one-number model (``engine``: another engine's profiles, or None for each board's own).
    ``as_published`` applies the sheet's errata.

        >>> from learncost import paper
        >>> paper.compute().analyses["vww"].row("bp", "training").macc  # learncost's consistent rules
        21975976
        >>> paper.compute(True).analyses["vww"].row("bp", "training").macc  # the sheet's B79
        22356136
    """
    cfg = setup()
    model_ids = models or cfg["models"]
    boards = mcus or cfg["mcus"]
    analyses = {}
    applied: list[str] = []
    for model_id in model_ids:
        patches = patches_for(model_id) if as_published else None
        if as_published:
            applied += [e.id for e in errata() if e.model == model_id]
        dataset = (dataset_override or {}).get(model_id)
        analyses[model_id] = analyze(model_id, cfg["procedures"], boards, dataset, patches=patches, engine=engine)
    relative = relative_changes(analyses, cfg["groups"], cfg["procedures"])
    first = next(iter(analyses.values()))
    return PaperResult(as_published, analyses, relative, first.mcus, applied)


@dataclass
class ErratumEffect:
    erratum: Erratum
    #: (procedure, phase, quantity) -> (consistent, as published) for every figure it changes
    changes: dict[tuple[str, str, str], tuple[float, float]]
    #: per-layer values it changes: (layer, quantity) -> (consistent, as published)
    layer_changes: dict[tuple[str, str], tuple[int, int]]


def effects() -> list[ErratumEffect]:
    """Apply each erratum alone and record which totals it moves, and by how much."""
    cfg = setup()
    out = []
    base_cache: dict[str, Analysis] = {}
    for e in errata():
        if e.model not in base_cache:
            base_cache[e.model] = analyze(e.model, cfg["procedures"], cfg["mcus"])
        base = base_cache[e.model]
        pub = analyze(e.model, cfg["procedures"], cfg["mcus"], patches=e.patches())
        changes = {}
        for b, p in zip(base.rows, pub.rows):
            for q in ("macc", "activations_bytes", "ram_bytes"):
                if getattr(b, q) != getattr(p, q):
                    changes[(b.procedure, b.phase, q)] = (getattr(b, q), getattr(p, q))
        layer_changes = {}
        for lb, lp in zip(base.layers, pub.layers):
            for op, v in lb.macc.items():
                if lp.macc[op] != v:
                    layer_changes[(lb.name, op)] = (v, lp.macc[op])
        for layer, delta in e.patches().buffer_delta.items():
            size = next(lr.activations_bytes for lr in base.layers if lr.name == layer)
            layer_changes[(layer, "activations_bytes")] = (size, size + delta)
        out.append(ErratumEffect(e, changes, layer_changes))
    return out
