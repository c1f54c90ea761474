"""A live ``torch.nn.Module`` plus an input shape, traced with ``torch.fx`` and shape-propagated on the
meta device (nothing is computed: a module whose weights are themselves on the meta device imports too;
an operator without a meta kernel falls back to one real forward pass).

Only for the Python API (``learncost.from_torch``): loading a pickled checkpoint from the
command line would run code from the file, so the CLI refuses it. Needs ``learncost[torch]``.

Modules are translated by class (``MODULES``: the nearest class of the module's ancestry with an
entry, so a subclass of ``nn.Conv2d`` is a convolution), functions and methods by name
(``FUNCTIONS``: ``torch.add``, ``operator.add`` and ``x.add`` are all ``add``).
"""

from __future__ import annotations

import contextlib
import io
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..layers import INPUT_DERIVATIVE
from .common import (GraphBuilder, ImportFailure, Table, ir_axis, ir_permutation, to_hwc, transposed_crop,
                     whole_scale)

DTYPES = {"torch.float32": "float32", "torch.float16": "float16", "torch.int8": "int8", "torch.qint8": "int8",
          "torch.int32": "int32", "torch.int64": "int64"}

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
    shapes: dict  # node name -> its IR shape (fx's shape propagation, batch dropped)
    #: tensors whose features are their last axis: tokens (N, T, K), the IR's (1, T, K), and channels-last feature
    #: maps (N, H, W, C), the IR's (H, W, C) as every feature map (``_token_layout``)
    tokens: set = field(default_factory=set)
    modules: dict = field(default_factory=dict)  # the traced module's submodules, by name

    def on_tokens(self, src: str | None = None) -> bool:
        """Whether ``src`` (the node's first tensor by default) has its features last: tokens (N, T, K) or a
        channels-last feature map (N, H, W, C)."""
        return (src or (self.srcs[0] if self.srcs else "")) in self.tokens

    def shape_of(self, src: str) -> tuple[int, ...]:
        return self.shapes[src]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape, batch included, of the node's first tensor argument as torch has it (() if none). The IR
        shape cannot tell its rank: a (N, C, L) and an (N, C, H, W) tensor both have three IR axes (``to_hwc``)."""
        first = next((a for a in self.node.args if hasattr(a, "meta")), None)
        meta = first.meta.get("tensor_meta") if first is not None else None
        return tuple(int(d) for d in meta.shape) if hasattr(meta, "shape") else ()

    @property
    def rank(self) -> int:
        """The rank, batch included, of the node's first tensor argument as torch has it (0 if none)."""
        return len(self.input_shape)

    def arguments(self, names: tuple[str, ...], **defaults) -> dict:
        """A function call's arguments after its input, by name, positional or keyword as fx recorded them,
        over the function's ``defaults``."""
        given = dict(zip(names, self.node.args[1:])) | {k: v for k, v in self.node.kwargs.items() if k in names}
        return defaults | given

    def operands(self, args) -> list[str]:
        """The tensors among ``args`` in order, repeats kept (``x * x``, ``torch.cat([x, x])``)."""
        return [a.name for a in args if hasattr(a, "name") and a.name in self.shapes]

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
                classes: int | None = None, allow_unsupported: bool = False, dtype: str | None = None):
    """A live ``torch.nn.Module`` as a learncost model (``learncost.from_torch``): traced with ``torch.fx``,
    shapes propagated on the meta device (nothing computed). ``input_shape`` includes the batch (NCHW): one
    shape, or a list of shapes, one for each argument of a ``forward`` taking several tensors;
    ``dtype`` (``int8``, ``int16``, ``float32``, ``int8-paper``) costs it as deployed, e.g. the int8
    model a float32 module becomes.

        >>> import torch.nn as nn, learncost
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 30 * 30, 10))
        >>> model = learncost.from_torch(net, (1, 3, 32, 32), dtype="int8")
        >>> learncost.analyze(model, procedures=["bp"]).row("bp", "inference").macc
        266400
    """
    model = _load_module(module, input_shape, name, classes, allow_unsupported)
    if dtype is None:
        return model
    from ..dtypes import deployed

    return deployed(model, dtype)


