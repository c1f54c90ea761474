"""The live workbook: recomputed by an independent engine (the ``formulas`` package), it must
give learncost's own figures; after an edit to an input cell, the figures of the edited model.

LibreOffice is not available here, so the ``.ods`` formulas are checked by translating them
back from OpenFormula to Excel syntax (a translation written in this test, not the writer's)
and recomputing that with ``formulas``; the cached values the .ods stores are checked too.
"""

import copy
import re
import zipfile
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

formulas = pytest.importorskip("formulas")
openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("odf")

from learncost.analysis import analyze  # noqa: E402
from learncost.catalog import get_mcu  # noqa: E402
from learncost.report import workbook as W  # noqa: E402
from learncost.spec import model_from_data  # noqa: E402
from learncost.zoo import builtin_spec  # noqa: E402

from conftest import MODELS_DIR, needs_models, run_cli  # noqa: E402

BOARDS = ["stm32h735g-dk", "nucleo-g474re", "rp2040-pico"]  # the last has no cycles/MACC: blank latency


def _compute(path):
    """Every cell of the workbook, recomputed: {(SHEET, 'A1'): value}."""
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    out = {}
    for key, value in solution.items():
        mo = re.fullmatch(r"'\[[^\]]+\]([^']+)'!([A-Z]+\d+)", key)
        if mo:
            v = getattr(value, "value", value)
            out[(mo.group(1), mo.group(2))] = v[0, 0] if hasattr(v, "shape") else v
    return out


def _totals_header(book):
    return book.sheets[-1].rows[0]


def _check_totals(cells, book, analyses):
    header = _totals_header(book)
    col = {name: W.col_letter(j) for j, name in enumerate(header)}
    k = 2
    for a in analyses:
        for r in a.rows:
            assert cells[("TOTALS", f"{col['MACC']}{k}")] == r.macc, (a.model_key, r.procedure, r.phase)
            assert cells[("TOTALS", f"{col['activations_B']}{k}")] == r.activations_bytes
            assert cells[("TOTALS", f"{col['params_B']}{k}")] == r.params_bytes
            assert cells[("TOTALS", f"{col['RAM_B']}{k}")] == r.ram_bytes
            for m in a.mcus:
                latency = cells.get(("TOTALS", f"{col[f'latency_ms[{m.id}]']}{k}"))
                if r.latency_ms[m.id] is None:
                    assert not isinstance(latency, (int, float))  # blank: no cycles/MACC, no figure
                else:
                    assert latency == pytest.approx(r.latency_ms[m.id], rel=1e-12)
                hours = (r.train_hours or {}).get(m.id)
                if hours is not None:
                    assert cells[("TOTALS", f"{col[f'train_hours[{m.id}]']}{k}")] == pytest.approx(hours, rel=1e-12)
                fits = r.fit[m.id].fits
                if fits is not None:
                    assert bool(cells[("TOTALS", f"{col[f'fits[{m.id}]']}{k}")]) is fits
            k += 1


def _check_layers(cells, a, sheet):
    for k, lr in enumerate(a.layers, start=2):
        for op, value in lr.macc.items():
            letter = W.col_letter(W.LAYER_COLS.index(op))
            assert cells.get((sheet.upper(), f"{letter}{k}"), 0) == value, (lr.name, op)


def _recomputes(tmp_path, a):
    """Write ``a``'s workbook, recompute it, check its totals and layer cells against ``a``: (book, path)."""
    book = W.build([a])
    path = tmp_path / f"{a.model_key}.xlsx"
    W.write_xlsx(book, path)
    cells = _compute(path)
    _check_totals(cells, book, [a])
    _check_layers(cells, a, f"{a.model_key}_layers")
    return book, path


@pytest.mark.parametrize("model", ["kws", "ic", "ad"])  # a chain, residual branches, an unsupervised autoencoder
def test_xlsx_recomputes_to_learncost_figures(tmp_path, model):
    _recomputes(tmp_path, analyze(model, mcus=BOARDS))


