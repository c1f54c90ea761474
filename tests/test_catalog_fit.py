"""The MCU catalogue and the fit checks.

Expected values: the catalogue's published figures (MLPerf Tiny result files, cited in the
YAML), learncost's own consistent figures (kws BP training RAM 95,218 B, README), and hand
arithmetic shown beside each assertion.
"""

import json
import re

import pytest

import learncost
from learncost.catalog import custom_mcu, forward_macc, get_mcu, mcus
from learncost.errors import LearncostError
from learncost.fit import check

from conftest import run_cli


def test_catalogue_covers_the_tinyml_cores():
    cat = mcus()
    assert len(cat) >= 12  # the paper's two boards + at least ten
    cores = " ".join(m.core for m in cat.values())
    for family in ("Cortex-M0+", "Cortex-M4", "Cortex-M7", "Cortex-M33", "Cortex-M85", "Xtensa"):
        assert family in cores, family


def test_every_number_has_a_source():
    for m in mcus().values():
        assert m.source and m.clock_mhz > 0 and m.sram_kb > 0 and m.flash_kb > 0, m.id
        # the clock and memory sizes are stated in the cited source text (datasheet or system description)
        if m.measured is not None:
            assert m.cycles is None  # derived, never copied in
            assert m.measured.round.startswith("MLPerf Tiny v1.")
            assert "{benchmark}" in m.measured.results and m.measured.results.startswith("mlcommons/tiny_results_v1.")
            assert f"{m.clock_mhz:g} MHz" in m.source
        elif m.cycles is not None:
            assert "analysis.ods" in m.source  # the paper's constants, by cell
        else:
            assert "no MLPerf Tiny closed result" in m.source and m.cycles_per_macc is None


def test_derived_cycles_per_macc_by_hand():
    h7 = get_mcu("nucleo-h7a3zi-q")
    # kws: 280e6 cycles/s / 59.667 inf/s / 2,664,996 MACC (learncost's DS-CNN forward, sheet W18)
    assert forward_macc("kws") == 2_664_996
    assert h7.derivation()["kws"] == pytest.approx(280e6 / 59.667 / 2_664_996)
    assert h7.derivation()["kws"] == pytest.approx(1.7609, abs=1e-4)
    # median of kws 1.76, vww 1.89, ic 1.21
    assert h7.cycles_per_macc == pytest.approx(h7.derivation()["kws"])
    g0 = get_mcu("nucleo-g0b1re")  # Cortex-M0+, 64 MHz, v1.1: vww 64e6 / 0.535 / 7,492,006 = 15.97
    assert g0.cycles_per_macc == pytest.approx(64e6 / 0.535 / 7_492_006)
    assert get_mcu("stm32h735g-dk").cycles_per_macc == 3  # sheet C229


def test_latency_unknown_without_cycles():
    esp = get_mcu("esp32-s3-devkitc-1")
    assert esp.latency_ms(1_000_000) is None
    row = learncost.analyze("kws", ["bp"], ["esp32-s3-devkitc-1"]).row("bp", "training")
    assert row.latency_ms == {"esp32-s3-devkitc-1": None} and row.train_hours == {"esp32-s3-devkitc-1": None}
    assert row.fit["esp32-s3-devkitc-1"].fits is True


def test_fit_verdicts_by_hand():
    # kws BP training needs 95,218 B RAM (72,614 activations + 22,604 parameters)
    row = learncost.analyze("kws", ["bp"], ["nucleo-g474re", "nucleo-g0b1re"]).row("bp", "training")
    assert row.ram_bytes == 95_218
    g4 = row.fit["nucleo-g474re"]  # 128 KB = 131,072 B SRAM, 512 KB = 524,288 B flash
    assert (g4.ram_margin_bytes, g4.flash_margin_bytes, g4.fits) == (131_072 - 95_218, 524_288 - 22_604, True)
    # vww BP training needs 470,316 B: the DISCO-F746NG's 320 KB (327,680 B) misses by 142,636 B
    vww = learncost.analyze("vww", ["bp", "ff"], ["disco-f746ng"])
    f = vww.row("bp", "training").fit["disco-f746ng"]
    assert f.ram_margin_bytes == 327_680 - 470_316 == -142_636
    assert f.verdict() == "no: RAM +142,636 B" and f.flash_fits is True
    assert vww.row("ff", "training").fit["disco-f746ng"].fits is True  # 293,794 B
    # both misses reported together
    tiny = check(ram_bytes=2_000, params_bytes=5_000, mcu=custom_mcu(10, 1, sram_kb=1, flash_kb=4))
    assert tiny.verdict() == "no: RAM +976 B, flash +904 B"
    assert check(10, 10, custom_mcu(10, 1)).verdict() == "unknown"


def test_fit_cli_table_and_json():
    r = run_cli("fit", "vww", "-p", "bp", "-p", "ff", "--mcu", "disco-f746ng", "--mcu", "nucleo-h7a3zi-q")
    assert r.returncode == 0, r.stderr
    assert "disco-f746ng: trains with ff" in r.stdout and "nucleo-h7a3zi-q: trains with bp, ff" in r.stdout
    assert "no: RAM +142,636 B" in r.stdout
    j = run_cli("fit", "kws", "-p", "bp", "--clock-mhz", "100", "--cycles-per-macc", "2", "--sram-kb", "64",
                "--flash-kb", "256", "-f", "json")
    data = json.loads(j.stdout)
    (train,) = [x for x in data["fit"] if x["phase"] == "training"]
    # 64 KB = 65,536 B against 95,218 B: misses by 29,682 B; latency 7,666,544 x 2 / 100 MHz = 153.33 ms
    assert train["mcu"] == "custom" and train["fits"] is False and train["ram_margin_bytes"] == -29_682
    assert train["latency_ms"] == pytest.approx(153.33088)


def test_analyze_json_carries_fit():
    r = run_cli("analyze", "kws", "-p", "bp", "--mcu", "nucleo-g474re", "-f", "json")
    row = json.loads(r.stdout)["rows"][0]
    assert row["fit"]["nucleo-g474re"]["fits"] is True and row["fit"]["nucleo-g474re"]["sram_bytes"] == 131_072


@pytest.mark.parametrize("args, needle", [
    (("fit", "kws", "--mcu", "stm32h7"), "unknown MCU 'stm32h7' (did you mean stm32h735g-dk"),
    (("fit", "kws", "--sram-kb", "-3", "--clock-mhz", "1", "--cycles-per-macc", "1"), "--sram-kb must be positive"),
    # (a custom board with SRAM alone is a question about RAM: test_engines.py answers it)
    (("fit", "kws", "--sram-kb", "64", "--clock-mhz", "0"), "--clock-mhz must be positive"),
])
def test_fit_bad_input(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and needle in r.stderr


def test_mcus_listing_shows_derivation():
    r = run_cli("mcus", "-f", "json")
    rows = {m["id"]: m for m in json.loads(r.stdout)}
    assert re.match(r"MLPerf Tiny v1\.0 closed: median of kws 1\.76, vww 1\.89, ic 1\.21", rows["nucleo-h7a3zi-q"]["cycles_basis"])
    assert rows["ek-ra8d1"]["cycles_per_macc"] is None
