"""Inference schedules: one forward pass (BP, PEPITA, MEMPEPITA), and FF's pass per candidate
label, replayed in the order ``verify/reference.py`` executes them. Every buffer is released
once its last reader has run; parameters are read from flash."""

from __future__ import annotations

from collections import Counter

from . import Schedule, builder
from .common import transient


def walk(s: Schedule, model, sizes, layers, tag: str, held: dict, *, keep: frozenset = frozenset(),
         samples: int = 1, role=lambda owner: "activation", after=None) -> dict:
    """Run ``layers`` in order: each non-transient layer's buffer is created, the step sampled,
    and each input buffer released once its last reader in ``layers`` has run (unless kept)."""
    readers: Counter = Counter(sizes.owner(src) for layer in layers for src in layer.inputs)
    for layer in layers:
        if not transient(layer):
            held[layer.name] = s.new(layer.name, role(layer.name), sizes.activation(layer.name, role(layer.name), samples),
                                     layer.name)
        s.sample(f"{tag} {layer.name}")
        if after is not None:
            after(layer)
        for src in layer.inputs:
            own = sizes.owner(src)
            readers[own] -= 1
            if readers[own] == 0 and own not in keep and own in held:
                s.free(held.pop(own))
    return held


def _plain(model, plan, sizes) -> Schedule:
    s = Schedule()
    first = model.input.name
    walk(s, model, sizes, model.layers[1:], "clean", {first: s.new(first, "activation", sizes.activation(first), first)})
    return s


def plain_inference(model, plan, sizes) -> Schedule:
    """One forward pass: the inference of every procedure but FF's."""
    return _plain(model, plan, sizes)


for _proc in ("bp", "pepita", "mempepita"):
    builder(_proc, "inference")(_plain)


@builder("ff", "inference")
def ff_inference(model, plan, sizes) -> Schedule:
    """Supervised: the sample is kept to embed the next label; unsupervised: one pass."""
    s = Schedule()
    first = model.input.name
    x = s.new(first, "activation", sizes.activation(first), first)
    labels = range(model.classes) if model.supervised else [None]
    for _ in labels:
        held = {first: x}
        keep = frozenset({first}) if model.supervised else frozenset()
        walk(s, model, sizes, plan.body, "clean", held, keep=keep)
        for own, t in held.items():
            if own != first or not model.supervised:
                s.free(t)
    return s
