"""``.xlsx`` / ``.ods``: the analysis as a live workbook, in the spirit of the paper's sheet.

Per-layer hyperparameters (filters or units, kernel, stride, padding, element sizes), the
input shape, each board's clock, cycles/MACC, SRAM and flash, the dataset's epochs and
samples, and the setup's choices that arithmetic can follow (the bits of each tensor role,
the batch and micro-batch, the optimizer's MACC per parameter, whether errors count, each
layer's trained channel ratio and whether its bias is trained) are plain cells. Everything
else is a formula over them: each layer's input and output shape (read from the layer that
feeds it), weights, biases and activation bytes, its trained channels, the MACC of every
operation, each memory rule's candidate totals or each schedule's tensors and live bytes per
step, and every total, RAM, latency, training-time and fit cell. Edit conv1's filters, a
board's cycles/MACC or the error bits and the whole workbook recomputes as learncost would.
Which layers are on the backward path, and which tensors a schedule holds, follow the setup
as it was when the workbook was written (they are structure, not arithmetic).

The MACC formulas are not written by hand: each registered cost formula is run once on
symbolic cells (``Cell``), so the workbook states exactly what the Python formula computes.
Every formula cell also stores learncost's own figure as its cached value, which is what a
spreadsheet shows before it recalculates.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from ..analysis import Analysis
from ..engines import PAPER, kind_class
from ..costs import OPERATIONS, OPS
from ..costs.formulas import SELECTING_KINDS
from ..costs.registry import PAPER_LIKE, XCUBEAI, formulas_for, model_formula_for
from ..dtypes import dtype_bytes
from ..ir import Dims, Layer
from ..layers import HEAD_KINDS
from ..memory import CANDIDATES
from ..procedures import WHERE
from ..setups import ROLES, WORKING_ROLES

# layer sheet columns: hyperparameters (inputs), then derived shape, sizes and MACC (formulas)
INPUT_COLS = ["name", "kind", "inputs", "filters/units", "H_ker", "W_ker", "H_stride", "W_stride", "pad_top",
              "pad_bottom", "pad_left", "pad_right", "depth_multiplier", "act_bytes", "weight_bytes", "bias_bytes",
              "weight_ratio", "bias_trained"]
SHAPE_COLS = ["C_in", "H_in", "W_in", "H_out", "W_out", "C_out", "elements", "activation_B", "weights", "biases",
              "params_B", "trained_channels", "trained_params"]
LAYER_COLS = INPUT_COLS + SHAPE_COLS + list(OPERATIONS)
FEATURE_MAP_KINDS = {"conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d"}


#: the engine rate classes and their columns in the settings sheet (after mcu .. source, engine)
RATE_CLASSES = ("conv", "depthwise", "dense")
RATE_COLS = {cls: 7 + k for k, cls in enumerate(RATE_CLASSES)}


def col_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


@dataclass
class Formula:
    text: str  # Excel syntax without the leading '='
    value: Any  # learncost's figure: the cached value


@dataclass
class Sheet:
    name: str
    rows: list[list[Any]] = field(default_factory=list)  # str/int/float/bool/None or Formula

    def ref(self, row: int, col: int, *, absolute: bool = False, sheet: bool = True) -> str:
        """A1 reference of 0-based (row, col)."""
        d = "$" if absolute else ""
        cell = f"{d}{col_letter(col)}{d}{row + 1}"
        return f"{self.name}!{cell}" if sheet else cell


class Cell:
    """A symbolic spreadsheet value: arithmetic on it builds a formula. Running a registered
    cost formula on these gives the formula's spreadsheet form."""

    def __init__(self, text: str, sum_: bool = False):
        self.text = text
        self.sum = sum_  # a top-level '+': parenthesised inside a product

    @staticmethod
    def _factor(x) -> str:
        if isinstance(x, Cell):
            return f"({x.text})" if x.sum else x.text
        return repr(x)

    def __mul__(self, other):
        if isinstance(other, int) and other == 1:
            return self
        return Cell(f"{self._factor(self)}*{self._factor(other)}")

    __rmul__ = __mul__

    def __add__(self, other):
        return Cell(f"{_text(self)}+{_text(other)}", sum_=True)

    __radd__ = __add__


class _LayerRows:
    """Where each layer's cells are on its model's layer sheet."""

    def __init__(self, sheet: Sheet, model):
        self.sheet = sheet
        self.row = {layer.name: k + 1 for k, layer in enumerate(model.layers)}  # row 0 is the header

    def cell(self, layer: str, col: str, *, sheet: bool = False) -> str:
        return self.sheet.ref(self.row[layer], LAYER_COLS.index(col), sheet=sheet)


