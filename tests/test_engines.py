"""Engine profiles: the calibration reproduces the shipped file, its residuals are bounded on the round it was
fitted on and on a later round, per-kind latency and energy by hand, the JSON contract, bad engines."""

from __future__ import annotations

import json
import statistics
from importlib import resources

import pytest

from learncost import analyze
from learncost.catalog import get_mcu, submissions
from learncost.cli import main
from learncost.engines import engines_for, rates

SPEC = """
name: three kinds
id: three-kinds
input: {shape: [8, 8, 4]}
layers:
  - {name: conv, kind: conv2d, filters: 8, kernel: 3, padding: same}
  - {name: dw, kind: depthwise_conv2d, kernel: 3, padding: same}
  - {name: pool, kind: avg_pool2d, global: true}
  - {name: fc, kind: dense, units: 5}
"""


def test_the_calibration_reproduces_the_shipped_profiles():
    pytest.importorskip("scipy")
    from learncost.calibrate import render

    shipped = resources.files("learncost").joinpath("data", "hardware", "engines.yaml").read_text("utf-8")
    assert render() == shipped


def test_measurements_are_the_runner_medians_the_catalogue_reads():
    # mlcommons/tiny_results_v1.0 closed/STMicroelectronics/results/NUCLEO_L4R5ZI/ad: "Median throughput is
    # 131.950 inf./sec." (performance) and "Median energy cost is 322.977 uJ/inf." at 132.077 inf./s (energy run)
    sub = next(s for s in submissions() if (s.round, s.board, s.engine) == ("v1.0", "nucleo-l4r5zi", "x-cube-ai-7.3"))
    assert sub.results["ad"] == {"throughput": 131.95, "energy_uj": 322.977, "energy_run_throughput": 132.077}
    # the catalogue's one-number constant is unchanged: 280e6 / 59.667 / 2,664,996 (kws forward MACC) = 1.7610
    assert get_mcu("nucleo-h7a3zi-q").derivation()["kws"] == pytest.approx(280e6 / 59.667 / 2_664_996)


def _validation():
    pytest.importorskip("scipy")
    from learncost.calibrate import validation

    return validation()


def test_residuals_on_the_fitted_round_are_bounded_and_beat_the_one_number_model():
    rows = [r for r in _validation() if r["round"] == "v1.0"]
    assert len(rows) == 44  # 11 submissions x 4 benchmarks (measurements.yaml)
    for r in rows:
        # a profile fitted on one board: 3 rates for 4 benchmarks, within 10 %; the Plumerai M4 profile is
        # shared by two boards (PSoC 62 and L4R5) and misses the PSoC's autoencoder by 22.8 %
        bound = 0.25 if (r["engine"], r["board"]) in {("plumerai", "cy8cproto-062-4343w"),
                                                      ("plumerai", "nucleo-l4r5zi")} else 0.10
        assert abs(r["error"]) < bound, r
    # ResNet-8 is where the one-number model fails (issue: over-predicted by 44-65 %), the per-kind one does not
    ic = [r for r in rows if r["benchmark"] == "ic" and r["engine"] == "x-cube-ai-7.3"]
    assert all(r["whole_model_error"] > 0.44 and abs(r["error"]) < 0.01 for r in ic)


def test_a_later_round_of_the_same_engine_versions_is_predicted_within_the_fitted_spread():
    """v1.1 never entered the fit. Krai's X-CUBE-AI 7.3 and microTVM runs are the same engine versions on the
    same boards: every benchmark within 6 %. Plumerai's v1.1 engine is a newer version (MobileNet 1.6-2.2x
    faster): the profile is an engine version's, and the README says so."""
    later = [r for r in _validation() if r["round"] == "v1.1"]
    same_version = [r for r in later if r["engine"] in ("x-cube-ai-7.3", "microtvm-cmsis-nn", "microtvm-native")]
    assert len(same_version) == 20
    assert max(abs(r["error"]) for r in same_version) < 0.10
    assert statistics.median(abs(r["error"]) for r in same_version) < 0.04
    newer = {r["board"]: r["error"] for r in later if r["engine"] == "plumerai" and r["benchmark"] == "vww"}
    assert min(newer.values()) > 0.5


