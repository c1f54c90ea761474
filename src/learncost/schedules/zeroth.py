"""MeZO's training step (Malladi et al. 2023), replayed in the order ``verify/reference.py``'s
``mezo_training`` executes it.

The trained parameters are resident (perturbed in place) with the optimizer's state, if any; there
are no gradient buffers (the gradient is one scalar times z, and z is regenerated from its seed one
value at a time). Each of the two losses is a plain forward pass per micro-batch, every buffer released
after its last reader, the output held until the loss reads it (an autoencoder's input too).
"""

from __future__ import annotations

from . import Schedule
from .common import resident
from .inference import inputs, walk


def mezo_training(model, plan, sizes) -> Schedule:
    setup = plan.setup
    m = setup.micro
    first = model.input.name
    out = sizes.owner(model.output.name)
    keep = frozenset({out} | ({first} if model.task == "reconstruction" else set()))
    s = Schedule()
    resident(s, model, plan, sizes, gradients=False)

    def loss(prefix: str) -> None:
        for k in range(setup.micro_batches):
            mb = f"{prefix}micro-batch {k + 1}: " if setup.micro_batches > 1 else prefix
            held = walk(s, model, sizes, model.computed, f"{mb}forward", inputs(s, model, sizes, m), keep=keep,
                        samples=m)
            logits = sizes.owner(plan.logits.name)
            e = s.new(f"error {logits}", "error", sizes.of(m * model.output.output_elements, "error"), logits)
            s.sample(f"{mb}loss")
            s.free(e)
            for t in held.values():
                s.free(t)

    s.sample("theta + eps z")
    loss("theta + eps z: ")
    s.sample("theta - eps z")
    loss("theta - eps z: ")
    s.sample("theta restored")
    s.sample("update")
    return s
