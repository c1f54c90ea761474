"""Learning procedures as declarations: which operations a phase does, how many times, on which
layers, and which of the paper's memory rules it follows.

A procedure is data (see ``builtin.py``); registering a new one touches nothing else. Its live
memory schedule, where it has one, is registered apart (``schedules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import UnknownNameError

#: how many times a term counts its operation: a number, or one of these (resolved by ``times``)
TIMES = {
    "classes": "the number of classes for a supervised classifier (FF inference tries every label), else 1",
    "applications": "optimizer applications per step: one per update pass when each gradient is applied as it "
                    "is computed, one per step when gradients are buffered",
    "accumulations": "micro-batch gradients added into the buffers per step: update passes x micro-batches - 1, "
                     "when gradients are buffered",
    "micro_batches": "micro-batches per step (the forward gradient draws its direction again for each)",
    "readout_accumulations": "a gradient formed once per micro-batch (FF's readout) added into its buffer: "
                             "micro-batches - 1, when gradients are buffered",
    "reconstruction_score": "2 for a model without classes (an autoencoder scores a sample by its reconstruction "
                            "error ||y - x||^2: a difference and a square summed per output element), else 0 (a "
                            "classifier takes the arg max)",
}

#: which layers a term counts: all (None) or those a selector picks
WHERE: dict[str, Callable] = {
    # the output head is where the model ends (``Plan.head``): a softmax inside the model (attention) is body
    "body": lambda plan, layer: layer.name not in plan.head_names,
    "trained": lambda plan, layer: plan.trained(layer.name),
    "trained_before_logits": lambda plan, layer: plan.trained(layer.name) and layer is not plan.logits,
    "readout": lambda plan, layer: layer.name in plan.readout_inputs,
}


@dataclass(frozen=True)
class Term:
    """``times`` x (the total of ``op`` over the layers ``where`` picks)."""

    op: str
    times: int | str = 1
    where: str | None = None

    def __post_init__(self):
        if isinstance(self.times, str) and self.times not in TIMES:
            raise ValueError(f"unknown times {self.times!r}")
        if self.where is not None and self.where not in WHERE:
            raise ValueError(f"unknown layer selector {self.where!r}")


@dataclass(frozen=True)
class Phase:
    terms: tuple[Term, ...]
    #: the paper's memory rule (``memory.CANDIDATES``), or per supervision: {"supervised": ..., "unsupervised": ...};
    #: None where no rule of the paper's fits (the paper accounting then takes the schedule's live peak)
    memory: str | tuple[tuple[str, str], ...] | None
    #: the paper keeps weights and biases in RAM beside the activations in training, not in inference
    params_in_ram: bool
    #: how many times per sample the weights are updated, where no weight_update term says it
    updates: int | None = None

    def describe(self) -> str:
        """The terms as one line: ``2x forward (body) + applications x optimizer``."""
        def term(t: Term) -> str:
            where = f" ({t.where.replace('_', ' ')})" if t.where else ""
            times = "" if t.times == 1 else f"{t.times}x " if isinstance(t.times, int) else f"{t.times} x "
            return f"{times}{t.op}{where}"

        return " + ".join(term(t) for t in self.terms)

    def memory_rule(self, supervised: bool) -> str | None:
        if self.memory is None or isinstance(self.memory, str):
            return self.memory
        return dict(self.memory)["supervised" if supervised else "unsupervised"]

    @property
    def update_passes(self) -> int:
        """How many times per sample the phase updates the weights (BP 1, FF 2, inference 0)."""
        if self.updates is not None:
            return self.updates
        return sum(int(t.times) for t in self.terms if t.op == "weight_update" and isinstance(t.times, int))


@dataclass(frozen=True)
class Procedure:
    id: str
    name: str
    reference: str
    training: Phase
    inference: Phase
    notes: tuple[str, ...] = field(default=())
    #: the shape of its fixed random feedback matrix, if it has one: "input" (PEPITA's F, output x input
    #: elements), "weights" (FA's B_l, shaped like W_l), "outputs" (DFA's and DRTP's B_l, output x classes)
    feedback: str | None = None
    #: phase -> its schedule builder, ``f(model, plan, sizes) -> Schedule`` (else the one registered for its id)
    schedules: Mapping[str, Callable] = field(default_factory=dict, compare=False)
    #: one paragraph: the per-sample step, for listings
    step: str = ""
    #: whether it trains a linear readout of the hidden activities (``Plan.readout``), parameters of its own
    #: beside the model's: classes x (the readout's input elements), in RAM in training, in flash for inference
    readout: bool = False

    def phase(self, name: str) -> Phase:
        if name == "training":
            return self.training
        if name == "inference":
            return self.inference
        raise UnknownNameError("phase", name, list(PHASES))


PROCEDURES: dict[str, Procedure] = {}
PHASES = ("training", "inference")


def register(procedure: Procedure) -> Procedure:
    PROCEDURES[procedure.id] = procedure
    return procedure


#: the paper's four, which analyze, fit, sweep and verify run unless told which (``all``: every registered one)
PAPER_PROCEDURES = ("bp", "ff", "pepita", "mempepita")


def get_procedure(name: str) -> Procedure:
    key = name.lower()
    if key not in PROCEDURES:
        raise UnknownNameError("procedure", name, [*PROCEDURES, "all"])
    return PROCEDURES[key]


def resolve_procedures(items) -> list[Procedure]:
    """Procedures by id or as objects; None: the paper's four; ``all`` stands for every registered one."""
    if items is None:
        return [PROCEDURES[p] for p in PAPER_PROCEDURES]
    out: list[Procedure] = []
    for x in items:
        picked = list(PROCEDURES.values()) if isinstance(x, str) and x.lower() == "all" else \
            [x if isinstance(x, Procedure) else get_procedure(x)]
        out += [p for p in picked if p not in out]
    return out


from . import builtin as _builtin  # noqa: E402,F401  (registers BP, FF, PEPITA, MEMPEPITA)