@pytest.mark.parametrize("setup", ["paper", "int8-fp32grad"])
def test_engine_profiles_recompute_as_live_formulas(tmp_path, setup):
    """Boards timed by a per-kind engine profile (the F746 under Plumerai, the L4R5 under X-CUBE-AI): the latency
    cell is each rate class's MACC cells times the class's rate in settings; recomputed, it is learncost's."""
    a = analyze("kws", mcus=["disco-f746ng", "nucleo-l4r5zi"], setup=setup)
    assert {r.engine["disco-f746ng"] for r in a.rows} == {"plumerai"}
    _recomputes(tmp_path, a)


def _edit(path, sheet, cell, value):
    wb = openpyxl.load_workbook(path)
    wb[sheet][cell] = value
    wb.save(path)


def _layer_cell(a, layer, col):
    return f"{W.col_letter(W.LAYER_COLS.index(col))}{[lr.name for lr in a.layers].index(layer) + 2}"


def test_editing_inputs_recomputes_as_learncost_would(tmp_path):
    a = analyze("kws", mcus=BOARDS)
    path = tmp_path / "kws.xlsx"
    W.write_xlsx(W.build([a]), path)
    # conv1 with 32 filters, an input of 40 frames instead of 49, and the H735 at 2.5 cycles/MACC
    _edit(path, "kws_layers", _layer_cell(a, "conv1", "filters/units"), 32)
    _edit(path, "kws_layers", _layer_cell(a, "input", "H_out"), 40)
    _edit(path, "settings", "C2", 2.5)
    spec = copy.deepcopy(builtin_spec("kws"))
    spec["layers"][0]["filters"] = 32
    spec["input"]["shape"] = [40, 10, 1]
    boards = [replace(get_mcu("stm32h735g-dk"), cycles=2.5), get_mcu("nucleo-g474re"), get_mcu("rp2040-pico")]
    edited = analyze(model_from_data(spec, origin="kws.yaml", values={}), mcus=boards)
    assert edited.row("bp", "training").macc != a.row("bp", "training").macc  # the edit matters
    cells = _compute(path)
    _check_totals(cells, W.build([edited]), [edited])
    _check_layers(cells, edited, "kws_layers")


def test_paper_workbook_holds_the_four_models(tmp_path):
    r = run_cli("paper", "-o", str(tmp_path / "paper.xlsx"))
    assert r.returncode == 0, r.stderr
    wb = openpyxl.load_workbook(tmp_path / "paper.xlsx")
    assert wb.sheetnames == ["settings", "setup", "kws_layers", "kws_memory", "vww_layers", "vww_memory", "ic_layers",
                             "ic_memory", "ad_layers", "ad_memory", "totals"]
    assert str(wb["totals"]["D2"].value).startswith("=SUM(kws_layers!")


def _ods_to_xlsx(ods, xlsx):
    """Read content.xml directly and translate OpenFormula back to Excel syntax."""
    ns = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
          "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    t = "{%s}" % ns["table"]
    o = "{%s}" % ns["office"]
    root = ET.fromstring(zipfile.ZipFile(ods).read("content.xml"))
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    cached = {}

    def excel(f):
        f = f.removeprefix("of:=")
        ref = r"(\$?[A-Z]+\$?\d+)"  # absolute ($B$2) or relative (B2)
        f = re.sub(rf"\[\$(\w+)\.{ref}:\.{ref}\]", r"\1!\2:\3", f)
        f = re.sub(rf"\[\$(\w+)\.{ref}\]", r"\1!\2", f)
        f = re.sub(rf"\[\.{ref}:\.{ref}\]", r"\1:\2", f)
        f = re.sub(rf"\[\.{ref}\]", r"\1", f)
        return "=" + f.replace(";", ",")

    for table in root.iter(f"{t}table"):
        ws = wb.create_sheet(table.get(f"{t}name"))
        for r, row in enumerate(table.iter(f"{t}table-row"), start=1):
            for c, cell in enumerate(row.iter(f"{t}table-cell"), start=1):
                kind = cell.get(f"{o}value-type")
                value = {"float": lambda: float(cell.get(f"{o}value")),
                         "boolean": lambda: cell.get(f"{o}boolean-value") == "true",
                         "string": lambda: "".join(cell.itertext())}.get(kind, lambda: None)()
                formula = cell.get(f"{t}formula")
                ws.cell(r, c, excel(formula) if formula else value)
                cached[(ws.title.upper(), f"{W.col_letter(c - 1)}{r}")] = value
    wb.save(xlsx)
    return cached


