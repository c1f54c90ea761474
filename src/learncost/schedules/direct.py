"""Feedback alignment's relatives that need no backward pass, replayed in the order
``verify/reference.py`` executes them.

DFA (Nokland 2016): the forward pass keeps what the updates read (each trained layer's input, or its
trained slice, and its activation's mask or output); then the error e at the output, and each trained
layer, from the logits down, receives B_l e directly, applies its activation's derivative and updates.
DRTP (Frenkel, Lefebvre & Bol 2021): the target, known before the pass, is projected through B_l as
soon as each trained layer has run, which then updates at once: nothing is kept beyond the pair but
the logits' input, whose update waits for e.
"""

from __future__ import annotations

from . import Schedule
from .bp import error_step, forward_pass, release_after
from .common import reached_by_update, training_step, transient
from .inference import inputs, walk


def dfa_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro
    reached = reached_by_update

    def micro_batch(s: Schedule, prefix: str) -> None:
        held, extra, back, fwd = forward_pass(s, model, plan, sizes, prefix, m, reached)
        e = error_step(s, model, plan, sizes, prefix, m, held, back, fwd)
        for layer in reversed(plan.body):
            if transient(layer) or not reached(layer, plan):
                continue
            delta = None
            if layer is not plan.logits:  # B_l e, a new error beside e
                delta = s.new(f"error {layer.name}", "error", sizes.of(m * layer.output_elements, "error"), layer.name)
            s.sample(f"{prefix}update {layer.name}")
            if delta is not None:
                s.free(delta)
            release_after(s, layer, plan, sizes, held, extra, back, fwd, reached)
        s.free(e)
        for t in list(held.values()) + list(extra.values()):
            s.free(t)

    return training_step(model, plan, sizes, micro_batch, feedback="outputs")


def drtp_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro
    first = model.input.name
    logits_input = sizes.owner(plan.logits.inputs[0])
    keep = frozenset({first, logits_input, sizes.owner(model.output.name)} if model.task == "reconstruction"
                     else {logits_input, sizes.owner(model.output.name)})

    def micro_batch(s: Schedule, prefix: str) -> None:
        def update(layer):
            if layer.has_weights and plan.trained(layer.name) and layer is not plan.logits:
                delta = s.new(f"error {layer.name}", "error", sizes.of(m * layer.output_elements, "error"), layer.name)
                s.sample(f"{prefix}update {layer.name}")
                s.free(delta)

        held = walk(s, model, sizes, model.computed, f"{prefix}forward", inputs(s, model, sizes, m), keep=keep,
                    samples=m, after=update)
        e = s.new(f"error {sizes.owner(plan.logits.name)}", "error", sizes.of(m * plan.logits.output_elements, "error"),
                  plan.logits.name)
        s.sample(f"{prefix}error")
        for own in [own for own in held if own != logits_input]:  # the output, an autoencoder's input, a dead end's
            s.free(held.pop(own))
        if plan.trained(plan.logits.name):
            s.sample(f"{prefix}update {plan.logits.name}")
        s.free(e)
        for t in held.values():
            s.free(t)

    return training_step(model, plan, sizes, micro_batch, feedback="outputs")


def fa_training(model, plan, sizes) -> Schedule:
    from .bp import bp_training

    return bp_training(model, plan, sizes, feedback="weights")

