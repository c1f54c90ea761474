"""Reports of ``learncost memory``: a phase's schedule laid out in its arena, tensor by tensor."""

from __future__ import annotations

from .schema import dumps
from .tables import Table, to_csv

COLUMNS = ["tensor", "role", "first step", "last step", "bytes", "offset", "end"]


def _rows(m):
    schedule, layout = m.schedule, m.layout
    for p in layout.placements:
        t = p.tensor
        yield [t.name, t.role, schedule.steps[t.first], schedule.steps[t.last], int(t.bytes), p.offset, p.end]


def tables(m) -> list[Table]:
    layout, schedule = m.layout, m.schedule
    title = (f"{m.model_label}, {m.procedure} {m.phase}, setup {m.setup.key}: arena {layout.arena:,} B "
             f"(live peak {layout.live_peak:,} B at {schedule.steps[layout.live_at]}, fragmentation "
             f"{layout.fragmentation:,} B) + resident {layout.persistent_bytes:,} B")
    notes = [f"arena: the schedule's tensors placed as TFLite Micro's GreedyMemoryPlanner places them (largest "
             f"first, lowest offset clear of every tensor live at the same time), sizes aligned to "
             f"{layout.alignment} B; live peak: the most aligned bytes live at one step, which no layout beats",
             f"{len(schedule.steps)} steps, {len(layout.placements)} tensors planned"]
    live = [p.tensor.name for p in layout.placements if p.tensor.first <= layout.live_at <= p.tensor.last]
    notes.append(f"live at the peak ({schedule.steps[layout.live_at]}): {', '.join(live)}")
    if layout.persistent:
        notes.append("resident beside the arena: " + ", ".join(f"{t.name} {int(t.bytes):,} B" for t in layout.persistent))
    return [Table(title, COLUMNS, list(_rows(m)), notes, numeric={4, 5, 6})]


def to_json(m) -> str:
    layout, schedule = m.layout, m.schedule
    return dumps({
        "model": m.model_key, "procedure": m.procedure, "phase": m.phase, "setup": m.setup.key,
        "arena_bytes": layout.arena, "alignment": layout.alignment, "live_peak_bytes": layout.live_peak,
        "live_peak_at": schedule.steps[layout.live_at], "fragmentation_bytes": layout.fragmentation,
        "resident_bytes": layout.persistent_bytes, "steps": schedule.steps,
        "tensors": [dict(zip(["name", "role", "first", "last", "bytes", "offset", "end"],
                             [p.tensor.name, p.tensor.role, p.tensor.first, p.tensor.last, int(p.tensor.bytes),
                              p.offset, p.end])) for p in layout.placements],
        "resident": [{"name": t.name, "role": t.role, "bytes": int(t.bytes)} for t in layout.persistent],
    })


def csv_text(m) -> str:
    return to_csv(COLUMNS, list(_rows(m)))
