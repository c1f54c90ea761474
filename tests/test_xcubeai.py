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


# --- reading reports and validating against them ------------------------------------------------------------

from tests import xcubeai_reports as R  # noqa: E402


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(R.SPEC)
    return path


LAYOUTS = {
    "5.2": (R.v5, "X-CUBE-AI", "5.2.0"),
    "7.1": (lambda: R.v7("7.1.0-RC3"), "X-CUBE-AI", "7.1.0"),
    "7.3": (lambda: R.v7("7.3.0-RC5", original=True), "X-CUBE-AI", "7.3.0"),
    "8.1": (R.v8, "X-CUBE-AI", "8.1.0"),
    "9.0": (lambda: R.v8("STEdgeAI Core v9.0.0-19802"), "X-CUBE-AI", "9.0.0"),
    "core-2.2": (lambda: R.v8("ST Edge AI Core v2.2.0-20266 2adc00962"), "ST Edge AI Core", "2.2.0"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_reads_to_the_same_figures(layout):
    from learncost import xcubeai

    write, tool, version = LAYOUTS[layout]
    r = xcubeai.parse(write(), f"{layout}.txt")
    assert (r.tool, r.version) == (tool, version)
    assert r.model_file == "/models/tiny.tflite"
    assert [x.name for x in r.layers] == [row[0] for row in R.ROWS]
    assert [x.macc for x in r.layers][:2] == [None, 6_916]
    old = layout == "5.2"
    assert [x.macc for x in r.layers][-2:] == [20 if old else 25, 75]
    assert r.weights_bytes == R.WEIGHTS and r.activations_bytes == R.ACTIVATIONS
    assert [(a.name, a.size_bytes) for a in r.c_arrays if a.scratch] == R.SCRATCH
    conv = r.layers[1]
    assert (conv.m_id, conv.params, conv.size_bytes, conv.connected) == (0, 112, 124, ["input_0"])
    if layout in ("7.3", "8.1", "9.0", "core-2.2"):
        assert (conv.type, conv.original, conv.shape) == ("Conv2D", "CONV_2D", (1, 8, 8, 4))
    if layout in ("8.1", "9.0", "core-2.2"):
        assert r.layers[6].connected == ["pool_2", "dense_3_weights"]  # the continuation row
    if not old:
        assert (r.model_macc, r.c_model_macc, r.macc) == (R.MODEL_MACC, R.C_MACC, R.C_MACC)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_validate_explains_every_difference(tiny, layout):
    from learncost import load_model, xcubeai
    from learncost.validate import FUSED, NO_DENSE_BIAS, compare

    write = LAYOUTS[layout][0]
    v = compare(load_model(str(tiny)), xcubeai.parse(write(), "r.txt"))
    reasons = [(p.layer, p.reason) for p in v.pairs]
    old = layout == "5.2"
    fused = FUSED.format(k=1)  # a ReLU: 1 per element
    assert reasons == [("conv", "equal"), ("conv", fused), ("dw", "equal"), ("dw", fused), ("pool", "equal"),
                       ("fc", NO_DENSE_BIAS if old else "equal"), ("softmax", "equal")]
    assert v.macc == R.C_MACC and not v.unexplained
    totals = {t["figure"]: (t["difference"], t["reason"]) for t in v.totals}
    if old:  # 5.x's total counts the fused activations and leaves the dense bias out: 9,580 vs 9,575 + 512
        assert totals["macc (C model)"] == (9_580 - 10_087, "the report's fused activations (+512) and dense biases "
                                                             "(pre-6.0) (-5)")
    else:
        assert totals["macc (C model)"] == (0, "equal")
        assert totals["macc (model table)"] == (-512, "the report's fused activations (+512)")
    # int8 weights and int32 biases: learncost's parameter bytes are the report's weights (ro)
    assert totals["weights (ro) B"] == (0, "equal")


def test_validate_on_the_command_line(tiny, tmp_path, capsys):
    import json

    report = tmp_path / "network_generate_report.txt"
    report.write_text(R.v8())
    assert main(["validate", str(tiny), str(report), "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["report"]["version"] == "8.1.0" and d["unexplained"] == 0
    assert d["report"]["scratch_bytes"] == 432 + 64
    # beside X-CUBE-AI's convention, the paper's: the conv without its 4 biases, 3*3*3*4*8*8 = 6,912
    conv = next(x for x in d["layers"] if x["report_layer"] == "conv2d_0")
    assert (conv["macc"], conv["paper_macc"]) == (6_916, 6_912)
    # a report that disagrees: the conv's MACC edited, exit status 3 with the first difference named
    report.write_text(R.v8().replace("6,916", "6,999"))
    assert main(["validate", str(tiny), str(report)]) == 3
    err = capsys.readouterr().err
    assert "UNEXPLAINED, first conv" in err and "[LC-VERIFY-UNEXPLAINED]" in err


@pytest.mark.parametrize("text, needle", [
    ("", "the report is empty"),
    ("hello world\nsecond line\n", "line 1: not an X-CUBE-AI or ST Edge AI Core report"),
    ("Neural Network Tools for STM32 v1.2.0 (AI tools v5.0.0)\nExec/report summary (generate dur=0.1s err=-1)\n",
     "line 2: the report records a failed run"),
    (R.v8().split("model/c-model")[0], "the model table has no closing recap"),
    (R.v8().replace("nl_4 (Nonlinearity, SOFTMAX)", "?? garbage ?? row here"), "cannot read this row of the model table"),
    (R.v7().replace("int8_t", "").replace("432/432", "432"), "cannot read this C array"),
    # a run of spaces a backtracking pattern would take minutes over: refused at once
    ("Neural Network Tools for STM32 v1.2.0 (AI tools v5.0.0)\na" + " " * 30_000 + "b\n", "line 2: a line of 30,002"),
])
def test_a_report_that_cannot_be_read_is_one_line_naming_it(tiny, tmp_path, capsys, text, needle):
    report = tmp_path / "r.txt"
    report.write_text(text)
    assert main(["validate", str(tiny), str(report)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "[LC-REPORT-FORMAT]" in err[0], err


def test_a_missing_or_huge_report_is_refused(tiny, tmp_path, capsys):
    assert main(["validate", str(tiny), str(tmp_path / "none.txt")]) == 2
    assert "[LC-INPUT-FILE]" in capsys.readouterr().err
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(33 * 1024 * 1024)
    assert main(["validate", str(tiny), str(big)]) == 2
    assert "[LC-LIMIT-SIZE]" in capsys.readouterr().err


def test_rows_named_by_their_operator_and_batch_norms(tiny):
    """An NPU-style report names rows by the TFLite operator (``conv2d_1 (CONV_2D)``); a batch normalization
    X-CUBE-AI keeps (ScaleBias, 2 MACC per element: 8*8*4 = 256 elements, 512) is one learncost's importers
    leave out; a sigmoid's row after a layer it is fused into counts k per element."""
    from learncost import load_model, xcubeai
    from learncost.validate import BN_SKIPPED, FUSED, compare

    text = R.v8()
    text = text.replace("conv2d_0 (Conv2D, CONV_2D)      ", "conv2d_0 (CONV_2D)              ")
    bn = "       bn_0 (ScaleBias, BatchNormalization) [b:1,h:8,w:8,c:4]                   512         nl_0_nl   |"
    lines = text.splitlines()
    at = next(k for k, line in enumerate(lines) if line.lstrip().startswith("nl_0_nl"))
    lines.insert(at + 1, bn)
    v = compare(load_model(str(tiny)), xcubeai.parse("\n".join(lines), "npu.txt"))
    got = [(p.report.name if p.report else None, p.layer, p.reason) for p in v.pairs]
    assert got[:3] == [("conv2d_0", "conv", "equal"), ("nl_0_nl", "conv", FUSED.format(k=1)),
                       ("bn_0", None, BN_SKIPPED)]
    assert not v.unexplained
    totals = {t["figure"]: t["reason"] for t in v.totals}
    # the report's model-table total would hold the BN too; its C total (9,580 as written) does not
    assert totals["macc (C model)"] == "equal"


# --- public projects that hold a report and its model (read from a local mirror, never copied here) ---------

MIRRORS = __import__("pathlib").Path("/work/.mirror")
#: (repository, report, model, X-CUBE-AI's C-model MACC = learncost's xcubeai forward MACC exactly?)
PUBLIC = [
    ("mlcommons/tiny", "benchmark/reference_submissions/streaming_wakeword/sww_ref_l4r5zi/X-CUBE-AI/App/"
     "sww_model_generate_report.txt", "benchmark/training/streaming_wakeword/trained_models/str_ww_ref_model.tflite",
     True),
    ("hajimi-yzy/YOLO-Human-Detection-Project-Based-on-STM32H750", "X-CUBE-AI/App/network_generate_report.txt",
     "models/nanov4_96_full_int8.tflite", True),
    ("nammannam/GR1_MobileNetV2_Person_Validation_STM32F429ZI", "X-CUBE-AI/App/network_generate_report.txt",
     "mobilenet_v2_0.35_128_fft_int8.tflite", False),
    ("Lanove/XCube_AITest", "X-CUBE-AI/App/network_generate_report.txt", "NN_Model1.tflite", False),
    ("bulicp/MNIST-NN-H750", "network_analyze_report.txt", "mnist_model-2_PerChannel_quant_random_1.onnx", False),
]


@pytest.mark.parametrize("repo, report, model, exact", PUBLIC, ids=[p[0].split("/")[0] for p in PUBLIC])
def test_public_reports_with_their_models(tmp_path, repo, report, model, exact):
    import subprocess

    from learncost import load_model, xcubeai
    from learncost.validate import compare

    git = MIRRORS / repo.replace("/", "+") / "repo"
    if not git.exists():
        pytest.skip(f"no local mirror of github:{repo} (the files are public and never copied into the repository)")
    files = {}
    for name in (report, model):
        out = tmp_path / name.split("/")[-1]
        out.write_bytes(subprocess.run(["git", "--git-dir", str(git), "show", f"HEAD:{name}"], check=True,
                                       capture_output=True).stdout)
        files[name] = out
    v = compare(load_model(str(files[model])), xcubeai.read(files[report]))
    assert not v.unexplained, [(p.report and p.report.name, p.layer, p.difference) for p in v.pairs
                                if p.reason == "UNEXPLAINED"]
    assert sum(p.reason == "equal" for p in v.pairs) >= 4
    if exact:
        assert v.macc == v.report.macc


def _c_info(nodes) -> str:
    import json

    return json.dumps({
        "json_schema_version": "2.0",
        "environment": {"tools": [{"name": "ST.EdgeAI.Core", "version": "2.2.0-20266",
                                   "input_model": {"model_files": [{"name": "tiny.tflite"}]}}]},
        "memory_footprint": {"weights": R.WEIGHTS, "activations": R.ACTIVATIONS},
        "graphs": [{"nodes": nodes}],
        "buffers": [{"name": "conv2d_0_scratch0_array", "size_bytes": 432,
                     "flags": "STAI_FLAG_PREALLOCATED|STAI_FLAG_ACTIVATIONS|STAI_FLAG_SCRATCHS"}],
    })


def test_c_info_json_lists_the_c_models_nodes(tiny, tmp_path, capsys):
    """The C model's nodes (the integer kernels run the ReLUs inside the convolutions): conv 6,916, depthwise
    2,308, pool 256, dense 25, softmax 75 (hand derivation in tests/xcubeai_reports.py), 9,580 in all."""
    import json

    nodes = [{"id": k, "name": n, "description": d, "macc": m} for k, (n, d, m) in enumerate(
        [("conv2d_0", "Conv2D", 6_916), ("conv2d_1", "Conv2D", 2_308), ("pool_2", "Pool", 256),
         ("dense_3", "Dense", 25), ("nl_4", "Nonlinearity", 75)])]
    path = tmp_path / "network_c_info.json"
    path.write_text(_c_info(nodes))
    assert main(["validate", str(tiny), str(path), "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["report"]["tool"], d["report"]["version"], d["report"]["model_file"]) == ("ST Edge AI Core", "2.2.0",
                                                                                        "tiny.tflite")
    assert [x["reason"] for x in d["layers"]] == ["equal"] * 5 and d["unexplained"] == 0
    assert d["report"]["scratch_bytes"] == 432
    path.write_text(_c_info("not a list"))
    assert main(["validate", str(tiny), str(path)]) == 2
    path.write_text("{\"graphs\": []}")
    assert main(["validate", str(tiny), str(path)]) == 2
    err = capsys.readouterr().err
    assert "not an ST Edge AI Core c_info.json" in err and "[LC-REPORT-FORMAT]" in err


SCALED_REPORT = """Neural Network Tools for STM32 family v1.7.0 (stm.ai v8.1.0-19520)
Exec/report summary (generate)
model file         :   /models/seq.tflite
macc               :   1,786
weights (ro)       :   200 B (200 B) (1 segment)
activations (rw)   :   400 B (400 B) (1 segment) *
------ ------------------------ ------------- ---------- -------- -------------- --- --------
m_id   layer (type,original)    oshape        param/size     macc   connected to   | c_type
------ ------------------------ ------------- ---------- -------- -------------- --- --------
0      x (Input, )              [b:1,h:16,c:3]
       eltwise_0 (Eltwise, MUL) [b:1,h:16,c:3]                48              x   |
1      eltwise_1 (Eltwise, ADD) [b:1,h:16,c:3]                48      eltwise_0   |
3      conv2d_3 (Conv2D, CONV_2D) [b:1,h:1,w:12,c:8] 128/152  1,448      eltwise_1   |
4      pool_4 (Pool, MAX_POOL_2D) [b:1,h:1,w:6,c:8]           96       conv2d_3   |
5      eltwise_5 (Eltwise, MUL) [b:1,h:1,w:6,c:8]             48         pool_4   |
7      dense_7 (Dense, FULLY_CONNECTED) [b:1,c:2] 98/104       98      eltwise_5   |
------ ------------------------ ------------- ---------- -------- -------------- --- --------
model/c-model: macc=1,786/1,786 weights=200/200  activations=--/400 io=--/0
"""


def test_element_wise_constant_rows_beside_learncosts_scales(tmp_path):
    """X-CUBE-AI's Eltwise MUL and ADD by constants (1 per element: 16 x 3 = 48 each) against learncost's 1x1
    depthwise scale with the shift as its bias (48 + 3 biases = 51, xcubeai convention); the scalar scale after
    the pool (6 x 8 = 48, no bias) is equal. Totals: learncost 51 + 1,448 + 96 + 48 + 98 = 1,741 against the
    report's 1,786: -45 = (51 - 48) + (0 - 48), the scales and shifts."""
    from test_importers import _scaled_sequence

    from learncost import load_model, xcubeai
    from learncost.validate import SCALED, compare

    path = tmp_path / "seq.tflite"
    path.write_bytes(_scaled_sequence())
    v = compare(load_model(str(path), classes=2), xcubeai.parse(SCALED_REPORT, "seq.txt"))
    got = [(p.report.name if p.report else None, p.macc, p.reason) for p in v.pairs]
    assert got == [("eltwise_0", 51, SCALED), ("eltwise_1", 0, SCALED), ("conv2d_3", 1_448, "equal"),
                   ("pool_4", 96, "equal"), ("eltwise_5", 48, "equal"), ("dense_7", 98, "equal")]
    assert v.macc == 1_741 and not v.unexplained
    totals = {t["figure"]: (t["difference"], t["reason"]) for t in v.totals}
    assert totals["macc (C model)"] == (-45, "the report's constant scales and shifts (+45)")
