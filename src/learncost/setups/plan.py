"""What a setup trains on one model: per layer with weights, the trained fraction of its channels
and whether its bias is trained; and what follows from that for every layer: whether an error
reaches its output and whether it must pass an error on to its input.

Errors propagate only as far back as the earliest trained layer: a layer passes an error to
its input only if some layer before it (transitively) is trained. The first convolution never
needs its input's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import SetupError
from ..ir import Layer, Model, any_true
from ..layers import HEAD_KINDS, INPUT_CHANNEL_KINDS, RECURRENT_KINDS
from . import BiasLayers, LastBiases, LastK, Setup, WeightLayers


@dataclass(frozen=True)
class LayerUpdate:
    #: fraction of the layer's channels whose weights are trained; 0 = frozen weights
    ratio: float
    #: int(channels x ratio), as MIT's tiny-training rounds it: a conv's input channels, a
    #: depthwise conv's channels, a dense layer's input features (an array in a sweep)
    channels: Any
    bias: bool

    @property
    def weights(self) -> bool:
        """Weights are trained (decided by the ratio, so that one layer list serves a sweep)."""
        return self.ratio > 0


FROZEN = LayerUpdate(0.0, 0, False)


def channel_count(layer: Layer) -> Any:
    """The channels a ratio applies to: C_in of a conv, C_out of a depthwise conv (one weight
    slice per channel), H_in (input features) of a dense layer."""
    d = layer.dims
    return {"conv2d": d.C_in, "conv2d_transpose": d.C_in, "depthwise_conv2d": d.C_out}.get(layer.kind, d.H_in)


def _times_ratio(count: Any, ratio: float) -> Any:
    if hasattr(count, "dtype"):
        return (count * ratio).astype("int64")
    return int(count * ratio)


class Plan:
    """A setup resolved against a model."""

    def __init__(self, model: Model, setup: Setup, origin: str | None = None):
        self.model = model
        self.setup = setup
        self.origin = origin or setup.origin or f"setup {setup.key}"
        self.weight_layers: list[Layer] = [layer for layer in model.layers if layer.has_weights]
        ratios = self._weights(setup.update.weights)
        biases = self._biases(setup.update.biases)
        self.update: dict[str, LayerUpdate] = {}
        for layer in self.weight_layers:
            r = ratios.get(layer.name, 0.0)
            if 0 < r < 1 and layer.kind in RECURRENT_KINDS:
                raise SetupError(f"trains {r:g} of recurrent layer {layer.name!r} ({layer.kind}): a cell's gates "
                                 "read every feature at every step, so learncost trains it whole or not at all",
                                 location=self._loc("update.weights"), hint="train the layer with ratio 1, or freeze it")
            if 0 < r < 1 and layer.kind in ("batch_norm", "embedding"):
                raise SetupError(f"trains {r:g} of {layer.kind} layer {layer.name!r}: learncost trains its "
                                 "per-channel scale or its table whole or not at all", location=self._loc("update.weights"),
                                 hint="train the layer with ratio 1, or freeze it")
            # all channels need no count here (the formulas take the layer's own); a fraction does
            channels = channel_count(layer) if r == 1 else _times_ratio(channel_count(layer), r) if r else 0
            self.update[layer.name] = LayerUpdate(r, channels, layer.name in biases)
        self.warnings: list[str] = []
        # a layer no output depends on (a graph's other output, an unread value an importer carries) gets no error
        # and moves no loss: no procedure trains it
        dead = [layer.name for layer in self.weight_layers if self.trained(layer.name)
                and not self.reaches_output[layer.name]]
        for name in dead:
            self.update[name] = FROZEN
        if dead:
            self.warnings.append(f"not trained: {', '.join(dead[:4])}{', ...' if len(dead) > 4 else ''}: the model's "
                                 "output does not depend on it, so no loss does")
        if setup.model and model.id and setup.model != model.id:
            self.warnings.append(f"setup {setup.key} was written for model {setup.model}, not {model.id}: "
                                 "its layer selection may not mean the same here")

    # -- selection -------------------------------------------------------------------------------

    def _loc(self, field: str) -> str:
        return f"{self.origin}: {field}"

    def _layer(self, sel: Any, field: str) -> Layer:
        names = {layer.name for layer in self.model.layers}
        if isinstance(sel, str) and sel in names:
            layer = self.model.by_name[sel]
            if not layer.has_weights:
                raise SetupError(f"layer {sel!r} ({layer.kind}) has no weights to train", location=self._loc(field),
                                hint="select a conv2d, depthwise_conv2d or dense layer")
            return layer
        index = sel
        if isinstance(sel, str):
            try:
                index = int(sel)
            except ValueError:
                import difflib

                near = difflib.get_close_matches(sel, [lay.name for lay in self.weight_layers], n=3, cutoff=0.5)
                hint = ("did you mean " + ", ".join(near) + "?") if near else \
                    "a layer name, or an index among the layers with weights (negative from the end)"
                raise SetupError(f"no layer named {sel!r} in {self.model.id or self.model.name}",
                                location=self._loc(field), hint=hint) from None
        n = len(self.weight_layers)
        if not -n <= index < n:
            raise SetupError(f"index {index}, but {self.model.id or self.model.name} has {n} layers with weights "
                            f"(0..{n - 1}, or -{n}..-1 from the end)", location=self._loc(field))
        return self.weight_layers[index]

    def _last(self, k: int, field: str) -> list[Layer]:
        n = len(self.weight_layers)
        if k > n:
            raise SetupError(f"last {k}, but {self.model.id or self.model.name} has {n} layers with weights",
                            location=self._loc(f"{field}.last"))
        return self.weight_layers[n - k:] if k else []

    def _weights(self, spec) -> dict[str, float]:
        if spec == "all":
            return {layer.name: 1.0 for layer in self.weight_layers}
        if spec == "none":
            return {}
        if isinstance(spec, LastK):
            return {layer.name: spec.ratio for layer in self._last(spec.last, "update.weights")}
        assert isinstance(spec, WeightLayers)
        out: dict[str, float] = {}
        for sel, ratio in spec.layers.items():
            layer = self._layer(sel, f"update.weights.layers.{sel}")
            if layer.name in out:
                raise SetupError(f"selects layer {layer.name!r} twice", location=self._loc(f"update.weights.layers.{sel}"))
            out[layer.name] = float(ratio)
        return out

    def _biases(self, spec) -> set[str]:
        if spec == "all":
            chosen = list(self.weight_layers)
            return {layer.name for layer in chosen if any_true(layer.biases > 0)}
        if spec == "none":
            return set()
        if isinstance(spec, LastBiases):
            layers = self._last(spec.last, "update.biases")
            return {layer.name for layer in layers if any_true(layer.biases > 0)}
        assert isinstance(spec, BiasLayers)
        out = set()
        for k, sel in enumerate(spec.layers):
            layer = self._layer(sel, f"update.biases.layers[{k}]")
            if not any_true(layer.biases > 0):
                raise SetupError(f"layer {layer.name!r} has no bias", location=self._loc(f"update.biases.layers[{k}]"))
            out.add(layer.name)
        return out

    # -- what follows for every layer -------------------------------------------------------------

    def of(self, name: str) -> LayerUpdate:
        return self.update.get(name, FROZEN)

    def trained(self, name: str) -> bool:
        u = self.of(name)
        return u.weights or u.bias

    @cached_property
    def any_trained(self) -> bool:
        return any(self.trained(layer.name) for layer in self.weight_layers)

    @cached_property
    def needs_input_error(self) -> dict[str, bool]:
        """Whether a layer passes an error on to its input: some layer feeding it is trained."""
        out: dict[str, bool] = {}
        for layer in self.model.layers:
            out[layer.name] = any(self.trained(src) or out[src] for src in layer.inputs)
        return out

    @cached_property
    def reaches_output(self) -> dict[str, bool]:
        """Whether the layer's output leads to the model's output (a graph's dead end, an unread value an
        importer carries, does not: no loss depends on it)."""
        out: dict[str, bool] = {}
        for layer in reversed(self.model.layers):
            out[layer.name] = layer is self.model.output or any(out[c] for c in self.model.consumers[layer.name])
        return out

    @cached_property
    def output_error(self) -> dict[str, bool]:
        """Whether an error reaches the layer's output in a backward pass (it is trained, or passes one on, and the
        loss depends on it)."""
        head, reaches = self.head_names, self.reaches_output
        return {layer.name: layer.name not in head and reaches[layer.name] and (
            self.trained(layer.name) or self.needs_input_error[layer.name]) for layer in self.model.layers}

    @cached_property
    def head(self) -> list[Layer]:
        """The output head (softmax and its converters) after the logits: it only reads out."""
        layers = self.model.layers
        tail = len(layers)
        while tail > len(self.model.inputs) and layers[tail - 1].kind in HEAD_KINDS:
            tail -= 1
        return layers[tail:]

    @cached_property
    def head_names(self) -> frozenset[str]:
        return frozenset(layer.name for layer in self.head)

    @cached_property
    def body(self) -> list[Layer]:
        """The layers a procedure trains through: all but the inputs and the head."""
        return self.model.layers[len(self.model.inputs):len(self.model.layers) - len(self.head)]

    @cached_property
    def logits(self) -> Layer:
        return self.body[-1] if self.body else self.model.input

    @cached_property
    def readout(self) -> list[Layer]:
        """The layers a Forward-Forward readout reads (Hinton 2022, section 3.3: "the hidden activities of
        all but the first hidden layer"): every layer of the body with weights but the first, or that one
        alone where it is the only one."""
        layers = [layer for layer in self.body if layer.has_weights]
        return layers[1:] or layers

    @cached_property
    def readout_inputs(self) -> frozenset[str]:
        return frozenset(layer.name for layer in self.readout)

    @cached_property
    def feeds_weights(self) -> dict[str, bool]:
        """Whether a layer's output reaches a layer with weights downstream (FF normalizes only those)."""
        reaches: dict[str, bool] = {}
        for layer in reversed(self.model.layers):
            reaches[layer.name] = any(self.model.by_name[c].has_weights or reaches[c]
                                      for c in self.model.consumers[layer.name])
        return reaches

    @cached_property
    def checkpoints(self) -> list[str]:
        """Checkpointed backpropagation's kept outputs (Chen et al. 2016): the body is cut into segments
        of at least k layers (the setup's ``checkpoint_every``, or the square root of the body's length),
        each ending where the body can be cut, one value being live between two layers."""
        import math

        from ..layers import TRANSIENT_KINDS

        layers = self.model.layers
        last = {layer.name: k for k, layer in enumerate(layers)}
        for k, layer in enumerate(layers):
            for src in layer.inputs:
                last[src] = max(last[src], k)
        body = {layer.name for layer in self.body[:-1]}
        k = self.setup.checkpoint_every or max(1, math.isqrt(len(self.body)))
        marks, pending, since = [], -1, 0  # pending: the last step an earlier output is still read at
        for step, layer in enumerate(layers):
            if layer.name in body:
                since += 1
                if pending <= step and since >= k and layer.kind not in TRANSIENT_KINDS:
                    marks.append(layer.name)
                    since = 0
            pending = max(pending, last[layer.name])
        return marks

    @cached_property
    def segments(self) -> list[list[str]]:
        """The body between checkpoints; the last segment runs once (its outputs are still held)."""
        out, current = [], []
        marks = set(self.checkpoints)
        for layer in self.body:
            current.append(layer.name)
            if layer.name in marks:
                out.append(current)
                current = []
        if current:
            out.append(current)
        return out

    @cached_property
    def segment_inputs(self) -> list[tuple[str, ...]]:
        """The buffers each segment starts from: the model's inputs (every one: no cut is made while an
        input waits for a reader), then each checkpoint."""
        starts = [tuple(layer.name for layer in self.model.inputs), *((c,) for c in self.checkpoints)]
        return starts[:len(self.segments)]

    @cached_property
    def recomputed_segments(self) -> list[int]:
        """The segments checkpointed backpropagation runs again: every one but the last that an error
        reaches (a segment before the first trained layer is never needed again)."""
        return [k for k, seg in enumerate(self.segments[:-1]) if any(self.output_error[n] for n in seg)]

    @cached_property
    def recomputed(self) -> frozenset[str]:
        """Layers whose forward checkpointed backpropagation runs again."""
        return frozenset(name for k in self.recomputed_segments for name in self.segments[k])

    def trained_weights(self, layer: Layer) -> Any:
        """Weights trained: the trained channels' share of the layer's weights."""
        u = self.of(layer.name)
        if not u.weights:
            return 0
        if u.ratio == 1:
            return layer.weights
        d = layer.dims
        if layer.kind in INPUT_CHANNEL_KINDS:
            return d.C_out * u.channels * d.H_ker * d.W_ker
        if layer.kind == "depthwise_conv2d":
            return u.channels * d.H_ker * d.W_ker
        return u.channels * d.H_out

    def trained_biases(self, layer: Layer) -> Any:
        return layer.biases if self.of(layer.name).bias else 0

    def trained_params(self, layer: Layer) -> Any:
        return self.trained_weights(layer) + self.trained_biases(layer)
