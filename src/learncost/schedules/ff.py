"""Forward-Forward's training step under a setup, replayed in the order ``verify/reference.py``'s
``ff_training`` executes it: the sample (with its label) is kept for the second pass; in each pass
every layer runs on the normalized output of the one before, and each trained layer then forms
the error of its local loss (dL/dy, one value per output element) beside its input and output,
from which its gradients are computed and applied (or buffered). No backward pass."""

from __future__ import annotations

from . import Schedule, builder
from .common import training_step
from .inference import walk


@builder("ff", "training")
def ff_training(model, plan, sizes) -> Schedule:
    m = plan.setup.micro
    first = model.input.name

    def micro_batch(s: Schedule, prefix: str) -> None:
        x = s.new(first, "activation", sizes.activation(first, samples=m), first)
        for sign in ("positive", "negative"):
            def local(layer):
                if plan.trained(layer.name):
                    e = s.new(f"local error {layer.name}", "error", sizes.of(m * layer.output_elements, "error"),
                              layer.name)
                    s.sample(f"{prefix}{sign} local error {layer.name}")
                    s.free(e)

            held = walk(s, model, sizes, plan.body, f"{prefix}{sign}", {first: x}, keep=frozenset({first}),
                        samples=m, after=local)
            for own, t in held.items():
                if own != first:
                    s.free(t)
        s.free(x)

    return training_step(model, plan, sizes, micro_batch)
