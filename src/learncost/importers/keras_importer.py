"""Keras models: the architecture from an ``.h5`` file's ``model_config`` (read with ``h5py``) or a
``.keras`` archive's ``config.json`` (zip + json). No TensorFlow; weights are not read, their
counts follow from the layer configuration and the inferred shapes.

Each layer class is one entry of ``HANDLERS``. Nested models (a Sequential or functional model used
as a layer) are walked in place, their layers named ``outer/inner``. A layer class Keras does not
define (a custom layer) has no configuration learncost can cost: it is refused by name, with the
way out (describe the model as a spec).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from ..layers import INPUT_DERIVATIVE
from ..limits import MAX_INT
from .common import GraphBuilder, ImportFailure, Table, read_bytes

FLOATS = {"float32": "float32", "float16": "float16", "mixed_float16": "float16", "int8": "int8"}
SKIPPED = {"BatchNormalization": "batch normalization", "Dropout": "dropout", "SpatialDropout2D": "dropout",
           "GaussianNoise": "noise", "ActivityRegularization": "regularization", "Rescaling": "rescaling"}
MAX_CONFIG_BYTES = 64 << 20  # a model configuration is kilobytes; refuse to inflate more
CONFIG_DEPTH = 64  # Keras 3 nests a layer's inbound tensors about 12 levels deep
NESTED = ("Sequential", "Functional", "Model")
#: Keras's own layer classes without a handler here: carried as unsupported operators, not refused as
#: custom layers (names from keras.layers, Keras 2.x and 3.x)
KERAS_LAYERS = frozenset("""
Activation ActivityRegularization Add AdditiveAttention AlphaDropout Attention Average AveragePooling1D
AveragePooling2D AveragePooling3D BatchNormalization Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D
Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Cropping1D Cropping2D
Cropping3D Dense DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense Embedding Flatten
GRU GRUCell GaussianDropout GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D
GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization HashedCrossing Hashing Identity
InputLayer InputSpec IntegerLookup LSTM LSTMCell Lambda LayerNormalization LeakyReLU Masking MaxPooling1D
MaxPooling2D MaxPooling3D Maximum Minimum MultiHeadAttention Multiply Normalization PReLU Permute RNN RandomBrightness
RandomContrast RandomCrop RandomFlip RandomHeight RandomRotation RandomTranslation RandomWidth RandomZoom ReLU
RepeatVector Rescaling Reshape Resizing SeparableConv1D SeparableConv2D SimpleRNN SimpleRNNCell Softmax
SpatialDropout1D SpatialDropout2D SpatialDropout3D StringLookup Subtract TextVectorization TimeDistributed
UnitNormalization UpSampling1D UpSampling2D UpSampling3D Wrapper ZeroPadding1D ZeroPadding2D ZeroPadding3D
""".split())

HANDLERS = Table()


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


def load(path: Path, *, allow_unsupported: bool = False, classes: int | None = None,
         input_shape: list[int] | None = None):
    config = _read_config(path)
    try:
        return _load(path, config, allow_unsupported, classes, input_shape)
    except ImportFailure:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ImportFailure(f"{path.name}: unexpected Keras configuration ({type(exc).__name__}: {exc})") from None


class _Walk:
    """The builder and what the walk through the layers carries from one layer to the next."""

    def __init__(self, origin: str, b: GraphBuilder, dtype: str):
        self.origin = origin
        self.b = b
        self.dtype = dtype
        self.last_softmax = False
        self.custom: list[str] = []


class _Layer:
    def __init__(self, pos: int, cls: str, cfg: dict, lname: str, srcs: list[str], act: str | None, dtype: str):
        self.pos, self.cls, self.cfg, self.lname, self.srcs, self.act = pos, cls, cfg, lname, srcs, act
        self.common: dict[str, Any] = {"dtype": dtype, "weight_dtype": dtype, "bias_dtype": dtype}


def _input_shape(origin: str, stated: list | None, given: list[int] | None) -> list | None:
    """The batch input shape: the file's, or ``--input-shape`` (batch included, as Keras states it) where
    the file leaves a dimension unknown or the user sets one (a fully convolutional model at another size)."""
    if given is None:
        return stated
    if stated and len(stated) != len(given):
        raise ImportFailure(f"{origin}: --input-shape has {len(given)} dimensions (batch included), the model's "
                            f"input has {len(stated)} ({stated})", code="LC-IMPORT-SHAPE")
    return list(given)


def _input_dtype(cfg: dict) -> str:
    """An InputLayer's element type (Keras 3 states a dtype policy, a dict: float32)."""
    dtype = cfg.get("dtype", "float32")
    return FLOATS.get(str(dtype) if not isinstance(dtype, dict) else "float32", "float32")