def _load_module(module, input_shape, name: str | None, classes: int | None, allow_unsupported: bool):
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
    several = bool(input_shape) and all(isinstance(s, (list, tuple)) for s in input_shape)
    given = [[int(d) for d in s] for s in input_shape] if several else [[int(d) for d in input_shape]]
    for s in given:
        if len(s) < 2 or any(d < 1 for d in s):
            raise ImportFailure(f"{origin}: the input shape needs a batch dimension and positive sizes, got {s}")
    shape = given[0]
    if any(s[0] != shape[0] for s in given):
        raise ImportFailure(f"{origin}: the input shapes have different batches {[s[0] for s in given]}",
                            hint="give every input the same batch (1)")
    if any(c.__name__ in MODULES for c in type(module).__mro__):
        # fx traces into the root module: a layer given alone (nn.ConvTranspose2d(...)) is wrapped to stay one layer
        from collections import OrderedDict

        module = nn.Sequential(OrderedDict([(type(module).__name__.lower(), module)]))
    try:
        traced = fx.symbolic_trace(module)
    except Exception as exc:
        raise ImportFailure(f"{origin}: torch.fx could not trace the module ({type(exc).__name__}: {exc})") from None
    arguments = [node for node in traced.graph.nodes if node.op == "placeholder"]
    if len(arguments) != len(given):
        raise ImportFailure(f"{origin}: forward takes {len(arguments)} input(s), {len(given)} shape(s) given",
                            hint="give one shape per input, batch included, e.g. [(1, 3, 32, 32), (1, 10)]")
    # indices, not values, where an input feeds an embedding first
    named = dict(traced.named_modules())
    kinds = [torch.long if _indices(node, named) else torch.float32 for node in arguments]
    argument_shapes = {node.name: to_hwc(s[1:]) for node, s in zip(arguments, given)}
    argument_given = {node.name: s for node, s in zip(arguments, given)}
    # ShapeProp prints the traceback of a node that fails before raising: the failure is reported in one line
    with contextlib.redirect_stderr(io.StringIO()):
        try:  # shapes without computing anything: a copy of the graph whose tensors live on the meta device
            traced = _on_meta(traced)
            ShapeProp(traced).propagate(*(torch.zeros(s, device="meta", dtype=k) for s, k in zip(given, kinds)))
        except Exception:
            try:  # an operator with no meta kernel (a shape that depends on values): run it for real
                traced = fx.symbolic_trace(module)
                ShapeProp(traced).propagate(*(torch.zeros(s, dtype=k) for s, k in zip(given, kinds)))
            except Exception as exc:
                raise ImportFailure(f"{origin}: torch.fx could not trace the module "
                                    f"({type(exc).__name__}: {exc})") from None
    modules = dict(traced.named_modules())

    def meta(node):
        tm = node.meta.get("tensor_meta")
        return tm if hasattr(tm, "shape") else None

    b: GraphBuilder | None = None
    shapes: dict[str, tuple[int, ...]] = {}
    last_softmax = False
    params_dtype = "float32"
    for p in module.parameters():
        params_dtype = DTYPES.get(str(p.dtype), "float32")
        break
    per_sample: set[str] = set()  # nodes computed from the input (the others from parameters alone)
    tokens: set[str] = set()
    for pos, node in enumerate(traced.graph.nodes):
        if node.op == "placeholder":
            here = argument_shapes[node.name]
            if len(argument_given[node.name]) == 3 and _reads_as_tokens(node, modules):
                here = [1, *argument_given[node.name][1:]]
                tokens.add(node.name)
            if b is None:
                b = GraphBuilder(origin, here, DTYPES.get(str(meta(node).dtype), "float32"))
                b.alias[node.name] = "input"
            else:
                b.add_input(node.name, here, DTYPES.get(str(meta(node).dtype), "float32"))
            shapes[node.name] = tuple(here)
            per_sample.add(node.name)
            continue
        constant = not any(a.name in per_sample for a in node.all_input_nodes)
        if not constant:
            per_sample.add(node.name)
        if node.op == "output" or node.name in b.alias:  # (a recurrent cell names its getitem nodes itself)
            continue
        if meta(node) is None and not _is_cell(node, modules):  # a tuple, read through getitem nodes
            continue
        srcs = [a.name for a in node.all_input_nodes if meta(a) is not None]
        dims = [int(d) for d in meta(node).shape] if meta(node) is not None else []
        if node.op == "call_module":
            target = modules.get(node.target)
            kind = type(target).__name__
            handler = next((MODULES[c.__name__] for c in type(target).__mro__ if c.__name__ in MODULES), None)
        else:
            target = node.target
            kind = _callee(target)
            handler = FUNCTIONS.get(kind)
        # after an input with a batch of one, a first axis other than 1 is no batch: a tensor computed from parameters
        # alone (Swin V2's (225, 3)), or the batch folded into windows
        batched = dims[:1] == [1] or not constant and shape[0] != 1
        if batched and len(dims) in (3, 4) and (_token_layout(node, kind, tokens, modules) or (
                constant or kind == "expand") and len(dims) == 3 and _beside_tokens(node, tokens)):
            tokens.add(node.name)
            y = (1, dims[1], dims[2]) if len(dims) == 3 else tuple(dims[1:])
        else:
            y = tuple(to_hwc(dims[1:] if batched else dims)) if dims else ()
        shapes[node.name] = y
        if constant and node.op != "get_attr":  # a converter folds it into a constant; its parameters are not costed
            what = _callee(node.target)
            _Node(pos, node, node.target, what, srcs, y, params_dtype, b, shapes).opaque(
                f"{what} (computed from parameters alone)")
            continue
        current = _Node(pos, node, target, kind, srcs, y, params_dtype, b, shapes, tokens, modules)
        if node.op == "get_attr" and node.users and all(_callee(u.target) in PARAMETER_READERS for u in node.users):
            continue  # gamma and beta of F.layer_norm (ConvNeXt's LayerNorm2d): the function's layer counts them
        if node.op == "get_attr" and y and all(_callee(u.target) in OPERAND_READERS for u in node.users):
            # a learned tensor read as an activation is (ViT's class token, its position table): one sample's
            b.add(node.name, "constant", [], [node.name], shape=list(y), dtype=params_dtype,
                  weight_dtype=params_dtype)
            continue
        if kind == "expand" and srcs and shapes.get(srcs[0]) == y and _is_constant_layer(b, srcs[0]):
            b.alias[node.name] = b.source(srcs[0])  # a constant's copies for the batch: the same values
            continue
        if handler is not None and kind not in TOKEN_WISE | TOKEN_AWARE and any(s in tokens for s in srcs):
            current.opaque(f"{kind} (on a token tensor (N, T, K))")
            continue
        if handler is not None and kind not in LAYOUT_FREE and shape[0] == 1 and any(
                _folded(a) for a in [node, *node.all_input_nodes] if a.name in per_sample):
            current.opaque(f"{kind} (on a tensor whose batch is folded into its first axis)")
            continue
        if handler is None:
            current.opaque()
        last_softmax = handler is not None and bool(handler(current))
    if b is None:
        raise ImportFailure(f"{origin}: the module has no input")
    calls = Counter(node.target for node in traced.graph.nodes if node.op == "call_module"
                    and any(True for _ in modules[node.target].parameters(recurse=False)))
    shared = sorted(name for name, k in calls.items() if k > 1)
    if shared:  # a siamese encoder, a block applied twice: the IR gives each call its own layer
        b.notes.append(f"module(s) called more than once: {', '.join(shared[:4])}{', ...' if len(shared) > 4 else ''}"
                       "; the IR gives each call a layer of its own, so their parameters (and, in training, their "
                       "optimizer state) are counted once per call")
    return b.build(name=origin, allow_unsupported=allow_unsupported, classes=classes, softmax_output=last_softmax)


# -- tokens: rank-3 tensors (N, T, K) of T positions of K features (a transformer's) ---------------------------
#
# A rank-3 tensor is read channels-first, (N, C, L) as the IR's (1, L, C) (``to_hwc``: Conv1d's), unless it holds
# tokens: then (N, T, K) is the IR's (1, T, K), K its channels, so that a linear layer applied at each token is a
# 1x1 convolution and a layer normalization normalizes the IR's last axis (the built-in ``kwt`` spec's layout).
# A tensor holds tokens where a (N, C, L) one is transposed to (N, L, C) (a view: the IR's buffer already holds
# that order; ViT's patches), where an input is first read by a layer of features (Linear, LayerNorm, attention),
# and where a token-wise operation reads tokens.

#: modules and functions computing each token from the same token of their inputs (the tokens' layout kept)
TOKEN_WISE = frozenset({"Linear", "LayerNorm", "MultiheadAttention", "Dropout", "Identity", "StochasticDepth",
                        "dropout", "contiguous", "clone", "stochastic_depth", "add", "iadd", "mul", "imul", "sub",
                        "isub", "ReLU", "relu", "GELU", "gelu", "SiLU", "silu", "Tanh", "tanh", "Sigmoid",
                        "sigmoid", "layer_norm"})
