"""What every importer shares: collecting layers, resolving skipped ones, unsupported operators."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LearncostError, SpecError
from ..ir import Model


class ImportFailure(LearncostError):
    """A model file that cannot be translated (malformed, truncated, unsupported)."""

    default_code = "LC-IMPORT-MALFORMED"


@dataclass
class Unsupported:
    op: str
    position: int
    name: str


@dataclass
class GraphBuilder:
    """Collects spec layers while walking a file's graph in execution order.

    ``alias`` maps a tensor (or Keras layer) name to the spec layer that produces it, so that
    layers learncost does not count (batch norm, dropout, a standalone ReLU fused into its
    producer) disappear without breaking the edges.
    """

    origin: str
    input_shape: list[int]
    input_dtype: str = "int8"
    layers: list[dict] = field(default_factory=list)
    alias: dict[str, str] = field(default_factory=dict)
    expected: dict[str, tuple[int, ...]] = field(default_factory=dict)
    unsupported: list[Unsupported] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _names: set[str] = field(default_factory=lambda: {"input"})

    def unique(self, raw: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("_")[:48] or "layer"
        name, i = base, 1
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        return name

    def source(self, tensor: str) -> str:
        try:
            return self.alias[tensor]
        except KeyError:
            raise ImportFailure(f"{self.origin}: tensor {tensor!r} is used before any operator produces it") from None

    def add(self, raw_name: str, kind: str, inputs: list[str], outputs: list[str],
            expect: tuple[int, ...] | None = None, **params: Any) -> str:
        name = self.unique(raw_name)
        layer = {"name": name, "kind": kind, "inputs": [self.source(t) for t in inputs]}
        layer.update({k: v for k, v in params.items() if v is not None})
        self.layers.append(layer)
        for t in outputs:
            self.alias[t] = name
        if expect is not None:
            self.expected[name] = tuple(expect)
        return name

    def add_input(self, tensor: str, shape: list[int], dtype: str, raw_name: str | None = None) -> str:
        """A graph's further input (the first is ``input``): a layer of kind input, listed before every
        layer that computes, as the IR lists a graph's inputs; named after ``raw_name`` (the tensor's by default)."""
        name = self.unique(raw_name or tensor)
        self.layers.append({"name": name, "kind": "input", "inputs": [], "shape": list(shape), "dtype": dtype})
        self.alias[tensor] = name
        return name

    def skip(self, tensor_in: str, outputs: list[str], what: str) -> None:
        """A layer learncost does not count: its outputs are its input."""
        src = self.source(tensor_in)
        for t in outputs:
            self.alias[t] = src
        self.folded.append(what)

    def rearrange(self, raw: str, tensor_in: str, outputs: list[str], shape: tuple[int, ...], block: int, *,
                  to_depth: bool, channels_first: bool, dtype: str | None = None) -> str:
        """Depth to space (TFLite DEPTH_TO_SPACE, ONNX DepthToSpace, PyTorch's pixel shuffle) of a feature map
        ``shape`` (H, W, C): each b x b block of output positions takes b^2 of its position's channels; or the
        inverse, space to depth (``to_depth``). The channels are ordered (b, b, C / b^2) (TFLite's, ONNX's DCR) or,
        ``channels_first``, (C / b^2, b, b) (ONNX's CRD, PyTorch's). Written as the three steps a runtime's copy
        makes: a reshape to rank 5, a transpose (the copy into a buffer of its own, no MACC) and a reshape.
        Returns the last layer's name; a shape the block does not divide is one ImportFailure."""
        h, w, c = shape
        b = block
        if b < 1 or (to_depth and (h % b or w % b)) or (not to_depth and c % (b * b)):
            what = f"{h}x{w} positions" if to_depth else f"{c} channels"
            raise ImportFailure(f"{self.origin}: {raw}: block size {b} does not divide the input's {what}",
                                hint="check the operator's block size")
        if to_depth:
            spatial = (h // b, b, w // b, b, c)  # (H, b_i, W, b_j, C)
            perm = [0, 2, 4, 1, 3] if channels_first else [0, 2, 1, 3, 4]
            out = (h // b, w // b, c * b * b)
        else:
            spatial = (h, w, c // (b * b), b, b) if channels_first else (h, w, b, b, c // (b * b))
            perm = [0, 3, 1, 4, 2] if channels_first else [0, 2, 1, 3, 4]
            out = (h * b, w * b, c // (b * b))
        moved = tuple(spatial[a] for a in perm)
        self.add(f"{raw}_split", "reshape", [tensor_in], [f"{raw}#split"], expect=spatial, shape=list(spatial),
                 dtype=dtype)
        self.add(f"{raw}_move", "transpose", [f"{raw}#split"], [f"{raw}#move"], expect=moved, perm=perm, dtype=dtype)
        return self.add(raw, "reshape", [f"{raw}#move"], outputs, expect=out, shape=list(out), dtype=dtype)

    def producer(self, tensor: str) -> dict | None:
        """The spec layer producing ``tensor`` (None for the model input)."""
        src = self.source(tensor)
        return next((layer for layer in reversed(self.layers) if layer["name"] == src), None)

    def fuse_activation(self, tensor_in: str, outputs: list[str], activation: str) -> bool:
        """Record a standalone activation on the layer producing its input, when it has one."""
        layer = self.producer(tensor_in)
        if layer is None or layer.get("activation") not in (None, "linear"):
            return False
        layer["activation"] = activation
        for t in outputs:
            self.alias[t] = layer["name"]
        return True

    def opaque(self, op: str, position: int, raw_name: str, inputs: list[str], outputs: list[str],
               shape: tuple[int, ...]) -> None:
        self.unsupported.append(Unsupported(op, position, raw_name))
        # an operator reading no tensor the graph holds (a tuple's item, a value computed on the side) is
        # placed after the layer before it: zero-cost, it only needs an input to exist
        # (by a tensor it writes: a layer's name is not a tensor's, e.g. PyTorch's '_f' node makes layer 'f')
        if not inputs:
            last = self.layers[-1]["name"] if self.layers else "input"
            after = next((t for t, s in reversed(self.alias.items()) if s == last), None)
            if after is None:
                raise ImportFailure(f"{self.origin}: operator {position} ({op}) reads no tensor and comes before the "
                                    "input")
            inputs = [after]
        self.add(raw_name, "opaque", inputs, outputs, expect=shape or None, shape=list(shape) or None,
                 note=f"unsupported operator {op}: carried at zero cost")

    def several_outputs(self, names: list[str]) -> None:
        """A graph with several outputs: the IR follows one, the last layer; the others are computed
        (their forward cost counted) but no error starts from them. Said in a warning."""
        if len(names) > 1:
            self.notes.append(f"the graph has {len(names)} outputs ({', '.join(names[:4])}"
                              f"{', ...' if len(names) > 4 else ''}); learncost follows the last layer's as the "
                              "model's output: no error or loss starts from the others")

    def build(self, *, name: str, allow_unsupported: bool, classes: int | None, softmax_output: bool) -> Model:
        if self.unsupported and not allow_unsupported:
            listed = ", ".join(f"{u.op} (operator {u.position})" for u in self.unsupported)
            raise ImportFailure(f"{self.origin}: unsupported operator(s): {listed}",
                                hint="--allow-unsupported carries them as zero-cost layers",
                                code="LC-IMPORT-UNSUPPORTED-OP")
        if all(layer["kind"] == "input" for layer in self.layers):
            raise ImportFailure(f"{self.origin}: the graph has no operator learncost can cost")
        from ..spec import build_model, validate_spec

        spec = {"name": name, "task": "regression", "dtype": self.input_dtype,
                "input": {"shape": self.input_shape, "dtype": self.input_dtype}, "layers": self.layers}
        try:
            model = build_model(validate_spec(spec, origin=self.origin), origin=self.origin)
        except SpecError as exc:
            code = exc.code if exc.code.startswith("LC-LIMIT") else "LC-IMPORT-MALFORMED"
            raise ImportFailure(exc.message, location=exc.location, hint=exc.hint, code=code) from None
        # what the procedures need and the file does not say: the task and the number of classes
        out_elems = model.output.output_elements
        if classes is not None and classes != out_elems:
            raise ImportFailure(f"{self.origin}: --classes {classes} but the output layer {model.output.name!r} "
                                f"has {out_elems} elements")
        if classes is not None or softmax_output:
            model.task, model.classes = "classification", out_elems
            if classes is None:
                model.warnings.append(f"classes not given: {out_elems} inferred from the output layer "
                                      f"{model.output.name!r} (a softmax); --classes overrides")
        elif out_elems == model.input.output_elements:
            model.task = "reconstruction"
        for layer in model.layers:
            want = self.expected.get(layer.name)
            if want is not None and math.prod(want) != layer.output_elements:
                raise ImportFailure(
                    f"{self.origin}: layer {layer.name!r} ({layer.kind}) should output {list(want)} "
                    f"but its parameters give {list(layer.output_shape)}",
                    hint="the operator uses a variant learncost does not model", code="LC-IMPORT-SHAPE")
        model.warnings.extend(
            f"{u.op} (operator {u.position}, {u.name}) is not costed: carried as a zero-cost layer"
            for u in self.unsupported)
        if self.folded:
            model.warnings.append(f"not counted, as the paper assumes: {', '.join(sorted(set(self.folded)))}")
        model.warnings.extend(self.notes)
        model.source = self.origin
        return model


def drop_batch(shape: list[int], origin: str, what: str) -> list[int]:
    dims = [int(d) for d in shape]
    if len(dims) >= 2 and dims[0] in (1, -1, 0):
        dims = dims[1:]
    if not dims or any(d <= 0 for d in dims):
        raise ImportFailure(f"{origin}: {what} has an unknown or empty dimension {list(shape)}",
                            hint="give the input shape with --input-shape", code="LC-IMPORT-SHAPE")
    return dims


def read_bytes(path: Path) -> bytes:
    from ..limits import MAX_MODEL_BYTES
    from ..safe_read import read_bytes as read_bounded

    data = read_bounded(path, MAX_MODEL_BYTES)
    if not data:
        raise ImportFailure(f"{path.name}: the file is empty")
    return data


def transposed_crop(src: tuple[int, ...], out: tuple[int, ...], kernel: list[int], stride: list[int],
                    begin: list[int] | None) -> list[int] | None:
    """[top, bottom, left, right] a transposed convolution crops from its full output, (H_in - 1) x stride + kernel,
    to the output ``out`` (H, W, C) the file states: ``begin`` (top, left) where the file says it, half of it (the
    rest at the end, TensorFlow's 'same') where not. None where the output is larger than the full output (an
    output padding past the end)."""
    crop = [(n - 1) * st + k - o for n, st, k, o in zip(src[:2], stride, kernel, out[:2])]
    first = begin if begin is not None else [c // 2 for c in crop]
    if any(c < 0 or f < 0 or f > c for c, f in zip(crop, first)):
        return None
    return [first[0], crop[0] - first[0], first[1], crop[1] - first[1]]


def whole_scale(src, out) -> list[int] | None:
    """[s_H, s_W] where the feature map ``out`` (H, W, C) is ``src`` enlarged by whole factors (a nearest
    resize a block copy stands for), else None."""
    src, out = list(src), list(out)
    if len(src) != 3 or len(out) != 3 or src[2] != out[2]:
        return None
    if any(o < i or o % i for i, o in zip(src[:2], out[:2])):
        return None
    return [out[0] // src[0], out[1] // src[1]]


def to_hwc(shape: list[int]) -> list[int]:
    """Channels-first (ONNX, PyTorch) to the IR's channels-last, batch already dropped:
    (C, H, W) -> (H, W, C); (C, L) -> (1, L, C); (A, B, H, W), a feature map whose channels are split
    in two axes (ShuffleNet's channel shuffle), -> (H, W, A, B), so that the channel index a * B + b
    stays where the channels-first layout has it; vectors unchanged."""
    if len(shape) == 4:
        return [shape[2], shape[3], shape[0], shape[1]]
    if len(shape) == 3:
        return [shape[1], shape[2], shape[0]]
    if len(shape) == 2:
        return [1, shape[1], shape[0]]
    return shape


#: rank (batch included) -> channels-first axis -> the IR axis it maps to (``to_hwc``)
IR_AXES = {2: {1: 0}, 3: {1: 2, 2: 1}, 4: {1: 2, 2: 0, 3: 1}, 5: {1: 2, 2: 3, 3: 0, 4: 1}}


def ir_axis(axis: int, rank: int) -> int | None:
    """A channels-first axis (batch included, negative from the end) of a rank-``rank`` tensor as the IR's
    axis (``to_hwc``): NCHW's C, H, W are the IR's 2, 0, 1; NCL's C, L the IR's 2, 1; a vector's features
    axis 0. None for the batch axis and for ranks the IR has no layout for (above 5)."""
    return IR_AXES.get(rank, {}).get(axis % rank) if rank else None


def ir_permutation(dims: list[int], rank: int) -> list[int] | None:
    """A channels-first permutation keeping the batch first (``dims[j]`` is the input axis output axis j
    reads) as the IR's, or None where the batch moves or the rank has no IR layout."""
    if len(dims) != rank or rank not in IR_AXES or dims[0] % rank != 0 or sorted(d % rank for d in dims) != list(
            range(rank)):
        return None
    perm = list(range(3 if rank == 3 else rank - 1))  # a 3-D tensor's IR axis 0 is its padding 1 (``to_hwc``)
    for j in range(1, rank):
        perm[ir_axis(j, rank)] = ir_axis(dims[j], rank)
    return perm


class Table(dict):
    """Operator name -> the small function translating one operator (fvcore's handler tables):
    ``@table("CONV_2D", "DEPTHWISE_CONV_2D")`` registers a handler under each name."""

    def __call__(self, *names: str):
        def register(fn):
            for name in names:
                if name in self:
                    raise ValueError(f"operator {name!r} has two handlers")
                self[name] = fn
            return fn

        return register
