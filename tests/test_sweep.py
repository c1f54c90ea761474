"""Spec parameters, expressions, repeats and design-space sweeps.

The sweep evaluates many variants in one numpy pass; every figure it gives is checked
against an independent path: each variant built on its own through the scalar spec loader
and analysed by ``analyze`` (the path the paper tests pin to the published sheet).
"""

import itertools
import json

import pytest
from conftest import run_cli

import learncost
from learncost import sweep
from learncost.analysis import analyze
from learncost.catalog import get_mcu
from learncost.errors import LearncostError, SpecError
from learncost.fit import check
from learncost.spec import model_from_data
from learncost.zoo import load_model

BOARDS = ["stm32h735g-dk", "nucleo-g474re", "disco-f746ng"]


def _spec(**extra):
    """A small parametrised spec written for these tests."""
    spec = {
        "name": "tiny", "classes": 4,
        "parameters": {"res": {"default": 12}, "width": {"default": 8}, "blocks": 2},
        "input": {"shape": ["=res", "=res", 1]},
        "layers": [
            {"name": "conv", "kind": "conv2d", "filters": "=width", "kernel": 5},
            {"repeat": "=blocks", "layers": [
                {"name": "dw{i}", "kind": "depthwise_conv2d", "kernel": 3, "padding": "same"},
                {"name": "pw{i}", "kind": "conv2d", "filters": "=width * i", "kernel": 1},
            ]},
            {"name": "pool", "kind": "avg_pool2d", "global": True},
            {"name": "fc", "kind": "dense", "units": 4},
        ],
    }
    spec.update(extra)
    return spec


# --- parameters, expressions and repeats -------------------------------------------------

def test_defaults_and_overrides_build_the_hand_derived_layers():
    m = model_from_data(_spec(), origin="t")
    # res 12, kernel 5 valid: 8x8; pw{i} has width*i filters
    assert [layer.name for layer in m.layers] == ["input", "conv", "dw1", "pw1", "dw2", "pw2", "pool", "fc"]
    assert m.by_name["conv"].output_shape == (8, 8, 8)
    assert m.by_name["pw2"].output_shape == (8, 8, 16)
    assert m.parameters == {"res": 12, "width": 8, "blocks": 2}
    m = model_from_data(_spec(), origin="t", values={"res": 9, "blocks": 3})
    assert m.by_name["conv"].output_shape == (5, 5, 8) and m.by_name["pw3"].output_shape == (5, 5, 24)
    assert "pw4" not in m.by_name


def test_builtin_parameters():
    # MobileNet alpha 0.5 at 96: conv1 has int(32*0.5) = 16 filters on a 48x48 map,
    # forward MACC 3*3*3 * 48*48 * 16 = 995,328 (hand derivation)
    m = load_model("vww", params={"alpha": 0.5})
    assert m.by_name["conv1"].output_shape == (48, 48, 16)
    assert analyze(m, ["bp"]).layers[1].macc["forward"] == 995_328
    # DS-CNN with 2 blocks: conv1, two (pad, dw, pw) blocks, then the head
    kws2 = load_model("kws", params={"blocks": 2})
    assert [layer.name for layer in kws2.layers][2:8] == ["pad1", "dw1", "pw1", "pad2", "dw2", "pw2"]
    assert kws2.by_name["pool"].kernel == (25, 5)  # global pooling follows the map
    # ResNet-8 width 8: the stacks have 8, 16 and 32 filters
    ic = load_model("ic", params={"width": 8})
    assert [ic.by_name[n].output_shape[2] for n in ("conv1", "conv4", "conv6")] == [8, 16, 32]
    # giving the defaults explicitly builds the built-in (published) model
    assert [layer.output_shape for layer in load_model("ic", params={"width": 16, "resolution": 32}).layers] == \
        [layer.output_shape for layer in load_model("ic").layers]


