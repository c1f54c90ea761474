"""Figures a reader can read (issue 17): labelled per-layer bars, no text under 8 pt at the saved size,
pages within A4 landscape, text kept as text in SVG and PDF, coinciding Pareto fronts both visible."""

import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import learncost
from learncost.report import plots
from learncost.report.output import write

A4_LANDSCAPE_PT = 842


def _analysis_figure(model="kws", procs=("bp", "ff", "pepita", "mempepita"), mcus=("disco-f746ng",)):
    a = learncost.analyze(model, list(procs), list(mcus))
    return a, plots.analysis_figure(a)


def _sweep(procs=("bp", "ff", "pepita", "mempepita")):
    return learncost.sweep.run("kws", {"blocks": [1, 2, 3]}, list(procs), ["nucleo-g474re", "disco-f746ng"])


def _memory_figure(procedure="bp"):
    from learncost.evaluate import Evaluator
    from learncost.procedures import get_procedure
    from learncost.report.analysis_report import model_label
    from learncost.setups import load as load_setup

    m = learncost.load_model("ad")
    ev = Evaluator(m, load_setup("int8-fp32grad"))
    schedule, layout = ev.layout(get_procedure(procedure), "training")
    return plots.memory_figure(SimpleNamespace(schedule=schedule, layout=layout, procedure=procedure,
                                               phase="training", setup=ev.setup, model_key=m.id,
                                               model_label=model_label(m)))


def _legend_axes(fig):
    """The axes holding the per-layer legend (colour: operation; then the procedures)."""
    found = [ax for ax in fig.axes if ax.get_legend() and ax.get_legend().get_title().get_text() == "colour: operation"]
    assert len(found) == 1
    return found[0]


def _texts(fig):
    """Every visible, non-empty text of a drawn figure: titles, labels, tick labels, legends, annotations."""
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _save(fig, tmp_path, name):
    """Saved as ``learncost ... -o name`` saves it."""
    path = write(str(tmp_path / name), False, text=lambda fmt: "", figure=lambda: fig)
    return path.read_bytes()


def _media_box(pdf: bytes) -> tuple[float, float]:
    boxes = re.findall(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", pdf)
    assert len(boxes) == 1  # one page
    x0, y0, x1, y1 = map(float, boxes[0])
    return x1 - x0, y1 - y0


# -- per-layer panels ------------------------------------------------------------------------------------------

def test_per_layer_legend_names_each_procedure_and_each_operation_drawn():
    a, fig = _analysis_figure()
    legend = _legend_axes(fig).get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    procs = ["bp", "ff", "pepita", "mempepita"]
    for p in procs:
        assert p in labels
    ops = {op for p in procs for ops in a.breakdown(p, "training").values() for op, v in ops.items() if v}
    assert {"forward", "backward", "weight_update", "goodness", "projection"} <= ops
    for op in ops:
        assert any(label.startswith(op.replace("_", " ")) for label in labels), (op, labels)
    assert "backward (dX)" in labels and "weight update (dW)" in labels
    # each procedure's bars carry the hatch its legend entry shows, and no two procedures share one
    handles = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles)}
    hatches = [handles[p].get_hatch() or "" for p in procs]
    assert len(set(hatches)) == len(procs)
    panel = next(ax for ax in fig.axes if ax.get_title() == "training MACC per layer, by operation")
    width = 0.8 / len(procs)
    for bar in panel.patches:
        centre = bar.get_x() + bar.get_width() / 2  # layer j's bar of procedure k at j + k * width
        k = round((centre - np.floor(centre + width / 2)) / width)
        assert (bar.get_hatch() or "") == hatches[k]
    # one colour per operation, and every bar in one of the legend's colours
    colours = {label: h.get_facecolor() for label, h in handles.items() if label not in procs and h.get_visible()}
    assert len(colours) == len(ops) and len(set(colours.values())) == len(colours)
    assert {bar.get_facecolor() for bar in panel.patches} <= set(colours.values())


def test_per_layer_tick_labels_name_each_layer_and_are_thinned_when_many():
    a, fig = _analysis_figure(procs=("bp", "ff"))
    fig.canvas.draw()
    bottom = fig.axes[-2] if len(fig.axes) > 4 else fig.axes[-1]  # the last per-layer panel (legend axes last)
    names = [t.get_text() for t in bottom.get_xticklabels()]
    layers = [layer.name for layer in a.model.layers]
    assert names and set(names) <= set(layers) and len(names) == len(set(names))
    assert "conv1" in names and "dw1" in names
    # many layers: no two tick labels closer than a line of 8 pt text
    step = plots._ticks(SimpleNamespace(set_xticks=lambda *args, **kw: None), list(range(281)), ["x"] * 281, 8.0)
    assert step > 1 and 8.0 * 72 / (281 / step) >= 1.3 * plots.MIN_FONT


