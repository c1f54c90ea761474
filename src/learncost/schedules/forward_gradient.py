"""The forward gradient's training step (Baydin et al. 2022), replayed in the order
``verify/reference.py``'s ``forward_gradient_training`` executes it.

One forward pass carries, beside each activation, its tangent (from the first trained layer on).
While a trained layer runs, its direction v (one value per trained weight and bias, drawn from the
step's seed) is held for the products v_W x; each activation and tangent is released after its last
reader, the logits' tangent once the error step has read it (the directional derivative e . t). The
update regenerates v value by value: no gradient buffer, nothing kept for it.
"""

from __future__ import annotations

from collections import Counter

from . import Schedule
from .common import resident, transient
from .inference import inputs


def carries_tangent(layer, plan) -> bool:
    """A tangent flows out of the layer: it is in the body at or after the first trained layer."""
    return plan.output_error[layer.name] and layer in plan.body


def forward_gradient_training(model, plan, sizes) -> Schedule:
    setup = plan.setup
    m = setup.micro
    first = model.input.name
    logits = sizes.owner(plan.logits.name)
    s = Schedule()
    resident(s, model, plan, sizes, gradients=False)
    for k in range(setup.micro_batches):
        prefix = f"micro-batch {k + 1}: " if setup.micro_batches > 1 else ""
        readers = Counter(sizes.owner(src) for layer in model.layers for src in layer.inputs)
        readers[sizes.owner(model.output.name)] += 1  # the error step reads the output
        if model.task == "reconstruction":
            readers[first] += 1  # and an autoencoder's input, its target
        flowing = [layer for layer in plan.body if carries_tangent(layer, plan)]
        t_readers = Counter(sizes.owner(src) for layer in flowing for src in layer.inputs)
        t_readers[logits] += 1  # the directional derivative reads the logits' tangent
        held = inputs(s, model, sizes, m)
        tangents: dict = {}
        for layer in model.computed:
            own = sizes.owner(layer.name)
            flows = carries_tangent(layer, plan)
            if not transient(layer):
                held[own] = s.new(own, "activation", sizes.activation(own, samples=m), own)
                if flows:
                    tangents[own] = s.new(f"tangent {own}", "tangent", sizes.of(m * sizes.elements(own), "tangent"),
                                          own)
            u = plan.of(layer.name)
            directions = []
            if flows and u.weights:
                directions.append(s.new(f"direction {layer.name} (weights)", "tangent",
                                        sizes.of(plan.trained_weights(layer), "tangent"), layer.name))
            if flows and u.bias:
                directions.append(s.new(f"direction {layer.name} (biases)", "tangent",
                                        sizes.of(plan.trained_biases(layer), "tangent"), layer.name))
            s.sample(f"{prefix}forward {layer.name}")
            for t in directions:
                s.free(t)
            for src in layer.inputs:
                src_own = sizes.owner(src)
                readers[src_own] -= 1
                if readers[src_own] == 0 and src_own in held:
                    s.free(held.pop(src_own))
                if flows:
                    t_readers[src_own] -= 1
                    if t_readers[src_own] == 0 and src_own in tangents:
                        s.free(tangents.pop(src_own))
        e = s.new(f"error {logits}", "error", sizes.of(m * model.output.output_elements, "error"), logits)
        s.sample(f"{prefix}error")
        for t in [e, *held.values(), *tangents.values()]:
            s.free(t)
    s.sample("update")
    return s
