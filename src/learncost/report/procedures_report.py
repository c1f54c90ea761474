"""Reports of ``learncost compare-procedures``: every procedure's figures beside a baseline's."""

from __future__ import annotations

from ..compare import ProcedureComparison
from .analysis_report import mcu_note, model_label, setup_note
from .schema import dumps
from .tables import Table, to_csv

COLUMNS = ["procedure", "phase", "macc_per_sample", "macc_vs_baseline", "ram_bytes", "ram_vs_baseline", "memory_rule"]


def _x(value) -> str:
    return "" if value is None else f"{value:.2f}x"


def tables(c: ProcedureComparison) -> list[Table]:
    a = c.analysis
    mcus = a.mcus
    cols = ["procedure", "phase", "MACC/sample", f"vs {c.baseline}", "RAM B", f"vs {c.baseline}",
            *(f"ms {m.id}" for m in mcus)]
    rows = [[f.procedure, f.phase, round(f.macc_per_sample), _x(f.macc_ratio), f.ram_bytes, _x(f.ram_ratio),
             *(f.latency_ms.get(m.id) for m in mcus)] for f in c.rows]
    notes = [f"{f.procedure}: {f.name}" for f in c.rows if f.phase == "training"]
    notes += [mcu_note(m) for m in mcus]
    notes.append(f"RAM by the {a.evaluator.accounting} accounting; ratios against {c.baseline} in the same phase; "
                 "latency per sample")
    by_schedule = sorted({f.procedure for f in c.rows if f.memory_rule.startswith("live schedule")})
    if by_schedule and a.evaluator.accounting == "paper":
        notes.append(f"{', '.join(by_schedule)}: no rule of the paper's describes them; their RAM is their schedule's "
                     "live peak (--memory live puts every procedure under that accounting)")
    notes.append("assumes " + setup_note(a))
    return [Table(f"{model_label(a.model)}, setup {a.setup.key}: procedures against {c.baseline}", cols, rows, notes,
                  numeric={2, 4, *range(6, 6 + len(mcus))})]


def _records(c: ProcedureComparison):
    for f in c.rows:
        yield [f.procedure, f.phase, f.macc_per_sample, f.macc_ratio, f.ram_bytes, f.ram_ratio, f.memory_rule]


def to_json(c: ProcedureComparison) -> str:
    a = c.analysis
    out = []
    for f, rec in zip(c.rows, _records(c)):
        out.append(dict(zip(COLUMNS, rec)) | {"name": f.name, "latency_ms": f.latency_ms})
    return dumps({"model": a.model_key, "setup": a.setup.key, "memory_accounting": a.evaluator.accounting,
                       "baseline": c.baseline, "procedures": out})


def csv_text(c: ProcedureComparison) -> str:
    mcus = c.analysis.mcus
    cols = COLUMNS + [f"latency_ms[{m.id}]" for m in mcus]
    return to_csv(cols, [rec + [f.latency_ms.get(m.id) for m in mcus] for f, rec in zip(c.rows, _records(c))])
