"""Spec parameters: declared names with defaults, ``=expression`` fields and ``repeat`` blocks.

A spec may declare parameters and write any integer field as an expression over them,
prefixed by ``=`` as in a spreadsheet::

    parameters:
      alpha: {default: 0.25, description: width multiplier}
    layers:
      - {name: conv1, kind: conv2d, filters: "=int(32 * alpha)", kernel: 3}
      - repeat: "=blocks"            # the layers below, once per block
        layers:
          - {name: "dw{i}", kind: depthwise_conv2d, kernel: 3}

Inside a ``repeat``, ``{i}`` in names and inputs, and ``i`` in expressions, stand for the
block number (1..n). Expressions are arithmetic (``+ - * / // % **``) with ``int round floor
ceil min max abs``; they must give integers. A parameter's value may be a number or a numpy
array holding one value per sweep variant: an expression is then evaluated once for all the
variants of a group, which is what makes sweeps fast. numpy itself is never imported here.

An expression is checked before it runs: only numbers, names, the operators and the functions
above (no attribute, method, string or comparison), at most ``limits.MAX_EXPR_CHARS`` long; every
operation checks that its value stays within ``limits.MAX_EXPR_BITS`` (and, on a sweep's int64
arrays, within 64 bits, where numpy would wrap around silently).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Union

from . import limits
from .errors import SpecError, SpecLimitError
from .printable import printable

Number = Union[int, float]
#: spec fields that hold a layer's wiring rather than a number
_TEXT_FIELDS = ("name", "inputs")
_FUNCTION_NAMES = ("int", "round", "floor", "ceil", "min", "max", "abs", "i")


@dataclass(frozen=True, kw_only=True)
class Parameter:
    """A declared parameter: its default value and what it means. pydantic validates it when a spec is read
    (``declared``); the class itself needs no pydantic, as setups' (reports format parameter values)."""

    __pydantic_config__ = {"extra": "forbid"}
    default: Number
    description: str | None = None


@lru_cache(maxsize=None)
def _parameter_validator():
    from pydantic import TypeAdapter

    return TypeAdapter(Parameter)


def _is_array(x: Any) -> bool:
    return hasattr(x, "dtype") and hasattr(x, "shape")


def _np():
    import numpy

    return numpy


def _to_int64(x):
    """A float array made integers, refusing what int64 cannot hold (numpy would give garbage)."""
    if x.dtype.kind == "f" and not (_np().isfinite(x).all() and (abs(x) < 2.0**62).all()):
        raise OverflowError("the value is not finite or too large to be an integer")
    return x.astype("int64")


def _int(x):
    """Truncation toward zero, as Python's int() (Keras writes MobileNet's widths as int(filters * alpha))."""
    return _to_int64(_np().trunc(x)) if _is_array(x) else int(x)


def _round(x):
    """Half-to-even rounding, as Python's round() (numpy rounds the same way)."""
    return _to_int64(_np().round(x)) if _is_array(x) else round(x)


def _floor(x):
    return _to_int64(_np().floor(x)) if _is_array(x) else math.floor(x)


def _ceil(x):
    return _to_int64(_np().ceil(x)) if _is_array(x) else math.ceil(x)


def _extreme(name: str):
    def fn(*xs):
        if any(_is_array(x) for x in xs):
            return getattr(_np(), name + "imum").reduce(_np().broadcast_arrays(*xs))
        return (max if name == "max" else min)(xs)

    fn.__name__ = name
    return fn


def _bits(x) -> float:
    """log2 of the largest magnitude in ``x`` (0 for zero), without overflowing."""
    if _is_array(x):
        if not x.size:
            return 0.0
        top = float(abs(x.astype("float64")).max())
    elif isinstance(x, int):
        return float(abs(x).bit_length())
    else:
        top = abs(x)
    if top != top or top == float("inf"):
        return float("inf")
    return math.log2(top) if top > 1 else 0.0


