"""Training setups: how a learning procedure really runs on a device, as data.

The paper costs one idealized way of training (every tensor INT8, every layer updated, batch 1,
no optimizer state, errors and gradients taking no memory, all parameters in SRAM). A setup
states the alternatives real systems use (MIT's Tiny Training Engine, PyTorch-style float
training): precision by tensor role, batch and micro-batch, optimizer, which layers and which
fraction of their channels are updated, where parameters and PEPITA's feedback matrix live,
whether error buffers count, which MACC convention applies and which memory accounting a
report uses by default. ``paper`` is exactly the paper's assumptions.

Setups are YAML or TOML files validated by pydantic (errors name the field, as model specs'
do); the presets ship in ``data/setups/``. A setup may declare ``parameters`` and write an
integer field as ``=expression`` over them, so a sweep can take a setup field as an axis.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from ..errors import SetupError, UnknownNameError

#: tensor roles, each with its own precision; bytes = ceil(elements x bits / 8)
ROLES = ("activation", "saved", "mask", "error", "weight_gradient", "bias_gradient", "optimizer_state",
         "weight", "bias", "feedback", "scratch", "tangent")
ROLE_DOCS = {
    "activation": "a layer's output while the forward pass needs it",
    "saved": "an activation kept for a backward or update step (a layer's input for its weight gradient, "
             "an output for its activation's derivative, PEPITA's clean outputs)",
    "mask": "1-bit ReLU/ReLU6 derivative kept instead of the output (and max-pool argmax indices)",
    "error": "dL/dy of a layer's output (BP), a local error (FF dL/dy, PEPITA h - h_mod), the output error e",
    "weight_gradient": "a weight-gradient buffer, when gradients accumulate over micro-batches or the "
                       "optimizer reads them",
    "bias_gradient": "a bias-gradient buffer, likewise",
    "optimizer_state": "momentum (one value per updated parameter) or Adam's two moments",
    "weight": "weights resident in SRAM",
    "bias": "biases resident in SRAM",
    "feedback": "PEPITA's fixed feedback matrix F, when held in RAM",
    "scratch": "kernel scratch buffers (im2col and the like): TFLite Micro's transposed convolution's int32 "
               "accumulators, in the tflm accounting; no other schedule places any yet",
    "tangent": "the forward gradient's tangent beside each activation (dy along a random direction)",
}
#: roles that make up ``activations_bytes`` in a report row (the working memory of a step)
WORKING_ROLES = ("activation", "saved", "mask", "error", "tangent")

class Range:
    """A bound on a number field, read by pydantic when it validates a setup: the classes below are
    plain frozen dataclasses, so using a setup (``learncost paper`` included) never imports pydantic."""

    def __init__(self, ge: float | None = None, le: float | None = None, *, real: bool = False):
        self.ge, self.le, self.real = ge, le, real

    def __get_pydantic_core_schema__(self, source, handler):
        from pydantic_core import core_schema

        return (core_schema.float_schema if self.real else core_schema.int_schema)(ge=self.ge, le=self.le)


Bits = Annotated[int, Range(1, 64)]
Count = Annotated[int, Range(0)]
Positive = Annotated[int, Range(1)]
Fraction = Annotated[float, Range(0, 1, real=True)]
#: element sizes that may follow the model's own dtypes (the paper: INT8 except where a file says otherwise)
ModelBits = Union[Bits, Literal["model"]]

#: MACC of one optimizer step per updated parameter (``costs/formulas.py`` states each update rule)
OPTIMIZERS = ("sgd", "sgd-momentum", "adam")
#: values of optimizer state per updated parameter
OPTIMIZER_STATE = {"sgd": 0, "sgd-momentum": 1, "adam": 2}
ACCOUNTINGS = ("paper", "saved-for-backward", "live", "arena", "tflm")


class _Strict:
    """What every setup class shares: pydantic forbids unknown fields when it validates one, and the
    pydantic-style ``model_dump``/``model_copy`` of the Python API."""

    __pydantic_config__ = {"extra": "forbid"}

    def model_dump(self, mode: str = "python") -> dict:
        """The fields as plain data (``mode="json"``: mapping keys as strings); ``origin`` left out."""
        return {f.name: _dumped(getattr(self, f.name), mode) for f in dataclasses.fields(self) if f.name != "origin"}

    def model_copy(self, update: dict | None = None):
        return dataclasses.replace(self, **(update or {}))


def _dumped(value: Any, mode: str) -> Any:
    if isinstance(value, _Strict):
        return value.model_dump(mode)
    if isinstance(value, dict):
        return {(str(k) if mode == "json" else k): _dumped(v, mode) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dumped(v, mode) for v in value]
    return value


strict = dataclass(frozen=True, kw_only=True)


@strict
class Precision(_Strict):
    """Bits per element of each tensor role; ``model`` keeps the model's own element types."""

    activation: ModelBits = "model"
    saved: Union[Bits, Literal["activation"]] = "activation"
    mask: Bits = 1
    error: Bits = 32
    weight_gradient: Bits = 32
    bias_gradient: Bits = 32
    optimizer_state: Bits = 32
    weight: ModelBits = "model"
    bias: ModelBits = "model"
    feedback: Bits = 8
    scratch: Bits = 8
    tangent: Bits = 32