#: those that read a token tensor knowing its layout, their output not tokens (or tokens by their own rule)
TOKEN_AWARE = frozenset({"permute", "transpose", "getitem", "mean", "flatten", "Flatten", "cat"})
#: the first readers that make an input of rank 3 tokens
TOKEN_READERS = ("Linear", "LayerNorm", "MultiheadAttention", "layer_norm")
#: functions reading a parameter as theirs (weights, not an operand)
PARAMETER_READERS = frozenset({"layer_norm"})
#: functions reading a tensor as an operand, as they read an activation (a learned tensor they read is a constant)
OPERAND_READERS = frozenset({"cat", "add", "iadd", "mul", "imul", "sub", "isub", "expand"})


def _swaps_last_two(node) -> bool:
    """``x.permute(0, 2, 1)``, ``x.transpose(1, 2)`` of a rank-3 tensor; of a rank-4 one, the channels moved last
    (``permute(0, 2, 3, 1)``) or back (``permute(0, 3, 1, 2)``): the moves between the two layouts."""
    rank = len(node.meta["tensor_meta"].shape) if hasattr(node.meta.get("tensor_meta"), "shape") else 0
    dims = _permutation(node, rank)
    moves = ([0, 2, 3, 1], [0, 3, 1, 2]) if rank == 4 else ([0, 2, 1],) if rank == 3 else ()
    return dims is not None and [d % rank for d in dims] in moves


def _permutation(node, rank: int) -> list | None:
    """The dimensions a ``permute`` (as fx recorded them, listed or one by one) or a ``transpose`` of two of a
    rank-``rank`` tensor's axes orders its output by; None where they are not integers."""
    name, args = _callee(node.target), node.args
    if name == "permute" and len(args) >= 2:
        dims = list(args[1:]) if len(args) > 2 or isinstance(args[1], int) else list(args[1])
    elif name == "transpose" and len(args) >= 3 and all(isinstance(a, int) for a in args[1:3]) and rank:
        dims = list(range(rank))
        dims[args[1] % rank], dims[args[2] % rank] = dims[args[2] % rank], dims[args[1] % rank]
    else:
        return None
    return dims if all(isinstance(d, int) for d in dims) else None


def _reads_as_tokens(node, modules) -> bool:
    """Whether a rank-3 tensor is read as tokens: following its readers through token-wise operations, a layer of
    features (Linear, LayerNorm, attention) reads it before any operator reading it channels-first (Conv1d, a pool)
    does."""
    seen, frontier = set(), list(node.users)
    while frontier:
        u = frontier.pop(0)
        if u.name in seen or u.op == "output":
            continue
        seen.add(u.name)
        kind = type(modules.get(u.target)).__name__ if u.op == "call_module" else _callee(u.target)
        if u.op == "call_module" and any(c.__name__ in TOKEN_READERS for c in type(modules.get(u.target)).__mro__) \
                or u.op == "call_function" and kind in TOKEN_READERS:
            return True
        if kind in TOKEN_WISE or kind == "cat":
            frontier.extend(u.users)
        elif kind not in ("getattr", "dim", "size"):  # (its shape read: no reading of its values)
            return False
    return False


def _is_constant_layer(b: GraphBuilder, tensor: str) -> bool:
    layer = b.producer(tensor)
    return layer is not None and layer["kind"] == "constant"


def _beside_tokens(node, tokens: set) -> bool:
    """A learned tensor (ViT's class token, expanded to the batch; its position table) read with tokens."""
    return any(a.name in tokens for u in node.users for a in u.all_input_nodes) or any(
        _callee(u.target) == "expand" and _beside_tokens(u, tokens) for u in node.users)


def _token_layout(node, kind: str, tokens: set, modules) -> bool:
    """Whether a rank-3 or rank-4 output has its features last: the move of a channels-first tensor's features
    last where they are read so (or, of such a tensor, not), the output of a token-wise operation on tokens, of a
    linear layer at each position, of a concatenation of tokens."""
    ins = [a for a in node.all_input_nodes if hasattr(a.meta.get("tensor_meta"), "shape")]
    if node.op == "call_function" or node.op == "call_method":
        if kind in ("permute", "transpose") and _swaps_last_two(node) and ins:  # to tokens where read as such
            to_last = len(node.meta["tensor_meta"].shape) == 3 or [d % 4 for d in _permutation(node, 4)] == [0, 2, 3, 1]
            return to_last and ins[0].name not in tokens and _reads_as_tokens(node, modules)
    if kind == "getitem":  # an attention module's output, read from its tuple
        parent = node.args[0]
        return hasattr(parent, "op") and parent.op == "call_module" and \
            type(modules.get(parent.target)).__name__ == "MultiheadAttention" and parent.args[0].name in tokens
    if kind == "cat":
        return bool(ins) and all(a.name in tokens for a in ins)
    return kind in TOKEN_WISE and any(a.name in tokens for a in ins)


#: modules and functions whose translation reads no axis, or reads a time-major sequence as such (the recurrent
#: cells): they take a tensor whose batch is folded into its first axis (Swin's and MaxViT's windows) as it is
LAYOUT_FREE = frozenset({"view", "reshape", "flatten", "Flatten", "contiguous", "clone", "dropout", "Dropout",
                         "Identity", "relu", "ReLU", "gelu", "GELU", "sigmoid", "Sigmoid", "tanh", "Tanh", "silu",
                         "SiLU", "LSTM", "GRU"})


def _callee(target) -> str:
    """A function's or method's name as the tables key it (``torch.add``, ``operator.add`` and ``x.add``: add)."""
    return getattr(target, "__name__", str(target))


def _folded(node) -> bool:
    """After an input with a batch of one, a tensor of rank 2 or more whose first axis is not 1: the batch folded into
    it. Its axes are the sample's, which the handlers reading dimensions batch-first do not expect."""
    tm = node.meta.get("tensor_meta")
    return hasattr(tm, "shape") and len(tm.shape) >= 2 and int(tm.shape[0]) != 1


def _indices(node, modules) -> bool:
    """Whether an input of the module is read first by an embedding (``nn.Embedding``, ``F.embedding``): integer
    indices."""
    users = list(node.users)
    return bool(users) and all(
        u.op == "call_module" and any(c.__name__ == "Embedding" for c in type(modules.get(u.target)).__mro__)
        or u.op == "call_function" and _callee(u.target) == "embedding" for u in users)


def _on_meta(traced):
    """A copy of the traced module whose parameters and buffers are meta tensors (shapes and dtypes, no
    data): their values are never copied, and propagating shapes through it computes nothing."""
    import copy

    from torch import nn

    memo: dict = {}
    for t in [*traced.parameters(), *traced.buffers()]:
        meta = t.detach().to("meta")
        memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy.deepcopy(traced, memo)


