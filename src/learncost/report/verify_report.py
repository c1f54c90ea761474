"""Reports of ``learncost verify``: analytic against executed, with the reasons for each difference."""

from __future__ import annotations

from ..verify import Verification
from .schema import dumps
from .tables import Table, to_csv

OP_COLUMNS = ["procedure", "phase", "operation", "counted as", "analytic", "counted", "difference", "status", "why"]
MEM_COLUMNS = ["procedure", "phase", "rule", "analytic B", "tracked B", "difference", "tracked peak at",
               "with errors B", "schedule", "why"]


class _Notes:
    """Numbered footnotes, each text once."""

    def __init__(self):
        self.texts: list[str] = []

    def ref(self, texts: list[str]) -> str:
        refs = []
        for t in texts:
            if t not in self.texts:
                self.texts.append(t)
            refs.append(f"[{self.texts.index(t) + 1}]")
        return " ".join(refs)

    def lines(self) -> list[str]:
        return [f"[{i}] {t}" for i, t in enumerate(self.texts, 1)]


def _memory_reason(m) -> list[str]:
    if m.difference == 0:
        return []
    parts = [f"+{name} {b:,} B" for name, b in m.extra] + [f"-{name} {b:,} B" for name, b in m.missing]
    return [f"{m.note}: {', '.join(parts)} against the rule's buffers"]


def _op_rows(v: Verification, notes: _Notes | None):
    for c in v.checks:
        for o in c.operations:
            why = o.explanation if o.status != "equal" else []
            yield [c.procedure, c.phase, o.operation, o.counted_as, o.analytic, o.counted, o.counted - o.analytic,
                   o.status, notes.ref(why) if notes else " | ".join(why)]
        yield [c.procedure, c.phase, "total", "", c.analytic_total, c.counted_total,
               c.counted_total - c.analytic_total, "UNEXPLAINED" if c.unexplained else "", ""]


def _mem_rows(v: Verification, notes: _Notes | None):
    for c in v.checks:
        m = c.memory
        why = _memory_reason(m)
        schedule = "UNEXPLAINED: " + "; ".join(m.schedule_mismatch) if m.schedule_mismatch else "equal"
        yield [c.procedure, c.phase, m.rule, m.analytic_bytes, m.tracked_bytes, m.difference, m.tracked_at,
               m.with_errors_bytes, schedule, notes.ref(why) if notes else " | ".join(why)]


def tables(v: Verification, per_layer: bool = False) -> list[Table]:
    m = v.model
    title = f"{m.name}{f' ({m.id})' if m.id else ''}, setup {v.setup}"
    op_notes, mem_notes = _Notes(), _Notes()
    ops = Table(f"{title}: MACC per operation, analytic vs counted while executing in PyTorch", OP_COLUMNS,
                list(_op_rows(v, op_notes)), numeric={4, 5, 6})
    ops.notes = op_notes.lines() + [
        "equal: counted exactly the analytic figure; explained: the difference is predicted by the note, layer by "
        "layer; extra operations (analytic 0) are executed work the paper does not count"]
    accounting = v.checks[0].memory.accounting if v.checks else "paper"
    mem = Table(f"{title}: memory peak, the {accounting} accounting vs tracked during execution", MEM_COLUMNS,
                list(_mem_rows(v, mem_notes)), numeric={3, 4, 5, 7})
    mem.notes = mem_notes.lines() + [
        "tracked: bytes of the tensors the execution holds at its worst step, each at its role's precision "
        "(parameters resident in SRAM left out on both sides); with errors: error buffers included, which the "
        "paper's setup does not count; schedule: learncost's schedule of the procedure holds exactly the tracked "
        "bytes at every step (equal), or where it does not"]
    asides = sorted({a for c in v.checks for a in c.asides})
    mem.notes += asides
    out = [ops, mem]
    if per_layer:
        rows = [[c.procedure, c.phase, d.layer, d.operation, d.analytic, d.counted, d.counted - d.analytic,
                 d.reason or ("" if d.counted == d.expected else "UNEXPLAINED")]
                for c in v.checks for d in c.layers]
        out.append(Table(f"{title}: layers whose counted MACC differs from the analytic one",
                         ["procedure", "phase", "layer", "operation", "analytic", "counted", "difference", "why"],
                         rows, numeric={4, 5, 6}))
    uncounted = sorted({op for c in v.checks for op in c.uncounted_ops})
    out[0].notes.append("executed with no MACC counted: " + ", ".join(uncounted))
    return out


def to_json(v: Verification) -> str:
    return dumps(v.to_dict())


def csv_text(v: Verification) -> str:
    return to_csv(OP_COLUMNS, list(_op_rows(v, None)))
