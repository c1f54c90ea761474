"""Verification by execution: run each procedure under a setup in PyTorch, count what it really
costs and compare with learncost's analytic figures.

MACC: every operation is counted on every layer. What execution should count is the analytic
figure under the same setup in the ``executed`` MACC convention; under the ``paper`` convention
the difference is the sheet's bookings (X-CUBE-AI's head constants, the normalization of an output
nothing reads) and the work the sheet leaves out, each with its reason. Anything else is
UNEXPLAINED.

Memory: the tracker samples, after every step, the tensors the reference holds, by role. The
procedure's schedule (``schedules``), replayed with the same steps, must hold exactly as many
bytes of each role at every step; the setup's accounting (the paper's rules, MIT's estimate, the
live peak) is then compared with the tracked peak and its difference itemized. Parameters
resident in SRAM are the setup's statement, not a measurement: they are left out of both sides.
Nothing here prints; ``report.verify_report`` formats a ``Verification``. Importing this package
is light; torch loads when ``verify()`` runs.
"""

from __future__ import annotations

import sys
import types
from collections import Counter
from dataclasses import asdict, dataclass, field

from ..costs import OPERATIONS, OPS
from ..errors import LearncostError
from ..ir import Model
from ..results import Reported
from ..layers import HEAD_KINDS
from ..procedures import PHASES, Procedure, resolve_procedures

#: learncost's operations under the names of what is executed for them
COUNTED_AS = {op: op for op in OPERATIONS} | {"backward": "input_gradient", "weight_update": "weight_gradient"}

#: why the paper's convention leaves out an operation that executes
EXTRAS = {
    "bias_gradient": "db: the output error summed over positions, one add per output element of each trained bias; "
                     "the paper's weight update counts the weights only",
    "local_error": "the error each layer's update reads: dL/dy = 2 (dL/dG) y in FF, h - h_mod in PEPITA and "
                   "MEMPEPITA (e itself for the last layer); one per output element",
    "gradient_sum": "the errors of a tensor read by two layers (a residual fork) add up: one per element",
    "optimizer": "W <- W - eta dW (and the optimizer's state updates): per trained parameter; the paper's weight "
                 "update is the gradient alone",
    "gradient_accumulation": "each micro-batch's gradient added into the gradient buffers",
    "feedback_generation": "F regenerated from its seed, one value per generator step",
    "gradient_estimate": "g = s z formed for an optimizer that reads the gradient, one per trained parameter",
    "readout_step": "W_r <- W_r - eta dW_r (and the optimizer's state updates) on FF's readout: per readout weight",
    "readout_accumulation": "each micro-batch's readout gradient added into its buffer",
}

CONVERTER_NOTE = ("X-CUBE-AI's INT8<->float converter, booked at 2 MACC per element by the paper (sheet T18); "
                  "the float reference has nothing to convert")
SOFTMAX_NOTE = ("X-CUBE-AI's float softmax, booked at 15 MACC per element by the paper (sheet U18); executed as "
                "exp, sum and division, which are not multiply-accumulates")
NORMALIZATION_NOTE = ("FF normalizes an output for the next trainable layer; nothing trainable reads this one, "
                      "so it is not normalized (the paper counts it for every trainable layer)")

#: why a procedure's executed memory may differ from the paper's rule, per phase
MEMORY_NOTES = {
    ("bp", "training"): "the forward pass keeps what the backward pass reads (each trained layer's input, each "
                        "activation's output or mask); the rest is released after its last reader",
    ("ff", "training"): "the sample (with its label) is kept for the negative pass; each layer holds its input, "
                        "its output and, apart, the error of its local loss",
    ("ff", "inference"): "supervised: the sample is kept to embed the next label; unsupervised: one pass",
    ("pepita", "training"): "the clean pass keeps the outputs the updates read (trained layers but the last) and "
                            "drops the rest; the modulated pass then runs while they are still held",
    ("mempepita", "training"): "the first clean pass keeps only the sample (for the recomputation); then each layer "
                               "holds its clean and modulated inputs and outputs while it is recomputed and updated",
    ("fa", "training"): "backpropagation's tensors (the B_l replace W_l^T and are held, read from flash or "
                        "regenerated, as the setup says)",
    ("dfa", "training"): "the forward pass keeps what the updates read (each trained layer's input and its "
                         "activation's output or mask); each update then holds e and its own B_l e",
    ("drtp", "training"): "each trained layer updates as soon as it has run from B_l y*, so nothing is kept but "
                          "the logits' input, whose update waits for the output error",
    ("mezo", "training"): "two plain forward passes, every buffer dropped after its last reader; the output (an "
                          "autoencoder's input too) held until the loss reads it; z is regenerated, never held",
}
MEMORY_NOTES[("ff-readout", "training")] = (
    "FF's two passes as in FF; the neutral pass keeps every activity the readout reads until the readout's error "
    "is known, each released after its readout gradient")