# Each handler translates one node; it returns True only where the node is the model's softmax.

@MODULES("Conv2d", "Conv1d")
def _conv(n: _Node):
    t = n.target
    if t.padding_mode != "zeros" or isinstance(t.padding, str) and t.padding != "valid":
        return n.opaque(f"{n.kind} (non-zero or string padding)")
    k, s, p, d = list(t.kernel_size), list(t.stride), list(t.padding), list(t.dilation)
    if n.is_a("Conv1d"):
        k, s, p, d = [1, k[0]], [1, s[0]], [0, p[0]], [1, d[0]]
    conv = dict(kernel=k, stride=s, padding=[p[0], p[0], p[1], p[1]], use_bias=t.bias is not None,
                dilation=None if d == [1, 1] else d, **n.common)
    if t.groups == t.in_channels and t.groups > 1:
        n.add("depthwise_conv2d", n.srcs, depth_multiplier=t.out_channels // t.in_channels, **conv)
    else:
        n.add("conv2d", n.srcs, filters=t.out_channels, groups=t.groups if t.groups > 1 else None, **conv)


@MODULES("ConvTranspose2d")
def _conv_transpose(n: _Node):
    """Weights (C_in, C_out, kh, kw); ``padding`` p crops p from each side of the full output, ``output_padding``
    gives back that many at the end (the crop then follows from the output shape, ``transposed_crop``)."""
    t = n.target
    if t.groups != 1 or any(d != 1 for d in t.dilation) or t.padding_mode != "zeros" or isinstance(t.padding, str):
        return n.opaque(f"{n.kind} (grouped, dilated or non-zero padding)")
    crop = transposed_crop(n.shape_of(n.srcs[0]), n.y, list(t.kernel_size), list(t.stride), list(t.padding))
    if crop is None:
        return n.opaque(f"{n.kind} (an output padding past the full output)")
    n.add("conv2d_transpose", n.srcs[:1], filters=t.out_channels, kernel=list(t.kernel_size), stride=list(t.stride),
          padding=crop, use_bias=t.bias is not None, **n.common)


@MODULES("Embedding")
def _embedding(n: _Node):
    """A lookup of the input's integer indices in ``num_embeddings`` rows of ``embedding_dim`` values; a max_norm,
    which renormalizes the rows it reads, has no formula."""
    t = n.target
    if t.max_norm is not None or len(n.shape_of(n.srcs[0])) != 1:
        return n.opaque(f"{n.kind} (max_norm, or indices of rank {len(n.shape_of(n.srcs[0])) + 1})")
    n.add("embedding", n.srcs[:1], vocab=t.num_embeddings, dim=t.embedding_dim, **n.common)


@MODULES("Linear")
def _linear(n: _Node):
    """On a vector; on tokens (N, T, K), the same weights at each token: a 1x1 convolution over the IR's (1, T, K).
    On another sequence or feature map (N, ..., K) with more than one position, the same weights at each position
    are not the IR's dense, which reads its input whole: unsupported, named."""
    if n.on_tokens():
        return n.add("conv2d", n.srcs[:1], filters=n.target.out_features, kernel=1,
                     use_bias=n.target.bias is not None, **n.common)
    shape = n.input_shape
    if len(shape) > 2 and math.prod(shape[1:-1]) > 1:
        return n.opaque(f"{n.kind} at each position of a rank-{len(shape)} tensor")
    n.add("dense", n.srcs, units=n.target.out_features, use_bias=n.target.bias is not None, **n.common)


@MODULES("LayerNorm")
@FUNCTIONS("layer_norm")
def _layer_norm(n: _Node):
    """Over the features of tokens (N, T, K), of a channels-last feature map (N, H, W, C: ConvNeXt's, whose
    LayerNorm2d calls ``F.layer_norm`` between two permutes) or of a vector (N, K): the IR's layer normalization of
    its last axis, gamma and beta counted as frozen parameters (``elementwise_affine``, or the function's weight
    and bias). Over other axes, or with gamma alone: unsupported, named."""
    if n.node.op == "call_module":
        shape, gamma, beta = tuple(n.target.normalized_shape), n.target.weight, n.target.bias
    else:
        args = n.arguments(("normalized_shape", "weight", "bias"), weight=None, bias=None)
        shape = tuple(args["normalized_shape"]) if isinstance(args.get("normalized_shape"), (list, tuple)) else ()
        gamma, beta = args["weight"], args["bias"]
    features = n.input_shape[-1] if n.input_shape else None
    if shape != (features,) or not (n.on_tokens() or n.rank == 2):
        return n.opaque(f"{n.kind} (over {list(shape)} of a rank-{n.rank} tensor)")
    if (gamma is None) != (beta is None):
        return n.opaque(f"{n.kind} (gamma without beta)")
    n.add("layer_norm", n.srcs[:1], affine=gamma is not None, dtype=n.dtype)


def _attention(n: _Node, call) -> None:
    """``nn.MultiheadAttention(K, h, batch_first=True)(q, k, v)[0]`` on tokens, as the IR's products (the ``kwt``
    spec's): a 1x1 convolution per projection (its rows of ``in_proj_weight``: 3 K x K weights, 3 K biases), each
    of q, k, v split into h heads of d = K / h features and moved head first (reshape, transpose), the scores
    Q K^T per head (h, T_q, T_k), their softmax, times V (h, T_q, d), the heads merged back (transpose,
    reshape) and the output projection. The IR reshapes in the channels-first order of its executor (a
    (1, T, K) map is (K, 1, T) there, ``torch_build.reshaped``): (1, T, K) split is (d, T, h), feature h d + e
    at [e, t, h], which the transposes move to (h, T, d) and (h, d, T). The 1/sqrt(d) scaling is taken as folded
    into q's weights, as deployments do; dropout is not counted. Masks, ``add_bias_kv``, ``add_zero_attn`` and a
    sequence-first module are unsupported, named."""
    module = n.modules[call.target]
    # forward(query, key, value, key_padding_mask, need_weights, attn_mask, ...)
    args = list(call.args) + [None] * 6
    query, key, value = (call.kwargs.get(k, args[i]) for i, k in enumerate(("query", "key", "value")))
    masks = [call.kwargs.get("key_padding_mask", args[3]), call.kwargs.get("attn_mask", args[5])]
    why = "batch_first=False" if not module.batch_first else \
        "a mask" if any(m is not None for m in masks) or call.kwargs.get("is_causal") else \
        "add_bias_kv or add_zero_attn" if module.bias_k is not None or module.add_zero_attn else \
        "queries, keys or values that are not tokens" if not all(getattr(x, "name", None) in n.tokens
                                                                 for x in (query, key, value)) else None
    if why:
        return n.opaque(f"MultiheadAttention ({why})", [x.name for x in (query, key, value) if hasattr(x, "name")
                                                         and x.name in n.shapes][:1])
    heads, dim = module.num_heads, module.embed_dim
    d = dim // heads
    base = call.name
    tq, tk = n.shapes[query.name][1], n.shapes[key.name][1]
    biased = module.in_proj_bias is not None
    common = n.common
    for part, src in (("q", query), ("k", key), ("v", value)):
        n.b.add(f"{base}_{part}", "conv2d", [src.name], [f"{base}#{part}"], filters=dim, kernel=1, use_bias=biased,
                **common)
        t_len = tq if part == "q" else tk
        n.b.add(f"{base}_{part}_heads", "reshape", [f"{base}#{part}"], [f"{base}#{part}h"], shape=[d, t_len, heads],
                dtype=n.dtype)
        n.b.add(f"{base}_{part}_t", "transpose", [f"{base}#{part}h"], [f"{base}#{part}t"],
                perm=[2, 0, 1] if part == "k" else [2, 1, 0], dtype=n.dtype)
    n.b.add(f"{base}_scores", "matmul", [f"{base}#qt", f"{base}#kt"], [f"{base}#scores"], dtype=n.dtype)
    n.b.add(f"{base}_weights", "softmax", [f"{base}#scores"], [f"{base}#weights"], dtype=n.dtype)
    n.b.add(f"{base}_att", "matmul", [f"{base}#weights", f"{base}#vt"], [f"{base}#att"], dtype=n.dtype)
    n.b.add(f"{base}_merge", "transpose", [f"{base}#att"], [f"{base}#merge"], perm=[2, 1, 0], dtype=n.dtype)
    n.b.add(f"{base}_merged", "reshape", [f"{base}#merge"], [f"{base}#merged"], shape=[1, tq, dim], dtype=n.dtype)
    n.b.add(f"{base}_out", "conv2d", [f"{base}#merged"], [n.node.name], expect=n.y, filters=dim, kernel=1,
            use_bias=module.out_proj.bias is not None, **common)


def _pair(v) -> list[int]:
    return [v, v] if isinstance(v, int) else list(v)


#: the parameters of F.max_pool2d and F.avg_pool2d after the input, in their positional order
_POOL_PARAMETERS = {"max_pool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
                    "avg_pool2d": ("kernel_size", "stride", "padding", "ceil_mode")}


@MODULES("AvgPool2d", "MaxPool2d")
@FUNCTIONS(*_POOL_PARAMETERS)
def _pool(n: _Node):
    """The module reads its window from its attributes; the function (``F.max_pool2d(x, 3, 2)``) from
    the call's arguments as fx recorded them, positional or keyword, with the function's defaults."""
    avg = n.is_a("AvgPool2d") if n.node.op == "call_module" else n.kind == "avg_pool2d"
    if n.node.op == "call_module":
        t = n.target
        p = {"kernel_size": t.kernel_size, "stride": t.stride, "padding": t.padding,
             "dilation": getattr(t, "dilation", 1), "ceil_mode": t.ceil_mode}
    else:
        p = n.arguments(_POOL_PARAMETERS[n.kind], padding=0, dilation=1, ceil_mode=False)
    pad = _pair(p["padding"])
    if any(d != 1 for d in _pair(p["dilation"])):
        return n.opaque(f"{n.kind} (dilated)")
    n.add("avg_pool2d" if avg else "max_pool2d", n.srcs[:1], kernel=_pair(p["kernel_size"]),
          stride=_pair(p.get("stride") or p["kernel_size"]), padding=[pad[0], pad[0], pad[1], pad[1]], dtype=n.dtype,
          ceil_mode=bool(p["ceil_mode"]) or None)


@MODULES("AdaptiveAvgPool2d", "AdaptiveMaxPool2d")
@FUNCTIONS("adaptive_avg_pool2d", "adaptive_max_pool2d")
def _adaptive_pool(n: _Node):
    """PyTorch's adaptive windows are the plain pool's where the output size divides the input's:
    kernel = stride = input / output (the global pool at 1 x 1). Other sizes have windows of two
    widths, which no pool layer states: carried as unsupported."""
    avg = "Avg" in n.kind or "avg" in n.kind
    if tuple(n.y[:2]) == (1, 1):
        return n.add("avg_pool2d" if avg else "max_pool2d", n.srcs[:1], **{"global": True}, dtype=n.dtype)
    src = n.shape_of(n.srcs[0])
    if len(src) != 3 or src[0] % n.y[0] or src[1] % n.y[1]:
        return n.opaque(f"{n.kind} (to {n.y[0]}x{n.y[1]} from {src[0]}x{src[1]}: uneven windows)")
    k = [src[0] // n.y[0], src[1] // n.y[1]]
    n.add("avg_pool2d" if avg else "max_pool2d", n.srcs[:1], kernel=k, stride=k, dtype=n.dtype)


@MODULES("Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d")
@FUNCTIONS("interpolate", "upsample")
def _resize(n: _Node):
    if n.node.op == "call_module":
        mode, corners = n.target.mode, n.target.align_corners
    else:
        mode, corners = n.node.kwargs.get("mode", "nearest"), n.node.kwargs.get("align_corners")
    if mode == "bilinear" and n.srcs and len(n.y) == 3:  # any size; align_corners=False is half_pixel
        return n.add("resize", n.srcs[:1], method="bilinear", size=list(n.y[:2]),
                     coordinates="align_corners" if corners else "half_pixel", dtype=n.dtype)
    scale = whole_scale(n.shape_of(n.srcs[0]), n.y) if n.srcs else None
    if mode != "nearest" or corners or scale is None:
        return n.opaque(f"{n.kind} ({mode})" if scale else f"{n.kind} (not a whole factor)")
    n.add("resize", n.srcs[:1], scale=scale, dtype=n.dtype)


@MODULES("LocalResponseNorm")
@FUNCTIONS("local_response_norm")
def _lrn(n: _Node):
    """Across the channels of a feature map; PyTorch's alpha is the IR's (divided by the window). The module reads
    its attributes, the function (``F.local_response_norm(x, size, alpha, beta, k)``) its call's arguments."""
    if n.node.op == "call_module":
        p = {name: getattr(n.target, name) for name in ("size", "alpha", "beta", "k")}
    else:
        p = n.arguments(("size", "alpha", "beta", "k"), alpha=1e-4, beta=0.75, k=1.0)
    if len(n.y) != 3:
        return n.opaque(f"{n.kind} (not on a 4-D feature map)")
    n.add("lrn", n.srcs[:1], size=p["size"], alpha=p["alpha"], beta=p["beta"], k=p["k"], dtype=n.dtype)


@MODULES("ZeroPad2d")
@FUNCTIONS("pad")
def _zero_pad(n: _Node):
    """``nn.ZeroPad2d``, or ``F.pad(x, (left, right[, top, bottom[, front, back]]))`` on an NCHW tensor (its
    pairs run from the last dimension back; any mode, as padding costs no MACC): a spatial pad as the
    module's, one that pads channels too on every IR axis."""
    if n.node.op == "call_module":
        left, right, top, bottom = n.target.padding
        return n.add("pad", n.srcs, padding=[top, bottom, left, right], dtype=n.dtype)
    pads = n.node.kwargs.get("pad", n.node.args[1] if len(n.node.args) > 1 else None)
    rank = n.rank if n.srcs else 0
    if rank != 4 or not isinstance(pads, (list, tuple)) or len(pads) not in (2, 4, 6) \
            or not all(isinstance(v, int) for v in pads):
        return n.opaque(f"{n.kind} ({pads} on a rank-{rank} tensor)")
    full = [*pads, 0, 0, 0, 0][:6]
    w, h, c = full[:2], full[2:4], full[4:]
    if c == [0, 0]:
        return n.add("pad", n.srcs[:1], padding=[*h, *w], dtype=n.dtype)
    n.add("pad", n.srcs[:1], pads=[h, w, c], dtype=n.dtype)


#: ``torch.clamp`` / ``F.hardtanh`` bounds that are one of learncost's activations
CLAMPS = {(0, None): "relu", (0, 6): "relu6", (-1, 1): "relu_n1_to_1"}


@FUNCTIONS("clamp", "clip", "hardtanh")
def _clamp(n: _Node):
    """A clamp to [0, inf), [0, 6] or [-1, 1] is ReLU, ReLU6 or ReLU-N1-to-1 (``F.hardtanh`` defaults to
    [-1, 1]); other bounds have no activation of their own."""
    if n.kind == "hardtanh":
        low, high = n.arguments(("min_val", "max_val"), min_val=-1, max_val=1).values()
    else:
        low, high = n.arguments(("min", "max"), min=None, max=None).values()
    fn = CLAMPS.get((low, high))
    if fn is None:
        return n.opaque(f"{n.kind} to [{low}, {high}]")
    _activate(n, fn)


#: what a skipped module or function is called in the model's warning, where not its name in lower case
SKIPPED_AS = {"BatchNorm1d": "batch normalization", "BatchNorm2d": "batch normalization",
              "StochasticDepth": "stochastic depth", "stochastic_depth": "stochastic depth"}


@MODULES("BatchNorm1d", "BatchNorm2d", "Dropout", "Identity", "StochasticDepth")
@FUNCTIONS("dropout", "dropout1d", "dropout2d", "contiguous", "clone", "stochastic_depth")
def _skipped(n: _Node):
    """Layers the model computes as its input in inference: batch normalization (folded into the layer before),
    dropout and stochastic depth (torchvision's ``stochastic_depth``: in training, each sample's residual branch
    is dropped or scaled by 1 / (1 - p), an element-wise product, like dropout's mask, not counted as MACC), and
    copies."""
    n.b.skip(n.srcs[0], [n.node.name], SKIPPED_AS.get(n.kind, n.kind.lower()))


#: module class or function name -> learncost's activation function
ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardswish": "hard_swish",
               "Hardsigmoid": "hard_sigmoid", "SiLU": "silu", "GELU": "gelu", "LeakyReLU": "leaky_relu", "ELU": "elu",
               "PReLU": "prelu", "relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh",
               "hardswish": "hard_swish", "hardsigmoid": "hard_sigmoid", "silu": "silu", "gelu": "gelu",
               "leaky_relu": "leaky_relu", "elu": "elu"}


@MODULES(*(k for k in ACTIVATIONS if k[0].isupper()))
@FUNCTIONS(*(k for k in ACTIVATIONS if k[0].islower()))
def _activation(n: _Node):
    """Fused into the layer before where its derivative follows from the output and that layer carries
    none; otherwise a layer of its own (PReLU with its slopes)."""
    fn = ACTIVATIONS[n.kind] if n.kind in ACTIVATIONS else ACTIVATIONS[next(
        c.__name__ for c in type(n.target).__mro__ if c.__name__ in ACTIVATIONS)]
    _activate(n, fn)


def _activate(n: _Node, fn: str):
    """The activation ``fn`` fused into the layer before where it can be, else a layer of its own."""
    if fn not in INPUT_DERIVATIVE and n.b.fuse_activation(n.srcs[0], [n.node.name], fn):
        return
    slopes = n.target.num_parameters if fn == "prelu" else None
    if slopes is not None and slopes not in (1, n.y[-1]):
        return n.opaque(f"{n.kind} (slopes neither shared nor one per channel)", n.srcs[:1])
    n.add("activation", n.srcs[:1], function=fn, slopes=slopes, dtype=n.dtype)


@MODULES("Flatten", "Unflatten")
@FUNCTIONS("flatten", "view", "reshape", "squeeze")
def _reshape(n: _Node):
    n.add("reshape", n.srcs[:1], shape=list(n.y), dtype=n.dtype)


@MODULES("Softmax")
@FUNCTIONS("softmax")
def _softmax(n: _Node):
    """Along its dimension: the IR's last axis by default; another stated as ``axis``. The last node's
    softmax is the model's head."""
    node = n.node
    dim = n.target.dim if node.op == "call_module" else node.kwargs.get("dim", node.args[1] if len(node.args) > 1
                                                                        else None)
    rank = n.rank  # PyTorch's, batch included
    axis = None if dim is None or rank not in (2, 3, 4) or dim % rank == 0 else ir_axis(dim, rank)
    last = len(n.shape_of(n.srcs[0])) - 1 if n.srcs else 0
    if axis is not None and axis != last:
        n.add("softmax", n.srcs[:1], axis=axis, dtype=n.dtype)
        return False
    n.add("softmax", n.srcs[:1], dtype=n.dtype)
    return True


@FUNCTIONS("matmul", "bmm")
def _matmul(n: _Node):
    """``a @ b`` of two activations. The IR reads a 3-D tensor (N, n, k) as (1, k, n), its transpose: the
    product A B is then the IR's B A ((A B)^T = B^T A^T). A 4-D one is read as an image, its axes rotated:
    a spec states that product."""
    operands = n.operands(n.node.args)
    ranks = {len(a.meta["tensor_meta"].shape) for a in n.node.args[:2] if hasattr(a, "meta") and
             hasattr(a.meta.get("tensor_meta"), "shape")}
    if len(operands) == 2 and ranks == {3}:
        return n.add("matmul", [operands[1], operands[0]], dtype=n.dtype)
    return n.opaque(f"{n.kind} of two {'4-D ' if 4 in ranks else ''}activations (write it in a spec: kind matmul)",
                    n.srcs)


@FUNCTIONS("add", "iadd", "mul", "imul", "sub", "isub")
def _elementwise(n: _Node):
    """Of two or more tensors, broadcasting as NumPy does on their IR shapes. Tensors of different ranks may map
    their axes apart (a 5-D attention map and a 4-D bias): where the IR shapes do not broadcast to the output, the
    operation is unsupported, named, rather than refused."""
    kind = n.kind.lstrip("i")
    operands = n.operands(n.node.args)
    if len(operands) < 2:
        return n.opaque(f"{n.kind} (with a constant)", n.srcs)
    try:
        joint = tuple(np.broadcast_shapes(*(n.shape_of(o) for o in operands)))
    except ValueError:
        joint = None
    if joint != tuple(n.y):
        return n.opaque(f"{n.kind} (of tensors whose axes the IR lays out apart)", n.srcs)
    n.add(kind, operands, dtype=n.dtype)


@FUNCTIONS("mean")
def _mean(n: _Node):
    """``x.mean(dims)``: over H and W a global average pool (as ReduceMean), other axes a mean."""
    node = n.node
    dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
    keep = bool(node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False))
    rank = n.rank if n.srcs else 0
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    if n.on_tokens() and [d % 3 for d in dims] == [1] and not keep:  # the tokens' mean: (K,)
        return n.add("mean", n.srcs[:1], axes=[0, 1], dtype=n.dtype)
    if not n.srcs or not dims or rank not in (2, 4) or any(d % rank == 0 for d in dims):
        return n.opaque(f"{n.kind} (dims {dims})")
    axes = sorted(ir_axis(d, rank) for d in dims)
    if rank == 4 and axes == [0, 1]:
        pooled = n.b.add(n.node.name, "avg_pool2d", n.srcs[:1], [n.node.name], **{"global": True}, dtype=n.dtype)
        if not keep:
            n.b.add(n.node.name + "_squeeze", "reshape", [n.node.name], [n.node.name], expect=n.y, shape=list(n.y),
                    dtype=n.dtype)
        else:
            n.b.expected[pooled] = n.y
        return
    n.add("mean", n.srcs[:1], axes=axes, keepdims=keep, dtype=n.dtype)


