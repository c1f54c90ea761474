"""Memory accountings: how many bytes of RAM a phase of a procedure needs under a setup, and of
which roles.

- ``paper``: the paper's four rules as stated (all buffers; largest pair; plus the input; plus the
  larger of the pair), activations at the setup's precision, and in training every parameter in
  RAM. For reproducing the paper; it counts no error, gradient, mask or optimizer state.
- ``saved-for-backward``: MIT's estimate (tiny-training ``partial_backward.py``,
  ``nelem_saved_for_backward``) of what backpropagation's update keeps: per trained layer a 1-bit
  mask of its output and its bias, and where its weights are trained its input on the trained
  channels and those channels' weights; the classifier's input (its weights are not counted, as
  the estimate says "do not consider fc for now"). It leaves out the forward pass's own buffers,
  errors, frozen parameters and optimizer state; it is defined for backpropagation's training.
- ``live``: the peak of the bytes live at one step of the procedure's schedule (``schedules``),
  every role counted (errors only if the setup counts them), parameters as the setup places them:
  a lower bound for any layout in memory.
- ``arena``: the same schedule laid out in one arena with reuse (``planners.greedy``, the placement
  TFLite Micro's GreedyMemoryPlanner makes, sizes aligned to its 16 bytes), beside the resident
  tensors: the arena's size is what a runtime must reserve; what it holds beyond the live peak is
  ``fragmentation`` in ``by_role``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .dtypes import dtype_bytes
from .memory import Peak, apply_rule
from .setups import WORKING_ROLES
from .sizes import nbytes


@dataclass(frozen=True)
class Memory:
    accounting: str  # paper, saved-for-backward, live
    rule: str  # the paper rule applied, or the accounting's name
    bytes: Any  # RAM needed
    by_role: dict[str, Any]
    at: str | None = None  # the step (live) or layer (paper) of the peak
    items: tuple[str, ...] = ()  # what is counted at the peak
    timeline: tuple = field(default=(), repr=False)

    @property
    def working(self) -> Any:
        """Bytes of the step's working memory: activations, saved activations, masks and errors."""
        return sum(self.by_role.get(r, 0) for r in WORKING_ROLES)

    @property
    def params(self) -> Any:
        return self.by_role.get("weight", 0) + self.by_role.get("bias", 0)


def paper(model, procedure, phase_name: str, plan, sizes, patches=None) -> Memory:
    phase = procedure.phase(phase_name)
    rule = phase.memory_rule(model.supervised)
    if rule is None:
        return _paper_by_schedule(model, procedure, phase_name, plan, sizes)
    override = patches.memory.get((procedure.id, phase_name)) if patches else None
    bufs = sizes.bufs if plan.setup.bits("activation") is None else sizes.precise_bufs
    if override is not None:
        peak = Peak(bufs.total(override), None, tuple(override))
        rule = "as published"
    else:
        peak = _rule_peak(sizes, bufs, rule)
    by_role = {"activation": peak.bytes}
    if phase.params_in_ram:
        by_role["weight"] = sizes.all_weights
        by_role["bias"] = sizes.all_biases
    return Memory("paper", rule, sum(by_role.values()), by_role, peak.at, tuple(peak.buffers))


def _paper_by_schedule(model, procedure, phase_name: str, plan, sizes) -> Memory:
    """A procedure no rule of the paper's describes (checkpointed BP): its schedule's working memory at
    the live peak, plus every weight and bias where the phase keeps them in RAM, as the paper adds them
    (a readout the procedure trains included)."""
    from .schedules import build, live_peak

    schedule = build(procedure, phase_name, model, plan, sizes)
    # the working roles alone: what persists (parameters, state, buffers) adds the same to every step
    counted = lambda role: role in WORKING_ROLES and (plan.setup.count_errors or role != "error")  # noqa: E731
    peak = live_peak(schedule, counted)
    # a sweep's peak is one total per variant, not split by role
    by_role = dict(peak.by_role) if peak.by_role else {"activation": peak.bytes}
    if procedure.phase(phase_name).params_in_ram:
        by_role["weight"] = sizes.all_weights
        if procedure.readout:
            from .schedules.common import readout_weights

            # not in place: in a sweep the model's total is a shared array
            by_role["weight"] = by_role["weight"] + sum(nbytes for *_, nbytes in readout_weights(model, plan, sizes))
        by_role["bias"] = sizes.all_biases
    items = tuple(name for name, role, _ in peak.tensors if role in WORKING_ROLES)
    return Memory("paper", "live schedule (no rule of the paper's)", sum(by_role.values()), by_role, peak.at, items)


def _rule_peak(sizes, bufs, rule: str) -> Peak:
    """A rule's peak, worked out once per model and precision (procedures share rules)."""
    cache = sizes.__dict__.setdefault("_rule_peaks", {})
    key = (rule, id(bufs))
    if key not in cache:
        cache[key] = (bufs, apply_rule(rule, bufs))
    return cache[key][1]


