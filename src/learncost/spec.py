"""User-written model specs (YAML or TOML), validated with pydantic, built into the IR.

A spec lists layers in execution order; each layer reads the previous one unless it
names its ``inputs`` (residual branches). Errors name the layer index, its name and the
field: ``kws.yaml: layers[3] (dw1).kernel: kernel 5x5 is larger than the padded input 3x3``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from . import limits
from .build import assemble, from_validated  # noqa: F401  (assemble: the sweep's and the API's name for it)
from .errors import SpecError, SpecLimitError
from .ir import Model
from .printable import printable


def _not_bool(value: Any) -> Any:
    # pydantic reads true as 1: `filters: true` would build a one-filter layer
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true or false")
    return value


Int = Annotated[int, BeforeValidator(_not_bool), Field(ge=-limits.MAX_INT, le=limits.MAX_INT)]
PosInt = Annotated[int, BeforeValidator(_not_bool), Field(ge=1, le=limits.MAX_INT)]
# kernel, stride and padding are checked by the layer builders, which know the layer's input
IntOrList = Union[Int, list[Int]]
Name = Annotated[str, Field(max_length=limits.MAX_NAME_CHARS)]
Shape = Annotated[list[PosInt], Field(min_length=1, max_length=limits.MAX_RANK)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    shape: Shape
    dtype: str | None = None


class LayerSpec(_Strict):
    kind: str
    name: Name | None = None
    inputs: Annotated[list[Name], Field(max_length=limits.MAX_LAYERS)] | None = None
    filters: PosInt | None = None
    units: PosInt | None = None
    kernel: IntOrList | None = None
    stride: IntOrList | None = None
    padding: Union[str, Int, list[Int]] | None = None
    depth_multiplier: PosInt | None = None
    use_bias: bool = True
    global_: bool = Field(default=False, alias="global")
    shape: Shape | None = None
    dtype: str | None = None
    weight_dtype: str | None = None
    bias_dtype: str | None = None
    activation: str | None = None
    note: str | None = None
    groups: PosInt | None = None
    dilation: IntOrList | None = None
    ceil_mode: bool = False
    function: str | None = None
    slopes: PosInt | None = None
    axis: Int | None = None
    axes: Annotated[list[Int], Field(max_length=limits.MAX_RANK)] | None = None
    keepdims: bool = False
    perm: Annotated[list[Int], Field(max_length=limits.MAX_RANK)] | None = None
    begin: Annotated[list[Int], Field(max_length=limits.MAX_RANK)] | None = None
    end: Annotated[list[Int], Field(max_length=limits.MAX_RANK)] | None = None
    step: Annotated[list[PosInt], Field(max_length=limits.MAX_RANK)] | None = None
    pads: Annotated[list[Annotated[list[Int], Field(min_length=2, max_length=2)]],
                    Field(max_length=limits.MAX_RANK)] | None = None
    scale: IntOrList | None = None
    method: str | None = None
    affine: bool = True
    return_sequences: bool = True
    bias_vectors: PosInt | None = None
    rank: PosInt | None = None
    memory: PosInt | None = None
    size: IntOrList | None = None
    alpha: float | None = None
    beta: float | None = None
    k: float | None = None
    coordinates: str | None = None
    vocab: PosInt | None = None
    dim: PosInt | None = None
    shift: bool = True


class ModelSpec(_Strict):
    name: str
    id: str | None = None
    description: str | None = None
    source: str | None = None
    task: Literal["classification", "reconstruction", "regression"] = "classification"
    classes: PosInt | None = None
    dataset: str | None = None
    dtype: str = "int8"
    input: InputSpec
    layers: list[LayerSpec] = Field(min_length=1)


def _location(loc: tuple, data: Any) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
            if loc[i - 1] == "layers" and isinstance(data, dict):
                try:
                    name = data["layers"][item].get("name")
                except (AttributeError, IndexError, KeyError, TypeError):
                    name = None
                if name:
                    parts[-1] += f" ({name})"
        elif not any(ch in str(item) for ch in "[]-,("):  # skip pydantic's union-branch labels
            parts.append(str(item))
    return ".".join(parts) or "spec"


def validate_spec(data: Any, *, origin: str = "spec") -> ModelSpec:
    if not isinstance(data, dict):
        raise SpecError(f"a model spec must be a mapping, got {type(data).__name__}", location=origin,
                        code="LC-SPEC-SYNTAX")
    layers = data.get("layers")
    if isinstance(layers, list) and len(layers) > limits.MAX_LAYERS:
        raise SpecLimitError(f"has {len(layers):,} layers, more than the {limits.MAX_LAYERS:,} a model may have",
                             location=f"{origin}: layers", code="LC-LIMIT-LAYERS")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        location = f"{origin}: {printable(_location(err['loc'], data))}"
        if err["type"] in ("less_than_equal", "greater_than_equal") and \
                abs(err.get("ctx", {}).get("le", err.get("ctx", {}).get("ge", 0))) == limits.MAX_INT:
            raise SpecLimitError(f"is beyond {limits.MAX_INT:,}", location=location, code="LC-LIMIT-INT",
                                 hint="layer sizes and counts are 32-bit integers") from None
        raise SpecError(printable(err["msg"]) + more, location=location) from None


def build_model(spec: ModelSpec, *, origin: str = "spec", model_id: str | None = None,
                parameters: dict[str, Any] | None = None) -> Model:
    """Infer every layer's shapes and parameter counts, checking each against its inputs."""
    return from_validated(spec.model_dump(by_alias=True, exclude_none=True), origin=origin, model_id=model_id,
                          parameters=parameters)