@FUNCTIONS("permute", "transpose")
def _permute(n: _Node):
    """A permutation keeping the batch first, of a 5-D (N, A, B, H, W: a channel shuffle's split channels),
    4-D (N, C, H, W) or 3-D (N, C, L) tensor, as the IR's transpose of the axes they map to (``ir_axis``; a
    3-D tensor's first IR axis is its padding 1)."""
    node = n.node
    rank = n.rank if n.srcs else 0
    if rank in (3, 4) and _swaps_last_two(node) and n.on_tokens() != (node.name in n.tokens):
        n.b.alias[node.name] = n.b.source(n.srcs[0])  # (N, C, L) as tokens (N, L, C), or back: the same buffer
        return
    if n.on_tokens():
        return n.opaque(f"{n.kind} of tokens (N, T, K)")
    if rank not in (3, 4, 5):
        return n.opaque(f"{n.kind} of a rank-{rank} tensor")
    dims = _permutation(node, rank)
    perm = ir_permutation(dims, rank) if dims is not None else None
    if perm is None:
        return n.opaque(f"{n.kind} (dims {dims})")
    n.add("transpose", n.srcs[:1], perm=perm, dtype=n.dtype)


@MODULES("PixelShuffle", "PixelUnshuffle")
@FUNCTIONS("pixel_shuffle", "pixel_unshuffle")
def _pixel_shuffle(n: _Node):
    """Depth to space with the channels ordered (C, b, b), or its inverse (``GraphBuilder.rearrange``)."""
    to_depth = "unshuffle" in n.kind.lower()
    if n.node.op == "call_module":
        block = n.target.downscale_factor if to_depth else n.target.upscale_factor
    else:
        block = n.node.args[1] if len(n.node.args) > 1 else n.node.kwargs.get(
            "downscale_factor" if to_depth else "upscale_factor")
    if n.rank != 4 or not isinstance(block, int):
        return n.opaque(f"{n.kind} (a rank-{n.rank} tensor)")
    n.b.rearrange(n.node.name, n.srcs[0], [n.node.name], n.shape_of(n.srcs[0]), block, to_depth=to_depth,
                  channels_first=True, dtype=n.dtype)


