"""Putting it together: a model, procedures, MCUs and a workload in; figures out.

Nothing here prints or formats: ``Analysis`` holds plain numbers that reports render.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

from .catalog import MCU, Dataset, get_dataset, get_mcu, mcus as all_mcus
from .engines import PAPER, Rates, cycles as engine_cycles, latency_ms as engine_latency, rates as engine_rates
from .evaluate import Evaluator
from .fit import Fit, check as check_fit
from .ir import Model
from .procedures import PHASES, Procedure, get_procedure, resolve_procedures
from .setups import Setup


@dataclass(frozen=True)
class Patches:
    """Deviations from the consistent rules, used only to reproduce published figures."""

    #: (layer, op) -> {"dims": {...}} or {"formula": other_op}
    costs: Mapping[tuple[str, str], Mapping[str, object]] = field(default_factory=dict)
    #: layer -> bytes added to its buffer
    buffer_delta: Mapping[str, int] = field(default_factory=dict)
    #: (procedure, phase) -> buffers summed instead of applying the memory rule
    memory: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


@dataclass
class LayerReport:
    name: str
    kind: str
    inputs: list[str]
    output_shape: list[int]
    dtype: str
    activations_bytes: int
    weights: int
    biases: int
    params_bytes: int
    macc: dict[str, int]
    note: str | None = None
    #: MCU id -> operation -> ms of one application of the operation on this layer (the board's engine)
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Row:
    model: str
    procedure: str
    phase: str
    macc: int
    activations_bytes: int
    params_bytes: int
    ram_bytes: int
    latency_ms: dict[str, float]
    train_hours: dict[str, float] | None
    macc_by_operation: dict[str, int]
    memory_rule: str
    peak_at: str | None
    peak_buffers: list[str]
    fit: dict[str, Fit] = field(default_factory=dict)  # by MCU id
    setup: str = "paper"
    memory_accounting: str = "paper"
    memory_by_role: dict[str, int] = field(default_factory=dict)
    samples: int = 1  # samples the MACC and memory cover: the training batch, or 1
    flash_bytes: int = 0  # what flash must hold (the parameters, and F where the setup stores it there)
    #: by MCU id: the engine that times the row, the spread its calibration supports, energy per sample
    engine: dict[str, str] = field(default_factory=dict)
    latency_ms_range: dict[str, list[float] | None] = field(default_factory=dict)
    energy_mj: dict[str, float | None] = field(default_factory=dict)
    energy_mj_range: dict[str, list[float] | None] = field(default_factory=dict)
    train_hours_range: dict[str, list[float] | None] | None = None
    train_energy_wh: dict[str, float | None] | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fit"] = {mcu_id: f.to_dict() for mcu_id, f in self.fit.items()}  # with the verdicts, not just fields
        for key in ("train_hours", "train_hours_range", "train_energy_wh"):
            if d[key] is None:
                del d[key]
        return d


@dataclass
class Analysis:
    model: Model
    layers: list[LayerReport]
    rows: list[Row]
    mcus: list[MCU]
    dataset: Dataset | None
    warnings: list[str] = field(default_factory=list)
    evaluator: Evaluator | None = field(default=None, repr=False)
    procedures: dict[str, Procedure] = field(default_factory=dict, repr=False)
    rates: dict[str, Rates | None] = field(default_factory=dict, repr=False)  # MCU id -> its engine's rates

    @property
    def setup(self) -> Setup:
        return self.evaluator.setup

    @property
    def model_key(self) -> str:
        return self.model.id or self.model.name

    def __repr__(self) -> str:
        procs = list(dict.fromkeys(r.procedure for r in self.rows))
        return (f"<Analysis {self.model_key}: {len(procs)} procedures x {len(PHASES)} phases, {len(self.mcus)} MCUs, "
                f"setup {self.setup.key}>")

    def row(self, procedure: str, phase: str) -> Row:
        for r in self.rows:
            if r.procedure == procedure and r.phase == phase:
                return r
        procs = ", ".join(dict.fromkeys(r.procedure for r in self.rows))
        raise KeyError(f"no row ({procedure!r}, {phase!r}): procedures {procs}; phases {', '.join(PHASES)}")

    def breakdown(self, procedure: str | Procedure, phase: str) -> dict[str, dict[str, int]]:
        """MACC of each layer and operation under one procedure's phase (terms applied, no zeros)."""
        proc = procedure if isinstance(procedure, Procedure) else self.procedures.get(procedure) or get_procedure(procedure)
        return self.evaluator.breakdown(proc, phase)

    def latency_breakdown(self, procedure: str | Procedure, phase: str, mcu_id: str) -> dict[str, dict[str, float]]:
        """Milliseconds per sample of each layer and operation on one board: ``breakdown`` at the rate of each
        layer's kind under the board's engine (``engines.Rates.ms``), over the row's samples; empty where
        nothing times the board."""
        r = self.rates.get(mcu_id)
        if r is None:
            return {}
        samples = self.row(procedure if isinstance(procedure, str) else procedure.id, phase).samples
        layer = self.model.by_name
        return {name: {op: r.ms(v, layer[name].kind) / samples for op, v in ops.items()}
                for name, ops in self.breakdown(procedure, phase).items()}

    def to_dict(self, per_layer: bool = False) -> dict:
        out = {
            "model": self.model_key,
            "parameters": self.model.parameters,
            "mcus": {m.id: {"clock_mhz": m.clock_mhz, "cycles_per_macc": m.cycles_per_macc, "sram_kb": m.sram_kb,
                            "flash_kb": m.flash_kb} | _rates_dict(self.rates.get(m.id)) for m in self.mcus},
            "dataset": asdict(self.dataset) if self.dataset else None,
            "setup": setup_dict(self.setup),
            "memory_accounting": self.evaluator.accounting,
            "rows": [r.to_dict() for r in self.rows],
            "warnings": self.warnings,
        }
        if per_layer:
            out["layers"] = [layer_dict(lr) for lr in self.layers]
        return out

    def _repr_html_(self) -> str:
        """Jupyter's display: the tables ``learncost analyze`` prints."""
        from .report.analysis_report import tables
        from .report.html import tables_html

        return tables_html(tables(self, False))

    def to_dataframe(self, per_layer: bool = False):
        """Rows (or, with ``per_layer``, layers) as a pandas DataFrame (pandas is imported here only)."""
        from .results import pandas

        pd = pandas()

        if per_layer:
            return pd.DataFrame([layer_dict(lr) for lr in self.layers])
        flat = []
        for r in self.rows:
            d = r.to_dict()
            for key in ("latency_ms", "train_hours", "engine", "latency_ms_range", "energy_mj", "energy_mj_range",
                        "train_hours_range", "train_energy_wh"):
                for mcu, value in (d.pop(key, None) or {}).items():
                    d[f"{key}[{mcu}]"] = value
            d.update({f"macc[{op}]": v for op, v in d.pop("macc_by_operation").items()})
            d.update({f"fits[{mcu}]": f["fits"] for mcu, f in d.pop("fit").items()})
            flat.append(d)
        return pd.DataFrame(flat)


