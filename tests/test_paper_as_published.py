"""--as-published reproduces every summary figure of the paper's sheet (expected values: paper_figures.py)."""

from __future__ import annotations

import pytest

from learncost import paper
from paper_figures import PARAMETERS, SUMMARY, TOTALS

PUBLISHED = paper.compute(as_published=True)
CONSISTENT = paper.compute(as_published=False)
MAP = paper.sheet_map()
PROCS = MAP["summary"]["procedures"]


@pytest.mark.parametrize("key", list(TOTALS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_integer_totals_exact(key):
    model, proc = key
    a = PUBLISHED.analyses[model]
    (c1, train_macc), (c2, train_act), (c3, inf_macc), (c4, inf_act) = TOTALS[key]
    assert a.row(proc, "training").macc == train_macc, c1
    assert a.row(proc, "training").activations_bytes == train_act, c2
    assert a.row(proc, "inference").macc == inf_macc, c3
    assert a.row(proc, "inference").activations_bytes == inf_act, c4


@pytest.mark.parametrize("model", list(PARAMETERS))
def test_parameters_exact(model):
    cell, expected = PARAMETERS[model]
    a = PUBLISHED.analyses[model]
    assert a.model.weights + a.model.biases == expected, cell
    assert a.row("bp", "training").params_bytes == expected, cell  # INT8: one byte each


def _summary_cells():
    """cell -> (model, procedure, quantity, mcu) for every summary cell, from the sheet map."""
    out = {}
    for quantity, row in MAP["summary"]["rows"].items():
        per_mcu = row if isinstance(row, dict) else {None: row}
        for mcu, r in per_mcu.items():
            for model, cols in MAP["summary"]["columns"].items():
                for proc, col in zip(PROCS, cols):
                    out[f"{col}{r}"] = (model, proc, quantity, mcu)
    return out


CELLS = _summary_cells()


def _value(result, model, proc, quantity, mcu):
    a = result.analyses[model]
    phase = "training" if quantity.startswith("train") else "inference"
    row = a.row(proc, phase)
    return {
        "training_macc": row.macc / 1e6, "inference_macc": row.macc / 1e6,
        "training_activations": row.activations_bytes / 1e3, "training_ram": row.ram_bytes / 1e3,
        "inference_ram": row.ram_bytes / 1e3,
        "training_latency": row.latency_ms.get(mcu), "inference_latency": row.latency_ms.get(mcu),
        "train_hours": (row.train_hours or {}).get(mcu),
    }[quantity]


def _shown(value: float, displayed: str) -> str:
    """Format like the sheet's cell: same number of decimals (and a % where it shows one)."""
    pct = displayed.endswith("%")
    text = displayed.rstrip("%")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value * 100 if pct else value:.{decimals}f}" + ("%" if pct else "")


@pytest.mark.parametrize("cell", [c for c in SUMMARY if c in CELLS])
def test_summary_cell(cell):
    expected = SUMMARY[cell]
    value = _value(PUBLISHED, *CELLS[cell])
    assert _shown(value, expected) == expected, f"{cell}: {CELLS[cell]}"


def _relative_cells():
    out = {}
    rel = MAP["summary"]["relative"]
    for metric, row in rel["rows"].items():
        for group, cols in rel["columns"].items():
            for proc, col in cols.items():
                out[f"{col}{row}"] = (group, proc, metric)
    return out


RELATIVE = _relative_cells()


@pytest.mark.parametrize("cell", list(RELATIVE))
def test_relative_cell(cell):
    group, proc, metric = RELATIVE[cell]
    value = PUBLISHED.relative[group][proc][metric]
    assert _shown(value, SUMMARY[cell]) == SUMMARY[cell]


def test_every_summary_cell_is_checked():
    assert set(SUMMARY) == set(CELLS) | set(RELATIVE)
    assert len(SUMMARY) == 16 * 11 + 6 * 5


def test_all_errata_applied_only_as_published():
    assert len(PUBLISHED.errata_applied) == len(paper.errata()) == 9
    assert CONSISTENT.errata_applied == []


@pytest.mark.parametrize("erratum", paper.errata(), ids=lambda e: e.id)
def test_each_erratum_moves_a_published_figure(erratum):
    """No erratum is dead weight: applied alone, each changes at least one total or layer figure."""
    effect = next(ef for ef in paper.effects() if ef.erratum.id == erratum.id)
    assert effect.changes, erratum.id