def _checked(x):
    """The value of one operation, refused once it grows beyond what a layer could use: it would
    only cost time and memory (``10**10**7``), or wrap around in int64 (a sweep's arrays)."""
    if isinstance(x, complex):
        raise ValueError("the value is a complex number")
    if _is_array(x):
        if x.dtype.kind == "f" and not _np().isfinite(x).all():
            raise OverflowError("the value overflows (infinite or not a number)")
        return x
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        raise OverflowError("the value overflows (infinite or not a number)")
    if isinstance(x, int) and x.bit_length() > limits.MAX_EXPR_BITS:
        raise OverflowError(f"a value beyond 2**{limits.MAX_EXPR_BITS}")
    return x


def _array_int(*xs) -> bool:
    return any(_is_array(x) and x.dtype.kind in "iu" for x in xs)


def _binary(fn, log2_bound):
    """``fn`` with its result's size checked; on int64 arrays, checked *before* computing it from a
    bound on log2 of the result (numpy wraps around past 2**63 without a word)."""
    def op(a, b):
        if _array_int(a, b) and log2_bound(_bits(a), _bits(b), b) >= 62:
            raise OverflowError("the value exceeds 64-bit integers in a sweep")
        return _checked(fn(a, b))

    op.__name__ = fn.__name__
    return op


def _power(a, b):
    # simpleeval's guarded power compares with `>`, which an array cannot answer; both the
    # exponent and the result's size are bounded here, before anything is computed
    exponent = b.max() if _is_array(b) else b
    if exponent > 64:
        raise ValueError("exponent larger than 64")
    if exponent > 0 and _bits(a) * exponent > (62 if _array_int(a, b) else limits.MAX_EXPR_BITS):
        raise OverflowError("the power grows too large")
    return _checked(a ** b)


FUNCTIONS = {"int": _int, "round": _round, "floor": _floor, "ceil": _ceil,
             "min": _extreme("min"), "max": _extreme("max"), "abs": abs}
OPERATORS = {
    "Add": _binary(operator.add, lambda x, y, b: max(x, y) + 1),
    "Sub": _binary(operator.sub, lambda x, y, b: max(x, y) + 1),
    "Mult": _binary(operator.mul, lambda x, y, b: x + y),
    "Div": _binary(operator.truediv, lambda x, y, b: 0),
    "FloorDiv": _binary(operator.floordiv, lambda x, y, b: x),
    "Mod": _binary(operator.mod, lambda x, y, b: max(x, y)),
    "Pow": _power, "USub": operator.neg, "UAdd": operator.pos,
}
_NODES = ("Expression", "BinOp", "UnaryOp", "Call", "Name", "Load", "Constant", *OPERATORS)


@lru_cache(maxsize=None)
def _evaluator():
    import ast

    import simpleeval

    ops = {getattr(ast, name): fn for name, fn in OPERATORS.items()}
    return simpleeval.SimpleEval(operators=ops, functions=FUNCTIONS)


