"""A sweep's union of layer lists: variants that differ only in how many blocks one repeat has,
evaluated as one model in which each layer counts as many times as each variant has it.

The union is the layer list at the largest count; a variant with B blocks has the union's
blocks 1..B and none after them. Where a variant lacks a layer, it gets none of the layer's
operations, parameters or buffers and no step of its own (``Evaluator``'s ``copies``). Where
the blocks are identical (no field of the repeat's layers reads the block index ``i``, and the
second block ends in the shape it starts from), the union keeps two blocks: the first, and the
second standing for blocks 2..B, counted B - 1 times; an identical block has identical costs,
sizes and steps, so one pass over four blocks' worth of layers costs every count up to any size.

That is each variant's own evaluation exactly when every figure of a layer it has is the figure
its own layer list gives, which ``check`` establishes before any figure is taken:

- the repeat is a chain: each block reads only its own layers and the previous block's output
  (the first block, the layer before the repeat), and after the repeat only the next layer
  reads it, from the last block, implicitly (the spec names no input there);
- every variant's last block ends in the shape, element type and buffer of the union's last
  block, so the layer after the repeat reads the same bytes in both, and at the paper's rule
  steps the union's last block output stands for the variant's;
- the facts a layer's costs read beyond itself (``Plan``: whether an error reaches it, whether it
  passes one on, whether it feeds weights, how many layers send it an error) are the same at the
  end of every variant's last block as at the union's: then, block by block, every layer a variant
  has sees what it sees in its own list;
- the setup selects no layer by position (weights and biases ``all`` or ``none``: a ``last`` k
  depends on the count), every variant has at least one block, no procedure recomputes segments
  (checkpoints depend on the body's length), the output, logits and head lie after the repeat,
  and the memory is the paper's rules (a schedule's tensors carry no copies).

Where any of this fails, the sweep evaluates each count apart, as before; the figures are the
same either way (``tests/test_sweep_union.py`` compares both on every figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from . import params as P
from .layers import transient


@dataclass(frozen=True)
class Region:
    """Where the varying repeat sits in a union's expanded layer list."""

    start: int  # the index, in the expanded layers, of the first block's first layer
    size: int  # layers per block
    counts: np.ndarray  # each variant's number of blocks
    built: int  # blocks in the union: the largest count, or 2 where the second stands for all after it
    identical: bool  # the second block stands for blocks 2..B

    @property
    def end(self) -> int:
        return self.start + self.built * self.size


def axis(keys: list[np.ndarray], repeats: int) -> int | None:
    """Which structure key (``params.structure``: the classes, then each repeat's count) the union
    spans: the repeat count with the most distinct values, if any varies."""
    best, most = None, 1
    for k in range(1, 1 + repeats):
        distinct = len(np.unique(keys[k]))
        if distinct > most:
            best, most = k, distinct
    return best


def selects_by_position(setup) -> bool:
    """Whether the setup's choice of trained layers could depend on how many layers there are."""
    return setup.update.weights not in ("all", "none") or setup.update.biases not in ("all", "none")


def eligible(procedures, memory: str, setup) -> bool:
    """What can be told before any layer is built: the paper's rules, no selection by position, no
    procedure that recomputes segments."""
    if memory != "paper" or selects_by_position(setup):
        return False
    return not any(term.op == "recompute" for p in procedures for phase in (p.training, p.inference)
                   for term in phase.terms)


