"""The entry point (``learncost.launch``): the main job's usual command lines run without the CLI
framework and print exactly what the typer app prints for them; every other line goes to the app."""

from __future__ import annotations

import subprocess
import sys

import pytest

from learncost import launch

DIRECT = [
    ["--version"],
    ["paper"],
    ["paper", "--as-published"],
    ["paper", "--errata"],
    ["paper", "-f", "json"],
    ["paper", "--format", "csv"],
    ["paper", "-f", "markdown", "--as-published"],
    ["paper", "--errata", "--format", "json"],
]


def _ran(argv, capsys):
    status = launch.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("argv", DIRECT, ids=" ".join)
def test_a_direct_command_line_prints_what_the_typer_app_prints(argv, capsys, monkeypatch):
    assert launch._direct(argv) is not None
    direct = _ran(argv, capsys)
    monkeypatch.setattr(launch, "_direct", lambda args: None)  # the same line through typer
    through_typer = _ran(argv, capsys)
    assert direct == through_typer
    assert direct[0] == 0 and direct[1]  # it printed something and succeeded


@pytest.mark.parametrize("argv", [
    ["paper", "--as-published", "--as-published"],  # click takes a repeated flag; the direct path does not
    ["paper", "-fjson"], ["paper", "--format=json"],  # spellings click accepts
    ["paper", "-f", "yaml"],  # a usage error: click words it
    ["paper", "--mcu", "nucleo-g474re"], ["paper", "-o", "x.csv"], ["paper", "--help"],
    ["paper", "extra"], ["--version", "paper"], ["analyze", "kws"], [],
])
def test_every_other_command_line_goes_to_the_typer_app(argv):
    assert launch._direct(argv) is None


def test_a_format_click_refuses_is_still_its_usage_error(capsys):
    status, out, err = _ran(["paper", "-f", "yaml"], capsys)
    assert status == 2 and out == ""
    assert err.startswith("learncost: error: Invalid value for '--format' / '-f'") and err.rstrip().endswith("[LC-USAGE]")


def test_the_paper_command_line_loads_no_cli_framework_or_validation_library():
    code = ("import sys; from learncost.launch import main; status = main(['paper']); "
            "sys.stderr.write(repr(sorted(m for m in ('typer', 'click', 'pydantic', 'yaml') if m in sys.modules)))")
    for _ in range(2):  # the first run may derive the package's data files (a fresh checkout)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stderr == "[]"
    assert r.stdout.startswith("Training and inference per sample: MACC (millions), activations and RAM")


def test_no_arguments_print_the_help_once(capsys):
    # typer's rich help prints itself while its NoArgsIsHelpError is raised; it used to be printed twice
    status, out, err = _ran([], capsys)
    assert status == 0 and out.count("Usage: learncost") == 1 and err == ""


def test_analysing_a_builtin_model_through_typer_loads_no_validation_library_or_numpy():
    # a built-in model and preset come precompiled, and no --param means nothing for the sweep's parser to read:
    # `learncost analyze kws` used to load pydantic and numpy (495 ms cold; 303 ms without them)
    code = ("import sys; from learncost.launch import main; status = main(['analyze', 'kws', '--setup', 'last-k']); "
            "sys.stderr.write(repr(sorted(m for m in ('typer', 'pydantic', 'yaml', 'numpy') if m in sys.modules)))")
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stderr.endswith("['typer']")
    assert r.stdout.startswith("DS-CNN (kws, filters=64, blocks=4), setup last-k")
