"""Reports of ``learncost analyze``."""

from __future__ import annotations

from ..analysis import Analysis
from ..costs import OPERATIONS
from .schema import dumps
from .tables import Table, to_csv

LAYER_FIELDS = ["name", "kind", "output_shape", "activations_bytes", "weights", "biases", *OPERATIONS]


def _layer_columns(a: Analysis) -> list[str]:
    return LAYER_FIELDS + [f"latency_ms[{m.id}][{op}]" for m in a.mcus if a.rates.get(m.id) for op in OPERATIONS]


def _row_columns(a: Analysis) -> list[str]:
    cols = ["model", "procedure", "phase", "macc", "activations_bytes", "params_bytes", "ram_bytes", "memory_rule",
            "peak_at"]
    cols += [f"latency_ms[{m.id}]" for m in a.mcus]
    if a.dataset:
        cols += [f"train_hours[{m.id}]" for m in a.mcus]
    cols += [f"fits[{m.id}]" for m in a.mcus]
    for m in a.mcus:  # appended: the columns above keep their places
        cols += [f"engine[{m.id}]", f"latency_ms_low[{m.id}]", f"latency_ms_high[{m.id}]", f"energy_mj[{m.id}]"]
        if a.dataset:
            cols += [f"train_energy_wh[{m.id}]"]
    return cols


def _row_values(a: Analysis, r) -> list:
    values = [r.model, r.procedure, r.phase, r.macc, r.activations_bytes, r.params_bytes, r.ram_bytes,
              r.memory_rule, r.peak_at]
    values += [r.latency_ms[m.id] for m in a.mcus]
    if a.dataset:
        values += [(r.train_hours or {}).get(m.id) for m in a.mcus]
    values += [r.fit[m.id].fits for m in a.mcus]
    for m in a.mcus:
        low, high = r.latency_ms_range.get(m.id) or (None, None)
        values += [r.engine.get(m.id), low, high, r.energy_mj.get(m.id)]
        if a.dataset:
            values += [(r.train_energy_wh or {}).get(m.id)]
    return values


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def model_label(m) -> str:
    """``MobileNetV1 (vww, alpha=0.5, resolution=96)``: the name, id and parameter values."""
    from ..params import describe

    inside = ", ".join(x for x in (m.id, describe(m.parameters) if m.parameters else "") if x)
    return f"{m.name} ({inside})" if inside else m.name


def mcu_note(mcu, rates=None) -> str:
    """The board as the figures use it; with its engine's ``rates``, the per-kind rates, the spread and
    the power behind latency and energy."""
    cycles = "cycles/MACC unknown (give --cycles-per-macc)" if mcu.cycles_per_macc is None \
        else f"{mcu.cycles_per_macc:.3g} cycles/MACC"
    if rates is not None and rates.engine != "paper":
        c = rates.cycles_per_macc
        cycles = (f"engine {rates.engine} ({rates.origin}), cycles/MACC conv {c['conv']:.3g}, depthwise {c['depthwise']:.3g}, "
                  f"dense and other kinds {c['dense']:.3g}")
    memory = "".join(f", {v:g} KB {what}" for v, what in ((mcu.sram_kb, "SRAM"), (mcu.flash_kb, "flash")) if v)
    extra = ""
    if rates is not None and rates.spread:
        extra += f"; latency x {rates.spread[0]:.2f}-{rates.spread[1]:.2f} (the calibration's spread)"
    if rates is not None and rates.power_mw:
        extra += f"; {rates.power_mw:.3g} mW measured ({rates.power_range[0]:.3g}-{rates.power_range[1]:.3g})"
    clock = f"{mcu.clock_mhz:g} MHz" if mcu.clock_mhz else "clock unknown (give --clock-mhz)"
    return f"{mcu.id}: {clock}, {cycles}{memory}{extra}"


def _hours(r, mcu_id: str) -> str | float | None:
    """Training hours, with the range the calibration supports where it has one."""
    h = (r.train_hours or {}).get(mcu_id)
    span = (r.train_hours_range or {}).get(mcu_id)
    if h is None or not span:
        return _round(h)
    return f"{h:.3g} ({span[0]:.3g}-{span[1]:.3g})"


def setup_note(a: Analysis) -> str:
    from .setup_report import summary

    return summary(a.setup, a.evaluator.accounting)