@FUNCTIONS("cat")
def _cat(n: _Node):
    node = n.node
    dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
    parts = n.operands(node.args[0]) if node.args and isinstance(node.args[0], (list, tuple)) else []
    if callable(n.target) and len(parts) == 1:  # DenseNet's first layer of a block: the tensor itself
        n.b.alias[node.name] = n.b.source(parts[0])
        return
    if not callable(n.target) or len(parts) < 2:
        return n.opaque()
    if all(p in n.tokens for p in parts):  # tokens joined (dim 1) or their features (dim 2)
        return n.add("concat", parts, axis=1 if dim % 3 == 1 else None, dtype=n.dtype)
    if dim in (1, -3):
        return n.add("concat", parts, dtype=n.dtype)
    rank = len(n.y) + 1
    if rank != 4 or dim % rank == 0:
        return n.opaque()
    n.add("concat", parts, axis=ir_axis(dim, 4), dtype=n.dtype)


#: functions and methods returning a tuple of parts of a tensor along ``dim`` (their third argument, default 0)
SPLITS = ("chunk", "split", "tensor_split")


@FUNCTIONS("getitem")
def _getitem(n: _Node):
    """``x.chunk(2, dim=1)[k]`` (ShuffleNet's two branches), ``split``, ``tensor_split``: part k of the tensor, a
    slice along the axis ``dim`` maps to; its bounds are the sizes fx recorded for the parts before it."""
    node = n.node
    parent, index = node.args[0], node.args[1]
    if getattr(parent, "op", None) == "call_module" and type(n.modules.get(parent.target)).__name__ == \
            "MultiheadAttention":
        return _attention(n, parent) if index == 0 else n.opaque("MultiheadAttention's attention weights")
    if n.on_tokens() and isinstance(index, tuple):
        return _token_pick(n, index)
    name = _callee(parent.target) if hasattr(parent, "target") else None
    parts = parent.meta.get("tensor_meta") if name in SPLITS else None
    src = parent.args[0] if name in SPLITS and parent.args else None
    if not isinstance(index, int) or not isinstance(parts, (list, tuple)) or getattr(src, "name", None) not in n.shapes:
        return n.opaque(f"{n.kind} (indexing a tensor)" if name not in SPLITS else None, n.srcs)
    dim = parent.kwargs.get("dim", parent.args[2] if len(parent.args) > 2 else 0)
    rank = len(src.meta["tensor_meta"].shape)
    axis = ir_axis(dim, rank) if isinstance(dim, int) else None
    if axis is None:
        return n.opaque(f"{name} along dimension {dim} of a rank-{rank} tensor", [src.name])
    sizes = [int(p.shape[dim]) for p in parts]
    k = index % len(sizes)
    shape = n.shapes[src.name]
    begin, end = [0] * len(shape), list(shape)
    begin[axis], end[axis] = sum(sizes[:k]), sum(sizes[:k + 1])
    n.add("slice", [src.name], begin=begin, end=end, dtype=n.dtype)