def _vector_mapped(layer: Layer) -> bool:
    """Layers whose Dims use the fully-connected mapping (H = all elements, W = C = 1)."""
    src = layer.input_shapes[0] if layer.input_shapes else layer.output_shape
    return not (len(layer.output_shape) == 3 and len(src) == 3)


def _hwc(shape) -> tuple[int, int, int]:
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else (math.prod(shape), 1, 1)


class _Setup:
    """The setup sheet: the setup's arithmetic choices as cells."""

    FIELDS = ("batch", "micro_batch", "optimizer_macc", "errors_counted")

    def __init__(self, setup):
        from ..costs.formulas import OPTIMIZER_MACC

        self.setup = setup
        self.sheet = Sheet("setup")
        self.sheet.rows.append(["field", "value", "note"])
        self.row: dict[str, int] = {}
        values = {"batch": setup.batch, "micro_batch": setup.micro, "optimizer_macc": OPTIMIZER_MACC[setup.optimizer],
                  "errors_counted": 1 if setup.count_errors else 0}
        notes = {"batch": "samples per optimizer step", "micro_batch": "samples processed together",
                 "optimizer_macc": f"MACC per trained parameter of one {setup.optimizer} step",
                 "errors_counted": "1: error buffers count in RAM"}
        for name in self.FIELDS:
            self.row[name] = len(self.sheet.rows)
            self.sheet.rows.append([name, values[name], notes[name]])
        for role in ROLES:
            self.row[role] = len(self.sheet.rows)
            bits = setup.bits(role)
            self.sheet.rows.append([f"bits[{role}]", bits, "the model's dtypes" if bits is None else "bits per element"])
        self.sheet.rows.append(["setup", setup.key, setup.name])

    def ref(self, name: str) -> str:
        return self.sheet.ref(self.row[name], 1, absolute=True)

    def bytes_per_element(self, role: str) -> str:
        return f"{self.ref(role)}/8"


def _layer_sheet(a: Analysis, sheet: Sheet, st: _Setup) -> _LayerRows:
    m = a.model
    at = _LayerRows(sheet, m)
    sheet.rows.append(list(LAYER_COLS))
    setup = a.setup

    def c(layer_name: str, col: str) -> str:
        return at.cell(layer_name, col)

    def element_bytes(role: str, dtype: str):
        bits = setup.bits(role)
        return dtype_bytes(dtype) if bits is None else Formula(st.bytes_per_element(role), bits / 8)

    plan = a.evaluator.plan
    for layer, lr in zip(m.layers, a.layers):
        r = at.row[layer.name]
        kernel = layer.kernel or (1, 1)
        stride = layer.stride or (1, 1)
        pads = layer.padding or (0, 0, 0, 0)
        hyper = layer.output_shape[-1] if layer.kind == "conv2d" else \
            layer.output_shape[0] if layer.kind == "dense" else None
        depth = layer.output_shape[2] // layer.input_shapes[0][2] if layer.kind == "depthwise_conv2d" else None
        window: list[Any] = [*kernel, *stride]
        if _global_pool(layer):  # the window is the whole input, whatever size it becomes
            window = [Formula(c(layer.name, f), v) for f, v in zip(("H_in", "W_in", "H_in", "W_in"), window)]
        u = plan.of(layer.name)
        row: list[Any] = [layer.name, layer.kind, ", ".join(layer.inputs), hyper, *window, *pads, depth,
                          element_bytes("activation", layer.dtype), element_bytes("weight", layer.weight_dtype),
                          element_bytes("bias", layer.bias_dtype),
                          u.ratio if layer.has_weights else None, (1 if u.bias else 0) if layer.biases else None]
        h_out, w_out, c_out = _hwc(layer.output_shape)
        if layer.kind == "input":
            row += [None, None, None, h_out, w_out, c_out]
        else:
            src = layer.inputs[0]
            vector = _vector_mapped(layer)
            if vector:
                c_in, h_in, w_in = 1, Formula(c(src, "elements"), math.prod(layer.input_shapes[0])), 1
            else:
                c_in = Formula(c(src, "C_out"), layer.input_shapes[0][2])
                h_in = Formula(c(src, "H_out"), layer.input_shapes[0][0])
                w_in = Formula(c(src, "W_out"), layer.input_shapes[0][1])
            row += [c_in, h_in, w_in, *_output_shape(layer, vector, lambda col: c(layer.name, col), c)]
        own = lambda col: c(layer.name, col)  # noqa: E731
        row.append(Formula(f"{own('H_out')}*{own('W_out')}*{own('C_out')}", layer.output_elements))
        row.append(Formula(f"ROUNDUP({own('elements')}*{own('act_bytes')},0)", lr.activations_bytes))
        weights = {"conv2d": f"{own('H_ker')}*{own('W_ker')}*{own('C_in')}*{own('C_out')}",
                   "depthwise_conv2d": f"{own('H_ker')}*{own('W_ker')}*{own('C_out')}",
                   "dense": f"{own('H_in')}*{own('H_out')}"}.get(layer.kind)
        row.append(Formula(weights, layer.weights) if weights and layer.weights else layer.weights)
        bias_count = own("H_out") if layer.kind == "dense" else own("C_out")
        row.append(Formula(bias_count, layer.biases) if layer.biases else 0)
        row.append(Formula(f"ROUNDUP({own('weights')}*{own('weight_bytes')},0)+ROUNDUP({own('biases')}*"
                           f"{own('bias_bytes')},0)", lr.params_bytes))
        if layer.has_weights:
            count = {"conv2d": own("C_in"), "depthwise_conv2d": own("C_out")}.get(layer.kind, own("H_in"))
            row.append(Formula(f"INT({count}*{own('weight_ratio')})", int(u.channels)))
            per = {"conv2d": f"{own('C_out')}*{own('trained_channels')}*{own('H_ker')}*{own('W_ker')}",
                   "depthwise_conv2d": f"{own('trained_channels')}*{own('H_ker')}*{own('W_ker')}",
                   "dense": f"{own('trained_channels')}*{own('H_out')}"}[layer.kind]
            bias = f"+{own('bias_trained')}*{own('biases')}" if layer.biases else ""
            row.append(Formula(f"{per}{bias}", plan.trained_params(layer)))
        else:
            row += [0, 0]
        row += _macc_cells(a, layer, lr.macc, own, c, st)
        assert len(row) == len(LAYER_COLS), (layer.name, len(row))
        sheet.rows.append(row)
        assert len(sheet.rows) == r + 1
    return at