MEMORY_NOTES[("ff-readout", "inference")] = (
    "one neutral pass, each buffer dropped after its last reader; the readout's logits accumulate beside it (an "
    "autoencoder keeps its sample for the reconstruction's error)")
PLAIN_NOTE = "each buffer is dropped once its last reader has run"


@dataclass
class OpCheck:
    operation: str  # learncost's operation (costs.OPERATIONS)
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
    accounting: str
    rule: str
    analytic_bytes: int  # the accounting's figure, resident parameters left out
    analytic_at: str | None
    analytic_buffers: list[str]
    tracked_bytes: int  # the most the reference held at one step (counted roles)
    tracked_at: str
    tracked_buffers: list[str]
    extra: list[tuple[str, int]]  # held by the execution beyond the accounting's items
    missing: list[tuple[str, int]]  # in the accounting's figure but not held at the tracked peak
    with_errors_bytes: int  # peak with error buffers too (which the paper's setup does not count)
    with_errors_at: str
    note: str
    tracked_by_role: dict[str, int] = field(default_factory=dict)
    schedule_bytes: int = 0  # the schedule's live peak, same roles
    schedule_at: str | None = None
    schedule_mismatch: list[str] = field(default_factory=list)  # steps where schedule and execution differ

    @property
    def difference(self) -> int:
        return self.tracked_bytes - self.analytic_bytes

    @property
    def status(self) -> str:
        if self.schedule_mismatch:
            return "UNEXPLAINED"
        return "equal" if self.difference == 0 else "explained"


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
        out += [f"memory at {s}" for s in self.memory.schedule_mismatch]
        return out


@dataclass(repr=False)
class Verification(Reported):
    """Analytic counts beside the counts of executing each procedure (``learncost verify``)."""

    REPORT = "verify_report"
    model: Model
    checks: list[PhaseCheck]
    seed: int
    setup: str = "paper"

    def __repr__(self) -> str:
        return (f"<Verification {self.model.id or self.model.name}, setup {self.setup}: {len(self.checks)} checks, "
                f"{len(self.unexplained)} unexplained>")

    def check(self, procedure: str, phase: str) -> PhaseCheck:
        for c in self.checks:
            if c.procedure == procedure and c.phase == phase:
                return c
        procs = ", ".join(dict.fromkeys(c.procedure for c in self.checks))
        raise KeyError(f"no check ({procedure!r}, {phase!r}): procedures {procs}; phases {', '.join(PHASES)}")

    @property
    def unexplained(self) -> list[str]:
        return [f"{c.procedure} {c.phase}: {u}" for c in self.checks for u in c.unexplained]

    def to_dict(self) -> dict:
        rows = []
        for c in self.checks:
            d = asdict(c)
            d["analytic_total"], d["counted_total"] = c.analytic_total, c.counted_total
            for op, od in zip(c.operations, d["operations"]):
                od["status"] = op.status
            d["memory"]["difference"] = c.memory.difference
            d["memory"]["status"] = c.memory.status
            d["unexplained"] = c.unexplained
            rows.append(d)
        return {"model": self.model.id or self.model.name, "setup": self.setup, "seed": self.seed, "checks": rows}


def _reason(model: Model, plan, paper: bool, name: str, op: str) -> str | None:
    """Why execution counts something else than the analytic figure on a layer, if it does."""
    layer = model.by_name[name]
    if not paper:
        return None
    if not OPS[op].paper:
        return EXTRAS[op]
    if op == "forward" and layer.kind in HEAD_KINDS:
        return SOFTMAX_NOTE if layer.kind == "softmax" else CONVERTER_NOTE
    if op == "normalization" and not plan.feeds_weights[name]:
        return NORMALIZATION_NOTE
    return None


def _without_params(role: str) -> bool:
    return role not in ("weight", "bias")


