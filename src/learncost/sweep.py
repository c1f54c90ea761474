"""Design-space sweeps: every combination of a spec's parameter values, under every procedure.

Variants that share a structure (the same layer list once repeats expand, the same classes)
are evaluated together: every integer field holds a numpy array with one element per variant,
and the same builders, cost formulas, memory rules and phase totals that ``analyze`` uses run
once per group instead of once per variant. A variant that is impossible (a kernel larger
than its input at a small resolution, a non-integer width) is set aside with the reason its
own build gives, and the rest of its group is evaluated without it.

Variants whose layer lists differ only in one repeat's count share a pass too, over the union
of their lists with each layer weighed by its copies in each variant (``union``), where that
gives each variant its own figures; elsewhere each count is its own group.

A setup's declared parameters (``batch``, a ``last``-k count...) are axes too: variants with
the same setup values share a group, since a setup decides which operations and tensors exist.

The sweep uses learncost's consistent rules, never the paper's errata (those belong to the
paper's four fixed models).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import overflow, params as P, union
from . import setups as S
from .analysis import resolve_names
from .catalog import MCU, Dataset, get_dataset, get_mcu, mcus as all_mcus
from .engines import PAPER, cycles as engine_cycles, latency_ms as engine_latency, rates as engine_rates
from .errors import LearncostError, SpecError
from .evaluate import Evaluator
from .fit import check as check_fit
from .procedures import PHASES, Procedure, resolve_procedures
from .setups.plan import Plan
from .spec import assemble, model_from_data, read_spec, validate_spec

Progress = Callable[[int, int], None]
#: variants evaluated per numpy pass: large enough to amortise the per-pass Python work,
#: small enough for a progress bar to move
CHUNK = 8192
#: possible variants whose rows are built together when rows are written (``Sweep.row_blocks``)
ROW_BLOCK = 2048
#: the grid's size limit: each variant holds a few dozen 8-byte figures
MAX_VARIANTS = 5_000_000


@dataclass
class Sweep:
    model: str
    origin: str
    values: dict[str, list]  # parameter -> the values swept (a single default where not swept)
    descriptions: dict[str, str]
    grid: dict[str, np.ndarray]  # parameter -> its value in each variant, in itertools.product order
    procedures: list[Procedure]
    mcus: list[MCU]
    dataset: Dataset | None
    valid: np.ndarray  # bool per variant
    errors: dict[int, str]  # variant -> why it cannot be built
    forward_macc: np.ndarray  # one inference pass of the model, per variant
    params_bytes: np.ndarray
    macc: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (procedure, phase) -> per variant
    ram: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    flash: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # what flash must hold
    #: every parameter a procedure's phase has (the model's, and a readout it trains)
    params: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    samples: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # samples a row's MACC covers
    setup: S.Setup | None = None  # at its parameters' defaults (the swept ones are in ``grid``)
    memory: str = "paper"
    setup_parameters: tuple[str, ...] = ()  # which of ``grid``'s parameters belong to the setup
    rates: dict[str, Any] = field(default_factory=dict)  # MCU id -> its engine's rates (``engines.rates``)
    #: (procedure, phase, MCU id) -> cycles per variant, for boards timed by a per-kind engine profile
    cycles: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.valid)

    def assignment(self, variant: int) -> dict[str, Any]:
        return {k: v[variant].item() for k, v in self.grid.items()}

    def label(self, variant: int) -> str:
        return P.describe(self.grid, variant)

    def latency_ms(self, procedure: str, phase: str, mcu: MCU, at: Any = slice(None)) -> np.ndarray | None:
        """Per sample, as ``analysis.timing`` computes it: the paper's MACC x cycles/MACC / clock, or the
        engine profile's cycles (each layer's operations at its kind's rate) / samples / clock; for the
        variants ``at`` selects (all by default)."""
        r = self.rates.get(mcu.id)
        key = (procedure, phase)
        if r is None:
            return None
        cycles = self.cycles.get((procedure, phase, mcu.id))
        samples = self.samples[key][at]
        with np.errstate(invalid="ignore"):  # an impossible variant covers no sample: NaN, never read as valid
            return engine_latency(mcu, r, self.macc[key][at] / samples, None if cycles is None else cycles[at], samples)

    def energy_mj(self, procedure: str, phase: str, mcu: MCU, at: Any = slice(None)) -> np.ndarray | None:
        """Per sample: latency x the board's measured power (mJ = ms x mW / 1000)."""
        ms = self.latency_ms(procedure, phase, mcu, at)
        return None if ms is None else self.rates[mcu.id].energy_mj(ms)

    def fits(self, procedure: str, mcu: MCU, phase: str = "training") -> np.ndarray | None:
        """Per variant: the phase's RAM fits the board's SRAM and the parameters its flash
        (None when a capacity is unknown); impossible variants never fit."""
        if mcu.sram_bytes is None or mcu.flash_bytes is None:
            return None
        key = (procedure, phase)
        return self.valid & (self.ram[key] <= mcu.sram_bytes) & (self.flash[key] <= mcu.flash_bytes)

    def fitting(self, mcu: MCU, phase: str = "training") -> dict[str, np.ndarray] | None:
        """Procedure -> the variants that can run ``phase`` on ``mcu``, largest model first (then the
        most training work: with a setup axis, the most of the model trained)."""
        out = {}
        for proc in self.procedures:
            ok = self.fits(proc.id, mcu, phase)
            if ok is None:
                return None
            idx = np.flatnonzero(ok)
            # the largest model first; among equals (a setup axis), the one that trains the most of it
            order = np.lexsort((-self.macc[(proc.id, phase)][idx], -self.forward_macc[idx]))
            out[proc.id] = idx[order]
        return out

    def pareto(self, procedure: str) -> np.ndarray:
        """Variants no other variant beats on both counts: less training RAM and at least the
        forward MACC (the model's capacity). Ordered by training RAM."""
        idx = np.flatnonzero(self.valid)
        ram, cap = self.ram[(procedure, "training")][idx], self.forward_macc[idx]
        order = np.lexsort((-cap, ram))  # by RAM, the largest model first among equals
        front, best = [], -1
        for k in order:
            if cap[k] > best:
                front.append(idx[k])
                best = cap[k]
        return np.array(front, dtype=np.int64)

    def __repr__(self) -> str:
        return (f"<Sweep {self.model}: {self.size:,} variants ({int(self.valid.sum()):,} possible) x "
                f"{len(self.procedures)} procedures, {len(self.mcus)} MCUs>")

    def to_dataframe(self):
        """``rows()`` as a pandas DataFrame (pandas is imported here only)."""
        from .results import pandas

        return pandas().DataFrame(self.rows())

    def _repr_html_(self) -> str:
        """Jupyter's display: the tables ``learncost sweep`` prints."""
        from .report.html import tables_html
        from .report.sweep_report import tables

        return tables_html(tables(self))

    def rows(self) -> list[dict[str, Any]]:
        """One row per possible variant, procedure and phase, in the shape of ``analyze``'s rows."""
        return [row for block in self.row_blocks() for row in block_rows(block)]

    def row_blocks(self, variants: int | None = None) -> Iterator[list[dict[str, list]]]:
        """``rows()`` by blocks of at most ``variants`` (default ``ROW_BLOCK``) possible variants, column
        by column: for each (procedure, phase), row key -> one value per variant of the block. A writer
        holds one block at a time, so its memory does not grow with the sweep."""
        variants = variants or ROW_BLOCK
        valid = np.flatnonzero(self.valid)
        for start in range(0, len(valid), variants):
            idx = valid[start:start + variants]
            head = {"variant": idx.tolist()}
            values = [a[idx].tolist() for a in self.grid.values()]
            head.update(zip(self.grid, values))
            yield [{**head, "procedure": [p.id] * len(idx), "phase": [phase] * len(idx),
                    **self._figures_at(p.id, phase, idx)} for p in self.procedures for phase in PHASES]

    def _figures_at(self, procedure: str, phase: str, idx: np.ndarray) -> dict[str, list]:
        """Row key -> value for the variants ``idx``, for one procedure's phase (``rows()``'s figures)."""
        key, k = (procedure, phase), len(idx)
        ram, params, flash = self.ram[key][idx], self.params[key][idx], self.flash[key][idx]
        out = {"macc": self.macc[key][idx].tolist(), "forward_macc": self.forward_macc[idx].tolist(),
               "params_bytes": params.tolist(), "ram_bytes": ram.tolist(), "samples": self.samples[key][idx].tolist()}
        none = [None] * k
        for m in self.mcus:
            ms = self.latency_ms(procedure, phase, m, idx)
            spread = None if ms is None else self.rates[m.id].spread_for(phase)
            mj = None if ms is None else self.rates[m.id].energy_mj(ms)  # as energy_mj, from the latency at hand
            out[f"latency_ms[{m.id}]"] = none if ms is None else ms.tolist()
            out[f"latency_ms_low[{m.id}]"] = none if spread is None else (ms * spread[0]).tolist()
            out[f"latency_ms_high[{m.id}]"] = none if spread is None else (ms * spread[1]).tolist()
            out[f"energy_mj[{m.id}]"] = none if mj is None else mj.tolist()
            if phase == "training":
                out[f"train_hours[{m.id}]"] = (none if ms is None or self.dataset is None
                                               else self.dataset.train_hours(ms).tolist())
                out[f"train_energy_wh[{m.id}]"] = (none if mj is None or self.dataset is None
                                                   else self.dataset.train_energy_wh(mj).tolist())
            out[f"fits[{m.id}]"] = _verdicts(ram, params, flash, m)
        return out