Selector = Union[int, str]


@strict
class LastK(_Strict):
    """The last ``last`` layers with weights (the classifier is the last one)."""

    last: Count
    ratio: Fraction = 1.0


@strict
class WeightLayers(_Strict):
    """Per layer (name, or index among the layers with weights, negative from the end): the
    fraction of its input channels whose weights are trained (a depthwise layer: of its
    channels; 0 = frozen weights)."""

    layers: dict[Selector, Fraction]


@strict
class LastBiases(_Strict):
    """The biases of the last ``last`` layers with weights."""

    last: Count


@strict
class BiasLayers(_Strict):
    layers: list[Selector]


@strict
class Update(_Strict):
    weights: Union[Literal["all", "none"], LastK, WeightLayers] = "all"
    biases: Union[Literal["all", "none"], LastBiases, BiasLayers] = "all"


@strict
class Residency(_Strict):
    #: parameters that are not trained: read from flash, or copied to SRAM
    frozen: Literal["flash", "sram"] = "sram"
    #: trained parameters live in SRAM: the whole tensor (TinyEngine's firmware) or the trained slice only
    updated: Literal["whole", "slice"] = "whole"


@strict
class Setup(_Strict):
    """A training setup. Read one with ``load`` (a preset or a file) or ``build`` (parsed data), which
    validate it; the constructor, like ``model_copy``, checks nothing."""

    id: str | None = None
    name: str
    description: str = ""
    source: str | None = None
    #: the model the setup was written for (its layer indices refer to it); others get a warning
    model: str | None = None
    precision: Precision = Precision()
    #: ReLU/ReLU6 derivatives from a 1-bit mask instead of the kept output
    masks: bool = False
    #: samples per optimizer step
    batch: Positive = 1
    #: samples processed together; gradients accumulate over batch / micro_batch micro-batches
    micro_batch: Positive | None = None
    optimizer: Literal["sgd", "sgd-momentum", "adam"] = "sgd"
    update: Update = Update()
    residency: Residency = Residency()
    #: PEPITA's F: not counted (the paper), held in RAM, stored in flash, or regenerated from a seed
    feedback: Literal["uncounted", "ram", "flash", "regenerated"] = "uncounted"
    errors: Literal["counted", "uncounted"] = "uncounted"
    #: paper: the sheet's bookings (X-CUBE-AI's head constants, no bias gradients, no update
    #: application); executed: every multiply-accumulate an implementation executes; xcubeai: what
    #: X-CUBE-AI prints (the paper's bookings plus one MACC per bias, ``costs.registry.XCUBEAI``)
    convention: Literal["paper", "executed", "xcubeai"] = "paper"
    #: checkpointed backpropagation keeps every k-th output it can cut at (default: sqrt of the body's length)
    checkpoint_every: Positive | None = None
    #: the memory accounting reports use unless ``--memory`` says otherwise
    memory: Literal["paper", "saved-for-backward", "live", "arena", "tflm"] = "paper"
    #: the parameter values it was built at (filled in by ``load``)
    parameters: dict[str, Any] = field(default_factory=dict)
    #: the file it was read from, for error messages (filled in by ``load``)
    origin: str | None = None

    @property
    def key(self) -> str:
        return self.id or self.name

    @property
    def micro(self) -> int:
        """Samples per micro-batch (the batch, unless gradients accumulate over smaller ones)."""
        return self.micro_batch or self.batch

    @property
    def micro_batches(self) -> int:
        return self.batch // self.micro

    @property
    def count_errors(self) -> bool:
        return self.errors == "counted"

    @property
    def gradient_buffers(self) -> bool:
        """Gradients need buffers when they accumulate over micro-batches or the optimizer reads
        the whole gradient (momentum, Adam); plain SGD on one micro-batch applies each gradient
        element as it is computed, as TinyEngine's fused update does."""
        return self.micro_batches > 1 or self.optimizer != "sgd"

    def bits(self, role: str) -> int | None:
        """Bits of a role, or None where the model's own element type applies."""
        value = getattr(self.precision, role)
        if value == "activation":
            return self.bits("activation")
        return None if value == "model" else int(value)


