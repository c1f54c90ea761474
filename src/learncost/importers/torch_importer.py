"""A live ``torch.nn.Module`` plus an input shape, traced with ``torch.fx`` and shape-propagated.

Only for the Python API (``learncost.from_torch``): loading a pickled checkpoint from the
command line would run code from the file, so the CLI refuses it. Needs ``learncost[torch]``.
"""

from __future__ import annotations

import operator

from .common import GraphBuilder, ImportFailure, to_hwc

DTYPES = {"torch.float32": "float32", "torch.float16": "float16", "torch.int8": "int8", "torch.qint8": "int8"}


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

    def out_shape(node) -> list[int]:
        return to_hwc([int(d) for d in meta(node).shape[1:]])

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
        y = tuple(out_shape(node))
        target = modules.get(node.target) if node.op == "call_module" else node.target
        kind = type(target).__name__ if node.op == "call_module" else getattr(target, "__name__", str(target))
        last_softmax = False
        common = {"dtype": params_dtype, "weight_dtype": params_dtype, "bias_dtype": params_dtype}
        if isinstance(target, (nn.Conv2d, nn.Conv1d)):
            if any(d != 1 for d in target.dilation) or target.padding_mode != "zeros" or isinstance(target.padding, str) and target.padding != "valid":
                b.opaque(f"{kind} (dilated, non-zero or string padding)", pos, node.name, srcs, [node.name], y)
                continue
            k, s, p = list(target.kernel_size), list(target.stride), list(target.padding)
            if isinstance(target, nn.Conv1d):
                k, s, p = [1, k[0]], [1, s[0]], [0, p[0]]
            conv = dict(kernel=k, stride=s, padding=[p[0], p[0], p[1], p[1]], use_bias=target.bias is not None, **common)
            if target.groups == 1:
                b.add(node.name, "conv2d", srcs, [node.name], expect=y, filters=target.out_channels, **conv)
            elif target.groups == target.in_channels:
                b.add(node.name, "depthwise_conv2d", srcs, [node.name], expect=y,
                      depth_multiplier=target.out_channels // target.in_channels, **conv)
            else:
                b.opaque(f"{kind} (groups={target.groups})", pos, node.name, srcs, [node.name], y)
        elif isinstance(target, nn.Linear):
            b.add(node.name, "dense", srcs, [node.name], expect=y, units=target.out_features,
                  use_bias=target.bias is not None, **common)
        elif isinstance(target, (nn.AvgPool2d, nn.MaxPool2d)):
            pair = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
            pad = pair(target.padding)
            b.add(node.name, "avg_pool2d" if isinstance(target, nn.AvgPool2d) else "max_pool2d", srcs, [node.name],
                  expect=y, kernel=pair(target.kernel_size), stride=pair(target.stride or target.kernel_size),
                  padding=[pad[0], pad[0], pad[1], pad[1]], dtype=params_dtype)
        elif isinstance(target, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and tuple(y[:2]) == (1, 1):
            b.add(node.name, "avg_pool2d" if "Avg" in kind else "max_pool2d", srcs, [node.name], expect=y,
                  **{"global": True}, dtype=params_dtype)
        elif isinstance(target, nn.ZeroPad2d):
            left, right, top, bottom = target.padding
            b.add(node.name, "pad", srcs, [node.name], expect=y, padding=[top, bottom, left, right], dtype=params_dtype)
        elif isinstance(target, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout, nn.Identity)):
            b.skip(srcs[0], [node.name], "batch normalization" if "BatchNorm" in kind else kind.lower())
        elif isinstance(target, (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.Hardswish)) or kind in ("relu", "relu6"):
            if not b.fuse_activation(srcs[0], [node.name], kind.lower()):
                b.opaque(kind, pos, node.name, srcs, [node.name], y)
        elif isinstance(target, (nn.Flatten, nn.Unflatten)) or kind in ("flatten", "view", "reshape", "squeeze"):
            b.add(node.name, "reshape", srcs[:1], [node.name], expect=y, shape=list(y), dtype=params_dtype)
        elif isinstance(target, nn.Softmax) or kind == "softmax":
            b.add(node.name, "softmax", srcs[:1], [node.name], expect=y, dtype=params_dtype)
            last_softmax = True
        elif target in (operator.add, torch.add) or kind in ("add", "iadd"):
            if len(srcs) < 2:
                b.opaque(f"{kind} (with a constant)", pos, node.name, srcs, [node.name], y)
            else:
                b.add(node.name, "add", srcs, [node.name], expect=y, dtype=params_dtype)
        elif target is torch.cat and node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0) in (1, -3):
            b.add(node.name, "concat", srcs, [node.name], expect=y, dtype=params_dtype)
        else:
            b.opaque(kind, pos, node.name, srcs[:1], [node.name], y)
    if b is None:
        raise ImportFailure(f"{origin}: the module has no input")
    return b.build(name=origin, allow_unsupported=allow_unsupported, classes=classes, softmax_output=last_softmax)
