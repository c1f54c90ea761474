"""Arena planners: where each tensor of a schedule sits in one block of RAM, with reuse.

A schedule says which tensors are live at each step; a runtime must also give each one an
offset in its arena such that no two tensors live at the same step overlap. The arena is then
the highest end of any tensor; beyond the live peak (a lower bound for any layout) the
difference is fragmentation.

``greedy`` is the placement TFLite Micro's GreedyMemoryPlanner makes (tensorflow/lite/micro/
memory_planner/greedy_memory_planner.cc, restated): tensors in order of decreasing size, each at
the lowest offset where it overlaps, in memory, none of the already placed tensors whose lives
overlap its own; sizes rounded up to the runtime's alignment first. Tensors resident for the whole
phase (parameters in SRAM, optimizer state, gradient buffers, F in RAM) are not planned: they are
fixed allocations beside the arena, as TFLite Micro's persistent tail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .schedules import Schedule, Tensor

#: TFLite Micro's buffer alignment (MicroArenaBufferAlignment(), 16 bytes)
TFLM_ALIGNMENT = 16


@dataclass(frozen=True)
class Placement:
    tensor: Tensor
    offset: int
    size: int  # the tensor's bytes rounded up to the alignment

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass
class ArenaPlan:
    placements: list[Placement]
    arena: int  # the highest end: the arena's size
    alignment: int
    live_peak: int  # the most (aligned) bytes live at one step: no layout needs less
    live_at: int  # the step of that peak
    persistent: list[Tensor] = field(default_factory=list)

    @property
    def fragmentation(self) -> int:
        return self.arena - self.live_peak

    @property
    def persistent_bytes(self) -> int:
        return sum(int(t.bytes) for t in self.persistent)


def align(n: int, alignment: int) -> int:
    return -(-int(n) // alignment) * alignment


def greedy(schedule: Schedule, counted: Callable[[str], bool] = lambda role: True, alignment: int = 1,
           variant: int | None = None, order: Callable[[Tensor], int] | None = None) -> ArenaPlan:
    """Largest first, each at the lowest offset clear of every placed tensor whose life overlaps its own.
    Equal sizes: the later tensor first (TFLite Micro reverses its list, then sorts stably), ``order``
    saying which is later (default: the schedule's order of creation). ``variant`` picks one sweep
    variant's sizes where the schedule's bytes are arrays."""
    def nbytes(t: Tensor) -> int:
        return int(t.bytes[variant]) if variant is not None and hasattr(t.bytes, "shape") else int(t.bytes)

    tensors = [t for t in schedule.tensors if counted(t.role) and nbytes(t) > 0]
    sizes = [align(nbytes(t), alignment) for t in tensors]
    rank = [order(t) for t in tensors] if order else list(range(len(tensors)))
    placed: list[Placement] = []
    index = _LifeIndex()
    for k in sorted(range(len(tensors)), key=lambda k: (-sizes[k], -rank[k])):
        t = tensors[k]
        size = sizes[k]
        # the placed tensors whose lives overlap this one, by offset (equal offsets: the earlier placed first)
        clashes = sorted(index.overlapping(t.first, t.last), key=lambda i: (placed[i].offset, i))
        offset = 0
        for i in clashes:
            p = placed[i]
            if offset + size <= p.offset:
                break  # the gap before p holds it
            offset = max(offset, p.end)
        index.add(len(placed), t.first, t.last)
        placed.append(Placement(t, offset, size))
    arena = max((p.end for p in placed), default=0)
    peak, at = _live_peak(placed, len(schedule.steps))
    persistent = [t for t in schedule.persistent if counted(t.role)]
    if variant is not None:
        persistent = [Tensor(t.name, t.role, nbytes(t), t.first, t.last, t.layer) for t in persistent]
    return ArenaPlan(sorted(placed, key=lambda p: (p.offset, p.tensor.first)), arena, alignment, peak, at, persistent)


class _LifeIndex:
    """Placed tensors by the steps they live at, so that a new tensor is compared with those its life
    overlaps and not with every placed one: short lives go in buckets of BLOCK steps, long ones
    (every saved activation of a backward pass) in a list every query reads."""

    BLOCK = 16
    LONG = 64

    def __init__(self):
        self.buckets: dict[int, list[int]] = {}
        self.long: list[int] = []
        self.lives: list[tuple[int, int]] = []

    def add(self, i: int, first: int, last: int) -> None:
        self.lives.append((first, last))
        if last - first > self.LONG:
            self.long.append(i)
            return
        for b in range(first // self.BLOCK, last // self.BLOCK + 1):
            self.buckets.setdefault(b, []).append(i)

    def overlapping(self, first: int, last: int) -> set[int]:
        found = set(self.long)
        for b in range(first // self.BLOCK, last // self.BLOCK + 1):
            found.update(self.buckets.get(b, ()))
        return {i for i in found if self.lives[i][0] <= last and first <= self.lives[i][1]}


def _live_peak(placed: list[Placement], steps: int) -> tuple[int, int]:
    delta = [0] * (steps + 1)
    for p in placed:
        delta[p.tensor.first] += p.size
        delta[p.tensor.last + 1] -= p.size
    best, at, running = 0, 0, 0
    for k in range(steps):
        running += delta[k]
        if running > best:
            best, at = running, k
    return best, at


def check(plan: ArenaPlan) -> list[str]:
    """Every pair of tensors live at a common step and overlapping in memory (empty for a valid plan)."""
    bad = []
    by_step: dict[int, list[Placement]] = {}
    for p in plan.placements:
        for k in range(p.tensor.first, p.tensor.last + 1):
            by_step.setdefault(k, []).append(p)
    seen = set()
    for k, ps in by_step.items():
        ps = sorted(ps, key=lambda p: p.offset)
        for a, b in zip(ps, ps[1:]):
            if b.offset < a.end and (a.tensor.name, b.tensor.name) not in seen:
                seen.add((a.tensor.name, b.tensor.name))
                bad.append(f"{a.tensor.name} [{a.offset}, {a.end}) and {b.tensor.name} [{b.offset}, {b.end}) at step {k}")
    return bad
