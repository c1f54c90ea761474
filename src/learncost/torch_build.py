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
EXECUTABLE = frozenset({"input", "constant", "conv2d", "conv2d_transpose", "depthwise_conv2d", "dense", "avg_pool2d",
                        "max_pool2d", "pad", "add", "concat", "reshape", "flatten", "softmax", "quantize", "dequantize",
                        "mul", "sub",
                        "activation", "mean", "transpose", "slice", "resize", "matmul", "layer_norm", "lstm", "gru",
                        "svdf", "lrn", "batch_norm", "embedding"})
PARAMETRIC = frozenset({"conv2d", "conv2d_transpose", "depthwise_conv2d", "dense", "lstm", "gru", "svdf", "batch_norm",
                        "embedding"})
#: activations a layer of another kind can carry fused and the reference can differentiate (from the
#: layer's output, or a mask); the others need their input and run as ``activation`` layers
FUSABLE = frozenset({"relu", "relu6", "relu_n1_to_1", "sigmoid", "tanh", "leaky_relu", "elu"})
LEAKY_SLOPE = 0.01  # PyTorch's and ONNX's default; the slope changes no count
ELU_ALPHA = 1.0


# Tensors are channels-first for feature maps, (N, C, H, W), and for feature maps whose channels are split in
# two axes, (N, A, B, H, W) (PyTorch's view in ShuffleNet's channel shuffle; ``importers.common.to_hwc``), so
# that a reshape is the module's own; they are in the IR's order otherwise (N, *shape). Kinds that name axes
# (mean, transpose, slice, concat on an axis, pad on any axis, broadcasting) work in the IR's order: these
# functions move a value between the layouts.

#: IR rank -> (the module layout to the IR's order, the IR's order to the module layout), batch axis included
_PERMUTATIONS = {3: ((0, 2, 3, 1), (0, 3, 1, 2)), 4: ((0, 3, 4, 1, 2), (0, 3, 4, 1, 2))}


def module_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """An IR shape in the module's layout, batch excluded: (H, W, C) as (C, H, W), (H, W, A, B) as (A, B, H, W)."""
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    if len(shape) == 4:
        return (shape[2], shape[3], shape[0], shape[1])
    return tuple(shape)


def to_ir(t, shape: tuple[int, ...]):
    """A value of IR shape ``shape`` in the IR's axis order (N, H, W, C)."""
    p = _PERMUTATIONS.get(len(shape))
    return t.permute(*p[0]) if p else t


def from_ir(t, shape: tuple[int, ...]):
    """An IR-ordered value back in the module's layout (N, C, H, W), materialized."""
    p = _PERMUTATIONS.get(len(shape))
    return (t.permute(*p[1]) if p else t).contiguous()


def reshaped(t, src: tuple[int, ...], out: tuple[int, ...]):
    """A value of IR shape ``src`` reshaped to ``out``, in the module's layout: the module's own reshape (PyTorch's
    flatten, a channel shuffle's split channels). A rank-5 side (depth to space's blocks) has no module layout of
    its own: that reshape runs in the IR's order, where the block and channel axes are."""
    if max(len(src), len(out)) >= 5:
        return from_ir(to_ir(t, src).reshape(t.shape[0], *out), out)
    return t.reshape(t.shape[0], *module_shape(out))


def crop(t, padding):
    """A feature map (N, C, H, W) cropped by [top, bottom, left, right]: a transposed convolution's full output, or
    an error back to the unpadded input."""
    top, bottom, left, right = padding or (0, 0, 0, 0)
    return t[:, :, top:t.shape[2] - bottom, left:t.shape[3] - right]


def copied(t, source):
    """``t`` in memory of its own: a transpose is a copy, as the IR states it, even where only an axis of size 1
    moved and the permuted value, contiguous already, still shares ``source``'s memory."""
    return t.clone() if t.untyped_storage().data_ptr() == source.untyped_storage().data_ptr() else t


LAYER_NORM_EPS = 1e-5


