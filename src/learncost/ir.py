"""The intermediate representation: a model is a list of layers in execution order.

Each layer names its inputs (the previous layer by default), so sequential chains and
residual branches joined by an element-wise add are the same structure. Shapes are
(H, W, C) for feature maps and (N,) for vectors, batch dimension dropped (batch 1).
Importers and the spec loader build this; cost formulas, procedures and memory rules
only read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from .dtypes import dtype_bytes

Shape = tuple[int, ...]

#: kinds whose weights a setup may train; other kinds' parameters (PReLU's slopes, a constant
#: operand) are frozen: counted in the parameters, never trained
WEIGHT_KINDS = frozenset({"conv2d", "conv2d_transpose", "depthwise_conv2d", "dense", "lstm", "gru", "svdf", "batch_norm",
                          "embedding"})


def any_true(condition) -> bool:
    """A condition on one layer, or on any variant of a sweep (numpy arrays, one element per variant)."""
    return bool(condition.any()) if hasattr(condition, "any") else bool(condition)


@dataclass(frozen=True)
class Dims:
    """A layer's characteristics in the paper's notation (sheet rows 7-16).

    For fully-connected layers the sheet writes the number of input and output activations
    as H_in and H_out; the other fields are then 1. For a grouped convolution (G groups) C_in is
    the channels each filter reads, the input's channels / G: the sheet's formulas then hold as
    written (the paper's convolutions are the case G = 1).
    """

    C_in: int = 1
    C_out: int = 1
    H_in: int = 1
    W_in: int = 1
    H_out: int = 1
    W_out: int = 1
    H_ker: int = 1
    W_ker: int = 1
    H_stride: int = 1
    W_stride: int = 1


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    dtype: str = "int8"
    weights: int = 0
    biases: int = 0
    weight_dtype: str = "int8"
    bias_dtype: str = "int8"
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int, int, int] | None = None  # top, bottom, left, right
    activation: str | None = None  # fused non-linearity (relu, relu6...), no MACC of its own
    note: str | None = None  # e.g. "zero-cost: unsupported operator X" from an importer
    groups: int = 1  # a grouped convolution's groups
    dilation: tuple[int, int] | None = None  # a dilated convolution's (H, W) dilation
    #: what a kind needs beyond the fields above, as (name, value) pairs: ``attr(name)`` reads them
    attrs: tuple[tuple[str, object], ...] = ()

    def attr(self, name: str, default=None):
        return next((v for k, v in self.attrs if k == name), default)

    @property
    def output_elements(self) -> int:
        return math.prod(self.output_shape)

    @property
    def input_elements(self) -> int:
        return math.prod(self.input_shapes[0]) if self.input_shapes else 0

    @property
    def activation_bytes(self) -> int:
        """The output buffer: elements x the activation's element size."""
        return self.output_elements * dtype_bytes(self.dtype)

    @property
    def params_bytes(self) -> int:
        """Weights and biases, each at its own element size (int8 weights, int32 biases in TFLite)."""
        return self.weights * dtype_bytes(self.weight_dtype) + self.biases * dtype_bytes(self.bias_dtype)

    @cached_property
    def has_weights(self) -> bool:
        """Whether the layer has weights a setup may train (not whether it is trained: the setup says)."""
        return self.kind in WEIGHT_KINDS and any_true(self.weights > 0)

    @cached_property
    def dims(self) -> Dims:
        """Map the layer onto the sheet's notation."""
        out = self.output_shape
        src = self.input_shapes[0] if self.input_shapes else out
        if len(out) == 3 and len(src) == 3:
            kh, kw = self.kernel or (1, 1)
            sh, sw = self.stride or (1, 1)
            return Dims(
                C_in=src[2] // self.groups if self.groups != 1 else src[2], C_out=out[2], H_in=src[0], W_in=src[1], H_out=out[0], W_out=out[1],
                H_ker=kh, W_ker=kw, H_stride=sh, W_stride=sw,
            )
        return Dims(H_in=math.prod(src), H_out=math.prod(out))


@dataclass
class Model:
    """A network: layers in execution order, its inputs first (one, or a graph's several, each a
    layer of kind ``input``), then the layers that compute."""

    name: str
    layers: list[Layer]
    id: str | None = None
    task: str = "classification"  # or "reconstruction" (autoencoders), "regression"
    classes: int | None = None
    dataset: str | None = None
    description: str | None = None
    source: str | None = None
    warnings: list[str] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)  # the spec's parameter values it was built at
    #: layer -> the position of its output among the file's tensors, where the file states one (a .tflite):
    #: TFLite Micro's planner breaks ties by it
    tensor_order: dict = field(default_factory=dict)
    #: facts of the file a runtime's figures need beyond the layers (``tflm``: TFLite Micro's tail)
    runtime: dict = field(default_factory=dict)

    @cached_property
    def by_name(self) -> dict[str, Layer]:
        return {layer.name: layer for layer in self.layers}

    @property
    def input(self) -> Layer:
        """The first input: the one FF embeds its label in, the one the paper's formulas name."""
        return self.layers[0]

    @cached_property
    def inputs(self) -> tuple[Layer, ...]:
        """Every input of the graph, in order: the leading layers of kind ``input``."""
        count = next((k for k, layer in enumerate(self.layers) if layer.kind != "input"), len(self.layers))
        return tuple(self.layers[:max(count, 1)])

    @cached_property
    def input_names(self) -> frozenset[str]:
        return frozenset(layer.name for layer in self.inputs)

    @property
    def input_elements(self):
        """The elements of one sample: every input's, summed (the sheet's single input: its H x W x C)."""
        return sum(layer.output_elements for layer in self.inputs)

    @property
    def computed(self) -> list[Layer]:
        """The layers after the inputs, in execution order."""
        return self.layers[len(self.inputs):]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    @property
    def supervised(self) -> bool:
        """A classifier trained with labels (FF embeds the label; inference runs one pass per class)."""
        return self.task == "classification" and bool(self.classes)

    @property
    def weights(self) -> int:
        return sum(layer.weights for layer in self.layers)

    @property
    def biases(self) -> int:
        return sum(layer.biases for layer in self.layers)

    @cached_property
    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {layer.name: [] for layer in self.layers}
        for layer in self.layers:
            for src in layer.inputs:
                out[src].append(layer.name)
        return out