def _memory(ev, proc: Procedure, phase_name: str, step) -> MemoryCheck:
    from ..schedules import build, live_peak

    setup = ev.setup
    counted = (lambda r: _without_params(r)) if setup.count_errors else (lambda r: _without_params(r) and r != "error")
    tracker = step.tracker
    samples = tracker.samples
    peak = tracker.peak(counted)
    both = tracker.peak(_without_params)
    schedule = build(proc, phase_name, ev.model, ev.plan, ev.sizes)
    planned = live_peak(schedule, counted)
    mismatch = []
    if [s.step for s in samples] != schedule.steps:
        mismatch.append(f"steps: executed {len(samples)}, scheduled {len(schedule.steps)} "
                        f"(first difference at {_first_difference([s.step for s in samples], schedule.steps)})")
    else:
        for s, total in zip(samples, planned.timeline):
            if s.bytes(counted) != total:
                mismatch.append(f"{s.step}: executed {s.bytes(counted):,} B, scheduled {total:,} B")
    mem = ev.memory(proc, phase_name)
    analytic = mem.bytes - mem.params
    held = [(name, role, b) for name, role, b in peak.live if counted(role)]
    if mem.accounting == "paper" and proc.phase(phase_name).memory_rule(ev.model.supervised) is not None:
        have = Counter(name for name, role, _ in held if role in ("activation", "saved"))
        want = Counter(mem.items)
        size = {name: b for name, _, b in held}
        bufs = ev.sizes.bufs
        extra = [(n, size[n] * k) for n, k in (have - want).items()]
        missing = [(n, bufs.every[n] * k) for n, k in (want - have).items()]
        extra += [(name, b) for name, role, b in held if role not in ("activation", "saved")]
    else:
        roles = set(peak.by_role) | set(mem.by_role)
        diffs = {r: peak.by_role.get(r, 0) - (mem.by_role.get(r, 0) if _without_params(r) else 0) for r in roles
                 if counted(r)}
        extra = [(r, d) for r, d in diffs.items() if d > 0]
        missing = [(r, -d) for r, d in diffs.items() if d < 0]
    same = peak.bytes(counted) == analytic
    return MemoryCheck(
        accounting=mem.accounting, rule=mem.rule, analytic_bytes=analytic, analytic_at=mem.at,
        analytic_buffers=list(mem.items), tracked_bytes=peak.bytes(counted), tracked_at=peak.step,
        tracked_buffers=[name for name, _, _ in held], extra=[] if same else extra, missing=[] if same else missing,
        with_errors_bytes=both.bytes(_without_params), with_errors_at=both.step,
        note=MEMORY_NOTES.get((proc.id, phase_name), PLAIN_NOTE),
        tracked_by_role={r: b for r, b in peak.by_role.items() if counted(r)},
        schedule_bytes=planned.bytes, schedule_at=planned.at, schedule_mismatch=mismatch[:5],
    )


def _first_difference(a: list, b: list) -> str:
    for k, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"step {k}: {x!r} vs {y!r}"
    return f"step {min(len(a), len(b))}"


def _asides(model: Model, setup, phase, proc: Procedure, plan) -> list[str]:
    """Memory the procedure reads that the setup counts nowhere (its feedback matrices, when uncounted)."""
    from ..schedules.common import feedback_matrices

    if setup.feedback != "uncounted" or not proc.feedback or phase is not proc.training:
        return []
    matrices = feedback_matrices(model, plan, proc.feedback)
    values = sum(elements for _, _, elements in matrices)
    if not values:
        return []
    if proc.feedback == "input":
        rows, cols = model.output.output_elements, model.input_elements
        what = f"PEPITA's fixed feedback matrix F ({rows} x {cols} = {values:,} values) is"
    else:
        what = f"{proc.name}'s fixed feedback matrices B_l ({len(matrices)}, {values:,} values) are"
    return [f"{what} read during training; this setup counts it in neither activations nor parameters "
            "(a device could regenerate it from a seed)"]


#: procedures whose reference runs a recurrent cell (its backward through time, where they have one): backpropagation,
#: checkpointed (its forward recomputed), through fixed feedback (FA) or direct projections (DFA), and MeZO's forward
#: passes alone. DRTP's, FF's and PEPITA's references read per-layer activities a cell does not give yet.
VERIFIED_THROUGH_TIME = ("bp", "bp-checkpoint", "fa", "dfa", "mezo")


