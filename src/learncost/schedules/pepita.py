"""PEPITA's and MEMPEPITA's training steps under a setup, replayed in the order
``verify/reference.py`` executes them.

PEPITA (Dellaferrera & Kreiman 2022): a clean pass keeping the output h_l of every trained layer
but the last (its update reads it), the error e at the output, the sample modulated in place by
F e, then a modulated pass in which each trained layer turns its kept h_l into h_l - h_l^mod and
is updated. MEMPEPITA (Srinivasan et al. 2023): the clean pass keeps only the sample; a modulated
copy is made; then each layer is recomputed clean and run modulated side by side, and updated
from the two. F is held in RAM, stored in flash, regenerated where it is used or not counted, as
the setup says.
"""

from __future__ import annotations

from collections import Counter

from . import Schedule, builder
from .common import training_step, transient
from .inference import inputs, walk


def _error(s: Schedule, model, plan, sizes, m: int, held: dict, prefix: str):
    logits = plan.logits.name
    e = s.new(f"error {sizes.owner(logits)}", "error", sizes.of(m * plan.logits.output_elements, "error"), logits)
    s.sample(f"{prefix}error")
    out = sizes.owner(model.output.name)
    if out in held:
        s.free(held.pop(out))
    return e


@builder("pepita", "training")
def pepita_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro
    kept = {layer.name for layer in plan.body if layer.has_weights and plan.trained(layer.name)
            and layer is not plan.logits}

    def micro_batch(s: Schedule, prefix: str) -> None:
        x = inputs(s, model, sizes, m)
        keep = frozenset([*x, sizes.owner(model.output.name), *(sizes.owner(n) for n in kept)])
        role = lambda own: "saved" if own in kept else "activation"  # noqa: E731
        clean = walk(s, model, sizes, model.computed, f"{prefix}clean", dict(x), keep=keep, samples=m, role=role)
        e = _error(s, model, plan, sizes, m, clean, prefix)
        s.sample(f"{prefix}modulation")  # x <- x - F e, in place (each input by its columns of F)
        for name in x:
            clean.pop(name)

        def update(layer):
            if not plan.trained(layer.name) or not layer.has_weights:
                return
            if layer is plan.logits:  # its update reads e
                s.sample(f"{prefix}update {layer.name}")
                return
            h = clean.pop(layer.name)
            delta = s.new(f"h - h_mod {layer.name}", "error", sizes.of(m * layer.output_elements, "error"), layer.name)
            s.sample(f"{prefix}update {layer.name}")
            s.free(h)
            s.free(delta)

        held = walk(s, model, sizes, plan.body, f"{prefix}modulated", dict(x), samples=m, after=update)
        s.free(e)
        for t in list(held.values()) + list(clean.values()):
            s.free(t)

    return training_step(model, plan, sizes, micro_batch, feedback="input")


@builder("mempepita", "training")
def mempepita_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro

    def micro_batch(s: Schedule, prefix: str) -> None:
        x = inputs(s, model, sizes, m)
        held = walk(s, model, sizes, model.computed, f"{prefix}clean", dict(x),
                    keep=frozenset({*x, sizes.owner(model.output.name)}), samples=m)
        e = _error(s, model, plan, sizes, m, held, prefix)
        for name, t in held.items():
            if name not in x:
                s.free(t)
        modulated = {name: s.new(f"{name} (modulated)", "activation", sizes.activation(name, samples=m), name)
                     for name in x}
        s.sample(f"{prefix}modulation")
        clean = dict(x)
        left_clean = Counter(sizes.owner(src) for layer in plan.body for src in layer.inputs)
        left_mod = Counter(left_clean)
        for layer in plan.body:
            name = layer.name
            if not transient(layer):
                clean[name] = s.new(name, "activation", sizes.activation(name, samples=m), name)
            s.sample(f"{prefix}recompute {name}")
            for src in layer.inputs:
                own = sizes.owner(src)
                left_clean[own] -= 1
                if left_clean[own] == 0 and own in clean:
                    s.free(clean.pop(own))
            if not transient(layer):
                modulated[name] = s.new(f"{name} (modulated)", "activation", sizes.activation(name, samples=m), name)
            s.sample(f"{prefix}modulated {name}")
            if layer.has_weights and plan.trained(name):
                delta = None
                if layer is not plan.logits:
                    delta = s.new(f"h - h_mod {name}", "error", sizes.of(m * layer.output_elements, "error"), name)
                s.sample(f"{prefix}update {name}")
                if delta is not None:
                    s.free(delta)
            for src in layer.inputs:
                own = sizes.owner(src)
                left_mod[own] -= 1
                if left_mod[own] == 0 and own in modulated:
                    s.free(modulated.pop(own))
        s.free(e)
        for t in list(clean.values()) + list(modulated.values()):
            s.free(t)

    return training_step(model, plan, sizes, micro_batch, feedback="input")
