"""Reference implementations, in PyTorch, of one training step and one inference of each learning
procedure under a setup, on the module built from any learncost model.

Each implementation runs layer by layer so that every executed MAC can be attributed
(``Step.forward`` and the ``counter.at`` blocks) and holds exactly the tensors its algorithm
needs, releasing the rest as soon as their last reader has run, so that the tracker measures
the procedure's own memory. Backpropagation is written out by hand (no autograd): each layer's
backward reads only what the setup keeps (its input or the trained slice of it for the weight
gradient, its output or a 1-bit mask for its activation's derivative), which is what proves that
the kept tensors suffice; tests compare its gradients with autograd's. Weight updates are
explicit tensor operations, the optimizer's state updates included, so that they are counted too.

A setup changes what runs: frozen layers get no gradient, a layer trained on a fraction of its
channels gets the gradient of that slice only, errors stop at the earliest trained layer, a
batch runs as micro-batches whose gradients add up in buffers, momentum and Adam keep state.
Where the sources leave a choice open, the choice is stated where it is made.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn import functional as F

from ..errors import LearncostError
from ..ir import Layer
from ..layers import RECURRENT_KINDS
from ..schedules.common import (feedback_matrices, kept_buffers, mask_kept, passes_error, reached_by_backward,
                                reached_by_update, sliced, states_bytes, states_kept, transient)
from ..setups import OPTIMIZER_STATE
from ..torch_build import (ELU_ALPHA, LEAKY_SLOPE, build_module, copied, crop, example_inputs, from_ir,
                           layer_norm_stats, lrn_vector, module_key, module_shape, reshaped, to_ir)
from . import recurrent
from .counter import MacCounter
from .tracker import Tracker

LEARNING_RATE = 0.01
MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
#: PEPITA's feedback matrix F is drawn uniform in [-0.05, 0.05] (Dellaferrera & Kreiman use a small
#: uniform scale); its values do not change what is executed.
FEEDBACK_SCALE = 0.05


class Step:
    """One execution of a procedure's phase under a setup: the module, the MAC counter and the tracker."""

    def __init__(self, evaluator, seed: int = 0):
        torch.manual_seed(seed)
        self.ev = evaluator
        self.model = evaluator.model
        self.plan = evaluator.plan
        self.setup = evaluator.setup
        self.sizes = evaluator.sizes
        self.seed = seed
        self.net = build_module(self.model)
        self.counter = MacCounter()
        self.tracker = Tracker(self.sizes)
        self.state: dict[str, dict[str, torch.Tensor]] = {}  # optimizer state and gradient buffers, by layer
        self.contributions: Counter = Counter()  # gradients received this step, by layer
        self.states: dict = {}  # what each recurrent layer's forward saved for its backward through time
        self.gate_errors: dict = {}  # a recurrent layer's gate errors, formed for dX, read again by dW
        self._step = 0

    # -- building blocks -------------------------------------------------------------------------

    @property
    def input_name(self) -> str:
        return self.model.input.name

    def owner(self, name: str) -> str:
        return self.sizes.owner(name)

    def inputs(self, samples: int, role=lambda name: "activation") -> dict:
        """A sample for every input of the graph (seeded), each held: input name -> tensor."""
        with self.counter.paused():
            values = dict(zip((layer.name for layer in self.model.inputs),
                              example_inputs(self.model, seed=self.seed, samples=samples)))
        for name, x in values.items():
            self.hold(name, role(name), x, samples)
        return values

    def modulate(self, xs: dict, e, f, *, in_place: bool) -> dict:
        """PEPITA's x <- x - F e for every input, F's columns split among the inputs in order; in the
        inputs' own buffers, or as new tensors (MEMPEPITA keeps the clean sample)."""
        out, start, m = {}, 0, e.shape[0]
        with self.counter.at(self.input_name, "projection"):
            for name, x in xs.items():
                cols = f[:, start:start + x[0].numel()]
                start += x[0].numel()
                if in_place:
                    x.view(m, -1).addmm_(e, cols, alpha=-1.0)
                    out[name] = x
                else:
                    out[name] = torch.addmm(x.reshape(m, -1), e, cols, alpha=-1.0).view(x.shape)
        return out

    def hold(self, name: str, role: str, tensor, samples: int) -> None:
        self.tracker.hold(name, role, tensor, samples=samples)

    def sample(self, label: str) -> None:
        self.tracker.sample(label)

    def forward(self, layer: Layer, ins: list, op: str = "forward"):
        """(pre-activation, output) of one layer, counted under ``op`` (a recomputation is not a forward)."""
        with self.counter.at(layer.name, op):
            return self.net.run_layer(layer, ins)

    def target(self, values: dict, samples: int):
        """One-hot labels for a classifier, the input itself for an autoencoder (which therefore
        keeps its input until the error is formed), zeros otherwise."""
        out = self.model.output
        with self.counter.paused():
            if self.model.task == "classification":
                y = torch.zeros(samples, out.output_elements)
                for k in range(samples):
                    y[k, (self.seed + k) % out.output_elements] = 1.0
                return y
            if self.model.task == "reconstruction":
                return values[self.input_name].reshape(samples, -1).clone()
            return torch.zeros(samples, out.output_elements)

    def error(self, output, target):
        """e = output - target at the model's output (softmax cross-entropy or squared error)."""
        with self.counter.at(self.model.output.name, "error"):
            e = output.reshape(output.shape[0], -1) - target
        self.tracker.hold(f"error {self.owner(self.plan.logits.name)}", "error", e)
        return e

    def feedback(self):
        """PEPITA's fixed random F, stored as classes x input elements so that F e is e @ F."""
        g = torch.Generator().manual_seed(self.seed + 1)
        shape = (self.model.output.output_elements, self.model.input_elements)
        with self.counter.paused():
            return (torch.rand(shape, generator=g) * 2 - 1) * FEEDBACK_SCALE

    def project(self, e):
        """F e, with F held, read from flash or regenerated where it is used (then counted)."""
        if self.setup.feedback == "regenerated":
            g = torch.Generator().manual_seed(self.seed + 1)
            shape = (self.model.output.output_elements, self.model.input_elements)
            with self.counter.at(self.input_name, "feedback_generation"):
                f = torch.rand(shape, generator=g)
            with self.counter.paused():
                f = (f * 2 - 1) * FEEDBACK_SCALE  # scaling folds into the generator's constants
            return f
        return self._feedback

    # -- parameters, gradients and the optimizer ---------------------------------------------------

    def trained_views(self, layer: Layer):
        """(weight slice, bias) the setup trains: the first ``channels`` channels (MIT's tiny-training
        picks them by magnitude; which ones does not change the cost)."""
        weight, bias = self.net.params(layer)
        u = self.plan.of(layer.name)
        w = None
        if u.weights:
            n = int(u.channels)
            w = weight[:n] if layer.kind in ("depthwise_conv2d", "conv2d_transpose") else \
                weight if layer.kind in RECURRENT_KINDS or layer.kind in ("batch_norm", "embedding") else \
                weight[:, :n]  # a recurrent cell and a batch normalization are trained whole (``setups.plan``)
        return w, (bias if u.bias and bias is not None else None)

    def start(self, feedback: bool | str | None = None, gradients: bool = True, readout: bool = False) -> None:
        """Resident state: optimizer state per trained parameter, gradient buffers (where the procedure
        forms gradients: ``gradients``), F in RAM; ``readout``: FF's readout, its weights, state and buffer."""
        state = OPTIMIZER_STATE[self.setup.optimizer]
        for layer in self.plan.weight_layers:
            w, b = self.trained_views(layer)
            slots: dict[str, torch.Tensor] = {}
            for kind, p in (("weight", w), ("bias", b)):
                if p is None:
                    continue
                for k in range(state):
                    slots[f"{kind} state {k}"] = torch.zeros_like(p)
                    self.tracker.hold(f"optimizer state {layer.name} ({kind} {k})", "optimizer_state",
                                      slots[f"{kind} state {k}"])
                if gradients and self.setup.gradient_buffers:
                    slots[f"{kind} gradient"] = torch.zeros_like(p)
                    self.tracker.hold(f"{kind} gradient {layer.name}", f"{kind}_gradient", slots[f"{kind} gradient"])
            self.state[layer.name] = slots
        self.readout: dict[str, tuple] = {}
        if readout:
            weights = self.readout_weights()
            for layer in self.plan.readout:
                w = weights[layer.name]
                slots = {}
                for k in range(state):
                    slots[f"weight state {k}"] = torch.zeros_like(w)
                    self.tracker.hold(f"readout optimizer state {layer.name} ({k})", "optimizer_state",
                                      slots[f"weight state {k}"])
                if self.setup.gradient_buffers:
                    slots["weight gradient"] = torch.zeros_like(w)
                    self.tracker.hold(f"readout gradient {layer.name}", "weight_gradient", slots["weight gradient"])
                self.readout[layer.name] = (w, slots)
        self._feedback = None
        self._matrices: dict[str, torch.Tensor] = {}
        self._feedback_kind = feedback if isinstance(feedback, str) else ("input" if feedback else None)
        if self._feedback_kind == "input" and self.setup.feedback != "regenerated":
            self._feedback = self.feedback()
            if self.setup.feedback == "ram":
                self.tracker.hold("F", "feedback", self._feedback)
        elif self._feedback_kind in ("weights", "outputs") and self.setup.feedback != "regenerated":
            for name, layer, _ in feedback_matrices(self.model, self.plan, self._feedback_kind):
                self._matrices[layer] = self._random_matrix(layer)
                if self.setup.feedback == "ram":
                    self.tracker.hold(name, "feedback", self._matrices[layer])

    def _matrix_shape(self, layer: str) -> tuple:
        lay = self.model.by_name[layer]
        if self._feedback_kind == "weights":
            return tuple(self.net.params(lay)[0].shape)
        return (lay.output_elements, self.model.output.output_elements)

    def _random_matrix(self, layer: str):
        g = torch.Generator().manual_seed(self.seed + 2 + [lay.name for lay in self.model.layers].index(layer))
        with self.counter.paused():
            return (torch.rand(self._matrix_shape(layer), generator=g) * 2 - 1) * FEEDBACK_SCALE

    def matrix(self, layer: str):
        """A layer's fixed random feedback matrix B_l: held, or regenerated where it is used (counted)."""
        if self.setup.feedback != "regenerated":
            return self._matrices[layer]
        g = torch.Generator().manual_seed(self.seed + 2 + [lay.name for lay in self.model.layers].index(layer))
        with self.counter.at(layer, "feedback_generation"):
            b = torch.rand(self._matrix_shape(layer), generator=g)
        with self.counter.paused():
            return (b * 2 - 1) * FEEDBACK_SCALE

    def gradients(self, layer: Layer, delta, h) -> tuple:
        """dW of the trained channels and db from the pre-activation error ``delta`` and the input
        ``h`` (as the layer reads it: padded, flattened); each counted under its own label."""
        with torch.no_grad():  # gradients of the parameters, not part of any graph
            return self._gradients(layer, delta, h)

    def _gradients(self, layer: Layer, delta, h) -> tuple:
        u = self.plan.of(layer.name)
        if layer.kind in RECURRENT_KINDS:
            return self._recurrent_gradients(layer, delta, h, u)
        if layer.kind == "batch_norm":
            return self._channel_affine_gradients(layer, delta, h, u)
        if layer.kind == "embedding":  # the touched rows: each output row's error added into its index's row
            with self.counter.at(layer.name, "weight_gradient"):
                return torch.ops.aten.embedding_dense_backward(delta, h.long(), layer.attr("vocab"), -1, False), None
        weight, bias = self.net.params(layer)
        gw = gb = None
        if u.weights:
            n = int(u.channels)
            with self.counter.at(layer.name, "weight_gradient"):
                if layer.kind == "dense":
                    gw = delta.reshape(delta.shape[0], -1).t() @ h.reshape(h.shape[0], -1)[:, :n]
                elif layer.kind == "conv2d_transpose":  # (C_in, C_out, k, k): the trained input channels first
                    gw = torch.ops.aten.convolution_backward(
                        uncropped(delta, layer.padding), h[:, :n], weight[:n], None, list(layer.stride), [0, 0], [1, 1],
                        True, [0, 0], 1, [False, True, False])[1]
                elif layer.kind == "depthwise_conv2d":
                    gw = torch.ops.aten.convolution_backward(
                        delta[:, :n], h[:, :n], weight[:n], None, list(layer.stride), [0, 0], _dilation(layer), False,
                        [0, 0], n, [False, True, False])[1]
                else:
                    gw = torch.ops.aten.convolution_backward(
                        delta, _group_slice(layer, h, n), weight[:, :n], None, list(layer.stride), [0, 0],
                        _dilation(layer), False, [0, 0], layer.groups, [False, True, False])[1]
        if u.bias and bias is not None:
            with self.counter.at(layer.name, "bias_gradient"):
                # summed over the batch and the positions: one add per element
                gb = delta.sum(dim=(0, 2, 3)) if delta.dim() == 4 else delta.reshape(delta.shape[0], -1).sum(dim=0)
        return gw, gb

    def _channel_affine_gradients(self, layer: Layer, delta, x, u) -> tuple:
        """An unfolded batch normalization's dgamma' = sum over positions of g x, each channel's sum of products as
        one batched product (one MAC per element), and dbeta' = sum of g (one add per element)."""
        shape = layer.output_shape
        g = to_ir(delta, shape).reshape(-1, shape[-1]).t()  # (C, positions of every sample)
        gw = gb = None
        if u.weights:
            with self.counter.at(layer.name, "weight_gradient"):
                xs = to_ir(x, shape).reshape(-1, shape[-1]).t()
                gw = torch.bmm(g.unsqueeze(1), xs.unsqueeze(2)).reshape(-1)
        if u.bias and layer.biases:
            with self.counter.at(layer.name, "bias_gradient"):
                gb = g.sum(dim=1)
        return gw, gb

    def recurrent_errors(self, layer: Layer, g, op: str):
        """A recurrent layer's gate errors through time: formed once, counted under ``op`` (``costs.ops``)."""
        if layer.name not in self.gate_errors:
            with self.counter.at(layer.name, op):
                self.gate_errors[layer.name] = recurrent.gate_errors(layer, self.net.ops[module_key(layer)],
                                                                     self.states[layer.name], g)
        return self.gate_errors[layer.name]

    def _recurrent_gradients(self, layer: Layer, g, x, u) -> tuple:
        cell = self.net.ops[module_key(layer)]
        errors = self.recurrent_errors(layer, g, "weight_gradient" if u.weights else "bias_gradient")
        gw = gb = None
        if u.weights:
            with self.counter.at(layer.name, "weight_gradient"):
                gw = recurrent.weight_gradient(layer, cell, errors, x, self.states[layer.name])
        if u.bias and cell.bias is not None:
            with self.counter.at(layer.name, "bias_gradient"):
                gb = recurrent.bias_gradient(layer, cell, errors)
        self.gate_errors.pop(layer.name)
        return gw, gb

    def readout_weights(self) -> dict:
        """FF's readout W_r, one classes x elements block per activity it reads (its values do not change
        what is executed)."""
        g = torch.Generator().manual_seed(self.seed + 3)
        classes = self.model.output.output_elements
        with self.counter.paused():
            return {layer.name: (torch.rand(classes, layer.output_elements, generator=g) * 2 - 1) * FEEDBACK_SCALE
                    for layer in self.plan.readout}

    def training(self, micro_batch, feedback: str | None = None, readout: bool = False) -> None:
        """A training step: the resident state, ``micro_batch(prefix, last)`` once per micro-batch
        (``last``: the step's final one, after which buffered gradients are applied), then the
        optimizer's step where gradients were buffered."""
        setup = self.setup
        self.start(feedback=feedback, readout=readout)
        for k in range(setup.micro_batches):
            micro_batch(f"micro-batch {k + 1}: " if setup.micro_batches > 1 else "", k == setup.micro_batches - 1)
        if setup.gradient_buffers:
            self.sample("optimizer step")

    def update(self, layer: Layer, gw, gb, last: bool) -> None:
        """Apply (SGD on one micro-batch: as computed) or buffer a gradient; ``last``: the step's
        final contribution to this layer, after which buffered gradients are applied."""
        with torch.no_grad():
            self._update(layer, gw, gb, last)

    def _update(self, layer: Layer, gw, gb, last: bool) -> None:
        slots = self.state[layer.name]
        if not self.setup.gradient_buffers:
            self._apply(layer, gw, gb)
            return
        first = self.contributions[layer.name] == 0
        self.contributions[layer.name] += 1
        for kind, g in (("weight", gw), ("bias", gb)):
            if g is None:
                continue
            buf = slots[f"{kind} gradient"]
            if first:
                buf.copy_(g)
            else:
                with self.counter.at(layer.name, "gradient_accumulation"):
                    buf.add_(g)
        if last:
            self._apply(layer, slots.get("weight gradient"), slots.get("bias gradient"))

    def _apply(self, layer: Layer, gw, gb, scale: float = 1.0) -> None:
        """One optimizer step on the trained parameters (``costs.formulas.OPTIMIZER_MACC`` states each rule);
        ``scale``: a scalar SGD folds into its step size (theta - (eta s) z, the zeroth-order update)."""
        w, b = self.trained_views(layer)
        self._step += 1
        self._optimize(layer.name, "optimizer", self.state[layer.name], (("weight", w, gw), ("bias", b, gb)), scale)

    def readout_update(self, layer: Layer, g, last: bool) -> None:
        """FF's readout gradient on one activity: applied as computed, or buffered and applied after the
        step's last micro-batch (as ``update``)."""
        w, slots = self.readout[layer.name]
        with torch.no_grad():
            if not self.setup.gradient_buffers:
                self._optimize(layer.name, "readout_step", slots, (("weight", w, g),))
                return
            key = f"readout {layer.name}"
            buf = slots["weight gradient"]
            if self.contributions[key] == 0:
                buf.copy_(g)
            else:
                with self.counter.at(layer.name, "readout_accumulation"):
                    buf.add_(g)
            self.contributions[key] += 1
            if last:
                self._optimize(layer.name, "readout_step", slots, (("weight", w, buf),))

    def _optimize(self, label: str, op: str, slots: dict, params, scale: float = 1.0) -> None:
        """The optimizer's rule on (kind, parameter, gradient) triples, counted under ``op``."""
        opt = self.setup.optimizer
        with torch.no_grad(), self.counter.at(label, op):
            for kind, p, g in params:
                if p is None or g is None:
                    continue
                g = g.reshape(p.shape)
                if opt == "sgd":
                    p.add_(g, alpha=-LEARNING_RATE * scale)
                elif opt == "sgd-momentum":
                    v = slots[f"{kind} state 0"]
                    torch.add(g, v, alpha=MOMENTUM, out=v)  # v <- mu v + g
                    p.add_(v, alpha=-LEARNING_RATE)
                else:  # Adam, the bias corrections folded into the step size and epsilon
                    m, v = slots[f"{kind} state 0"], slots[f"{kind} state 1"]
                    b1, b2 = ADAM_BETAS
                    t = 1
                    lr_t = LEARNING_RATE * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                    eps_t = ADAM_EPS * math.sqrt(1 - b2 ** t)
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    p.addcdiv_(m, v.sqrt().add_(eps_t), value=-lr_t)


