"""Learning procedures as declarations: which operation totals, how many times, which memory rule.

A procedure is data (see ``builtin.py``); registering a new one touches nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UnknownNameError


@dataclass(frozen=True)
class Term:
    """``times`` x (the model's total of ``op``), ignoring layers of ``skip_kinds``.

    ``times`` may be ``"passes"``: the number of classes for a supervised classifier
    (FF inference tries every label), 1 otherwise.
    """

    op: str
    times: int | str = 1
    skip_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Phase:
    terms: tuple[Term, ...]
    #: memory rule name (``memory.CANDIDATES``), or per supervision: {"supervised": ..., "unsupervised": ...}
    memory: str | tuple[tuple[str, str], ...]
    #: training keeps weights and biases in RAM beside the activations; inference counts activations only
    params_in_ram: bool

    def memory_rule(self, supervised: bool) -> str:
        if isinstance(self.memory, str):
            return self.memory
        return dict(self.memory)["supervised" if supervised else "unsupervised"]


@dataclass(frozen=True)
class Procedure:
    id: str
    name: str
    reference: str
    training: Phase
    inference: Phase
    notes: tuple[str, ...] = field(default=())

    def phase(self, name: str) -> Phase:
        return self.training if name == "training" else self.inference


PROCEDURES: dict[str, Procedure] = {}
PHASES = ("training", "inference")


def register(procedure: Procedure) -> Procedure:
    PROCEDURES[procedure.id] = procedure
    return procedure


def get_procedure(name: str) -> Procedure:
    key = name.lower()
    if key not in PROCEDURES:
        raise UnknownNameError("procedure", name, list(PROCEDURES))
    return PROCEDURES[key]


from . import builtin as _builtin  # noqa: E402,F401  (registers BP, FF, PEPITA, MEMPEPITA)
