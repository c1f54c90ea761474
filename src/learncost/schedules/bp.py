"""Backpropagation's training step under a setup, replayed in the order ``verify/reference.py``'s
``bp_training`` executes it.

Forward: every layer in order; a buffer is released once its last reader has run, unless the
backward pass reads it (a trained layer's input for its weight gradient, or a layer's output for
its activation's derivative where no mask stands in). A layer trained on a fraction of its
channels keeps that slice of its input instead; a ReLU/ReLU6 layer on the backward path keeps a
1-bit mask when the setup says so. Then the error at the logits, and the backward pass through
every layer an error reaches, each passing an error to its input only where a trained layer
lies before it. An add passes its error on to both inputs as it is (one tensor, two readers);
where a value is read twice (a residual fork) the two errors are summed into one.
"""

from __future__ import annotations

from collections import Counter

from . import Schedule, builder
from .common import (input_slice_elements, kept_buffers, mask_kept, passes_error, reached_by_backward, sliced,
                     states_bytes, states_kept, training_step, transient)
from .inference import inputs


class _Errors:
    """The errors in flight, by buffer; one tensor may be held under two buffers (an add's inputs)."""

    def __init__(self, s: Schedule):
        self.s = s
        self.held: dict[str, object] = {}

    def holders(self, t) -> int:
        return sum(1 for v in self.held.values() if v is t)

    def drop(self, key: str) -> None:
        t = self.held.pop(key)
        if self.holders(t) == 0:
            self.s.free(t)


def backward_readers(model, plan, sizes, reached=reached_by_backward, layers=None, into: Counter | None = None) -> Counter:
    """How many backward steps read each buffer (of ``layers``' steps, the body's by default)."""
    readers: Counter = into if into is not None else Counter()
    for layer in plan.body if layers is None else layers:
        if transient(layer) or not reached(layer, plan):
            continue
        for own in kept_buffers(layer, plan, sizes, reached):
            readers[own] += 1
    return readers


def forward_pass(s: Schedule, model, plan, sizes, prefix: str, samples: int, reached=reached_by_backward,
                 hold=()):
    """The forward pass of one micro-batch: every layer's buffer, masks and input slices, keeping what
    the steps after it read (``reached``: the layers an error reaches) and the buffers in ``hold``
    (checkpoints). Returns the buffers still held, the masks and slices, and the readers still to come."""
    back = backward_readers(model, plan, sizes, reached, into=Counter(hold))
    fwd: Counter = Counter(sizes.owner(src) for layer in model.layers for src in layer.inputs)
    fwd[sizes.owner(model.output.name)] += 1  # the error step reads the output
    if model.task == "reconstruction":
        fwd[model.input.name] += 1  # and an autoencoder's input, its target
    held = inputs(s, model, sizes, samples, role=lambda name: "saved" if back[name] else "activation")
    extra: dict[str, object] = {}
    run_keeping(s, model, plan, sizes, model.computed, f"{prefix}forward", samples, reached, held, extra, back, fwd)
    return held, extra, back, fwd


def run_keeping(s: Schedule, model, plan, sizes, layers, tag: str, samples: int, reached, held: dict, extra: dict,
                back: Counter, fwd: Counter) -> None:
    """Run ``layers``: each buffer, mask and input slice created, the buffers ``back`` counts held for the
    steps after, the rest released after its last reader (``fwd``)."""
    for layer in layers:
        own = sizes.owner(layer.name)
        if not transient(layer):
            role = "saved" if back[own] else "activation"
            held[own] = s.new(own, role, sizes.activation(own, role, samples), own)
        if mask_kept(layer, plan, reached):
            extra[f"mask {layer.name}"] = s.new(f"mask {layer.name}", "mask",
                                                sizes.of(samples * layer.output_elements, "mask"), layer.name)
        if states_kept(layer, plan, reached):
            extra[f"states {layer.name}"] = s.new(f"states {layer.name}", "saved",
                                                  states_bytes(layer, sizes, samples), layer.name)
        if reached(layer, plan) and sliced(layer, plan):
            extra[f"input slice {layer.name}"] = s.new(
                f"input slice {layer.name}", "saved", sizes.of(samples * input_slice_elements(layer, plan, sizes), "saved"),
                layer.name)
        s.sample(f"{tag} {layer.name}")
        for src in layer.inputs:
            src_own = sizes.owner(src)
            fwd[src_own] -= 1
            if fwd[src_own] == 0 and not back[src_own] and src_own in held:  # (a constant: never held)
                s.free(held.pop(src_own))
        if not transient(layer) and fwd[own] <= 0 and not back[own] and own in held:  # a segment's end
            s.free(held.pop(own))


def error_step(s: Schedule, model, plan, sizes, prefix: str, samples: int, held: dict, back: Counter,
               fwd: Counter):
    """The error at the logits, read from the model's output (and an autoencoder's input)."""
    logits = sizes.owner(plan.logits.name)
    e = s.new(f"error {logits}", "error", sizes.of(samples * sizes.elements(logits), "error"), logits)
    s.sample(f"{prefix}error")
    read = [sizes.owner(model.output.name)] + ([model.input.name] if model.task == "reconstruction" else [])
    for own in read:
        fwd[own] -= 1
        if fwd[own] == 0 and not back[own] and own in held:
            s.free(held.pop(own))
    return e


