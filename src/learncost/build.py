"""The IR from a validated model spec: every layer's shapes and parameters inferred and checked
against its inputs. Validation (``spec.py``, pydantic) comes first; this part needs no pydantic,
so a built-in model's validated spec, kept precompiled (``packaged``), builds without it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .dtypes import dtype_bytes
from .errors import SpecError
from .ir import Layer, Model, any_true
from .layers import ARITY, DEFAULT_DTYPE, KINDS


def from_validated(spec: Mapping[str, Any], *, origin: str, model_id: str | None = None,
                   parameters: dict[str, Any] | None = None) -> Model:
    """The IR from a whole validated spec (``spec.validated``'s plain data)."""
    return assemble(spec, spec["input"]["shape"], spec["layers"], origin=origin, model_id=model_id,
                    parameters=parameters)


def assemble(spec: Mapping[str, Any], input_shape: Any, entries: list[dict[str, Any]], *, origin: str,
             model_id: str | None = None, parameters: dict[str, Any] | None = None) -> Model:
    """The IR from a validated spec's header (``ModelSpec.model_dump(by_alias=True, exclude_none=True)``,
    its ``layers`` not read) and its layer entries.

    The entries are the spec's own layers, or (for a sweep) the same layers with numpy arrays
    in their integer fields, one element per variant: the builders and formulas are plain
    arithmetic, so one pass serves every variant of a structure.
    """
    dtype_bytes(spec["dtype"], location=f"{origin}: dtype")
    layers: list[Layer] = []
    by_name: dict[str, Layer] = {}
    in_dtype = spec["input"].get("dtype") or spec["dtype"]
    dtype_bytes(in_dtype, location=f"{origin}: input.dtype")
    first = Layer(name="input", kind="input", inputs=(), input_shapes=(),
                  output_shape=KINDS["input"]({"shape": list(input_shape)}, [], f"{origin}: input").output_shape,
                  dtype=in_dtype)
    layers.append(first)
    by_name["input"] = first
    for index, params in enumerate(entries):
        kind, given_name = params["kind"], params.get("name")
        loc = f"{origin}: layers[{index}]" + (f" ({given_name})" if given_name else "")
        if kind not in KINDS:
            raise SpecError(f"unknown layer kind {kind!r}", location=f"{loc}.kind",
                            hint="valid: " + ", ".join(sorted(KINDS)))
        name = given_name or f"{kind}_{index}"
        if name in by_name:
            raise SpecError(f"duplicate layer name {name!r}", location=f"{loc}.name")
        if kind == "input" and layers[-1].kind != "input":
            raise SpecError("a graph's further input must come before every layer that computes",
                            location=f"{loc}.kind", hint="list it right after the model's input, at the top of layers")
        reads_nothing = ARITY[kind] == (0, 0)  # an input, a constant
        inputs = params["inputs"] if params.get("inputs") is not None else [] if reads_nothing else [layers[-1].name]
        lo, hi = ARITY[kind]
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            raise SpecError(f"{kind} takes {want} input(s), got {len(inputs)}", location=f"{loc}.inputs")
        for src in inputs:
            if src not in by_name:
                raise SpecError(f"no earlier layer named {src!r}", location=f"{loc}.inputs")
        built = KINDS[kind](params, [by_name[s].output_shape for s in inputs], loc)
        dtype = params.get("dtype") or DEFAULT_DTYPE.get(kind) or (by_name[inputs[0]] if inputs else first).dtype
        for field in ("dtype", "weight_dtype", "bias_dtype"):
            if params.get(field):
                dtype_bytes(params[field], location=f"{loc}.{field}")
        layer = Layer(
            name=name, kind=kind, inputs=tuple(inputs),
            input_shapes=tuple(by_name[s].output_shape for s in inputs),
            output_shape=built.output_shape, dtype=dtype,
            weights=built.weights, biases=built.biases,
            weight_dtype=params.get("weight_dtype") or spec["dtype"], bias_dtype=params.get("bias_dtype") or spec["dtype"],
            kernel=built.kernel, stride=built.stride, padding=built.padding,
            activation=params.get("activation") or (params.get("function") if kind == "activation" else None),
            note=params.get("note"), groups=built.groups, dilation=built.dilation, attrs=built.attrs,
        )
        layers.append(layer)
        by_name[name] = layer
    classes, warnings = spec.get("classes"), []
    out_elements = layers[-1].output_elements
    if spec["task"] == "classification":
        if classes is None:
            if hasattr(out_elements, "flat"):  # a sweep: one number of classes per structure group
                if any_true(out_elements != out_elements.flat[0]):
                    raise SpecError("must be given: the output size varies across the sweep",
                                    location=f"{origin}: classes")
                out_elements = int(out_elements.flat[0])
            classes = out_elements
            warnings.append(f"classes not given: {classes} inferred from the output layer {layers[-1].name!r}")
        elif any_true(classes != out_elements):
            raise SpecError(f"is {classes} but the output layer {layers[-1].name!r} has {out_elements} elements",
                            location=f"{origin}: classes")
    return Model(
        name=spec["name"], id=model_id or spec.get("id"), layers=layers, task=spec["task"], classes=classes,
        dataset=spec.get("dataset"), description=spec.get("description"), source=spec.get("source"), warnings=warnings,
        parameters=dict(parameters or {}),
    )