# -- walking the layers ----------------------------------------------------------------------------

def readers(layers: list[Layer]) -> Counter:
    """How many of ``layers`` read each value."""
    return Counter(src for layer in layers for src in layer.inputs)


def release_read(values: dict, remaining: Counter, layer: Layer, keep: frozenset[str] = frozenset()) -> None:
    """``layer`` has read its inputs: drop each one whose last reader it was (unless kept)."""
    for src in layer.inputs:
        remaining[src] -= 1
        if remaining[src] == 0 and src not in keep:
            values.pop(src, None)


def walk(s: Step, values: dict, tag: str, layers: list[Layer], samples: int, *, keep: frozenset[str] = frozenset(),
         name=lambda layer: layer.name, role=lambda layer: "activation", after: Callable | None = None) -> None:
    """Run ``layers`` in order; drop each value once its last reader in ``layers`` has run."""
    remaining = readers(layers)
    for layer in layers:
        ins = [values[src] for src in layer.inputs]
        out = s.forward(layer, ins)[1]
        values[layer.name] = out
        s.hold(name(layer), role(layer), out, samples)
        s.sample(f"{tag} {layer.name}")
        if after is not None:
            after(layer, ins, out, values)
        del ins, out
        release_read(values, remaining, layer, keep)


def _buffer_name(s: Step, layer: Layer, suffix: str = "") -> str:
    return s.owner(layer.name) + suffix