@lru_cache(maxsize=4096)
def _parsed(expr: str):
    """The expression's syntax tree, once it is known to hold only what expressions may use.

    simpleeval alone would allow method calls (``'a'.zfill(10**9)`` allocates a gigabyte),
    strings, comparisons and attribute access; the tree is vetted node by node here."""
    import ast

    if len(expr) > limits.MAX_EXPR_CHARS:
        raise SpecLimitError(f"is {len(expr):,} characters long, more than {limits.MAX_EXPR_CHARS}",
                             code="LC-LIMIT-EXPR")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise SyntaxError(expr) from None
    except (RecursionError, MemoryError):
        raise SpecLimitError("is nested too deeply", code="LC-LIMIT-EXPR") from None
    depth = {id(tree): 1}
    count = 0
    for node in ast.walk(tree):  # breadth first: no recursion however deep the tree
        count += 1
        kind = type(node).__name__
        if count > limits.MAX_EXPR_NODES or depth[id(node)] > limits.MAX_EXPR_DEPTH:
            raise SpecLimitError(f"has more than {limits.MAX_EXPR_NODES} terms or {limits.MAX_EXPR_DEPTH} levels "
                                 "of nesting", code="LC-LIMIT-EXPR")
        if kind not in _NODES:
            what = {"Attribute": "attribute or method access", "Compare": "a comparison",
                    "Subscript": "indexing"}.get(kind, f"{kind} syntax")
            raise ValueError(f"uses {what}, which expressions do not allow")
        if kind == "Constant" and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            raise ValueError(f"uses the constant {node.value!r}: only numbers are allowed")
        if kind == "Call" and isinstance(node.func, ast.Attribute):
            raise ValueError("calls a method, which expressions do not allow")
        if kind == "Call" and (not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS
                               or node.keywords or any(isinstance(a, ast.Starred) for a in node.args)):
            raise ValueError("calls something other than " + ", ".join(FUNCTIONS) + " with plain arguments")
        for child in ast.iter_child_nodes(node):
            depth[id(child)] = depth[id(node)] + 1
    if any(isinstance(n, ast.Constant) and isinstance(n.value, int) and n.value.bit_length() > limits.MAX_EXPR_BITS
           for n in ast.walk(tree)):
        raise SpecLimitError(f"holds a number beyond 2**{limits.MAX_EXPR_BITS}", code="LC-LIMIT-EXPR")
    return tree.body


def declared(data: Mapping[str, Any], origin: str) -> dict[str, Parameter]:
    """The spec's ``parameters`` block, validated: name -> Parameter (a bare number is its default)."""
    raw = data.get("parameters") or {}
    if not isinstance(raw, dict):
        raise SpecError("must map parameter names to {default: ...}", location=f"{origin}: parameters",
                        code="LC-SPEC-PARAM")
    out = {}
    for name, value in raw.items():
        loc = f"{origin}: parameters.{name}"
        if not str(name).isidentifier() or name in _FUNCTION_NAMES:
            raise SpecError("is not a usable parameter name (a Python identifier, not a function name or i)",
                            location=printable(loc), code="LC-SPEC-PARAM")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {"default": value}
        from pydantic import ValidationError

        try:
            out[name] = _parameter_validator().validate_python(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("int", "float")))
            # an unknown key, worded as for a model spec's fields (pydantic words it otherwise for a dataclass)
            message = "Extra inputs are not permitted" if err["type"] == "unexpected_keyword_argument" else err["msg"]
            raise SpecError(message, location=printable(loc + (f".{field}" if field else "")),
                            code="LC-SPEC-PARAM") from None
        check_value(printable(loc), out[name].default)
    return out


#: the largest magnitude of a parameter's value: every integer below it is exact as a float too
MAX_PARAMETER = 2**53


def check_value(name: str, value: Any) -> Any:
    """A parameter's value, if it is a finite number of at most ``MAX_PARAMETER`` in magnitude."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > MAX_PARAMETER \
            or not math.isfinite(value):  # abs first: isfinite() of a 400-digit int overflows
        shown = f"{value:.3g}" if isinstance(value, float) else printable(str(value))[:40]
        raise SpecError(f"{name}: {shown} is not a finite number of magnitude at most 2**53", code="LC-SPEC-PARAM")
    return value


def values_for(params: Mapping[str, Parameter], given: Mapping[str, Any] | None, origin: str) -> dict[str, Any]:
    """Every declared parameter's value: the given one where there is one, else its default."""
    given = dict(given or {})
    unknown = [name for name in given if name not in params]
    if unknown:
        valid = ", ".join(params) if params else "none"
        raise SpecError(f"parameter {unknown[0]!r} is not declared", location=origin,
                        hint=f"declared: {valid}", code="LC-SPEC-PARAM")
    return {name: check_value(f"{origin}: parameter {name}", given.get(name, p.default)) for name, p in params.items()}


