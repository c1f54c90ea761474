"""Inference and training engines as data: rates per layer kind on a board, with the spread they carry.

``engines.yaml`` is fitted by ``learncost.calibrate`` (its docstring states the model and the data). A
board runs an engine's profile when the engine was measured on a board of the same core; the engine
``paper`` is the one-number model the paper uses (a board's cycles/MACC for every MACC), the default of
``learncost paper`` and of boards no profile covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .catalog import MCU, _data, submissions
from .errors import LearncostError

PAPER = "paper"
#: the rate classes an engine profile gives cycles/MACC for, in the order sums over them are taken
RATE_CLASSES = ("conv", "depthwise", "dense")
#: layer kind -> rate class; every other kind (pools, element-wise, normalization) runs at the dense rate: no
#: benchmark separates them, and like a dense layer they stream each operand once
KIND_CLASS = {"conv2d": "conv", "conv2d_transpose": "conv", "depthwise_conv2d": "depthwise", "dense": "dense",
              "matmul": "dense"}


def kind_class(kind: str) -> str:
    return KIND_CLASS.get(kind, "dense")


@lru_cache(maxsize=None)
def profiles() -> dict[str, dict]:
    return _data("engines.yaml")


@dataclass(frozen=True)
class Rates:
    """What an engine costs on one board: cycles per MACC by rate class, the board's clock, the spread of
    its calibration (true / predicted, low and high) and the board's measured power under the engine."""

    engine: str
    board: str
    clock_mhz: float
    cycles_per_macc: dict[str, float]
    overhead_cycles: float = 0.0
    spread: tuple[float, float] | None = None
    power_mw: float | None = None
    power_range: tuple[float, float] | None = None
    basis: str = ""
    origin: str = ""  # "measured on this board" or where the profile was transferred from
    #: training rows of an inference-only profile: how much longer a measured training engine ran than
    #: forward-rate kernels predict (``calibrate.backward_allowance``), the high end of their range
    training_allowance: float | None = None

    def spread_for(self, phase: str) -> tuple[float, float] | None:
        if phase != "training" or not self.training_allowance:
            return self.spread
        lo, hi = self.spread or (1.0, 1.0)
        return lo, hi * self.training_allowance

    def rate(self, kind: str) -> float:
        return self.cycles_per_macc[kind_class(kind)]

    def ms(self, macc, kind: str):
        """Latency of ``macc`` MACC of a layer of ``kind``: MACC x c_k / clock (ms)."""
        return macc * self.rate(kind) / (self.clock_mhz * 1e3)

    def energy_mj(self, ms):
        """Energy of ``ms`` milliseconds at the board's measured power: mJ = ms x mW / 1000 (None without one)."""
        return None if self.power_mw is None else ms * self.power_mw / 1e3


def latency_ms(mcu: MCU, rates: "Rates", macc_per_sample, cycles_total, samples):
    """Latency per sample: under ``paper`` the sheet's MACC x cycles/MACC / clock (``MCU.latency_ms``), under an
    engine profile its cycles (``cycles``, the phase's ``samples`` together) / samples / clock."""
    if rates.engine == PAPER:
        return mcu.latency_ms(macc_per_sample)
    return cycles_total / samples / (rates.clock_mhz * 1e3)


def _spread_of_residuals(boards: dict) -> tuple[float, float] | None:
    """true / predicted = 1 / (1 + residual), over every benchmark of every board of the core."""
    ratios = [1 / (1 + r) for b in boards.values() for r in (b or {}).get("residuals", {}).values()]
    return (min(ratios), max(ratios)) if ratios else None


def _power(board: str) -> tuple[float | None, tuple[float, float] | None, str | None]:
    """The board's median power over its measured benchmarks, under the first engine that measured it."""
    for engine, p in profiles().items():
        for core in p["cores"].values():
            watts = ((core.get("boards") or {}).get(board) or {}).get("power_mw")
            if watts:
                from statistics import median

                values = list(watts.values())
                return median(values), (min(values), max(values)), engine
    return None, None, None


def measured_engines(mcu: MCU) -> list[str]:
    """The engine profiles fitted on this board's own measurements (``learncost mcus``)."""
    return [e for e, p in profiles().items() if any(mcu.id in (core.get("boards") or {}) for core in p["cores"].values())]


