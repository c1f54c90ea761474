"""Activation memory: which buffers are live while each layer runs, and the paper's rules.

The paper assumes no buffer reuse: computing a layer allocates a new buffer. Its rules
(seed README, "RAM procedure") speak of "two consecutive layers"; on a graph with residual
branches the general form is the set of buffers live while a layer runs: its inputs, its
output, and any earlier output still waiting for a later consumer (a ResNet shortcut).
On a chain that set is exactly a pair of consecutive buffers.

Transient layers (zero-padding, reshape, INT8<->float converters) own no buffer here: their
consumers read through them. The sheet never counts them in its training sums; see the
errata for the places where it does count a padding buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from .ir import Model
from .layers import FLASH_KINDS, TRANSIENT_KINDS


@dataclass(frozen=True)
class Step:
    layer: str  # the layer being computed
    live: tuple[str, ...]  # buffers live meanwhile (its inputs, its output, pending shortcuts)
    touched: tuple[str, ...]  # its own inputs and output


@dataclass(frozen=True)
class Buffers:
    """The activation buffers of a model and the liveness schedule over them."""

    sizes: dict[str, int]  # buffer (owning layer) -> bytes
    steps: tuple[Step, ...]
    inputs: tuple[str, ...]  # the model's inputs' buffers (one, or a graph's several)
    every: dict[str, int]  # every layer's output in bytes, transient ones included
    owner: dict[str, str]  # layer -> the buffer its output lives in (itself, or what a transient layer reads)
    #: layer -> per sweep variant, its copies (``union``): 0 where a variant lacks it; a layer not listed, one
    copies: Mapping[str, Any] = field(default_factory=dict)

    def total(self, names: Iterable[str]) -> int:
        return sum(self.every[n] for n in names)

    def held(self, names: Iterable[str]) -> Any:
        """The bytes of ``names`` each variant holds: a weighed layer's buffer once per copy."""
        copies = self.copies
        return sum(self.every[n] * copies[n] if n in copies else self.every[n] for n in names)


def buffers(model: Model, *, transient: frozenset[str] = TRANSIENT_KINDS,
            size_delta: Mapping[str, int] | None = None, size_of: Callable | None = None,
            copies: Mapping[str, Any] | None = None) -> Buffers:
    """The buffers and their liveness; sizes are each layer's ``activation_bytes`` (its dtype) or,
    with ``size_of(layer)``, a setup's precision. ``copies``: the weighed layers of a sweep's union
    model (``peak`` says how the rules read them)."""
    size_delta = size_delta or {}
    owner: dict[str, str] = {}
    every = {layer.name: (size_of(layer) if size_of else layer.activation_bytes) + size_delta.get(layer.name, 0)
             for layer in model.layers}
    for layer in model.layers:
        transient_here = layer.kind in transient and layer.inputs
        owner[layer.name] = owner[layer.inputs[0]] if transient_here else layer.name
    flash = {layer.name for layer in model.layers if layer.kind in FLASH_KINDS}  # read from flash: no buffer
    sizes = {name: every[name] for name, own in owner.items() if own == name and name not in flash}
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    last_use = {name: order[name] for name in sizes}
    if owner[model.output.name] in last_use:
        last_use[owner[model.output.name]] = len(model.layers)
    for layer in model.layers:
        for src in layer.inputs:
            b = owner[src]
            if b in last_use:
                last_use[b] = max(last_use[b], order[layer.name])
    # one pass: a buffer joins the live set when its layer runs and leaves after its last reader
    expiring: dict[int, list[str]] = {}
    for b, last in last_use.items():
        expiring.setdefault(last, []).append(b)
    active: dict[str, None] = {}  # in layer order, as buffers join in that order
    steps = []
    for i, layer in enumerate(model.layers):
        if layer.name in sizes:
            active[layer.name] = None
        if layer.kind != "input" and layer.name in sizes:
            touched = tuple(dict.fromkeys([*(owner[s] for s in layer.inputs if owner[s] in sizes), layer.name]))
            steps.append(Step(layer.name, tuple(active), touched))
        for b in expiring.get(i, ()):
            del active[b]
    return Buffers(sizes, tuple(steps), tuple(layer.name for layer in model.inputs), every, owner, dict(copies or {}))