@pytest.mark.parametrize("edit, message", [
    ({"layers": [{"name": "c", "kind": "conv2d", "filters": "=wdth", "kernel": 1}]}, "'=wdth' cannot be evaluated"),
    ({"layers": [{"name": "c", "kind": "conv2d", "filters": "=width / 3", "kernel": 1}]}, "gives 2.66667 at res=12"),
    ({"layers": [{"name": "c", "kind": "conv2d", "filters": "=width +", "kernel": 1}]}, "is not a valid expression"),
    ({"layers": [{"repeat": 2, "layers": [{"repeat": 1, "layers": []}]}]}, "repeat blocks cannot nest"),
    ({"layers": [{"repeat": -1, "layers": [{"kind": "dense", "units": 2}]}]}, "must be >= 0 blocks"),
    ({"layers": [{"repeat": 1, "layers": []}]}, "needs a non-empty list of layers"),
    ({"parameters": {"max": 1}}, "not a usable parameter name"),
    ({"parameters": {"a": {"default": "x"}}}, "parameters.a.default"),
    ({"layers": [{"name": "c", "kind": "conv2d", "filters": "=2 ** 100", "kernel": 1}]}, "exponent larger than 64"),
])
def test_bad_parameters_and_expressions_name_the_place(edit, message):
    with pytest.raises(SpecError) as exc:
        model_from_data(_spec(**edit), origin="t.yaml")
    assert message in exc.value.line() and exc.value.line().startswith("t.yaml")


def test_an_undeclared_parameter_is_refused(tmp_path):
    with pytest.raises(SpecError, match=r"parameter 'depth' is not declared \(declared: res, width, blocks\)"):
        model_from_data(_spec(), origin="t", values={"depth": 3})
    model_file = tmp_path / "m.tflite"
    model_file.write_bytes(b"")  # refused before it is read: imported files declare no parameters
    with pytest.raises(LearncostError, match="--param applies to model specs"):
        load_model(str(model_file), params={"a": 1})


# --- the sweep agrees with one analysis per variant ----------------------------------------

@pytest.mark.parametrize("model, values", [
    ("vww", {"alpha": [0.25, 0.35, 0.5], "resolution": [48, 96, 100]}),
    ("kws", {"filters": [8, 64], "blocks": [0, 1, 4, 6]}),
    ("ic", {"width": [4, 16], "resolution": [16, 32, 36]}),
    ("ad", {"hidden": [32, 128], "bottleneck": [4, 8]}),
])
def test_every_variant_equals_its_own_analysis(model, values):
    s = sweep.run(model, values, mcus=BOARDS)
    combos = list(itertools.product(*values.values()))
    assert s.size == len(combos) and s.valid.all()
    for v, combo in enumerate(combos):
        assignment = dict(zip(values, combo))
        assert s.assignment(v) == assignment  # itertools.product order
        a = analyze(load_model(model, params=assignment), mcus=BOARDS)
        assert s.forward_macc[v] == a.row("bp", "inference").macc
        for r in a.rows:
            assert s.macc[(r.procedure, r.phase)][v] == r.macc
            assert s.ram[(r.procedure, r.phase)][v] == r.ram_bytes
            assert s.params_bytes[v] == r.params_bytes
            for mcu in s.mcus:
                assert s.latency_ms(r.procedure, r.phase, mcu)[v] == pytest.approx(r.latency_ms[mcu.id])
                assert s.fits(r.procedure, mcu, r.phase)[v] == check(r.ram_bytes, r.params_bytes, mcu).fits


def test_normalizations_whose_width_varies_sweep_as_analyze_counts_them():
    """batch_norm and layer_norm formulas ask whether the layer has a shift / a scale: over a sweep the
    parameter counts are arrays (one per width), which once made that question a numpy truth-value error."""
    spec = {"name": "norms", "classes": 3, "parameters": {"width": {"default": 4}},
            "input": {"shape": [6, 6, 2]},
            "layers": [{"name": "c", "kind": "conv2d", "filters": "=width", "kernel": 3},
                       {"name": "bn", "kind": "batch_norm"},
                       {"name": "pool", "kind": "avg_pool2d", "global": True},
                       {"name": "d", "kind": "dense", "units": "=2 * width"},
                       {"name": "ln", "kind": "layer_norm"},
                       {"name": "fc", "kind": "dense", "units": 3}]}
    s = sweep.run(spec, {"width": [4, 8]}, mcus=["disco-f746ng"])
    for v, width in enumerate([4, 8]):
        a = analyze(model_from_data(spec, origin="t", values={"width": width}), mcus=["disco-f746ng"])
        for r in a.rows:
            assert (s.macc[(r.procedure, r.phase)][v], s.ram[(r.procedure, r.phase)][v]) == (r.macc, r.ram_bytes)
    # by hand, width 4: bn's forward is gamma x + beta on 4x4x4 = 64 elements, 2 MACC each
    bn = next(lr for lr in analyze(model_from_data(spec, origin="t"), ["bp"]).layers if lr.name == "bn")
    assert bn.macc["forward"] == 128


