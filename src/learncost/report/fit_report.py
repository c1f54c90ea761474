"""Reports of ``learncost fit``: which procedures can train (and run) a model on which boards."""

from __future__ import annotations

import json

from ..analysis import Analysis
from .analysis_report import mcu_note, model_label, setup_note
from .tables import Table, to_csv

COLUMNS = ["model", "procedure", "phase", "mcu", "fits", "ram_bytes", "sram_bytes", "ram_margin_bytes",
           "params_bytes", "flash_bytes", "flash_margin_bytes", "latency_ms", "train_hours"]


def _records(a: Analysis):
    for r in a.rows:
        for m in a.mcus:
            f = r.fit[m.id]
            yield [r.model, r.procedure, r.phase, m.id, f.fits, f.ram_bytes, f.sram_bytes, f.ram_margin_bytes,
                   f.params_bytes, f.flash_bytes, f.flash_margin_bytes, r.latency_ms[m.id],
                   (r.train_hours or {}).get(m.id)]


def tables(a: Analysis) -> list[Table]:
    m = a.model
    rows = [[r.procedure, r.phase, r.ram_bytes, *(r.fit[mcu.id].verdict() for mcu in a.mcus)] for r in a.rows]
    cols = ["procedure", "phase", "RAM B", *(mcu.id for mcu in a.mcus)]
    trains = {mcu.id: [r.procedure for r in a.rows if r.phase == "training" and r.fit[mcu.id].fits]
              for mcu in a.mcus}
    notes = [f"{mcu_id}: trains with {', '.join(p) if p else 'no procedure'}" for mcu_id, p in trains.items()]
    notes += [mcu_note(mcu, a.rates.get(mcu.id)) for mcu in a.mcus]
    notes.append("yes: RAM within SRAM and parameters within flash; no: what it misses by (1 KB = 1024 B)")
    notes.append("assumes " + setup_note(a))
    if a.setup.key == "paper":
        notes.append("the paper's setup counts no error buffer, gradient or optimizer state; for training as MCU "
                     "engines run it: --setup int8-fp32grad (see `learncost setups`)")
    params = dict.fromkeys(r.params_bytes for r in a.rows)
    if len(params) > 1:  # a procedure with parameters of its own (FF's readout)
        notes.append("parameters: " + "; ".join(f"{r.procedure} {r.params_bytes:,} B" for r in a.rows
                                                  if r.phase == "training"))
    return [Table(f"{model_label(m)}, setup {a.setup.key} ({a.evaluator.accounting} memory): does it fit? "
                  f"(parameters {min(params):,} B)",
                  cols, rows, notes, numeric={2})]


def to_json(a: Analysis) -> str:
    return json.dumps({"model": a.model_key, "setup": a.setup.key, "memory_accounting": a.evaluator.accounting,
                       "fit": [dict(zip(COLUMNS, r)) for r in _records(a)]}, indent=2)


def csv_text(a: Analysis) -> str:
    return to_csv(COLUMNS, list(_records(a)))
