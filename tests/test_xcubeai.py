"""X-CUBE-AI: its MACC convention, reading its reports, and checking a model against one."""

from __future__ import annotations

import pytest

from learncost import analyze
from learncost import setups as S
from learncost.cli import main

#: X-CUBE-AI 7.3.0's ModelMacc for the MLPerf Tiny reference models, as STM32CubeMX stored it in ST's v1.0
#: submissions: mlcommons/tiny_results_v1.0 closed/STMicroelectronics/code/NUCLEO-H7A3ZI-Q/{keyword_spotting/
#: KWS01.ioc, person_detection/VWW01.ioc, image_classification/IC01.ioc, anomaly_detection/AD01.ioc}
#: (the same figures in the U575 and L4R5 projects and in Krai's v1.1 X-CUBE-AI 7.3 projects)
XCUBEAI_73_MACC = {"kws": 2_665_584, "vww": 7_494_744, "ic": 12_534_936, "ad": 265_864}


def _xcubeai():
    return S.load("paper").model_copy(update={"convention": "xcubeai"})


@pytest.mark.parametrize("model", sorted(XCUBEAI_73_MACC))
def test_the_xcubeai_convention_gives_x_cube_ais_totals(model):
    a = analyze(model, ["bp"], [], setup=_xcubeai())
    assert a.row("bp", "inference").macc == XCUBEAI_73_MACC[model]
    # the difference from the paper's convention is one MACC per bias (kws: 5 convs x 64 + 4 depthwise x 64
    # + 12 = 588)
    paper = analyze(model, ["bp"], []).row("bp", "inference").macc
    assert XCUBEAI_73_MACC[model] - paper == a.model.biases


def test_xcubeai_on_the_command_line(capsys):
    import json

    assert main(["analyze", "kws", "-p", "bp", "-m", "nucleo-g474re", "--convention", "xcubeai", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["setup"]["convention"] == "xcubeai"
    assert next(r for r in d["rows"] if r["phase"] == "inference")["macc"] == 2_665_584
    # training books the paper's operations: BP's training MACC rises by the forward's 588 only
    assert next(r for r in d["rows"] if r["phase"] == "training")["macc"] == 7_666_544 + 588


def test_the_workbook_recomputes_under_xcubeai(tmp_path):
    pytest.importorskip("formulas")
    from tests.test_workbook import _recomputes

    _recomputes(tmp_path, analyze("kws", mcus=["nucleo-g474re"], setup=_xcubeai()))