def _rates_dict(r: Rates | None) -> dict:
    if r is None:
        return {"engine": None}
    return {"engine": r.engine, "engine_cycles_per_macc": r.cycles_per_macc, "engine_basis": r.basis,
            "latency_spread": r.spread and list(r.spread), "power_mw": r.power_mw,
            "power_mw_range": r.power_range and list(r.power_range)}


def layer_dict(lr: LayerReport) -> dict:
    d = asdict(lr)
    d.update(d.pop("macc"))
    return d


def resolve_names(items, getter, default):
    if items is None:
        return list(default)
    return [x if not isinstance(x, str) else getter(x) for x in items]


def setup_dict(setup: Setup) -> dict:
    """The setup as reports state it: its id, and every field (parameters included)."""
    d = setup.model_dump(mode="json")
    d["id"] = setup.key
    return d


def analyze(
    model: Model | str,
    procedures: Iterable[str | Procedure] | None = None,
    mcus: Iterable[str | MCU] | None = None,
    dataset: str | Dataset | None = None,
    *,
    patches: Patches | None = None,
    setup: Setup | str | None = None,
    memory: str | None = None,
    engine: str | None = None,
) -> Analysis:
    """Costs of ``model`` under each procedure, for training and inference.

    ``procedures`` defaults to all registered ones, ``mcus`` to the paper's two boards and
    ``dataset`` to the one the model declares (training hours need a dataset). ``setup`` is a
    preset id, a setup file or a ``Setup`` (default: the paper's); ``memory`` picks the memory
    accounting (default: the setup's); ``engine`` times every board with that engine's profile
    (default: each board's own measured engine, ``paper`` where it has none; ``learncost.engines``).

        >>> import learncost
        >>> a = learncost.analyze("kws", procedures=["bp"], mcus=["stm32h735g-dk"])
        >>> a.row("bp", "training").ram_bytes  # the paper's rule: activations + parameters
        95218
    """
    if isinstance(model, str):
        from .zoo import load_model

        model = load_model(model)
    procs = resolve_procedures(procedures)
    boards = resolve_names(mcus, get_mcu, all_mcus().values())
    if isinstance(dataset, str):
        dataset = get_dataset(dataset)
    elif dataset is None and model.dataset:
        dataset = get_dataset(model.dataset)
    ev = Evaluator(model, setup, memory=memory, patches=patches)
    timed = {m.id: engine_rates(m, engine) for m in boards}
    layers = [
        LayerReport(
            name=layer.name, kind=layer.kind, inputs=list(layer.inputs), output_shape=list(layer.output_shape),
            dtype=layer.dtype, activations_bytes=ev.sizes.output(layer),
            weights=layer.weights, biases=layer.biases,
            params_bytes=ev.sizes.params(layer),
            macc=costs, note=layer.note,
            latency_ms={m: {op: r.ms(v, layer.kind) for op, v in costs.items() if v} for m, r in timed.items() if r},
        )
        for layer, costs in zip(model.layers, ev.costs)
    ]
    rows = []
    for proc in procs:
        for phase_name in PHASES:
            f = ev.figures(proc, phase_name)
            per_sample = f.macc / f.samples
            split = None
            t = {}
            for m in boards:
                r = timed[m.id]
                if r is not None and r.engine != PAPER and split is None:
                    split = ev.breakdown(proc, phase_name)
                t[m.id] = timing(m, r, per_sample, split, model, f.samples, phase_name)
            latency = {mcu_id: x.latency_ms for mcu_id, x in t.items()}
            hours = hours_range = train_wh = None
            if phase_name == "training":  # empty without a workload: the JSON contract keeps the key
                hours = {mcu_id: dataset.train_hours(ms) for mcu_id, ms in latency.items()} if dataset else {}
                hours_range = {mcu_id: x.scaled(dataset.train_hours) for mcu_id, x in t.items()} if dataset else {}
                train_wh = {mcu_id: dataset.train_energy_wh(x.energy_mj) for mcu_id, x in t.items()} if dataset else {}
            mem = f.memory
            rows.append(Row(
                model=model.id or model.name, procedure=proc.id, phase=phase_name, macc=f.macc,
                activations_bytes=mem.working, params_bytes=f.params_bytes, ram_bytes=mem.bytes,
                latency_ms=latency, train_hours=hours, macc_by_operation=f.macc_by_operation,
                memory_rule=mem.rule, peak_at=mem.at, peak_buffers=list(mem.items),
                fit={m.id: check_fit(mem.bytes, f.params_bytes, m, flash_need=f.flash_bytes) for m in boards},
                setup=ev.setup.key, memory_accounting=mem.accounting, memory_by_role=dict(mem.by_role),
                samples=f.samples, flash_bytes=f.flash_bytes,
                engine={mcu_id: r and r.engine for mcu_id, r in timed.items()},
                latency_ms_range={mcu_id: x.latency_range for mcu_id, x in t.items()},
                energy_mj={mcu_id: x.energy_mj for mcu_id, x in t.items()},
                energy_mj_range={mcu_id: x.energy_range for mcu_id, x in t.items()},
                train_hours_range=hours_range, train_energy_wh=train_wh,
            ))
    warnings = list(model.warnings) + ev.plan.warnings
    return Analysis(model=model, layers=layers, rows=rows, mcus=boards, dataset=dataset, warnings=warnings,
                    evaluator=ev, procedures={p.id: p for p in procs}, rates=timed)