def block_rows(block: list[dict[str, list]]) -> list[dict[str, Any]]:
    """The rows of one of ``Sweep.row_blocks``'s blocks, in ``Sweep.rows``'s order."""
    return interleave([[dict(zip(cols, values)) for values in zip(*cols.values())] for cols in block])


def interleave(parts: list[list]) -> list:
    """Parts of equal length merged element by element: the first of each part, then the second..."""
    out: list = [None] * sum(map(len, parts))
    for j, part in enumerate(parts):
        out[j::len(parts)] = part
    return out


def _verdicts(ram: np.ndarray, params: np.ndarray, flash: np.ndarray, mcu: MCU) -> list:
    """The verdict ``analyze`` gives each variant (``fit.check``; a board missing one capacity can still
    say no). A verdict depends only on whether RAM and flash each fit, so ``check`` is asked once per
    outcome, on a variant that has it."""
    outcome = np.zeros(len(ram), dtype=np.int64)
    for weight, capacity, need in ((2, mcu.sram_bytes, ram), (1, mcu.flash_bytes, flash)):
        if capacity is not None:
            outcome += weight * (need <= capacity)
    kinds, first = np.unique(outcome, return_index=True)
    verdict = {int(o): check_fit(int(ram[i]), int(params[i]), mcu, flash_need=int(flash[i])).fits
               for o, i in zip(kinds, first)}
    return [verdict[o] for o in outcome.tolist()]