def describe(values: Mapping[str, Any], index: int | None = None) -> str:
    """``alpha=0.5, resolution=96``; with ``index``, the values of that one variant."""
    def one(v):
        v = v[index] if index is not None and _is_array(v) else v
        v = v.item() if hasattr(v, "item") else v
        # whole numbers in full: width=1045000000, not 1.045e+09
        return str(v) if isinstance(v, int) else f"{v:g}"

    return ", ".join(f"{k}={one(v)}" for k, v in values.items())


def evaluate(expr: str, names: Mapping[str, Any], where: str) -> Any:
    """An ``=expression`` (the ``=`` stripped) over ``names``; the result must be integral."""
    ev = _evaluator()
    ev.names = dict(names)
    shown = _shown(expr)
    try:
        value = ev.eval(expr, previously_parsed=_parsed(expr))
    except SyntaxError:
        raise SpecError(f"{shown} is not a valid expression", location=where, code="LC-SPEC-EXPR") from None
    except SpecError as exc:  # a limit of _parsed
        raise SpecLimitError(f"{shown} {exc.message}", location=where, code=exc.code) from None
    except OverflowError as exc:
        raise SpecLimitError(f"{shown} cannot be evaluated: {exc}", location=where, code="LC-LIMIT-EXPR",
                             hint="expressions compute layer sizes; keep their values within 64-bit integers") from None
    except Exception as exc:  # simpleeval's NameNotDefined, FunctionNotDefined, ZeroDivisionError...
        raise SpecError(f"{shown} cannot be evaluated: {exc}", location=where,
                        hint="use the declared parameters, numbers, + - * / // % ** and "
                             + " ".join(FUNCTIONS), code="LC-SPEC-EXPR") from None
    return _integral(value, expr, names, where)


def _shown(expr: str) -> str:
    """The expression as messages quote it: escaped, and shortened if long."""
    text = printable("=" + expr)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _integral(value: Any, expr: str, names: Mapping[str, Any], where: str) -> Any:
    shown = _shown(expr)
    if _is_array(value):
        if value.dtype.kind == "f":
            whole = value == _np().floor(value)
            if not whole.all():
                bad = int(_np().argmin(whole))
                raise SpecError(f"{shown} gives {value[bad]:g} at {describe(names, bad)}, not an integer",
                                location=where, hint="wrap it in int() or round()", code="LC-SPEC-EXPR")
        if value.dtype.kind in "iuf":
            too_big = abs(value) > limits.MAX_INT
            if too_big.any():
                bad = int(_np().argmax(too_big))
                raise SpecLimitError(f"{shown} gives {value[bad]:,.0f} at {describe(names, bad)}, beyond "
                                     f"{limits.MAX_INT:,}", location=where, code="LC-LIMIT-INT",
                                     hint="layer sizes and counts are 32-bit integers")
            return value.astype("int64")
    elif isinstance(value, bool):
        pass
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, float):
        raise SpecError(f"{shown} gives {value:g} at {describe(names)}, not an integer",
                        location=where, hint="wrap it in int() or round()", code="LC-SPEC-EXPR")
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > limits.MAX_INT:
            raise SpecLimitError(f"{shown} gives {value:,} at {describe(names)}, beyond {limits.MAX_INT:,}",
                                 location=where, code="LC-LIMIT-INT", hint="layer sizes and counts are 32-bit integers")
        return value
    raise SpecError(f"{shown} does not give a number", location=where, code="LC-SPEC-EXPR")