def test_impossible_variants_are_set_aside_with_their_reason():
    # a 5x5 valid convolution cannot run on a 4x4 input; 4.5 is not a whole number of pixels
    s = sweep.run(_spec(), {"res": [4, 4.5, 12], "width": [8]})
    assert s.valid.tolist() == [False, False, True]
    assert s.errors[0] == "layers[0] (conv).kernel: kernel 5x5 is larger than the padded input 4x4"
    assert "'=res' gives 4.5" in s.errors[1]
    alone = analyze(model_from_data(_spec(), origin="t"), mcus=BOARDS)
    assert s.macc[("bp", "training")][2] == alone.row("bp", "training").macc


def test_the_pareto_front_is_exactly_the_undominated_variants():
    s = sweep.run("vww", {"alpha": [0.1, 0.25, 0.3, 0.5, 0.75], "resolution": list(range(32, 161, 16))})
    for proc in ("bp", "mempepita"):
        ram, cap = s.ram[(proc, "training")], s.forward_macc
        brute = [v for v in range(s.size)
                 if not any(ram[u] <= ram[v] and cap[u] >= cap[v] and (ram[u] < ram[v] or cap[u] > cap[v])
                            for u in range(s.size))]
        assert sorted(s.pareto(proc).tolist()) == sorted(brute)
        assert list(ram[s.pareto(proc)]) == sorted(ram[s.pareto(proc)])


def test_fitting_lists_the_variants_that_train_largest_first():
    s = sweep.run("kws", {"filters": list(range(16, 257, 16))}, mcus=["nucleo-g474re"])
    g474 = get_mcu("nucleo-g474re")  # 128 KB SRAM, 512 KB flash
    fit = s.fitting(g474)
    for proc in ("bp", "ff"):
        expected = [v for v in range(s.size)
                    if analyze(load_model("kws", params=s.assignment(v)), [proc], [g474]).row(proc, "training")
                    .fit[g474.id].fits]
        assert sorted(fit[proc].tolist()) == expected
        assert list(s.forward_macc[fit[proc]]) == sorted(s.forward_macc[fit[proc]], reverse=True)
    assert len(fit["ff"]) > len(fit["bp"])  # FF keeps two buffers, BP all of them


def test_unknown_capacity_gives_no_verdict():
    s = sweep.run("kws", {"blocks": [1, 2]}, mcus=["rp2040-pico"])
    assert s.latency_ms("bp", "training", s.mcus[0]) is None  # no MLPerf Tiny result, no cycles/MACC
    assert s.fits("bp", s.mcus[0]) is not None  # its SRAM and flash are known


@pytest.mark.parametrize("text, name, values", [
    ("alpha=0.25,0.5", "alpha", [0.25, 0.5]),
    ("resolution=64:128:32", "resolution", [64, 96, 128]),
    ("a=0.1:0.3:0.1,1", "a", [0.1, 0.2, 0.3, 1]),
    (" blocks = 2 , 3 ", "blocks", [2, 3]),
])
def test_parse_values(text, name, values):
    assert sweep.parse_values(text) == (name, values)


@pytest.mark.parametrize("text, message", [
    ("alpha", "is not NAME=VALUES"), ("alpha=", "has no values"), ("alpha=0.5,,1", "'' is not a number"),
    ("alpha=0.5,x", "'x' is not a number"), ("r=1:2", "is not start:stop:step"),
    ("r=5:1:1", "needs start <= stop"), ("r=1:5:0", "positive step"), ("a=nan", "not a finite number"),
])
def test_parse_values_refuses_malformed_lists(text, message):
    with pytest.raises(LearncostError, match=message):
        sweep.parse_values(text)


def test_empty_value_list_and_too_large_grids_are_refused():
    with pytest.raises(LearncostError, match="empty list of values"):
        sweep.run("vww", {"alpha": []})
    with pytest.raises(LearncostError, match="more than 5,000,000"):
        sweep.run("vww", {"alpha": list(range(1, 3001)), "resolution": list(range(1, 3001))})