@pytest.mark.parametrize("model", ["kws", "ic"])
def test_ods_formulas_and_cached_values(tmp_path, model):
    a = analyze(model, mcus=BOARDS)
    book = W.build([a])
    W.write_ods(book, tmp_path / "m.ods")
    cached = _ods_to_xlsx(tmp_path / "m.ods", tmp_path / "m.xlsx")
    _check_totals(cached, book, [a])  # what a spreadsheet shows before it recalculates
    cells = _compute(tmp_path / "m.xlsx")
    _check_totals(cells, book, [a])
    _check_layers(cells, a, f"{model}_layers")


def test_workbook_refuses_the_errata_and_leaves_nothing(tmp_path):
    r = run_cli("paper", "--as-published", "-o", str(tmp_path / "p.ods"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "drop --as-published" in r.stderr
    assert list(tmp_path.iterdir()) == []


@needs_models
@pytest.mark.parametrize("name", ["kws_ref_model_int8.tflite", "vww_96_int8.tflite", "resnet8.h5",
                                  "ad01_int8.tflite"])
def test_workbook_of_an_imported_file_recomputes(tmp_path, name):
    # imported graphs bring int32 biases, explicit reshapes and their own names
    from learncost.zoo import load_model

    a = analyze(load_model(str(MODELS_DIR / name)), mcus=BOARDS)
    book = W.build([a])
    W.write_xlsx(book, tmp_path / "m.xlsx")
    cells = _compute(tmp_path / "m.xlsx")
    _check_totals(cells, book, [a])
    _check_layers(cells, a, book.sheets[2].name)


def test_workbook_under_a_setup_recomputes_and_follows_its_cells(tmp_path):
    """int8-fp32grad with the live accounting: every schedule's tensors and per-step sums recompute to
    learncost's figures; with errors in 16 bits and pw4 trained on half its input channels (cells of
    the setup and layer sheets), to learncost's figures for that setup (MACC and memory; the
    schedule's structure stays, and halving pw4's channels changes which tensors exist, so memory is
    compared only for the error-bits edit)."""
    from learncost.setups import build, load

    a = analyze("kws", ["bp", "ff"], BOARDS, setup="int8-fp32grad")
    book, path = _recomputes(tmp_path, a)
    assert [sheet.name for sheet in book.sheets] == ["settings", "setup", "kws_layers", "kws_tensors", "kws_steps", "totals"]

    setup_rows = [row[0] for row in book.sheets[1].rows]
    _edit(path, "setup", f"B{setup_rows.index('bits[error]') + 1}", 16)
    data = {k: v for k, v in load("int8-fp32grad").model_dump().items() if k != "parameters"}
    data["precision"] = {**data["precision"], "error": 16}
    edited = analyze("kws", ["bp", "ff"], BOARDS, setup=build(data, "edited"))
    assert edited.row("bp", "training").ram_bytes < a.row("bp", "training").ram_bytes  # the edit matters
    _check_totals(_compute(path), W.build([edited]), [edited])

    _edit(path, "kws_layers", _layer_cell(a, "pw4", "weight_ratio"), 0.5)
    halved = analyze("kws", ["bp", "ff"], BOARDS, setup=build(
        {**data, "update": {"weights": {"layers": {**{lay.name: 1 for lay in a.model.layers if lay.has_weights},
                                                   "pw4": 0.5}}, "biases": "all"}}, "halved"))
    cells = _compute(path)
    header = _totals_header(book)
    col = {name: W.col_letter(j) for j, name in enumerate(header)}
    for k, r in enumerate(halved.rows, start=2):
        assert cells[("TOTALS", f"{col['MACC']}{k}")] == r.macc, (r.procedure, r.phase)


def test_ff_readout_workbook_recomputes(tmp_path):
    """FF with a readout under int8-fp32grad: its readout cells (classes x each activity's elements, its SGD
    step) and its parameters beyond the model's layers recompute to learncost's figures."""
    _recomputes(tmp_path, analyze("kws", ["ff", "ff-readout"], BOARDS, setup="int8-fp32grad"))
