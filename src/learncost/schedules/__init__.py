"""Schedules: the ordered steps of one phase of a procedure under a setup, and every tensor's life.

A schedule is built by replaying the procedure step by step, in the order its reference
implementation (``verify/reference.py``) executes it, without computing anything: each tensor
(role, bytes) is live from the step that creates it to the last step that reads it. A step is
a moment the reference samples what it holds: while a layer runs, its inputs, its output and
everything still waiting for a later reader. Tensors that live and die inside one step (a
weight gradient applied as it is computed) are never live at a step.

Persistent tensors (parameters resident in SRAM, optimizer state, gradient buffers, PEPITA's F
in RAM) live through the whole phase. The ``live`` planner takes the peak of the bytes live at
one step: a lower bound for any layout of the tensors in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..errors import LearncostError


@dataclass
class Tensor:
    name: str
    role: str
    bytes: Any  # an int, or an array with one value per sweep variant
    first: int  # first step it is live at
    last: int = -1  # last step it is live at (-1 while still held)
    layer: str | None = None

    @property
    def label(self) -> str:
        return self.name


@dataclass
class Schedule:
    steps: list[str] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    persistent: list[Tensor] = field(default_factory=list)

    # -- building (a replay of the reference, in its order) ----------------------------------------

    def new(self, name: str, role: str, nbytes: Any, layer: str | None = None) -> Tensor:
        """A tensor created now: live at the next sample."""
        t = Tensor(name, role, nbytes, len(self.steps), -1, layer)
        self.tensors.append(t)
        return t

    def keep(self, name: str, role: str, nbytes: Any, layer: str | None = None) -> Tensor:
        """A tensor live through the whole phase."""
        t = Tensor(name, role, nbytes, 0, -1, layer)
        self.persistent.append(t)
        return t

    def sample(self, label: str) -> None:
        self.steps.append(label)

    def free(self, t: Tensor) -> None:
        """Released now: its last sample was the latest one (never live if none was taken since it was made)."""
        t.last = len(self.steps) - 1

    def close(self) -> "Schedule":
        end = len(self.steps) - 1
        for t in self.tensors:
            if t.last == -1:
                t.last = end
        self.tensors = [t for t in self.tensors if t.last >= t.first]
        for t in self.persistent:
            t.first, t.last = 0, end
        return self


@dataclass(frozen=True)
class LivePeak:
    bytes: Any  # the peak of live bytes (an array in a sweep: one peak per variant)
    at: str | None  # the step of the peak (None in a sweep)
    by_role: dict[str, Any]
    tensors: tuple[tuple[str, str, Any], ...]  # (name, role, bytes) live at the peak
    timeline: tuple[Any, ...] = ()  # bytes live at each step


def live_peak(schedule: Schedule, counted: Callable[[str], bool] = lambda role: True) -> LivePeak:
    """The most bytes live at one step, over the counted roles; linear in the number of tensors."""
    n = len(schedule.steps)
    if n == 0:
        raise LearncostError("the schedule has no steps")
    base = sum(t.bytes for t in schedule.persistent if counted(t.role))
    delta: list[Any] = [0] * (n + 1)
    for t in schedule.tensors:
        if counted(t.role):
            delta[t.first] = delta[t.first] + t.bytes
            delta[t.last + 1] = delta[t.last + 1] - t.bytes
    totals, running = [], base
    for k in range(n):
        running = running + delta[k]
        totals.append(running)
    batched = any(hasattr(x, "shape") for x in totals)
    if batched:
        import functools

        import numpy

        return LivePeak(functools.reduce(numpy.maximum, totals), None, {}, ())
    best = max(range(n), key=totals.__getitem__)
    live = [t for t in schedule.persistent if counted(t.role)]
    live += [t for t in schedule.tensors if counted(t.role) and t.first <= best <= t.last]
    by_role: dict[str, Any] = {}
    for t in live:
        by_role[t.role] = by_role.get(t.role, 0) + t.bytes
    return LivePeak(totals[best], schedule.steps[best], by_role, tuple((t.name, t.role, t.bytes) for t in live),
                    tuple(totals))


# -- the builders, one per procedure ---------------------------------------------------------------

Builder = Callable[..., Schedule]
BUILDERS: dict[str, dict[str, Builder]] = {}


def builder(procedure: str, phase: str):
    def register(fn: Builder) -> Builder:
        BUILDERS.setdefault(procedure, {})[phase] = fn
        return fn

    return register


def builder_for(procedure, phase: str) -> Builder | None:
    """A procedure's own schedule (its declaration's ``schedules``), else the one registered for its id."""
    own = getattr(procedure, "schedules", None) or {}
    if phase in own:
        return own[phase]
    _load()
    return BUILDERS.get(getattr(procedure, "id", procedure), {}).get(phase)


def has_schedule(procedure, phase: str) -> bool:
    return builder_for(procedure, phase) is not None


def build(procedure, phase: str, model, plan, sizes) -> Schedule:
    """The schedule of a procedure's phase (a ``Procedure`` or its id)."""
    fn = builder_for(procedure, phase)
    if fn is None:
        name = getattr(procedure, "id", procedure)
        raise LearncostError(f"procedure {name!r} has no {phase} schedule, so no live memory",
                             hint="use --memory paper")
    return fn(model, plan, sizes).close()


def _load() -> None:
    from . import bp, ff, inference, pepita  # noqa: F401  (register the builders)


def build_tflm(model, plan, sizes) -> Schedule:
    """Inference as TFLite Micro plans it (any procedure's inference is one forward pass)."""
    from .tflm import tflm_inference

    return tflm_inference(model, plan, sizes).close()


def names(tensors: Iterable[Tensor]) -> list[str]:
    return [t.name for t in tensors]