def tables(a: Analysis, per_layer: bool) -> list[Table]:
    m = a.model
    ds = f"; training on {a.dataset.name}: {a.dataset.epochs} epochs x {a.dataset.samples:,} samples" if a.dataset else ""
    cols = ["procedure", "phase", "MACC", "activations B", "params B", "RAM B"]
    cols += [f"{mcu.id} ms" for mcu in a.mcus]
    if a.dataset:
        cols += [f"{mcu.id} h" for mcu in a.mcus]
    cols += [f"fits {mcu.id}" for mcu in a.mcus]
    energy = [mcu for mcu in a.mcus if (a.rates.get(mcu.id) and a.rates[mcu.id].power_mw)]
    cols += [f"{mcu.id} mJ" for mcu in energy]
    rows = []
    for r in a.rows:
        row = [r.procedure, r.phase, r.macc, r.activations_bytes, r.params_bytes if r.phase == "training" else None,
               r.ram_bytes]
        row += [_round(r.latency_ms[mcu.id]) for mcu in a.mcus]
        if a.dataset:
            row += [_hours(r, mcu.id) for mcu in a.mcus]
        row += [r.fit[mcu.id].verdict() for mcu in a.mcus]
        if energy:
            row += [_round(r.energy_mj.get(mcu.id)) for mcu in energy]
        rows.append(row)
    notes = [mcu_note(mcu, a.rates.get(mcu.id)) for mcu in a.mcus]
    notes.append("fits: training RAM (inference: activations) within SRAM and parameters within flash; "
                 "'no' says by how much it misses (1 KB = 1024 B)")
    notes.append(setup_note(a))
    if a.setup.key == "paper" and a.evaluator.accounting == "paper":
        notes.append("RAM = activations + parameters in training, activations only in inference")
    else:
        notes.append("RAM by role at the peak is in the JSON (memory_by_role); activations B = activations, saved "
                     "activations, masks and errors at the peak; params B = every parameter (what flash holds)")
    if a.setup.batch > 1:
        notes.append(f"training MACC and RAM per step of {a.setup.batch} samples; latency per sample")
    notes += [f"warning: {w}" for w in a.warnings]
    out = [Table(f"{model_label(m)}, setup {a.setup.key}: {m.weights:,} weights, {m.biases:,} biases{ds}", cols, rows,
                 notes,
                 numeric=set(range(2, len(cols))))]
    if per_layer:
        lcols = ["layer", "kind", "output", "act. B", "weights", "biases", *OPERATIONS]
        lrows = [[lr.name, lr.kind, "x".join(map(str, lr.output_shape)), lr.activations_bytes, lr.weights, lr.biases,
                  *(lr.macc[op] for op in OPERATIONS)] for lr in a.layers]
        out.append(Table(f"{m.name}: per layer and operation (MACC)", lcols, lrows, numeric=set(range(3, len(lcols)))))
        timed = next((mcu for mcu in a.mcus if a.rates.get(mcu.id)), None)
        if timed is not None:
            ops = [op for op in OPERATIONS if any(lr.macc[op] for lr in a.layers)]
            trows = [[lr.name, lr.kind, *(_ms(lr.latency_ms.get(timed.id, {}).get(op)) for op in ops)]
                     for lr in a.layers]
            out.append(Table(f"{m.name}: per layer and operation, ms of one application on {timed.id} "
                             f"(engine {a.rates[timed.id].engine})", ["layer", "kind", *ops], trows,
                             [mcu_note(timed, a.rates[timed.id])], numeric=set(range(2, 2 + len(ops)))))
    return out


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def to_json(a: Analysis, per_layer: bool) -> str:
    return dumps(a.to_dict(per_layer=per_layer))


def csv_text(a: Analysis, per_layer: bool) -> str:
    if per_layer:
        timed = [m.id for m in a.mcus if a.rates.get(m.id)]
        return to_csv(_layer_columns(a), [
            [lr.name, lr.kind, "x".join(map(str, lr.output_shape)), lr.activations_bytes, lr.weights, lr.biases,
             *(lr.macc[op] for op in OPERATIONS),
             *(lr.latency_ms.get(m, {}).get(op) for m in timed for op in OPERATIONS)] for lr in a.layers])
    return to_csv(_row_columns(a), [_row_values(a, r) for r in a.rows])
