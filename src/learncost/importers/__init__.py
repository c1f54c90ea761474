"""Importers: translate a model file into a spec (then the IR), nothing else.

Each importer reads its format with the format's own library (``tflite`` flatbuffers, ``h5py``
or the ``.keras`` zip's JSON, ``onnx``), emits the same layer dictionaries a user's YAML spec
holds, and lets ``spec.build_model`` infer and check every shape. A shape the file states and
the spec infers differently is an error, not a silent guess.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LearncostError

#: suffix -> importer module (imported lazily: each pulls in its format's library)
IMPORTERS = {".tflite": "tflite_importer", ".h5": "keras_importer", ".hdf5": "keras_importer",
             ".keras": "keras_importer", ".onnx": "onnx_importer"}
#: importer module -> the libraries it parses with (imported before the reading child is forked)
LIBRARIES = {"tflite_importer": ("tflite", "numpy"), "keras_importer": ("h5py",),
             "onnx_importer": ("onnx", "onnx.shape_inference", "onnx.numpy_helper")}
#: what every importer ends with: the spec's validation (pydantic) and the IR's builder, imported before the fork
#: too, or each child would import pydantic again (100 ms and more a file once nothing else had loaded it)
BUILDER = ("learncost.spec",)
PICKLED = (".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin")


def import_file(path: Path, *, allow_unsupported: bool = False, classes: int | None = None,
                input_shape: list[int] | None = None):
    from ..limits import read_timeout
    from ..printable import printable
    from ..safe_read import run_isolated

    suffix = path.suffix.lower()
    if suffix in PICKLED:
        raise LearncostError(
            f"{printable(path.name)}: refusing to load a pickled PyTorch file: unpickling runs arbitrary code from "
            "the file", hint="export it to ONNX (torch.onnx.export) or pass the live module to learncost.from_torch()",
            code="LC-IMPORT-FORMAT")
    if suffix not in IMPORTERS:
        raise LearncostError(f"{printable(path.name)}: unsupported model format {suffix or '(no extension)'!r}",
                             hint="use .tflite, .h5/.keras, .onnx, or a .yaml/.toml spec", code="LC-IMPORT-FORMAT")
    if input_shape is not None and suffix == ".tflite":
        raise LearncostError(f"{printable(path.name)}: --input-shape cannot resize a TFLite model: the file states every "
                             "tensor's shape, and a dynamic input's are placeholders", code="LC-OPTION",
                             hint="convert the model again with a fixed input shape (TFLiteConverter from a concrete "
                                  "function or a Keras model with a fixed input)")
    extra = {"input_shape": input_shape} if input_shape is not None else {}  # the ONNX and Keras importers take it
    return run_isolated(f"{__name__}.{IMPORTERS[suffix]}", "load", (path,),
                        {"allow_unsupported": allow_unsupported, "classes": classes, **extra},
                        what=printable(path.name), timeout=read_timeout(),
                        preload=(*LIBRARIES[IMPORTERS[suffix]], *BUILDER))