def engines_for(mcu: MCU) -> list[str]:
    """The engines a board can be costed with: ``paper`` where it has a cycles/MACC, then each profile
    measured on a board of its core."""
    out = [PAPER] if mcu.cycles_per_macc is not None else []
    return out + [e for e, p in profiles().items() if mcu.core in p["cores"]]


def default_engine(mcu: MCU) -> str:
    """The board's own measured engine where it has a profile; ``paper`` otherwise."""
    if mcu.cycles is not None:  # a stated cycles/MACC (the paper's boards, the command line's) is the paper's model
        return PAPER
    own = mcu.measured and next((s.engine for s in submissions() if s.board == mcu.id and s.round == "v1.0"), None)
    if own and own in profiles() and mcu.core in profiles()[own]["cores"]:
        return own
    return PAPER


def cycles(rates: "Rates", breakdown: dict, model, copies: dict | None = None):
    """Cycles of a phase (``breakdown``: layer -> operation -> MACC of ``model``): sum over rate classes k
    of c_k x (the MACC of the layers of that class), plus the overhead per kernel call (one per layer and
    operation that does work, per copy of the layer where a sweep's union weighs it, ``copies``).

    The same sum as layer by layer (each layer's operations at its kind's rate), written as the
    calibration fits it (``calibrate.fit``): the MACC are added as integers, exactly, so that the
    float result does not depend on the order or grouping of layers (a sweep's union and each
    variant's own list give the same bits)."""
    by_class: dict[str, Any] = {}
    calls: Any = 0
    copies = copies or {}
    counted = bool(rates.overhead_cycles)  # every shipped profile has none: no calls to count
    for layer, ops in breakdown.items():
        cls = kind_class(model.by_name[layer].kind)
        k = copies.get(layer)
        for macc in ops.values():
            by_class[cls] = by_class.get(cls, 0) + macc
            if counted:
                made = (macc != 0) if hasattr(macc, "shape") else 1
                calls = calls + (made if k is None else made * k)
    total = sum(by_class[cls] * rates.cycles_per_macc[cls] for cls in RATE_CLASSES if cls in by_class)
    return total + rates.overhead_cycles * calls


def rates(mcu: MCU, engine: str | None = None) -> Rates | None:
    """The board's rates under ``engine`` (default: ``default_engine``); None where nothing times it."""
    engine = engine or default_engine(mcu)
    if not mcu.clock_mhz:
        return None  # no clock, no time
    power, power_range, power_engine = _power(mcu.id)
    if engine == PAPER:
        if mcu.cycles_per_macc is None:
            return None
        c = mcu.cycles_per_macc
        spread = None
        if mcu.cycles is None and mcu.derivation():  # a median: the benchmarks' own values bound it
            values = mcu.derivation().values()
            spread = (min(values) / c, max(values) / c)
        return Rates(PAPER, mcu.id, mcu.clock_mhz, dict.fromkeys(("conv", "depthwise", "dense"), c),
                     spread=spread, power_mw=power, power_range=power_range,
                     basis="one cycles/MACC for every MACC (the paper's model)"
                           + (f"; power measured under {power_engine}" if power else ""))
    p = profiles().get(engine)
    if p is None or mcu.core not in p["cores"]:
        have = ", ".join(engines_for(mcu)) or "none (give --cycles-per-macc)"
        problem = (f"unknown engine {engine}" if p is None
                   else f"engine {engine} has no profile for {mcu.id} ({mcu.core or 'core unknown'})")
        raise LearncostError(f"{problem}; engines for {mcu.id}: {have}", code="LC-UNKNOWN-ENGINE")
    core = p["cores"][mcu.core]
    boards = core.get("boards") or {}
    if "range" in core:
        c = core["cycles_per_macc"]["conv"]
        spread = (core["range"][0] / c, core["range"][1] / c)
    else:
        spread = _spread_of_residuals(boards)
    own = ((boards.get(mcu.id) or {}).get("power_mw"))
    if own:
        from statistics import median

        values = list(own.values())
        power, power_range, power_engine = median(values), (min(values), max(values)), engine
    where = "measured on this board" if mcu.id in boards else f"transferred from {', '.join(boards)} ({mcu.core})"
    return Rates(engine, mcu.id, mcu.clock_mhz, dict(core["cycles_per_macc"]), float(p.get("overhead_cycles", 0)),
                 spread=spread, power_mw=power, power_range=power_range,
                 basis=f"{p['name']}: {where}" + (f"; power measured under {power_engine}" if power else ""),
                 origin=where, training_allowance=p.get("training_allowance"))
