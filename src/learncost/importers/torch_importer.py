"""A live ``torch.nn.Module`` plus an input shape, traced with ``torch.fx`` and shape-propagated.

Only for the Python API (``learncost.from_torch``): loading a pickled checkpoint from the
command line would run code from the file, so the CLI refuses it. Needs ``learncost[torch]``.

Modules are translated by class (``MODULES``: the nearest class of the module's ancestry with an
entry, so a subclass of ``nn.Conv2d`` is a convolution), functions and methods by name
(``FUNCTIONS``: ``torch.add``, ``operator.add`` and ``x.add`` are all ``add``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import GraphBuilder, ImportFailure, Table, to_hwc

DTYPES = {"torch.float32": "float32", "torch.float16": "float16", "torch.int8": "int8", "torch.qint8": "int8"}

MODULES = Table()
FUNCTIONS = Table()


@dataclass
class _Node:
    pos: int
    node: object
    target: object  # the module (call_module) or the function / method name
    kind: str  # the module's class name, or the function's name
    srcs: list[str]
    y: tuple[int, ...]
    dtype: str
    b: GraphBuilder

    @property
    def common(self) -> dict:
        return {"dtype": self.dtype, "weight_dtype": self.dtype, "bias_dtype": self.dtype}

    def is_a(self, cls: str) -> bool:
        """The module is of class ``cls`` or of a subclass of it."""
        return any(c.__name__ == cls for c in type(self.target).__mro__)

    def add(self, kind: str, srcs: list[str], **params) -> str:
        return self.b.add(self.node.name, kind, srcs, [self.node.name], expect=self.y, **params)

    def opaque(self, what: str | None = None, srcs: list[str] | None = None) -> None:
        self.b.opaque(what or self.kind, self.pos, self.node.name, self.srcs[:1] if srcs is None else srcs,
                      [self.node.name], self.y)


def load_module(module, input_shape: list[int] | tuple[int, ...], *, name: str | None = None,
                classes: int | None = None, allow_unsupported: bool = False):
    try:
        import torch
        from torch import fx, nn
        from torch.fx.passes.shape_prop import ShapeProp
    except ImportError:
        raise ImportFailure("tracing a PyTorch module needs torch", hint="pip install 'learncost[torch]'",
                            code="LC-DEPENDENCY") from None
    origin = name or type(module).__name__
    if not isinstance(module, nn.Module):
        raise ImportFailure(f"{origin}: expected a torch.nn.Module, got {type(module).__name__}")
    shape = [int(d) for d in input_shape]
    if len(shape) < 2 or any(d < 1 for d in shape):
        raise ImportFailure(f"{origin}: the input shape needs a batch dimension and positive sizes, got {shape}")
    try:
        traced = fx.symbolic_trace(module)
        ShapeProp(traced).propagate(torch.zeros(shape))
    except Exception as exc:
        raise ImportFailure(f"{origin}: torch.fx could not trace the module ({type(exc).__name__}: {exc})") from None
    modules = dict(traced.named_modules())

    def meta(node):
        tm = node.meta.get("tensor_meta")
        return tm if hasattr(tm, "shape") else None

    b: GraphBuilder | None = None
    last_softmax = False
    params_dtype = "float32"
    for p in module.parameters():
        params_dtype = DTYPES.get(str(p.dtype), "float32")
        break
    for pos, node in enumerate(traced.graph.nodes):
        if node.op == "placeholder":
            if b is not None:
                raise ImportFailure(f"{origin}: the module takes several inputs; learncost models one")
            b = GraphBuilder(origin, to_hwc(shape[1:]), DTYPES.get(str(meta(node).dtype), "float32"))
            b.alias[node.name] = "input"
            continue
        if node.op == "output" or meta(node) is None:
            continue
        srcs = [a.name for a in node.all_input_nodes if meta(a) is not None]
        y = tuple(to_hwc([int(d) for d in meta(node).shape[1:]]))
        if node.op == "call_module":
            target = modules.get(node.target)
            kind = type(target).__name__
            handler = next((MODULES[c.__name__] for c in type(target).__mro__ if c.__name__ in MODULES), None)
        else:
            target = node.target
            kind = getattr(target, "__name__", str(target))
            handler = FUNCTIONS.get(kind)
        current = _Node(pos, node, target, kind, srcs, y, params_dtype, b)
        if handler is None:
            current.opaque()
        last_softmax = handler is not None and bool(handler(current))
    if b is None:
        raise ImportFailure(f"{origin}: the module has no input")
    return b.build(name=origin, allow_unsupported=allow_unsupported, classes=classes, softmax_output=last_softmax)


# Each handler translates one node; it returns True only where the node is the model's softmax.

@MODULES("Conv2d", "Conv1d")
def _conv(n: _Node):
    t = n.target
    if any(d != 1 for d in t.dilation) or t.padding_mode != "zeros" or isinstance(t.padding, str) and t.padding != "valid":
        return n.opaque(f"{n.kind} (dilated, non-zero or string padding)")
    k, s, p = list(t.kernel_size), list(t.stride), list(t.padding)
    if n.is_a("Conv1d"):
        k, s, p = [1, k[0]], [1, s[0]], [0, p[0]]
    conv = dict(kernel=k, stride=s, padding=[p[0], p[0], p[1], p[1]], use_bias=t.bias is not None, **n.common)
    if t.groups == 1:
        n.add("conv2d", n.srcs, filters=t.out_channels, **conv)
    elif t.groups == t.in_channels:
        n.add("depthwise_conv2d", n.srcs, depth_multiplier=t.out_channels // t.in_channels, **conv)
    else:
        n.opaque(f"{n.kind} (groups={t.groups})")


@MODULES("Linear")
def _linear(n: _Node):
    n.add("dense", n.srcs, units=n.target.out_features, use_bias=n.target.bias is not None, **n.common)


def _pair(v) -> list[int]:
    return [v, v] if isinstance(v, int) else list(v)


@MODULES("AvgPool2d", "MaxPool2d")
def _pool(n: _Node):
    t = n.target
    pad = _pair(t.padding)
    n.add("avg_pool2d" if n.is_a("AvgPool2d") else "max_pool2d", n.srcs, kernel=_pair(t.kernel_size),
          stride=_pair(t.stride or t.kernel_size), padding=[pad[0], pad[0], pad[1], pad[1]], dtype=n.dtype)


@MODULES("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
def _adaptive_pool(n: _Node):
    if tuple(n.y[:2]) != (1, 1):
        return n.opaque()
    n.add("avg_pool2d" if n.is_a("AdaptiveAvgPool2d") else "max_pool2d", n.srcs, **{"global": True},
          dtype=n.dtype)


@MODULES("ZeroPad2d")
def _zero_pad(n: _Node):
    left, right, top, bottom = n.target.padding
    n.add("pad", n.srcs, padding=[top, bottom, left, right], dtype=n.dtype)


@MODULES("BatchNorm1d", "BatchNorm2d", "Dropout", "Identity")
def _skipped(n: _Node):
    n.b.skip(n.srcs[0], [n.node.name], "batch normalization" if "BatchNorm" in n.kind else n.kind.lower())


@MODULES("ReLU", "ReLU6", "Sigmoid", "Tanh", "Hardswish")
@FUNCTIONS("relu", "relu6")
def _activation(n: _Node):
    if not n.b.fuse_activation(n.srcs[0], [n.node.name], n.kind.lower()):
        n.opaque(srcs=n.srcs)


@MODULES("Flatten", "Unflatten")
@FUNCTIONS("flatten", "view", "reshape", "squeeze")
def _reshape(n: _Node):
    n.add("reshape", n.srcs[:1], shape=list(n.y), dtype=n.dtype)


@MODULES("Softmax")
@FUNCTIONS("softmax")
def _softmax(n: _Node):
    n.add("softmax", n.srcs[:1], dtype=n.dtype)
    return True


@FUNCTIONS("add", "iadd")
def _add(n: _Node):
    if len(n.srcs) < 2:
        return n.opaque(f"{n.kind} (with a constant)", n.srcs)
    n.add("add", n.srcs, dtype=n.dtype)


@FUNCTIONS("cat")
def _cat(n: _Node):
    node = n.node
    if not callable(n.target) or node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) not in (1, -3):
        return n.opaque()
    n.add("concat", n.srcs, dtype=n.dtype)
