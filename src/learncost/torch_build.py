"""An executable PyTorch module equivalent to a learncost model (channels-first, batch 1).

Used to check learncost's counts against a PyTorch counter on the same network (benchmarks)
and, later, to run the learning procedures. Weights are random: only the structure matters.
Converters and carried (opaque) operators are identities here; they have no PyTorch MACs.
"""

from __future__ import annotations

from .errors import LearncostError
from .ir import Layer, Model


def _chw(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else shape


def build_module(model: Model):
    try:
        import torch
        from torch import nn
        from torch.nn import functional as F
    except ImportError:
        raise LearncostError("building a PyTorch module needs torch", hint="pip install 'learncost[torch]'") from None

    acts = {None: None, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ops = nn.ModuleDict()
            for layer in model.layers:
                mod = self._module(layer)
                if mod is not None:
                    self.ops[layer.name.replace(".", "_")] = mod

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

        def forward(self, x):
            values = {"input": x}
            for layer in model.layers[1:]:
                ins = [values[s] for s in layer.inputs]
                h = ins[0]
                pad = layer.padding
                k = layer.kind
                if k in ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d", "pad") and pad and any(pad):
                    h = F.pad(h, (pad[2], pad[3], pad[0], pad[1]))
                if k in ("conv2d", "depthwise_conv2d"):
                    h = self.ops[layer.name.replace(".", "_")](h)
                elif k == "dense":
                    h = self.ops[layer.name.replace(".", "_")](h.reshape(h.shape[0], -1))
                elif k == "avg_pool2d":
                    h = F.avg_pool2d(h, layer.kernel, layer.stride)
                elif k == "max_pool2d":
                    h = F.max_pool2d(h, layer.kernel, layer.stride)
                elif k == "add":
                    h = sum(ins[1:], ins[0])
                elif k == "concat":
                    h = torch.cat(ins, dim=1)
                elif k in ("reshape", "flatten"):
                    h = h.reshape(1, *_chw(layer.output_shape))
                elif k == "softmax":
                    h = torch.softmax(h.reshape(1, -1), dim=1).reshape(1, *_chw(layer.output_shape))
                elif k == "opaque":
                    h = torch.zeros(1, *_chw(layer.output_shape))
                fn = acts.get(layer.activation)
                values[layer.name] = fn(h) if fn else h
            return values[model.output.name]

    return Net()


def example_input(model: Model):
    import torch

    return torch.zeros(1, *_chw(model.input.output_shape))