def _load(path: Path, config: dict, allow_unsupported: bool, classes: int | None, input_shape: list[int] | None):
    origin = path.name
    layers = config["config"]["layers"]
    sequential = config.get("class_name") == "Sequential"
    others = [entry for entry in layers[1:] if entry.get("class_name") == "InputLayer"] if not sequential else []
    first = layers[0]
    if first["class_name"] == "InputLayer":
        cfg = first["config"]
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        input_name = cfg.get("name") or first.get("name")
        body = [entry for entry in layers[1:] if not any(entry is o for o in others)]
    else:  # Sequential without an explicit InputLayer: the first layer carries the input shape
        cfg = first["config"]
        shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
        input_name = "__input__"
        body = layers
    shape = _input_shape(origin, shape, input_shape)
    if not shape or any(d is None for d in shape[1:]):
        raise ImportFailure(f"{origin}: the input shape is unknown ({shape})", code="LC-IMPORT-SHAPE",
                            hint="give it with --input-shape, batch included, e.g. --input-shape "
                                 + ",".join(["1", *("H" if d is None else str(d) for d in (shape or [None, None])[1:])]))
    dims = [int(d) for d in shape[1:]]
    dtype = _input_dtype(cfg)
    one_d = len(dims) == 2  # (steps, channels): Conv1D-style models become 1 x steps x channels
    w = _Walk(origin, GraphBuilder(origin, [1, *dims] if one_d else dims, dtype), dtype)
    w.b.alias[input_name] = "input"
    for k, entry in enumerate(others, 2):  # a functional model's further inputs
        name = entry["config"].get("name") or entry.get("name")
        stated = entry["config"].get("batch_input_shape") or entry["config"].get("batch_shape")
        if not stated or any(d is None for d in stated[1:]):
            raise ImportFailure(f"{origin}: the shape of input {k} ({name!r}) is unknown ({stated})",
                                hint="--input-shape sets the first input's only: state the others' in the model",
                                code="LC-IMPORT-SHAPE")
        more = [int(d) for d in stated[1:]]
        w.b.add_input(name, [1, *more] if len(more) == 2 else more, _input_dtype(entry["config"]))
    _walk(w, body, sequential, input_name, "")
    if w.custom and not allow_unsupported:
        listed = ", ".join(w.custom)
        raise ImportFailure(f"{origin}: custom Keras layer(s) {listed}: the file holds their configuration, not "
                            "their computation", hint="describe the model as a YAML/TOML spec (README: Model specs), "
                            "or --allow-unsupported carries them as zero-cost layers of their input's shape",
                            code="LC-IMPORT-UNSUPPORTED-OP")
    if one_d and w.b.input_shape != dims:  # (a recurrent cell reading the input takes it as the (T, F) it is)
        w.b.input_shape = [1, *dims]
    return w.b.build(name=path.stem, allow_unsupported=allow_unsupported, classes=classes,
                     softmax_output=w.last_softmax)


