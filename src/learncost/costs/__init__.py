"""Per-layer operation costs: closed-form MACC formulas registered by (layer kind, operation)."""

from .registry import OPERATIONS, formula, formulas_for, layer_maccs  # noqa: F401
from . import formulas as _formulas  # noqa: F401  (registers the formulas)