@dataclass(frozen=True)
class Peak:
    bytes: int
    at: str | None  # layer whose step sets the figure (None for whole-model sums)
    buffers: tuple[str, ...]  # the buffers summed, with repeats where a rule counts one twice


@dataclass(frozen=True)
class Candidate:
    """One moment a rule considers: these buffers, plus the largest of ``plus_largest_of``."""

    at: str | None
    buffers: tuple[str, ...]
    plus_largest_of: tuple[str, ...] = ()


#: a rule lists the moments whose total it takes the maximum of; the moments depend on the
#: graph only, so one list serves every variant of a sweep
MemoryRule = Callable[[Buffers], list[Candidate]]
CANDIDATES: dict[str, MemoryRule] = {}
RULE_DOCS: dict[str, str] = {}


def rule(name: str):
    def register(fn: MemoryRule) -> MemoryRule:
        CANDIDATES[name] = fn
        RULE_DOCS[name] = (fn.__doc__ or "").strip().splitlines()[0]
        return fn

    return register


def apply_rule(name: str, b: Buffers) -> Peak:
    """The peak a named rule gives: its largest candidate (the first, on a tie)."""
    return peak(b, CANDIDATES[name](b))


def peak(b: Buffers, candidates: list[Candidate]) -> Peak:
    """The candidate with the largest total. Buffer sizes may be numpy arrays (a sweep): the
    bytes are then per variant, and ``at``/``buffers`` are left empty.

    Weighed layers (``Buffers.copies``, a sweep's union of layer lists): a variant without a layer
    has no step there, so the candidate at that layer counts 0 for it; a layer it has k copies of
    (identical blocks) has k identical steps, one candidate; a whole-model sum (``at`` None) counts
    each buffer once per copy. A step the variant does have sees the union's buffers: the sweep
    weighs only a repeat whose blocks all end in the same shape, so the last block's output
    stands, at the same size, for the variant's last block's."""
    batched = any(hasattr(size, "shape") for size in b.sizes.values())
    copies = b.copies
    totals = []
    for c in candidates:
        total = b.held(c.buffers) if c.at is None and copies else b.total(c.buffers)
        if c.plus_largest_of:
            extra = [b.sizes[n] for n in c.plus_largest_of]
            total = total + (_elementwise_max(extra) if batched else max(extra))
        if c.at in copies:
            total = total * (copies[c.at] > 0)
        totals.append(total)
    if batched:
        return Peak(_elementwise_max(totals), None, ())
    best = max(range(len(totals)), key=totals.__getitem__)  # max() keeps the first of equals
    c = candidates[best]
    larger = (max(c.plus_largest_of, key=lambda n: b.sizes[n]),) if c.plus_largest_of else ()
    return Peak(totals[best], c.at, (*c.buffers, *larger))


def _elementwise_max(values: list):
    import functools

    import numpy

    return functools.reduce(numpy.maximum, values)


def _steps(b: Buffers, pick: Callable[[Step], Candidate]) -> list[Candidate]:
    """The inputs alone (before the first layer runs), then each layer's step."""
    return [Candidate(b.inputs[0], b.inputs), *(pick(step) for step in b.steps)]


@rule("all_buffers")
def all_buffers(b: Buffers) -> list[Candidate]:
    """Sum of the activation buffers of all layers (BP and PEPITA training: every activation is kept for the update)."""
    return [Candidate(None, tuple(b.sizes))]


@rule("largest_pair")
def largest_pair(b: Buffers) -> list[Candidate]:
    """Largest sum of two consecutive buffers, i.e. of the buffers live while one layer runs (inference)."""
    return _steps(b, lambda s: Candidate(s.layer, s.live))


@rule("largest_pair_plus_input")
def largest_pair_plus_input(b: Buffers) -> list[Candidate]:
    """Largest pair plus the input sample (FF: the input, with its embedded label, is kept for the second pass;
    a graph's every input)."""
    return _steps(b, lambda s: Candidate(s.layer, (*(i for i in b.inputs if i not in s.live), *s.live)))


@rule("largest_pair_plus_larger")
def largest_pair_plus_larger(b: Buffers) -> list[Candidate]:
    """Largest pair plus the larger of the two (MEMPEPITA: one activation recomputed beside the pair)."""
    return _steps(b, lambda s: Candidate(s.layer, s.live, s.touched))
