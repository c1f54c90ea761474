"""One evaluation: a model, a procedure's phase, a setup and a memory accounting in; MACC by
operation, memory by role and what flash must hold out. ``analyze``, ``sweep``, the workbook
and ``verify`` all read their figures from here.

MACC of a phase = for each of the procedure's terms, ``times`` x the term's operation summed
over the layers it picks; per-sample operations count once per sample of the training batch,
per-step ones (the optimizer, gradient accumulation) once per step. A training row is one
optimizer step (``batch`` samples); an inference row one sample. Every figure may be a numpy
array (a sweep evaluates one layer list for many variants at once).

``copies`` weighs layers (a sweep's union of layer lists, ``union``): per layer, how many copies
of it each variant has, where that is not one. A variant with no copy of a layer gets none of its
operations, parameters or buffers and no step of its own; with k copies of identical blocks, k
times each (the steps of identical blocks are identical: one stands for all). The union is built
only where that is exact (``union.check``), and only the paper's rules read copies (a schedule's
tensors do not).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from . import accounting as acc
from .costs import OPERATIONS, OPS, layer_costs
from .costs.registry import PAPER_LIKE
from .errors import LearncostError
from .ir import Model
from .layers import RECURRENT_KINDS
from .procedures import TIMES, WHERE, Phase, Procedure
from .setups import ACCOUNTINGS, Setup, load as load_setup
from .setups.plan import Plan
from .sizes import Sizes


@dataclass
class Figures:
    procedure: str
    phase: str
    macc: Any
    macc_by_operation: dict[str, Any]
    memory: acc.Memory
    params_bytes: Any  # every parameter at the setup's precision (a readout the procedure trains included)
    flash_bytes: Any  # what flash must hold: the parameters (and F where the setup stores it there)
    samples: int  # samples the figures cover: the training batch, or 1

    @property
    def ram_bytes(self) -> Any:
        return self.memory.bytes


class Evaluator:
    """A model under one setup (and memory accounting): the per-layer costs and sizes are worked
    out once and serve every procedure and phase."""

    def __init__(self, model: Model, setup: Setup | str | None = None, *, memory: str | None = None,
                 patches=None, plan: Plan | None = None, copies: dict[str, Any] | None = None):
        self.model = model
        self.setup = load_setup(setup) if not isinstance(setup, Setup) else setup
        self.plan = plan or Plan(model, self.setup)
        self.patches = patches
        self.copies = copies or {}
        self.sizes = Sizes(model, self.setup, buffer_delta=patches.buffer_delta if patches else None,
                           copies=self.copies)
        self.costs = self._held(layer_costs(model, self.plan, overrides=patches.costs if patches else None))
        self._costs: dict = {"input": self.costs}
        self.accounting = memory or self.setup.memory
        if self.accounting not in ACCOUNTINGS:
            from .errors import UnknownNameError

            raise UnknownNameError("memory accounting", self.accounting, list(ACCOUNTINGS))
        self._sums: dict = {}

    # -- MACC ------------------------------------------------------------------------------------

    def costs_for(self, procedure: Procedure) -> list[dict[str, Any]]:
        """Per-layer costs with the procedure's feedback matrix sizing its regeneration, and, for a procedure that
        passes no error back through layers (DFA, DRTP, FF, PEPITA), a recurrent cell's gate errors through time
        booked with its update (a procedure with dX books them there, once: ``costs.ops``)."""
        kind = procedure.feedback if self.setup.feedback == "regenerated" else "input"
        through = self._passes_errors(procedure)
        key = kind if through else (kind, "no dX")
        if key not in self._costs:
            self._costs[key] = self._held(layer_costs(self.model, self.plan, feedback=kind, passes_errors=through,
                                                      overrides=self.patches.costs if self.patches else None))
        return self._costs[key]

    def _held(self, costs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per-layer costs, a weighed layer's (``copies``) times its copies in each variant."""
        if not self.copies:
            return costs
        for layer, c in zip(self.model.layers, costs):
            k = self.copies.get(layer.name)
            if k is not None:
                for op, value in c.items():
                    if type(value) is not int or value:  # a formula's plain 0 has nothing to weigh
                        c[op] = value * k
        return costs

    @cached_property
    def _has_cells(self) -> bool:
        return any(layer.kind in RECURRENT_KINDS for layer in self.model.layers)

    def _passes_errors(self, procedure: Procedure) -> bool:
        """Whether the procedure's training computes dX (``backward``); only a recurrent cell's costs depend on it."""
        return not self._has_cells or any(term.op == "backward" for term in procedure.phase("training").terms)

    def times(self, phase: Phase, term) -> int:
        """How many times a term counts its operation (``procedures.TIMES``)."""
        t = term.times
        if isinstance(t, int):
            return t
        setup = self.setup
        if t == "classes":
            return self.model.classes if self.model.supervised else 1
        passes = phase.update_passes
        if t == "applications":
            return 1 if setup.gradient_buffers else passes
        if t == "micro_batches":
            return setup.micro_batches
        if t == "accumulations":
            return passes * setup.micro_batches - 1 if setup.gradient_buffers and passes else 0
        if t == "readout_accumulations":
            return setup.micro_batches - 1 if setup.gradient_buffers else 0
        if t == "reconstruction_score":
            return 0 if self.model.supervised else 2
        raise ValueError(f"unknown times {t!r} (known: {', '.join(TIMES)})")

    def _scale(self, phase_name: str, op: str) -> int:
        """Per-sample operations count once per sample of a training step."""
        return self.setup.batch if phase_name == "training" and OPS[op].per == "sample" else 1

    def _picked(self, term):
        if term.where is None:
            return None
        pick = WHERE[term.where]
        return [pick(self.plan, layer) for layer in self.model.layers]

    def _applicable(self, procedure: Procedure, phase) -> None:
        """Refuse, in one line, a procedure whose work learncost does not count on one of the model's layers: a
        tangent (the forward gradient) through a recurrent cell, whose Jacobian-vector product through time has
        no formula yet."""
        if not any(term.op == "tangent" for term in phase.terms):
            return
        for layer in self.model.layers:
            if layer.kind in RECURRENT_KINDS and self.plan.output_error[layer.name]:
                raise LearncostError(f"{procedure.id} carries a tangent through recurrent layer {layer.name!r} "
                                     f"({layer.kind}), whose Jacobian-vector product through time learncost does "
                                     "not count yet", code="LC-PROCEDURE-MODEL",
                                     hint="choose another procedure, or freeze the cell and what lies before it")

    def breakdown(self, procedure: Procedure, phase_name: str) -> dict[str, dict[str, Any]]:
        """Layer -> operation -> MACC under the phase's terms (zeros left out)."""
        phase = procedure.phase(phase_name)
        self._applicable(procedure, phase)
        out: dict[str, dict[str, Any]] = {}
        for term in phase.terms:
            times = self.times(phase, term) * self._scale(phase_name, term.op)
            picked = self._picked(term)
            for k, (layer, costs) in enumerate(zip(self.model.layers, self.costs_for(procedure))):
                value = costs[term.op]
                if (picked is None or picked[k]) and _nonzero(value) and times:
                    ops = out.setdefault(layer.name, {})
                    ops[term.op] = ops.get(term.op, 0) + times * value
        return out

    def totals(self, procedure: Procedure, phase_name: str) -> dict[str, Any]:
        """Operation -> MACC of the whole model under the phase: the sums of ``breakdown``, written
        as plain sums (and shared between phases) so that per-layer figures may be arrays."""
        phase = procedure.phase(phase_name)
        self._applicable(procedure, phase)
        by_op: dict[str, Any] = dict.fromkeys(OPERATIONS, 0)
        paper = self.setup.convention in PAPER_LIKE
        for term in phase.terms:
            if paper and not OPS[term.op].paper:
                continue  # booked as zero on every layer
            key = (term.op, term.where, procedure.feedback, self._passes_errors(procedure))
            if key not in self._sums:
                picked = self._picked(term)
                self._sums[key] = sum(c[term.op] for k, c in enumerate(self.costs_for(procedure))
                                      if picked is None or picked[k])
            times = self.times(phase, term) * self._scale(phase_name, term.op)
            by_op[term.op] = by_op[term.op] + times * self._sums[key]
        return by_op

    # -- memory ----------------------------------------------------------------------------------

    def memory(self, procedure: Procedure, phase_name: str, accounting: str | None = None) -> acc.Memory:
        accounting = accounting or self.accounting
        if self.copies and (accounting != "paper" or procedure.phase(phase_name).memory_rule(self.model.supervised)
                             is None):
            raise ValueError("a union of layer lists is counted by the paper's rules only: "
                             "a schedule's tensors carry no copies")
        if accounting == "paper":
            return acc.paper(self.model, procedure, phase_name, self.plan, self.sizes, self.patches)
        if accounting == "saved-for-backward":
            if procedure.id == "bp" and phase_name == "training":
                return acc.saved_for_backward(self.model, self.plan, self.sizes)
            m = acc.live(self.model, procedure, phase_name, self.plan, self.sizes)
            return acc.Memory(m.accounting, "live (saved-for-backward is backpropagation's training only)",
                              m.bytes, m.by_role, m.at, m.items, m.timeline)
        if accounting == "arena":
            return acc.arena(self.model, procedure, phase_name, self.plan, self.sizes)
        if accounting == "tflm":
            return acc.tflm(self.model, procedure, phase_name, self.plan, self.sizes)
        return acc.live(self.model, procedure, phase_name, self.plan, self.sizes)

    def schedule(self, procedure: Procedure, phase_name: str):
        from .schedules import build

        return build(procedure, phase_name, self.model, self.plan, self.sizes)

    def counted(self, role: str) -> bool:
        """Whether a role counts in RAM under the setup (errors only if it says so)."""
        return self.setup.count_errors or role != "error"

    def layout(self, procedure: Procedure, phase_name: str):
        """The schedule and its arena plan (TFLite Micro's greedy placement and alignment)."""
        from .planners import TFLM_ALIGNMENT, greedy

        schedule = self.schedule(procedure, phase_name)
        return schedule, greedy(schedule, self.counted, TFLM_ALIGNMENT)

    def params_bytes(self, procedure: Procedure) -> Any:
        """Every parameter at the setup's precision: the model's, and a readout the procedure trains."""
        total = self.sizes.all_params()
        if procedure.readout:
            from .schedules.common import readout_weights

            for _, layer, _, nbytes in readout_weights(self.model, self.plan, self.sizes):
                total = total + self.sizes.held(layer, nbytes)
        return total

    def flash_bytes(self, procedure: Procedure, phase_name: str) -> Any:
        total = self.params_bytes(procedure)
        if self.setup.feedback == "flash" and phase_name == "training" and procedure.feedback:
            from .schedules.common import feedback_matrices

            for _, layer, elements in feedback_matrices(self.model, self.plan, procedure.feedback):
                total = total + self.sizes.held(layer, self.sizes.of(elements, "feedback"))
        return total

    def figures(self, procedure: Procedure, phase_name: str) -> Figures:
        by_op = self.totals(procedure, phase_name)
        return Figures(procedure.id, phase_name, sum(by_op.values()), by_op, self.memory(procedure, phase_name),
                       self.params_bytes(procedure), self.flash_bytes(procedure, phase_name),
                       self.setup.batch if phase_name == "training" else 1)


def _nonzero(value) -> bool:
    return bool(value.any()) if hasattr(value, "any") else bool(value)