# -- inference -----------------------------------------------------------------------------------

def plain_inference(s: Step) -> None:
    """One forward pass; every buffer is dropped once its last reader has run."""
    values = s.inputs(1)
    with torch.no_grad():
        walk(s, values, "clean", s.model.computed, 1, name=lambda lay: _buffer_name(s, lay))


# -- backpropagation ----------------------------------------------------------------------------

def _dilation(layer: Layer) -> list[int]:
    return list(layer.dilation or (1, 1))


def _group_slice(layer: Layer, h, n: int):
    """The input channels a grouped convolution's first ``n`` weight channels read: the first ``n``
    of every group (all of them for an ungrouped convolution's ``h[:, :n]``)."""
    if layer.groups == 1:
        return h[:, :n]
    g = layer.groups
    return h.reshape(h.shape[0], g, h.shape[1] // g, *h.shape[2:])[:, :, :n].reshape(h.shape[0], g * n, *h.shape[2:])


def input_slice(layer: Layer, src, n: int):
    """What a layer trained on ``n`` channels keeps of its input buffer ``src`` (a copy): a dense
    layer's first ``n`` features, a depthwise convolution's channels feeding its first ``n`` outputs,
    a convolution's first ``n`` channels of each group."""
    if layer.kind == "dense":
        return src.reshape(src.shape[0], -1)[:, :n].clone()
    if layer.kind == "depthwise_conv2d":
        per_input = layer.dims.C_out // layer.dims.C_in
        return src[:, :-(-n // per_input)].clone()
    return _group_slice(layer, src, n).clone()


def _derivative_mask(layer: Layer, pre):
    """The 1-bit mask standing for the activation's derivative: pre > 0 (and < 6 for ReLU6)."""
    return (pre > 0) & (pre < 6) if layer.activation == "relu6" else pre > 0


def _through_derivative(layer: Layer, g, mask, out, pre_activation=None, slopes=None):
    """The error before the activation, in place: masked by the kept mask, or by the kept output,
    or (``layers.INPUT_DERIVATIVE``) by the kept input, ``pre_activation()``. Selecting or scaling by a
    derivative is not a multiply-accumulate here (ReLU's is a select; every other derivative runs as
    one fused operator, which the counter does not count, as the activation itself)."""
    if mask is not None:
        return g.masked_fill_(~mask, 0.0)
    act = layer.activation
    if act == "relu":
        return g.masked_fill_(out <= 0, 0.0)
    if act == "relu6":
        return g.masked_fill_((out <= 0) | (out >= 6), 0.0)
    if act == "sigmoid":
        return g.copy_(torch.ops.aten.sigmoid_backward(g, out))
    if act == "tanh":
        return g.copy_(torch.ops.aten.tanh_backward(g, out))
    if act == "relu_n1_to_1":
        return g.masked_fill_((out <= -1) | (out >= 1), 0.0)
    if act == "leaky_relu":
        return g.copy_(torch.ops.aten.leaky_relu_backward(g, out, LEAKY_SLOPE, True))
    if act == "elu":
        return g.copy_(torch.ops.aten.elu_backward(g, ELU_ALPHA, 1.0, 1.0, True, out))
    x = pre_activation() if pre_activation is not None else None
    if x is None:
        raise ValueError(f"no derivative for activation {act!r} without its input")
    backward = {"hard_sigmoid": torch.ops.aten.hardsigmoid_backward, "hard_swish": torch.ops.aten.hardswish_backward,
                "silu": torch.ops.aten.silu_backward, "gelu": torch.ops.aten.gelu_backward}
    if act in backward:
        return g.copy_(backward[act](g, x))
    if act == "prelu":
        return g.copy_(torch.ops.aten._prelu_kernel_backward(g, x, slopes)[0])
    raise ValueError(f"no derivative for activation {act!r}")


def _chain(s: Step, src: str) -> list[Layer]:
    """The transient layers (paddings, reshapes, converters) from ``src``'s buffer up to ``src``."""
    chain = []
    name = src
    while s.owner(name) != name:
        chain.append(s.model.by_name[name])
        name = chain[-1].inputs[0]
    return chain[::-1]


def _to_owner(s: Step, src: str, g):
    """An error with respect to ``src`` brought back to the buffer it reads through: a padding's
    error cropped, a reshape's reshaped (an engine writes the unpadded error directly)."""
    for layer in reversed(_chain(s, src)):
        if layer.kind == "pad":
            g = _unpad(layer, g)
        elif layer.kind in ("reshape", "flatten"):
            g = reshaped(g, layer.output_shape, layer.input_shapes[0])
    own = s.model.by_name[s.owner(src)]
    return g.reshape(values_shape(s, own.name, g.shape[0])).contiguous()


def _from_owner(s: Step, src: str, value):
    """``src``'s value rebuilt from its buffer's: the paddings and reshapes between them run again
    (no multiply-accumulate)."""
    for layer in _chain(s, src):
        value = s.net.run_layer(layer, [value])[1]
    return value


def uncropped(g, padding):
    """A transposed convolution's error on its cropped output, zero on the border it crops: on its whole output."""
    top, bottom, left, right = padding or (0, 0, 0, 0)
    return F.pad(g, (left, right, top, bottom)) if any((top, bottom, left, right)) else g


def _unpad(layer: Layer, g):
    """A padding layer's error cropped back to its input (any axis, for ``pads``)."""
    if layer.padding:
        return crop(g, layer.padding)
    out = layer.output_shape
    index = (slice(None), *(slice(a, d - b) for (a, b), d in zip(layer.attr("pads"), out)))
    return from_ir(to_ir(g, out)[index], layer.input_shapes[0])




def _read_shape(s: Step, layer: Layer, src: str, samples: int) -> tuple:
    """The shape of ``src`` as ``layer`` reads it: padded by the layer's own padding."""
    shape = list(values_shape(s, src, samples))
    if layer.padding and len(shape) == 4 and layer.kind in ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d"):
        t, b, l, r = layer.padding
        shape[2] += t + b
        shape[3] += l + r
    return tuple(shape)


class NoInputGradient(Exception):
    """A kind whose input gradient the reference does not execute (a max pool's routing to its maxima)."""

    def __init__(self, kind: str, layer: str):
        super().__init__(f"no input gradient for {kind}")
        self.kind, self.layer = kind, layer


def _input_gradient(s: Step, layer: Layer, g, in_shape, aligned: bool = False, index: int = 0, value=None,
                    output=None):
    """The error with respect to the layer's input ``index`` (as the layer reads it, before cropping);
    ``aligned``: through FA's fixed B_l instead of W_l (the same shapes, so the same work); ``value(k)``
    gives input ``k``'s kept value where the error needs it (a product's other factors); ``output`` the
    layer's own kept output (a softmax's)."""
    if layer.kind in RECURRENT_KINDS:
        errors = s.recurrent_errors(layer, g, "input_gradient")
        if not s.plan.trained(layer.name):
            s.gate_errors.pop(layer.name)
        with s.counter.at(layer.name, "input_gradient"):
            return recurrent.input_error(layer, s.net.ops[module_key(layer)], errors)
    weight, _ = s.net.params(layer) if layer.kind in ("conv2d", "conv2d_transpose", "depthwise_conv2d", "dense") \
        else (None, None)
    if aligned and weight is not None:
        weight = s.matrix(layer.name)
    with s.counter.at(layer.name, "input_gradient"):
        if layer.kind == "dense":
            return g.reshape(g.shape[0], -1) @ weight
        if layer.kind == "conv2d_transpose":  # a convolution of the error over the whole uncropped output
            return torch.ops.aten.convolution_backward(
                uncropped(g, layer.padding), torch.empty(()).expand(in_shape), weight, None, list(layer.stride), [0, 0],
                [1, 1], True, [0, 0], 1, [True, False, False])[0]
        if layer.kind in ("conv2d", "depthwise_conv2d"):
            groups = in_shape[1] if layer.kind == "depthwise_conv2d" else layer.groups
            return torch.ops.aten.convolution_backward(
                g, torch.empty(()).expand(in_shape), weight, None, list(layer.stride), [0, 0], _dilation(layer), False,
                [0, 0], groups, [True, False, False])[0]
        if layer.kind == "avg_pool2d":
            return torch.ops.aten.avg_pool2d_backward(g, torch.empty(()).expand(in_shape), list(layer.kernel),
                                                      list(layer.stride), [0, 0], False, True, None)
        if layer.kind == "max_pool2d":  # routed to each window's maximum, found again in the kept input
            x = s.net.layer_input(layer, [value(0)])
            with s.counter.paused():  # comparisons, no multiply-accumulate (``formulas.max_pool_backward``)
                _, idx = torch.ops.aten.max_pool2d_with_indices(x, list(layer.kernel), list(layer.stride))
            return torch.ops.aten.max_pool2d_with_indices_backward(g, x, list(layer.kernel), list(layer.stride),
                                                                   [0, 0], [1, 1], False, idx)
        if layer.kind in ("add", "sub", "mul"):
            return _elementwise_gradient(layer, g, index, value)
        if layer.kind == "mean":
            src = layer.input_shapes[0]
            kept = tuple(1 if a in layer.attr("axes") else d for a, d in enumerate(src))
            spread = to_ir(g, layer.output_shape).reshape(g.shape[0], *kept).expand(g.shape[0], *src)
            return from_ir(spread * (math.prod(kept) / math.prod(src)), src)
        if layer.kind == "softmax":
            return _softmax_gradient(layer, g, output)
        if layer.kind == "layer_norm":
            return _layer_norm_vector(s, layer, value(0), g, gamma_first=True)
        if layer.kind == "batch_norm":  # gamma' g
            weight, _ = s.net.params(layer)
            return from_ir(to_ir(g, layer.output_shape) * weight, layer.output_shape)
        if layer.kind == "lrn":  # through the window, from the kept input
            return lrn_vector(layer, value(0), g, transposed=True)
        if layer.kind == "matmul":  # dA = g B^T, dB = A^T g
            sa, sb = layer.input_shapes
            gi = to_ir(g, layer.output_shape)
            if index == 0:
                return from_ir(torch.matmul(gi, to_ir(value(1), sb).transpose(-1, -2)), sa)
            return from_ir(torch.matmul(to_ir(value(0), sa).transpose(-1, -2), gi), sb)
        if layer.kind == "resize" and layer.attr("method") == "bilinear":  # each error to its 4 taps, weighted
            return torch.ops.aten.upsample_bilinear2d_backward(
                g, list(layer.attr("size")), list(in_shape), layer.attr("coordinates") == "align_corners")
        if layer.kind == "resize":  # each block's errors summed into the input element it copies
            n, c, h, w = in_shape
            sh, sw = layer.attr("scale")
            return g.reshape(n, c, h, sh, w, sw).sum(dim=(3, 5))
        if layer.kind == "transpose":
            inverse = [0] * len(layer.attr("perm"))
            for i, a in enumerate(layer.attr("perm")):
                inverse[a] = i
            return copied(from_ir(to_ir(g, layer.output_shape).permute(0, *(a + 1 for a in inverse)),
                                  layer.input_shapes[0]), g)
        if layer.kind == "slice":
            src = layer.input_shapes[0]
            dx = g.new_zeros(in_shape)
            index_ = (slice(None), *(slice(b, e, st) for b, e, st in
                                     zip(layer.attr("begin"), layer.attr("end"), layer.attr("step"))))
            to_ir(dx, src)[index_] = to_ir(g, layer.output_shape)
            return dx
        if layer.kind == "concat":
            axis = layer.attr("axis")
            shapes = layer.input_shapes
            if axis is None:  # channels: the module's dimension 1
                start = sum(module_shape(sh)[0] for sh in shapes[:index])
                return g[:, start:start + module_shape(shapes[index])[0]].clone()
            start = sum(sh[axis] for sh in shapes[:index])
            part = to_ir(g, layer.output_shape).narrow(axis + 1, start, shapes[index][axis])
            return from_ir(part, shapes[index]).clone()
    raise NoInputGradient(layer.kind, layer.name)


def _layer_norm_vector(s: Step, layer: Layer, x, v, gamma_first: bool):
    """A layer normalization's J^T g (``gamma_first``: g scaled by gamma first) or J t (scaled last), from its
    input: x_hat and r recomputed, then r (v' - mean(v') - x_hat mean(v' x_hat)) (``formulas.layer_norm_backward``)."""
    shape = layer.output_shape
    x_hat, r = layer_norm_stats(to_ir(x, shape))
    gamma = s.net.ops[module_key(layer)].weight if layer.weights else None
    vi = to_ir(v, shape)
    if gamma is not None and gamma_first:
        vi = vi * gamma
    out = (vi - vi.mean(dim=-1, keepdim=True) - x_hat * (vi * x_hat).mean(dim=-1, keepdim=True)) * r
    if gamma is not None and not gamma_first:
        out = out * gamma
    return from_ir(out, shape)


def _matmul_tangent(layer: Layer, ins: list, t_ins: list):
    """dA B + A dB, the second product accumulated into the first (one MAC per multiply-accumulate)."""
    sa, sb = layer.input_shapes
    out = None
    for i, t in enumerate(t_ins):
        if t is None:
            continue
        a, b = (to_ir(t if j == i else x, shape) for j, (x, shape) in enumerate(zip(ins, (sa, sb))))
        if out is None:
            out = torch.matmul(a, b)
        else:
            n, k, m = sa[-2], sa[-1], sb[-1]
            out = torch.baddbmm(out.reshape(-1, n, m), a.reshape(-1, n, k), b.reshape(-1, k, m)).reshape(out.shape)
    return from_ir(out, layer.output_shape)


def _mul_tangent(layer: Layer, ins: list, t_ins: list):
    """A product one input of which carries a tangent (a layer scale's constant times a map): that tangent times
    the other factors, as many multiplies per output element as the forward's."""
    from ..torch_build import broadcast_operand

    out = layer.output_shape
    i = next(k for k, t in enumerate(t_ins) if t is not None)
    t = broadcast_operand(t_ins[i], layer.input_shapes[i], out)
    for k, (x, shape) in enumerate(zip(ins, layer.input_shapes)):
        if k != i:
            t = t * broadcast_operand(x, shape, out)
    return t


def _softmax_gradient(layer: Layer, g, y):
    """dx = y (g - s), s = sum_axis(g y): each row's sum of products as one batched matrix product (one MAC
    per element, as ``costs.formulas.softmax_backward`` counts), then the subtraction and the product."""
    shape = layer.output_shape
    axis = layer.attr("axis", len(shape) - 1) + 1
    gi, yi = to_ir(g, shape).movedim(axis, -1), to_ir(y, shape).movedim(axis, -1)
    width = gi.shape[-1]
    rows = gi.reshape(-1, 1, width)
    dot = torch.bmm(rows, yi.reshape(-1, width, 1)).reshape(*gi.shape[:-1], 1)
    dx = yi * (gi - dot)
    return from_ir(dx.movedim(-1, axis), shape)


def _elementwise_gradient(layer: Layer, g, index: int, value):
    """An element-wise layer's error for input ``index``: g (negated for a subtraction's second
    input), times the other factors for a product; summed over the axes that input was broadcast
    along. A product's broadcast sum runs as one batched matrix product over the kept positions, so
    that each output element costs one multiply-accumulate (as ``costs.formulas`` counts it)."""
    out, src = layer.output_shape, layer.input_shapes[index]
    n = g.shape[0]
    full = (1,) * (len(out) - len(src)) + tuple(src)
    reduced = [a for a, (d, o) in enumerate(zip(full, out)) if d != o]
    if layer.kind == "mul":
        from ..torch_build import broadcast_operand

        others = [broadcast_operand(value(k), sh, out) for k, sh in enumerate(layer.input_shapes) if k != index]
        factor = others[0]
        for other in others[1:]:
            factor = factor * other
        if not reduced:
            return g * factor
        # (n, kept..., reduced...) x (n, kept..., reduced...) -> (n, kept...): one MAC per output element
        kept = [a for a in range(len(out)) if a not in reduced]
        order = [0, *(a + 1 for a in kept), *(a + 1 for a in reduced)]
        rows = math.prod(out[a] for a in kept)
        cols = math.prod(out[a] for a in reduced)
        gi = to_ir(g, out).expand(n, *out).permute(order).reshape(n * rows, 1, cols)
        fi = to_ir(factor.expand_as(g) if factor.shape != g.shape else factor, out).permute(order)
        total = torch.bmm(gi, fi.reshape(n * rows, cols, 1)).reshape(n, *(out[a] for a in kept))
        return from_ir(total.reshape(n, *full).reshape(n, *src), src)
    sign = -1.0 if layer.kind == "sub" and index == 1 else 1.0
    if reduced:
        total = to_ir(g, out).sum(dim=[a + 1 for a in reduced], keepdim=True).reshape(n, *src)
        total = from_ir(total, src)
    else:
        total = g.clone()
    return torch.neg(total) if sign < 0 else total


def _weight_input(s: Step, layer: Layer, values: dict, slices: dict):
    """What the layer's weight gradient reads, as the layer reads it (padded, flattened): its
    input, or the kept slice of its trained channels; None when only the bias is trained."""
    if not s.plan.of(layer.name).weights:
        return None
    src = layer.inputs[0]
    if layer.name in slices:
        base = slices[layer.name]  # the buffer's trained channels (a dense layer's: its features)
        return base if layer.kind == "dense" else s.net.layer_input(layer, [_from_owner(s, src, base)])
    value = values[src] if src in values else _from_owner(s, src, values[s.owner(src)])
    return s.net.layer_input(layer, [value])


@dataclass
class _Kept:
    """What a forward pass leaves for the steps after it: the values still read, the masks and the
    input slices, and how many later steps read each buffer."""

    values: dict
    masks: dict
    slices: dict
    back: Counter
    remaining: Counter


def _count_back(s: Step, back: Counter, layers, reached) -> None:
    """Add what the steps after ``layers`` read of them: a trained layer's input, an activation's output."""
    plan = s.plan
    for layer in layers:
        if transient(layer) or not reached(layer, plan):
            continue
        for own in kept_buffers(layer, plan, s.sizes, reached):
            back[own] += 1


def _forward_keeping(s: Step, prefix: str, m: int, reached, hold: frozenset[str] = frozenset()) -> _Kept:
    """The forward pass of one micro-batch keeping what the steps ``reached`` (the layers an error
    reaches) read: a trained layer's input or its trained slice, an activation's output or its mask;
    and the buffers in ``hold`` (checkpoints), until ``_unhold``."""
    back = Counter(hold)
    _count_back(s, back, s.plan.body, reached)
    values = s.inputs(m, role=lambda name: "saved" if back[name] else "activation")
    remaining = readers(s.model.layers)
    remaining[s.model.output.name] += 1  # the error reads the output
    if s.model.task == "reconstruction":
        remaining[s.input_name] += 1  # and an autoencoder's input, its target
    kept = _Kept(values, {}, {}, back, remaining)
    _run_keeping(s, kept, s.model.computed, f"{prefix}forward", m, reached)
    return kept


def _run_keeping(s: Step, kept: _Kept, layers, tag: str, m: int, reached, op: str = "forward") -> None:
    """Run ``layers`` from ``kept.values``, holding what ``kept.back`` says later steps read and
    releasing the rest after its last reader (``kept.remaining``)."""
    plan = s.plan
    values, masks, slices, back, remaining = kept.values, kept.masks, kept.slices, kept.back, kept.remaining
    with torch.no_grad():
        for layer in layers:
            ins = [values[src] for src in layer.inputs]
            pre, out = s.forward(layer, ins, op)
            states, s.net.saved_states = s.net.saved_states, None
            values[layer.name] = out
            own = s.owner(layer.name)
            s.hold(own, "saved" if back[own] else "activation", out, m)
            if states_kept(layer, plan, reached):
                s.states[layer.name] = states
                s.tracker.hold(f"states {layer.name}", "saved", states, nbytes_=states_bytes(layer, s.sizes, m))
            del states
            if mask_kept(layer, plan, reached):
                masks[layer.name] = _derivative_mask(layer, pre)
                s.tracker.hold(f"mask {layer.name}", "mask", masks[layer.name])
            if reached(layer, plan) and sliced(layer, plan):
                n = int(plan.of(layer.name).channels)
                src = _to_owner(s, layer.inputs[0], ins[0])
                cut = input_slice(layer, src, n)
                slices[layer.name] = cut
                s.tracker.hold(f"input slice {layer.name}", "saved", cut)
                del cut, src
            del pre, out, ins
            s.sample(f"{tag} {layer.name}")
            for src in layer.inputs:
                remaining[src] -= 1
                if remaining[src] == 0 and not back[src]:
                    values.pop(src, None)
            if remaining[layer.name] <= 0 and not back[layer.name]:  # a segment's end nothing reads again
                values.pop(layer.name, None)


def _output_error(s: Step, kept: _Kept, prefix: str, m: int):
    """e at the logits, read from the output (an autoencoder's input too), which then go."""
    values, remaining = kept.values, kept.remaining
    with torch.no_grad():
        e = s.error(values[s.model.output.name], s.target(values, m))
    s.sample(f"{prefix}error")
    remaining[s.model.output.name] -= 1
    if s.model.task == "reconstruction":
        remaining[s.input_name] -= 1
    for layer in s.model.layers:
        if remaining[layer.name] <= 0 and not kept.back[layer.name]:
            values.pop(layer.name, None)
    return e


def _release(s: Step, kept: _Kept, layer: Layer, reached) -> None:
    """After a layer's backward or update step: its mask and slice, and what only it still read."""
    name = layer.name
    kept.masks.pop(name, None)
    kept.slices.pop(name, None)
    s.states.pop(name, None)
    for own in kept_buffers(layer, s.plan, s.sizes, reached):
        kept.back[own] -= 1
        if kept.back[own] == 0:
            for held in [n for n in kept.values if s.owner(n) == own]:
                kept.values.pop(held)


def _backward(s: Step, kept: _Kept, layers, grads: dict, prefix: str, m: int, last_micro: bool,
              feedback: str | None = None) -> None:
    """The error back through ``layers`` (in backward order): each applies its activation's derivative,
    passes an error to its input where a trained layer lies before it, and updates its trained
    parameters; a fork's errors are summed. ``grads``: the errors in flight, by buffer."""
    plan = s.plan
    values, masks, slices = kept.values, kept.masks, kept.slices

    def holders(t) -> int:
        """Buffers holding the error ``t``: the same tensor, or a view of it (an add's error read through a reshape)."""
        at = t.untyped_storage().data_ptr()
        return sum(1 for v in grads.values() if v.untyped_storage().data_ptr() == at)

    with torch.no_grad():
        for layer in layers:
            name = layer.name
            g = grads[name]
            if layer.activation:
                if holders(g) > 1:  # another reader needs the error as it is
                    g = g.clone()
                    s.tracker.hold(f"error {name} (x derivative)", "error", g)
                    grads[name] = g
                g = _through_derivative(layer, g, masks.get(name), values.get(name),
                                        lambda: _kept_value(s, layer.inputs[0], values), _slopes(s, layer))
            if plan.needs_input_error[name]:
                for i, src in enumerate(layer.inputs):
                    own = s.owner(src)
                    if not plan.output_error[own]:
                        continue
                    if passes_error(layer, i):
                        contribution = g
                        if own != src:  # read through a reshape: the same error, viewed as its buffer
                            contribution = g.view(values_shape(s, own, g.shape[0]))
                    else:
                        dx = _input_gradient(s, layer, g, _read_shape(s, layer, src, m), feedback == "weights", i,
                                             lambda k: _kept_value(s, layer.inputs[k], values), values.get(name))
                        if layer.padding and dx.dim() == 4 and layer.kind != "conv2d_transpose":  # (its output's)
                            dx = crop(dx, layer.padding)
                        contribution = _to_owner(s, src, dx)
                        del dx
                        s.tracker.hold(f"error {own}", "error", contribution)
                    if own in grads:  # a fork: the errors of its readers add up
                        existing = grads[own]
                        with s.counter.at(own, "gradient_sum"):
                            if holders(existing) > 1:
                                grads[own] = existing + contribution
                                s.tracker.hold(f"error {own}", "error", grads[own])
                            else:
                                existing.add_(contribution)
                        del existing
                    else:
                        grads[own] = contribution
                    del contribution
            if plan.trained(name):
                h = _weight_input(s, layer, values, slices)
                gw, gb = s.gradients(layer, g, h)
                s.update(layer, gw, gb, last=last_micro)
                del gw, gb, h
            del g
            s.sample(f"{prefix}backward {name}")
            grads.pop(name)
            _release(s, kept, layer, reached_by_backward)


def _backward_layers(plan, names=None) -> list[Layer]:
    """The layers an error reaches, in backward order (of ``names`` only, if given)."""
    return [lay for lay in reversed(plan.body) if not transient(lay) and plan.output_error[lay.name]
            and (names is None or lay.name in names)]


def bp_training(s: Step, feedback: str | None = None) -> None:
    """Rumelhart et al. 1986, under the setup: forward keeping what the backward pass reads,
    error at the logits (softmax cross-entropy: p - y), then the error back through every layer
    an error reaches, dW and db of the trained parameters, applied or buffered. ``feedback="weights"``
    is feedback alignment (Lillicrap et al. 2016): B_l in place of W_l in the backward pass."""
    plan, m = s.plan, s.setup.micro
    layers = _backward_layers(plan)

    def micro_batch(prefix: str, last_micro: bool) -> None:
        kept = _forward_keeping(s, prefix, m, reached_by_backward)
        e = _output_error(s, kept, prefix, m)
        logits = s.owner(plan.logits.name)
        grads = {logits: e.reshape(values_shape(s, logits, m))}
        del e
        _backward(s, kept, layers, grads, prefix, m, last_micro, feedback)
        grads.clear()
        kept.values.clear()

    s.training(micro_batch, feedback=feedback)


def bp_checkpoint_training(s: Step) -> None:
    """Chen, Xu, Zhang & Guestrin 2016: the forward pass keeps only the segments' inputs (checkpoints) and
    what the last segment's backward reads; in the backward pass each earlier segment an error reaches is
    run again from its checkpoint, keeping what its own backward reads, then the error goes back through it."""
    plan, m = s.plan, s.setup.micro
    inputs = plan.segment_inputs

    def reached(layer, p) -> bool:
        return reached_by_backward(layer, p) and layer.name not in p.recomputed

    def micro_batch(prefix: str, last_micro: bool) -> None:
        hold = frozenset(own for k in plan.recomputed_segments for own in inputs[k])
        kept = _forward_keeping(s, prefix, m, reached, hold=hold)
        e = _output_error(s, kept, prefix, m)
        logits = s.owner(plan.logits.name)
        grads = {logits: e.reshape(values_shape(s, logits, m))}
        del e
        for k, names in reversed(list(enumerate(plan.segments))):
            if k in plan.recomputed_segments:
                layers = [s.model.by_name[n] for n in names]
                kept.remaining = readers(layers)
                _count_back(s, kept.back, layers, reached_by_backward)
                _run_keeping(s, kept, layers, f"{prefix}recompute", m, reached_by_backward, op="recompute")
                for own in inputs[k]:
                    _unhold(s, kept, own)
            _backward(s, kept, _backward_layers(plan, set(names)), grads, prefix, m, last_micro)
        grads.clear()
        kept.values.clear()

    s.training(micro_batch)


def _unhold(s: Step, kept: _Kept, own: str) -> None:
    """A checkpoint has been read by its segment's recomputation: released unless a backward step reads it."""
    kept.back[own] -= 1
    if kept.back[own] == 0:
        for held in [n for n in kept.values if s.owner(n) == own]:
            kept.values.pop(held)


def fa_training(s: Step) -> None:
    """Lillicrap et al. 2016: backpropagation with fixed random B_l in place of W_l^T."""
    bp_training(s, feedback="weights")


def dfa_training(s: Step) -> None:
    """Nokland 2016: the forward pass keeps what the updates read; the output error e is projected onto
    each trained layer through its fixed B_l (B_l e; e itself for the last layer), which applies its
    activation's derivative and updates. No sequential backward pass."""
    plan, setup = s.plan, s.setup
    m = setup.micro
    updated = [lay for lay in reversed(plan.body) if not transient(lay) and reached_by_update(lay, plan)]

    def micro_batch(prefix: str, last_micro: bool) -> None:
        kept = _forward_keeping(s, prefix, m, reached_by_update)
        e = _output_error(s, kept, prefix, m)
        with torch.no_grad():
            for layer in updated:
                name = layer.name
                if layer is plan.logits:
                    delta = e.reshape(values_shape(s, name, m)).clone()
                else:
                    with s.counter.at(name, "error_projection"):
                        delta = e @ s.matrix(name).t()
                    delta = delta.reshape(values_shape(s, name, m))
                    s.tracker.hold(f"error {name}", "error", delta)
                if layer.activation:
                    delta = _through_derivative(layer, delta, kept.masks.get(name), kept.values.get(name))
                h = _weight_input(s, layer, kept.values, kept.slices)
                gw, gb = s.gradients(layer, delta, h)
                s.update(layer, gw, gb, last=last_micro)
                del gw, gb, h
                s.sample(f"{prefix}update {name}")
                del delta
                _release(s, kept, layer, reached_by_update)
        del e
        kept.values.clear()

    s.training(micro_batch, feedback="outputs")


def drtp_training(s: Step) -> None:
    """Frenkel et al. 2021: the target y*, known before the pass, projected through each trained layer's
    fixed B_l as soon as the layer has run; the layer updates at once from B_l y* times its activation's
    derivative, read from the output in hand. The last layer updates from the output error e."""
    plan, setup = s.plan, s.setup
    m = setup.micro
    logits_input = s.owner(plan.logits.inputs[0])

    def micro_batch(prefix: str, last_micro: bool) -> None:
        values = s.inputs(m)
        target = s.target(values, m)

        def update(layer, ins, out, values):
            if not (layer.has_weights and plan.trained(layer.name)) or layer is plan.logits:
                return
            with s.counter.at(layer.name, "target_projection"):
                delta = target @ s.matrix(layer.name).t()
            delta = delta.reshape(out.shape)
            s.tracker.hold(f"error {layer.name}", "error", delta)
            if layer.activation:
                delta = _through_derivative(layer, delta, None, out)
            gw, gb = s.gradients(layer, delta, s.net.layer_input(layer, ins))
            s.update(layer, gw, gb, last=last_micro)
            s.sample(f"{prefix}update {layer.name}")

        keep = {layer.name for layer in s.model.layers if s.owner(layer.name) == logits_input}
        keep |= {s.model.output.name} | ({s.input_name} if s.model.task == "reconstruction" else set())
        with torch.no_grad():
            walk(s, values, f"{prefix}forward", s.model.computed, m, keep=frozenset(keep),
                 name=lambda lay: _buffer_name(s, lay), after=update)
            e = s.error(values[s.model.output.name], s.target(values, m))
            s.sample(f"{prefix}error")
            for name in [n for n in values if s.owner(n) != logits_input]:
                values.pop(name)
            if plan.trained(plan.logits.name):
                layer = plan.logits
                h = s.net.layer_input(layer, [values[layer.inputs[0]] if layer.inputs[0] in values
                                              else _from_owner(s, layer.inputs[0], values[logits_input])])
                gw, gb = s.gradients(layer, e.reshape(values_shape(s, layer.name, m)), h)
                s.update(layer, gw, gb, last=last_micro)
                del gw, gb, h
                s.sample(f"{prefix}update {layer.name}")
            del e
            values.clear()

    s.training(micro_batch, feedback="outputs")


# -- zeroth order ------------------------------------------------------------------------------------

#: MeZO's perturbation scale (Malladi et al. 2023 use 1e-3); its value does not change what is executed
MEZO_EPS = 1e-3


def _direction(s: Step, layer: Layer, kind: str, p):
    """z for one trained tensor, regenerated from its own seed at every use (counted one per value)."""
    g = torch.Generator().manual_seed(s.seed + 1000 + 2 * [lay.name for lay in s.model.layers].index(layer.name)
                                      + (kind == "bias"))
    with s.counter.at(layer.name, "random_generation"):
        return torch.randn(p.shape, generator=g)


def _seeded_update(s: Step, trained: list[Layer], scale: float) -> None:
    """theta <- theta - eta (scale z), z regenerated from its seed: SGD folds the scalar into its step
    (one MACC per parameter); an optimizer that reads the gradient gets g = scale z formed first."""
    with torch.no_grad():
        for layer in trained:
            z = {kind: _direction(s, layer, kind, p) for kind, p in zip(("weight", "bias"), s.trained_views(layer))
                 if p is not None}
            if s.setup.optimizer == "sgd":
                s._apply(layer, z.get("weight"), z.get("bias"), scale=scale)
            else:
                with s.counter.at(layer.name, "gradient_estimate"):
                    g = {kind: v * scale for kind, v in z.items()}
                s._apply(layer, g.get("weight"), g.get("bias"))


def mezo_training(s: Step) -> None:
    """Malladi et al. 2023 (MeZO, zeroth-order SGD in place): theta + eps z, the batch's loss; theta - eps z
    (a step of -2 eps z), the loss again; theta restored (+eps z); then theta <- theta - eta g z with
    g = (L+ - L-) / (2 eps). z is regenerated from its seed at each of its four uses; nothing is kept for
    an update but the parameters themselves. The loss is ||y - t||^2 (the difference and its square summed)."""
    plan, setup = s.plan, s.setup
    m = setup.micro
    trained = [lay for lay in plan.weight_layers if plan.trained(lay.name)]
    out = s.model.output.name
    keep = frozenset({out} | ({s.input_name} if s.model.task == "reconstruction" else set()))

    def perturb(scale: float, label: str) -> None:
        with torch.no_grad():
            for layer in trained:
                for kind, p in zip(("weight", "bias"), s.trained_views(layer)):
                    if p is not None:
                        z = _direction(s, layer, kind, p)
                        with s.counter.at(layer.name, "perturbation"):
                            p.add_(z, alpha=scale * MEZO_EPS)
        s.sample(label)

    def loss(prefix: str) -> float:
        total = 0.0
        for k in range(setup.micro_batches):
            mb = f"{prefix}micro-batch {k + 1}: " if setup.micro_batches > 1 else prefix
            values = s.inputs(m)
            with torch.no_grad():
                walk(s, values, f"{mb}forward", s.model.computed, m, keep=keep, name=lambda lay: _buffer_name(s, lay))
                e = s.error(values[out], s.target(values, m)).reshape(-1)
                with s.counter.at(out, "error"):
                    total += float(torch.dot(e, e))
            s.sample(f"{mb}loss")
            del e
            values.clear()
        return total

    s.start(gradients=False)
    perturb(1.0, "theta + eps z")
    plus = loss("theta + eps z: ")
    perturb(-2.0, "theta - eps z")
    minus = loss("theta - eps z: ")
    perturb(1.0, "theta restored")
    _seeded_update(s, trained, (plus - minus) / (2 * MEZO_EPS))
    s.sample("update")


# -- forward gradient ---------------------------------------------------------------------------------

#: kinds whose tangent is their own forward on the tangents (linear in their inputs)
_LINEAR_KINDS = frozenset({"avg_pool2d", "add", "concat", "reshape", "flatten", "pad", "quantize", "dequantize",
                           "resize", "mean", "transpose", "slice"})


def _weight_tangent(s: Step, layer: Layer, x, t_in, v: dict, shape):
    """W t_in + v_W x (+ v_b) before the activation, the two products accumulating into the same outputs:
    one product over [t_in, x's trained channels] and [W, v_W] (depthwise: per channel, two inputs each)."""
    weight, _ = s.net.params(layer)
    vw, vb = v.get("weight"), v.get("bias")
    n = int(s.plan.of(layer.name).channels) if vw is not None else 0
    groups = getattr(layer, "groups", 1)
    if layer.kind == "conv2d_transpose":
        raise LearncostError(f"{layer.name}: the forward gradient's reference does not execute transposed convolutions",
                             hint="verify it on a model without conv2d_transpose layers")
    if layer.kind == "conv2d" and groups != 1 or getattr(layer, "dilation", None) not in ((1, 1), 1, None):
        raise LearncostError(f"{layer.name}: the forward gradient's reference executes plain convolutions only",
                             hint="verify it on a model without grouped or dilated convolutions")
    stride = list(layer.stride) if layer.kind != "dense" else None
    with s.counter.at(layer.name, "tangent"):
        if layer.kind == "dense":
            parts = ([t_in.reshape(t_in.shape[0], -1)] if t_in is not None else []) + ([x[:, :n]] if n else [])
            mats = ([weight] if t_in is not None else []) + ([vw] if n else [])
            out = torch.cat(parts, 1) @ torch.cat(mats, 1).t() if parts else None
        elif layer.kind == "conv2d":
            parts = ([t_in] if t_in is not None else []) + ([x[:, :n]] if n else [])
            mats = ([weight] if t_in is not None else []) + ([vw] if n else [])
            out = F.conv2d(torch.cat(parts, 1), torch.cat(mats, 1), stride=stride) if parts else None
        else:  # depthwise, one filter per channel
            channels = weight.shape[0]
            if weight.shape[0] != x.shape[1]:
                raise LearncostError(f"{layer.name}: the forward gradient's reference executes depthwise convolutions "
                                     "with a depth multiplier of 1 only", hint="verify another model")
            pieces = []
            if n and t_in is not None:
                both = torch.stack([t_in[:, :n], x[:, :n]], 2).reshape(x.shape[0], 2 * n, *x.shape[2:])
                pieces.append(F.conv2d(both, torch.stack([weight[:n, 0], vw[:, 0]], 1), stride=stride, groups=n))
            elif n:
                pieces.append(F.conv2d(x[:, :n], vw, stride=stride, groups=n))
            if t_in is not None and n < channels:
                pieces.append(F.conv2d(t_in[:, n:], weight[n:], stride=stride, groups=channels - n))
            elif n < channels and pieces:
                with s.counter.paused():
                    pieces.append(torch.zeros(x.shape[0], channels - n, *pieces[0].shape[2:]))
            out = torch.cat(pieces, 1) if pieces else None
        if out is None:  # only the bias trained, and no tangent arriving: t = v_b at every position
            with s.counter.paused():
                out = torch.zeros(shape)
        if vb is not None:
            out = out + (vb.view(1, -1, 1, 1) if out.dim() == 4 else vb)
    return out


def forward_gradient_training(s: Step) -> None:
    """Baydin, Pearlmutter, Syme, Wood & Torr 2022: one forward pass carrying the tangent t = dy/dtheta . v
    along a random direction v (drawn from the step's seed, held while its layer runs); the directional
    derivative d = e . t at the logits (e = p - y, as backpropagation's output error); the batch's mean d
    scales v in the update, v regenerated. No backward pass, no kept activations."""
    from ..schedules.forward_gradient import carries_tangent

    plan, setup, model = s.plan, s.setup, s.model
    m = setup.micro
    trained = [lay for lay in plan.weight_layers if plan.trained(lay.name)]
    out_name, logits = model.output.name, plan.logits.name
    flowing = [lay for lay in plan.body if carries_tangent(lay, plan)]
    s.start(gradients=False)
    total = 0.0
    for k in range(setup.micro_batches):
        prefix = f"micro-batch {k + 1}: " if setup.micro_batches > 1 else ""
        values, tangents = s.inputs(m), {}
        remaining = readers(model.layers)
        remaining[out_name] += 1
        if model.task == "reconstruction":
            remaining[s.input_name] += 1
        t_remaining = readers(flowing)
        t_remaining[logits] += 1
        with torch.no_grad():
            for layer in model.computed:
                ins = [values[src] for src in layer.inputs]
                pre, out = s.forward(layer, ins)
                values[layer.name] = out
                s.hold(_buffer_name(s, layer), "activation", out, m)
                v = {}
                if carries_tangent(layer, plan):
                    t_ins = [tangents.get(src) for src in layer.inputs]
                    if layer.has_weights:
                        v = {kind: _direction(s, layer, kind, p)
                             for kind, p in zip(("weight", "bias"), s.trained_views(layer)) if p is not None}
                        for kind in v:
                            s.tracker.hold(f"direction {layer.name} ({kind})", "tangent", v[kind])
                        t = _weight_tangent(s, layer, s.net.layer_input(layer, ins),
                                            None if t_ins[0] is None else s.net.layer_input(layer, t_ins), v,
                                            out.shape)
                    elif layer.kind == "max_pool2d":  # the tangent at each window's maximum
                        with s.counter.paused():
                            h = s.net.layer_input(layer, ins)
                            _, idx = F.max_pool2d(h, layer.kernel, layer.stride, return_indices=True)
                            th = s.net.layer_input(layer, t_ins)
                            t = th.flatten(2).gather(2, idx.flatten(2)).view_as(idx)
                    elif layer.kind == "matmul":  # d(AB) = dA B + A dB, over the inputs a tangent reaches
                        with s.counter.at(layer.name, "tangent"):
                            t = _matmul_tangent(layer, ins, t_ins)
                    elif layer.kind == "mul" and sum(t is not None for t in t_ins) == 1:  # d(x c) = dx c
                        with s.counter.at(layer.name, "tangent"):
                            t = _mul_tangent(layer, ins, t_ins)
                    elif layer.kind == "activation":  # the function's derivative, below
                        t = t_ins[0].clone()
                    elif layer.kind == "layer_norm":
                        with s.counter.at(layer.name, "tangent"):
                            t = _layer_norm_vector(s, layer, ins[0], t_ins[0], gamma_first=False)
                    elif layer.kind == "lrn":
                        with s.counter.at(layer.name, "tangent"):
                            t = lrn_vector(layer, ins[0], t_ins[0], transposed=False)
                    elif layer.kind == "softmax":  # J t = y (t - sum(y t)): J is symmetric
                        with s.counter.at(layer.name, "tangent"):
                            t = _softmax_gradient(layer, t_ins[0], out)
                    elif layer.kind in _LINEAR_KINDS:
                        t_ins = [t if t is not None else torch.zeros_like(values[src])
                                 for t, src in zip(t_ins, layer.inputs)]
                        with s.counter.at(layer.name, "tangent"):
                            t = s.net.run_layer(layer, t_ins)[0]
                    else:
                        raise LearncostError(f"{layer.name}: the forward gradient's reference has no tangent rule "
                                             f"for a {layer.kind} layer", hint="verify a model of linear layers")
                    if layer.activation:  # a standalone activation's derivative may read its input
                        t = _through_derivative(layer, t, None, out, lambda: ins[0], _slopes(s, layer))
                    tangents[layer.name] = t
                    # a transient layer's tangent (a padded or reshaped copy) stands for its buffer's
                    s.hold(f"tangent {_buffer_name(s, layer)}", "tangent", t, m)
                    del t, t_ins
                del pre, out, ins
                s.sample(f"{prefix}forward {layer.name}")
                v.clear()
                release_read(values, remaining, layer)
                if carries_tangent(layer, plan):
                    release_read(tangents, t_remaining, layer)
            e = s.error(values[out_name], s.target(values, m)).reshape(-1)
            with s.counter.at(out_name, "error"):
                total += float(torch.dot(e, tangents[logits].reshape(-1)))
            s.sample(f"{prefix}error")
            del e
            values.clear()
            tangents.clear()
    _seeded_update(s, trained, total / setup.batch)
    s.sample("update")


def _kept_value(s: Step, src: str, values: dict):
    """``src``'s value from what the forward pass kept: its own, or rebuilt from its buffer's."""
    return values[src] if src in values else _from_owner(s, src, values[s.owner(src)])


def _slopes(s: Step, layer: Layer):
    return s.net.ops[module_key(layer)].weight if layer.activation == "prelu" else None


def values_shape(s: Step, name: str, samples: int) -> tuple:
    return (samples, *module_shape(s.model.by_name[name].output_shape))


# -- Forward-Forward ------------------------------------------------------------------------------

def _ff_threshold(layer: Layer) -> float:
    """theta in p = sigmoid(G - theta): the number of units, i.e. a mean square of 1 (Hinton 2022)."""
    return float(layer.output_elements)


def _embed(s: Step, x, label: int | None, negative: bool) -> None:
    """Supervised FF writes a one-hot label over the first ``classes`` input elements (Hinton 2022,
    section 3.3), a wrong label for negative data; unsupervised FF (an autoencoder) makes its
    negative data by shifting the sample, in place."""
    if s.model.supervised:
        flat = x.view(x.shape[0], -1)
        flat[:, : s.model.classes] = 0.0
        flat[:, label] = 1.0
    elif negative:
        x.copy_(x.roll(1, dims=-1))


def _ff_layer(s: Step, layer: Layer, ins, out, values: dict, positive: bool | None, last: bool,
              label: str) -> list[float]:
    """Goodness, local update (training: ``positive`` is True/False) and length normalization."""
    flat = out.detach().reshape(out.shape[0], 1, -1)
    with s.counter.at(layer.name, "goodness"):
        goodness = torch.bmm(flat, flat.transpose(1, 2)).reshape(-1)
    g = goodness.tolist()
    if positive is not None and s.plan.trained(layer.name):
        # the loss's scalars, one per sample and layer, in plain Python: not per-element work
        coef = []
        for value in g:
            z = max(-60.0, min(60.0, value - _ff_threshold(layer)))  # keeps exp() finite for random weights
            p = 1.0 / (1.0 + math.exp(-z))
            coef.append(2.0 * ((p - 1.0) if positive else p))  # -log p for positive data, -log(1 - p) for negative
        coef_t = torch.tensor(coef).reshape(-1, *([1] * (out.dim() - 1)))
        with s.counter.at(layer.name, "local_error"):
            dloss_dout = out.detach() * coef_t
        s.tracker.hold(f"local error {layer.name}", "error", dloss_dout)
        s.sample(label)
        delta = _through_derivative(layer, dloss_dout, None, out.detach()) if layer.activation else dloss_dout
        gw, gb = s.gradients(layer, delta, s.net.layer_input(layer, ins))
        s.update(layer, gw, gb, last=last)
        del dloss_dout, delta, gw, gb
    kept = out.detach()
    if s.plan.feeds_weights[layer.name]:
        # in place: the next layer reads the normalized vector, nothing reads the raw one
        scale = torch.tensor([1.0 / (math.sqrt(v) + 1e-12) for v in g]).reshape(-1, *([1] * (kept.dim() - 1)))
        with torch.no_grad(), s.counter.at(layer.name, "normalization"):
            kept.mul_(scale)
    values[layer.name] = kept
    return g


def ff_training(s: Step) -> None:
    """Hinton 2022: a positive pass (true label) and a negative pass (wrong label), each layer
    trained on its own goodness (sum of squared activities) and passing on its length-normalized
    output. The sample is kept for the second pass. No backward pass, no softmax head."""
    m = s.setup.micro

    def micro_batch(prefix: str, last_micro: bool) -> None:
        xs = s.inputs(m)
        _ff_passes(s, xs, m, prefix, last_micro)
        del xs

    s.training(micro_batch)


def _ff_passes(s: Step, xs: dict, m: int, prefix: str, last_micro: bool) -> None:
    """The positive pass (true label) and the negative pass (wrong label), the sample ``xs`` (every
    input's; the label goes in the first) kept through both."""
    true_label = s.seed % s.model.classes if s.model.supervised else None
    wrong_label = (true_label + 1) % s.model.classes if s.model.supervised else None
    for positive, label, sign in ((True, true_label, "positive"), (False, wrong_label, "negative")):
        _embed(s, xs[s.input_name], label, negative=not positive)
        values = dict(xs)
        last = last_micro and not positive

        def after(layer, ins, out, values, positive=positive, last=last, sign=sign):
            if layer.has_weights:
                _ff_layer(s, layer, ins, out, values, positive, last, f"{prefix}{sign} local error {layer.name}")

        walk(s, values, f"{prefix}{sign}", s.plan.body, m, name=lambda lay: _buffer_name(s, lay), after=after,
             keep=frozenset(xs))
        del values


def ff_inference(s: Step) -> list[float]:
    """Supervised: one pass per candidate label, accumulating every layer's goodness; the
    label with the highest total wins (the sample is kept for every pass). Unsupervised: one
    pass, its total goodness scoring the sample."""
    totals = []
    xs = s.inputs(1)
    labels = range(s.model.classes) if s.model.supervised else [None]
    for label in labels:
        _embed(s, xs[s.input_name], label, negative=False)
        values = dict(xs)
        if not s.model.supervised:
            del xs  # a single pass: the sample can go once its last reader has run
        goodness: list[float] = []

        def after(layer, ins, out, values, goodness=goodness):
            if layer.has_weights:
                goodness.extend(_ff_layer(s, layer, ins, out, values, None, False, ""))

        with torch.no_grad():
            walk(s, values, "clean", s.plan.body, 1, name=lambda lay: _buffer_name(s, lay), after=after,
                 keep=frozenset(s.model.input_names) if s.model.supervised else frozenset())
        del values
        totals.append(sum(goodness))
    return totals


def _neutral(s: Step, x) -> None:
    """Hinton 2022, section 3.3's neutral label: every label entry 1 / classes (an autoencoder's sample
    is left as it is)."""
    if s.model.supervised:
        flat = x.view(x.shape[0], -1)
        flat[:, : s.model.classes] = 1.0 / s.model.classes


def _readout_pass(s: Step, values: dict, tag: str, m: int, weights: dict, *, keep_input: bool, saved: bool):
    """The neutral pass: each layer as in FF (goodness, normalization), the readout's logits created at the
    first activity it reads and accumulated at each; ``saved``: those activities are kept (as saved)."""
    from ..schedules.ff import require_readout

    require_readout(s.model, s.plan)
    readout = s.plan.readout_inputs
    logits: dict = {}

    def after(layer, ins, out, values):
        if layer.has_weights:
            _ff_layer(s, layer, ins, out, values, None, False, "")
        if layer.name in readout:
            if not logits:
                logits["z"] = torch.zeros(m, s.model.output.output_elements)
                s.tracker.hold("readout logits", "activation", logits["z"],
                               nbytes_=s.sizes.activation(s.plan.logits.name, samples=m))
            with s.counter.at(layer.name, "readout"):
                logits["z"].addmm_(values[layer.name].reshape(m, -1), weights[layer.name].t())

    keep = frozenset(s.model.input_names if keep_input else ()) | (readout if saved else frozenset())
    with torch.no_grad():
        walk(s, values, tag, s.plan.body, m, name=lambda lay: _buffer_name(s, lay), after=after, keep=keep,
             role=lambda lay: "saved" if saved and lay.name in readout else "activation")
    return logits.pop("z")


def _readout_error(s: Step, z, values: dict, m: int):
    """e at the readout's logits: softmax(z) - y for a classifier, z - x for an autoencoder."""
    y = s.target(values, m)
    p = torch.softmax(z, dim=1) if s.model.task == "classification" else z
    with s.counter.at(s.model.output.name, "error"):
        return p - y


def ff_readout_training(s: Step) -> None:
    """Hinton 2022, section 3.3: FF's positive and negative passes; a neutral pass whose activities (all
    but the first hidden layer's) feed a linear readout; the readout's error and, for each activity, its
    weight gradient e h^T, applied (or buffered) before the activity goes."""
    m = s.setup.micro

    def micro_batch(prefix: str, last_micro: bool) -> None:
        xs = s.inputs(m)
        _ff_passes(s, xs, m, prefix, last_micro)
        x = xs[s.input_name]
        if not s.model.supervised:  # the negative pass shifted an autoencoder's sample in place: shifted back
            with s.counter.paused():
                x.copy_(x.roll(-1, dims=-1))
        _neutral(s, x)
        values = dict(xs)
        del x, xs
        z = _readout_pass(s, values, f"{prefix}neutral", m, {n: w for n, (w, _) in s.readout.items()},
                          keep_input=not s.model.supervised, saved=True)
        e = _readout_error(s, z, values, m)
        del z
        for own in [own for own in values if own not in s.plan.readout_inputs]:
            del values[own]
        s.tracker.hold("readout error", "error", e)
        s.sample(f"{prefix}readout error")
        for layer in s.plan.readout:
            s.sample(f"{prefix}readout update {layer.name}")
            h = values.pop(layer.name)
            with torch.no_grad(), s.counter.at(layer.name, "readout_gradient"):
                g = e.t() @ h.reshape(m, -1)
            del h
            s.readout_update(layer, g, last_micro)
            del g
        del e

    s.training(micro_batch, readout=True)


def ff_readout_inference(s: Step) -> None:
    """One neutral pass and the readout: the arg max of the logits (a classifier), or the reconstruction's
    squared error scoring the sample (an autoencoder). The readout's weights are read from flash."""
    weights = s.readout_weights()
    values = s.inputs(1)
    _neutral(s, values[s.input_name])
    z = _readout_pass(s, values, "neutral", 1, weights, keep_input=not s.model.supervised, saved=False)
    if s.model.supervised:
        with s.counter.paused():
            z.argmax(dim=1)
        return
    e = _readout_error(s, z, values, 1)
    del z
    values.clear()
    s.tracker.hold("reconstruction error", "error", e)
    s.sample("reconstruction error")
    with s.counter.at(s.model.output.name, "error"):
        torch.dot(e.view(-1), e.view(-1))


# -- PEPITA and MEMPEPITA ------------------------------------------------------------------------

def pepita_training(s: Step) -> None:
    """Dellaferrera & Kreiman 2022, algorithm 1: a clean pass keeping each trained layer's output
    h_l, the error e, the input modulated by the fixed random projection F e, a modulated pass,
    and per-layer updates dW_l = (h_l - h_l^mod) (x) h_{l-1}^mod, with e in place of the
    difference for the last layer. No backward pass."""
    plan, setup = s.plan, s.setup
    m = setup.micro
    kept = [lay for lay in plan.body if lay.has_weights and plan.trained(lay.name) and lay is not plan.logits]
    kept_names = frozenset(lay.name for lay in kept)

    def micro_batch(prefix: str, last: bool) -> None:
        xs = s.inputs(m)
        clean = dict(xs)
        with torch.no_grad():
            walk(s, clean, f"{prefix}clean", s.model.computed, m,
                 keep=kept_names | frozenset(xs) | {s.model.output.name},
                 name=lambda lay: _buffer_name(s, lay),
                 role=lambda lay: "saved" if lay.name in kept_names else "activation")
            e = s.error(clean[s.model.output.name], s.target(clean, m))
            s.sample(f"{prefix}error")
            clean.pop(s.model.output.name)
            modulated = s.modulate(xs, e, s.project(e), in_place=True)  # x <- x - F e, in the sample's own buffers
            s.sample(f"{prefix}modulation")
            for name in xs:
                clean.pop(name)
            del xs

            def update(layer, ins, out, values):
                if not (layer.has_weights and plan.trained(layer.name)):
                    return
                if layer is plan.logits:
                    delta = e.reshape(out.shape)
                    s.sample(f"{prefix}update {layer.name}")
                else:
                    h = clean.pop(layer.name)
                    with s.counter.at(layer.name, "local_error"):
                        delta = h - out
                    s.tracker.hold(f"h - h_mod {layer.name}", "error", delta)
                    s.sample(f"{prefix}update {layer.name}")
                    del h
                gw, gb = s.gradients(layer, delta, s.net.layer_input(layer, ins))
                s.update(layer, gw, gb, last=last)

            walk(s, modulated, f"{prefix}modulated", plan.body, m,
                 name=lambda lay: _buffer_name(s, lay, "" if s.owner(lay.name) in s.model.input_names
                                               else " (modulated)"),
                 after=update)
            del e, modulated, clean

    s.training(micro_batch, feedback="input")


def mempepita_training(s: Step) -> None:
    """Srinivasan et al. 2023: the clean pass keeps nothing but the sample (it only yields the
    error); the modulated pass then runs layer by layer beside a third, clean pass that
    recomputes h_l just before it is needed, each layer updated as soon as both are ready."""
    plan, setup = s.plan, s.setup
    m = setup.micro

    def micro_batch(prefix: str, last: bool) -> None:
        xs = s.inputs(m)
        values = dict(xs)
        with torch.no_grad():
            walk(s, values, f"{prefix}clean", s.model.computed, m, keep=frozenset(xs),
                 name=lambda lay: _buffer_name(s, lay))
            e = s.error(values[s.model.output.name], s.target(values, m))
            s.sample(f"{prefix}error")
            del values
            modulated = s.modulate(xs, e, s.project(e), in_place=False)
            for name, xm in modulated.items():
                s.hold(f"{name} (modulated)", "activation", xm, m)
            del xm
            s.sample(f"{prefix}modulation")
            clean = xs
            del xs
            left_clean, left_modulated = readers(plan.body), readers(plan.body)
            for layer in plan.body:
                h = s.forward(layer, [clean[src] for src in layer.inputs])[1]
                clean[layer.name] = h
                s.hold(_buffer_name(s, layer), "activation", h, m)
                s.sample(f"{prefix}recompute {layer.name}")
                release_read(clean, left_clean, layer)
                ins = [modulated[src] for src in layer.inputs]
                h_mod = s.forward(layer, ins)[1]
                modulated[layer.name] = h_mod
                s.hold(_buffer_name(s, layer, " (modulated)"), "activation", h_mod, m)
                s.sample(f"{prefix}modulated {layer.name}")
                if layer.has_weights and plan.trained(layer.name):
                    if layer is plan.logits:
                        delta = e.reshape(h_mod.shape)
                    else:
                        with s.counter.at(layer.name, "local_error"):
                            delta = h - h_mod  # both are still read by the next layer
                        s.tracker.hold(f"h - h_mod {layer.name}", "error", delta)
                    s.sample(f"{prefix}update {layer.name}")
                    gw, gb = s.gradients(layer, delta, s.net.layer_input(layer, ins))
                    s.update(layer, gw, gb, last=last)
                    del delta, gw, gb
                del h, h_mod, ins
                release_read(modulated, left_modulated, layer)
            del e, clean, modulated

    s.training(micro_batch, feedback="input")


@dataclass(frozen=True)
class Reference:
    training: Callable[[Step], object]
    inference: Callable[[Step], object]

    def phase(self, name: str) -> Callable[[Step], object]:
        return self.training if name == "training" else self.inference


REFERENCES: dict[str, Reference] = {
    "bp": Reference(bp_training, plain_inference),
    "bp-checkpoint": Reference(bp_checkpoint_training, plain_inference),
    "fa": Reference(fa_training, plain_inference),
    "dfa": Reference(dfa_training, plain_inference),
    "drtp": Reference(drtp_training, plain_inference),
    "ff": Reference(ff_training, ff_inference),
    "pepita": Reference(pepita_training, plain_inference),
    "mempepita": Reference(mempepita_training, plain_inference),
    "mezo": Reference(mezo_training, plain_inference),
    "forward-gradient": Reference(forward_gradient_training, plain_inference),
    "ff-readout": Reference(ff_readout_training, ff_readout_inference),
}