def layer_norm_stats(x):
    """(x_hat, r) over the last axis of an IR-ordered value, each step a counted operation: the mean, the
    difference, its square and their mean, var + eps, r = 1 / sqrt (not a MACC), x_hat = (x - mean) r."""
    torch = require_torch()
    centered = x - x.mean(dim=-1, keepdim=True)
    r = torch.rsqrt((centered * centered).mean(dim=-1, keepdim=True) + LAYER_NORM_EPS)
    return centered * r, r


def lrn_window(layer: Layer, x, transposed: bool = False):
    """The mean of each channel's window of ``layer.attr("size")`` channels in ``x`` (N, C, H, W): its sum / n, one
    MAC per tap (an average pool over the channels, the zeros beyond the edges included). The window of channel c
    spans floor((n - 1) / 2) channels before it and ceil((n - 1) / 2) after (ONNX's); ``transposed``: the channels
    whose window holds c (the backward's sum), the two sides swapped."""
    from torch.nn import functional as F

    n = layer.attr("size")
    before, after = (n - 1) // 2, n - 1 - (n - 1) // 2
    if transposed:
        before, after = after, before
    v = F.pad(x.reshape(x.shape[0], 1, x.shape[1], -1), (0, 0, before, after))
    return F.avg_pool2d(v, (n, 1), stride=1).reshape(x.shape)


def lrn_powers(layer: Layer, x):
    """(s^-beta, s^(-beta-1)) of s = k + alpha / n sum a^2 = k + alpha mean(a^2): the square (E), the window (n E),
    the scale and bias (one multiply-accumulate, E); the powers are not MACC (as a softmax's exp)."""
    torch = require_torch()
    s = torch.add(x.new_tensor(layer.attr("k")), lrn_window(layer, x * x), alpha=layer.attr("alpha"))
    beta = layer.attr("beta")
    return s.pow(-beta), s.pow(-beta - 1)


def lrn_vector(layer: Layer, x, v, transposed: bool):
    """The LRN's J^T g (``transposed``) or J t for the vector ``v``, from its input ``x``:
    v s^-beta - 2 alpha beta / n * (x sum_W(v x s^(-beta-1)) or x s^(-beta-1) sum_W(x v)), (2 n + 7) E in all."""
    torch = require_torch()
    p, q = lrn_powers(layer, x)
    c = 2 * layer.attr("alpha") * layer.attr("beta")  # the window's mean carries the 1 / n
    if transposed:
        w = x * lrn_window(layer, v * x * q, transposed=True)
    else:
        w = x * q * lrn_window(layer, x * v)
    return torch.add(v * p, w, alpha=-c)


def broadcast_operand(t, shape: tuple[int, ...], out: tuple[int, ...]):
    """``t`` (IR shape ``shape``) in the layout of a value of shape ``out`` with its broadcast axes
    as 1: NumPy's rule on the IR's axes, leading axes added."""
    if len(shape) == len(out):
        return t
    full = (1,) * (len(out) - len(shape)) + tuple(shape)
    return from_ir(to_ir(t, shape).reshape(t.shape[0], *full), full)


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
        if layer.activation and layer.kind != "activation" and layer.activation not in FUSABLE:
            raise LearncostError(
                f"model {model.name!r}: layer {layer.name!r} carries activation {layer.activation!r} fused, whose "
                "derivative needs the activation's input, which the layer does not keep",
                hint=f"write it as a layer of its own: {{kind: activation, function: {layer.activation}}}",
                code="LC-IMPORT-UNSUPPORTED-OP")


def module_key(layer: Layer) -> str:
    return layer.name.replace(".", "_")


