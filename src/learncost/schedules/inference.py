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


def inputs(s: Schedule, model, sizes, samples: int = 1, role=lambda name: "activation") -> dict:
    """Every input's buffer, created before the first layer runs (a graph's inputs are all filled first)."""
    return {i.name: s.new(i.name, role(i.name), sizes.activation(i.name, role(i.name), samples), i.name)
            for i in model.inputs}


def _plain(model, plan, sizes) -> Schedule:
    s = Schedule()
    walk(s, model, sizes, model.computed, "clean", inputs(s, model, sizes))
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
    x = inputs(s, model, sizes)
    labels = range(model.classes) if model.supervised else [None]
    for _ in labels:
        held = dict(x)
        keep = model.input_names if model.supervised else frozenset()
        walk(s, model, sizes, plan.body, "clean", held, keep=keep)
        for own, t in held.items():
            if own not in x or not model.supervised:
                s.free(t)
    return s