def _global_pool(layer: Layer) -> bool:
    return (layer.kind in ("avg_pool2d", "max_pool2d") and len(layer.input_shapes[0]) == 3
            and layer.kernel == tuple(layer.input_shapes[0][:2]) == layer.stride and not any(layer.padding or ()))


def _output_shape(layer: Layer, vector: bool, own, c) -> list[Any]:
    """H_out, W_out, C_out of a layer as formulas of its hyperparameters and its input's cells."""
    h, w, ch = _hwc(layer.output_shape)
    if layer.kind in FEATURE_MAP_KINDS:
        kernel_h, kernel_w = own("H_ker"), own("W_ker")
        c_out = {"conv2d": own("filters/units"), "depthwise_conv2d": f"{own('C_in')}*{own('depth_multiplier')}"}.get(
            layer.kind, own("C_in"))
        return [Formula(f"INT(({own('H_in')}+{own('pad_top')}+{own('pad_bottom')}-{kernel_h})/{own('H_stride')})+1", h),
                Formula(f"INT(({own('W_in')}+{own('pad_left')}+{own('pad_right')}-{kernel_w})/{own('W_stride')})+1", w),
                Formula(c_out, ch)]
    if layer.kind == "pad":
        return [Formula(f"{own('H_in')}+{own('pad_top')}+{own('pad_bottom')}", h),
                Formula(f"{own('W_in')}+{own('pad_left')}+{own('pad_right')}", w), Formula(own("C_in"), ch)]
    if layer.kind == "dense":
        return [Formula(own("filters/units"), h), 1, 1]
    if layer.kind == "concat":
        return [Formula(own("H_in"), h), Formula(own("W_in"), w),
                Formula("+".join(c(src, "C_out") for src in layer.inputs), ch)]
    if layer.kind in ("flatten",) or (vector and layer.kind in ("add", "softmax", "quantize", "dequantize")):
        return [Formula(own("H_in"), h), 1, 1]
    if layer.kind in ("add", "softmax", "quantize", "dequantize"):
        return [Formula(own("H_in"), h), Formula(own("W_in"), w), Formula(own("C_in"), ch)]
    return [h, w, ch]  # reshape to a stated shape, opaque operators: as the file states


