"""Reference implementations, in PyTorch, of one training step (batch 1) and one inference of
each learning procedure, on the module built from any learncost model.

Each implementation runs layer by layer so that every executed MAC can be attributed
(``Step.forward`` and the ``counter.at`` blocks) and holds exactly the tensors its algorithm
needs, releasing the rest as soon as their last reader has run, so that the tracker measures
the procedure's own memory. Gradients come from autograd (BP, FF's local losses) or from
explicit outer products (PEPITA's updates); weight updates are explicit tensor operations
(W <- W - eta * dW) so that they are counted too.

Where the sources leave a choice open, the choice is stated where it is made.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch

from ..ir import Layer, Model
from ..layers import HEAD_KINDS
from ..memory import buffers
from ..torch_build import build_module, example_input
from .counter import MacCounter
from .tracker import ActivationTracker

LEARNING_RATE = 0.01
#: PEPITA's feedback matrix F is drawn once, uniform in [-0.05, 0.05] (Dellaferrera & Kreiman
#: use a small uniform scale); its values do not change what is executed.
FEEDBACK_SCALE = 0.05


def readers(layers: list[Layer]) -> Counter:
    """How many of ``layers`` read each value."""
    return Counter(src for layer in layers for src in layer.inputs)


def release_read(values: dict, remaining: Counter, layer: Layer, keep: frozenset[str] = frozenset()) -> None:
    """``layer`` has read its inputs: drop each one whose last reader it was (unless kept)."""
    for src in layer.inputs:
        remaining[src] -= 1
        if remaining[src] == 0 and src not in keep:
            values.pop(src, None)


class Step:
    """One execution of a procedure's phase: the module, the MAC counter and the tracker."""

    def __init__(self, model: Model, seed: int = 0):
        torch.manual_seed(seed)
        self.model = model
        self.seed = seed
        self.net = build_module(model)
        self.counter = MacCounter()
        bufs = buffers(model)
        self.tracker = ActivationTracker(bufs, bufs.owner)
        layers = model.layers
        tail = len(layers)
        while tail > 1 and layers[tail - 1].kind in HEAD_KINDS:
            tail -= 1
        #: the layers a procedure trains through; the head (softmax and its converters) only reads out
        self.body: list[Layer] = layers[1:tail]
        self.logits: Layer = layers[tail - 1]
        consumers = model.consumers
        reaches: dict[str, bool] = {}
        for layer in reversed(layers):
            reaches[layer.name] = any(model.by_name[c].trainable or reaches[c] for c in consumers[layer.name])
        #: whether the layer's output reaches a trainable layer downstream (FF normalizes only those)
        self.feeds_trainable = reaches

    # -- building blocks -------------------------------------------------------------------------

    @property
    def input_name(self) -> str:
        return self.model.input.name

    def new_input(self):
        return example_input(self.model, seed=self.seed)

    def needs_error(self, name: str) -> bool:
        """BP propagates an error to a layer's output only if that output feeds weights upstream."""
        layer = self.model.by_name[name]
        return layer.trainable or self.model.has_trainable_ancestor[name]

    def forward(self, layer: Layer, ins: list, tag: str):
        with self.counter.at(layer.name, "forward"):
            pre, out = self.net.run_layer(layer, ins)
        self.tracker.hold(layer.name, tag, out)
        return pre, out

    def walk(self, values: dict, tag: str, layers: list[Layer], *, keep: frozenset[str] = frozenset(),
             after: Callable | None = None) -> None:
        """Run ``layers`` in order; drop each value once its last reader in ``layers`` has run."""
        remaining = readers(layers)
        for layer in layers:
            ins = [values[s] for s in layer.inputs]
            _, out = self.forward(layer, ins, tag)
            values[layer.name] = out
            self.tracker.sample(f"{tag} {layer.name}")
            if after is not None:
                after(layer, ins, out, values)
            del ins, out
            release_read(values, remaining, layer, keep)

    def target(self, sample):
        """One-hot label for a classifier, the input itself for an autoencoder, zeros otherwise."""
        out = self.model.output
        if self.model.task == "classification":
            y = torch.zeros(1, out.output_elements)
            y[0, self.seed % out.output_elements] = 1.0
            return y
        if self.model.task == "reconstruction":
            return sample.reshape(1, -1)
        return torch.zeros(1, out.output_elements)

    def error(self, output, target):
        """e = output - target at the model's output (softmax cross-entropy or squared error)."""
        with self.counter.at(self.model.output.name, "error"):
            e = output.reshape(1, -1) - target
        self.tracker.hold_error(self.logits.name, e)
        return e

    def feedback(self):
        """PEPITA's fixed random F, stored as classes x input elements so that F e is e @ F."""
        g = torch.Generator().manual_seed(self.seed + 1)
        shape = (self.model.output.output_elements, self.model.input.output_elements)
        return (torch.rand(shape, generator=g) * 2 - 1) * FEEDBACK_SCALE

    def autograd_weight_grads(self, layer: Layer, out, grad_out):
        """dW and db of ``layer`` from autograd, each under its own label."""
        weight, bias = self.net.params(layer)
        with self.counter.at(layer.name, "weight_gradient"):
            (gw,) = torch.autograd.grad(out, [weight], grad_out, retain_graph=bias is not None)
        gb = None
        if bias is not None:
            with self.counter.at(layer.name, "bias_gradient"):
                (gb,) = torch.autograd.grad(out, [bias], grad_out)
        return gw, gb

    def outer_weight_grads(self, layer: Layer, ins: list, delta):
        """PEPITA's dW = delta (x) h_in, generalized to convolutions as the weight gradient of the
        convolution with output gradient ``delta``; db = delta summed over positions."""
        weight, bias = self.net.params(layer)
        h = self.net.layer_input(layer, ins)
        with self.counter.at(layer.name, "weight_gradient"):
            if layer.kind == "dense":
                gw = delta.reshape(-1, 1) @ h.reshape(1, -1)
            else:
                groups = h.shape[1] if layer.kind == "depthwise_conv2d" else 1
                gw = torch.ops.aten.convolution_backward(
                    delta, h, weight, None, list(layer.stride), [0, 0], [1, 1], False, [0, 0], groups,
                    [False, True, False])[1]
        gb = None
        if bias is not None:
            with self.counter.at(layer.name, "bias_gradient"):
                # summed over the batch (of 1) too, as autograd does for BP: one add per element
                gb = delta.sum(dim=(0, 2, 3)) if delta.dim() == 4 else delta.reshape(1, -1).sum(dim=0)
        return gw, gb

    def apply(self, layer: Layer, gw, gb) -> None:
        """W <- W - eta dW (and the bias): one MAC per parameter."""
        weight, bias = self.net.params(layer)
        with torch.no_grad(), self.counter.at(layer.name, "weight_apply"):
            weight.add_(gw, alpha=-LEARNING_RATE)
            if bias is not None:
                bias.add_(gb, alpha=-LEARNING_RATE)


