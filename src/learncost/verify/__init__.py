"""Verification by execution: run each procedure in PyTorch, count what it really costs and
compare with learncost's analytic figures.

Every difference is either zero or carries its reason: a rule, stated here, that predicts the
counted figure from the model alone (so the tests can check the prediction, not just the
difference). Nothing here prints; ``report.verify_report`` formats a ``Verification``.
Importing this package is light; torch loads when ``verify()`` runs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from ..costs import OPERATIONS
from ..errors import LearncostError
from ..ir import Model
from ..layers import HEAD_KINDS
from ..memory import apply_rule, buffers
from ..procedures import PHASES, Procedure, get_procedure

#: the paper's operations under the names of what is executed for them
COUNTED_AS = {"forward": "forward", "backward": "input_gradient", "weight_update": "weight_gradient",
              "goodness": "goodness", "normalization": "normalization", "error": "error", "projection": "projection"}

#: executed work the paper's accounting leaves out, and why it exists
EXTRAS = {
    "bias_gradient": "db: the output error summed over positions, one add per output element of each biased "
                     "layer; the paper's weight update counts the weights only",
    "local_error": "the error each layer's update reads: dL/dy = 2 (dL/dG) y in FF, h - h_mod in PEPITA and "
                   "MEMPEPITA (e itself for the last layer); one per output element",
    "gradient_sum": "the errors of a tensor read by two layers (a residual fork) add up: one per element",
    "weight_apply": "W <- W - eta dW: one per parameter; the paper's weight update is the gradient alone",
}

CONVERTER_NOTE = ("X-CUBE-AI's INT8<->float converter, booked at 2 MACC per element by the paper (sheet T18); "
                  "the float reference has nothing to convert")
SOFTMAX_NOTE = ("X-CUBE-AI's float softmax, booked at 15 MACC per element by the paper (sheet U18); executed as "
                "exp, sum and division, which are not multiply-accumulates")
NORMALIZATION_NOTE = ("FF normalizes an output for the next trainable layer; nothing trainable reads this one, "
                      "so it is not normalized (the paper counts it for every trainable layer)")


@dataclass
class OpCheck:
    operation: str  # the paper's name (registry.OPERATIONS) or an extra
    counted_as: str
    analytic: int
    counted: int
    expected: int  # counted as predicted by the documented rules
    explanation: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.counted != self.expected:
            return "UNEXPLAINED"
        return "equal" if self.counted == self.analytic else "explained"


@dataclass
class LayerDifference:
    layer: str
    operation: str
    analytic: int
    counted: int
    expected: int
    reason: str | None


@dataclass
class MemoryCheck:
    rule: str
    analytic_bytes: int
    analytic_at: str | None
    analytic_buffers: list[str]
    tracked_bytes: int
    tracked_at: str
    tracked_buffers: list[str]  # "buffer" or "buffer (tag)" for a modulated or recomputed copy
    extra: list[tuple[str, int]]  # held by the execution beyond the rule's buffers
    missing: list[tuple[str, int]]  # in the rule's figure but not held at the tracked peak
    with_errors_bytes: int  # peak of activations plus error buffers, which no rule counts
    with_errors_at: str
    note: str

    @property
    def difference(self) -> int:
        return self.tracked_bytes - self.analytic_bytes


@dataclass
class PhaseCheck:
    procedure: str
    phase: str
    operations: list[OpCheck]
    layers: list[LayerDifference]  # every (layer, operation) whose counted figure is not the analytic one
    memory: MemoryCheck
    uncounted_ops: dict[str, int]  # executed ATen operators with no MAC, by calls
    asides: list[str] = field(default_factory=list)  # memory the procedure needs beyond any rule

    @property
    def analytic_total(self) -> int:
        return sum(o.analytic for o in self.operations)

    @property
    def counted_total(self) -> int:
        return sum(o.counted for o in self.operations)

    @property
    def unexplained(self) -> list[str]:
        out = [f"{o.operation}: counted {o.counted:,}, expected {o.expected:,}" for o in self.operations
               if o.status == "UNEXPLAINED"]
        out += [f"{d.layer} {d.operation}: counted {d.counted:,}, expected {d.expected:,}" for d in self.layers
                if d.counted != d.expected]
        return out


@dataclass
class Verification:
    model: Model
    checks: list[PhaseCheck]
    seed: int

    def check(self, procedure: str, phase: str) -> PhaseCheck:
        for c in self.checks:
            if c.procedure == procedure and c.phase == phase:
                return c
        raise KeyError((procedure, phase))

    def to_dict(self) -> dict:
        rows = []
        for c in self.checks:
            d = asdict(c)
            d["analytic_total"], d["counted_total"] = c.analytic_total, c.counted_total
            for op, od in zip(c.operations, d["operations"]):
                od["status"] = op.status
            d["memory"]["difference"] = c.memory.difference
            d["unexplained"] = c.unexplained
            rows.append(d)
        return {"model": self.model.id or self.model.name, "seed": self.seed, "checks": rows}


def _expected(model: Model, step, key: tuple[str, str], analytic: int) -> tuple[int, str | None]:
    """What execution should count for a paper operation on a layer, and why if not the analytic."""
    name, op = key
    layer = model.by_name[name]
    if op == "forward" and layer.kind in HEAD_KINDS:
        return 0, SOFTMAX_NOTE if layer.kind == "softmax" else CONVERTER_NOTE
    if op == "normalization" and not step.feeds_trainable[name]:
        return 0, NORMALIZATION_NOTE
    return analytic, None


def _memory(model: Model, proc: Procedure, phase_name: str, tracker, note: str) -> MemoryCheck:
    bufs = buffers(model)
    rule = proc.phase(phase_name).memory_rule(model.supervised)
    peak = apply_rule(rule, bufs)
    sample = tracker.peak
    held = [(b, tag) for b, tag in sample.live if tag != "error"]
    have = Counter(b for b, _ in held)
    want = Counter(peak.buffers)
    tags = {b: tag for b, tag in held}
    extra = [(f"{b} ({tags[b]})" if tags[b] != "clean" else b, bufs.sizes[b] * n) for b, n in (have - want).items()]
    missing = [(b, bufs.sizes[b] * n) for b, n in (want - have).items()]
    both = tracker.peak_with_errors
    return MemoryCheck(
        rule=rule, analytic_bytes=peak.bytes, analytic_at=peak.at, analytic_buffers=list(peak.buffers),
        tracked_bytes=sample.activations, tracked_at=sample.step,
        tracked_buffers=[b if tag == "clean" else f"{b} ({tag})" for b, tag in held],
        extra=extra if sample.activations != peak.bytes else [],
        missing=missing if sample.activations != peak.bytes else [],
        with_errors_bytes=both.activations + both.errors, with_errors_at=both.step, note=note,
    )


def predict_extras(model: Model, phase, feeds_trainable: dict[str, bool]) -> dict[str, int]:
    """The executed work outside the paper's operations, predicted from the model and the phase:

    - updates U = the phase's weight-update multiplicity (BP, PEPITA, MEMPEPITA 1, FF 2, inference 0);
    - weight_apply = U x (weights + biases) of the trainable layers;
    - bias_gradient = U x output elements of each trainable layer with biases;
    - local_error = U x output elements of the trainable layers whose update reads a local error:
      all of them in FF (the phase has goodness), all but the last in PEPITA (the last reads e);
    - gradient_sum (a phase with a backward pass) = for each output carrying an error, its
      elements x (readers that send one back - 1).
    """
    updates = sum(int(t.times) for t in phase.terms if t.op == "weight_update")
    ops = {t.op for t in phase.terms}
    trainable = [layer for layer in model.layers if layer.trainable]
    out = dict.fromkeys(EXTRAS, 0)
    out["weight_apply"] = updates * sum(layer.weights + layer.biases for layer in trainable)
    out["bias_gradient"] = updates * sum(layer.output_elements for layer in trainable if layer.biases)
    if "goodness" in ops:
        out["local_error"] = updates * sum(layer.output_elements for layer in trainable)
    elif "projection" in ops:
        out["local_error"] = updates * sum(layer.output_elements for layer in trainable[:-1])
    if "backward" in ops:
        for layer in model.layers:
            senders = [c for c in model.consumers[layer.name] if model.has_trainable_ancestor[c]]
            if (layer.trainable or model.has_trainable_ancestor[layer.name]) and len(senders) > 1:
                out["gradient_sum"] += layer.output_elements * (len(senders) - 1)
    return out


def _asides(model: Model, phase) -> list[str]:
    if not any(t.op == "projection" for t in phase.terms):
        return []
    rows, cols = model.output.output_elements, model.input.output_elements
    return [f"PEPITA's fixed feedback matrix F ({rows} x {cols} = {rows * cols:,} values) is read during training; "
            "the paper counts it in neither activations nor parameters (a device could regenerate it from a seed)"]


def verify(model: Model, procedures: list[str | Procedure] | None = None, *, seed: int = 0) -> Verification:
    """Execute every phase of every procedure on ``model`` and compare with the analytic figures."""
    from ..torch_build import check_executable, require_torch

    check_executable(model)
    require_torch()  # a clear error, not an ImportError, where the torch extra is missing
    from .reference import REFERENCES, Step

    procs = [p if isinstance(p, Procedure) else get_procedure(p) for p in (procedures or list(REFERENCES))]
    for proc in procs:
        if proc.id not in REFERENCES:
            raise LearncostError(f"procedure {proc.id!r} has no reference implementation to execute",
                                 hint=f"verify knows {', '.join(REFERENCES)}")
    from ..analysis import analyze

    analysis = analyze(model, procs, mcus=[])
    checks = []
    for proc in procs:
        for phase_name in PHASES:
            step = Step(model, seed)
            with step.counter:
                REFERENCES[proc.id].phase(phase_name)(step)
            step.tracker.sample("end")
            analytic = {(name, op): n for name, ops in analysis.breakdown(proc.id, phase_name).items()
                        for op, n in ops.items()}
            counts = step.counter.counts
            layers, ops = [], []
            for op in OPERATIONS:
                counted_as = COUNTED_AS[op]
                names = [layer.name for layer in model.layers]
                a_total = c_total = e_total = 0
                reasons: list[str] = []
                for name in names:
                    a = analytic.get((name, op), 0)
                    c = counts.get((name, counted_as), 0)
                    e, why = _expected(model, step, (name, op), a)
                    a_total, c_total, e_total = a_total + a, c_total + c, e_total + e
                    if c != a or e != a:
                        layers.append(LayerDifference(name, op, a, c, e, why))
                        if why and why not in reasons:
                            reasons.append(why)
                if a_total or c_total:
                    ops.append(OpCheck(op, counted_as, a_total, c_total, e_total, reasons))
            predicted = predict_extras(model, proc.phase(phase_name), step.feeds_trainable)
            for extra, why in EXTRAS.items():
                c_total = step.counter.total(extra)
                if c_total or predicted[extra]:
                    ops.append(OpCheck(extra, extra, 0, c_total, predicted[extra], [why]))
            note = REFERENCES[proc.id].memory_notes[phase_name]
            checks.append(PhaseCheck(proc.id, phase_name, ops, layers,
                                     _memory(model, proc, phase_name, step.tracker, note),
                                     dict(step.counter.uncounted.most_common()), _asides(model, proc.phase(phase_name))))
    return Verification(model, checks, seed)