def _walk(w: _Walk, body: list[dict], sequential: bool, previous: str, prefix: str) -> str:
    """Translate ``body`` (a model's layers after its input); returns the name of the last one.
    ``prefix`` names a nested model's layers apart from the outer ones (``outer/inner``)."""
    for pos, layer in enumerate(body, start=1):
        cls = layer["class_name"]
        cfg = layer["config"]
        lname = prefix + (cfg.get("name") or layer.get("name"))
        srcs = [previous] if sequential else [prefix + s for s in _inbound(layer)]
        if not srcs:
            raise ImportFailure(f"{w.origin}: layer {lname!r} has no input")
        previous = lname
        if cls in NESTED:
            _nested(w, layer, lname, srcs)
            continue
        act = cfg.get("activation")
        act = None if act in (None, "linear") else act if isinstance(act, str) else "custom"
        softmax_after = act == "softmax"
        if softmax_after:
            act = None
        w.last_softmax = softmax_after
        here = _Layer(pos, cls, cfg, lname, srcs, act, w.dtype)
        handler = HANDLERS.get(cls)
        if handler is None:
            if _custom(layer):
                w.custom.append(f"{cls} ({lname})")
            w.b.opaque(cls, pos, lname, srcs, [lname], ())
            continue
        if handler(w, here) and softmax_after:
            w.b.add(lname + "_softmax", "softmax", [lname], [lname], dtype=w.dtype)
    return previous


def _custom(layer: dict) -> bool:
    """A layer class Keras does not define: Keras 3 names the module it comes from."""
    module = layer.get("module")
    if isinstance(module, str):
        return not module.startswith(("keras", "tf_keras", "tensorflow"))
    registered = layer.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        return True
    return layer["class_name"] not in KERAS_LAYERS


def _nested(w: _Walk, layer: dict, lname: str, srcs: list[str]) -> None:
    """A model used as a layer: its layers walked in place, its inputs read from ``srcs``."""
    inner = layer["config"]
    layers = inner["layers"]
    prefix = lname + "/"
    if layer["class_name"] == "Sequential":
        body = layers[1:] if layers and layers[0]["class_name"] == "InputLayer" else layers
        w.b.alias[lname] = w.b.source(srcs[0])  # an empty Sequential is the identity
        last = _walk(w, body, True, srcs[0], prefix)
        w.b.alias[lname] = w.b.source(last)
        return
    names = [entry[0] if isinstance(entry, list) else entry for entry in inner.get("input_layers", [])]
    if len(names) != len(srcs):
        raise ImportFailure(f"{w.origin}: nested model {lname!r} takes {len(names)} inputs, it is given {len(srcs)}")
    for name, src in zip(names, srcs):
        w.b.alias[prefix + name] = w.b.source(src)
    body = [entry for entry in layers if entry["class_name"] != "InputLayer"]
    _walk(w, body, False, srcs[0], prefix)
    outputs = [entry[0] if isinstance(entry, list) else entry for entry in inner.get("output_layers", [])]
    if len(outputs) != 1:
        raise ImportFailure(f"{w.origin}: nested model {lname!r} has {len(outputs)} outputs; learncost follows one",
                            code="LC-IMPORT-UNSUPPORTED")
    w.b.alias[lname] = w.b.source(prefix + outputs[0])


@HANDLERS("Conv2D", "Conv1D", "DepthwiseConv2D", "SeparableConv2D")
def _conv(w: _Walk, x: _Layer) -> bool:
    cfg, b = x.cfg, w.b
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ImportFailure(f"{w.origin}: layer {x.lname!r}: only channels_last is supported",
                            code="LC-IMPORT-UNSUPPORTED")
    k = _pair(cfg["kernel_size"])
    s = _pair(cfg["strides"])
    d = _pair(cfg.get("dilation_rate", 1))
    if x.cls == "Conv1D":
        k, s, d = [1, k[0]], [1, s[0]], [1, d[0]]
    conv = dict(kernel=k, stride=s, padding=cfg.get("padding", "valid"), use_bias=cfg.get("use_bias", True),
                dilation=None if d == [1, 1] else d, **x.common)
    if x.cls in ("Conv2D", "Conv1D"):
        groups = cfg.get("groups", 1)
        b.add(x.lname, "conv2d", x.srcs, [x.lname], filters=cfg["filters"], activation=x.act,
              groups=groups if groups != 1 else None, **conv)
    elif x.cls == "DepthwiseConv2D":
        b.add(x.lname, "depthwise_conv2d", x.srcs, [x.lname], depth_multiplier=cfg.get("depth_multiplier", 1),
              activation=x.act, **conv)
    else:  # separable = depthwise (no bias) + pointwise
        b.add(x.lname + "_depthwise", "depthwise_conv2d", x.srcs, [x.lname + "/dw"],
              depth_multiplier=cfg.get("depth_multiplier", 1), **{**conv, "use_bias": False})
        b.add(x.lname, "conv2d", [x.lname + "/dw"], [x.lname], filters=cfg["filters"], kernel=[1, 1],
              use_bias=cfg.get("use_bias", True), activation=x.act, **x.common)
    return True