# -- inference -----------------------------------------------------------------------------------

def plain_inference(s: Step) -> None:
    """One forward pass; every buffer is dropped once its last reader has run."""
    values = {s.input_name: s.new_input()}
    s.tracker.hold(s.input_name, "clean", values[s.input_name])
    with torch.no_grad():
        s.walk(values, "clean", s.model.layers[1:])


# -- backpropagation ----------------------------------------------------------------------------

def bp_training(s: Step) -> None:
    """Rumelhart et al. 1986: forward keeping every activation (each layer's autograd segment
    saves what its backward reads), error at the logits (softmax cross-entropy: p - y), then
    the error back through every layer that feeds weights, dW per layer, SGD update."""
    values = {s.input_name: s.new_input()}
    s.tracker.hold(s.input_name, "clean", values[s.input_name])
    segments = {}
    with torch.enable_grad():
        for layer in s.model.layers[1:]:
            ins = [values[src].detach().requires_grad_(s.needs_error(src)) for src in layer.inputs]
            _, out = s.forward(layer, ins, "clean")
            values[layer.name] = out
            segments[layer.name] = (ins, out)
            s.tracker.sample(f"forward {layer.name}")
        del ins, out
        e = s.error(values[s.model.output.name], s.target(values[s.input_name]))
        for layer in s.model.layers[len(s.body) + 1:]:  # the head has no further use
            values.pop(layer.name)
            segments.pop(layer.name)
        grads = {s.logits.name: e.reshape(values[s.logits.name].shape)}
        del e
        s.tracker.sample("error")
        for layer in reversed(s.body):
            g = grads.pop(layer.name, None)
            ins, out = segments.pop(layer.name)
            if g is not None:
                wanted = [i for i, src in enumerate(layer.inputs) if s.needs_error(src)]
                if wanted:
                    with s.counter.at(layer.name, "input_gradient"):
                        got = torch.autograd.grad(out, [ins[i] for i in wanted], g, retain_graph=layer.trainable)
                    for i, gi in zip(wanted, got):
                        src = layer.inputs[i]
                        s.tracker.hold_error(src, gi)
                        if src in grads:  # a fork: the errors of its readers add up
                            with s.counter.at(src, "gradient_sum"):
                                grads[src] = grads[src] + gi
                        else:
                            grads[src] = gi
                    del got, gi
                if layer.trainable:
                    gw, gb = s.autograd_weight_grads(layer, out, g)
                    s.apply(layer, gw, gb)
                    del gw, gb
                s.tracker.sample(f"backward {layer.name}")
            del g, ins, out
            values.pop(layer.name)