def release_after(s: Schedule, layer, plan, sizes, held: dict, extra: dict, back: Counter, fwd: Counter,
                  reached=reached_by_backward) -> None:
    """After a layer's backward or update step: its mask and input slice, and what only it still read."""
    name = layer.name
    for key in (f"mask {name}", f"input slice {name}", f"states {name}"):
        if key in extra:
            s.free(extra.pop(key))
    for own in kept_buffers(layer, plan, sizes, reached):
        back[own] -= 1
        if back[own] == 0 and fwd[own] <= 0 and own in held:
            s.free(held.pop(own))


def backward(s: Schedule, model, plan, sizes, layers, errors: _Errors, prefix: str, m: int, held: dict, extra: dict,
             back: Counter, fwd: Counter) -> None:
    """The error back through ``layers`` (backward order, the layers an error reaches)."""
    for layer in layers:
        name = layer.name
        g = errors.held[name]
        if layer.activation and errors.holders(g) > 1:
            # the derivative cannot be applied in place: the other reader needs the error as it is
            g = s.new(f"error {name} (x derivative)", "error", sizes.of(m * layer.output_elements, "error"), name)
            errors.drop(name)
            errors.held[name] = g
        if plan.needs_input_error[name]:
            for i, src in enumerate(layer.inputs):
                own = sizes.owner(src)
                if not plan.output_error[own]:
                    continue
                if passes_error(layer, i):
                    contribution = g
                else:
                    contribution = s.new(f"error {own}", "error", sizes.of(m * sizes.elements(own), "error"), own)
                if own in errors.held:  # a fork: the errors of its readers add up
                    existing = errors.held[own]
                    if errors.holders(existing) > 1:
                        total = s.new(f"error {own}", "error", sizes.of(m * sizes.elements(own), "error"), own)
                        errors.drop(own)
                        errors.held[own] = total
                    if contribution is not g:
                        s.free(contribution)  # summed in before the step's sample: never live at one
                else:
                    errors.held[own] = contribution
        s.sample(f"{prefix}backward {name}")
        errors.drop(name)
        release_after(s, layer, plan, sizes, held, extra, back, fwd)


def backward_layers(plan, names=None) -> list:
    """The layers an error reaches, in backward order (of ``names`` only, if given)."""
    return [lay for lay in reversed(plan.body) if not transient(lay) and plan.output_error[lay.name]
            and (names is None or lay.name in names)]


@builder("bp", "training")
def bp_training(model, plan, sizes, feedback: str | None = None) -> Schedule:
    """``feedback``: FA's fixed B_l in place of W_l (the same tensors and work, plus the B_l)."""
    m = plan.setup.micro
    layers = backward_layers(plan)

    def micro_batch(s: Schedule, prefix: str) -> None:
        held, extra, back, fwd = forward_pass(s, model, plan, sizes, prefix, m)
        errors = _Errors(s)
        errors.held[sizes.owner(plan.logits.name)] = error_step(s, model, plan, sizes, prefix, m, held, back, fwd)
        backward(s, model, plan, sizes, layers, errors, prefix, m, held, extra, back, fwd)
        for key in list(errors.held):
            errors.drop(key)
        for t in list(held.values()) + list(extra.values()):
            s.free(t)

    return training_step(model, plan, sizes, micro_batch, feedback=feedback)


def bp_checkpoint_training(model, plan, sizes) -> Schedule:
    """Checkpointed backpropagation (Chen et al. 2016): the forward pass keeps the recomputed segments'
    inputs and what the last segment's backward reads; each earlier segment an error reaches is run
    again from its input before the error goes back through it."""
    m = plan.setup.micro
    inputs = plan.segment_inputs

    def reached(layer, p) -> bool:
        return reached_by_backward(layer, p) and layer.name not in p.recomputed

    def micro_batch(s: Schedule, prefix: str) -> None:
        hold = [own for k in plan.recomputed_segments for own in inputs[k]]
        held, extra, back, fwd = forward_pass(s, model, plan, sizes, prefix, m, reached, hold)
        errors = _Errors(s)
        errors.held[sizes.owner(plan.logits.name)] = error_step(s, model, plan, sizes, prefix, m, held, back, fwd)
        for k, names in reversed(list(enumerate(plan.segments))):
            if k in plan.recomputed_segments:
                layers = [model.by_name[n] for n in names]
                fwd = Counter(sizes.owner(src) for layer in layers for src in layer.inputs)
                backward_readers(model, plan, sizes, reached_by_backward, layers, into=back)
                run_keeping(s, model, plan, sizes, layers, f"{prefix}recompute", m, reached_by_backward, held, extra,
                            back, fwd)
                for own in inputs[k]:  # read by the recomputation: released unless a backward step reads it
                    back[own] -= 1
                    if back[own] == 0 and own in held:
                        s.free(held.pop(own))
            backward(s, model, plan, sizes, backward_layers(plan, set(names)), errors, prefix, m, held, extra, back,
                     fwd)
        for key in list(errors.held):
            errors.drop(key)
        for t in list(held.values()) + list(extra.values()):
            s.free(t)

    return training_step(model, plan, sizes, micro_batch)
