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
}


def dtype_bytes(dtype: str, *, location: str | None = None) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise SpecError(
            f"unknown dtype {dtype!r}", location=location, hint="valid: " + ", ".join(DTYPE_BYTES)
        ) from None
