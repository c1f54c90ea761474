"""Bytes of each tensor a learning step holds, by role, under a setup's precision.

bytes = ceil(elements x bits / 8): a 1-bit ReLU mask of 8,000 elements takes 1,000 B. Where the
setup keeps the model's own element types (the paper), a layer's activations, weights and biases
take their declared dtypes (INT8, an INT32 bias in a TFLite file, a float32 softmax).
Activations live in buffers (``memory.buffers``): a padding, reshape or converter output is its
input's buffer, read through.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Mapping

from .dtypes import dtype_bytes
from .ir import Layer, Model
from .memory import Buffers, buffers


def _some(count: Any) -> bool:
    """A count that may be non-zero (an array of counts always may)."""
    return hasattr(count, "shape") or count != 0


def nbytes(elements: Any, bits: int) -> Any:
    """ceil(elements x bits / 8), for a count or an array of counts."""
    return -(-(elements * bits) // 8)


class Sizes:
    """``copies``: per weighed layer of a sweep's union model, its copies in each variant (``union``)."""

    def __init__(self, model: Model, setup, *, buffer_delta: Mapping[str, int] | None = None,
                 copies: Mapping[str, Any] | None = None):
        self.model = model
        self.setup = setup
        self.copies = dict(copies or {})
        self.bufs: Buffers = buffers(model, size_delta=buffer_delta, copies=self.copies)
        self._delta = dict(buffer_delta or {})

    @cached_property
    def precise_bufs(self) -> Buffers:
        """The buffers at the setup's activation precision."""
        return buffers(self.model, size_of=lambda layer: self.activation(layer.name), copies=self.copies)

    def held(self, layer: str, value: Any) -> Any:
        """``value`` (a figure of ``layer``) times the layer's copies in each variant."""
        k = self.copies.get(layer)
        return value if k is None else value * k

    def owner(self, layer: str) -> str:
        return self.bufs.owner[layer]

    def elements(self, layer: str) -> Any:
        """Elements of the buffer a layer's output lives in (one sample)."""
        return self.model.by_name[self.owner(layer)].output_elements

    def activation(self, layer: str, role: str = "activation", samples: int = 1) -> Any:
        """The buffer holding ``layer``'s output, for ``samples`` samples, at the role's precision."""
        name = self.owner(layer)
        bits = self.setup.bits(role)
        if bits is None:  # the model's dtype, and the sheet's errata where they resize a buffer
            return samples * self.bufs.sizes[name]
        return nbytes(samples * self.model.by_name[name].output_elements, bits)

    def output(self, layer: Layer) -> Any:
        """A layer's own output for one sample at the activation precision (transient ones included)."""
        bits = self.setup.bits("activation")
        return layer.activation_bytes if bits is None else nbytes(layer.output_elements, bits)

    def of(self, elements: Any, role: str) -> Any:
        bits = self.setup.bits(role)
        if bits is None:
            raise ValueError(f"role {role!r} follows the model's dtypes: size it by layer")
        return nbytes(elements, bits)

    def weights(self, layer: Layer, elements: Any = None) -> Any:
        elements = layer.weights if elements is None else elements
        bits = self.setup.bits("weight")
        return elements * dtype_bytes(layer.weight_dtype) if bits is None else nbytes(elements, bits)

    def biases(self, layer: Layer, elements: Any = None) -> Any:
        elements = layer.biases if elements is None else elements
        bits = self.setup.bits("bias")
        return elements * dtype_bytes(layer.bias_dtype) if bits is None else nbytes(elements, bits)

    def params(self, layer: Layer) -> Any:
        return self.weights(layer) + self.biases(layer)

    @cached_property
    def all_weights(self) -> Any:
        return sum(self.held(layer.name, self.weights(layer)) for layer in self.model.layers if _some(layer.weights))

    @cached_property
    def all_biases(self) -> Any:
        return sum(self.held(layer.name, self.biases(layer)) for layer in self.model.layers if _some(layer.biases))

    def all_params(self) -> Any:
        return self.all_weights + self.all_biases