def test_training_rates_bracket_mits_measurements():
    """Each measured per-image training latency (Lin et al. 2022; tiny-training.md) lies between learncost's
    predictions for the lightest and the heaviest of the model's five schemes, for both engines."""
    pytest.importorskip("scipy")
    from learncost.calibrate import training_validation

    for r in training_validation():
        predicted = r["predicted_ms"].values()
        assert min(predicted) <= r["measured_ms"] * (1 + 1e-9) and r["measured_ms"] <= max(predicted) * (1 + 1e-9), r


def test_per_kind_latency_by_hand(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(SPEC)
    a = analyze(str(spec), ["bp"], ["disco-f746ng"], engine="plumerai")
    r = rates(get_mcu("disco-f746ng"), "plumerai")
    c = r.cycles_per_macc
    # forward MACC by hand: conv 8*8 positions x 8 filters x 3*3*4 = 18,432; dw 8*8 x 8 channels x 9 = 4,608;
    # global average pool 8*8*8 = 512 (at the dense rate); dense 8 x 5 = 40
    conv, dw, pool, fc = 18_432, 4_608, 512, 40
    costs = {lr.name: lr.macc["forward"] for lr in a.layers}
    assert (costs["conv"], costs["dw"], costs["fc"]) == (conv, dw, fc)
    pool = costs["pool"]
    expected = (conv * c["conv"] + dw * c["depthwise"] + (pool + fc) * c["dense"]) / 216e3
    row = a.row("bp", "inference")
    others = sum(v for name, v in costs.items() if name not in ("conv", "dw", "pool", "fc"))
    assert others == 0
    assert row.latency_ms["disco-f746ng"] == pytest.approx(expected, rel=1e-12)
    # per layer and operation: the conv's forward on its own
    layer = next(lr for lr in a.layers if lr.name == "conv")
    assert layer.latency_ms["disco-f746ng"]["forward"] == pytest.approx(conv * c["conv"] / 216e3)
    # the spread: true / predicted over the board's four benchmarks, 1 / (1 + residual)
    lo, hi = row.latency_ms_range["disco-f746ng"]
    assert lo == pytest.approx(expected / 1.0311) and hi == pytest.approx(expected / (1 - 0.0334))


def test_energy_is_latency_times_measured_power():
    a = analyze("kws", ["bp"], ["nucleo-l4r5zi"])
    row = a.row("bp", "training")
    # power under X-CUBE-AI 7.3 on the L4R5 (measurements.yaml): E/inf x energy-run throughput, per benchmark;
    # kws 3371.738 uJ x 13.314 /s = 44.89 mW, vww 44.56, ic 47.10, ad 42.66; the median 44.725 mW
    power = statistics.median([44.89, 44.56, 47.1, 42.66])
    ms = row.latency_ms["nucleo-l4r5zi"]
    assert row.engine["nucleo-l4r5zi"] == "x-cube-ai-7.3"
    assert row.energy_mj["nucleo-l4r5zi"] == pytest.approx(ms * power / 1e3)
    low, high = row.energy_mj_range["nucleo-l4r5zi"]
    lat_lo, lat_hi = row.latency_ms_range["nucleo-l4r5zi"]
    assert (low, high) == pytest.approx((lat_lo * 42.66 / 1e3, lat_hi * 47.1 / 1e3))
    # the whole run: mJ per sample x 36 epochs x 85,511 samples (Speech Commands) / 3.6e6 mJ per Wh
    assert row.train_energy_wh["nucleo-l4r5zi"] == pytest.approx(row.energy_mj["nucleo-l4r5zi"] * 36 * 85_511 / 3.6e6)
    lo_h, hi_h = row.train_hours_range["nucleo-l4r5zi"]
    assert (lo_h, hi_h) == pytest.approx((lat_lo / 1e3 * 36 * 85_511 / 3600, lat_hi / 1e3 * 36 * 85_511 / 3600))


def test_the_paper_engine_is_the_sheets_formula_and_the_default_of_paper_boards():
    a = analyze("kws", ["bp"], ["nucleo-g474re", "disco-f746ng"], engine="paper")
    row = a.row("bp", "training")
    # sheet C241: MACC x cycles/MACC / clock; BP training of DS-CNN 7,666,544 MACC at 4.5 cycles and 170 MHz
    assert row.latency_ms["nucleo-g474re"] == pytest.approx(7_666_544 * 4.5 / 170e3)
    assert row.latency_ms_range["nucleo-g474re"] is None  # a stated constant has no measured spread
    assert row.latency_ms["disco-f746ng"] == pytest.approx(7_666_544 * get_mcu("disco-f746ng").cycles_per_macc / 216e3)
    default = analyze("kws", ["bp"], ["nucleo-g474re"]).row("bp", "training")
    assert default.engine == {"nucleo-g474re": "paper"} and default.latency_ms == {"nucleo-g474re": row.latency_ms["nucleo-g474re"]}


def test_sweep_times_like_analyze():
    from learncost.sweep import run

    s = run("kws", {"filters": [32, 64]}, ["bp"], ["disco-f746ng", "nucleo-l4r5zi"], engine=None)
    rows = {(r["filters"], r["phase"]): r for r in s.rows()}
    a = analyze("kws", ["bp"], ["disco-f746ng", "nucleo-l4r5zi"]).row("bp", "training")
    r = rows[(64, "training")]
    assert r["latency_ms[disco-f746ng]"] == pytest.approx(a.latency_ms["disco-f746ng"])
    assert r["energy_mj[nucleo-l4r5zi]"] == pytest.approx(a.energy_mj["nucleo-l4r5zi"])
    assert r["train_energy_wh[nucleo-l4r5zi]"] == pytest.approx(a.train_energy_wh["nucleo-l4r5zi"])
    assert r["energy_mj[disco-f746ng]"] is None  # Plumerai published no energy run


def test_json_contract(capsys):
    assert main(["analyze", "kws", "-m", "nucleo-l4r5zi", "-p", "bp", "--per-layer", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    training = next(r for r in d["rows"] if r["phase"] == "training")
    for key in ("latency_ms", "latency_ms_range", "energy_mj", "energy_mj_range", "train_energy_wh", "engine"):
        assert "nucleo-l4r5zi" in training[key], key
    inference = next(r for r in d["rows"] if r["phase"] == "inference")
    assert "train_energy_wh" not in inference
    conv1 = next(layer for layer in d["layers"] if layer["name"] == "conv1")
    assert conv1["latency_ms"]["nucleo-l4r5zi"]["forward"] > 0
    assert d["mcus"]["nucleo-l4r5zi"]["engine"] == "x-cube-ai-7.3"


def test_engines_a_board_can_use():
    # every profile with a Cortex-M7 core: X-CUBE-AI measured on the H7A3 transfers to the F746
    assert engines_for(get_mcu("disco-f746ng")) == ["paper", "x-cube-ai-7.3", "plumerai", "tinyengine", "tflm-kernels"]
    # a Cortex-M4 board no engine was measured on takes the M4 profiles, and says where they come from
    r = rates(get_mcu("nrf52840-dk"), "plumerai")
    assert r.origin == "transferred from cy8cproto-062-4343w, nucleo-l4r5zi (Cortex-M4)"


@pytest.mark.parametrize("args, needle", [
    (["analyze", "kws", "-e", "nope"], "unknown engine nope; engines for stm32h735g-dk: paper, x-cube-ai-7.3"),
    (["analyze", "kws", "-m", "esp32-s3-devkitc-1", "-e", "plumerai"],
     "engine plumerai has no profile for esp32-s3-devkitc-1 (Xtensa LX7 (dual)); engines for esp32-s3-devkitc-1: "
     "none (give --cycles-per-macc)"),
    (["fit", "kws", "-m", "nucleo-g474re", "-e", "tinyengine"],
     "engine tinyengine has no profile for nucleo-g474re (Cortex-M4); engines for nucleo-g474re: paper, "
     "x-cube-ai-7.3"),
])
def test_an_engine_a_board_has_no_profile_for_lists_the_ones_it_has(args, needle, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err and "[LC-UNKNOWN-ENGINE]" in err


def test_training_under_an_inference_engine_allows_for_unmeasured_backward_kernels():
    """The high end of a training row's range under an inference-only profile is its calibration spread times
    the allowance: MIT's TinyEngine measured (546, 373, 443 ms) / the Plumerai F746 profile's forward-rate
    prediction of the same schemes, median over 15 schemes, 1.833 (engines.yaml, re-derived by the
    calibration test)."""
    a = analyze("kws", ["bp"], ["disco-f746ng"])
    ms = a.row("bp", "training").latency_ms["disco-f746ng"]
    lo, hi = a.row("bp", "training").latency_ms_range["disco-f746ng"]
    assert lo == pytest.approx(ms / 1.0311) and hi == pytest.approx(ms / (1 - 0.0334) * 1.833)
    lo_i, hi_i = a.row("bp", "inference").latency_ms_range["disco-f746ng"]
    inference_ms = a.row("bp", "inference").latency_ms["disco-f746ng"]
    assert hi_i == pytest.approx(inference_ms / (1 - 0.0334))  # inference carries the measured spread only


def test_sweep_rows_carry_the_same_ranges():
    from learncost.sweep import run

    s = run("kws", {"filters": [64]}, ["bp"], ["disco-f746ng"])
    a = analyze("kws", ["bp"], ["disco-f746ng"])
    for r in s.rows():
        expected = a.row("bp", r["phase"]).latency_ms_range["disco-f746ng"]
        assert [r["latency_ms_low[disco-f746ng]"], r["latency_ms_high[disco-f746ng]"]] == pytest.approx(expected)


def test_fit_against_a_time_budget(capsys):
    """BP on DS-CNN (kws): training 7,666,544 MACC per sample; on the NUCLEO-G474RE (paper engine, 4.5 cycles at
    170 MHz) 202.94 ms, 36 x 85,511 samples = 173.5 h, no range (stated constant). On the DISCO-F746NG (Plumerai)
    57.43 ms, 49.1 h, range 47.6-93.1 h (the calibration's spread and the backward allowance)."""
    assert main(["fit", "kws", "-p", "bp", "-m", "disco-f746ng", "-m", "nucleo-g474re", "-m", "nrf52840-dk",
                 "--max-hours", "60", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["time_budget"] == {"ms": None, "hours": 60}
    got = {(r["mcu"], r["phase"]): r["time_fits"] for r in d["fit"]}
    assert got[("nucleo-g474re", "training")] == "no: 174 h > 60"
    assert got[("disco-f746ng", "training")] == "maybe: 47.6-93.1 h"
    assert got[("nrf52840-dk", "training")] == "unknown"  # no cycles/MACC: no time to judge
    assert got[("disco-f746ng", "inference")] is None  # an hours budget says nothing of inference
    assert main(["fit", "kws", "-p", "bp", "-m", "disco-f746ng", "--max-ms", "21", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    got = {r["phase"]: r["time_fits"] for r in d["fit"]}
    # inference 19.72 ms, range 19.12-20.40 ms: within 21 ms at the high end
    assert got == {"training": "no: 55.7-109 ms > 21", "inference": "yes"}


@pytest.mark.parametrize("args", [["fit", "kws", "--max-hours", "-3"], ["fit", "kws", "--max-ms", "nan"],
                                  ["fit", "kws", "--max-ms", "0"]])
def test_a_bad_time_budget_is_refused(args, capsys):
    assert main(args) == 2
    assert "[LC-OPTION]" in capsys.readouterr().err


@pytest.mark.parametrize("setup", ["paper", "tte-mcunet-49kb"])
def test_per_layer_milliseconds_add_up_to_the_row(setup):
    model = "mcunet-5fps" if setup.startswith("tte") else "ic"
    a = analyze(model, ["bp"], ["disco-f746ng"], setup=setup, engine="tinyengine" if model == "mcunet-5fps" else None)
    for phase in ("training", "inference"):
        split = a.latency_breakdown("bp", phase, "disco-f746ng")
        total = sum(sum(ops.values()) for ops in split.values())
        assert total == pytest.approx(a.row("bp", phase).latency_ms["disco-f746ng"], rel=1e-12)


def test_the_figure_draws_the_milliseconds_panel():
    pytest.importorskip("matplotlib")
    from learncost.report import plots

    fig = plots.analysis_figure(analyze("kws", ["bp", "ff"], ["disco-f746ng"]))
    titles = [ax.get_title() for ax in fig.axes]
    assert "training ms per sample per layer on disco-f746ng (engine plumerai), by operation" in titles
    # the conv1 bar of BP's training: forward + backward + weight_update at its kind's rate, per sample
    a = analyze("kws", ["bp"], ["disco-f746ng"])
    expected = sum(a.latency_breakdown("bp", "training", "disco-f746ng")["dw1"].values())
    panel = next(ax for ax in fig.axes if ax.get_title().startswith("training ms"))
    tops = {round(p.get_x() + p.get_width() / 2, 3): p.get_y() + p.get_height() for p in panel.patches}
    assert any(abs(top - expected) < 1e-9 for top in tops.values())


def test_command_line_values_override_the_chosen_board(capsys):
    """`--cycles-per-macc` on a catalogue board that has none: the nRF52840 (64 MHz, no MLPerf Tiny result)
    at 3.5 cycles/MACC times BP's DS-CNN training step, 7,666,544 MACC, at 7,666,544 x 3.5 / 64e3 = 419.264 ms,
    under the board's own id and the paper's one-number model."""
    assert main(["analyze", "kws", "-m", "nrf52840-dk", "--cycles-per-macc", "3.5", "-p", "bp", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    training = next(r for r in d["rows"] if r["phase"] == "training")
    assert training["latency_ms"] == {"nrf52840-dk": pytest.approx(7_666_544 * 3.5 / 64e3)}
    assert training["engine"] == {"nrf52840-dk": "paper"}
    # --sram-kb in place of the DISCO-F746NG's 320 KB: FF on MobileNet (293,794 B) misses 256 KB by 31,650 B
    assert main(["fit", "vww", "-m", "disco-f746ng", "--sram-kb", "256", "-p", "ff", "-f", "json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out)["fit"] if r["phase"] == "training")
    assert (row["mcu"], row["sram_bytes"], row["ram_margin_bytes"]) == ("disco-f746ng", 262_144, -31_650)


def test_a_custom_board_needs_only_what_the_question_needs(capsys):
    """SRAM alone answers the RAM question: BP's MobileNet training (470,316 B) misses 320 KB by 142,636 B,
    FF's (293,794 B) fits it; whether flash holds the parameters stays unknown, never 'no'."""
    assert main(["fit", "vww", "--sram-kb", "320", "-p", "bp", "-p", "ff", "-f", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| bp | training | 470,316 | no: RAM +142,636 B |" in out
    assert "| ff | training | 293,794 | RAM yes, flash unknown |" in out
    assert "custom: ff within what is known; unknown until --flash-kb is given" in out
    assert "trains with no procedure" not in out


def test_the_catalogue_names_the_engines_each_board_was_measured_with(capsys):
    """measurements.yaml: the NUCLEO-L4R5ZI ran X-CUBE-AI 7.3 (ST), Plumerai's engine and microTVM with
    CMSIS-NN and native schedules (OctoML) in MLPerf Tiny v1.0; the F746 Plumerai's, and MIT's training runs."""
    assert main(["mcus", "-f", "json"]) == 0
    got = {m["id"]: m["engines_measured"] for m in json.loads(capsys.readouterr().out)}
    assert got["nucleo-l4r5zi"] == "x-cube-ai-7.3, plumerai, microtvm-cmsis-nn, microtvm-native"
    assert got["disco-f746ng"] == "plumerai, tinyengine, tflm-kernels"
    assert got["nrf52840-dk"] is None
