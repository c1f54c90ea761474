"""The Python API in a notebook: every public function documented with an example that runs (doctest),
and every result type with a short repr, a DataFrame equal to its CSV export and an HTML display of
its tables."""

from __future__ import annotations

import csv
import doctest
import io
import types

import pytest

import learncost

PUBLIC = ["analyze", "load_model", "load_spec", "from_torch", "verify"]


def _public_functions():
    from learncost import paper, sweep

    # learncost.verify is also the package of that name (callable): its function is what is documented
    named = [(name, getattr(learncost, name)) for name in PUBLIC]
    return [(name, getattr(fn, name) if isinstance(fn, types.ModuleType) else fn) for name, fn in named] + \
        [("paper.compute", paper.compute), ("sweep.run", sweep.run)]


@pytest.mark.parametrize("name,fn", _public_functions(), ids=lambda x: x if isinstance(x, str) else "")
def test_public_functions_have_an_example_that_runs(name, fn):
    assert fn.__doc__ and ">>>" in fn.__doc__, f"{name} has no example"
    if name in ("from_torch", "verify"):
        pytest.importorskip("torch", reason="the example needs the torch extra")
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(fn, name, globs={}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


@pytest.fixture(scope="module")
def results():
    from learncost.compare import compare, compare_procedures

    pandas = pytest.importorskip("pandas")
    a = learncost.analyze("ad", procedures=["bp", "ff"], mcus=["disco-f746ng"])
    out = {
        "paper": learncost.paper.compute(),
        "compare": compare(learncost.load_model("kws"), learncost.load_model("ad")),
        "procedures": compare_procedures(a),
    }
    try:
        import torch  # noqa: F401

        out["verify"] = learncost.verify("ad", ["bp"])
    except ImportError:
        pass
    return pandas, out


def test_short_reprs(results):
    _, r = results
    assert repr(r["paper"]) == "<PaperResult consistent: kws, vww, ic, ad, 2 MCUs, 0 errata applied>"
    assert repr(r["compare"]).startswith("<Comparison DS-CNN vs FC-AutoEncoder: ")
    assert repr(r["procedures"]) == "<ProcedureComparison ad: 2 procedures against bp>"
    if "verify" in r:
        assert repr(r["verify"]) == "<Verification ad, setup paper: 2 checks, 0 unexplained>"
    assert all(len(repr(x)) < 200 for x in r.values())


def test_dataframes_are_the_csv_exports(results):
    """Every result type's DataFrame has the CSV export's columns and rows (the CSV read independently)."""
    _, r = results
    from learncost.report import compare_report, paper_report, procedures_report, verify_report

    reports = {"paper": paper_report, "compare": compare_report, "procedures": procedures_report,
               "verify": verify_report}
    for key, result in r.items():
        frame = result.to_dataframe()
        rows = list(csv.reader(io.StringIO(reports[key].csv_text(result))))
        assert list(frame.columns) == rows[0] and len(frame) == len(rows) - 1, key
    paper = r["paper"].to_dataframe()
    kws_bp = paper[(paper["model"] == "kws") & (paper["procedure"] == "bp") & (paper["phase"] == "training")]
    assert int(kws_bp["macc"].iloc[0]) == 7_666_544  # sheet B33


def test_html_display(results):
    """Jupyter's rich display: the result's tables, each a <table> with its caption."""
    _, r = results
    from learncost.report import paper_report

    html = r["paper"]._repr_html_()
    assert html.count("<table>") == len(paper_report.tables(r["paper"]))
    html = learncost.analyze("kws", procedures=["bp"], mcus=["disco-f746ng"])._repr_html_()
    # kws BP training MACC (sheet B33) and RAM (README)
    assert "<table>" in html and "7,666,544" in html and "95,218" in html


def test_to_dataframe_without_pandas(monkeypatch, results):
    import builtins

    real = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(learncost.LearncostError, match="to_dataframe needs pandas"):
        results[1]["compare"].to_dataframe()


def test_sweep_display_and_frame():
    pytest.importorskip("pandas")
    s = learncost.sweep.run("kws", {"filters": [32, 64]}, ["bp"], ["disco-f746ng"])
    assert repr(s).startswith("<Sweep kws: 2 variants")
    assert "<table>" in s._repr_html_()
    frame = s.to_dataframe()
    training = frame[(frame["procedure"] == "bp") & (frame["phase"] == "training")]
    assert training["macc"].tolist() == [2_297_392, 7_666_544]  # at 64 filters: sheet B33


def test_a_missing_check_says_which_exist():
    pytest.importorskip("torch")
    v = learncost.verify("ad", ["bp"])
    assert v.check("bp", "training").procedure == "bp"
    with pytest.raises(KeyError, match="no check .'ff', 'training'.: procedures bp; phases training, inference"):
        v.check("ff", "training")
