"""Counting the multiply-accumulates PyTorch really executes, by layer and operation.

A ``TorchDispatchMode`` sees every ATen operator a step runs, including those autograd runs
for a backward pass. Small handlers, one per operator family as in fvcore's flop counting,
turn an operator's tensor shapes into MACs; the reference procedures say where they are
(``counter.at(layer, op)``) so that each MAC lands on a layer and an operation.

Counting rules (one MAC = one multiply-accumulate; a plain add or multiply counts one):
- matrix products: M x K x N; a convolution: output elements x (C_in / groups) x H_ker x W_ker.
- ``convolution_backward`` counts each gradient it is asked for: the input gradient and the
  weight gradient each cost what the forward convolution costs, groups included; the bias
  gradient one add per output-gradient element. ``torch.utils.flop_counter`` in torch 2.13
  counts a grouped convolution's gradient as if it were not grouped (tests show the gap).
- pooling: every window element read (output x H_ker x W_ker); average-pool backward the
  same; max-pool backward one per output element (the error goes to the maximum).
- element-wise add, subtract, multiply, divide: one per output element (a fused multiply-add
  such as ``add(x, y, alpha=a)`` is one); ``addcmul``/``addcdiv`` (x + a y z, x + a y / z): two.
- reductions (sum, mean): one per input element (a mean's division folded in, as an average pool's).
- random numbers (F regenerated from a seed): one per value generated.
- bilinear upsampling: 4 per output element (the weighted sum of its 4 neighbours); its backward 4 per
  output-error element (scattered to the 4, weighted).
- an embedding's weight gradient: one add per output-error element (added into its index's row).
Operators outside these rules (activations and their derivatives, exp, padding, copies,
views) execute no MAC; they are tallied by name so a report can show what was not counted.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from contextlib import contextmanager

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

#: operations the counter attributes MACs to: learncost's operations (``costs.OPERATIONS``), the
#: backward pass and the weight update under the names of what is executed for them
COUNTED = ("forward", "input_gradient", "weight_gradient", "goodness", "normalization", "error", "projection",
           "bias_gradient", "local_error", "gradient_sum", "feedback_generation", "optimizer",
           "gradient_accumulation", "error_projection", "target_projection", "recompute", "tangent",
           "perturbation", "random_generation", "gradient_estimate", "readout", "readout_gradient", "readout_step",
           "readout_accumulation")


def _numel(shape) -> int:
    return math.prod(shape)


def _mm(args, kwargs, out):
    a, b = args[-2], args[-1]
    return a.shape[0] * a.shape[1] * b.shape[1]


def _bmm(args, kwargs, out):
    a, b = args[-2], args[-1]
    return a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]


def _dot(args, kwargs, out):
    return args[0].numel()


def _mv(args, kwargs, out):
    return args[0].shape[0] * args[0].shape[1]


def _conv(args, kwargs, out):
    weight, transposed = args[1], args[6]
    if transposed:  # each input element scatters into C_out/groups x kernel outputs
        return args[0].numel() * _numel(weight.shape[1:])
    return out.numel() * _numel(weight.shape[1:])


def _conv_backward(args, kwargs, out):
    grad_out, weight, transposed, mask = args[0], args[2], args[7], args[10]
    forward = _numel(grad_out.shape) * _numel(weight.shape[1:])
    if transposed:
        forward = args[1].numel() * _numel(weight.shape[1:])
    counts = {}
    if mask[0]:
        counts["input_gradient"] = forward
    if mask[1]:
        counts["weight_gradient"] = forward
    if mask[2]:
        counts["bias_gradient"] = grad_out.numel()
    return counts


def _pool_window(args) -> int:
    kernel = args[1]
    return _numel(kernel) if len(kernel) > 1 else kernel[0] ** 2


def _avg_pool(args, kwargs, out):
    return out.numel() * _pool_window(args)


def _avg_pool_backward(args, kwargs, out):
    return args[0].numel() * _pool_window(args[1:])


def _max_pool(args, kwargs, out):
    return out[0].numel() * _pool_window(args)


def _max_pool_backward(args, kwargs, out):
    return args[0].numel()


def _elementwise(args, kwargs, out):
    return out.numel()


def _reduce(args, kwargs, out):
    return args[0].numel()


def _fused_two(args, kwargs, out):
    return 2 * (out[0] if isinstance(out, tuple) else out).numel()


def _generated(args, kwargs, out):
    return out.numel()


def _embedding_backward(args, kwargs, out):
    return args[0].numel()


def _bilinear(args, kwargs, out):
    return 4 * out.numel()


def _bilinear_backward(args, kwargs, out):
    return 4 * args[0].numel()


HANDLERS = {
    aten.mm: _mm, aten.addmm: _mm, aten.bmm: _bmm, aten.baddbmm: _bmm, aten.dot: _dot, aten.vdot: _dot,
    aten.mv: _mv, aten.addmm_: _mm,
    aten.convolution: _conv, aten.convolution_backward: _conv_backward,
    aten.avg_pool2d: _avg_pool, aten.avg_pool2d_backward: _avg_pool_backward,
    aten.max_pool2d_with_indices: _max_pool, aten.max_pool2d_with_indices_backward: _max_pool_backward,
    aten.add: _elementwise, aten.add_: _elementwise, aten.sub: _elementwise, aten.sub_: _elementwise,
    aten.mul: _elementwise, aten.mul_: _elementwise, aten.div: _elementwise, aten.div_: _elementwise,
    aten.sum: _reduce, aten.mean: _reduce, aten.addcmul: _fused_two, aten.addcmul_: _fused_two,
    aten.addcdiv: _fused_two, aten.addcdiv_: _fused_two, aten.rand: _generated, aten.uniform_: _generated,
    aten.randn: _generated, aten.normal_: _generated,
    aten.embedding_dense_backward: _embedding_backward,
    aten.upsample_bilinear2d: _bilinear, aten.upsample_bilinear2d_backward: _bilinear_backward,
}


class MacCounter(TorchDispatchMode):
    """MACs per (layer, operation), and the executed operators that cost none.

    >>> with MacCounter() as c, c.at("fc", "forward"):
    ...     y = torch.nn.functional.linear(x, w)
    >>> c.counts[("fc", "forward")]
    """

    def __init__(self):
        super().__init__()
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.uncounted: Counter[str] = Counter()
        self._where: tuple[str, str] = ("", "forward")
        self._paused = False

    @contextmanager
    def at(self, layer: str, op: str):
        if op not in COUNTED:
            raise ValueError(f"unknown counted operation {op!r}")
        saved, self._where = self._where, (layer, op)
        try:
            yield self
        finally:
            self._where = saved

    @contextmanager
    def paused(self):
        """Preparing data (a sample, its label, the scalars of a loss) is not the procedure's work."""
        saved, self._paused = self._paused, True
        try:
            yield self
        finally:
            self._paused = saved

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._paused:
            return out
        handler = HANDLERS.get(func.overloadpacket)
        if handler is None:
            self.uncounted[func.overloadpacket.__name__] += 1
            return out
        counted = handler(args, kwargs, out)
        layer, op = self._where
        if isinstance(counted, dict):
            for key, n in counted.items():
                self.counts[(layer, key)] += n
        else:
            self.counts[(layer, op)] += counted
        return out

    def total(self, op: str | None = None, layer: str | None = None) -> int:
        return sum(n for (ly, o), n in self.counts.items()
                   if (op is None or o == op) and (layer is None or ly == layer))
