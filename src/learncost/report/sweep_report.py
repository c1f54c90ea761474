"""Reports of ``learncost sweep``: how many variants train on each board, the largest that does,
the Pareto front, and every variant's figures as rows."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..sweep import Sweep, block_rows, interleave
from .analysis_report import _round, mcu_note
from .schema import SCHEMA_VERSION
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
    """The sweep as one JSON document (``json_chunks`` joined)."""
    return "".join(json_chunks(s))


def csv_text(s: Sweep) -> str:
    """Every row as CSV (``csv_chunks`` joined)."""
    return "".join(csv_chunks(s))


def chunks(s: Sweep, kind: str) -> Iterator[str]:
    """The ``json`` or ``csv`` export as pieces of text to write one after the other (a JSON file ends
    with a newline, as the other commands write theirs)."""
    return itertools.chain(json_chunks(s), ["\n"]) if kind == "json" else csv_chunks(s)


def json_chunks(s: Sweep) -> Iterator[str]:
    """The sweep as JSON, block by block: what it holds beyond the sweep's arrays is one block of rows,
    whatever the number of variants. The keys are a contract (extend them, never rename)."""
    members: list[tuple[str, Any]] = [
        ("schema_version", SCHEMA_VERSION),
        ("model", s.model),
        ("setup", s.setup.key if s.setup else "paper"),
        ("memory_accounting", s.memory),
        ("parameters", {k: {"values": v, "description": s.descriptions.get(k) or None} for k, v in s.values.items()}),
        ("variants", s.size),
        ("mcus", [m.id for m in s.mcus]),
        ("engines", {m_id: r and r.engine for m_id, r in s.rates.items()}),
        ("impossible", _array(_blocks([json.dumps({"variant": v, **s.assignment(v), "error": e})
                                       for v, e in sorted(s.errors.items())]), "  ")),
        ("fits", _object([(m.id, _fits(s, m)) for m in s.mcus], "  ")),
        ("pareto", _object([(p.id, _ints(s.pareto(p.id), "    ")) for p in s.procedures], "  ")),
        ("rows", _array(([json.dumps(row) for row in block_rows(block)] for block in s.row_blocks()), "  ")),
    ]
    yield from _object(members, "")


def _object(members: list[tuple[str, Any]], indent: str) -> Iterator[str]:
    """A JSON object: each value is plain data (written as ``json.dumps(indent=2)`` writes it) or the
    pieces of text of a value written by parts (a generator)."""
    if not members:
        yield "{}"
        return
    yield "{"
    for k, (key, value) in enumerate(members):
        yield ("," if k else "") + f"\n{indent}  {json.dumps(key)}: "
        if isinstance(value, Iterator):
            yield from value
        else:
            yield json.dumps(value, indent=2).replace("\n", f"\n{indent}  ")
    yield f"\n{indent}}}"


def _array(blocks: Iterable[list[str]], indent: str) -> Iterator[str]:
    """A JSON array of items already written as JSON, one per line, given by blocks of items."""
    pad, started = f"\n{indent}  ", False
    for block in blocks:
        if block:
            yield ("," if started else "[") + pad + ("," + pad).join(block)
            started = True
    yield f"\n{indent}]" if started else "[]"


def _blocks(items, size: int = 4096) -> Iterator:
    """Consecutive slices of at most ``size`` items (of a list or a numpy array)."""
    return (items[k:k + size] for k in range(0, len(items), size))


def _ints(values, indent: str) -> Iterator[str]:
    """A JSON array of the integers of a numpy array, converted a block at a time."""
    return _array(([str(v) for v in block.tolist()] for block in _blocks(values)), indent)


def _fits(s: Sweep, m) -> Any:
    """Procedure -> the variants that train on ``m`` (``Sweep.fitting``), or None when a capacity is unknown."""
    f = s.fitting(m)
    return None if f is None else _object([(p, _ints(idx, "      ")) for p, idx in f.items()], "    ")


def csv_chunks(s: Sweep) -> Iterator[str]:
    """Every row as CSV, the header first, then block by block (``to_csv`` writes each block)."""
    cols = _columns(s)
    header = to_csv(cols, [])
    yield header
    for block in s.row_blocks():
        parts = [list(zip(*(c.get(name, itertools.repeat(None)) for name in cols))) for c in block]
        yield to_csv(cols, interleave(parts))[len(header):]
