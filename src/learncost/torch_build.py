"""An executable PyTorch module equivalent to a learncost model (channels-first, any batch).

Used to check learncost's counts against a PyTorch counter on the same network (benchmarks)
and to execute the learning procedures layer by layer (``learncost.verify``). Weights are
random: only the structure matters. Converters are identities here: the float reference
has no INT8 tensors to convert.
"""

from __future__ import annotations

from .errors import LearncostError
from .ir import Layer, Model

#: kinds the module can execute; a model with any other kind has no torch equivalent yet
EXECUTABLE = frozenset({"input", "conv2d", "depthwise_conv2d", "dense", "avg_pool2d", "max_pool2d", "pad", "add",
                        "concat", "reshape", "flatten", "softmax", "quantize", "dequantize"})
PARAMETRIC = frozenset({"conv2d", "depthwise_conv2d", "dense"})


def _chw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


def require_torch():
    """torch, or a LearncostError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise LearncostError("executing a model needs PyTorch, which is not installed",
                             hint="pip install 'learncost[torch]'", code="LC-DEPENDENCY") from None
    return torch


def check_executable(model: Model) -> None:
    """Raise a LearncostError naming the first layer PyTorch cannot execute."""
    for layer in model.layers:
        if layer.kind not in EXECUTABLE:
            raise LearncostError(
                f"model {model.name!r} has no PyTorch equivalent yet: layer {layer.name!r} is of kind {layer.kind!r}",
                hint="verification executes every layer; replace the layer or describe it with a supported kind",
                code="LC-IMPORT-UNSUPPORTED-OP")


def module_key(layer: Layer) -> str:
    return layer.name.replace(".", "_")


def build_module(model: Model):
    """An ``nn.Module`` whose ``forward`` runs the whole model and whose ``run_layer`` runs one layer."""
    torch = require_torch()
    from torch import nn
    from torch.nn import functional as F

    check_executable(model)
    acts = {None: None, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.ops = nn.ModuleDict()
            for layer in model.layers:
                mod = self._module(layer)
                if mod is not None:
                    self.ops[module_key(layer)] = mod

        @staticmethod
        def _module(layer: Layer):
            d = layer.dims
            if layer.kind == "conv2d":
                return nn.Conv2d(d.C_in, d.C_out, layer.kernel, layer.stride, bias=layer.biases > 0)
            if layer.kind == "depthwise_conv2d":
                return nn.Conv2d(d.C_in, d.C_out, layer.kernel, layer.stride, groups=d.C_in, bias=layer.biases > 0)
            if layer.kind == "dense":
                return nn.Linear(layer.input_elements, layer.output_elements, bias=layer.biases > 0)
            return None

        def params(self, layer: Layer):
            """(weight, bias or None) of a parametric layer."""
            mod = self.ops[module_key(layer)]
            return mod.weight, mod.bias

        def layer_input(self, layer: Layer, ins: list):
            """What the layer's multiply-accumulates read: its input, zero-padded or flattened as needed."""
            h = ins[0]
            pad = layer.padding
            if layer.kind in ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d", "pad") and pad and any(pad):
                h = F.pad(h, (pad[2], pad[3], pad[0], pad[1]))
            if layer.kind == "dense":
                h = h.reshape(h.shape[0], -1)
            return h

        def run_layer(self, layer: Layer, ins: list):
            """(pre-activation, output) of one layer given its input tensors."""
            k = layer.kind
            if k in ("conv2d", "depthwise_conv2d", "dense"):
                pre = self.ops[module_key(layer)](self.layer_input(layer, ins))
            elif k in ("avg_pool2d", "max_pool2d", "pad"):
                h = self.layer_input(layer, ins)
                pool = F.avg_pool2d if k == "avg_pool2d" else F.max_pool2d
                pre = h if k == "pad" else pool(h, layer.kernel, layer.stride)
            elif k == "add":
                pre = sum(ins[1:], ins[0])
            elif k == "concat":
                pre = torch.cat(ins, dim=1)
            elif k in ("reshape", "flatten"):
                pre = ins[0].reshape(ins[0].shape[0], *_chw(layer.output_shape))
            elif k == "softmax":
                n = ins[0].shape[0]
                pre = torch.softmax(ins[0].reshape(n, -1), dim=1).reshape(n, *_chw(layer.output_shape))
            else:  # converters
                pre = ins[0]
            fn = acts.get(layer.activation)
            return pre, (fn(pre) if fn else pre)

        def forward(self, x):
            values = {model.input.name: x}
            for layer in model.layers[1:]:
                values[layer.name] = self.run_layer(layer, [values[s] for s in layer.inputs])[1]
            return values[model.output.name]

    return Net()


def example_input(model: Model, seed: int | None = None, samples: int = 1):
    """Zeros, or seeded random samples (the learning procedures need non-zero activations)."""
    torch = require_torch()
    shape = (samples, *_chw(model.input.output_shape))
    if seed is None:
        return torch.zeros(shape)
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))
