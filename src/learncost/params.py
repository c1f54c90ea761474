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
"""

from __future__ import annotations

import math
import operator
from functools import lru_cache
from typing import Any, Mapping, Union

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import SpecError

Number = Union[int, float]
#: spec fields that hold a layer's wiring rather than a number
_TEXT_FIELDS = ("name", "inputs")
_FUNCTION_NAMES = ("int", "round", "floor", "ceil", "min", "max", "abs", "i")


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: Number
    description: str | None = None


def _is_array(x: Any) -> bool:
    return hasattr(x, "dtype") and hasattr(x, "shape")


def _np():
    import numpy

    return numpy


def _int(x):
    """Truncation toward zero, as Python's int() (Keras writes MobileNet's widths as int(filters * alpha))."""
    return _np().trunc(x).astype("int64") if _is_array(x) else int(x)


def _round(x):
    """Half-to-even rounding, as Python's round() (numpy rounds the same way)."""
    return _np().round(x).astype("int64") if _is_array(x) else round(x)


def _floor(x):
    return _np().floor(x).astype("int64") if _is_array(x) else math.floor(x)


def _ceil(x):
    return _np().ceil(x).astype("int64") if _is_array(x) else math.ceil(x)


def _extreme(name: str):
    def fn(*xs):
        if any(_is_array(x) for x in xs):
            return getattr(_np(), name + "imum").reduce(_np().broadcast_arrays(*xs))
        return (max if name == "max" else min)(xs)

    fn.__name__ = name
    return fn


def _power(a, b):
    # simpleeval's guarded power compares with `>`, which an array cannot answer; the guard
    # against a runaway exponent is kept here.
    if (b.max() if _is_array(b) else b) > 64:
        raise ValueError("exponent larger than 64")
    return a ** b


FUNCTIONS = {"int": _int, "round": _round, "floor": _floor, "ceil": _ceil,
             "min": _extreme("min"), "max": _extreme("max"), "abs": abs}
OPERATORS = {
    "Add": operator.add, "Sub": operator.sub, "Mult": operator.mul, "Div": operator.truediv,
    "FloorDiv": operator.floordiv, "Mod": operator.mod, "Pow": _power, "USub": operator.neg,
    "UAdd": operator.pos,
}


@lru_cache(maxsize=None)
def _evaluator():
    import ast

    import simpleeval

    ops = {getattr(ast, name): fn for name, fn in OPERATORS.items()}
    return simpleeval.SimpleEval(operators=ops, functions=FUNCTIONS)


@lru_cache(maxsize=4096)
def _parsed(expr: str):
    return _evaluator().parse(expr)


def declared(data: Mapping[str, Any], origin: str) -> dict[str, Parameter]:
    """The spec's ``parameters`` block, validated: name -> Parameter (a bare number is its default)."""
    raw = data.get("parameters") or {}
    if not isinstance(raw, dict):
        raise SpecError("must map parameter names to {default: ...}", location=f"{origin}: parameters")
    out = {}
    for name, value in raw.items():
        loc = f"{origin}: parameters.{name}"
        if not str(name).isidentifier() or name in _FUNCTION_NAMES:
            raise SpecError("is not a usable parameter name (a Python identifier, not a function name or i)",
                            location=loc)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {"default": value}
        try:
            out[name] = Parameter.model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("int", "float")))
            raise SpecError(err["msg"], location=loc + (f".{field}" if field else "")) from None
    return out


def values_for(params: Mapping[str, Parameter], given: Mapping[str, Any] | None, origin: str) -> dict[str, Any]:
    """Every declared parameter's value: the given one where there is one, else its default."""
    given = dict(given or {})
    unknown = [name for name in given if name not in params]
    if unknown:
        valid = ", ".join(params) if params else "none"
        raise SpecError(f"parameter {unknown[0]!r} is not declared", location=origin,
                        hint=f"declared: {valid}")
    return {name: given.get(name, p.default) for name, p in params.items()}


def describe(values: Mapping[str, Any], index: int | None = None) -> str:
    """``alpha=0.5, resolution=96``; with ``index``, the values of that one variant."""
    def one(v):
        v = v[index] if index is not None and _is_array(v) else v
        return f"{v.item() if hasattr(v, 'item') else v:g}"

    return ", ".join(f"{k}={one(v)}" for k, v in values.items())


def evaluate(expr: str, names: Mapping[str, Any], where: str) -> Any:
    """An ``=expression`` (the ``=`` stripped) over ``names``; the result must be integral."""
    ev = _evaluator()
    ev.names = dict(names)
    try:
        value = ev.eval(expr, previously_parsed=_parsed(expr))
    except SyntaxError:
        raise SpecError(f"{'=' + expr!r} is not a valid expression", location=where) from None
    except Exception as exc:  # simpleeval's NameNotDefined, FunctionNotDefined, ZeroDivisionError...
        raise SpecError(f"{'=' + expr!r} cannot be evaluated: {exc}", location=where,
                        hint="use the declared parameters, numbers, + - * / // % ** and "
                             + " ".join(FUNCTIONS)) from None
    return _integral(value, expr, names, where)


def _integral(value: Any, expr: str, names: Mapping[str, Any], where: str) -> Any:
    if _is_array(value):
        if value.dtype.kind in "iu":
            return value.astype("int64")
        if value.dtype.kind == "f":
            whole = value == _np().floor(value)
            if whole.all():
                return value.astype("int64")
            bad = int(_np().argmin(whole))
            raise SpecError(f"{'=' + expr!r} gives {value[bad]:g} at {describe(names, bad)}, not an integer",
                            location=where, hint="wrap it in int() or round()")
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        return value
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    elif isinstance(value, float):
        raise SpecError(f"{'=' + expr!r} gives {value:g} at {describe(names)}, not an integer",
                        location=where, hint="wrap it in int() or round()")
    raise SpecError(f"{'=' + expr!r} does not give a number", location=where)


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


def _where(origin: str, index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"{origin}: layers[{index}]" + (f" ({name})" if name else "")


def repeat_count(entry: dict, names: Mapping[str, Any], where: str) -> Any:
    count = _value(entry["repeat"], names, f"{where}.repeat")
    if not (_is_array(count) or isinstance(count, int)) or isinstance(count, bool):
        raise SpecError(f"must be a whole number of blocks, got {count!r}", location=f"{where}.repeat")
    return count


def structure(data: Mapping[str, Any], values: Mapping[str, Any], origin: str) -> list[Any]:
    """The values that change the layer list (repeat counts) and the classes: a sweep groups
    its variants by these, since only variants of one structure can be evaluated together."""
    keys = [_value(data.get("classes"), values, f"{origin}: classes")]
    for index, entry in enumerate(data.get("layers") or []):
        if isinstance(entry, dict) and "repeat" in entry:
            keys.append(repeat_count(entry, values, _where(origin, index, entry)))
    return keys


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
        for block in range(1, count + 1):
            scope = {**values, "i": block}
            for k, sub in enumerate(body):
                sub_where = f"{where}.layers[{k}]"
                if isinstance(sub, dict) and "repeat" in sub:
                    raise SpecError("repeat blocks cannot nest", location=sub_where)
                expanded.append(_layer(sub, scope, sub_where, block) if isinstance(sub, dict) else sub)
    out["layers"] = expanded
    return out