def _macc_cells(a: Analysis, layer: Layer, maccs: dict[str, int], own, c, st: _Setup) -> list[Any]:
    """Each operation's MACC on the layer: the registered formula run on symbolic cells, gated and
    scaled as ``costs.ops`` does (the trained channels replace C_in, C_out or H_in in the weight
    gradient; the bias, optimizer and accumulation cells read the trained parameters)."""
    fields = ("C_in", "C_out", "H_in", "W_in", "H_out", "W_out", "H_ker", "W_ker", "H_stride", "W_stride")
    dims = Dims(**{f: Cell(own(f)) for f in fields})
    proxy = SimpleNamespace(output_elements=Cell(own("elements")), inputs=layer.inputs, kind=layer.kind,
                            name=layer.name)
    registered = formulas_for(layer.kind)
    plan = a.evaluator.plan
    paper = a.setup.convention in PAPER_LIKE
    name = layer.name

    def geometric(op: str, d: Dims = dims):
        fn = registered.get(op)
        return 0 if fn is None else Formula(_text(fn(d, proxy)), maccs[op])

    cells: dict[str, Any] = dict.fromkeys(OPERATIONS, 0)
    if paper or layer.kind not in HEAD_KINDS:
        cells["forward"] = geometric("forward")
    if a.setup.convention == XCUBEAI and layer.biases and cells["forward"]:
        cells["forward"] = Formula(f"{cells['forward'].text}+{own('biases')}", maccs["forward"])
    if plan.needs_input_error[name] and plan.output_error[name]:
        cells["backward"] = geometric("backward")
    if layer.has_weights:
        channel = {"conv2d": "C_in", "depthwise_conv2d": "C_out"}.get(layer.kind, "H_in")
        cells["weight_update"] = geometric("weight_update", replace(dims, **{channel: Cell(own("trained_channels"))}))
        cells["goodness"] = geometric("goodness")
        if paper or plan.feeds_weights[name]:
            cells["normalization"] = geometric("normalization")
    if not paper:
        if layer.has_weights and layer.biases:
            cells["bias_gradient"] = Formula(f"{own('bias_trained')}*{own('elements')}", maccs["bias_gradient"])
        if plan.trained(name):
            cells["local_error"] = Formula(own("elements"), maccs["local_error"])
        if layer.has_weights:
            cells["optimizer"] = Formula(f"{own('trained_params')}*{st.ref('optimizer_macc')}", maccs["optimizer"])
            cells["gradient_accumulation"] = Formula(own("trained_params"), maccs["gradient_accumulation"])
            # g = s z is formed only for an optimizer that reads the gradient (more than SGD's one MACC)
            cells["gradient_estimate"] = Formula(f"{own('trained_params')}*({st.ref('optimizer_macc')}>1)",
                                                 maccs["gradient_estimate"])
        if maccs["gradient_sum"]:
            senders = maccs["gradient_sum"] // layer.output_elements
            cells["gradient_sum"] = Formula(f"{own('elements')}*{senders}", maccs["gradient_sum"])
    m = a.model
    model = SimpleNamespace(output=SimpleNamespace(output_elements=Cell(c(m.output.name, "elements"))),
                            input_elements=sum((Cell(c(i.name, "elements")) for i in m.inputs[1:]),
                                               Cell(c(m.input.name, "elements"))))
    if layer is m.output:
        cells["error"] = Formula(_text(model_formula_for("error")(model)), maccs["error"])
    if layer is m.input:
        cells["projection"] = Formula(_text(model_formula_for("projection")(model)), maccs["projection"])
        if not paper and a.setup.feedback == "regenerated":
            cells["feedback_generation"] = Formula(_text(model_formula_for("feedback_generation")(model)),
                                                   maccs["feedback_generation"])
    # the other procedures' defining work, over the same cells (costs/formulas.py states each)
    col = {op: own(op) for op in ("forward", "weight_update")}
    classes = c(m.output.name, "elements")
    u = plan.of(name)
    if (u.weights or u.bias) and layer is not plan.logits:
        for op in ("error_projection", "target_projection"):
            cells[op] = Formula(f"{own('elements')}*{classes}", maccs[op])
    if name in plan.readout_inputs:  # FF's readout on this activity: classes x its elements (formulas.readout_product)
        product = f"{own('elements')}*{classes}"
        cells["readout"] = Formula(product, maccs["readout"])
        cells["readout_gradient"] = Formula(product, maccs["readout_gradient"])
        if not paper:
            cells["readout_step"] = Formula(f"{product}*{st.ref('optimizer_macc')}", maccs["readout_step"])
            cells["readout_accumulation"] = Formula(product, maccs["readout_accumulation"])
    if name in plan.recomputed and maccs["recompute"]:
        cells["recompute"] = Formula(col["forward"], maccs["recompute"])
    selects = layer.kind in SELECTING_KINDS
    parts = ([col["forward"]] if plan.needs_input_error[name] and cells["forward"] != 0 and not selects else []) + \
        ([col["weight_update"]] if u.weights else []) + ([own("elements")] if u.bias else [])
    if parts and plan.output_error[name]:
        cells["tangent"] = Formula("+".join(parts), maccs["tangent"])
    if u.weights or u.bias:
        cells["perturbation"] = cells["random_generation"] = Formula(own("trained_params"), maccs["perturbation"])
    for op in OPERATIONS:  # anything else: its figure, where no formula is written
        if not isinstance(cells[op], Formula) and cells[op] == 0 and maccs[op]:
            cells[op] = maccs[op]
    return [cells[op] for op in OPERATIONS]


