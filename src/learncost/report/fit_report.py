"""Reports of ``learncost fit``: which procedures can train (and run) a model on which boards."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import Analysis
from ..fit import time_verdict
from .analysis_report import mcu_note, model_label, setup_note
from .schema import dumps
from .tables import Table, to_csv


@dataclass(frozen=True)
class Budget:
    """What the user can wait: ms per sample and hours per training run (either may be absent)."""

    ms: float | None = None
    hours: float | None = None

    def describe(self) -> str:
        parts = ([f"{self.ms:g} ms per sample"] if self.ms is not None else []) + \
                ([f"{self.hours:g} h per training run"] if self.hours is not None else [])
        return " and ".join(parts)

COLUMNS = ["model", "procedure", "phase", "mcu", "fits", "ram_bytes", "sram_bytes", "ram_margin_bytes",
           "params_bytes", "flash_bytes", "flash_margin_bytes", "latency_ms", "train_hours", "engine",
           "latency_ms_low", "latency_ms_high", "train_hours_low", "train_hours_high", "energy_mj",
           "train_energy_wh", "time_fits"]


def time_fits(a: Analysis, r, mcu_id: str, budget: Budget | None) -> str | None:
    """The row against the time budget: per-sample ms (both phases), and training hours (training rows)."""
    if budget is None:
        return None
    verdicts = [time_verdict(r.latency_ms[mcu_id], r.latency_ms_range.get(mcu_id), budget.ms, "ms")]
    if r.phase == "training":
        verdicts.append(time_verdict((r.train_hours or {}).get(mcu_id), (r.train_hours_range or {}).get(mcu_id),
                                     budget.hours, "h"))
    shown = [v for v in verdicts if v is not None]
    if not shown:
        return None if budget.ms is None and (budget.hours is None or r.phase != "training") else "unknown"
    for word in ("no", "maybe"):
        if any(v.startswith(word) for v in shown):
            return "; ".join(v for v in shown if not v.startswith("yes"))
    return "yes"


def _records(a: Analysis, budget: Budget | None = None):
    for r in a.rows:
        for m in a.mcus:
            f = r.fit[m.id]
            lat = r.latency_ms_range.get(m.id) or (None, None)
            hours = (r.train_hours_range or {}).get(m.id) or (None, None)
            yield [r.model, r.procedure, r.phase, m.id, f.fits, f.ram_bytes, f.sram_bytes, f.ram_margin_bytes,
                   f.params_bytes, f.flash_bytes, f.flash_margin_bytes, r.latency_ms[m.id],
                   (r.train_hours or {}).get(m.id), r.engine.get(m.id), *lat, *hours, r.energy_mj.get(m.id),
                   (r.train_energy_wh or {}).get(m.id), time_fits(a, r, m.id, budget)]


def _verdict(a: Analysis, r, mcu_id: str, budget: Budget | None) -> str:
    memory = r.fit[mcu_id].verdict()
    t = time_fits(a, r, mcu_id, budget)
    return memory if t is None else f"{memory}; time {t}"


def _trains(a: Analysis, r, mcu_id: str, budget: Budget | None) -> bool:
    t = time_fits(a, r, mcu_id, budget)
    return bool(r.fit[mcu_id].fits) and (t is None or not t.startswith("no"))


def tables(a: Analysis, budget: Budget | None = None) -> list[Table]:
    m = a.model
    rows = [[r.procedure, r.phase, r.ram_bytes, *(_verdict(a, r, mcu.id, budget) for mcu in a.mcus)]
            for r in a.rows]
    cols = ["procedure", "phase", "RAM B", *(mcu.id for mcu in a.mcus)]
    trains = {mcu.id: [r.procedure for r in a.rows if r.phase == "training" and _trains(a, r, mcu.id, budget)]
              for mcu in a.mcus}
    unknown = {mcu.id: [r.procedure for r in a.rows if r.phase == "training" and r.fit[mcu.id].fits is None]
               for mcu in a.mcus}
    notes = []
    for mcu_id, p in trains.items():
        if p or not unknown[mcu_id]:
            notes.append(f"{mcu_id}: trains with {', '.join(p) if p else 'no procedure'}")
        if unknown[mcu_id]:  # a capacity not given: neither yes nor no
            board = next(m for m in a.mcus if m.id == mcu_id)
            missing = " and ".join(flag for flag, v in (("--sram-kb", board.sram_kb), ("--flash-kb", board.flash_kb))
                                   if v is None)
            notes.append(f"{mcu_id}: {', '.join(unknown[mcu_id])} within what is known; unknown until {missing} "
                         "is given")
    notes += [mcu_note(mcu, a.rates.get(mcu.id)) for mcu in a.mcus]
    notes.append("yes: RAM within SRAM and parameters within flash; no: what it misses by (1 KB = 1024 B)")
    if budget is not None:
        notes.append(f"time: within {budget.describe()} over the whole range the engine's calibration supports "
                     "(yes), over it at the low end (no), or straddling it (maybe)")
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


def to_json(a: Analysis, budget: Budget | None = None) -> str:
    return dumps({"model": a.model_key, "setup": a.setup.key, "memory_accounting": a.evaluator.accounting,
                       "time_budget": budget and {"ms": budget.ms, "hours": budget.hours},
                       "fit": [dict(zip(COLUMNS, r)) for r in _records(a, budget)]})


def csv_text(a: Analysis, budget: Budget | None = None) -> str:
    return to_csv(COLUMNS, list(_records(a, budget)))