def test_figure_size_follows_the_content():
    _, few = _analysis_figure("ad", ("bp",), ())
    _, many = _analysis_figure("kws", ("bp", "ff", "pepita", "mempepita"), ("disco-f746ng",))
    w_few, h_few = few.get_size_inches()
    w_many, h_many = many.get_size_inches()
    assert w_few < w_many <= plots.MAX_WIDTH
    assert h_few < h_many <= plots.MAX_HEIGHT  # one per-layer panel against two (the board's milliseconds)


# -- fonts, pages, text -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("build", ["analysis", "analysis-untimed", "sweep", "memory", "paper"])
def test_no_text_under_8_points(build):
    if build == "analysis":
        fig = _analysis_figure("ad")[1]
    elif build == "analysis-untimed":
        fig = _analysis_figure("ad", ("bp", "pepita"), ())[1]
    elif build == "sweep":
        fig = plots.sweep_figure(_sweep())
    elif build == "memory":
        fig = _memory_figure("pepita")
    else:
        from learncost import paper

        fig = plots.paper_figure(paper.compute(models=["kws", "ad"]))
    texts = _texts(fig)
    assert len(texts) > 20
    small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < plots.MIN_FONT]
    assert not small
    w, h = fig.get_size_inches()
    assert w <= plots.MAX_WIDTH and h <= plots.MAX_HEIGHT


@pytest.mark.parametrize("model", ["kws", "ad"])
def test_pdf_page_within_a4_landscape_and_text_selectable(tmp_path, model):
    _, fig = _analysis_figure(model, ("bp", "ff"))
    pdf = _save(fig, tmp_path, f"{model}.pdf")
    width, height = _media_box(pdf)
    assert 400 < width <= A4_LANDSCAPE_PT and height <= A4_LANDSCAPE_PT
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType embedded, not glyphs drawn as shapes


def test_paper_pdf_page_within_a4_landscape(tmp_path):
    """The paper's four models side by side were 1,201 pt wide."""
    from learncost import paper

    width, height = _media_box(_save(plots.paper_figure(paper.compute()), tmp_path, "paper.pdf"))
    assert 400 < width <= A4_LANDSCAPE_PT and height <= A4_LANDSCAPE_PT


@pytest.mark.parametrize("name", ["sweep.pdf", "mem.pdf"])
def test_sweep_and_memory_pdf_pages_within_a4_landscape(tmp_path, name):
    fig = plots.sweep_figure(_sweep(("bp", "pepita"))) if name == "sweep.pdf" else _memory_figure()
    width, height = _media_box(_save(fig, tmp_path, name))
    assert width <= A4_LANDSCAPE_PT and height <= A4_LANDSCAPE_PT


def test_svg_keeps_layer_names_as_text(tmp_path):
    _, fig = _analysis_figure("ad", ("bp", "ff"), ())
    root = ET.fromstring(_save(fig, tmp_path, "ad.svg"))
    texts = ["".join(el.itertext()).strip() for el in root.iter() if el.tag.endswith("}text")]
    for layer in ("fc1", "fc5", "fc10"):
        assert layer in texts
    assert "bp" in texts and "ff" in texts and "forward" in texts
    assert not [el for el in root.iter() if el.tag.endswith("}use") and "DejaVu" in str(el.attrib)]


# -- the sweep: coinciding fronts --------------------------------------------------------------------------------

def test_coinciding_pareto_fronts_are_both_drawn_and_said_so():
    s = _sweep()
    bp, pepita = s.pareto("bp"), s.pareto("pepita")
    ram = s.ram
    assert np.array_equal(ram[("bp", "training")][bp], ram[("pepita", "training")][pepita])  # the premise
    assert np.array_equal(s.forward_macc[bp], s.forward_macc[pepita])
    fig = plots.sweep_figure(s)
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_linestyle() == "None"]  # each front's points
    steps = [line for line in ax.get_lines() if line.get_drawstyle().startswith("steps")]
    assert len(marks) == 4 and len(steps) == 4
    by_colour = {line.get_markeredgecolor(): line for line in marks}
    first, later = by_colour["C0"], by_colour["C2"]  # bp, pepita
    assert np.array_equal(first.get_xdata(), later.get_xdata()) and np.array_equal(first.get_ydata(), later.get_ydata())
    assert first.get_marker() != later.get_marker()
    assert later.get_markersize() < first.get_markersize() and later.get_zorder() > first.get_zorder()
    styles = {line.get_color(): line.get_linestyle() for line in steps}
    assert styles["C0"] != styles["C2"]
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[0] == "bp" and labels[2] == "pepita (front = bp's)"
    assert "the same front" in legend.get_title().get_text()
    handles = legend.legend_handles
    assert len({h.get_marker() for h in handles}) == 4 and len({str(h.get_linestyle()) for h in handles}) == 4


def test_distinct_fronts_are_not_called_the_same():
    s = _sweep(("bp", "ff"))
    fig = plots.sweep_figure(s)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["bp", "ff"]
    assert legend.get_title().get_text() == "Pareto front"