def build_module(model: Model):
    """An ``nn.Module`` whose ``forward`` runs the whole model and whose ``run_layer`` runs one layer."""
    torch = require_torch()
    from torch import nn
    from torch.nn import functional as F

    check_executable(model)
    acts = {None: None, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
            "relu_n1_to_1": lambda x: torch.clamp(x, -1.0, 1.0), "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
            "elu": lambda x: F.elu(x, ELU_ALPHA), "hard_sigmoid": F.hardsigmoid, "hard_swish": F.hardswish,
            "silu": F.silu, "gelu": F.gelu}

    class _Slopes(nn.Module):
        """PReLU's slopes, frozen (``ir.WEIGHT_KINDS``): a buffer, so that no autograd graph keeps
        the activation's input alive where the procedures run with gradients enabled."""

        def __init__(self, n: int):
            super().__init__()
            self.register_buffer("weight", torch.full((n,), 0.25))

        def forward(self, x):
            return F.prelu(x, self.weight)

    class _Affine(nn.Module):
        """A layer normalization's gamma and beta, frozen (buffers, as PReLU's slopes)."""

        def __init__(self, n: int):
            super().__init__()
            self.register_buffer("weight", torch.full((n,), 1.25))
            self.register_buffer("bias", torch.full((n,), 0.1))

    class _Recurrent(nn.Module):
        """A recurrent cell's parameters as one weight W (an LSTM's or GRU's [W_x | W_h], G u x (F + u); an SVDF's
        [W_f | W_t], units rank x (F + memory)) and one bias (every bias vector, concatenated); an SVDF also holds
        the memory - 1 frames its state kept from earlier invocations (a constant here)."""

        def __init__(self, layer: Layer):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(*_recurrent_weight_shape(layer)).uniform_(-0.3, 0.3))
            self.bias = nn.Parameter(torch.empty(layer.biases).uniform_(-0.1, 0.1)) if layer.biases else None
            if layer.kind == "svdf":
                frames = torch.rand(layer.attr("memory") - 1, layer.attr("units") * layer.attr("rank")) * 0.5
                self.register_buffer("history", frames)

    class _ChannelAffine(nn.Module):
        """An unfolded batch normalization's per-channel scale and shift (trainable, as a layer's weights)."""

        def __init__(self, layer: Layer):
            super().__init__()
            c = layer.output_shape[-1]
            self.weight = nn.Parameter(torch.empty(c).uniform_(0.5, 1.5))
            self.bias = nn.Parameter(torch.empty(c).uniform_(-0.1, 0.1)) if layer.biases else None

    class _Constant(nn.Module):
        """A learned constant (frozen: a buffer), one sample's worth: its readers broadcast it over the batch."""

        def __init__(self, layer: Layer):
            super().__init__()
            self.register_buffer("value", torch.empty(1, *module_shape(layer.output_shape)).uniform_(-0.5, 0.5))

    class _Table(nn.Module):
        """An embedding's table, vocab x dim (no bias)."""

        def __init__(self, layer: Layer):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(layer.attr("vocab"), layer.attr("dim")).uniform_(-0.3, 0.3))
            self.bias = None

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            #: what the last recurrent layer run saved for its backward pass through time (``recurrent_forward``)
            self.saved_states = None
            self.ops = nn.ModuleDict()
            for layer in model.layers:
                mod = self._module(layer)
                if mod is not None:
                    self.ops[module_key(layer)] = mod

        @staticmethod
        def _module(layer: Layer):
            d = layer.dims
            dilation = layer.dilation or 1
            if layer.kind == "conv2d":
                return nn.Conv2d(layer.input_shapes[0][2], d.C_out, layer.kernel, layer.stride, groups=layer.groups,
                                 dilation=dilation, bias=layer.biases > 0)
            if layer.kind == "depthwise_conv2d":
                return nn.Conv2d(d.C_in, d.C_out, layer.kernel, layer.stride, groups=d.C_in, dilation=dilation,
                                 bias=layer.biases > 0)
            if layer.kind == "conv2d_transpose":  # the full output, cropped in ``run_layer``
                return nn.ConvTranspose2d(d.C_in, d.C_out, layer.kernel, layer.stride, bias=layer.biases > 0)
            if layer.kind == "dense":
                return nn.Linear(layer.input_elements, layer.output_elements, bias=layer.biases > 0)
            if layer.kind in ("lstm", "gru", "svdf"):
                return _Recurrent(layer)
            if layer.kind == "activation" and layer.activation == "prelu":
                return _Slopes(layer.weights)
            if layer.kind == "batch_norm":
                return _ChannelAffine(layer)
            if layer.kind == "embedding":
                return _Table(layer)
            if layer.kind == "constant":
                return _Constant(layer)
            if layer.kind == "layer_norm" and layer.weights:
                return _Affine(layer.weights)
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
            elif layer.kind == "pad" and layer.attr("pads"):
                src = layer.input_shapes[0]
                flat = [v for pair in reversed(layer.attr("pads")) for v in pair]  # F.pad: last axis first
                h = from_ir(F.pad(to_ir(h, src), flat), layer.output_shape)
            if layer.kind == "dense":
                h = h.reshape(h.shape[0], -1)
            return h

        def run_layer(self, layer: Layer, ins: list):
            """(pre-activation, output) of one layer given its input tensors."""
            k = layer.kind
            if k in ("conv2d", "depthwise_conv2d", "dense"):
                pre = self.ops[module_key(layer)](self.layer_input(layer, ins))
            elif k == "conv2d_transpose":
                pre = crop(self.ops[module_key(layer)](ins[0]), layer.padding)
            elif k in ("avg_pool2d", "max_pool2d", "pad"):
                h = self.layer_input(layer, ins)
                pool = F.avg_pool2d if k == "avg_pool2d" else F.max_pool2d
                pre = h if k == "pad" else pool(h, layer.kernel, layer.stride)
            elif k in ("add", "mul", "sub"):
                out = layer.output_shape
                ops = [broadcast_operand(x, shape, out) for x, shape in zip(ins, layer.input_shapes)]
                pre = ops[0]
                for x in ops[1:]:
                    pre = pre + x if k == "add" else pre * x if k == "mul" else pre - x
            elif k == "constant":
                pre = self.ops[module_key(layer)].value
            elif k == "concat":
                batch = max(x.shape[0] for x in ins)  # a constant is one sample's, the same for every sample
                ins = [x.expand(batch, *x.shape[1:]) for x in ins]
                if layer.attr("axis") is not None:
                    pre = from_ir(torch.cat([to_ir(x, s) for x, s in zip(ins, layer.input_shapes)],
                                            dim=layer.attr("axis") + 1), layer.output_shape)
                else:
                    pre = torch.cat(ins, dim=1)
            elif k == "activation":
                pre = ins[0]
                if layer.activation == "prelu":
                    return pre, self.ops[module_key(layer)](pre)
            elif k == "mean":
                src = layer.input_shapes[0]
                pre = to_ir(ins[0], src).mean(dim=[a + 1 for a in layer.attr("axes")], keepdim=layer.attr("keepdims"))
                pre = from_ir(pre.reshape(pre.shape[0], *layer.output_shape), layer.output_shape)
            elif k == "transpose":
                src = layer.input_shapes[0]
                pre = copied(from_ir(to_ir(ins[0], src).permute(0, *(a + 1 for a in layer.attr("perm"))),
                                     layer.output_shape), ins[0])
            elif k == "slice":
                src = layer.input_shapes[0]
                index = (slice(None), *(slice(b, e, st) for b, e, st in
                                        zip(layer.attr("begin"), layer.attr("end"), layer.attr("step"))))
                pre = from_ir(to_ir(ins[0], src)[index], layer.output_shape).clone()
            elif k == "layer_norm":
                shape = layer.output_shape
                x_hat, _ = layer_norm_stats(to_ir(ins[0], shape))
                if layer.weights:
                    affine = self.ops[module_key(layer)]
                    x_hat = torch.addcmul(affine.bias, x_hat, affine.weight)  # gamma x_hat + beta: 2 per element
                pre = from_ir(x_hat, shape)
            elif k == "matmul":
                a, b = (to_ir(x, shape) for x, shape in zip(ins, layer.input_shapes))
                pre = from_ir(torch.matmul(a, b), layer.output_shape)
            elif k in ("lstm", "gru", "svdf"):
                pre, self.saved_states = recurrent_forward(layer, self.ops[module_key(layer)], ins[0])
            elif k == "batch_norm":  # channels last in the IR's order: gamma' x + beta', 2 per element (1 unshifted)
                shape, affine = layer.output_shape, self.ops[module_key(layer)]
                x = to_ir(ins[0], shape)
                y = torch.addcmul(affine.bias, x, affine.weight) if affine.bias is not None else x * affine.weight
                pre = from_ir(y, shape)
            elif k == "embedding":  # a lookup, no MACC
                pre = F.embedding(ins[0].long(), self.ops[module_key(layer)].weight)
            elif k == "lrn":
                pre = ins[0] * lrn_powers(layer, ins[0])[0]
            elif k == "resize" and layer.attr("method") == "bilinear":
                # PyTorch's two mappings; an asymmetric one (TFLite's default) runs as half_pixel: the same four
                # taps per output, other weights
                pre = F.interpolate(ins[0], size=layer.attr("size"), mode="bilinear",
                                    align_corners=layer.attr("coordinates") == "align_corners")
            elif k == "resize":
                pre = F.interpolate(ins[0], scale_factor=layer.attr("scale"), mode="nearest")
            elif k in ("reshape", "flatten"):
                pre = reshaped(ins[0], layer.input_shapes[0], layer.output_shape)
            elif k == "softmax":
                shape = layer.output_shape
                axis = layer.attr("axis", len(shape) - 1)
                pre = from_ir(torch.softmax(to_ir(ins[0], shape), dim=axis + 1), shape)
            else:  # converters
                pre = ins[0]
            fn = acts.get(layer.activation)
            return pre, (fn(pre) if fn else pre)

        def forward(self, *xs):
            """One tensor per input of the graph, in the model's order."""
            values = {layer.name: x for layer, x in zip(model.inputs, xs, strict=True)}
            for layer in model.computed:
                values[layer.name] = self.run_layer(layer, [values[s] for s in layer.inputs])[1]
            return values[model.output.name]

    return Net()