def _constant(extra) -> str:
    """Parameters beyond the model's layers (FF's readout), added to their sum as learncost's figure."""
    return f"+{extra}" if extra else ""


def _text(x) -> str:
    return x.text if isinstance(x, Cell) else str(x)


def _ranges(sheet: Sheet, rows: list[int], col: int) -> str:
    """``SUM`` arguments covering ``rows`` (sorted, 0-based) of one column: contiguous runs as ranges."""
    runs: list[tuple[int, int]] = []
    for r in rows:
        if runs and runs[-1][1] == r - 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    letter = col_letter(col)
    return ",".join(f"{sheet.name}!{letter}{lo + 1}" + (f":{letter}{hi + 1}" if hi > lo else "") for lo, hi in runs)


def _sheet_name(key: str, suffix: str) -> str:
    base = re.sub(r"\W", "_", key)[:20] or "model"
    return f"{'m_' if base[0].isdigit() else ''}{base}_{suffix}"


@dataclass
class Book:
    sheets: list[Sheet]


def build(analyses: list[Analysis]) -> Book:
    """The workbook of one or more analyses (the same boards and setup in each)."""
    from ..errors import LearncostError
    from ..layers import spreadsheet_gap

    for a in analyses:  # kinds beyond the sheet's need columns the workbook does not have yet
        for layer in a.model.layers:
            if spreadsheet_gap(layer):
                raise LearncostError(f"layer {layer.name!r} is {spreadsheet_gap(layer)}, which the workbook's formulas "
                                     "do not express yet", hint="use .csv/.json/.md/.html for this model")
    mcus = analyses[0].mcus
    settings = Sheet("settings")
    settings.rows.append(["mcu", "clock_mhz", "cycles_per_macc", "sram_kb", "flash_kb", "source", "engine",
                          *(f"{cls}_cycles_per_macc" for cls in RATE_CLASSES)])
    board_row = {}
    for m in mcus:
        board_row[m.id] = len(settings.rows)
        r = analyses[0].rates.get(m.id)
        settings.rows.append([m.id, m.clock_mhz, m.cycles_per_macc, m.sram_kb, m.flash_kb, m.source,
                              r and r.engine, *((r.cycles_per_macc[cls] if r else None) for cls in RATE_CLASSES)])
    settings.rows.append([])
    settings.rows.append(["model", "dataset", "epochs", "samples", "passes"])
    st = _Setup(analyses[0].setup)
    sheets = [settings, st.sheet]
    totals = Sheet("totals")
    totals.rows.append(["model", "procedure", "phase", "MACC", "activations_B", "params_B", "RAM_B", "memory_rule",
                        *(f"{kind}[{m.id}]" for m in mcus for kind in ("latency_ms", "train_hours", "fits"))])
    for a in analyses:
        layers = Sheet(_sheet_name(a.model_key, "layers"))
        at = _layer_sheet(a, layers, st)
        sheets.append(layers)
        if a.evaluator.accounting == "paper":
            memory, rule_cells = _memory_sheet(a, at, Sheet(_sheet_name(a.model_key, "memory")))
            sheets.append(memory)
            mem_cells = {(r.procedure, r.phase): _paper_memory(a, r, rule_cells) for r in a.rows}
        else:
            tensors, steps, mem_cells = _schedule_sheets(a, at, st)
            sheets += [tensors, steps]
        m = a.model
        srow = len(settings.rows)
        ds = a.dataset
        passes = Formula(at.cell(m.output.name, "elements", sheet=True), m.classes) if m.supervised else 1
        settings.rows.append([a.model_key, ds.id if ds else None, ds.epochs if ds else None,
                              ds.samples if ds else None, passes])
        _totals(a, at, totals, mem_cells, settings, srow, board_row, st)
    sheets.append(totals)
    return Book(sheets)