@HANDLERS("Conv2DTranspose")
def _conv_transpose(w: _Walk, x: _Layer) -> bool:
    """'same' gives H_in x stride, 'valid' the full output (H_in - 1) x stride + kernel: Keras's lengths where the
    kernel is at least the stride; a smaller kernel, an output padding or a dilation is refused by name."""
    cfg = x.cfg
    k, s = _pair(cfg["kernel_size"]), _pair(cfg["strides"])
    if cfg.get("data_format", "channels_last") != "channels_last" or cfg.get("output_padding") is not None or \
            _pair(cfg.get("dilation_rate", 1)) != [1, 1] or k[0] < s[0] or k[1] < s[1]:
        raise ImportFailure(f"{w.origin}: layer {x.lname!r}: Conv2DTranspose with an output padding, a dilation, "
                            "channels_first or a kernel smaller than its stride", code="LC-IMPORT-UNSUPPORTED",
                            hint="describe the model as a spec (kind conv2d_transpose, padding [t, b, l, r])")
    w.b.add(x.lname, "conv2d_transpose", x.srcs, [x.lname], filters=cfg["filters"], kernel=k, stride=s,
            padding=cfg.get("padding", "valid"), use_bias=cfg.get("use_bias", True), activation=x.act, **x.common)
    return True


@HANDLERS("Dense")
def _dense(w: _Walk, x: _Layer) -> bool:
    w.b.add(x.lname, "dense", x.srcs, [x.lname], units=x.cfg["units"], use_bias=x.cfg.get("use_bias", True),
            activation=x.act, **x.common)
    return True


@HANDLERS("Embedding")
def _embedding(w: _Walk, x: _Layer) -> bool:
    """A lookup of integer indices in a table of input_dim rows of output_dim values."""
    w.b.add(x.lname, "embedding", x.srcs, [x.lname], vocab=x.cfg["input_dim"], dim=x.cfg["output_dim"], **x.common)
    return True


@HANDLERS("AveragePooling2D", "MaxPooling2D", "AveragePooling1D", "MaxPooling1D")
def _pool(w: _Walk, x: _Layer) -> bool:
    k = _pair(x.cfg["pool_size"])
    s = _pair(x.cfg.get("strides") or x.cfg["pool_size"])
    if x.cls.endswith("1D"):
        k, s = [1, k[0]], [1, s[0]]
    w.b.add(x.lname, "avg_pool2d" if x.cls.startswith("Average") else "max_pool2d", x.srcs, [x.lname], kernel=k,
            stride=s, padding=x.cfg.get("padding", "valid"), dtype=w.dtype)
    return True


@HANDLERS("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalMaxPooling1D")
def _global_pool(w: _Walk, x: _Layer) -> bool:
    kind = "avg_pool2d" if "Average" in x.cls else "max_pool2d"
    w.b.add(x.lname, kind, x.srcs, [x.lname], **{"global": True}, dtype=w.dtype)
    if not x.cfg.get("keepdims", False):
        w.b.add(x.lname + "_flat", "flatten", [x.lname], [x.lname], dtype=w.dtype)
    return True


@HANDLERS("ZeroPadding2D", "ZeroPadding1D")
def _zero_padding(w: _Walk, x: _Layer) -> bool:
    pad = x.cfg["padding"]
    if x.cls == "ZeroPadding1D":
        p = _pair(pad)
        pads = [0, 0, p[0], p[1]]
    elif isinstance(pad, int):
        pads = [pad] * 4
    elif isinstance(pad[0], int):
        pads = [pad[0], pad[0], pad[1], pad[1]]
    else:
        pads = [pad[0][0], pad[0][1], pad[1][0], pad[1][1]]
    w.b.add(x.lname, "pad", x.srcs, [x.lname], padding=pads, dtype=w.dtype)
    return True