# --- the command ---------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (("vww", "--param", "beta=1"), "vww.yaml: parameter 'beta' is not declared (declared: alpha, resolution)"),
    (("vww", "--param", "alpha="), "--param alpha= has no values"),
    (("vww", "--param", "alpha=0.5,x"), "--param alpha: 'x' is not a number"),
    (("vww", "--param", "alpha=1", "--param", "alpha=2"), "--param alpha is given twice"),
    (("vww", "--mcu", "disco-f74"), "did you mean disco-f746ng?"),
    (("vww", "-o", "missing-dir/sweep.csv"), "directory 'missing-dir' does not exist"),
    (("vww", "-o", "sweep.xyz"), "unsupported extension .xyz"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, message):
    r = run_cli("sweep", *args, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and message in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_csv_json_and_plot(tmp_path):
    args = ("sweep", "kws", "--param", "filters=16,32,64", "--param", "blocks=1:4:1", "-m", "nucleo-g474re",
            "-m", "stm32h735g-dk")
    r = run_cli(*args, "-f", "csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1 + 12 * 4 * 2  # header + variants x procedures x phases
    header = lines[0].split(",")
    assert header[:3] == ["variant", "filters", "blocks"] and "fits[nucleo-g474re]" in header
    data = json.loads(run_cli(*args, "-f", "json").stdout)
    assert data["variants"] == 12 and data["parameters"]["blocks"]["values"] == [1, 2, 3, 4]
    default = next(r for r in data["rows"] if r["filters"] == 64 and r["blocks"] == 4 and r["procedure"] == "bp"
                   and r["phase"] == "training")
    assert default["macc"] == analyze("kws", ["bp"]).row("bp", "training").macc
    assert set(data["fits"]["nucleo-g474re"]) == {"bp", "ff", "pepita", "mempepita"}
    table = run_cli(*args)
    assert "kws, setup paper (paper memory): sweep of 12 variants over filters (3) x blocks (4), 0 impossible" in table.stdout
    assert "Pareto front" in table.stdout

    png = tmp_path / "sweep.png"
    assert run_cli(*args, "-o", str(png)).returncode == 0
    import matplotlib.image as mpimg

    assert mpimg.imread(png).shape[0] > 200
    assert run_cli(*args, "-o", str(png)).returncode == 2  # never over a file without --force


def test_analyze_and_fit_take_one_value_per_parameter():
    r = run_cli("analyze", "vww", "--param", "alpha=0.5", "-p", "bp", "-f", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["parameters"] == {"alpha": 0.5, "resolution": 96}
    expected = analyze(load_model("vww", params={"alpha": 0.5}), ["bp"]).row("bp", "training").macc
    assert data["rows"][0]["macc"] == expected
    r = run_cli("fit", "kws", "--param", "blocks=2,3")
    assert r.returncode == 2 and "takes one value here, got 2" in r.stderr and r.stderr.count("\n") == 1


def test_a_board_missing_one_capacity_gets_analyzes_verdict():
    """A custom board with 64 KB of SRAM and no flash size: what does not fit its SRAM is a 'no' in
    both analyze and the sweep's rows (the design review found the two disagreeing)."""
    from learncost.catalog import custom_mcu

    board = custom_mcu(100, 2, 64, None)
    s = sweep.run("kws", {"filters": [16, 64]}, ["bp"], [board])
    for row in s.rows():
        model = learncost.load_model("kws", params={"filters": row["filters"]})
        fit = learncost.analyze(model, ["bp"], [board]).row("bp", row["phase"]).fit["custom"]
        assert row["fits[custom]"] is fit.fits
    assert [r["fits[custom]"] for r in s.rows()] == [None, None, False, None]  # 95,218 B > 65,536 B


# --- streamed exports ----------------------------------------------------------------------

def _peer_rows(model, values, boards, dataset=None):
    """The rows a sweep must give, from one ``analyze`` per variant (itertools.product order)."""
    out = []
    for v, combo in enumerate(itertools.product(*values.values())):
        assignment = dict(zip(values, combo))
        for r in analyze(load_model(model, params=assignment), mcus=boards, dataset=dataset).rows:
            row = {"variant": v, **assignment, "procedure": r.procedure, "phase": r.phase, "macc": r.macc,
                   "params_bytes": r.params_bytes, "ram_bytes": r.ram_bytes, "samples": r.samples}
            for m in boards:
                row[f"latency_ms[{m}]"] = r.latency_ms[m]
                row[f"energy_mj[{m}]"] = r.energy_mj[m]
                row[f"fits[{m}]"] = r.fit[m].fits
                if r.phase == "training":
                    row[f"train_hours[{m}]"] = r.train_hours[m] if dataset else None
            out.append(row)
    return out


def _agree(rows, peer):
    assert len(rows) == len(peer)
    for row, expected in zip(rows, peer):
        assert {k: row[k] for k in expected} == expected


KWS_BLOCKS = {"filters": [8, 24, 64], "blocks": [0, 1, 2, 3, 5, 8]}
KWS_BOARDS = ["stm32h735g-dk", "nucleo-g474re"]


def test_kws_with_varying_blocks_gives_the_peers_figures_on_every_variant():
    """Six layer lists: every (variant, procedure, phase) row equals its own analysis, latency and
    energy exactly (the same floating-point operations), not approximately."""
    s = sweep.run("kws", KWS_BLOCKS, mcus=KWS_BOARDS, dataset="speech-commands")
    _agree(s.rows(), _peer_rows("kws", KWS_BLOCKS, KWS_BOARDS, "speech-commands"))


def test_streamed_json_holds_the_peers_rows_and_the_same_document_as_one_text(monkeypatch):
    from learncost.report import sweep_report as rep

    s = sweep.run("kws", KWS_BLOCKS, mcus=KWS_BOARDS, dataset="speech-commands")
    whole = json.loads(rep.to_json(s))
    _agree(whole["rows"], _peer_rows("kws", KWS_BLOCKS, KWS_BOARDS, "speech-commands"))
    assert whole["variants"] == 18 and whole["impossible"] == [] and whole["mcus"] == KWS_BOARDS
    assert whole["pareto"] == {p.id: s.pareto(p.id).tolist() for p in s.procedures}
    assert whole["fits"] == {m.id: {p: idx.tolist() for p, idx in s.fitting(m).items()} for m in s.mcus}
    monkeypatch.setattr(sweep, "ROW_BLOCK", 4)  # blocks of 4 variants: block edges inside every list
    pieces = list(rep.chunks(s, "json"))
    assert len(pieces) > 18 * 8 // 32 and pieces[-1] == "\n"
    assert json.loads("".join(pieces)) == whole


def test_streamed_csv_holds_the_same_rows_as_json(monkeypatch):
    import csv
    import io

    from learncost.report import sweep_report as rep

    values = {"res": [4, 12, 16], "width": [8, 9]}  # res 4 is impossible: no rows
    s = sweep.run(_spec(), values, mcus=["nucleo-g474re"], dataset="speech-commands")
    rows = json.loads(rep.to_json(s))["rows"]
    monkeypatch.setattr(sweep, "ROW_BLOCK", 1)
    text = "".join(rep.chunks(s, "csv"))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == len(rows) == 4 * 4 * 2
    for got, row in zip(parsed, rows):
        for key, value in row.items():
            assert got[key] == ("" if value is None else str(value)), key
    assert text == rep.csv_text(s) and text.startswith("variant,res,width,blocks,procedure,phase,macc,")


def test_an_error_while_streaming_leaves_no_file(tmp_path, monkeypatch):
    """Writing is atomic: rows are rendered while the file is written, and a failure part-way
    removes the temporary file and never creates the output."""
    from learncost.report import output
    from learncost.report import sweep_report as rep

    s = sweep.run("kws", KWS_BLOCKS, ["bp"], KWS_BOARDS)
    monkeypatch.setattr(sweep, "ROW_BLOCK", 2)
    blocks = sweep.Sweep.row_blocks

    def failing(self, variants=None):
        for k, block in enumerate(blocks(self, variants)):
            if k == 3:
                raise RuntimeError("disk gone")
            yield block

    monkeypatch.setattr(sweep.Sweep, "row_blocks", failing)
    for kind in ("json", "csv"):
        with pytest.raises(RuntimeError, match="disk gone"):
            output.write(str(tmp_path / f"sweep.{kind}"), False, text=lambda k: rep.chunks(s, k), figure=None)
    assert list(tmp_path.iterdir()) == []


def test_cli_streams_json_and_csv_to_files_and_stdout(tmp_path):
    args = ("sweep", "kws", "--param", "filters=16,32", "--param", "blocks=0,2", "-m", "nucleo-g474re")
    assert run_cli(*args, "-o", str(tmp_path / "s.json")).returncode == 0
    assert run_cli(*args, "-o", str(tmp_path / "s.csv")).returncode == 0
    on_stdout = run_cli(*args, "-f", "json").stdout
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(on_stdout)
    assert (tmp_path / "s.json").read_text().endswith("}\n")
    assert (tmp_path / "s.csv").read_text() == run_cli(*args, "-f", "csv").stdout
    assert len(json.loads(on_stdout)["rows"]) == 4 * 4 * 2