def _token_pick(n: _Node, index: tuple) -> None:
    """``x[:, k]`` of tokens (N, T, K): token k, its K features (ViT's class token read by its head)."""
    full = slice(None, None, None)
    rest = index[2:]
    if len(index) < 2 or index[0] != full or not isinstance(index[1], int) or any(r not in (full, Ellipsis)
                                                                               for r in rest):
        return n.opaque(f"{n.kind} (indexing tokens by {index})", n.srcs)
    _, tokens, features = n.shape_of(n.srcs[0])
    k = index[1] % tokens
    n.b.add(n.node.name + "_token", "slice", n.srcs[:1], [n.node.name + "#token"], begin=[0, k, 0],
            end=[1, k + 1, features], dtype=n.dtype)
    n.b.add(n.node.name, "reshape", [n.node.name + "#token"], [n.node.name], expect=n.y, shape=list(n.y),
            dtype=n.dtype)


# -- recurrent cells ---------------------------------------------------------------------------------------
#
# ``nn.LSTM`` returns (output, (h_n, c_n)), ``nn.GRU`` (output, h_n): fx reads them through getitem nodes, which
# the cell names itself (no layer): output is every step's h_t (return_sequences), output's last step and h_n
# the last h_T alone. A batch of one: h_n's (1, 1, H) is the vector h_T.

