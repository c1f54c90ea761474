"""Two models layer by layer: which layers match, and where forward MACC, output size or
parameter count differ. Layers that own no buffer (padding, reshape, INT8<->float converters)
are left out of the alignment and listed, with their MACC where they have any."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from .analysis import LayerReport, analyze
from .ir import Model
from .layers import TRANSIENT_KINDS
from .results import Reported

#: kinds that align with each other across formats (a global MEAN imports as an average pool)
_ALIGN = {"max_pool2d": "pool", "avg_pool2d": "pool"}


@dataclass
class Pair:
    a: LayerReport | None
    b: LayerReport | None
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # element types: informative, not a difference


@dataclass(repr=False)
class Comparison(Reported):
    """Two models layer by layer (``learncost compare``)."""

    REPORT = "compare_report"
    a: Model
    b: Model
    pairs: list[Pair]
    left_out: dict[str, list[str]]

    def __repr__(self) -> str:
        return f"<Comparison {self.a.name} vs {self.b.name}: {len(self.pairs)} layer pairs, {self.differing} differ>"

    @property
    def differing(self) -> int:
        return sum(1 for p in self.pairs if p.differences)


def _key(lr: LayerReport) -> str:
    return _ALIGN.get(lr.kind, lr.kind)


def _pair(a: LayerReport, b: LayerReport) -> Pair:
    notes = [f"{a.dtype} vs {b.dtype} output"] if a.dtype != b.dtype else []
    return Pair(a, b, _diff(a, b), notes)


def _diff(a: LayerReport, b: LayerReport) -> list[str]:
    out = []
    if a.macc["forward"] != b.macc["forward"]:
        out.append(f"forward MACC {a.macc['forward']:,} vs {b.macc['forward']:,}")
    elems_a, elems_b = math.prod(a.output_shape), math.prod(b.output_shape)
    if elems_a != elems_b:
        out.append(f"output {elems_a:,} vs {elems_b:,} elements")
    if (a.weights, a.biases) != (b.weights, b.biases):
        out.append(f"parameters {a.weights:,}+{a.biases:,} vs {b.weights:,}+{b.biases:,}")
    return out


def compare(a: Model, b: Model) -> Comparison:
    all_a, all_b = analyze(a, ["bp"]).layers, analyze(b, ["bp"]).layers
    la = [lr for lr in all_a if lr.kind not in TRANSIENT_KINDS | {"input"}]
    lb = [lr for lr in all_b if lr.kind not in TRANSIENT_KINDS | {"input"}]

    def described(layers: list[LayerReport]) -> list[str]:
        return [lr.name + (f" ({lr.macc['forward']:,} MACC)" if lr.macc["forward"] else "")
                for lr in layers if lr.kind in TRANSIENT_KINDS]

    left_out = {"a": described(all_a), "b": described(all_b)}
    matcher = difflib.SequenceMatcher(a=[_key(x) for x in la], b=[_key(x) for x in lb], autojunk=False)
    pairs: list[Pair] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs += [_pair(x, y) for x, y in zip(la[i1:i2], lb[j1:j2])]
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            x = la[i1 + k] if i1 + k < i2 else None
            y = lb[j1 + k] if j1 + k < j2 else None
            if x is not None and y is not None and _key(x) == _key(y):
                pairs.append(_pair(x, y))
            else:
                pairs.append(Pair(x, y, ["only in " + ("A" if y is None else "B" if x is None else "both, different kinds")]))
    return Comparison(a, b, pairs, left_out)


# -- procedures side by side on one model ---------------------------------------------------------------

@dataclass
class ProcedureFigures:
    """One procedure's phase on the model, and each figure's ratio to the baseline's same phase."""

    procedure: str
    name: str
    phase: str
    macc_per_sample: float
    ram_bytes: int
    latency_ms: dict[str, float | None]
    macc_ratio: float | None
    ram_ratio: float | None
    memory_rule: str


@dataclass(repr=False)
class ProcedureComparison(Reported):
    """Every procedure beside a baseline (``learncost compare-procedures``)."""

    REPORT = "procedures_report"
    analysis: object  # the Analysis the figures come from
    baseline: str
    rows: list[ProcedureFigures]

    def __repr__(self) -> str:
        procs = len(dict.fromkeys(r.procedure for r in self.rows))
        return f"<ProcedureComparison {self.analysis.model_key}: {procs} procedures against {self.baseline}>"


def compare_procedures(a, baseline: str = "bp") -> ProcedureComparison:
    """Every procedure of an analysis beside ``baseline`` (which it must hold): MACC per sample and RAM,
    and their ratios to the baseline's in the same phase (latency scales as MACC per sample on one board)."""
    from .errors import LearncostError

    base = {r.phase: r for r in a.rows if r.procedure == baseline}
    if not base:
        raise LearncostError(f"the baseline {baseline!r} is not among the procedures compared",
                             hint="add it with -p, or choose another with --baseline")

    def ratio(x, y):
        return x / y if y else None

    rows = []
    for r in a.rows:
        b = base[r.phase]
        per_sample = r.macc / r.samples
        rows.append(ProcedureFigures(r.procedure, a.procedures[r.procedure].name, r.phase, per_sample, r.ram_bytes,
                                     dict(r.latency_ms), ratio(per_sample, b.macc / b.samples),
                                     ratio(r.ram_bytes, b.ram_bytes), r.memory_rule))
    return ProcedureComparison(a, baseline, rows)
