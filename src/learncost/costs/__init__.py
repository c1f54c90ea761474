"""Per-layer operation costs: closed-form MACC formulas registered by (layer kind, operation),
and what a training setup makes of them (``ops``)."""

from .registry import OPERATIONS, OPS, PAPER_OPERATIONS, formula, formula_for, formulas_for  # noqa: F401
from . import formulas as _formulas  # noqa: F401  (registers the formulas)
from .ops import layer_costs  # noqa: F401
