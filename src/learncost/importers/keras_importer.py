"""Keras models: the architecture from an ``.h5`` file's ``model_config`` (read with ``h5py``) or a
``.keras`` archive's ``config.json`` (zip + json). No TensorFlow; weights are not read, their
counts follow from the layer configuration and the inferred shapes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from .common import GraphBuilder, ImportFailure, read_bytes

FLOATS = {"float32": "float32", "float16": "float16", "mixed_float16": "float16", "int8": "int8"}
SKIPPED = {"BatchNormalization": "batch normalization", "Dropout": "dropout", "SpatialDropout2D": "dropout",
           "GaussianNoise": "noise", "ActivityRegularization": "regularization", "Rescaling": "rescaling"}
MAX_CONFIG_BYTES = 64 << 20  # a model configuration is kilobytes; refuse to inflate more
CONFIG_DEPTH = 64  # Keras 3 nests a layer's inbound tensors about 12 levels deep


def _read_config(path: Path) -> dict:
    data = read_bytes(path)
    if path.suffix.lower() == ".keras":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                if z.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
                    raise ImportFailure(f"{path.name}: config.json is larger than {MAX_CONFIG_BYTES >> 20} MiB")
                text = z.read("config.json")
        except ImportFailure:
            raise
        except Exception as exc:  # zipfile raises a zoo of types on a damaged archive (even NotImplementedError)
            raise ImportFailure(f"{path.name}: not a Keras archive with a readable config.json "
                                f"({type(exc).__name__})") from None
    else:
        if not data.startswith(b"\x89HDF\r\n\x1a\n"):
            raise ImportFailure(f"{path.name}: not an HDF5 file")
        try:
            import h5py

            with h5py.File(io.BytesIO(data), "r") as f:
                text = f.attrs.get("model_config")
        except ImportFailure:
            raise
        except Exception as exc:
            raise ImportFailure(f"{path.name}: malformed or truncated HDF5 file ({type(exc).__name__})") from None
        if text is None:
            raise ImportFailure(f"{path.name}: no model configuration in this HDF5 file (a weights-only file?)",
                                hint="save the whole model (model.save) or export it to TFLite/ONNX")
    try:
        config = json.loads(text.decode() if isinstance(text, bytes) else text)
    except (ValueError, UnicodeDecodeError):
        raise ImportFailure(f"{path.name}: the model configuration is not valid JSON") from None
    except RecursionError:
        raise ImportFailure(f"{path.name}: the model configuration is nested too deeply",
                            code="LC-LIMIT-DEPTH") from None
    from ..limits import check_tree

    check_tree(config, f"{path.name}: the model configuration", max_depth=CONFIG_DEPTH)
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise ImportFailure(f"{path.name}: the model configuration has no layers")
    return config


def _inbound(layer: dict) -> list[str]:
    """Names of the layers feeding this one, in Keras 2 ([[name, 0, 0, {}]]) or Keras 3 form."""
    nodes = layer.get("inbound_nodes") or []
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # Keras 3: {"args": [tensor or [tensors]], "kwargs": {}}
        found: list[str] = []

        def walk(obj: Any) -> None:
            if isinstance(obj, dict):
                hist = obj.get("config", {}).get("keras_history") if obj.get("class_name") == "__keras_tensor__" else None
                if hist:
                    found.append(hist[0])
                else:
                    for v in obj.values():
                        walk(v)
            elif isinstance(obj, list):
                for v in obj:
                    walk(v)

        walk(node.get("args", []))
        return found
    return [entry[0] for entry in node]


def _pair(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value, value]
    return [int(v) for v in value]


def load(path: Path, *, allow_unsupported: bool = False, classes: int | None = None):
    config = _read_config(path)
    try:
        return _load(path, config, allow_unsupported, classes)
    except ImportFailure:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ImportFailure(f"{path.name}: unexpected Keras configuration ({type(exc).__name__}: {exc})") from None


def _load(path: Path, config: dict, allow_unsupported: bool, classes: int | None):
    origin = path.name
    layers = config["config"]["layers"]
    sequential = config.get("class_name") == "Sequential"
    first = layers[0]
    if first["class_name"] == "InputLayer":
        cfg = first["config"]
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        input_name = cfg.get("name") or first.get("name")
        body = layers[1:]
    else:  # Sequential without an explicit InputLayer: the first layer carries the input shape
        cfg = first["config"]
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        input_name = "__input__"
        body = layers
    if not shape or any(d is None for d in shape[1:]):
        raise ImportFailure(f"{origin}: the input shape is unknown ({shape})", hint="give it with --input-shape",
                            code="LC-IMPORT-SHAPE")
    dims = [int(d) for d in shape[1:]]
    dtype = FLOATS.get(str(cfg.get("dtype", "float32")) if not isinstance(cfg.get("dtype"), dict) else "float32", "float32")
    one_d = len(dims) == 2  # (steps, channels): Conv1D-style models become 1 x steps x channels
    b = GraphBuilder(origin, [1, *dims] if one_d else dims, dtype)
    b.alias[input_name] = "input"
    previous = input_name
    last_softmax = False
    for pos, layer in enumerate(body, start=1):
        cls = layer["class_name"]
        cfg = layer["config"]
        lname = cfg.get("name") or layer.get("name")
        srcs = [previous] if sequential else _inbound(layer)
        if not srcs:
            raise ImportFailure(f"{origin}: layer {lname!r} has no input")
        previous = lname
        act = cfg.get("activation")
        act = None if act in (None, "linear") else act if isinstance(act, str) else "custom"
        common: dict[str, Any] = {"dtype": dtype, "weight_dtype": dtype, "bias_dtype": dtype}
        softmax_after = act == "softmax"
        if softmax_after:
            act = None
        last_softmax = softmax_after
        if cls in ("Conv2D", "Conv1D", "DepthwiseConv2D", "SeparableConv2D"):
            if cfg.get("data_format", "channels_last") != "channels_last":
                raise ImportFailure(f"{origin}: layer {lname!r}: only channels_last is supported",
                                    code="LC-IMPORT-UNSUPPORTED")
            if any(d != 1 for d in _pair(cfg.get("dilation_rate", 1))) or cfg.get("groups", 1) != 1:
                b.opaque(f"{cls} (dilated or grouped)", pos, lname, srcs, [lname], ())
                continue
            k = _pair(cfg["kernel_size"])
            s = _pair(cfg["strides"])
            if cls == "Conv1D":
                k, s = [1, k[0]], [1, s[0]]
            conv = dict(kernel=k, stride=s, padding=cfg.get("padding", "valid"), use_bias=cfg.get("use_bias", True),
                        **common)
            if cls == "Conv2D" or cls == "Conv1D":
                b.add(lname, "conv2d", srcs, [lname], filters=cfg["filters"], activation=act, **conv)
            elif cls == "DepthwiseConv2D":
                b.add(lname, "depthwise_conv2d", srcs, [lname], depth_multiplier=cfg.get("depth_multiplier", 1),
                      activation=act, **conv)
            else:  # separable = depthwise (no bias) + pointwise
                b.add(lname + "_depthwise", "depthwise_conv2d", srcs, [lname + "/dw"],
                      depth_multiplier=cfg.get("depth_multiplier", 1), **{**conv, "use_bias": False})
                b.add(lname, "conv2d", [lname + "/dw"], [lname], filters=cfg["filters"], kernel=[1, 1],
                      use_bias=cfg.get("use_bias", True), activation=act, **common)
        elif cls == "Dense":
            b.add(lname, "dense", srcs, [lname], units=cfg["units"], use_bias=cfg.get("use_bias", True),
                  activation=act, **common)
        elif cls in ("AveragePooling2D", "MaxPooling2D", "AveragePooling1D", "MaxPooling1D"):
            k = _pair(cfg["pool_size"])
            s = _pair(cfg.get("strides") or cfg["pool_size"])
            if cls.endswith("1D"):
                k, s = [1, k[0]], [1, s[0]]
            b.add(lname, "avg_pool2d" if cls.startswith("Average") else "max_pool2d", srcs, [lname], kernel=k, stride=s,
                  padding=cfg.get("padding", "valid"), dtype=dtype)
        elif cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"):
            kind = "avg_pool2d" if "Average" in cls else "max_pool2d"
            b.add(lname, kind, srcs, [lname], **{"global": True}, dtype=dtype)
            if not cfg.get("keepdims", False):
                b.add(lname + "_flat", "flatten", [lname], [lname], dtype=dtype)
        elif cls in ("ZeroPadding2D", "ZeroPadding1D"):
            pad = cfg["padding"]
            if cls == "ZeroPadding1D":
                p = _pair(pad)
                pads = [0, 0, p[0], p[1]]
            elif isinstance(pad, int):
                pads = [pad] * 4
            elif isinstance(pad[0], int):
                pads = [pad[0], pad[0], pad[1], pad[1]]
            else:
                pads = [pad[0][0], pad[0][1], pad[1][0], pad[1][1]]
            b.add(lname, "pad", srcs, [lname], padding=pads, dtype=dtype)
        elif cls == "Add":
            b.add(lname, "add", srcs, [lname], dtype=dtype)
        elif cls == "Concatenate":
            if cfg.get("axis", -1) not in (-1, len(b.input_shape)):
                b.opaque(f"Concatenate (axis {cfg.get('axis')})", pos, lname, srcs, [lname], ())
                continue
            b.add(lname, "concat", srcs, [lname], dtype=dtype)
        elif cls in ("Flatten", "Reshape"):
            target = cfg.get("target_shape")
            b.add(lname, "reshape", srcs, [lname], shape=[int(d) for d in target] if target else None, dtype=dtype)
        elif cls == "Softmax" or (cls == "Activation" and cfg.get("activation") == "softmax"):
            b.add(lname, "softmax", srcs, [lname], dtype=dtype)
            last_softmax = True
            continue
        elif cls in ("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU"):
            fn = cfg.get("activation", cls.lower()) if cls == "Activation" else cls.lower()
            if fn in ("linear", None):
                b.skip(srcs[0], [lname], "linear activation")
            elif not b.fuse_activation(srcs[0], [lname], fn):
                b.opaque(f"{cls}({fn})", pos, lname, srcs, [lname], ())
            continue
        elif cls in SKIPPED:
            b.skip(srcs[0], [lname], SKIPPED[cls])
            continue
        else:
            b.opaque(cls, pos, lname, srcs, [lname], ())
            continue
        if softmax_after:
            b.add(lname + "_softmax", "softmax", [lname], [lname], dtype=dtype)
    if one_d:
        b.input_shape = [1, *dims]
    return b.build(name=path.stem, allow_unsupported=allow_unsupported, classes=classes, softmax_output=last_softmax)