# -- Forward-Forward ------------------------------------------------------------------------------

def _ff_threshold(layer: Layer) -> float:
    """theta in p = sigmoid(G - theta): the number of units, i.e. a mean square of 1 (Hinton 2022)."""
    return float(layer.output_elements)


def _embed(s: Step, x, label: int | None, negative: bool) -> None:
    """Supervised FF writes a one-hot label over the first ``classes`` input elements (Hinton 2022,
    section 3.3), a wrong label for negative data; unsupervised FF (an autoencoder) makes its
    negative data by shifting the sample, in place."""
    if s.model.supervised:
        flat = x.view(-1)
        flat[: s.model.classes] = 0.0
        flat[label] = 1.0
    elif negative:
        x.copy_(x.roll(1, dims=-1))


def _ff_layer(s: Step, layer: Layer, out, values: dict, positive: bool | None) -> float:
    """Goodness, local update (training: ``positive`` is True/False) and length normalization."""
    flat = out.detach().reshape(-1)
    with s.counter.at(layer.name, "goodness"):
        goodness = torch.dot(flat, flat).item()
    if positive is not None:
        z = max(-60.0, min(60.0, goodness - _ff_threshold(layer)))  # keeps exp() finite for random weights
        p = 1.0 / (1.0 + math.exp(-z))
        dloss_dgoodness = (p - 1.0) if positive else p  # -log p for positive data, -log(1 - p) for negative
        with s.counter.at(layer.name, "local_error"):
            dloss_dout = out.detach() * (2.0 * dloss_dgoodness)
        s.tracker.hold_error(layer.name, dloss_dout)
        s.tracker.sample(f"local error {layer.name}")
        gw, gb = s.autograd_weight_grads(layer, out, dloss_dout)
        s.apply(layer, gw, gb)
        del dloss_dout, gw, gb
    kept = out.detach()
    if s.feeds_trainable[layer.name]:
        # in place: the next layer reads the normalized vector, nothing reads the raw one
        with torch.no_grad(), s.counter.at(layer.name, "normalization"):
            kept.mul_(1.0 / (math.sqrt(goodness) + 1e-12))
    values[layer.name] = kept
    return goodness


def ff_training(s: Step) -> None:
    """Hinton 2022: a positive pass (true label) and a negative pass (wrong label), each layer
    trained on its own goodness (sum of squared activities) and passing on its length-normalized
    output. The sample is kept for the second pass. No backward pass, no softmax head."""
    x = s.new_input()
    s.tracker.hold(s.input_name, "clean", x)
    true_label = s.seed % s.model.classes if s.model.supervised else None
    wrong_label = (true_label + 1) % s.model.classes if s.model.supervised else None
    for positive, label in ((True, true_label), (False, wrong_label)):
        _embed(s, x, label, negative=not positive)
        values = {s.input_name: x}

        def after(layer, ins, out, values, positive=positive):
            if layer.trainable:
                _ff_layer(s, layer, out, values, positive)

        with torch.enable_grad():
            s.walk(values, "clean", s.body, after=after)
        del values


def ff_inference(s: Step) -> list[float]:
    """Supervised: one pass per candidate label, accumulating every layer's goodness; the
    label with the highest total wins (the sample is kept for every pass). Unsupervised: one
    pass, its total goodness scoring the sample."""
    totals = []
    x = s.new_input()
    s.tracker.hold(s.input_name, "clean", x)
    labels = range(s.model.classes) if s.model.supervised else [None]
    for label in labels:
        _embed(s, x, label, negative=False)
        values = {s.input_name: x}
        if not s.model.supervised:
            del x  # a single pass: the sample can go once the first layer has read it
        goodness = []

        def after(layer, ins, out, values, goodness=goodness):
            if layer.trainable:
                goodness.append(_ff_layer(s, layer, out, values, None))

        with torch.no_grad():
            s.walk(values, "clean", s.body, after=after)
        del values
        totals.append(sum(goodness))
    return totals


# -- PEPITA and MEMPEPITA ------------------------------------------------------------------------

def _modulate_in_place(s: Step, x, e, feedback) -> None:
    """x <- x - F e, accumulated into the sample's own buffer (the clean sample has no further use)."""
    with s.counter.at(s.input_name, "projection"):
        x.view(1, -1).addmm_(e, feedback, alpha=-1.0)