CELLS = ("LSTM", "GRU")


def _is_cell(node, modules) -> bool:
    return node.op == "call_module" and any(c.__name__ in CELLS for c in type(modules.get(node.target)).__mro__)


def _items(node) -> dict:
    """getitem users of a node by index."""
    import operator

    return {u.args[1]: u for u in node.users if u.target is operator.getitem and len(u.args) == 2}


def _last_step(node, steps: int, batch_first: bool) -> bool:
    """``output[:, -1]`` (batch first) or ``output[-1]`` (time-major), T - 1 for -1 too."""
    import operator

    if node.target is not operator.getitem:
        return False
    index = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
    at = 1 if batch_first else 0
    return len(index) > at and index[at] in (-1, steps - 1) and all(
        i == slice(None) for k, i in enumerate(index) if k != at)


@MODULES(*CELLS)
def _cell(n: _Node):
    """One layer, one direction: ``lstm`` or ``gru`` with PyTorch's two bias vectors (``bias_vectors: 2``)."""
    t, node = n.target, n.node
    variant = ("num_layers > 1" if t.num_layers > 1 else "bidirectional" if t.bidirectional
               else "a projection (proj_size)" if getattr(t, "proj_size", 0) else
               "an initial state passed in" if len(node.args) > 1 or node.kwargs else None)
    if variant:
        raise ImportFailure(f"{n.b.origin}: {n.kind} {node.target!r} has {variant}; learncost's {n.kind.lower()} is "
                            "one layer, one direction, from zero states", code="LC-IMPORT-UNSUPPORTED",
                            hint="stack single-layer unidirectional cells, or write the model as a spec")
    x = node.args[0]
    raw = [int(d) for d in x.meta["tensor_meta"].shape]
    steps, features = (raw[1], raw[2]) if t.batch_first else (raw[0], raw[2])
    units = t.hidden_size
    items = _items(node)
    out = items.get(0)
    states = items.get(1)
    pair = {k % 2: u for k, u in _items(states).items()} if n.kind == "LSTM" and states is not None else {}
    h_n, c_n = (pair.get(0), pair.get(1)) if n.kind == "LSTM" else (states, None)
    if c_n is not None and c_n.users:
        raise ImportFailure(f"{n.b.origin}: {n.kind} {node.target!r} has its cell state c_n read; learncost's lstm "
                            "outputs h only", code="LC-IMPORT-UNSUPPORTED", hint="read output or h_n")
    readers = list(out.users) if out is not None else []
    last = [u for u in readers if _last_step(u, steps, t.batch_first)]
    # the module's output is the cell's whole tuple (a cell given alone): every step's h_t among it
    sequences = len(last) < len(readers) or any(u.op == "output" for u in node.users)
    # h_n[0] / h_n[-1]: the one layer's h_T, as h_n itself
    h_reads = [h_n, *(u for k, u in _items(h_n).items() if k in (0, -1))] if h_n is not None and h_n.users else []
    src = x.name
    if src == "input" or n.b.source(src) == "input" and not any("input" in lr["inputs"] for lr in n.b.layers):
        n.b.input_shape = [steps, features]
    elif n.shapes[src] != (steps, features):
        if not t.batch_first:
            raise ImportFailure(f"{n.b.origin}: {n.kind} {node.target!r} reads a time-major input computed by the "
                                "module", code="LC-IMPORT-UNSUPPORTED", hint="use batch_first=True")
        n.b.add(node.name + "_sequence", "reshape", [src], [node.name + "_sequence"], shape=[steps, features],
                dtype=n.dtype)
        src = node.name + "_sequence"
    whole = [node, out, h_n] if sequences else [node, out, *last, *h_reads, h_n]
    named = list(dict.fromkeys(u.name for u in [*whole, states, c_n] if u is not None))
    name = n.b.add(node.name, n.kind.lower(), [src], named, expect=(steps, units) if sequences else (units,),
                   units=units, return_sequences=sequences, bias_vectors=2 if t.bias else None, use_bias=t.bias,
                   **n.common)
    for u in named:
        n.shapes[u] = (steps, units) if sequences else (units,)
    if sequences and (last or h_reads):  # the last step where the sequence is read whole too: a slice
        n.b.add(name + "_last", "slice", [name], [u.name for u in [*last, *h_reads]], expect=(1, units),
                begin=[steps - 1, 0], end=[steps, units], dtype=n.dtype)
        for u in [*last, *h_reads]:
            n.shapes[u.name] = (1, units)