def resolve(data: Mapping[str, Any], values: Mapping[str, Any], origin: str, key: int,
            n: int) -> tuple[dict, Region] | None:
    """The spec expanded for the union of the repeat behind structure key ``key`` (the ``key``-th
    repeat entry, from 1), and where that repeat lies; None where some variant has no block."""
    layers = list(data["layers"])
    repeats = [k for k, e in enumerate(layers) if isinstance(e, dict) and "repeat" in e]
    entry = repeats[key - 1]
    where = f"{origin}: layers[{entry}]"
    counts = np.broadcast_to(np.asarray(P.repeat_count(layers[entry], values, where), dtype=np.int64), (n,))
    if counts.min() < 1:
        return None
    start = 0
    for k, e in enumerate(layers[:entry]):
        if isinstance(e, dict) and "repeat" in e:
            c = P.repeat_count(e, values, f"{origin}: layers[{k}]")
            start += int(np.asarray(c).flat[0]) * len(e["layers"])
        else:
            start += 1
    widest = int(counts.max())
    identical = widest > 2 and not P.reads_block_index(layers[entry]["layers"])
    built = 2 if identical else widest
    layers[entry] = {**layers[entry], "repeat": built}
    concrete = P.resolve({**data, "layers": layers}, values, origin)
    return concrete, Region(start, len(layers[entry]["layers"]), counts, built, identical)


def copies(model, region: Region) -> dict[str, np.ndarray]:
    """Layer -> its copies in each variant, for the blocks not every variant has once: 1 or 0 in a
    union of every block, B - 1 for the second block standing for blocks 2..B."""
    out = {}
    if region.identical:
        for layer in _block(model, region, 2):
            out[layer.name] = region.counts - 1
        return out
    for block in range(int(region.counts.min()) + 1, region.built + 1):
        have = region.counts >= block
        for layer in _block(model, region, block):
            out[layer.name] = have
    return out


def _block(model, region: Region, block: int) -> list:
    """The layers of block ``block`` (from 1); the model's first layer is its input."""
    first = 1 + region.start + (block - 1) * region.size
    return model.layers[first:first + region.size]


def check(model, plan, region: Region, entries: list[dict], procedures) -> str | None:
    """Why the union would not give each variant's own figures, or None where it would (the
    conditions are the module's docstring)."""
    layers = model.layers
    if 1 + region.end >= len(layers):
        return "nothing follows the repeat"
    if entries[region.end].get("inputs") is not None:
        return "the layer after the repeat names its input"
    blocks = [_block(model, region, b) for b in range(1, region.built + 1)]
    inside = {layer.name for block in blocks for layer in block}
    before = layers[region.start].name  # the layer the first block reads (layers[0] is the input)
    ends = [block[-1] for block in blocks]
    last = ends[-1]
    after = layers[1 + region.end]
    for k, block in enumerate(blocks):
        names = {layer.name for layer in block}
        allowed = names | {ends[k - 1].name if k else before}
        if any(src not in allowed for layer in block for src in layer.inputs):
            return f"block {k + 1} reads outside itself and the previous block"
    for layer in layers[1 + region.end:]:
        reads = set(layer.inputs) & inside
        if reads and (layer is not after or reads != {last.name}):
            return f"{layer.name} reads inside the repeat"
    if model.consumers[last.name] != [after.name]:
        return "the repeat's output has other readers"
    if transient(last) or last.name in plan.head_names or last is model.output or plan.logits.name in inside:
        return "the repeat ends the model or in a layer without a buffer"
    for p in procedures:
        for phase in (p.training, p.inference):
            if phase.memory_rule(model.supervised) is None:
                return f"{p.id} has no rule of the paper's"
    from .costs.ops import error_senders

    def facts(name: str) -> tuple:
        return (plan.trained(name), plan.needs_input_error[name], plan.output_error[name],
                plan.feeds_weights[name], plan.reaches_output[name], len(error_senders(model, plan, name)))

    target = facts(last.name)
    # the ends that stand for a variant's last block; the second block, standing for all after the
    # first, must also start as it ends (then every later block sees what the second sees)
    standing = [1, 2] if region.identical else np.unique(region.counts).tolist()
    for b in standing:
        end = ends[b - 1]
        if end.dtype != last.dtype or end.kind != last.kind or len(end.output_shape) != len(last.output_shape):
            return f"block {b} ends unlike the last block"
        for x, y in zip(end.output_shape, last.output_shape):
            if not np.array_equal(np.broadcast_to(x, region.counts.shape), np.broadcast_to(y, region.counts.shape)):
                return f"block {b} ends in another shape than the last block"
        if facts(end.name) != target:
            return f"block {b}'s output is trained or read unlike the last block's"
    return None
