"""Resolving a model name: a built-in id (the MLPerf Tiny ``kws``, ``vww``, ``ic``, ``ad``; MIT's
``mcunet-5fps``, ``mbv2-w0.35``, ``proxyless-w0.3``; the Keyword Transformer ``kwt``) or a file path."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .errors import LearncostError, UnknownNameError
from .ir import Model
from .packaged import data_file, derived, load_yaml
from .printable import printable

#: built-in id -> aliases that also resolve to it
BUILTIN = {
    "kws": ("ds-cnn", "dscnn"),
    "vww": ("mobilenet", "mobilenetv1"),
    "ic": ("resnet", "resnet8", "resnet-8"),
    "ad": ("autoencoder", "fc-autoencoder", "ae"),
    # MIT's on-device training models (Lin et al., NeurIPS 2022)
    "mcunet-5fps": ("mcunet", "mcunet-in1"),
    "mbv2-w0.35": ("mbv2", "mobilenetv2-w0.35"),
    "proxyless-w0.3": ("proxyless", "proxylessnas-w0.3"),
    # attention: the Keyword Transformer (Berg et al., Interspeech 2021)
    "kwt": ("kwt-1", "keyword-transformer"),
}
SPEC_SUFFIXES = (".yaml", ".yml", ".toml")


def builtin_ids() -> list[str]:
    return list(BUILTIN)


def canonical(name: str) -> str | None:
    key = name.lower()
    for model_id, aliases in BUILTIN.items():
        if key == model_id or key in aliases:
            return model_id
    return None


#: the code a built-in model's validated spec depends on, besides its YAML (``packaged.derived``)
VALIDATION_SOURCES = ("spec.py", "params.py", "limits.py")


@lru_cache(maxsize=None)
def _builtin(model_id: str) -> Model:
    """At its parameters' defaults, from its validated spec (kept precompiled: no YAML or pydantic here)."""
    from .build import from_validated

    origin = f"{model_id}.yaml"

    def validate(text: str):
        from .spec import validated

        return validated(load_yaml(text), origin=origin)

    spec, chosen = derived(_source(model_id), "spec", validate, depends=VALIDATION_SOURCES)
    return from_validated(spec, origin=origin, parameters=chosen)


def _source(model_id: str):
    return data_file("data", "models", f"{model_id}.yaml")


def _fresh(model: Model) -> Model:
    """A copy of a cached model, so that a caller changing it changes no later load (its layers are frozen)."""
    import dataclasses

    return dataclasses.replace(model, layers=list(model.layers), warnings=list(model.warnings),
                               parameters=dict(model.parameters))


def builtin_spec(model_id: str) -> dict:
    """A built-in model's spec as parsed YAML (parameters, expressions and repeats unresolved): a copy
    of the parse, which is done once (a sweep or a --param build reads it every time)."""
    import copy

    return copy.deepcopy(_parsed_builtin(model_id))


@lru_cache(maxsize=None)
def _parsed_builtin(model_id: str) -> dict:
    """The package's own spec, parsed by libyaml where PyYAML has it (10x the pure-Python parser) and
    kept precompiled (``packaged``); a user's spec goes through ``spec.parse_text`` and its limits."""
    return derived(_source(model_id), "yaml", load_yaml)


def load_model(name: str | Path, *, allow_unsupported: bool = False, classes: int | None = None,
               input_shape: list[int] | None = None, params: dict | None = None, dtype: str | None = None) -> Model:
    """A built-in model by id, or a model file: spec (YAML/TOML), TFLite, Keras (.h5/.keras) or ONNX.

    ``allow_unsupported`` carries operators with no cost formula as zero-cost layers (with a
    warning) instead of failing; ``classes`` overrides the number of classes a file implies;
    ``input_shape`` (batch included) gives an ONNX or Keras input its unknown dimensions;
    ``params`` sets a spec's declared parameters (the rest keep their defaults); ``dtype``
    (``int8``, ``int16``, ``float32``, ``int8-paper``: ``dtypes.DEPLOYED``) costs the model in the
    element types it is deployed with.

        >>> import learncost
        >>> m = learncost.load_model("kws", dtype="float32")
        >>> m.layers[1].activation_bytes == 4 * learncost.load_model("kws").layers[1].activation_bytes
        True
    """
    model = _load_model(name, allow_unsupported, classes, input_shape, params)
    if dtype is None:
        return model
    from .dtypes import deployed

    return deployed(model, dtype)


def _load_model(name: str | Path, allow_unsupported: bool, classes: int | None, input_shape: list[int] | None,
                params: dict | None) -> Model:
    if isinstance(name, str):
        model_id = canonical(name)
        if model_id and params:
            from .spec import model_from_data

            model = model_from_data(builtin_spec(model_id), origin=f"{model_id}.yaml", values=params)
            return _checked(model, classes, input_shape)
        if model_id:
            return _checked(_fresh(_builtin(model_id)), classes, input_shape)
    if not str(name).strip():
        raise LearncostError("the model name is empty", hint="give a built-in id (" + ", ".join(builtin_ids())
                             + ") or a model file", code="LC-UNKNOWN-MODEL")
    path = Path(name)
    from .safe_read import check_regular, stat_input

    st = stat_input(path)
    if st is None:
        if path.suffix:
            raise LearncostError(f"no such file: {printable(path)}", code="LC-INPUT-FILE")
        raise UnknownNameError("model", str(name), builtin_ids() + ["or a model file (.yaml/.toml/.tflite/.h5/.keras/.onnx)"])
    check_regular(path, st)
    suffix = path.suffix.lower()
    if suffix in SPEC_SUFFIXES:
        from .spec import load_spec_file

        return _checked(load_spec_file(path, values=params), classes, input_shape)
    if params:
        raise LearncostError(f"{printable(path.name)}: --param applies to model specs (.yaml/.toml) that declare "
                             "parameters", code="LC-SPEC-PARAM")
    from .importers import import_file

    return import_file(path, allow_unsupported=allow_unsupported, classes=classes, input_shape=input_shape)


def _checked(model: Model, classes: int | None, input_shape: list[int] | None) -> Model:
    """A built-in or spec model states its classes and input: an option may confirm them, not change them."""
    name = model.id or model.name
    if input_shape is not None:
        raise LearncostError(f"--input-shape applies to imported files (ONNX, Keras); {printable(name)} states its "
                             "input shape", hint="a spec's input is its `input: {shape: ...}` (or a parameter it "
                             "declares: --param)", code="LC-OPTION")
    if classes is not None and classes != model.classes:
        raise LearncostError(f"--classes {classes} does not match {printable(name)} ({model.classes} classes)",
                             code="LC-OPTION")
    return model
