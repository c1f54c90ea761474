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
from .common import input_slice_elements, kept_buffers, mask_kept, passes_error, sliced, training_step, transient


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


def backward_readers(model, plan, sizes) -> Counter:
    """How many backward steps read each buffer."""
    readers: Counter = Counter()
    for layer in plan.body:
        if transient(layer) or not plan.output_error[layer.name]:
            continue
        for own in kept_buffers(layer, plan, sizes):
            readers[own] += 1
    return readers


def forward_pass(s: Schedule, model, plan, sizes, prefix: str, samples: int):
    """The forward pass of one micro-batch: every layer's buffer, masks and input slices.
    Returns the buffers still held (those the backward pass reads) and the masks and slices."""
    back = backward_readers(model, plan, sizes)
    fwd: Counter = Counter(sizes.owner(src) for layer in model.layers for src in layer.inputs)
    fwd[sizes.owner(model.output.name)] += 1  # the error step reads the output
    if model.task == "reconstruction":
        fwd[model.input.name] += 1  # and an autoencoder's input, its target
    held: dict[str, object] = {}
    extra: dict[str, object] = {}

    def role(owner: str) -> str:
        return "saved" if back[owner] else "activation"

    first = model.input.name
    held[first] = s.new(first, role(first), sizes.activation(first, role(first), samples), first)
    for layer in model.layers[1:]:
        if not transient(layer):
            own = layer.name
            held[own] = s.new(own, role(own), sizes.activation(own, role(own), samples), own)
        if mask_kept(layer, plan):
            extra[f"mask {layer.name}"] = s.new(f"mask {layer.name}", "mask",
                                                sizes.of(samples * layer.output_elements, "mask"), layer.name)
        if sliced(layer, plan):
            extra[f"input slice {layer.name}"] = s.new(
                f"input slice {layer.name}", "saved", sizes.of(samples * input_slice_elements(layer, plan, sizes), "saved"),
                layer.name)
        s.sample(f"{prefix}forward {layer.name}")
        for src in layer.inputs:
            own = sizes.owner(src)
            fwd[own] -= 1
            if fwd[own] == 0 and not back[own]:
                s.free(held.pop(own))
    return held, extra, back, fwd


@builder("bp", "training")
def bp_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro

    def micro_batch(s: Schedule, prefix: str) -> None:
        held, extra, back, fwd = forward_pass(s, model, plan, sizes, prefix, m)
        logits = sizes.owner(plan.logits.name)
        errors = _Errors(s)
        errors.held[logits] = s.new(f"error {logits}", "error", sizes.of(m * sizes.elements(logits), "error"), logits)
        s.sample(f"{prefix}error")
        read = [sizes.owner(model.output.name)] + ([model.input.name] if model.task == "reconstruction" else [])
        for own in read:
            fwd[own] -= 1
            if fwd[own] == 0 and not back[own] and own in held:
                s.free(held.pop(own))
        for layer in reversed(plan.body):
            name = layer.name
            if transient(layer) or not plan.output_error[name]:
                continue
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
            for key in (f"mask {name}", f"input slice {name}"):
                if key in extra:
                    s.free(extra.pop(key))
            for own in kept_buffers(layer, plan, sizes):
                back[own] -= 1
                if back[own] == 0 and fwd[own] <= 0 and own in held:
                    s.free(held.pop(own))
        for key in list(errors.held):
            errors.drop(key)
        for t in list(held.values()) + list(extra.values()):
            s.free(t)

    return training_step(model, plan, sizes, micro_batch)
