"""Issue 12 by class: tables that never cut numbers or ids (60, 80, 120 columns), exit statuses and
signal-safe cleanup, verify's exit status 3, --output OS errors, and the sweep's int64 bound
checked against exact figures."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time

import pytest

import learncost
from conftest import ROOT
from learncost.report.tables import Table, cell, to_rich

# --- tables ----------------------------------------------------------------------------------------


def _render(tables, width: int) -> str:
    from rich.console import Console

    buf = io.StringIO()
    to_rich(tables, Console(file=buf, width=width, color_system=None, legacy_windows=False))
    return buf.getvalue()


def _tables(command: str):
    from learncost.paper import setup
    from learncost.report import analysis_report, fit_report

    if command == "analyze":
        return analysis_report.tables(learncost.analyze("ic", mcus=setup()["mcus"]), per_layer=True)
    if command == "fit":
        return fit_report.tables(learncost.analyze("vww", mcus=list(learncost.analysis.all_mcus())))
    from learncost.catalog import mcus

    return [Table("MCUs", ["id", "name", "sram_kb", "source"],
                  [[m.id, m.name, m.sram_kb, m.source] for m in mcus().values()], numeric={2})]


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("command", ["analyze", "fit", "mcus"])
def test_tables_never_cut_a_number_or_an_id(command, width):
    tables = _tables(command)
    text = _render(tables, width)
    assert "…" not in text
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for t in tables:
        for row in t.rows:
            for k, value in enumerate(row):
                shown = cell(value, t.digits)
                # every number, and every word of an id column, appears whole on one line
                words = [shown] if k in t.numeric else shown.split() if k in t.keep else re.findall(r"\S*\d\S*", shown)
                for word in words:
                    if "/" not in word:
                        assert any(word in line for line in lines), (command, width, word)


def test_wide_terminal_keeps_the_boxed_table():
    text = _render(_tables("analyze")[:1], 200)
    assert text.splitlines()[1].startswith("┏") and "37,099,592" in text  # ResNet-8 BP training MACC (README)


# --- exit statuses, signals, cleanup ---------------------------------------------------------------


def _spawn(args, cwd):
    # a shell's background job ignores SIGINT; restore the default as a terminal would
    return subprocess.Popen([sys.executable, "-m", "learncost", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_output_leaves_nothing(tmp_path, signum, status):
    pytest.importorskip("matplotlib")
    seen = set()
    for delay in (0.4, 0.9, 1.4, 2.0):  # before, while and around rendering the figure
        p = _spawn(["paper", "-o", "out.svg"], tmp_path)
        time.sleep(delay)
        p.send_signal(signum)
        _, err = p.communicate(timeout=60)
        seen.add(p.returncode)
        if p.returncode == status:
            assert err.splitlines()[-1].endswith("[LC-INTERRUPTED]")
            assert list(tmp_path.iterdir()) == []  # no .part file, no half-written figure
        elif p.returncode == -signum:
            # a loaded machine: the signal came before Python installed the handler (nothing written), or after
            # the run had restored it on its way out (the figure whole: renamed into place only once complete)
            names = [f.name for f in tmp_path.iterdir()]
            assert names in ([], ["out.svg"])
            if names:
                assert (tmp_path / "out.svg").read_text().rstrip().endswith("</svg>")
        else:  # finished before the signal arrived
            assert p.returncode == 0 and [f.name for f in tmp_path.iterdir()] == ["out.svg"]
        for f in tmp_path.iterdir():
            f.unlink()
    assert status in seen


def test_a_signal_an_extension_converts_is_still_an_interruption(monkeypatch, capsys):
    """pydantic's schema builder (Rust) turns an exception raised inside it, the signal handler's included, into
    a SchemaError: seen in CI, SIGTERM during the import of the setups made an internal error. A signal
    received during the run makes any error it turns into an interruption, 128 + the signal."""
    from learncost import cli
    from learncost.report import analysis_report

    def converted(*args, **kwargs):
        try:
            cli._on_signal(15, None)
        except BaseException as exc:
            raise RuntimeError("Error building validator") from exc

    monkeypatch.setattr(analysis_report, "to_json", converted)
    assert cli.main(["analyze", "kws", "-f", "json"]) == 143
    assert json.loads(capsys.readouterr().err)["code"] == "LC-INTERRUPTED"
    monkeypatch.undo()
    assert cli.main(["analyze", "kws", "-f", "json"]) == 0  # the next run starts afresh


def test_internal_error_is_status_1_with_a_report_line(monkeypatch, capsys):
    from learncost import cli
    from learncost.report import analysis_report

    def broken(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(analysis_report, "to_json", broken)
    assert cli.main(["analyze", "kws", "-f", "json"]) == 1
    err = capsys.readouterr().err
    assert json.loads(err)["code"] == "LC-INTERNAL" and "Traceback" not in err
    assert cli.main(["analyze", "kws", "--debug"]) == 0  # --debug is accepted anywhere
    monkeypatch.setattr(analysis_report, "to_json", broken)
    assert cli.main(["--debug", "analyze", "kws", "-f", "json"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: planted" in err


def test_os_errors_on_output_are_one_line(tmp_path, monkeypatch, capsys):
    import errno
    import tempfile

    from learncost import cli

    for number, reason in ((errno.EACCES, "permission denied"), (errno.ENOSPC, "the disk is full")):
        def refuse(*args, _n=number, **kwargs):
            raise OSError(_n, "planted")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
        assert cli.main(["analyze", "kws", "-o", str(tmp_path / "x.json")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and reason in err and err.rstrip().endswith("[LC-OUTPUT-WRITE]")
    assert list(tmp_path.iterdir()) == []


def test_file_size_limit_on_output_removes_the_temporary_file(tmp_path):
    """RLIMIT_FSIZE makes the write itself fail (EFBIG), as a full disk would, midway."""
    import resource

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    r = subprocess.run([sys.executable, "-m", "learncost", "analyze", "kws", "--per-layer", "-o", "x.csv"],
                       cwd=tmp_path, capture_output=True, text=True, preexec_fn=small_files, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "cannot write x.csv: the file would be too large" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_verify_exit_status_3_when_a_difference_is_unexplained(monkeypatch, capsys):
    pytest.importorskip("torch")
    from learncost import cli
    from learncost.verify import reference as R

    real = R.Step.forward

    def one_too_many(self, layer, ins, op="forward"):  # one MACC more than the rules predict
        # conv1: 10 x 4 kernel, 1 input channel, 25 x 5 x 64 output = 320,000 MACC (kws.yaml)
        out = real(self, layer, ins, op)
        if layer.name == "conv1":
            self.counter.counts[("conv1", "forward")] += 1
        return out

    monkeypatch.setattr(R.Step, "forward", one_too_many)
    assert cli.main(["verify", "kws", "-p", "bp", "-f", "json"]) == 3
    out = capsys.readouterr()
    report = json.loads(out.out)  # the report is printed in full
    assert report["checks"][0]["unexplained"] == ["forward: counted 2,664,769, expected 2,664,768",
                                                  "conv1 forward: counted 320,001, expected 320,000"]
    assert json.loads(out.err)["code"] == "LC-VERIFY-UNEXPLAINED"


# --- the sweep's int64 bound ------------------------------------------------------------------------


@pytest.mark.parametrize("model, params", [
    ("kws", {"filters": 64, "blocks": 4}), ("vww", {"alpha": 1.0, "resolution": 224}), ("ic", {"width": 16}),
    ("ad", {"hidden": 128}), ("ic", {"width": 100_000, "resolution": 64}), ("kws", {"filters": 3000, "blocks": 40})])
def test_overflow_bound_holds_on_exact_figures(model, params):
    from learncost import overflow
    from learncost.zoo import load_model

    m = load_model(model, params=params)
    a = learncost.analyze(m)
    top = max(max(r.macc, r.ram_bytes, r.params_bytes) for r in a.rows)
    top = max(top, max(max(lr.macc.values()) for lr in a.layers), max(lr.weights for lr in a.layers))
    assert top <= overflow.bound(m) / 16  # with a margin: the bound's factor 2**12 has room to spare


def test_sweep_keeps_variants_within_int64_exact():
    """width 16 is the paper's ResNet-8; 20,000 gives figures near 1e15 (exact in int64); 1e8 would pass 2**63."""
    s = learncost.sweep.run("ic", {"width": [16, 20_000, 100_000_000]}, ["bp"], ["disco-f746ng"])
    assert list(s.valid) == [True, True, False]
    assert "may pass 64-bit integers" in s.errors[2]
    for v, width in ((0, 16), (1, 20_000)):
        exact = learncost.analyze(learncost.load_model("ic", params={"width": width}), ["bp"], ["disco-f746ng"])
        assert int(s.macc[("bp", "training")][v]) == exact.row("bp", "training").macc
        assert int(s.ram[("bp", "training")][v]) == exact.row("bp", "training").ram_bytes
    assert int(s.macc[("bp", "training")][0]) == 37_099_592  # README: ResNet-8 BP training MACC