def model_from_data(data: Any, *, origin: str, model_id: str | None = None,
                    values: dict[str, Any] | None = None) -> Model:
    """A parsed spec (parameters, expressions and repeats included) built at the given
    parameter values; undeclared names are refused, missing ones take their defaults."""
    spec, chosen = validated(data, origin=origin, values=values)
    return from_validated(spec, origin=origin, model_id=model_id, parameters=chosen)


def validated(data: Any, *, origin: str, values: dict[str, Any] | None = None) -> tuple[dict, dict]:
    """A parsed spec at the given parameter values, validated: the spec as plain data (``build.from_validated``
    builds it without pydantic) and the parameter values it was resolved at."""
    from . import params

    if not isinstance(data, dict):
        raise SpecError(f"a model spec must be a mapping, got {type(data).__name__}", location=origin,
                        code="LC-SPEC-SYNTAX")
    limits.check_tree(data, origin)
    chosen: dict[str, Any] = {}
    if "parameters" in data or values or _uses_parameters(data):
        chosen = params.values_for(params.declared(data, origin), values, origin)
        data = params.resolve(data, chosen, origin)
    return validate_spec(data, origin=origin).model_dump(by_alias=True, exclude_none=True), chosen


def _uses_parameters(data: dict) -> bool:
    """A repeat block or an =expression needs params.resolve even with no parameters declared."""
    layers = data.get("layers")
    if isinstance(layers, list) and any(isinstance(e, dict) and "repeat" in e for e in layers):
        return True
    stack: list[Any] = [v for k, v in data.items() if k != "layers"] + (layers if isinstance(layers, list) else [])
    while stack:
        item = stack.pop()
        if isinstance(item, str) and item.startswith("="):
            return True
        if isinstance(item, dict):
            stack.extend(v for k, v in item.items() if k not in ("name", "inputs", "note"))
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_text(text: str, suffix: str, origin: str) -> Any:
    """YAML or TOML text parsed, refusing what would exhaust the parser (deep nesting, integers of
    thousands of digits) or what follows from it (alias bombs, cycles: ``limits.check_tree``)."""
    if len(text) > limits.MAX_SPEC_BYTES:
        raise SpecLimitError(f"is {len(text):,} characters long, more than {limits.MAX_SPEC_BYTES:,}", location=origin,
                             code="LC-LIMIT-SIZE")
    try:
        data = _parse(text, suffix, origin)
    except RecursionError:
        raise SpecLimitError(f"is nested more than {limits.MAX_DEPTH} levels deep", location=origin,
                             code="LC-LIMIT-DEPTH") from None
    except ValueError as exc:  # int() beyond Python's 4,300-digit limit, raised inside the parser
        what = ("an integer of more than 4,300 digits" if "digits" in str(exc)
                else f"a value the parser refuses ({printable(str(exc)[:80])})")
        raise SpecLimitError(f"holds {what}", location=origin, code="LC-LIMIT-INT") from None
    limits.check_tree(data, origin)
    return data


def _parse(text: str, suffix: str, origin: str) -> Any:
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"not valid TOML: {printable(exc)}", location=origin, code="LC-SPEC-SYNTAX") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"not valid YAML{where}: {printable(getattr(exc, 'problem', exc))}", location=origin,
                        code="LC-SPEC-SYNTAX") from None


def read_spec(path: Path) -> dict:
    """A spec file parsed (YAML or TOML by its suffix), its parameters and expressions unresolved."""
    from .safe_read import read_bytes

    origin = printable(path.name)
    raw = read_bytes(path, limits.MAX_SPEC_BYTES, "spec file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("is not a text model spec (not UTF-8)", location=origin, code="LC-SPEC-SYNTAX") from None
    data = parse_text(text, path.suffix.lower(), origin)
    if not isinstance(data, dict):
        raise SpecError(f"a model spec must be a mapping, got {type(data).__name__}", location=origin,
                        code="LC-SPEC-SYNTAX")
    return data


def load_spec_file(path: Path, *, model_id: str | None = None, values: dict[str, Any] | None = None) -> Model:
    return model_from_data(read_spec(path), origin=printable(path.name), model_id=model_id, values=values)