def _recurrent_weight_shape(layer: Layer) -> tuple[int, int]:
    features = layer.input_shapes[0][-1]
    if layer.kind == "svdf":
        return layer.attr("units") * layer.attr("rank"), features + layer.attr("memory")
    units = layer.attr("units")
    return layer.weights // (features + units), features + units


def recurrent_forward(layer: Layer, cell, x):
    """(output, states saved for the backward pass) of an LSTM, GRU or SVDF on ``x`` (samples, T, F) or, for an
    SVDF, (samples, F); each product and sum a counted operation as ``costs.formulas`` states it."""
    if layer.kind == "svdf":
        return _svdf_forward(layer, cell, x)
    torch = require_torch()
    n, steps, features = x.shape
    units = layer.attr("units")
    wx, wh = cell.weight[:, :features], cell.weight[:, features:]
    bx, bh = _bias_vectors(layer, cell)
    if layer.kind == "lstm" and bh is not None:
        with _uncounted():  # the two bias vectors of a gate add up once: a constant (a deployment stores the sum)
            bx, bh = bx + bh, None
    xz = _affine(x.reshape(n * steps, features), wx, bx).reshape(n, steps, -1)
    step = _lstm_step if layer.kind == "lstm" else _gru_step
    h = c = x.new_zeros(n, units)  # the initial states: zeros, a state like the others
    states, outs = [], []
    for t in range(steps):
        h, c, saved = step(xz[:, t], h, c, wh, bh, units)
        states.append(saved)
        outs.append(h)
    out = torch.stack(outs, dim=1) if layer.attr("return_sequences") else h
    return out, torch.stack(states, dim=1)