def _recurrent_under_bp(model: Model, procs: list[Procedure]) -> None:
    """Refuse, in one line, a procedure whose reference does not run a recurrent cell (``VERIFIED_THROUGH_TIME``)."""
    from ..layers import RECURRENT_KINDS

    cell = next((layer for layer in model.layers if layer.kind in RECURRENT_KINDS), None)
    other = [proc.id for proc in procs if proc.id not in VERIFIED_THROUGH_TIME]
    if cell is not None and other:
        raise LearncostError(f"verify executes recurrent layers (here {cell.name!r}, {cell.kind}) under "
                             f"{', '.join(VERIFIED_THROUGH_TIME)} only, not {', '.join(other)}",
                             code="LC-VERIFY-UNSUPPORTED",
                             hint=f"verify with --procedures {','.join(VERIFIED_THROUGH_TIME)}; analyze's figures for "
                                  "the others stand")


def verify(model: Model | str, procedures: list[str | Procedure] | None = None, *, seed: int = 0, setup=None,
           memory: str | None = None) -> Verification:
    """Execute every phase of every procedure on ``model`` (a ``Model``, a built-in id or a model file) under
    ``setup`` and compare with the analytic figures (needs the torch extra).

        >>> import learncost
        >>> learncost.verify("ad", ["bp"]).unexplained  # every difference has a stated reason
        []
    """
    from ..torch_build import check_executable, require_torch

    if isinstance(model, str):
        from ..zoo import load_model

        model = load_model(model)

    check_executable(model)
    require_torch()  # a clear error, not an ImportError, where the torch extra is missing
    from ..evaluate import Evaluator
    from .reference import REFERENCES, NoInputGradient, Step

    procs = resolve_procedures(procedures)
    for proc in procs:
        if proc.id not in REFERENCES:
            raise LearncostError(f"procedure {proc.id!r} has no reference implementation to execute",
                                 hint=f"verify knows {', '.join(REFERENCES)}")
    _recurrent_under_bp(model, procs)
    ev = Evaluator(model, setup, memory=memory)
    paper = ev.setup.convention != "executed"
    executed = ev if not paper else Evaluator(model, ev.setup.model_copy(update={"convention": "executed"}),
                                              memory=memory)
    checks = []
    for proc in procs:
        for phase_name in PHASES:
            step = Step(ev, seed)
            try:
                with step.counter:
                    REFERENCES[proc.id].phase(phase_name)(step)
            except NoInputGradient as exc:
                raise LearncostError(f"verify cannot execute {proc.id}'s {phase_name} on this model yet: the reference "
                                     f"executor has no input gradient for {exc.kind} (layer {exc.layer!r})",
                                     code="LC-VERIFY-UNSUPPORTED",
                                     hint="analyze's figures stand; procedures that pass no error through it (pepita, "
                                          "mempepita, ff) verify") from None
            analytic = {(n, op): v for n, ops in ev.breakdown(proc, phase_name).items() for op, v in ops.items()}
            expected = {(n, op): v for n, ops in executed.breakdown(proc, phase_name).items() for op, v in ops.items()}
            counts = step.counter.counts
            layers, ops = [], []
            for op in OPERATIONS:
                a_total = c_total = e_total = 0
                reasons: list[str] = []
                for layer in model.layers:
                    a = analytic.get((layer.name, op), 0)
                    c = counts.get((layer.name, COUNTED_AS[op]), 0)
                    e = expected.get((layer.name, op), 0)
                    a_total, c_total, e_total = a_total + a, c_total + c, e_total + e
                    if c != a or e != a:
                        why = _reason(model, ev.plan, paper, layer.name, op) if e != a else None
                        layers.append(LayerDifference(layer.name, op, a, c, e, why))
                        if why and why not in reasons:
                            reasons.append(why)
                stray = sum(n for (name, o), n in counts.items() if o == COUNTED_AS[op] and name not in model.by_name)
                c_total += stray
                if a_total or c_total or e_total:
                    ops.append(OpCheck(op, COUNTED_AS[op], a_total, c_total, e_total, reasons))
            checks.append(PhaseCheck(proc.id, phase_name, ops, layers, _memory(ev, proc, phase_name, step),
                                     dict(step.counter.uncounted.most_common()),
                                     _asides(model, ev.setup, proc.phase(phase_name), proc, ev.plan)))
    return Verification(model, checks, seed, ev.setup.key)


class _CallableModule(types.ModuleType):
    """``learncost.verify`` names both this package and its function: once the package is imported (by any
    module), Python binds the name to the package, so calling the package calls ``verify``."""

    def __call__(self, *args, **kwargs) -> Verification:
        return verify(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