def _paper_memory(a: Analysis, r, rule_cells: dict[str, str]) -> tuple[str, bool]:
    """(activation cell formula, whether parameters are added) of a row under the paper's rules."""
    phase = a.procedures[r.procedure].phase(r.phase)
    rule = phase.memory_rule(a.model.supervised)
    if rule is None:  # the schedule's live peak: a figure, not a formula over the rule sheet
        return str(r.activations_bytes), phase.params_in_ram
    return rule_cells[rule], phase.params_in_ram


def _element_tensor(t, sizes) -> tuple[str, str] | None:
    """(layer whose elements, role whose bytes per element) make a tensor's size, if it is that simple."""
    name = t.name.removesuffix(" (modulated)")
    if t.role in ("activation", "saved") and name in sizes.bufs.sizes:
        return name, t.role
    if t.role in ("error", "mask") and t.layer and t.name.startswith(("error ", "mask ", "local error ", "h - h_mod ")):
        return t.layer, t.role
    return None


def _schedule_sheets(a: Analysis, at: _LayerRows, st: _Setup):
    """Every schedule's tensors (bytes a formula of the layer's elements, the micro-batch and the
    role's bits where the size is that simple) and, per step, the counted bytes live at it."""
    from ..schedules import build as build_schedule

    from ..planners import TFLM_ALIGNMENT

    ev = a.evaluator
    tensors = Sheet(_sheet_name(a.model_key, "tensors"))
    tensors.rows.append(["key", "tensor", "role", "first", "last", "bytes", "counted", "working", "resident",
                         "aligned"])
    steps = Sheet(_sheet_name(a.model_key, "steps"))
    steps.rows.append(["key", "step", "label", "live_B", "working_B", "planned_B"])
    cells: dict[tuple[str, str], tuple[str, str]] = {}
    pending = []
    for r in a.rows:
        proc = a.procedures[r.procedure]
        key = f"{r.procedure}|{r.phase}"
        if r.memory_accounting == "saved-for-backward":
            mem = ev.memory(proc, r.phase)
            sched_tensors = [SimpleNamespace(name=f"{role} (saved for backward)", role=role, bytes=b, first=0, last=0,
                                             layer=None) for role, b in mem.by_role.items()]
            resident: set[int] = set()
            labels = ["saved for backward"]
        else:
            sched = build_schedule(proc, r.phase, a.model, ev.plan, ev.sizes)
            sched_tensors = sched.persistent + sched.tensors
            resident = {id(t) for t in sched.persistent}
            labels = sched.steps
        first_row = len(tensors.rows)
        samples = st.ref("micro_batch") if r.phase == "training" else "1"
        for t in sched_tensors:
            simple = _element_tensor(t, ev.sizes)
            if simple:
                layer, role = simple
                per = at.cell(layer, "act_bytes", sheet=True) if role in ("activation", "saved") and \
                    a.setup.bits(role) is None else st.bytes_per_element(role)
                size: Any = Formula(f"ROUNDUP({at.cell(layer, 'elements', sheet=True)}*{samples}*{per},0)", t.bytes)
            else:
                size = t.bytes
            counted = Formula(st.ref("errors_counted"), 1 if a.setup.count_errors else 0) if t.role == "error" else 1
            row = len(tensors.rows)
            kept = 1 if id(t) in resident else 0
            aligned = Formula(f"IF({tensors.ref(row, 8, sheet=False)}=1,0,CEILING({tensors.ref(row, 5, sheet=False)},"
                              f"{TFLM_ALIGNMENT}))", 0 if kept else -(-int(t.bytes) // TFLM_ALIGNMENT) * TFLM_ALIGNMENT)
            tensors.rows.append([key, t.name, t.role, t.first, t.last, size, counted,
                                 1 if t.role in WORKING_ROLES else 0, kept, aligned])
        last_row = len(tensors.rows) - 1
        pending.append((r, key, labels, first_row, last_row))
    for r, key, labels, first_row, last_row in pending:
        rng = lambda col: f"{tensors.name}!${col}${first_row + 1}:${col}${last_row + 1}"  # noqa: E731
        step_first = len(steps.rows)
        for k, label in enumerate(labels):
            krow = len(steps.rows)
            kref = steps.ref(krow, 1, sheet=False)
            crit = f'{rng("D")},"<="&{kref},{rng("E")},">="&{kref},{rng("G")},1'
            steps.rows.append([key, k, label, Formula(f"SUMIFS({rng('F')},{crit})", None),
                               Formula(f'SUMIFS({rng("F")},{crit},{rng("H")},1)', None),
                               Formula(f'SUMIFS({rng("J")},{crit})', None)])
        step_last = len(steps.rows) - 1
        col = lambda c: f"{steps.name}!${c}${step_first + 1}:${c}${step_last + 1}"  # noqa: E731
        live, work, planned = col("D"), col("E"), col("F")
        if r.memory_accounting == "arena":
            # the arena's placement is no formula: its fragmentation at the written sizes is a value
            layout = ev.layout(a.procedures[r.procedure], r.phase)[1]
            kept = f'SUMIFS({rng("F")},{rng("I")},1,{rng("G")},1)'
            cells[(r.procedure, r.phase)] = (f"MAX({planned})+{layout.fragmentation}+{kept}",
                                             f"INDEX({work},MATCH(MAX({planned}),{planned},0))")
        else:
            cells[(r.procedure, r.phase)] = (f"MAX({live})", f"INDEX({work},MATCH(MAX({live}),{live},0))")
    return tensors, steps, cells


def _memory_sheet(a: Analysis, at: _LayerRows, sheet: Sheet) -> tuple[Sheet, dict[str, str]]:
    """One column per memory rule the procedures use: a row per candidate moment (its buffers'
    activation bytes summed, plus the largest of the extra ones); the rule is their maximum."""
    m = a.model
    bufs = a.evaluator.sizes.bufs
    rules = [rule for rule in dict.fromkeys(a.procedures[r.procedure].phase(r.phase).memory_rule(m.supervised)
                                            for r in a.rows) if rule is not None]
    columns = {rule: CANDIDATES[rule](bufs) for rule in rules}
    depth = max((len(c) for c in columns.values()), default=0)
    sheet.rows.append(["at", *rules])
    for k in range(depth):
        row: list[Any] = [None]
        for rule in rules:
            cands = columns[rule]
            if k >= len(cands):
                row.append(None)
                continue
            cand = cands[k]
            row[0] = row[0] or cand.at
            refs = [at.cell(n, "activation_B", sheet=True) for n in cand.buffers]
            text = "+".join(refs) if refs else "0"
            value = sum(bufs.every[n] for n in cand.buffers)
            if cand.plus_largest_of:
                extra = [at.cell(n, "activation_B", sheet=True) for n in cand.plus_largest_of]
                text += f"+MAX({','.join(extra)})"
                value += max(bufs.every[n] for n in cand.plus_largest_of)
            row.append(Formula(text, value))
        sheet.rows.append(row)
    cells = {}
    for j, rule in enumerate(rules, start=1):
        first, last = sheet.ref(1, j), sheet.ref(len(columns[rule]), j, sheet=False)
        cells[rule] = f"MAX({first}:{last})"
    return sheet, cells


def _totals(a: Analysis, at: _LayerRows, totals: Sheet, mem_cells: dict, settings: Sheet, srow: int,
            board_row: dict[str, int], st: _Setup) -> None:
    m = a.model
    ev = a.evaluator
    layer_rows = [at.row[layer.name] for layer in m.layers]
    params_sum = f"SUM({_ranges(at.sheet, layer_rows, LAYER_COLS.index('params_B'))})"
    passes = settings.ref(srow, 4)
    epochs, samples = settings.ref(srow, 2), settings.ref(srow, 3)
    def terms(phase, r, kinds=None) -> list[str]:
        """The row's MACC as cell sums, over the layers of ``kinds`` (a rate class) or all of them."""
        parts = []
        for term in phase.terms:
            pick = WHERE[term.where] if term.where else (lambda plan, layer: True)
            rows = [at.row[layer.name] for layer in m.layers if pick(ev.plan, layer)
                    and (kinds is None or kind_class(layer.kind) == kinds)]
            if not rows:
                continue
            times = passes if term.times == "classes" else str(ev.times(phase, term))
            if times == "0" or (a.setup.convention in PAPER_LIKE and not OPS[term.op].paper):
                continue
            total = f"SUM({_ranges(at.sheet, rows, LAYER_COLS.index(term.op))})"
            if r.phase == "training" and OPS[term.op].per == "sample":
                total += f"*{st.ref('batch')}"
            parts.append(total if times == "1" else f"{times}*{total}")
        return parts

    for r in a.rows:
        phase = a.procedures[r.procedure].phase(r.phase)
        parts = terms(phase, r)
        k = len(totals.rows)
        col = {name: j for j, name in enumerate(totals.rows[0])}
        ref = lambda name: totals.ref(k, col[name], sheet=False)  # noqa: E731
        if r.memory_accounting == "paper":
            act, with_params = mem_cells[(r.procedure, r.phase)]
            ram = f"{ref('activations_B')}+{ref('params_B')}" if with_params else ref("activations_B")
        else:
            ram, act = mem_cells[(r.procedure, r.phase)]
        row: list[Any] = [a.model_key, r.procedure, r.phase, Formula("+".join(parts) or "0", r.macc),
                          Formula(act, r.activations_bytes), Formula(params_sum + _constant(r.params_bytes - a.evaluator.sizes.all_params()), r.params_bytes),
                          Formula(ram, r.ram_bytes), r.memory_rule]
        per_sample = f"{ref('MACC')}/{st.ref('batch')}" if r.phase == "training" else ref("MACC")
        flash_need = ref("params_B") + ("" if r.flash_bytes == r.params_bytes else f"+{r.flash_bytes - r.params_bytes}")
        for mcu in a.mcus:
            b = board_row[mcu.id]
            clock, cycles = settings.ref(b, 1), settings.ref(b, 2)
            sram, flash = settings.ref(b, 3), settings.ref(b, 4)
            latency = r.latency_ms[mcu.id]
            rates = a.rates.get(mcu.id)
            if latency is not None and rates is not None and rates.engine != PAPER:
                # the engine's rates by kind (settings), each over its layers' MACC (engines.cycles)
                weighted = [f"{settings.ref(b, RATE_COLS[cls])}*({'+'.join(cls_parts)})" for cls in RATE_CLASSES
                            if (cls_parts := terms(phase, r, cls))]
                batch = f"/{st.ref('batch')}" if r.phase == "training" else ""
                row.append(Formula(f"({'+'.join(weighted) or '0'}){batch}/({clock}*1000)", latency))
            else:
                row.append(None if latency is None else
                           Formula(f"{per_sample}*{cycles}/({clock}*1000000)*1000", latency))
            hours = (r.train_hours or {}).get(mcu.id)
            row.append(None if hours is None else
                       Formula(f"{ref(f'latency_ms[{mcu.id}]')}/1000*{epochs}*{samples}/3600", hours))
            fits = r.fit[mcu.id].fits
            row.append(None if fits is None else
                       Formula(f"AND({ref('RAM_B')}<={sram}*1024,{flash_need}<={flash}*1024)", fits))
        totals.rows.append(row)


# --- writers -------------------------------------------------------------------------------

def write_xlsx(book: Book, path) -> None:
    from openpyxl import Workbook
    from openpyxl.workbook.properties import CalcProperties

    wb = Workbook()
    wb.remove(wb.active)
    for sheet in book.sheets:
        ws = wb.create_sheet(sheet.name)
        for r, row in enumerate(sheet.rows, start=1):
            for c, value in enumerate(row, start=1):
                ws.cell(r, c, f"={value.text}" if isinstance(value, Formula) else value)
        ws.freeze_panes = "B2"
    wb.calculation = CalcProperties(fullCalcOnLoad=True)  # openpyxl stores no cached values
    wb.save(path)


_REF = re.compile(r"(?:(\w+)!)?(\$?[A-Z]{1,3}\$?\d+)(?::(\$?[A-Z]{1,3}\$?\d+))?")


def open_formula(text: str) -> str:
    """Excel syntax -> OpenFormula (ODF): [.A1], [$sheet.A1:.B2], ';' between arguments."""
    def ref(mo: re.Match) -> str:
        sheet, first, last = mo.groups()
        head = f"[${sheet}.{first}" if sheet else f"[.{first}"
        return head + (f":.{last}]" if last else "]")

    return "of:=" + _REF.sub(ref, text).replace(",", ";")


def write_ods(book: Book, path) -> None:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for sheet in book.sheets:
        table = Table(name=sheet.name)
        for row in sheet.rows:
            tr = TableRow()
            for value in row:
                tr.addElement(_ods_cell(value, TableCell, P))
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    doc.save(str(path))


def _ods_cell(value: Any, TableCell, P):
    formula = None
    if isinstance(value, Formula):
        formula, value = open_formula(value.text), value.value
    extra = {"formula": formula} if formula else {}
    if value is None:
        return TableCell(**extra)
    if isinstance(value, bool):
        cell = TableCell(valuetype="boolean", booleanvalue="true" if value else "false", **extra)
    elif isinstance(value, (int, float)):
        cell = TableCell(valuetype="float", value=value, **extra)
    else:
        cell = TableCell(valuetype="string", **extra)
    cell.addElement(P(text=str(value) if not isinstance(value, bool) else str(value).upper()))
    return cell