def _bias_vectors(layer: Layer, cell):
    """(input-side bias, recurrent-side bias or None): the module's bias holds one or two vectors."""
    if cell.bias is None:
        return None, None
    if layer.attr("bias_vectors") == 2:
        half = cell.bias.shape[0] // 2
        return cell.bias[:half], cell.bias[half:]
    return cell.bias, None


def _affine(x, w, b):
    """x W^T + b, the bias the products' initial value (counted as the product alone, as a dense layer's)."""
    torch = require_torch()
    return torch.addmm(b, x, w.t()) if b is not None else x @ w.t()


def _lstm_step(xz, h, c, wh, bh, units):
    """z = (W_x x_t + b) + W_h h_{t-1}, the input's part the product's initial value; c_t = f c_{t-1} + i g;
    h_t = o tanh(c_t). Saves i, f, g, o, c_t, h_t."""
    torch = require_torch()
    z = torch.addmm(xz, h, wh.t())
    i, f, g, o = torch.sigmoid(z[:, :units]), torch.sigmoid(z[:, units:2 * units]), \
        torch.tanh(z[:, 2 * units:3 * units]), torch.sigmoid(z[:, 3 * units:])
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c, torch.cat([i, f, g, o, c, h], dim=1)


def _gru_step(xz, h, c, wh, bh, units):
    """PyTorch's GRU: r, z = sigmoid(x-part + h-part), n = tanh(x_n + r h_n) with h_n = W_hn h_{t-1} + b_hn,
    h_t = n + z (h_{t-1} - n). Saves r, z, n, h_n, h_t."""
    torch = require_torch()
    hz = _affine(h, wh, bh)
    r = torch.sigmoid(xz[:, :units] + hz[:, :units])
    z = torch.sigmoid(xz[:, units:2 * units] + hz[:, units:2 * units])
    hn = hz[:, 2 * units:]
    n = torch.tanh(xz[:, 2 * units:] + r * hn)
    h = n + z * (h - n)
    return h, None, torch.cat([r, z, n, hn, h], dim=1)