def parse_values(text: str) -> tuple[str, list]:
    """``alpha=0.25,0.5`` or ``resolution=64:128:16`` (start:stop:step, stop included) -> name, values."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise LearncostError(f"--param {text!r} is not NAME=VALUES", hint="e.g. --param alpha=0.25,0.5")
    rest = rest.strip()
    if not rest:
        raise LearncostError(f"--param {name}= has no values", hint="e.g. --param alpha=0.25,0.5 or resolution=64:128:16")
    values: list = []
    for item in rest.split(","):
        item = item.strip()
        if ":" in item:
            values += _range(name, item)
        else:
            values.append(_number(name, item))
    return name, values


def _number(name: str, item: str):
    try:
        return int(item)
    except ValueError:
        pass
    try:
        value = float(item)
    except ValueError:
        raise LearncostError(f"--param {name}: {item!r} is not a number",
                             hint="values are numbers separated by commas, or start:stop:step") from None
    if not np.isfinite(value):
        raise LearncostError(f"--param {name}: {item!r} is not a finite number")
    return value


def _range(name: str, item: str) -> list:
    parts = item.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise LearncostError(f"--param {name}: {item!r} is not start:stop:step")
    start, stop, step = (_number(name, p) for p in parts)
    if step <= 0 or stop < start:
        raise LearncostError(f"--param {name}: {item!r} needs start <= stop and a positive step")
    count = int(round((stop - start) / step, 9)) + 1
    if count > 1_000_000:
        raise LearncostError(f"--param {name}: {item!r} gives {count:,} values", hint="use a larger step")
    if all(isinstance(x, int) for x in (start, stop, step)):
        return list(range(start, stop + 1, step))
    return [round(start + k * step, 12) for k in range(count)]


def _grid(values: Mapping[str, list]) -> dict[str, np.ndarray]:
    names = list(values)
    if not names:
        return {}
    axes = [np.asarray(values[n], dtype=np.int64 if all(isinstance(x, int) for x in values[n]) else np.float64)
            for n in names]
    mesh = np.meshgrid(*axes, indexing="ij")  # the first parameter varies slowest, as itertools.product
    return {n: m.ravel() for n, m in zip(names, mesh)}


def run(spec: Any, values: Mapping[str, Iterable] | None = None, procedures: Iterable[str | Procedure] | None = None,
        mcus: Iterable[str | MCU] | None = None, dataset: str | Dataset | None = None, *,
        progress: Progress | None = None, setup: Any = None, memory: str | None = None,
        engine: str | None = None) -> Sweep:
    """Evaluate every combination of ``values`` (parameter -> values; the others keep their
    defaults) for a spec (a built-in id, a spec file, or a parsed spec dict) under a setup (a
    preset id, a setup file or a ``Setup``; default the paper's), whose declared parameters may
    be swept too. ``engine`` times every board with that engine (``analysis.analyze``).

        >>> from learncost import sweep
        >>> s = sweep.run("kws", {"filters": [32, 64]}, ["bp"], ["disco-f746ng"])
        >>> s.macc[("bp", "training")].tolist()  # at 64 filters, the paper's DS-CNN
        [2297392, 7666544]
    """
    data, origin, model_id = _spec(spec)
    declared = P.declared(data, origin)
    if isinstance(setup, S.Setup):
        setup_data, setup_origin, setup_declared = None, setup.key, {}
        base_setup = setup
    else:
        setup_data, setup_origin = S.source_data(setup or "paper")
        setup_declared = S.declared_parameters(setup_data, setup_origin)
        base_setup = S.build(setup_data, setup_origin)
    clash = sorted(set(declared) & set(setup_declared))
    if clash:
        raise SpecError(f"parameter {clash[0]!r} is declared by both the model and the setup", location=origin,
                        hint="rename it in one of them")
    chosen: dict[str, list] = {}
    for name, vals in (values or {}).items():
        vals = list(vals)
        if name not in declared and name not in setup_declared:
            raise SpecError(f"parameter {name!r} is not declared", location=origin,
                            hint=f"declared: {', '.join([*declared, *setup_declared]) or 'none'}")
        if not vals:
            raise LearncostError(f"parameter {name!r} has an empty list of values")
        chosen[name] = list(dict.fromkeys(vals))
    swept = {name: chosen.get(name, [p.default]) for name, p in {**declared, **setup_declared}.items()}
    total = math.prod(len(vals) for vals in swept.values())
    if total > MAX_VARIANTS:
        raise LearncostError(f"the sweep has {total:,} variants, more than {MAX_VARIANTS:,}",
                             hint="use fewer values or a larger step")
    grid = _grid(swept)
    n = len(next(iter(grid.values()))) if grid else 1

    procs = resolve_procedures(procedures)
    boards = resolve_names(mcus, get_mcu, all_mcus().values())
    if isinstance(dataset, str):
        dataset = get_dataset(dataset)
    elif dataset is None and data.get("dataset"):
        dataset = get_dataset(data["dataset"])

    result = Sweep(model=model_id or str(data.get("id") or data.get("name") or origin), origin=origin, values=swept,
                   descriptions={k: p.description or "" for k, p in {**declared, **setup_declared}.items()}, grid=grid,
                   procedures=procs, mcus=boards, dataset=dataset, valid=np.zeros(n, dtype=bool), errors={},
                   forward_macc=np.zeros(n, dtype=np.int64), params_bytes=np.zeros(n, dtype=np.int64),
                   setup=base_setup, memory=memory or base_setup.memory,
                   setup_parameters=tuple(setup_declared),
                   rates={m.id: engine_rates(m, engine) for m in boards})
    for proc in procs:
        for phase in PHASES:
            for table in (result.macc, result.ram, result.flash, result.params, result.samples):
                table[(proc.id, phase)] = np.zeros(n, dtype=np.int64)
            for m_id, r in result.rates.items():
                if r is not None and r.engine != PAPER:
                    result.cycles[(proc.id, phase, m_id)] = np.zeros(n)

    model_grid = {k: v for k, v in grid.items() if k in declared}
    # variants that differ only in one repeat's count share a pass over the union of their layer lists;
    # the limit on the layers of lists evaluated apart applies where they cannot (checked before any pass)
    eligible = union.eligible(procs, result.memory, base_setup)
    structure = [np.broadcast_to(np.asarray(k if k is not None else -1), (n,))
                 for k in P.structure(data, model_grid, origin, lists=not eligible)]
    key = union.axis(structure, len(structure) - 1) if eligible else None
    if eligible and key is None:
        P.structure(data, model_grid, origin)
    keys = [k for j, k in enumerate(structure) if j != key]
    keys += [np.asarray(grid[k], dtype=np.float64) for k in setup_declared]
    _, group_of = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)
    context = _Context(data, origin, setup_data, setup_origin, base_setup, tuple(declared), tuple(setup_declared),
                       lambda: P.structure(data, model_grid, origin))
    done = 0
    for g in range(int(group_of.max()) + 1):
        members = np.flatnonzero(group_of.ravel() == g)
        for start in range(0, len(members), CHUNK):
            chunk = members[start:start + CHUNK]
            if key is not None and len(np.unique(structure[key][chunk])) > 1:
                _evaluate_union(result, context, chunk, key, structure[key][chunk])
            else:
                _evaluate_group(result, context, chunk)
            done += len(chunk)
            if progress:
                progress(done, n)
    if not result.valid.any():
        first = min(result.errors)
        raise SpecError(f"no variant can be built; at {result.label(first)}: {result.errors[first]}", location=origin)
    return result


@dataclass(frozen=True)
class _Context:
    data: dict
    origin: str
    setup_data: dict | None
    setup_origin: str
    setup: S.Setup
    model_parameters: tuple[str, ...]
    setup_parameters: tuple[str, ...]
    #: refuses, as a limit, a sweep whose layer lists are too many to evaluate apart (``params.structure``)
    check_lists: Callable[[], Any] = lambda: None

    def setup_at(self, result: Sweep, variant: int) -> S.Setup:
        if not self.setup_parameters:
            return self.setup
        values = {k: result.grid[k][variant].item() for k in self.setup_parameters}
        return S.build(self.setup_data, self.setup_origin, values)

    def model_values(self, result: Sweep, members) -> dict:
        return {k: v[members] for k, v in result.grid.items() if k in self.model_parameters}


def _spec(spec: Any) -> tuple[dict, str, str | None]:
    if isinstance(spec, dict):
        return spec, "spec", None
    from pathlib import Path

    from .zoo import SPEC_SUFFIXES, builtin_spec, canonical

    if isinstance(spec, str) and canonical(spec):
        model_id = canonical(spec)
        return builtin_spec(model_id), f"{model_id}.yaml", model_id
    from .safe_read import is_regular, stat_input

    path = Path(spec)
    st = stat_input(path)  # a path the OS refuses (a name too long, no permission) is one error line
    if path.suffix.lower() not in SPEC_SUFFIXES or not is_regular(st):
        if st is None and not path.suffix:
            from .errors import UnknownNameError
            from .zoo import builtin_ids

            raise UnknownNameError("model", str(spec), builtin_ids() + ["or a spec file (.yaml/.toml)"])
        raise LearncostError(f"{spec}: a sweep needs a model spec (.yaml/.toml) or a built-in id",
                             hint="parameters are declared in specs; imported files have none")
    return read_spec(path), path.name, None


def _evaluate_group(result: Sweep, ctx: _Context, members: np.ndarray) -> None:
    try:
        _evaluate(result, ctx, members)
        return
    except SpecError:
        pass
    # Some variant is impossible: its own scalar build says why; the others go together again.
    ok = []
    for v in members:
        try:
            model = model_from_data(ctx.data, origin=ctx.origin,
                                    values={k: result.grid[k][v].item() for k in ctx.model_parameters})
            Evaluator(model, ctx.setup_at(result, v), memory=result.memory)
            ok.append(v)
        except SpecError as exc:
            result.errors[int(v)] = exc.line().removeprefix(f"{ctx.origin}: ")
    if ok:
        _evaluate(result, ctx, np.asarray(ok))


def _first(obj: Any) -> Any:
    """The spec of a group's first variant: each per-variant array replaced by its first value."""
    if isinstance(obj, dict):
        return {k: _first(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_first(v) for v in obj]
    return obj.flat[0].item() if isinstance(obj, np.ndarray) else obj


def _evaluate_union(result: Sweep, ctx: _Context, members: np.ndarray, key: int, counts: np.ndarray) -> None:
    """Variants whose layer lists differ in the count of one repeat (structure key ``key``): one pass over
    the union of their lists where that gives each one's own figures (``union``), else one pass per count."""
    try:
        if _evaluate(result, ctx, members, key):
            return
    except SpecError:
        pass  # some variant is impossible: the count that has it says why
    ctx.check_lists()  # one pass per count from here: within the limit, or refused before that work
    for count in np.unique(counts):
        _evaluate_group(result, ctx, members[counts == count])


def _evaluate(result: Sweep, ctx: _Context, members: np.ndarray, key: int | None = None) -> bool:
    """Evaluates ``members`` in one pass; with ``key``, over the union of their layer lists, which it
    declines (False, nothing recorded) where the union would not be exact."""
    values = ctx.model_values(result, members)
    setup = ctx.setup_at(result, int(members[0]))
    region = None
    if key is None:
        concrete = P.resolve(ctx.data, values, ctx.origin)
    else:
        resolved = None if union.selects_by_position(setup) else \
            union.resolve(ctx.data, values, ctx.origin, key, len(members))
        if resolved is None:
            return False
        concrete, region = resolved
    # one variant through pydantic checks the structure and field types for the group
    header = validate_spec(_first(concrete), origin=ctx.origin).model_dump(by_alias=True, exclude_none=True,
                                                                         exclude={"layers"})
    model = assemble(header, concrete["input"]["shape"], concrete["layers"], origin=ctx.origin)
    plan, copies = None, None
    if region is not None:
        copies = union.copies(model, region)
        # where some variant's figures could pass int64, each count goes alone (and sets it aside)
        if overflow.too_large(model, setup.batch, copies) is not None:
            return False
        plan = Plan(model, setup)
        if union.check(model, plan, region, concrete["layers"], result.procedures) is not None:
            return False
    else:
        safe = overflow.set_aside(result, model, members, scale=setup.batch)
        if safe is not None:  # some variants' figures could pass int64: the rest are evaluated without them
            if len(safe):
                _evaluate(result, ctx, safe)
            return True
    n = len(members)

    def per_variant(x) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=np.int64), (n,))

    ev = Evaluator(model, setup, memory=result.memory, plan=plan, copies=copies)
    timed = [(m_id, r) for m_id, r in result.rates.items() if r is not None and r.engine != PAPER]
    result.params_bytes[members] = per_variant(ev.sizes.all_params())
    result.forward_macc[members] = per_variant(sum(c["forward"] for c in ev.costs))
    for proc in result.procedures:
        for phase_name in PHASES:
            f = ev.figures(proc, phase_name)
            key = (proc.id, phase_name)
            result.macc[key][members] = per_variant(f.macc)
            result.ram[key][members] = per_variant(f.ram_bytes)
            result.flash[key][members] = per_variant(f.flash_bytes)
            result.params[key][members] = per_variant(f.params_bytes)
            result.samples[key][members] = f.samples
            if timed:
                split = ev.breakdown(proc, phase_name)
                for m_id, r in timed:
                    result.cycles[(proc.id, phase_name, m_id)][members] = engine_cycles(r, split, model, copies)
    result.valid[members] = True
    return True
