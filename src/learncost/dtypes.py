"""Element types of tensors and their sizes in bytes."""

from __future__ import annotations

from .errors import SpecError

#: bytes per element; INT8 is the paper's assumption for weights, biases and activations.
DTYPE_BYTES: dict[str, int] = {
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "float16": 2,
    "int32": 4,
    "float32": 4,
    "int64": 8,
}

#: ``--dtype``: the element types of a model as it is deployed, (activations, weights, biases).
#: int8 and int16 follow TensorFlow Lite's quantization specification: full-integer int8 keeps int32
#: biases; 16x8 quantization has int16 activations, int8 weights and int64 biases. ``int8-paper`` is the
#: paper's assumption (INT8 everywhere, biases included), what the built-in MLPerf Tiny specs state.
DEPLOYED: dict[str, tuple[str, str, str]] = {
    "int8": ("int8", "int8", "int32"),
    "int16": ("int16", "int8", "int64"),
    "float32": ("float32", "float32", "float32"),
    "int8-paper": ("int8", "int8", "int8"),
}


def dtype_bytes(dtype: str, *, location: str | None = None) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise SpecError(
            f"unknown dtype {dtype!r}", location=location, hint="valid: " + ", ".join(DTYPE_BYTES)
        ) from None


def deployed(model, dtype: str):
    """``model`` with the element types of its deployed form (``DEPLOYED``): every activation, weight and
    bias, the input's included. A float32 import costed as the int8 model that will run, or the reverse."""
    from dataclasses import replace

    from .errors import LearncostError

    if dtype not in DEPLOYED:
        raise LearncostError(f"unknown --dtype {dtype!r}", hint="use one of " + ", ".join(DEPLOYED),
                             code="LC-OPTION")
    act, weight, bias = DEPLOYED[dtype]
    layers = [replace(layer, dtype=act, weight_dtype=weight, bias_dtype=bias) for layer in model.layers]
    return replace(model, layers=layers, warnings=[*model.warnings, f"element types set by --dtype {dtype}: "
                                                   f"activations {act}, weights {weight}, biases {bias}"])
