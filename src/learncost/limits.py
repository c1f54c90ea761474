"""The bounds on what learncost reads and builds, so that a small hostile input cannot take
unbounded time or memory. Each bound is far above any model a microcontroller runs; the README's
"Limits" section lists them with the reason for each.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import SpecLimitError

#: a spec file (YAML/TOML); the built-in specs are about 1 KB
MAX_SPEC_BYTES = 1 << 20
#: a model file (.tflite/.onnx/.h5/.keras); MLPerf Tiny's are under 1 MB
MAX_MODEL_BYTES = 256 << 20
#: nesting of mappings and lists in a spec (the built-in specs nest 5 deep)
MAX_DEPTH = 32
#: mappings, lists and scalars of a spec once YAML aliases are expanded (a 10,000-layer spec has ~100,000)
MAX_NODES = 500_000
#: layers of one model, after repeat blocks expand (MLPerf Tiny's largest has 31)
MAX_LAYERS = 10_000
#: any integer field of a layer or input (a dimension, a count): int32, as TFLite and ONNX store them
MAX_INT = 2**31 - 1
#: characters of an ``=expression``
MAX_EXPR_CHARS = 500
#: syntax-tree nodes of an ``=expression`` and its nesting
MAX_EXPR_NODES = 200
MAX_EXPR_DEPTH = 32
#: bits of any integer an expression computes on the way (2**256 is about 1.2e77)
MAX_EXPR_BITS = 256
#: characters of a layer name or a name in ``inputs``
MAX_NAME_CHARS = 256
#: dimensions of a shape
MAX_RANK = 8
#: layers evaluated by one sweep, summed over the layer lists it evaluates apart (each list is one pass of
#: Python work; lists that share a pass over their union, ``union``, are not counted)
MAX_SWEEP_LAYERS = 50_000
#: seconds allowed for parsing one model file (it runs in a child process that is killed after)
DEFAULT_READ_TIMEOUT = 6.0


def read_timeout() -> float:
    """``LEARNCOST_READ_TIMEOUT`` seconds if set (tests shorten it), else the default."""
    try:
        value = float(os.environ.get("LEARNCOST_READ_TIMEOUT", DEFAULT_READ_TIMEOUT))
    except ValueError:
        return DEFAULT_READ_TIMEOUT
    return value if 0 < value < float("inf") else DEFAULT_READ_TIMEOUT


def check_tree(data: Any, origin: str, *, max_depth: int = MAX_DEPTH) -> int:
    """The number of nodes ``data`` holds once shared parts (YAML aliases) are counted at each use;
    refuses cycles, nesting beyond ``MAX_DEPTH`` and more than ``MAX_NODES`` nodes.

    YAML aliases make a DAG whose naive expansion is exponential (a 600-byte "billion laughs"),
    so sizes are summed bottom-up, once per distinct object, without recursion."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        obj, done = stack.pop()
        if not isinstance(obj, (dict, list)):
            continue
        key = id(obj)
        children = [c for c in (list(obj.keys()) + list(obj.values()) if isinstance(obj, dict) else obj)
                    if isinstance(c, (dict, list))]
        if done:
            on_path.discard(key)
            total = 1 + len(obj) * (2 if isinstance(obj, dict) else 1) - len(children)
            total += sum(size[id(c)] for c in children)
            if total > MAX_NODES:
                raise SpecLimitError(f"expands to more than {MAX_NODES:,} entries (through YAML aliases or size)",
                                     location=origin, code="LC-LIMIT-EXPANSION",
                                     hint="write the spec out without nested aliases, or use repeat blocks")
            height[key] = 1 + max((height[id(c)] for c in children), default=0)
            if height[key] > max_depth:
                raise SpecLimitError(f"is nested more than {max_depth} levels deep", location=origin,
                                     code="LC-LIMIT-DEPTH")
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise SpecLimitError("refers to itself (a YAML alias inside its own anchor)", location=origin,
                                 code="LC-LIMIT-EXPANSION")
        on_path.add(key)
        stack.append((obj, True))
        stack.extend((c, False) for c in children)
    return size.get(id(data), 1)


def weight(obj: Any) -> int:
    """What copying ``obj`` costs, in nodes: one per mapping, list and scalar, plus one per 16
    characters of text (a repeat block copies its names and notes once per block)."""
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            total += len(item) // 16
        if total > MAX_NODES:
            break
    return total
