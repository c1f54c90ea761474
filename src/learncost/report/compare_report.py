"""Report of ``learncost compare``."""

from __future__ import annotations

from ..compare import Comparison
from .schema import dumps
from .tables import Table, to_csv

COLUMNS = ["A layer", "A kind", "A forward", "A output", "A params", "B layer", "B kind", "B forward", "B output",
           "B params", "differences", "notes"]


def _side(lr) -> list:
    if lr is None:
        return ["", "", None, "", None]
    return [lr.name, lr.kind, lr.macc["forward"], "x".join(map(str, lr.output_shape)), lr.weights + lr.biases]


def rows(c: Comparison) -> list[list]:
    return [[*_side(p.a), *_side(p.b), "; ".join(p.differences), "; ".join(p.notes)] for p in c.pairs]


def tables(c: Comparison) -> list[Table]:
    notes = [f"{c.differing} of {len(c.pairs)} aligned layers differ" if c.differing else "no difference in forward MACC, output size or parameters"]
    for side, model in (("a", c.a), ("b", c.b)):
        if c.left_out[side]:
            notes.append(f"not aligned, {model.name} (no buffer of their own): {', '.join(c.left_out[side])}")
        notes += [f"warning ({model.name}): {w}" for w in model.warnings]
    return [Table(f"A = {c.a.name}, B = {c.b.name}", COLUMNS, rows(c), notes, numeric={2, 4, 7, 9})]


def to_json(c: Comparison) -> str:
    return dumps({
        "a": c.a.name, "b": c.b.name, "differing": c.differing,
        "layers": [{"a": p.a.name if p.a else None, "b": p.b.name if p.b else None,
                    "kind": (p.a or p.b).kind, "differences": p.differences, "notes": p.notes,
                    "a_forward": p.a.macc["forward"] if p.a else None, "b_forward": p.b.macc["forward"] if p.b else None}
                   for p in c.pairs],
        "left_out": c.left_out,
    })


def csv_text(c: Comparison) -> str:
    return to_csv(COLUMNS, rows(c))
