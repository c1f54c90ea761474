"""Cell by cell: every per-layer figure of the paper's sheet against learncost.

For each layer column and each quantity row of the sheet, the consistent computation must
equal the cell, or the cell must be named by an erratum; with the errata applied every cell
must be matched. This is how the errata list was found, and it keeps the list complete.
Needs ../shared/reference/analysis.ods.
"""

from __future__ import annotations

import pytest

from conftest import SHEET, needs_sheet
from learncost import analyze, paper

pytestmark = needs_sheet
OPS = ("forward", "backward", "weight_update", "goodness", "normalization", "projection")


@pytest.fixture(scope="module")
def cells():
    from ods import read_cells

    return read_cells(SHEET)


def _num(cells, ref) -> float:
    value = cells.get(ref, (0.0, ""))[0]
    return value if isinstance(value, float) else 0.0


def _cited(model: str) -> set[str]:
    return {c for e in paper.errata() if e.model == model for c in e.cells}


MODELS = list(paper.sheet_map()["models"])


@pytest.mark.parametrize("model", MODELS)
def test_per_layer_cells(cells, model):
    spec = paper.sheet_map()["models"][model]
    consistent = {lr.name: lr for lr in analyze(model).layers}
    patches = paper.patches_for(model)
    published = {lr.name: lr for lr in analyze(model, patches=patches).layers}
    assert set(spec["columns"].values()) == set(consistent), "every layer has a sheet column"
    cited = _cited(model)
    uncited, unmatched, checked = [], [], 0
    for col, layer in spec["columns"].items():
        rows = spec["rows"]
        figures = {
            "activations": (consistent[layer].activations_bytes,
                            published[layer].activations_bytes + patches.buffer_delta.get(layer, 0)),
            "weights": (consistent[layer].weights, published[layer].weights),
            "biases": (consistent[layer].biases, published[layer].biases),
        }
        figures.update({op: (consistent[layer].macc[op], published[layer].macc[op]) for op in OPS})
        for quantity, (ours, ours_published) in figures.items():
            ref = f"{col}{rows[quantity]}"
            sheet = _num(cells, ref)
            checked += 1
            if ours != sheet and ref not in cited:
                uncited.append(f"{ref} ({layer} {quantity}): sheet {sheet:g}, learncost {ours}")
            if ours_published != sheet:
                unmatched.append(f"{ref} ({layer} {quantity}): sheet {sheet:g}, as published {ours_published}")
    assert not uncited, "differences no erratum names:\n" + "\n".join(uncited)
    assert not unmatched, "as-published differs from the sheet:\n" + "\n".join(unmatched)
    assert checked == len(spec["columns"]) * 9


@pytest.mark.parametrize("model", MODELS)
def test_error_gradient_row_total(cells, model):
    """The sheet books the output error under the softmax column (U28), learncost under the model's
    output layer (the float->INT8 converter after it); the row totals agree."""
    spec = paper.sheet_map()["models"][model]
    row = spec["rows"]["error"]
    sheet_total = sum(_num(cells, f"{col}{row}") for col in spec["columns"])
    assert sum(lr.macc["error"] for lr in analyze(model).layers) == sheet_total


@pytest.mark.parametrize("model", MODELS)
def test_total_cells_differ_only_through_errata(cells, model):
    """A procedure total that differs from the sheet is moved by some erratum of that model."""
    spec = paper.sheet_map()["models"][model]
    base = analyze(model)
    moved = {k for ef in paper.effects() if ef.erratum.model == model for k in ef.changes}
    for proc, (train_macc, train_act, inf_macc, inf_act) in spec["totals"].items():
        for ref, phase, quantity in ((train_macc, "training", "macc"), (train_act, "training", "activations_bytes"),
                                     (inf_macc, "inference", "macc"), (inf_act, "inference", "activations_bytes")):
            ours = getattr(base.row(proc, phase), quantity)
            if ours != _num(cells, ref):
                assert (proc, phase, quantity) in moved, f"{ref}: sheet {_num(cells, ref):g}, learncost {ours}"


def test_tsv_lacks_repeated_cells(cells):
    """analysis-cells.tsv drops cells stored with a repeat count: F3 (pw1's 8000 bytes) is one."""
    import csv

    tsv = SHEET.parent / "analysis-cells.tsv"
    listed = {row[0] for row in csv.reader(tsv.open(encoding="utf-8"), delimiter="\t")}
    assert "F3" not in listed and cells["F3"][0] == 8000.0
