"""Reports of ``learncost sweep``: how many variants train on each board, the largest that does,
the Pareto front, and every variant's figures as rows."""

from __future__ import annotations

import json

from ..sweep import Sweep
from .analysis_report import _round, mcu_note
from .tables import Table, to_csv

#: impossible variants listed in the table (all of them are in the JSON)
SHOWN_ERRORS = 10
#: points of each procedure's Pareto front listed in the table
SHOWN_FRONT = 8


def _title(s: Sweep) -> str:
    swept = [k for k, v in s.values.items() if len(v) > 1]
    axes = " x ".join(f"{k} ({len(s.values[k])})" for k in swept) or "defaults only"
    setup = s.setup.key if s.setup else "paper"
    return (f"{s.model}, setup {setup} ({s.memory} memory): sweep of {s.size:,} variants over {axes}, "
            f"{len(s.errors):,} impossible")


def _largest(s: Sweep) -> Table:
    rows = []
    for mcu in s.mcus:
        fitting = s.fitting(mcu)
        for proc in s.procedures:
            if fitting is None:
                rows.append([mcu.id, proc.id, None, "unknown: SRAM or flash not in the catalogue", None, None, None, None])
                continue
            idx = fitting[proc.id]
            if not len(idx):
                rows.append([mcu.id, proc.id, 0, "none", None, None, None, None])
                continue
            v = int(idx[0])
            ms = s.latency_ms(proc.id, "training", mcu)
            hours = None if ms is None or s.dataset is None else s.dataset.train_hours(float(ms[v]))
            rows.append([mcu.id, proc.id, len(idx), s.label(v), int(s.forward_macc[v]),
                         int(s.ram[(proc.id, "training")][v]), None if ms is None else _round(float(ms[v])),
                         _round(hours)])
    notes = [mcu_note(m, s.rates.get(m.id)) for m in s.mcus]
    notes.append("trains: training RAM within SRAM and parameters within flash (1 KB = 1024 B); "
                 "largest: the variant with the most forward MACC among those")
    if s.dataset:
        notes.append(f"hours: {s.dataset.name}, {s.dataset.epochs} epochs x {s.dataset.samples:,} samples")
    return Table(_title(s), ["mcu", "procedure", "variants that train", "largest that trains", "forward MACC",
                             "training RAM B", "ms/sample", "hours"], rows, notes, numeric={2, 4, 5, 6, 7})


def _front(s: Sweep) -> Table:
    rows, notes = [], []
    for proc in s.procedures:
        front = s.pareto(proc.id)
        for v in _spread(front, SHOWN_FRONT):
            rows.append([proc.id, s.label(int(v)), int(s.ram[(proc.id, "training")][v]), int(s.forward_macc[v]),
                         int(s.macc[(proc.id, "training")][v])])
        if len(front) > SHOWN_FRONT:
            notes.append(f"{proc.id}: {SHOWN_FRONT} of the {len(front)} points on its front, evenly spaced "
                         "(all in --format json and in the plot)")
    return Table("Pareto front: no other variant trains in less RAM with at least as many forward MACC",
                 ["procedure", "variant", "training RAM B", "forward MACC", "training MACC"], rows, notes,
                 numeric={2, 3, 4})


def _spread(front, count: int):
    """At most ``count`` points of a front, its two ends included."""
    if len(front) <= count:
        return list(front)
    step = (len(front) - 1) / (count - 1)
    return [front[round(k * step)] for k in range(count)]


def _params(s: Sweep) -> list[str]:
    return [f"{k} = {', '.join(f'{x:g}' for x in v)}" + (f": {s.descriptions[k]}" if s.descriptions.get(k) else "")
            for k, v in s.values.items()]


def tables(s: Sweep) -> list[Table]:
    from .setup_report import summary

    out = [_largest(s), _front(s)]
    out[0].notes = _params(s) + out[0].notes + ([summary(s.setup, s.memory)] if s.setup else [])
    if s.errors:
        shown = sorted(s.errors)[:SHOWN_ERRORS]
        more = [f"and {len(s.errors) - len(shown):,} more (all in --format json)"] if len(s.errors) > len(shown) else []
        out.append(Table("Impossible variants", ["variant", "why"], [[s.label(v), s.errors[v]] for v in shown], more))
    return out


def _columns(s: Sweep) -> list[str]:
    cols = ["variant", *s.grid, "procedure", "phase", "macc", "forward_macc", "params_bytes", "ram_bytes", "samples"]
    for m in s.mcus:
        cols += [f"latency_ms[{m.id}]", f"train_hours[{m.id}]", f"fits[{m.id}]", f"energy_mj[{m.id}]",
                 f"train_energy_wh[{m.id}]", f"latency_ms_low[{m.id}]", f"latency_ms_high[{m.id}]"]
    return cols


def to_json(s: Sweep) -> str:
    def fits(m):
        f = s.fitting(m)
        return None if f is None else {p: [int(v) for v in idx] for p, idx in f.items()}

    return json.dumps({
        "model": s.model,
        "setup": s.setup.key if s.setup else "paper",
        "memory_accounting": s.memory,
        "parameters": {k: {"values": v, "description": s.descriptions.get(k) or None} for k, v in s.values.items()},
        "variants": s.size,
        "mcus": [m.id for m in s.mcus],
        "engines": {m_id: r and r.engine for m_id, r in s.rates.items()},
        "impossible": [{"variant": v, **s.assignment(v), "error": e} for v, e in sorted(s.errors.items())],
        "fits": {m.id: fits(m) for m in s.mcus},
        "pareto": {p.id: [int(v) for v in s.pareto(p.id)] for p in s.procedures},
        "rows": s.rows(),
    }, indent=2)


def csv_text(s: Sweep) -> str:
    cols = _columns(s)
    return to_csv(cols, [[row.get(c) for c in cols] for row in s.rows()])
