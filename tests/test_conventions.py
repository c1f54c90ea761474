"""Command-line conventions: shell completion, --quiet, NO_COLOR and piping, `python -m learncost`,
and the files a package is expected to carry (LICENSE, CHANGELOG, py.typed)."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
ESCAPE = re.compile(r"\x1b\[")


def _complete(words: str, shell: str = "bash") -> list[str]:
    """What learncost answers when bash asks it to complete the last of ``words`` (the protocol the
    sourced script speaks: COMP_WORDS, COMP_CWORD and _LEARNCOST_COMPLETE)."""
    parts = words.split(" ")
    env = os.environ | {"COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1),
                        "_LEARNCOST_COMPLETE": f"complete_{shell}"}
    r = subprocess.run([sys.executable, "-m", "learncost"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_completion_script_names_learncost_and_its_variable(shell):
    r = run_cli("completion", shell)
    assert r.returncode == 0, r.stderr
    assert "_LEARNCOST_COMPLETE" in r.stdout and "learncost" in r.stdout


def test_bash_completion_script_is_valid_bash():
    if shutil.which("bash") is None:
        pytest.skip("no bash on this machine")
    script = run_cli("completion", "bash").stdout
    r = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_completion_of_commands_and_ids():
    from learncost.catalog import mcus
    from learncost.setups import preset_ids

    assert _complete("learncost an") == ["analyze"]
    assert _complete("learncost analyze kws -m stm") == sorted(m for m in mcus() if m.startswith("stm"))
    assert _complete("learncost fit kws --setup tte-mb") == sorted(s for s in preset_ids() if s.startswith("tte-mb"))
    assert _complete("learncost analyze kw") == ["kws", "kwt"]  # the built-in models
    assert "pepita" in _complete("learncost analyze kws -p pe")


def test_an_unknown_shell_is_refused():
    r = run_cli("completion", "tcsh")
    assert r.returncode == 2 and "tcsh" in r.stderr and "bash" in r.stderr


def _unsupported_onnx(tmp_path) -> Path:
    """A graph with an operator learncost has no formula for (Erf): imported with a warning under
    --allow-unsupported."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])
    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


def test_quiet_drops_warnings_not_errors(tmp_path):
    path = _unsupported_onnx(tmp_path)
    # JSON carries its warnings in "warnings" and repeats them on stderr (a table prints them in its notes)
    loud = run_cli("analyze", str(path), "--allow-unsupported", "--classes", "8", "-f", "json")
    assert loud.returncode == 0 and "learncost: warning:" in loud.stderr and "Erf" in loud.stderr
    for flag in ("--quiet", "-q"):
        quiet = run_cli(flag, "analyze", str(path), "--allow-unsupported", "--classes", "8", "-f", "json")
        assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == loud.stdout
    # nor the line saying where a file was written
    written = run_cli("analyze", "ad", "-o", str(tmp_path / "ad.json"), "-q")
    assert written.returncode == 0 and written.stderr == "" and (tmp_path / "ad.json").exists()
    # accepted anywhere, and an error still prints its one line
    r = run_cli("analyze", "kws", "-m", "esp32", "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "LC-UNKNOWN-MCU" in r.stderr


def _on_a_terminal(args: list[str], env: dict) -> str:
    """learncost's output when its stdout is a terminal (a pseudo-terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "learncost", *args], stdout=slave, stderr=subprocess.DEVNULL,
                            env=os.environ | env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode()


def test_styles_on_a_terminal_none_when_piped_or_with_no_color():
    args = ["analyze", "ad", "-m", "disco-f746ng"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm-256color"}
    assert ESCAPE.search(_on_a_terminal(args, env | {"NO_COLOR": ""}))  # empty NO_COLOR means unset
    plain = _on_a_terminal(args, env | {"NO_COLOR": "1"})
    assert "FC-AutoEncoder" in plain and not ESCAPE.search(plain)
    piped = run_cli(*args)
    assert "FC-AutoEncoder" in piped.stdout and not ESCAPE.search(piped.stdout)


def test_python_dash_m():
    from learncost import __version__

    r = subprocess.run([sys.executable, "-m", "learncost", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"learncost {__version__}"


def test_licence_changelog_and_typing_marker():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {project['project']['version']}" in changelog
    assert (ROOT / "src" / "learncost" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["learncost"]


def test_every_data_file_of_the_package_is_installed():
    """A non-editable install carries only what package-data names: every file beside the modules
    (setup presets included, which it once left out) must match one of its patterns."""
    import fnmatch

    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["learncost"]
    package = ROOT / "src" / "learncost"
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc", ".marshal") and "__pycache__" not in p.parts]
    assert len(data) == 37  # 4 boards/engines files, 8 models, 20 setup presets, 1 schema, 3 paper files, py.typed
    assert [f for f in data if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []


def test_a_wheel_installed_elsewhere_prints_the_papers_tables(tmp_path):
    """Built as a release would be and installed into a fresh directory (its dependencies taken from this
    environment), the package runs the main job from its installed files alone, as the checkout does."""
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels)], check=True, capture_output=True, timeout=600, cwd=tmp_path)
    target = tmp_path / "site"
    (wheel,) = wheels.glob("learncost-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600, cwd=tmp_path)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import learncost; "
            "assert learncost.__file__.startswith(sys.argv[1]), learncost.__file__; "
            "from learncost.launch import main; sys.exit(main(['paper', '--as-published']))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    installed = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True,
                               timeout=300, cwd=tmp_path, env=env)
    checkout = run_cli("paper", "--as-published")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout == checkout.stdout
    # a setup preset and every board come from the installed data files
    presets = sorted(p.name for p in (target / "learncost" / "data" / "setups").glob("*.yaml"))
    assert len(presets) == 20 and "paper.yaml" in presets