@dataclass(frozen=True)
class Timing:
    """One row's time and energy per sample on one board, with the spread the engine's calibration supports."""

    latency_ms: float | None
    latency_range: list[float] | None = None
    energy_mj: float | None = None
    energy_range: list[float] | None = None

    def scaled(self, fn) -> list[float] | None:
        return None if self.latency_range is None else [fn(x) for x in self.latency_range]


def timing(mcu: MCU, r: Rates | None, per_sample: float, split: dict | None, model: Model,
           samples: int, phase: str = "inference") -> Timing:
    """Latency per sample: the paper's MACC x cycles/MACC / clock under ``paper``, else the sum over layers
    and operations of MACC x the rate of the layer's kind (``engines.cycles``) / clock / samples. Energy
    per sample: latency x the board's measured power (mJ = ms x mW / 1000). Ranges: the latency times the
    calibration's spread (true / predicted, low and high), widened for training under an inference-only
    engine by the allowance for unmeasured backward kernels (``Rates.spread_for``); energy also at the
    power's extremes."""
    if r is None:
        return Timing(None)
    ms = engine_latency(mcu, r, per_sample, None if r.engine == PAPER else engine_cycles(r, split, model), samples)
    spread = r.spread_for(phase)
    lo_hi = None if spread is None else [ms * spread[0], ms * spread[1]]
    if r.power_mw is None:
        return Timing(ms, lo_hi)
    base = lo_hi or [ms, ms]
    return Timing(ms, lo_hi, r.energy_mj(ms), [base[0] * r.power_range[0] / 1e3, base[1] * r.power_range[1] / 1e3])
