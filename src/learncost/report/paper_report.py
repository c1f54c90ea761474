"""Reports of ``learncost paper``: the sheet's summary tables, in the paper's units."""

from __future__ import annotations

from ..paper import METRICS, PaperResult, effects, errata, setup
from .analysis_report import mcu_note
from .schema import dumps
from .tables import Table, to_csv

LABELS = {"kws": "DS-CNN/SC", "vww": "MobileNet/VWW", "ic": "ResNet/Cifar10", "ad": "AE/ToyADMOS"}
PROC = {"bp": "BP", "ff": "FF", "pepita": "PEP", "mempepita": "MPE"}


def _mode(r: PaperResult) -> str:
    if r.as_published:
        return f"as published: {len(r.errata_applied)} errata of the sheet applied (learncost paper --errata)"
    return "the paper's rules applied consistently (--as-published reproduces the sheet)"


def _r1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def tables(r: PaperResult) -> list[Table]:
    mcus = r.mcus
    cost_rows, time_rows = [], []
    for model_id, a in r.analyses.items():
        label = LABELS.get(model_id, model_id)
        for proc in setup()["procedures"]:
            t, i = a.row(proc, "training"), a.row(proc, "inference")
            cost_rows.append([label, PROC.get(proc, proc), round(t.macc / 1e6, 1), round(t.activations_bytes / 1e3, 1),
                              round(t.ram_bytes / 1e3, 1), round(i.macc / 1e6, 1), round(i.ram_bytes / 1e3, 1)])
            time_rows.append([label, PROC.get(proc, proc), *(_r1(t.latency_ms[m.id]) for m in mcus),
                              *(_r1(i.latency_ms[m.id]) for m in mcus),
                              *(_r1((t.train_hours or {}).get(m.id)) for m in mcus)])
    cost = Table("Training and inference per sample: MACC (millions), activations and RAM (KB = 1000 B)",
                 ["model", "proc.", "train MACC M", "train act. KB", "train RAM KB", "inf. MACC M", "inf. RAM KB"],
                 cost_rows, [_mode(r), "RAM = parameters + activations in training, activations only in inference"],
                 numeric=set(range(2, 7)), digits=1)
    mcu_notes = [f"{mcu_note(m)} ({m.source})" for m in mcus]
    times = Table("Latency per sample (ms) and full training time (hours)",
                  ["model", "proc.", *(f"train ms {m.id}" for m in mcus), *(f"inf. ms {m.id}" for m in mcus),
                   *(f"train h {m.id}" for m in mcus)],
                  time_rows, mcu_notes, numeric=set(range(2, 2 + 3 * len(mcus))), digits=1)
    rel_rows = []
    for group, procs in r.relative.items():
        for proc, metrics in procs.items():
            rel_rows.append([group, PROC.get(proc, proc), *(f"{metrics[k] * 100:+.1f}%" for k in METRICS)])
    rel = Table("Relative change against BP (mean over the group's models)",
                ["group", "proc.", "train MACC", "train act.", "train RAM", "inf. MACC", "inf. RAM"], rel_rows,
                [f"{g}: {', '.join(m)}" for g, m in setup()["groups"].items()], numeric=set(range(2, 7)))
    return [cost, times, rel]


def to_dict(r: PaperResult) -> dict:
    return {
        "mode": "as-published" if r.as_published else "consistent",
        "errata_applied": r.errata_applied,
        "mcus": {m.id: {"clock_mhz": m.clock_mhz, "cycles_per_macc": m.cycles_per_macc} for m in r.mcus},
        "datasets": {k: a.dataset.__dict__ if a.dataset else None for k, a in r.analyses.items()},
        "rows": [row.to_dict() for a in r.analyses.values() for row in a.rows],
        "relative": r.relative,
    }


def to_json(r: PaperResult) -> str:
    return dumps(to_dict(r))


def csv_text(r: PaperResult) -> str:
    mcus = [m.id for m in r.mcus]
    cols = ["model", "procedure", "phase", "macc", "activations_bytes", "params_bytes", "ram_bytes",
            *(f"latency_ms[{m}]" for m in mcus), *(f"train_hours[{m}]" for m in mcus)]
    rows = []
    for a in r.analyses.values():
        for row in a.rows:
            rows.append([row.model, row.procedure, row.phase, row.macc, row.activations_bytes, row.params_bytes,
                         row.ram_bytes, *(row.latency_ms[m] for m in mcus),
                         *((row.train_hours or {}).get(m) for m in mcus)])
    return to_csv(cols, rows)


# --- errata -------------------------------------------------------------------------------

def _describe_change(key, values) -> str:
    proc, phase, q = key
    before, after = values
    return f"{PROC.get(proc, proc)} {phase} {q.replace('_bytes', ' B')}: {before:,} -> {after:,} ({after - before:+,})"


def errata_tables() -> list[Table]:
    rows = []
    for ef in effects():
        e = ef.erratum
        layer = [f"{lay} {q}: {a:,} -> {b:,}" for (lay, q), (a, b) in ef.layer_changes.items()]
        totals = [_describe_change(k, v) for k, v in ef.changes.items() if k[2] != "ram_bytes"]
        rows.append([e.id, LABELS.get(e.model, e.model), ", ".join(e.cells), e.sheet, e.consistent,
                     "\n".join(layer + totals)])
    return [Table(f"Errata of the paper's sheet ({len(rows)}): consistent value -> as published",
                  ["id", "model", "cells", "what the sheet did", "consistent rule", "effect"], rows,
                  ["RAM moves with the activations (and by the same amount)."])]


def errata_dicts() -> list[dict]:
    out = []
    for ef in effects():
        e = ef.erratum
        out.append({
            "id": e.id, "model": e.model, "cells": list(e.cells), "sheet": e.sheet, "consistent": e.consistent,
            "layer_changes": [{"layer": lay, "quantity": q, "consistent": a, "as_published": b}
                              for (lay, q), (a, b) in ef.layer_changes.items()],
            "total_changes": [{"procedure": p, "phase": ph, "quantity": q, "consistent": a, "as_published": b}
                              for (p, ph, q), (a, b) in ef.changes.items()],
        })
    return out


def errata_csv() -> str:
    rows = []
    for d in errata_dicts():
        for c in d["total_changes"]:
            rows.append([d["id"], d["model"], " ".join(d["cells"]), c["procedure"], c["phase"], c["quantity"],
                         c["consistent"], c["as_published"]])
    return to_csv(["id", "model", "cells", "procedure", "phase", "quantity", "consistent", "as_published"], rows)


__all__ = ["tables", "to_json", "csv_text", "errata_tables", "errata_dicts", "errata_csv", "errata"]