def _is_expr(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _value(value: Any, names: Mapping[str, Any], where: str) -> Any:
    if _is_expr(value):
        return evaluate(value[1:], names, where)
    if isinstance(value, list):
        return [_value(v, names, f"{where}[{k}]") for k, v in enumerate(value)]
    return value


def _layer(entry: dict, names: Mapping[str, Any], where: str, block: int | None) -> dict:
    out = {}
    for key, value in entry.items():
        if key in _TEXT_FIELDS and block is not None:
            if isinstance(value, str):
                value = value.replace("{i}", str(block))
            elif isinstance(value, list):
                value = [v.replace("{i}", str(block)) if isinstance(v, str) else v for v in value]
        out[key] = value if key in _TEXT_FIELDS else _value(value, names, f"{where}.{key}")
    return out


def reads_block_index(body: list) -> bool:
    """Whether some field of a repeat's layers (names and inputs aside: those only rename) is an
    expression of the block index ``i``, so that blocks may differ beyond their names. A field that is
    not a valid expression counts as reading it (resolving it will say what is wrong)."""
    import ast

    def reads(value: Any) -> bool:
        if isinstance(value, list):
            return any(reads(v) for v in value)
        if not _is_expr(value):
            return False
        try:
            tree = _parsed(value[1:])
        except Exception:
            return True
        return any(isinstance(node, ast.Name) and node.id == "i" for node in ast.walk(tree))

    return any(not isinstance(entry, dict) or any(reads(v) for k, v in entry.items() if k not in _TEXT_FIELDS)
               for entry in body)


def _where(origin: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{origin}: layers[{index}]" + (f" ({name})" if name else "")


def repeat_count(entry: dict, names: Mapping[str, Any], where: str) -> Any:
    count = _value(entry["repeat"], names, f"{where}.repeat")
    if not (_is_array(count) or isinstance(count, int)) or isinstance(count, bool):
        raise SpecError(f"must be a whole number of blocks, got {printable(repr(count))[:60]}",
                        location=f"{where}.repeat")
    return _bounded(count, f"{where}.repeat")


def _bounded(value: Any, where: str) -> Any:
    """A literal integer (expressions are bounded in _integral) within the 32-bit range of fields."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.MAX_INT:
        raise SpecLimitError(f"is beyond {limits.MAX_INT:,}", location=where, code="LC-LIMIT-INT",
                             hint="layer sizes and counts are 32-bit integers")
    return value


def _check_expansion(count: int, body: list, others: int, where: str) -> None:
    """Refuses a repeat block before it is expanded, if the model would have more layers (or copy
    more text) than ``limits`` allows: ``repeat: 10**9`` must fail at once, not after hours."""
    layers = count * len(body) + others
    if layers > limits.MAX_LAYERS:
        raise SpecLimitError(f"{count:,} blocks of {len(body)} layers make {layers:,} layers, more than the "
                             f"{limits.MAX_LAYERS:,} a model may have", location=where, code="LC-LIMIT-LAYERS")
    if count * limits.weight(body) > limits.MAX_NODES:
        raise SpecLimitError(f"{count:,} copies of its layers hold more than {limits.MAX_NODES:,} entries "
                             "(long names or notes)", location=where, code="LC-LIMIT-EXPANSION")


def structure(data: Mapping[str, Any], values: Mapping[str, Any], origin: str, *, lists: bool = True) -> list[Any]:
    """The values that change the layer list (repeat counts) and the classes: a sweep groups
    its variants by these, since only variants of one structure can be evaluated together.
    Refuses a variant deeper than a model may be, and (``lists``) a sweep whose distinct layer
    lists hold more layers than one sweep evaluates a list at a time (``_check_sweep_layers``)."""
    classes = _value(data.get("classes"), values, f"{origin}: classes")
    if classes is not None and (isinstance(classes, bool) or not (isinstance(classes, int) or _is_array(classes))):
        raise SpecError(f"must be a whole number of classes, got {printable(repr(classes))[:60]}",
                        location=f"{origin}: classes")
    _bounded(classes, f"{origin}: classes")
    keys = [classes]
    blocks, fixed = [], 0
    for index, entry in enumerate(data.get("layers") or []):
        if isinstance(entry, dict) and "repeat" in entry:
            keys.append(repeat_count(entry, values, _where(origin, index, entry)))
            body = entry.get("layers")
            blocks.append((keys[-1], len(body) if isinstance(body, list) else 1))
        else:
            fixed += 1
    _check_sweep_layers(fixed, blocks, values, origin, lists)
    return keys


def _check_sweep_layers(fixed: int, blocks: list[tuple[Any, int]], values: Mapping[str, Any], origin: str,
                        lists: bool = True) -> None:
    """A sweep's work grows with the layers of each distinct layer list it evaluates apart (one pass of
    Python work each): refuse, before any work, a variant deeper than a model may be or (``lists``) a
    sweep whose distinct layer lists sum to more than ``limits.MAX_SWEEP_LAYERS``. A sweep whose lists
    may share one pass (``union``) checks the lists only where they cannot."""
    from .errors import LimitError

    if not blocks:
        return
    np = _np()
    n = max((c.size for c, _ in blocks if _is_array(c)), default=1)
    counts = np.stack([np.broadcast_to(np.asarray(c, dtype=np.int64), (n,)) for c, _ in blocks], axis=1)
    sizes = np.asarray([size for _, size in blocks], dtype=np.int64)
    per_variant = fixed + np.clip(counts, 0, None) @ sizes
    if (per_variant > limits.MAX_LAYERS).any():
        bad = int(np.argmax(per_variant > limits.MAX_LAYERS))
        raise LimitError(f"the variant {describe(values, bad)} has {int(per_variant[bad]):,} "
                         f"layers, more than the {limits.MAX_LAYERS:,} a model may have", location=origin,
                         code="LC-LIMIT-LAYERS", hint="sweep fewer blocks")
    if not lists:
        return
    distinct, first = np.unique(counts, axis=0, return_index=True)
    total = int(per_variant[first].sum())
    if total > limits.MAX_SWEEP_LAYERS:
        raise LimitError(f"the sweep has {len(distinct):,} distinct layer lists with {total:,} layers in all, more "
                         f"than the {limits.MAX_SWEEP_LAYERS:,} one sweep evaluates", location=origin,
                         code="LC-LIMIT-SWEEP", hint="sweep fewer block counts, or split the sweep")


def resolve(data: Mapping[str, Any], values: Mapping[str, Any], origin: str) -> dict:
    """The spec with every expression evaluated and every repeat expanded (a plain spec again).

    Repeat counts must be single numbers here; a sweep resolves one structure group at a time.
    """
    out = {k: v for k, v in data.items() if k != "parameters"}
    if isinstance(data.get("input"), dict):
        out["input"] = {k: _value(v, values, f"{origin}: input.{k}") for k, v in data["input"].items()}
    if "classes" in data:
        out["classes"] = _value(data["classes"], values, f"{origin}: classes")
    layers = data.get("layers")
    if not isinstance(layers, list):
        return out
    expanded: list[Any] = []
    for index, entry in enumerate(layers):
        where = _where(origin, index, entry)
        if not (isinstance(entry, dict) and "repeat" in entry):
            expanded.append(_layer(entry, values, where, None) if isinstance(entry, dict) else entry)
            continue
        extra = sorted(set(entry) - {"repeat", "layers"})
        if extra:
            raise SpecError(f"a repeat block takes only 'repeat' and 'layers', not {extra[0]!r}", location=where)
        count = repeat_count(entry, values, where)
        if _is_array(count):
            if (count != count.flat[0]).any():
                raise SpecError("the number of blocks must be the same across one evaluation",
                                location=f"{where}.repeat")
            count = int(count.flat[0])
        if count < 0:
            raise SpecError(f"must be >= 0 blocks, got {count}", location=f"{where}.repeat")
        body = entry.get("layers")
        if not isinstance(body, list) or not body:
            raise SpecError("needs a non-empty list of layers", location=f"{where}.layers")
        _check_expansion(count, body, len(expanded) + len(layers) - index - 1, f"{where}.repeat")
        for block in range(1, count + 1):
            scope = {**values, "i": block}
            for k, sub in enumerate(body):
                sub_where = f"{where}.layers[{k}]"
                if isinstance(sub, dict) and "repeat" in sub:
                    raise SpecError("repeat blocks cannot nest", location=sub_where)
                expanded.append(_layer(sub, scope, sub_where, block) if isinstance(sub, dict) else sub)
    out["layers"] = expanded
    return out