@HANDLERS("Add", "Multiply", "Subtract")
def _elementwise(w: _Walk, x: _Layer) -> bool:
    kind = {"Add": "add", "Multiply": "mul", "Subtract": "sub"}[x.cls]
    w.b.add(x.lname, kind, x.srcs, [x.lname], dtype=w.dtype)
    return True


@HANDLERS("Permute")
def _permute(w: _Walk, x: _Layer) -> bool:
    """Keras numbers the axes after the batch from 1, as the IR's (channels-last) from 0."""
    w.b.add(x.lname, "transpose", x.srcs, [x.lname], perm=[int(a) - 1 for a in x.cfg["dims"]], dtype=w.dtype)
    return True


@HANDLERS("UpSampling2D")
def _upsampling(w: _Walk, x: _Layer) -> bool:
    size = x.cfg.get("size", (2, 2))
    size = [size, size] if isinstance(size, int) else list(size)
    if x.cfg.get("interpolation", "nearest") == "bilinear":  # tf.image.resize: half-pixel centers
        w.b.add(x.lname, "resize", x.srcs, [x.lname], method="bilinear", scale=size, dtype=w.dtype)
        return True
    if x.cfg.get("interpolation", "nearest") != "nearest":
        w.b.opaque(f"UpSampling2D ({x.cfg.get('interpolation')})", x.pos, x.lname, x.srcs, [x.lname], ())
        return False
    w.b.add(x.lname, "resize", x.srcs, [x.lname], scale=size, dtype=w.dtype)
    return True


@HANDLERS("Cropping2D")
def _cropping(w: _Walk, x: _Layer) -> bool:
    crop = x.cfg.get("cropping", ((0, 0), (0, 0)))
    if isinstance(crop, int):
        crop = ((crop, crop), (crop, crop))
    elif isinstance(crop[0], int):
        crop = ((crop[0], crop[0]), (crop[1], crop[1]))
    whole = MAX_INT  # an end past the input: clipped to it
    w.b.add(x.lname, "slice", x.srcs, [x.lname], begin=[crop[0][0], crop[1][0], 0],
            end=[-crop[0][1] or whole, -crop[1][1] or whole, whole], dtype=w.dtype, note="cropping")
    return True


@HANDLERS("Concatenate")
def _concatenate(w: _Walk, x: _Layer) -> bool:
    if x.cfg.get("axis", -1) not in (-1, len(w.b.input_shape)):
        w.b.opaque(f"Concatenate (axis {x.cfg.get('axis')})", x.pos, x.lname, x.srcs, [x.lname], ())
        return False
    w.b.add(x.lname, "concat", x.srcs, [x.lname], dtype=w.dtype)
    return True


@HANDLERS("Flatten", "Reshape")
def _reshape(w: _Walk, x: _Layer) -> bool:
    target = x.cfg.get("target_shape")
    w.b.add(x.lname, "reshape", x.srcs, [x.lname], shape=[int(d) for d in target] if target else None, dtype=w.dtype)
    return True


@HANDLERS("Softmax")
def _softmax(w: _Walk, x: _Layer) -> bool:
    w.b.add(x.lname, "softmax", x.srcs, [x.lname], dtype=w.dtype)
    w.last_softmax = True
    return False


#: Keras's activation names -> learncost's activation functions
FUNCTIONS = {"relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh", "hard_sigmoid": "hard_sigmoid",
             "hard_swish": "hard_swish", "hard_silu": "hard_swish", "swish": "silu", "silu": "silu", "gelu": "gelu",
             "elu": "elu", "leaky_relu": "leaky_relu", "leakyrelu": "leaky_relu", "prelu": "prelu"}