def saved_for_backward(model, plan, sizes) -> Memory:
    """MIT's estimate, in the setup's precisions (MIT: 1-bit masks, INT8 activations and weights, INT32 biases)."""
    m = plan.setup.micro
    by_role: dict[str, Any] = {"mask": 0, "saved": 0, "weight": 0, "bias": 0}
    items = []
    classifier = plan.weight_layers[-1] if plan.weight_layers else None

    def sized(elements: Any, role: str, layer: str) -> Any:
        """At the setup's precision for the role; where the setup keeps the model's types (the paper's), a saved
        input at its buffer's dtype and a mask at the estimate's own 1 bit."""
        if plan.setup.bits(role) is not None:
            return sizes.of(elements, role)
        return nbytes(elements, 1) if role == "mask" else elements * dtype_bytes(model.by_name[layer].dtype)

    for layer in plan.weight_layers:
        if not plan.trained(layer.name):
            continue
        src = sizes.owner(layer.inputs[0])
        if layer is classifier and layer.kind == "dense":
            by_role["saved"] += sized(m * sizes.elements(src), "saved", src)
            items.append(f"input of {layer.name}")
            continue
        u = plan.of(layer.name)
        by_role["mask"] += sized(m * layer.output_elements, "mask", layer.name)
        items.append(f"mask {layer.name}")
        if u.bias:
            by_role["bias"] += sizes.biases(layer)
            items.append(f"biases {layer.name}")
        if u.weights:
            from .schedules.common import input_slice_elements

            by_role["saved"] += sized(m * input_slice_elements(layer, plan, sizes), "saved", src)
            by_role["weight"] += sizes.weights(layer, plan.trained_weights(layer))
            items.append(f"input slice {layer.name}")
            items.append(f"weights {layer.name} (trained slice)")
    by_role = {k: v for k, v in by_role.items() if not _zero(v)}
    return Memory("saved-for-backward", "saved-for-backward", sum(by_role.values()), by_role, None, tuple(items))


def live(model, procedure, phase_name: str, plan, sizes) -> Memory:
    from .schedules import build, live_peak

    schedule = build(procedure, phase_name, model, plan, sizes)
    counted = (lambda role: True) if plan.setup.count_errors else (lambda role: role != "error")
    peak = live_peak(schedule, counted)
    return Memory("live", "live", peak.bytes, peak.by_role, peak.at, tuple(name for name, _, _ in peak.tensors),
                  peak.timeline)


def arena(model, procedure, phase_name: str, plan, sizes) -> Memory:
    from .planners import TFLM_ALIGNMENT, greedy
    from .schedules import build

    schedule = build(procedure, phase_name, model, plan, sizes)
    counted = (lambda role: True) if plan.setup.count_errors else (lambda role: role != "error")
    if any(hasattr(t.bytes, "shape") for t in schedule.tensors + schedule.persistent):
        return _arena_per_variant(schedule, counted)
    layout = greedy(schedule, counted, TFLM_ALIGNMENT)
    at = layout.live_at
    live = [p.tensor for p in layout.placements if p.tensor.first <= at <= p.tensor.last]
    by_role: dict[str, Any] = {}
    for t in [*layout.persistent, *live]:
        by_role[t.role] = by_role.get(t.role, 0) + int(t.bytes)
    by_role["fragmentation"] = layout.arena - sum(int(t.bytes) for t in live)
    return Memory("arena", "arena", layout.arena + layout.persistent_bytes, by_role, schedule.steps[at],
                  tuple(t.name for t in live))


def tflm(model, procedure, phase_name: str, plan, sizes) -> Memory:
    """Inference planned as TFLite Micro plans it: its lives, its 16-byte alignment, its greedy
    placement with ties broken by the file's tensor order. TFLite Micro does not train: training
    rows are the arena of learncost's schedule, and say so."""
    from .planners import TFLM_ALIGNMENT, greedy
    from .schedules import build_tflm as tflm_schedule

    if phase_name != "inference" or any(t.op != "forward" for t in procedure.phase(phase_name).terms):
        m = arena(model, procedure, phase_name, plan, sizes)
        return Memory("tflm", "arena (TFLite Micro runs inference only)", m.bytes, m.by_role, m.at, m.items)
    schedule = tflm_schedule(model, plan, sizes)
    order = {layer.name: k for k, layer in enumerate(model.layers)}
    order.update(model.tensor_order)
    last = len(order) + max(order.values(), default=0)  # scratch buffers after every tensor
    layout = greedy(schedule, alignment=TFLM_ALIGNMENT, order=lambda t: order.get(t.name, last + t.first))
    at = layout.live_at
    live = [p.tensor for p in layout.placements if p.tensor.first <= at <= p.tensor.last]
    by_role: dict[str, Any] = {}
    for t in live:
        by_role[t.role] = by_role.get(t.role, 0) + int(t.bytes)
    by_role["fragmentation"] = layout.arena - sum(by_role.values())
    from .tflm import tail

    graph = model.runtime.get("tflm")
    persistent = tail(graph) if graph is not None else None
    rule = "tflm"
    if persistent is None:  # only a .tflite states what the tail depends on
        rule = "tflm (the head: TFLite Micro's persistent tail is estimated for .tflite files)"
    else:
        by_role["runtime"] = persistent
    return Memory("tflm", rule, layout.arena + (persistent or 0), by_role, schedule.steps[at],
                  tuple(t.name for t in live))


def _arena_per_variant(schedule, counted) -> Memory:
    """A sweep's variants: greedy placement depends on each variant's own sizes, so one plan each."""
    import numpy

    from .planners import TFLM_ALIGNMENT, greedy

    n = max(len(t.bytes) for t in schedule.tensors + schedule.persistent if hasattr(t.bytes, "shape"))
    totals = numpy.zeros(n, dtype=numpy.int64)
    for v in range(n):
        layout = greedy(schedule, counted, TFLM_ALIGNMENT, variant=v)
        totals[v] = layout.arena + layout.persistent_bytes
    return Memory("arena", "arena", totals, {})


def _zero(v) -> bool:
    return not hasattr(v, "shape") and v == 0