# -- loading ---------------------------------------------------------------------------------------

def _data_dir():
    from ..packaged import data_file

    return data_file("data", "setups")


@lru_cache(maxsize=None)
def preset_ids() -> tuple[str, ...]:
    """The shipped setups, ``paper`` first, then the general ones, then MIT's schemes."""
    import re

    def natural(name: str):  # tte-mbv2-49kb before tte-mbv2-123kb
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    names = sorted((p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".yaml")), key=natural)
    first = [n for n in ("paper", "int8-fp32grad", "float32", "bias-only", "last-k") if n in names]
    return tuple(first + [n for n in names if n not in first])


@lru_cache(maxsize=None)
def _preset_data(name: str) -> dict:
    from ..packaged import parsed

    return parsed("data", "setups", f"{name}.yaml")


def _location(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        text = str(item)
        # pydantic labels the branches of a union (``LastK``, ``literal['all','none']``); skip them
        if text in ("LastK", "LastBiases", "WeightLayers", "BiasLayers", "int", "str") or text.startswith(("literal[", "constrained")):
            continue
        parts.append(text)
    return ".".join(parts) or "setup"


def validate(data: Any, origin: str) -> Setup:
    if not isinstance(data, dict):
        raise SetupError(f"a setup must be a mapping, got {type(data).__name__}", location=origin)
    from pydantic import ValidationError

    try:
        return _validator().validate_python(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a union reports one error per branch; the most specific (longest location) says the most
        err = max(errors, key=lambda e: len(e["loc"]))
        return _raise(err, len(errors), origin, data)


@lru_cache(maxsize=None)
def _validator():
    from pydantic import TypeAdapter

    return TypeAdapter(Setup)


def _raise(err: dict, count: int, origin: str, data: dict):
    loc = _location(err["loc"])
    message = err["msg"]
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        field = str(err["loc"][-1])
        if loc.count(".") == 0 and field in ROLES:
            message = "is a precision role: write it under precision"
        else:
            message = "is not a setup field"
            if loc.startswith("precision."):
                message = f"is not a tensor role (roles: {', '.join(ROLES)})"
    elif loc == "optimizer" or loc.endswith(".optimizer"):
        message = f"unknown optimizer {err.get('input')!r} (valid: {', '.join(OPTIMIZERS)})"
    raise SetupError(message, location=f"{origin}: {loc}")


def _resolve_parameters(data: dict, origin: str, values: dict | None) -> tuple[dict, dict]:
    """Evaluate ``=expression`` fields over the setup's declared parameters."""
    from .. import params as P

    declared = P.declared(data, origin)
    chosen = P.values_for(declared, values, origin)

    def walk(obj, where):
        if isinstance(obj, str) and obj.startswith("="):
            return P.evaluate(obj[1:], chosen, f"{origin}: {where}")
        if isinstance(obj, dict):
            return {k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return obj

    body = {k: v for k, v in data.items() if k != "parameters"}
    return walk(body, ""), chosen


def declared_parameters(data: dict, origin: str) -> dict:
    from .. import params as P

    return P.declared(data, origin)


def build(data: Any, origin: str, values: dict | None = None) -> Setup:
    """A setup from parsed data, at the given parameter values (the rest at their defaults)."""
    if not isinstance(data, dict):
        raise SetupError(f"a setup must be a mapping, got {type(data).__name__}", location=origin)
    body, chosen = _resolve_parameters(data, origin, values)
    if "origin" in body:
        raise SetupError("is not a setup field", location=f"{origin}: origin")
    setup = validate(body, origin)
    if setup.batch % setup.micro:
        raise SetupError(f"batch {setup.batch} is not a multiple of micro_batch {setup.micro}",
                        location=f"{origin}: micro_batch")
    return setup.model_copy(update={"parameters": chosen, "origin": origin})


SETUP_SUFFIXES = (".yaml", ".yml", ".toml")


def source_data(name: str | Path) -> tuple[dict, str]:
    """The parsed data and origin of a preset id or a setup file."""
    if isinstance(name, str) and name in preset_ids():
        return _preset_data(name), f"{name}.yaml"
    path = Path(name)
    if path.suffix.lower() not in SETUP_SUFFIXES or not path.is_file():
        if path.suffix.lower() in SETUP_SUFFIXES:
            raise SetupError(f"no such setup file: {path}", location="--setup")
        raise UnknownNameError("setup", str(name), list(preset_ids()) + ["or a setup file (.yaml/.toml)"])
    from ..spec import read_spec

    return read_spec(path), path.name


def load(name: str | Path | Setup | None, values: dict | None = None) -> Setup:
    """A preset by id, or a setup file; ``None`` is the paper's setup."""
    if isinstance(name, Setup):
        return name
    if name is None:
        name = "paper"
    if isinstance(name, str) and name in preset_ids() and not values:
        return _preset(name)
    data, origin = source_data(name)
    return build(data, origin, values)


#: the code a preset's validated setup depends on, besides its YAML (``packaged.derived``)
VALIDATION_SOURCES = ("setups/__init__.py", "params.py")


@lru_cache(maxsize=None)
def _preset(name: str) -> Setup:
    """Built from its validated fields, kept precompiled (``packaged``): no YAML or pydantic here."""
    from ..packaged import derived, load_yaml

    origin = f"{name}.yaml"
    fields = derived(_data_dir().joinpath(origin), "setup", lambda text: build(load_yaml(text), origin).model_dump(),
                     depends=VALIDATION_SOURCES)
    return rebuilt(fields, origin)


def rebuilt(fields: dict, origin: str | None = None) -> Setup:
    """The setup whose ``model_dump()`` is ``fields`` (a validated setup's, so nothing is checked again)."""
    def branch(value, by_count, by_list):  # a union member, told apart by its fields as pydantic does
        if not isinstance(value, dict):
            return value
        return by_count(**value) if "last" in value else by_list(**value)

    update = fields["update"]
    return Setup(**{**fields, "precision": Precision(**fields["precision"]),
                    "update": Update(weights=branch(update["weights"], LastK, WeightLayers),
                                     biases=branch(update["biases"], LastBiases, BiasLayers)),
                    "residency": Residency(**fields["residency"]), "origin": origin})


def paper() -> Setup:
    return load("paper")