def _svdf_forward(layer: Layer, cell, x):
    """a = W_f x; the state, the kept memory - 1 frames and a; y_unit = b + the unit's rank time filters times the
    state's frames, one product of rank x memory per unit. Saves the state."""
    torch = require_torch()
    units, rank, memory = layer.attr("units"), layer.attr("rank"), layer.attr("memory")
    n, features = x.shape
    a = x @ cell.weight[:, :features].t()
    state = torch.cat([cell.history.expand(n, memory - 1, units * rank), a.unsqueeze(1)], dim=1)
    rows = state.reshape(n, memory, units, rank).permute(0, 2, 3, 1).reshape(n * units, 1, rank * memory)
    filters = cell.weight[:, features:].reshape(units, rank * memory, 1).repeat(n, 1, 1)
    if cell.bias is not None:
        out = torch.baddbmm(cell.bias.reshape(1, units, 1).expand(n, units, 1).reshape(n * units, 1, 1), rows,
                            filters)
    else:
        out = torch.bmm(rows, filters)
    return out.reshape(n, units), state


def _uncounted():
    """The MAC counter's pause where one runs (folding constants is not the procedure's work)."""
    from contextlib import nullcontext

    from torch.utils._python_dispatch import _get_current_dispatch_mode

    mode = _get_current_dispatch_mode()
    return mode.paused() if hasattr(mode, "paused") else nullcontext()


def example_input(model: Model, seed: int | None = None, samples: int = 1, layer: Layer | None = None):
    """Zeros, or seeded random samples (the learning procedures need non-zero activations), for the
    input ``layer`` (the first by default); a graph's further inputs draw from seeds after ``seed``."""
    torch = require_torch()
    layer = layer or model.input
    shape = (samples, *module_shape(layer.output_shape))
    if seed is None:
        return torch.zeros(shape)
    seed += model.inputs.index(layer)
    table = next((t for t in model.layers if t.kind == "embedding"
                  and (len(model.inputs) == 1 or layer.name in t.inputs)), None)
    if table is not None:  # indices into the table (held as float values, as every input is)
        return torch.randint(0, table.attr("vocab"), shape, generator=torch.Generator().manual_seed(seed)).float()
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def example_inputs(model: Model, seed: int | None = None, samples: int = 1) -> list:
    """One example per input of the graph, in order (what ``build_module(model)`` takes)."""
    return [example_input(model, seed, samples, layer) for layer in model.inputs]