def pepita_training(s: Step) -> None:
    """Dellaferrera & Kreiman 2022, algorithm 1: a clean pass keeping each trainable layer's output
    h_l, the error e, the input modulated by the fixed random projection F e, a modulated pass,
    and per-layer updates dW_l = (h_l - h_l^mod) (x) h_{l-1}^mod, with e in place of the
    difference for the last layer. No backward pass."""
    x = s.new_input()
    s.tracker.hold(s.input_name, "clean", x)
    keep = frozenset(layer.name for layer in s.body if layer.trainable and layer is not s.logits)
    clean = {s.input_name: x}
    with torch.no_grad():
        s.walk(clean, "clean", s.model.layers[1:], keep=keep | {s.input_name, s.model.output.name})
        e = s.error(clean.pop(s.model.output.name), s.target(x))
        s.tracker.sample("error")
        _modulate_in_place(s, x, e, s.feedback())
        s.tracker.forget(s.input_name, "clean")
        s.tracker.hold(s.input_name, "modulated", x)
        clean.pop(s.input_name)
        modulated = {s.input_name: x}
        del x
        s.tracker.sample("modulation")

        def update(layer, ins, out, values):
            if not layer.trainable:
                return
            if layer is s.logits:
                delta = e.reshape(out.shape)
            else:
                delta = clean.pop(layer.name)
                s.tracker.forget(layer.name, "clean")
                with s.counter.at(layer.name, "local_error"):
                    delta.sub_(out)  # h - h_mod, written over h: nothing else reads h
                s.tracker.hold_error(layer.name, delta)
            s.tracker.sample(f"update {layer.name}")
            gw, gb = s.outer_weight_grads(layer, ins, delta)
            s.apply(layer, gw, gb)

        s.walk(modulated, "modulated", s.body, after=update)


def mempepita_training(s: Step) -> None:
    """Srinivasan et al. 2023: the clean pass keeps nothing but the sample (it only yields the
    error); the modulated pass then runs layer by layer beside a third, clean pass that
    recomputes h_l just before it is needed, each layer updated as soon as both are ready."""
    x = s.new_input()
    s.tracker.hold(s.input_name, "clean", x)
    values = {s.input_name: x}
    with torch.no_grad():
        s.walk(values, "clean", s.model.layers[1:])
        e = s.error(values.pop(s.model.output.name), s.target(x))
        del values
        s.tracker.sample("error")
        feedback = s.feedback()
        with s.counter.at(s.input_name, "projection"):
            flat = torch.addmm(x.reshape(1, -1), e, feedback, alpha=-1.0)
        xm = flat.view(x.shape)
        del flat
        s.tracker.hold(s.input_name, "modulated", xm)
        s.tracker.sample("modulation")
        clean, modulated = {s.input_name: x}, {s.input_name: xm}
        del x, xm
        left_clean, left_modulated = readers(s.body), readers(s.body)
        for layer in s.body:
            _, h = s.forward(layer, [clean[src] for src in layer.inputs], "clean")
            clean[layer.name] = h
            s.tracker.sample(f"recompute {layer.name}")
            release_read(clean, left_clean, layer)
            ins = [modulated[src] for src in layer.inputs]
            _, h_mod = s.forward(layer, ins, "modulated")
            modulated[layer.name] = h_mod
            s.tracker.sample(f"modulated {layer.name}")
            if layer.trainable:
                if layer is s.logits:
                    delta = e.reshape(h_mod.shape)
                else:
                    with s.counter.at(layer.name, "local_error"):
                        delta = h - h_mod  # both are still read by the next layer
                    s.tracker.hold_error(layer.name, delta)
                s.tracker.sample(f"update {layer.name}")
                gw, gb = s.outer_weight_grads(layer, ins, delta)
                s.apply(layer, gw, gb)
                del delta, gw, gb
            del h, h_mod, ins
            release_read(modulated, left_modulated, layer)


@dataclass(frozen=True)
class Reference:
    training: Callable[[Step], object]
    inference: Callable[[Step], object]
    #: why the executed memory may differ from the paper's rule, per phase
    memory_notes: dict[str, str]

    def phase(self, name: str) -> Callable[[Step], object]:
        return self.training if name == "training" else self.inference


REFERENCES: dict[str, Reference] = {
    "bp": Reference(bp_training, plain_inference, {
        "training": "autograd keeps every layer's input and output until the backward pass reaches it",
        "inference": "each buffer is dropped once its last reader has run",
    }),
    "ff": Reference(ff_training, ff_inference, {
        "training": "the sample (with its label) is kept for the negative pass; each layer holds its input, "
                    "its output and, apart, the gradient of its local loss",
        "inference": "supervised: the sample is kept to embed the next label; unsupervised: one pass",
    }),
    "pepita": Reference(pepita_training, plain_inference, {
        "training": "the clean pass keeps the outputs the updates read (trainable layers but the last) and drops "
                    "the rest; the modulated pass then runs while they are still held",
        "inference": "each buffer is dropped once its last reader has run",
    }),
    "mempepita": Reference(mempepita_training, plain_inference, {
        "training": "the first clean pass keeps only the sample (for the recomputation); then each layer holds "
                    "its clean and modulated inputs and outputs while it is recomputed and updated",
        "inference": "each buffer is dropped once its last reader has run",
    }),
}