@HANDLERS("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU")
def _activation(w: _Walk, x: _Layer) -> bool:
    """Fused into the layer before where that layer can carry it (as before: any name); a function
    whose derivative needs its input (``layers.INPUT_DERIVATIVE``), or one with no layer to fuse into,
    is an activation layer of its own."""
    if x.cls == "Activation" and x.cfg.get("activation") == "softmax":
        return _softmax(w, x)
    fn = x.cfg.get("activation", x.cls.lower()) if x.cls == "Activation" else x.cls.lower()
    if fn in ("linear", None):
        w.b.skip(x.srcs[0], [x.lname], "linear activation")
        return False
    ours = FUNCTIONS.get(fn if isinstance(fn, str) else "")
    if ours not in INPUT_DERIVATIVE and w.b.fuse_activation(x.srcs[0], [x.lname], fn):
        return False
    if ours is None:
        w.b.opaque(f"{x.cls}({fn})", x.pos, x.lname, x.srcs, [x.lname], ())
        return False
    w.b.add(x.lname, "activation", x.srcs[:1], [x.lname], function=ours, dtype=w.dtype,
            slopes=_prelu_slopes(w, x) if ours == "prelu" else None)
    return False


def _prelu_slopes(w: _Walk, x: _Layer) -> int | None:
    """Keras's PReLU has one slope per input element except along ``shared_axes``; learncost models one
    per channel (H and W shared, the usual form) or one in all (None: the layer's default, refused)."""
    shared = sorted(int(a) for a in (x.cfg.get("shared_axes") or []))
    if shared == [1, 2]:
        return None  # one per channel: the builder takes the input's channels
    if shared == [1, 2, 3]:
        return 1
    raise ImportFailure(f"{w.origin}: PReLU {x.lname!r} shares its slopes along axes {shared}; learncost models "
                        "one slope per channel (shared_axes [1, 2]) or one in all", code="LC-IMPORT-UNSUPPORTED")


@HANDLERS(*SKIPPED)
def _skipped(w: _Walk, x: _Layer) -> bool:
    w.b.skip(x.srcs[0], [x.lname], SKIPPED[x.cls])
    return False


#: a cell's activations learncost's ``lstm`` and ``gru`` compute (Keras 2.3 on and Keras 3's defaults)
CELL_ACTIVATIONS = {"activation": "tanh", "recurrent_activation": "sigmoid"}


@HANDLERS("LSTM", "GRU")
def _cell(w: _Walk, x: _Layer) -> bool:
    """``lstm`` (one bias vector) or ``gru`` (reset_after, TF2's default: PyTorch's form, two bias vectors) on a
    (T, F) sequence: the model's input, a cell's every-step output or a Reshape to (T, F)."""
    cfg = x.cfg
    variant = ("reset_after=False (r multiplies h before the recurrent weights)"
               if x.cls == "GRU" and not cfg.get("reset_after", True) else
               "go_backwards" if cfg.get("go_backwards") else
               next((f"{k}={cfg[k]!r}" for k, v in CELL_ACTIVATIONS.items() if cfg.get(k, v) != v), None))
    producer = w.b.producer(x.srcs[0])
    sequence = (producer["kind"] in ("lstm", "gru") and producer.get("return_sequences")
                or producer["kind"] == "reshape" and len(producer.get("shape") or []) == 2) if producer else False
    if producer is None and len(w.b.input_shape) == 3 and w.b.input_shape[0] == 1 and \
            not any("input" in layer["inputs"] for layer in w.b.layers):
        w.b.input_shape = w.b.input_shape[1:]  # the (T, F) input as it is
    elif not sequence:
        variant = variant or "an input that is not a (T, F) sequence learncost can place (the model's input, a " \
                             "cell's every-step output or a Reshape to (T, F))"
    if variant:
        raise ImportFailure(f"{w.origin}: {x.cls} layer {x.lname!r} has {variant}; learncost's {x.cls.lower()} is "
                            "the plain cell" + (", PyTorch's form" if x.cls == "GRU" else ""),
                            hint="write the model as a spec", code="LC-IMPORT-UNSUPPORTED")
    w.b.add(x.lname, x.cls.lower(), x.srcs, [x.lname], units=cfg["units"],
            return_sequences=bool(cfg.get("return_sequences", False)), use_bias=cfg.get("use_bias", True),
            bias_vectors=2 if x.cls == "GRU" else 1, **x.common)
    return True
