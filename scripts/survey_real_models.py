"""Survey of real, public models through learncost's importers (issue 13), each against an independent count.

For every model: does it import as-is; with ``allow_unsupported=True``, how many opaque layers and which
operators; learncost's forward MACC (inference total, and the convolution / dense / matmul part); and an
independent count of that part made without learncost, from the file or the module itself:

* TFLite: the flatbuffer's tensor shapes, read with the ``tflite`` package: CONV_2D kh*kw*cin_per_group*cout
  *hout*wout, DEPTHWISE_CONV_2D kh*kw*cout*hout*wout, FULLY_CONNECTED rows*in*out, BATCH_MATMUL out*K,
  TRANSPOSE_CONV kh*kw*cin*cout*hin*win (first subgraph only);
* ONNX: onnx's shape inference on the graph: Conv out_elements*prod(weight[1:]), ConvTranspose
  in_elements*prod(weight[1:]), Gemm/MatMul out_elements*K (the idea of tests/test_import_coverage.py);
* torch modules: ``torch.utils.flop_counter.FlopCounterMode`` on a forward pass (meta tensors), MACs =
  FLOPs / 2 (it counts convolution, mm, addmm, bmm, baddbmm and attention);
* Keras .h5 (MLPerf Tiny): the float .tflite twin of the same network, counted as above.

learncost's side of the comparison is the sum of per-layer forward MACC of kinds conv2d,
conv2d_transpose, depthwise_conv2d, dense and matmul (``learncost.analyze(model, ["bp"]).layers``); the
inference total is
``row("bp", "inference").macc``. A model with opaque layers can miss the MACs of the operators carried
at zero cost: the difference is then reported, not a match.

Sources (nothing is put in the repository; files go to --files, default /work/survey-files):

1. ``mediapipe``: every .tflite inside the mediapipe wheel (``pip download --no-deps mediapipe==0.10.21``,
   the last versions that ship its models; 1.x wheels ship none). The wheel is only unzipped, never installed
   or imported.
2. ``onnx``: the installed onnx wheel's model-zoo test graphs, ``onnx/backend/test/data/light/*.onnx``
   (``data/real/`` holds only pointers to them; ``node/``, ``simple/`` and ``pytorch-*`` are single-operator
   tests, not models, and are skipped).
3. ``torchvision``: every classification model of ``torchvision.models.list_models(module=torchvision.models)``
   built with ``weights=None`` on the meta device, at 1x3xSxS with S its weights' crop size (224 mostly,
   299 Inception-v3, 240-600 EfficientNets), through ``learncost.from_torch``.
4. ``tflm``: TFLite Micro's example and reference models from a git clone or bare mirror (--tflm-git, default
   /work/.mirror/tensorflow+tflite-micro/repo), extracted with ``git show HEAD:path``; the
   ``integration_tests/`` graphs are single-operator tests and are skipped; identical blobs counted once.
5. ``mlperf``: the MLPerf Tiny reference .tflite and .h5 files in --mlperf-dir (default
   /work/shared/models/mlperf-tiny), if present.
6. ``onnx-export``: a few small torchvision models exported to ONNX here (``torch.onnx.export``, dynamo),
   costed through the ONNX importer against the ONNX count and the torch count.

Environment (keep it apart from the project's own .venv)::

    python3 -m venv /work/survey-venv
    /work/survey-venv/bin/pip install -e /work/main 'onnx>=1.14' onnxscript tflite pillow torch==2.13.0
    /work/survey-venv/bin/pip install --no-deps torchvision==0.28.0

torchvision's PyPI wheels are CUDA builds whose C extension does not load beside a CPU torch; the models are
pure Python, so the script declares the two operator schemas (torchvision::nms, ::qnms) that torchvision's
import registers fake kernels for, when the extension did not load.

Run (each model in its own subprocess, one after the other, with a timeout)::

    /work/survey-venv/bin/python scripts/survey_real_models.py --out /work/notes/survey.md

Options: ``--sources mediapipe,onnx,torchvision,tflm,mlperf,onnx-export``, ``--only SUBSTRING``,
``--timeout 120`` (seconds per model), ``--max-mb 60`` (larger files are skipped: five of the ONNX exports,
alexnet, convnext_tiny, swin_t, vit_b_32 and maxvit_t, whose weights are inlined; ``--sources onnx-export
--max-mb 256``, learncost's own file limit, runs all but vit_b_32), ``--json FILE`` (every record). Exported
and extracted files are kept in --files and reused by the next run. Not imported by the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

COUNTED = ("conv2d", "conv2d_transpose", "depthwise_conv2d", "dense", "matmul")
MEDIAPIPE_VERSION = "0.10.21"
EXPORTS = ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet18", "squeezenet1_1",
           "shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_x_400mf", "regnet_y_400mf",
           "googlenet", "densenet121", "alexnet", "convnext_tiny", "swin_t", "vit_b_32", "maxvit_t")


# -- gathering the material -------------------------------------------------------------------------

def gather_mediapipe(files: Path) -> list[dict]:
    wheels = files / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"mediapipe=={MEDIAPIPE_VERSION}",
                        "-d", str(wheels)], check=False)
        found = sorted(wheels.glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if not found:
        return [{"source": "mediapipe", "name": f"mediapipe {MEDIAPIPE_VERSION} wheel", "skip": "pip download failed"}]
    out_dir = files / "mediapipe"
    items = []
    with zipfile.ZipFile(found[0]) as z:
        for info in z.infolist():
            if info.filename.endswith(".tflite"):
                dest = out_dir / Path(info.filename).name
                if not dest.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(z.read(info))
                items.append({"source": "mediapipe", "name": Path(info.filename).stem, "path": str(dest)})
    return sorted(items, key=lambda i: i["name"])


def gather_onnx() -> list[dict]:
    try:
        import onnx
    except ImportError:
        return [{"source": "onnx", "name": "onnx", "skip": "onnx is not installed"}]
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    items = [{"source": "onnx", "name": p.stem, "path": str(p)} for p in sorted((root / "light").glob("*.onnx"))]
    for p in sorted((root / "real").rglob("*.onnx")):  # pointers (data.json) only in the wheels seen so far
        items.append({"source": "onnx", "name": f"real/{p.parent.name}", "path": str(p)})
    return items


def _torchvision():
    import torch

    try:
        import torchvision  # noqa: F401
    except RuntimeError as exc:  # a CUDA wheel's extension beside a CPU torch: declare what its import needs
        if "torchvision::nms" not in str(exc):
            raise
        for mod in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[mod]
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _torchvision.lib = lib  # kept alive
        import torchvision  # noqa: F401
    import torchvision.models

    return torchvision.models


def _crop(models, name: str) -> int:
    try:
        w = models.get_model_weights(name).DEFAULT
        return int(w.transforms.keywords.get("crop_size", 224))
    except Exception:
        return 224


def _build(models, name: str, meta: bool = True):
    """A torchvision model with weights=None, on the meta device where its constructor allows (nothing is
    allocated); else built on the CPU with torch.nn.init's initialisers skipped (the values are never read),
    then moved to the meta device (RegNet's constructor computes its widths with tensors)."""
    import torch

    if meta:
        try:
            with torch.device("meta"):
                return models.get_model(name, weights=None).eval()
        except Exception:
            pass
    saved = {n: getattr(torch.nn.init, n) for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")}
    for n in saved:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        module = models.get_model(name, weights=None).eval()
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)
    return module.to("meta") if meta else module


def gather_torchvision() -> list[dict]:
    try:
        models = _torchvision()
    except Exception as exc:
        return [{"source": "torchvision", "name": "torchvision", "skip": f"torchvision does not import: {exc}"}]
    return [{"source": "torchvision", "name": n, "size": _crop(models, n)}
            for n in models.list_models(module=models)]


def gather_tflm(files: Path, git_dir: Path) -> list[dict]:
    if not git_dir.exists():
        return [{"source": "tflm", "name": "tflite-micro", "skip": f"no clone at {git_dir}"}]
    git = ["git", f"--git-dir={git_dir}"]
    listing = subprocess.run([*git, "ls-tree", "-r", "HEAD"], capture_output=True, text=True, check=True).stdout
    items, seen = [], set()
    for line in listing.splitlines():
        meta, path = line.split("\t", 1)
        blob = meta.split()[2]
        if not path.endswith(".tflite") or "/integration_tests/" in path or blob in seen:
            continue
        seen.add(blob)
        dest = files / "tflm" / path.replace("/", "__")
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(subprocess.run([*git, "show", f"HEAD:{path}"], capture_output=True, check=True).stdout)
        items.append({"source": "tflm", "name": path.rsplit("/", 1)[-1][:-7], "path": str(dest), "where": path})
    return items


def gather_mlperf(directory: Path) -> list[dict]:
    if not directory.is_dir():
        return [{"source": "mlperf", "name": "mlperf-tiny", "skip": f"no directory {directory}"}]
    twins = {"ad01.h5": "ad01_fp32.tflite", "resnet8.h5": "resnet8_float.tflite", "vww_96.h5": "vww_96_float.tflite",
             "kws_ref_model.h5": "kws_ref_model_float32.tflite"}
    items = []
    for p in sorted([*directory.glob("*.tflite"), *directory.glob("*.h5")]):
        item = {"source": "mlperf", "name": p.name, "path": str(p)}
        if p.suffix == ".h5" and (directory / twins.get(p.name, "-")).exists():
            item["twin"] = str(directory / twins[p.name])
        items.append(item)
    return items


def gather_exports(files: Path) -> list[dict]:
    return [{"source": "onnx-export", "name": n, "path": str(files / "onnx-export" / f"{n}.onnx")} for n in EXPORTS]


# -- independent counts -----------------------------------------------------------------------------

def tflite_count(path: str) -> dict:
    """MACs of the convolution, depthwise, fully connected, batch matmul and transposed convolution operators
    of the first subgraph, from the tensor shapes the flatbuffer states."""
    import numpy as np
    import tflite

    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    data = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(data, 0)
    g = model.Subgraphs(0)

    def shape(i):
        t = g.Tensors(int(i))
        return [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []

    total, by_op, ops = 0, Counter(), Counter()
    for pos in range(g.OperatorsLength()):
        op = g.Operators(pos)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        if name == "CUSTOM" and code.CustomCode():
            name = "CUSTOM:" + code.CustomCode().decode()
        ops[name] += 1
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        n = 0
        if name == "CONV_2D":
            w, y = shape(ins[1]), shape(outs[0])  # w: (cout, kh, kw, cin / groups); y: (1, ho, wo, cout)
            n = math.prod(y) * w[1] * w[2] * w[3]
        elif name == "DEPTHWISE_CONV_2D":
            w, y = shape(ins[1]), shape(outs[0])  # w: (1, kh, kw, cout)
            n = math.prod(y) * w[1] * w[2]
        elif name == "FULLY_CONNECTED":
            w, x = shape(ins[1]), shape(ins[0])  # w: (out, in); rows = elements of x / in
            n = (math.prod(x) // w[1]) * w[0] * w[1]
        elif name == "BATCH_MATMUL":
            x, y = shape(ins[0]), shape(outs[0])
            opt = tflite.BatchMatMulOptions()
            table = op.BuiltinOptions()
            adj_x = False
            if table is not None:
                opt.Init(table.Bytes, table.Pos)
                adj_x = bool(opt.AdjX())
            n = math.prod(y) * (x[-2] if adj_x else x[-1])
        elif name in ("TRANSPOSE_CONV", "CUSTOM:Convolution2DTransposeBias"):  # MediaPipe's custom one too
            w = shape(ins[1])  # w: (cout, kh, kw, cin); x: the input (1, h, w, cin)
            x = shape(ins[2] if name == "TRANSPOSE_CONV" else ins[0])
            n = math.prod(x) * w[0] * w[1] * w[2]
        if n:
            total += n
            by_op[name] += n
    del np
    return {"count": total, "by_op": dict(by_op), "ops": dict(ops), "subgraphs": model.SubgraphsLength()}


def onnx_count(path: str) -> dict:
    """Conv, ConvTranspose, Gemm and MatMul MACs from onnx's shape inference (weights' shapes from the
    initializers, Constant and ConstantOfShape nodes, or the inferred value_info)."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(path, load_external_data=False))
    g = m.graph
    shapes = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim]
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = list(a.t.dims)
        elif node.op_type == "ConstantOfShape":
            init = {t.name: t for t in g.initializer}
            if node.input[0] in init:
                shapes[node.output[0]] = [int(v) for v in numpy_helper.to_array(init[node.input[0]])]
    total, by_op, ops, unknown = 0, Counter(), Counter(), []

    def known(*s):
        return all(x and all(d > 0 for d in x) for x in s)

    for node in g.node:
        ops[node.op_type] += 1
        n = None
        if node.op_type == "Conv":
            w, y = shapes.get(node.input[1]), shapes.get(node.output[0])
            n = math.prod(y[1:]) * math.prod(w[1:]) if known(w, y) else -1
        elif node.op_type == "ConvTranspose":
            w, x = shapes.get(node.input[1]), shapes.get(node.input[0])  # w: (cin, cout / g, k...)
            n = math.prod(x[1:]) * math.prod(w[1:]) if known(w, x) else -1
        elif node.op_type in ("Gemm", "MatMul"):
            a, y = shapes.get(node.input[0]), shapes.get(node.output[0])
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            if known(a, y):
                k = a[-2] if trans_a else a[-1]
                n = math.prod(y) * k
            else:
                n = -1
        if n is None:
            continue
        if n < 0:
            unknown.append(f"{node.op_type} {node.name or node.output[0]}")
            continue
        total += n
        by_op[node.op_type] += n
    return {"count": total, "by_op": dict(by_op), "ops": dict(ops), "unknown": unknown}


def torch_count(module, shape) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(shape, device=next(iter(module.parameters())).device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(x)
    by_op = {str(k).replace("aten.", ""): int(v) // 2 for k, v in counter.get_flop_counts()["Global"].items()}
    return {"count": counter.get_total_flops() // 2, "by_op": by_op}


# -- one model (in a subprocess) --------------------------------------------------------------------

def _first_line(exc: BaseException) -> str:
    """The message's first line; an exception that is not one of learncost's own is named, with the
    learncost frame it escaped from."""
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    line = (text[0] if text else "")[:300]
    from learncost.errors import LearncostError

    if not isinstance(exc, LearncostError):
        import traceback

        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/learncost/" in f.filename]
        at = f" [at {Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].name}]" if frames else ""
        line = f"{type(exc).__name__}: {line}{at}"
    return line


def _ops_of(model) -> list[str]:
    pat = re.compile(r"^(.+?) \(operator \d+, .*\) is not costed")
    ops = [m.group(1) for w in model.warnings if (m := pat.match(w))]
    if not ops:  # the torch importer's wording
        ops = [re.sub(r" is not costed.*", "", w) for w in model.warnings if "not costed" in w]
    return ops


def _costs(model) -> dict:
    import learncost

    res = learncost.analyze(model, procedures=["bp"])
    kinds = {layer.name: layer.kind for layer in model.layers}
    counted = Counter()
    for lr in res.layers:
        if kinds.get(lr.name) in COUNTED:
            counted[kinds[lr.name]] += int(lr.macc["forward"])
    return {"layers": len(model.layers), "inference": int(res.row("bp", "inference").macc),
            "counted": sum(counted.values()), "counted_by_kind": dict(counted),
            "opaque": sum(layer.kind == "opaque" for layer in model.layers),
            "layers_by_kind": dict(Counter(layer.kind for layer in model.layers if layer.kind in COUNTED))}


def _import(load) -> dict:
    """load(allow_unsupported) -> Model: as-is, then with allow_unsupported where refused."""
    out: dict = {}
    t0 = time.time()
    model = None
    for allow, ok, error, code in ((False, "as_is", "error", "code"), (True, "allow", "allow_error", "allow_code")):
        try:
            model = load(allow)
            out[ok] = True
            break
        except Exception as exc:
            out.update({ok: False, error: _first_line(exc), code: getattr(exc, "code", type(exc).__name__)})
    out["import_s"] = round(time.time() - t0, 1)
    if model is not None:
        out["opaque_ops"] = _ops_of(model)
        try:
            out.update(_costs(model))
        except Exception as exc:
            out["analyze_error"] = _first_line(exc)
    return out


def run_one(item: dict) -> dict:
    import learncost

    src, path = item["source"], item.get("path")
    if src == "torchvision":
        import torch

        models = _torchvision()
        module = _build(models, item["name"])
        size = getattr(module, "image_size", None) or item["size"]  # ViT-H/14's weights are 518, the module 224
        shape = (1, 3, size, size)
        params = sum(p.numel() for p in module.parameters())
        out = {"params": params, "input": list(shape)}
        out.update(_import(lambda allow: learncost.from_torch(module, shape, name=item["name"],
                                                              allow_unsupported=allow)))
        if not out.get("as_is") and not str(out.get("code", "")).startswith("LC-") and params < 200e6:
            # not one of learncost's refusals: the same on a module built on the CPU (not a meta-device artefact)?
            real = _build(models, item["name"], meta=False)
            again = _import(lambda allow: learncost.from_torch(real, shape, name=item["name"], allow_unsupported=allow))
            out["on_cpu"] = "imports as-is" if again.get("as_is") else f"refused too: {again.get('error')}"
        try:
            out["independent"] = torch_count(module, shape)
        except Exception as exc:
            out["independent_error"] = _first_line(exc)
        return out
    if src == "onnx-export" and not Path(path).exists():
        import torch

        models = _torchvision()
        module = models.get_model(item["name"], weights=None).eval()
        size = _crop(models, item["name"])
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(module, (torch.zeros(1, 3, size, size),), path, dynamo=True, external_data=False)
    if Path(path).stat().st_size > item.get("max_mb", 60) * 1e6:
        return {"skip": f"file over {item.get('max_mb', 60):g} MB"}
    out = {"bytes": Path(path).stat().st_size}
    out.update(_import(lambda allow: learncost.load_model(path, allow_unsupported=allow)))
    try:
        if path.endswith(".onnx"):
            out["independent"] = onnx_count(path)
        elif path.endswith(".tflite"):
            out["independent"] = tflite_count(path)
        elif item.get("twin"):
            out["independent"] = tflite_count(item["twin"])
            out["independent"]["from"] = Path(item["twin"]).name
        else:
            out["independent_error"] = "no independent count for this file"
    except Exception as exc:
        out["independent_error"] = _first_line(exc)
    if src == "onnx-export":
        try:
            import torch

            models = _torchvision()
            module = _build(models, item["name"])
            size = _crop(models, item["name"])
            out["torch_count"] = torch_count(module, (1, 3, size, size))["count"]
        except Exception as exc:
            out["torch_count_error"] = _first_line(exc)
    return out


# -- the survey -------------------------------------------------------------------------------------

def _reason(r: dict) -> list[str]:
    """The refusal's reasons for the summary: each unsupported operator named once, else the message with
    the model's name and numbers left out."""
    msg = r.get("error", "")
    if r.get("code") == "LC-IMPORT-UNSUPPORTED-OP" or "unsupported operator(s):" in msg:
        listed = msg.split("unsupported operator(s):", 1)[-1].strip()
        ops = re.findall(r"(.+?) \(operator \d+\)(?:, |$)", listed)
        ops = ops or r.get("opaque_ops", [])
        custom = sorted(o for o in (r.get("independent") or {}).get("ops", {}) if o.startswith("CUSTOM:"))
        if "CUSTOM" in ops and custom:
            ops = [o for o in ops if o != "CUSTOM"] + custom
        # torch.fx get_attr nodes (a parameter or buffer the forward reads as a tensor) grouped under one name
        ops = ["get_attr (a module's parameter or buffer read directly)" if re.fullmatch(r"\w+(\.\w+)+", o) else o
               for o in ops]
        return sorted({f"unsupported {o}" for o in ops}) or ["unsupported operator"]
    text = re.sub(r"^[^:]{1,120}: ", "", msg)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\d+", "N", text)
    return [text[:140]]


def _verdict(r: dict) -> str:
    ind = r.get("independent")
    if "counted" not in r or not ind:
        return "-"
    diff = r["counted"] - ind["count"]
    if diff == 0:
        return "match"
    return f"{diff:+,}"


def _short(text: str, name: str = "", n: int = 160) -> str:
    text = text.replace("|", "/")
    head = text.split(": ", 1)
    if len(head) == 2 and (head[0] == name or re.fullmatch(r"[^ ]+\.(tflite|onnx|h5)", head[0])):
        text = head[1]  # the file or module the message names
    return text if len(text) <= n else text[:n - 1] + "…"


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


def row_text(item: dict, r: dict) -> str:
    if "skip" in item or "skip" in r:
        return f"| {item['source']} | {item['name']} | skipped: {item.get('skip') or r.get('skip')} | | | | | |"
    if r.get("as_is"):
        status = "yes"
    elif "crash" in r:
        status = f"survey error (not learncost): {_short(r['crash'])}"
    else:
        status = f"refused: {_short(r.get('error', '?'), item['name'])}"
    if r.get("as_is"):
        allow = "(not needed)"
    elif r.get("allow"):
        ops = Counter(r.get("opaque_ops", []))
        custom = sorted(o for o in (r.get("independent") or {}).get("ops", {}) if o.startswith("CUSTOM:"))
        if "CUSTOM" in ops and custom:
            ops[f"CUSTOM ({', '.join(c[7:] for c in custom)})"] = ops.pop("CUSTOM")
        allow = f"{r.get('opaque', 0)} opaque: " + ", ".join(f"{o} x{n}" if n > 1 else o for o, n in ops.items())
    else:
        allow = f"refused: {_short(r['allow_error'], item['name'])}" if "allow_error" in r else "-"
    ind = r.get("independent")
    ind_text = _fmt(ind["count"]) if ind else f"({r.get('independent_error', '-')})"
    extra = ""
    if "torch_count" in r:
        extra = f" (torch {_fmt(r['torch_count'])})"
    if r.get("on_cpu", "").startswith("imports"):
        extra += " (on the meta device only: a CPU-built module imports)"
    if r.get("analyze_error"):
        extra += f" analyze: {r['analyze_error']}"
    return (f"| {item['source']} | {item['name']} | {status} | {allow} | {r.get('layers', '-')} | "
            f"{_fmt(r.get('inference'))} | {_fmt(r.get('counted'))} | {ind_text}{extra} | {_verdict(r)} |")


def explain(item: dict, r: dict) -> str | None:
    """What the difference between learncost's count and the independent one is made of, where visible."""
    ind = r.get("independent")
    if not ind or "counted" not in r or r["counted"] == ind["count"]:
        return None
    ops = ind.get("ops", {})
    parts = [f"learncost {r['counted']:,} by kind {r.get('counted_by_kind')} (layers {r.get('layers_by_kind')})",
             f"independent {ind['count']:,} by op {ind.get('by_op')}"
             + (f" (operators {({o: n for o, n in ops.items() if o in ind.get('by_op', {})})})" if ops else "")]
    if r.get("opaque"):
        parts.append(f"opaque layers (zero cost): {sorted(set(r.get('opaque_ops', [])))}")
    if ind.get("unknown"):
        parts.append(f"nodes whose shapes onnx could not infer: {ind['unknown'][:5]}")
    if ind.get("subgraphs", 1) > 1:
        parts.append(f"{ind['subgraphs']} subgraphs (only the first counted)")
    return f"- {item['source']} / {item['name']}: " + "; ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=Path, default=Path("/work/survey-files"))
    ap.add_argument("--tflm-git", type=Path, default=Path("/work/.mirror/tensorflow+tflite-micro/repo"))
    ap.add_argument("--mlperf-dir", type=Path, default=Path("/work/shared/models/mlperf-tiny"))
    ap.add_argument("--sources", default="mediapipe,onnx,torchvision,tflm,mlperf,onnx-export")
    ap.add_argument("--only", default=None, help="only models whose name contains this")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--max-mb", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=None, help="also write the whole output (markdown) here")
    ap.add_argument("--json", type=Path, default=None, help="also write every record as JSON here")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.one:  # the child: one model, its record as the last line of stdout
        import warnings

        warnings.filterwarnings("ignore")
        item = json.loads(args.one)
        try:
            record = run_one(item)
        except Exception as exc:
            record = {"crash": f"{type(exc).__name__}: {_first_line(exc)}"}
        print("\n@@RESULT@@" + json.dumps(record))
        return 0

    sources = args.sources.split(",")
    args.files.mkdir(parents=True, exist_ok=True)
    items: list[dict] = []
    for s in sources:
        items += {"mediapipe": lambda: gather_mediapipe(args.files), "onnx": gather_onnx,
                  "torchvision": gather_torchvision, "tflm": lambda: gather_tflm(args.files, args.tflm_git),
                  "mlperf": lambda: gather_mlperf(args.mlperf_dir),
                  "onnx-export": lambda: gather_exports(args.files)}[s]()
    for i in items:
        i["max_mb"] = args.max_mb
    if args.only:
        items = [i for i in items if args.only in i["name"]]

    lines: list[str] = []

    def emit(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    emit("| source | model | imports as-is | with allow_unsupported | layers | inference MACC | "
         "conv/dense/matmul MACC | independent count | match |")
    emit("|---|---|---|---|---|---|---|---|---|")
    records = []
    for item in items:
        r: dict = {}
        if "skip" not in item and item.get("path") and Path(item["path"]).exists() and \
                Path(item["path"]).stat().st_size > args.max_mb * 1e6:
            r = {"skip": f"file over {args.max_mb:g} MB"}
        elif "skip" not in item:
            t0 = time.time()
            try:
                proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", json.dumps(item)],
                                      capture_output=True, text=True, timeout=args.timeout)
                tail = proc.stdout.rsplit("@@RESULT@@", 1)
                if len(tail) == 2:
                    r = json.loads(tail[1])
                else:
                    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    r = {"crash": f"exit {proc.returncode}: {err[:200]}"}
            except subprocess.TimeoutExpired:
                r = {"skip": f"over the {args.timeout:g} s timeout"}
            r["seconds"] = round(time.time() - t0, 1)
        records.append((item, r))
        emit(row_text(item, r))

    # summary by source
    emit()
    emit("| source | models | imported as-is | with allow_unsupported | refused even so | skipped | "
         "independent count matches | differs | no count |")
    emit("|---|---|---|---|---|---|---|---|---|")
    by_source = defaultdict(list)
    for item, r in records:
        by_source[item["source"]].append((item, r))
    totals = Counter()
    for s, group in [*by_source.items(), ("all", records)]:
        c = Counter()
        for item, r in group:
            c["models"] += 1
            if "skip" in item or "skip" in r:
                c["skipped"] += 1
                continue
            if r.get("as_is"):
                c["as_is"] += 1
            elif r.get("allow"):
                c["allow"] += 1
            else:
                c["refused"] += 1
            v = _verdict(r)
            c["match" if v == "match" else "no count" if v == "-" else "differs"] += 1
        emit(f"| {s} | {c['models']} | {c['as_is']} | {c['allow']} | {c['refused']} | {c['skipped']} | "
             f"{c['match']} | {c['differs']} | {c['no count']} |")
        if s == "all":
            totals = c
    emit()
    emit(f"Refused as-is: {totals['allow'] + totals['refused']} of {totals['models'] - totals['skipped']} run. "
         "Reasons (a model with several unsupported operators counts once under each):")
    emit()
    reasons = Counter()
    where = defaultdict(list)
    for item, r in records:
        if r and not r.get("as_is") and "skip" not in r and "skip" not in item:
            for reason in _reason(r) if "error" in r else [f"crash: {r.get('crash', '?')}"]:
                reasons[reason] += 1
                where[reason].append(item["name"])
    for reason, n in reasons.most_common():
        names = ", ".join(where[reason][:6]) + (", ..." if len(where[reason]) > 6 else "")
        emit(f"- {n} x {reason} ({names})")
    emit()
    emit("Differences from the independent count:")
    emit()
    for item, r in records:
        text = explain(item, r)
        if text:
            emit(text)
    skipped = [(i, r) for i, r in records if "skip" in i or "skip" in r]
    if skipped:
        emit()
        emit("Skipped: " + "; ".join(f"{i['source']}/{i['name']} ({i.get('skip') or r.get('skip')})"
                                     for i, r in skipped))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
    if args.json:
        args.json.write_text(json.dumps([{"item": i, "result": r} for i, r in records], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
