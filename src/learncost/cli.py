"""The ``learncost`` command line. Parses options, calls analysis, hands results to a report."""

from __future__ import annotations

import math
import sys
from enum import Enum
from typing import Optional

import typer

from . import completion, jobs
from .errors import LearncostError
from .jobs import Format, chosen_mcus, emit, workbook
# main and _on_signal are the entry point's, kept here for callers of cli
from .launch import QUIET, WARNINGS, _on_signal, main, version  # noqa: F401
from .printable import printable

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="What on-device learning costs: MACCs, peak RAM, latency and training time of BP, "
         "Forward-Forward, PEPITA and MEMPEPITA on microcontrollers.",
)


def _version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit(0)


@app.callback()
def _everywhere(
    debug: bool = typer.Option(False, "--debug", help="On a learncost bug (exit status 1), print the traceback. "
                                                      "Accepted anywhere on the command line."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No warnings and no progress bar on stderr (errors "
                                                            "still print). Accepted anywhere on the command line."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print learncost's version and exit."),
) -> None:
    """What on-device learning costs: MACCs, peak RAM, latency and training time of BP, Forward-Forward,
    PEPITA and MEMPEPITA on microcontrollers. Exit status: 0 done, 2 bad input, 3 verify found an
    UNEXPLAINED difference, 130 interrupted, 1 a bug in learncost."""
    # main() takes --debug and --quiet out of the arguments before click parses them; this only documents them


def _bounded(flag: str, high: float, low: float = 0.0):
    """An option callback: the value must be finite and in (low, high]; NaN and inf would reach the
    figures (and strict JSON has no NaN). A plain LearncostError, so the line carries LC-OPTION."""
    def check(value):
        if value is None:
            return value
        for v in value if isinstance(value, list) else [value]:
            problem = ("must be a finite number" if not math.isfinite(v) else "must be positive" if v <= low
                       else f"must be at most {high:g}" if v > high else None)
            if problem:
                raise LearncostError(f"{flag} {problem}, got {v:g}", code="LC-OPTION")
        return value

    return check


#: the largest clock (MHz), cycles/MACC, memory (KB), epochs and samples an option takes: far above any
#: board or dataset, small enough that every figure computed from them stays a finite float
MAX_OPTION = 1e9

FormatOpt = typer.Option(Format.table, "--format", "-f", help="Output format.")
PROC_HELP = ("Procedure id (repeatable; `learncost procedures` lists them); `all` for every one. "
             "Default: the paper's four (bp, ff, pepita, mempepita).")
ProcOpt = typer.Option(None, "--procedure", "-p", help=PROC_HELP, autocompletion=completion.procedures)
McuOpt = typer.Option(None, "--mcu", "-m", help="MCU id (repeatable); see `learncost mcus`.",
                      autocompletion=completion.mcus)
ClockOpt = typer.Option(None, "--clock-mhz", help="Custom MCU clock (MHz); needs --cycles-per-macc.",
                        callback=_bounded("--clock-mhz", MAX_OPTION))
EngineOpt = typer.Option(
    None, "--engine", "-e",
    help="Time every board with this engine's profile (learncost engines lists them); default: each board's own "
         "measured engine, the paper's one cycles/MACC where it has none (always for `paper`).",
    autocompletion=completion.engines)
CyclesOpt = typer.Option(None, "--cycles-per-macc", help="Custom MCU cycles per MACC; needs --clock-mhz.",
                         callback=_bounded("--cycles-per-macc", MAX_OPTION))
SramOpt = typer.Option(None, "--sram-kb", help="Custom MCU SRAM (KB of 1024 B), for fit checks.",
                       callback=_bounded("--sram-kb", MAX_OPTION))
OutputOpt = typer.Option(None, "--output", "-o",
                         help="Write to FILE instead of printing: .csv, .json, .md, a figure .png/.svg/.pdf, "
                              "a self-contained page .html, or a live workbook .xlsx/.ods (analyze, fit, paper).")
ForceOpt = typer.Option(False, "--force", help="Overwrite an existing --output file.")
FlashOpt = typer.Option(None, "--flash-kb", help="Custom MCU flash (KB of 1024 B), for fit checks.",
                        callback=_bounded("--flash-kb", MAX_OPTION))
EpochsOpt = typer.Option(None, "--epochs", help="Training epochs (overrides the dataset's).",
                         callback=_bounded("--epochs", MAX_OPTION, -math.inf))
SamplesOpt = typer.Option(None, "--samples", help="Training samples per epoch (overrides the dataset's).",
                          callback=_bounded("--samples", MAX_OPTION, -math.inf))
UnsupportedOpt = typer.Option(False, "--allow-unsupported",
                              help="Carry operators with no cost formula as zero-cost layers (with a warning).")
ClassesOpt = typer.Option(None, "--classes", help="Number of classes (overrides what the file implies).",
                          callback=_bounded("--classes", 2**31 - 1, -math.inf))
InputShapeOpt = typer.Option(None, "--input-shape",
                             help="Input shape, batch included, of an ONNX graph (e.g. 1,3,96,96) or a Keras model "
                                  "(e.g. 1,96,96,3) whose input has unknown dimensions, or to cost it at another size.")


class Dtype(str, Enum):
    int8 = "int8"
    int16 = "int16"
    float32 = "float32"
    int8_paper = "int8-paper"


DtypeOpt = typer.Option(
    None, "--dtype",
    help="Cost the model in the element types it is deployed with: int8 (int8 activations and weights, int32 biases: "
         "TFLite's int8 quantization), int16 (TFLite's 16x8: int16 activations, int8 weights, int64 biases), float32, "
         "or int8-paper (INT8 everywhere, the paper's assumption); default: the types the model states.")


#: sweeps at least this large show a progress bar (on a terminal)
PROGRESS_FROM = 200_000


ParamOpt = typer.Option(None, "--param", help="NAME=VALUE: set a parameter the spec or the setup declares "
                                               "(repeatable); `learncost sweep` takes several values.")
SetupOpt = typer.Option(None, "--setup", "-s",
                        help="Training setup: a preset id (see `learncost setups`) or a setup file (.yaml/.toml); "
                             "default: paper (the paper's assumptions).", autocompletion=completion.setups)
class Convention(str, Enum):
    paper = "paper"
    executed = "executed"
    xcubeai = "xcubeai"


ConventionOpt = typer.Option(
    None, "--convention",
    help="MACC convention: paper (the sheet's), executed (every multiply-accumulate), xcubeai (what X-CUBE-AI "
         "prints: the paper's plus one per bias); default: the setup's.")
MemoryOpt = typer.Option(None, "--memory",
                         help="Memory accounting: paper (the paper's rules), saved-for-backward (MIT's estimate), "
                              "live (peak of the procedure's schedule); default: the setup's.")


def _param_lists(param: Optional[list[str]]) -> dict[str, list]:
    """``--param NAME=VALUES`` options: name -> values, each name given once."""
    if not param:  # nothing to parse: the sweep's parser and numpy stay unloaded
        return {}
    from .sweep import parse_values

    from .params import check_value

    values: dict[str, list] = {}
    for text in param or []:
        name, vals = parse_values(text)
        if name in values:
            raise LearncostError(f"--param {printable(name)} is given twice", hint="list all its values in one --param",
                                 code="LC-SPEC-PARAM")
        values[name] = [check_value(f"--param {printable(name)}", v) for v in vals]
    return values


def _params(param: Optional[list[str]]) -> dict:
    values = {}
    for name, vals in _param_lists(param).items():
        if len(vals) != 1:
            raise LearncostError(f"--param {printable(name)} takes one value here, got {len(vals)}",
                                 hint="use `learncost sweep` to evaluate several", code="LC-SPEC-PARAM")
        values[name] = vals[0]
    return values


def _setup(name: Optional[str], params: dict):
    """The setup at the values of the parameters it declares; the other parameters are the model's."""
    from . import setups

    if not params:  # at its defaults: a preset comes precompiled (``packaged``), a file is read and validated
        return setups.load(name or "paper"), {}
    data, origin = setups.source_data(name or "paper")
    declared = setups.declared_parameters(data, origin)
    mine = {k: v for k, v in params.items() if k in declared}
    rest = {k: v for k, v in params.items() if k not in declared}
    return setups.build(data, origin, mine), rest


def _load(model: str, allow_unsupported: bool, classes: Optional[int], input_shape: Optional[str],
          params: Optional[dict] = None, dtype: Optional[str] = None):
    from .zoo import load_model

    from .limits import MAX_INT, MAX_RANK

    shape = None
    if input_shape is not None:
        parts = input_shape.replace("x", ",").split(",")
        try:
            shape = [int(v) for v in parts if v.strip()] if len(parts) <= MAX_RANK + 1 else []
        except ValueError:
            shape = []
        if not shape or any(not 1 <= v <= MAX_INT for v in shape):
            raise LearncostError(f"--input-shape must be up to {MAX_RANK + 1} positive integers (at most {MAX_INT:,}) "
                                 f"separated by commas, got {printable(input_shape)[:80]!r}", code="LC-OPTION")
    if classes is not None and classes < 1:
        raise LearncostError(f"--classes must be positive, got {classes}", code="LC-OPTION")
    return load_model(model, allow_unsupported=allow_unsupported, classes=classes, input_shape=shape,
                      params=params or None, dtype=dtype and Dtype(dtype).value)


def _imported(model: str) -> bool:
    """Whether ``model`` names a file whose input shape ``--input-shape`` may set (ONNX, Keras)."""
    return model.lower().endswith((".onnx", ".h5", ".hdf5", ".keras"))


def _warn(model) -> None:
    WARNINGS.extend(f"learncost: warning: {printable(model.name)}: {printable(w)}" for w in model.warnings)


def _analysis(model: str, procedure: Optional[list[str]], boards, allow_unsupported: bool, classes: Optional[int],
              input_shape: Optional[str], fmt: Format, *, dataset: Optional[str] = None,
              epochs: Optional[int] = None, samples: Optional[int] = None, params: Optional[dict] = None,
              setup: Optional[str] = None, memory: Optional[str] = None, engine: Optional[str] = None,
              convention: Optional[str] = None, dtype: Optional[str] = None):
    """Load the model and analyse it under the chosen procedures, boards, workload and setup (analyze, fit)."""
    from .analysis import analyze as run
    from .catalog import get_dataset, workload
    from .procedures import resolve_procedures

    procs = resolve_procedures(procedure) if procedure else None
    if dataset is not None and not dataset.strip():  # not "the model's own", which `or` below would make it
        raise LearncostError("--dataset needs a dataset id, got an empty string", code="LC-OPTION",
                             hint="see `learncost datasets`")
    chosen, model_params = _setup(setup, params or {})
    if convention is not None:
        chosen = chosen.model_copy(update={"convention": Convention(convention).value})
    m = _load(model, allow_unsupported, classes, input_shape, model_params, dtype)
    if fmt in (Format.csv, Format.json):
        _warn(m)  # tables and markdown carry the warnings themselves
    ds_name = dataset or m.dataset
    result = run(m, procs, boards, workload(get_dataset(ds_name) if ds_name else None, epochs, samples),
                 setup=chosen, memory=memory, engine=engine)
    if fmt in (Format.csv, Format.json):
        for w in result.warnings[len(m.warnings):]:
            print(f"learncost: warning: {w}", file=sys.stderr)
    return result


def _emit_listing(fmt: Format, title: str, cols: list[str], rows: list[list], numeric: set[int] = frozenset(),
                  notes: list[str] | None = None) -> None:
    """A catalogue listing: the table, or one JSON object / CSV row per entry."""
    import json

    from .report.tables import Table, to_csv

    emit(fmt, tables=lambda: [Table(title, cols, rows, notes or [], numeric=set(numeric))],
         json_text=lambda: json.dumps([dict(zip(cols, r)) for r in rows], indent=2),
         csv_text=lambda: to_csv(cols, rows))


@app.command()
def paper(
    as_published: bool = typer.Option(False, "--as-published", help="Apply the sheet's errata and reproduce its figures."),
    errata: bool = typer.Option(False, "--errata", help="List the errata of the paper's sheet and their effect."),
    fmt: Format = FormatOpt,
    mcu: Optional[list[str]] = McuOpt,
    clock_mhz: Optional[float] = ClockOpt,
    cycles_per_macc: Optional[float] = CyclesOpt,
    epochs: Optional[int] = EpochsOpt,
    samples: Optional[int] = SamplesOpt,
    engine: Optional[str] = EngineOpt,
    output: Optional[str] = OutputOpt,
    force: bool = ForceOpt,
) -> None:
    """The paper's tables for its four MLPerf Tiny models, procedures and two MCUs."""
    jobs.paper(as_published, errata, fmt, mcu, clock_mhz, cycles_per_macc, epochs, samples, engine, output, force)


@app.command()
def analyze(
    model: str = typer.Argument(..., help="Built-in model id (kws, vww, ic, ad) or a model spec file.",
                                autocompletion=completion.models),
    per_layer: bool = typer.Option(False, "--per-layer", help="Show every layer and operation."),
    procedure: Optional[list[str]] = ProcOpt,
    mcu: Optional[list[str]] = McuOpt,
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Dataset id for training time; see `learncost datasets`.",
                                             autocompletion=completion.datasets),
    clock_mhz: Optional[float] = ClockOpt,
    cycles_per_macc: Optional[float] = CyclesOpt,
    sram_kb: Optional[float] = SramOpt,
    flash_kb: Optional[float] = FlashOpt,
    epochs: Optional[int] = EpochsOpt,
    samples: Optional[int] = SamplesOpt,
    allow_unsupported: bool = UnsupportedOpt,
    classes: Optional[int] = ClassesOpt,
    input_shape: Optional[str] = InputShapeOpt,
    dtype: Optional[Dtype] = DtypeOpt,
    param: Optional[list[str]] = ParamOpt,
    setup_name: Optional[str] = SetupOpt,
    memory: Optional[str] = MemoryOpt,
    convention: Optional[Convention] = ConventionOpt,
    engine: Optional[str] = EngineOpt,
    fmt: Format = FormatOpt,
    output: Optional[str] = OutputOpt,
    force: bool = ForceOpt,
) -> None:
    """Costs of one model (built-in id, spec, .tflite, .h5/.keras, .onnx) under each learning procedure."""
    from .paper import setup
    from .report import analysis_report as rep, plots

    boards = chosen_mcus(mcu, clock_mhz, cycles_per_macc, setup()["mcus"], sram_kb, flash_kb)
    result = _analysis(model, procedure, boards, allow_unsupported, classes, input_shape, fmt,
                       dataset=dataset, epochs=epochs, samples=samples, params=_params(param),
                       setup=setup_name, memory=memory, engine=engine, convention=convention, dtype=dtype)

    emit(fmt, tables=lambda: rep.tables(result, per_layer), json_text=lambda: rep.to_json(result, per_layer),
         csv_text=lambda: rep.csv_text(result, per_layer), output=output, force=force,
         figure=lambda: plots.analysis_figure(result), workbook=lambda: workbook([result]),
         setup=result.setup, accounting=result.evaluator.accounting)


@app.command()
def fit(
    model: str = typer.Argument(..., help="Built-in model id (kws, vww, ic, ad) or a model file.",
                                autocompletion=completion.models),
    procedure: Optional[list[str]] = ProcOpt,
    mcu: Optional[list[str]] = typer.Option(None, "--mcu", "-m", help="MCU id (repeatable); default: the whole catalogue."),
    clock_mhz: Optional[float] = ClockOpt,
    cycles_per_macc: Optional[float] = CyclesOpt,
    sram_kb: Optional[float] = SramOpt,
    flash_kb: Optional[float] = FlashOpt,
    allow_unsupported: bool = UnsupportedOpt,
    classes: Optional[int] = ClassesOpt,
    input_shape: Optional[str] = InputShapeOpt,
    dtype: Optional[Dtype] = DtypeOpt,
    param: Optional[list[str]] = ParamOpt,
    setup_name: Optional[str] = SetupOpt,
    memory: Optional[str] = MemoryOpt,
    convention: Optional[Convention] = ConventionOpt,
    engine: Optional[str] = EngineOpt,
    max_ms: Optional[float] = typer.Option(None, "--max-ms", help="Time budget: ms per sample (training and inference)."),
    max_hours: Optional[float] = typer.Option(
        None, "--max-hours", help="Time budget: hours per training run (the model's dataset: epochs x samples)."),
    fmt: Format = FormatOpt,
    output: Optional[str] = OutputOpt,
    force: bool = ForceOpt,
) -> None:
    """Which procedures can train (and run) this model on which boards: RAM vs SRAM, parameters vs flash."""
    from .catalog import mcus as catalogue
    from .report import fit_report as rep, plots

    boards = chosen_mcus(mcu, clock_mhz, cycles_per_macc, list(catalogue()), sram_kb, flash_kb)
    budget = None
    for flag, value in (("--max-ms", max_ms), ("--max-hours", max_hours)):
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise LearncostError(f"{flag} must be a positive number, got {value:g}", code="LC-OPTION")
    if max_ms is not None or max_hours is not None:
        budget = rep.Budget(max_ms, max_hours)
    result = _analysis(model, procedure, boards, allow_unsupported, classes, input_shape, fmt,
                       params=_params(param), setup=setup_name, memory=memory, engine=engine,
                       convention=convention, dtype=dtype)
    if max_hours is not None and result.dataset is None:
        raise LearncostError("--max-hours needs a training workload: the model declares no dataset",
                             code="LC-OPTION", hint="give the time budget per sample with --max-ms")

    emit(fmt, tables=lambda: rep.tables(result, budget), json_text=lambda: rep.to_json(result, budget),
         csv_text=lambda: rep.csv_text(result, budget), output=output, force=force,
         figure=lambda: plots.analysis_figure(result), workbook=lambda: workbook([result]),
         setup=result.setup, accounting=result.evaluator.accounting)


@app.command()
def sweep(
    model: str = typer.Argument(..., help="Built-in model id (kws, vww, ic, ad) or a model spec declaring parameters."),
    param: Optional[list[str]] = typer.Option(
        None, "--param", help="NAME=V1,V2,... or NAME=START:STOP:STEP (repeatable); the rest keep their defaults."),
    procedure: Optional[list[str]] = ProcOpt,
    mcu: Optional[list[str]] = McuOpt,
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Dataset id for training time; see `learncost datasets`.",
                                             autocompletion=completion.datasets),
    clock_mhz: Optional[float] = ClockOpt,
    cycles_per_macc: Optional[float] = CyclesOpt,
    sram_kb: Optional[float] = SramOpt,
    flash_kb: Optional[float] = FlashOpt,
    setup_name: Optional[str] = SetupOpt,
    memory: Optional[str] = MemoryOpt,
    engine: Optional[str] = EngineOpt,
    fmt: Format = FormatOpt,
    output: Optional[str] = OutputOpt,
    force: bool = ForceOpt,
) -> None:
    """Every combination of a spec's (and a setup's) parameter values under every procedure: which variants
    train on which boards."""
    from .paper import setup
    from .procedures import resolve_procedures
    from .report import plots, sweep_report as rep
    from .sweep import run

    values = _param_lists(param)
    total = math.prod(len(dict.fromkeys(vals)) for vals in values.values())  # run() refuses too large a grid
    if output is not None:
        from .report.output import IMAGES, TEXT, check_path

        check_path(output, force, set(TEXT) | IMAGES)  # before the work, not after
    boards = chosen_mcus(mcu, clock_mhz, cycles_per_macc, setup()["mcus"], sram_kb, flash_kb)
    procs = resolve_procedures(procedure) if procedure else None
    if total >= PROGRESS_FROM and sys.stderr.isatty() and not QUIET:
        from rich.progress import Progress

        from .report.tables import terminal

        with Progress(console=terminal(stderr=True), transient=True) as bar:
            task = bar.add_task("sweeping", total=total)
            result = run(model, values, procs, boards, dataset, setup=setup_name, memory=memory, engine=engine,
                         progress=lambda done, n: bar.update(task, completed=done))
    else:
        result = run(model, values, procs, boards, dataset, setup=setup_name, memory=memory, engine=engine)
    # streamed: the rows are written block by block, never held as one text
    emit(fmt, tables=lambda: rep.tables(result), json_text=lambda: rep.json_chunks(result),
         csv_text=lambda: rep.csv_chunks(result), output=output, force=force,
         figure=lambda: plots.sweep_figure(result), setup=result.setup, accounting=result.memory)


@app.command()
def memory(
    model: str = typer.Argument(..., help="Built-in model id or a model file.", autocompletion=completion.models),
    procedure: str = typer.Option("bp", "--procedure", "-p", help="A procedure id (learncost procedures lists them)."),
    phase: str = typer.Option("training", "--phase", help="training or inference."),
    allow_unsupported: bool = UnsupportedOpt,
    classes: Optional[int] = ClassesOpt,
    input_shape: Optional[str] = InputShapeOpt,
    dtype: Optional[Dtype] = DtypeOpt,
    param: Optional[list[str]] = ParamOpt,
    setup_name: Optional[str] = SetupOpt,
    fmt: Format = FormatOpt,
    output: Optional[str] = OutputOpt,
    force: bool = ForceOpt,
) -> None:
    """One phase's schedule laid out in its arena: every tensor's life, offset and bytes (-o mem.png draws it)."""
    from types import SimpleNamespace

    from .evaluate import Evaluator
    from .procedures import get_procedure
    from .report import memory_report as rep, plots
    from .report.analysis_report import model_label

    proc = get_procedure(procedure)
    proc.phase(phase)  # refuses an unknown phase
    chosen, model_params = _setup(setup_name, _params(param))
    m = _load(model, allow_unsupported, classes, input_shape, model_params, dtype)
    ev = Evaluator(m, chosen)
    schedule, layout = ev.layout(proc, phase)
    result = SimpleNamespace(schedule=schedule, layout=layout, procedure=proc.id, phase=phase, setup=ev.setup,
                             model_key=m.id or m.name, model_label=model_label(m))
    emit(fmt, tables=lambda: rep.tables(result), json_text=lambda: rep.to_json(result),
         csv_text=lambda: rep.csv_text(result), output=output, force=force,
         figure=lambda: plots.memory_figure(result), setup=ev.setup, accounting="arena")


@app.command()
def compare(
    model_a: str = typer.Argument(..., help="First model: built-in id or file."),
    model_b: str = typer.Argument(..., help="Second model: built-in id or file."),
    allow_unsupported: bool = UnsupportedOpt,
    input_shape: Optional[str] = InputShapeOpt,
    dtype: Optional[Dtype] = DtypeOpt,
    fmt: Format = FormatOpt,
) -> None:
    """Two models side by side, layer by layer, flagging forward MACC, output size and parameter differences."""
    from .compare import compare as run
    from .report import compare_report as rep

    a = _load(model_a, allow_unsupported, None, input_shape if _imported(model_a) else None, dtype=dtype)
    b = _load(model_b, allow_unsupported, None, input_shape if _imported(model_b) else None, dtype=dtype)
    result = run(a, b)
    if fmt in (Format.csv, Format.json):
        _warn(a)
        _warn(b)
    emit(fmt, tables=lambda: rep.tables(result), json_text=lambda: rep.to_json(result),
         csv_text=lambda: rep.csv_text(result))


@app.command("compare-procedures")
def compare_procedures(
    model: str = typer.Argument(..., help="Built-in model id or a model file.", autocompletion=completion.models),
    procedure: Optional[list[str]] = typer.Option(None, "--procedure", "-p",
                                                  help="Procedure id (repeatable); default: every registered one."),
    baseline: str = typer.Option("bp", "--baseline", help="The procedure the others are compared with."),
    mcu: Optional[list[str]] = McuOpt,
    clock_mhz: Optional[float] = ClockOpt,
    cycles_per_macc: Optional[float] = CyclesOpt,
    allow_unsupported: bool = UnsupportedOpt,
    classes: Optional[int] = ClassesOpt,
    input_shape: Optional[str] = InputShapeOpt,
    dtype: Optional[Dtype] = DtypeOpt,
    param: Optional[list[str]] = ParamOpt,
    setup_name: Optional[str] = SetupOpt,
    memory: Optional[str] = MemoryOpt,
    fmt: Format = FormatOpt,
    output: Optional[str] = OutputOpt,
    force: bool = ForceOpt,
) -> None:
    """Every learning procedure on one model and setup: training and inference MACC, RAM and latency
    relative to a baseline (BP)."""
    from .compare import compare_procedures as run
    from .paper import setup
    from .report import procedures_report as rep

    boards = chosen_mcus(mcu, clock_mhz, cycles_per_macc, setup()["mcus"], None, None)
    chosen = list(procedure or ["all"])
    if baseline.lower() not in [p.lower() for p in chosen] and "all" not in [p.lower() for p in chosen]:
        chosen.insert(0, baseline)
    result = run(_analysis(model, chosen, boards, allow_unsupported, classes, input_shape, fmt, params=_params(param),
                           setup=setup_name, memory=memory, dtype=dtype), baseline.lower())
    emit(fmt, tables=lambda: rep.tables(result), json_text=lambda: rep.to_json(result),
         csv_text=lambda: rep.csv_text(result), output=output, force=force)


@app.command()
def verify(
    model: str = typer.Argument(..., help="Built-in model id (kws, vww, ic, ad) or a model file.",
                                autocompletion=completion.models),
    procedure: Optional[list[str]] = ProcOpt,
    per_layer: bool = typer.Option(False, "--per-layer", help="Also list every layer whose counted MACC differs."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1,
                             help="Seed of the random weights and sample (counts do not depend on it)."),
    allow_unsupported: bool = UnsupportedOpt,
    classes: Optional[int] = ClassesOpt,
    input_shape: Optional[str] = InputShapeOpt,
    dtype: Optional[Dtype] = DtypeOpt,
    param: Optional[list[str]] = ParamOpt,
    setup_name: Optional[str] = SetupOpt,
    memory: Optional[str] = MemoryOpt,
    fmt: Format = FormatOpt,
) -> None:
    """Execute each procedure in PyTorch under a setup and compare counted MACC and tracked memory with the
    analytic figures."""
    from .procedures import resolve_procedures
    from .report import verify_report as rep
    from .verify import verify as run

    procs = resolve_procedures(procedure) if procedure else None
    chosen, model_params = _setup(setup_name, _params(param))
    m = _load(model, allow_unsupported, classes, input_shape, model_params, dtype)
    result = run(m, procs, seed=seed, setup=chosen, memory=memory)
    emit(fmt, tables=lambda: rep.tables(result, per_layer), json_text=lambda: rep.to_json(result),
         csv_text=lambda: rep.csv_text(result))
    _fail_if_unexplained(result)


@app.command()
def validate(
    model: str = typer.Argument(..., help="The model the report is of: a .tflite, .h5/.keras, .onnx, a spec or a "
                                          "built-in id."),
    report: str = typer.Argument(..., help="X-CUBE-AI's or ST Edge AI Core's network_generate_report.txt (or "
                                           "*_analyze_report.txt)."),
    allow_unsupported: bool = UnsupportedOpt,
    classes: Optional[int] = ClassesOpt,
    input_shape: Optional[str] = InputShapeOpt,
    fmt: Format = FormatOpt,
) -> None:
    """Check learncost against an X-CUBE-AI report, layer by layer: MACC under X-CUBE-AI's convention, weights and
    activations beside its figures; exit status 3 when a difference has no stated reason."""
    from . import xcubeai
    from .errors import VerifyUnexplained
    from .report import validate_report as rep
    from .validate import compare

    parsed = xcubeai.read(report)
    m = _load(model, allow_unsupported, classes, input_shape)
    if fmt in (Format.csv, Format.json):
        _warn(m)
    result = compare(m, parsed)
    emit(fmt, tables=lambda: rep.tables(result), json_text=lambda: rep.to_json(result),
         csv_text=lambda: rep.csv_text(result))
    if result.unexplained:
        first = result.unexplained[0]
        what = first["figure"] if isinstance(first, dict) else (first.layer or first.report.name)
        raise VerifyUnexplained(f"{len(result.unexplained)} difference(s) from the report UNEXPLAINED, first {what}",
                                hint="learncost and X-CUBE-AI disagree beyond the stated rules")


def _fail_if_unexplained(result) -> None:
    """The report is printed either way; a difference no stated rule predicts is exit status 3."""
    from .errors import VerifyUnexplained

    found = [f"{c.procedure} {c.phase}: {u}" for c in result.checks for u in c.unexplained]
    if found:
        raise VerifyUnexplained(f"{len(found)} difference(s) UNEXPLAINED, first {found[0]}",
                                hint="the analytic figures and the execution disagree beyond the stated rules")


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


@app.command("completion")
def completion_script(shell: Shell = typer.Argument(..., help="The shell: bash, zsh, fish or powershell.")) -> None:
    """Print the shell completion script: commands, options and the ids they take (boards, setups,
    engines, procedures, datasets, built-in models). Add `eval "$(learncost completion bash)"` to
    ~/.bashrc (zsh: ~/.zshrc; fish: `learncost completion fish | source` in config.fish)."""
    print(completion.script(shell.value))


@app.command()
def models(fmt: Format = FormatOpt) -> None:
    """The built-in models."""
    from .zoo import BUILTIN, load_model

    rows = []
    for model_id, aliases in BUILTIN.items():
        m = load_model(model_id)
        rows.append([model_id, m.name, m.description or "", m.classes, m.dataset, m.weights + m.biases,
                     ", ".join(aliases)])
    cols = ["id", "name", "description", "classes", "dataset", "parameters", "aliases"]
    _emit_listing(fmt, "Built-in models", cols, rows, numeric={3, 5})


@app.command()
def mcus(fmt: Format = FormatOpt) -> None:
    """The MCU catalogue."""
    from .catalog import mcus as catalog

    def basis(m) -> str:
        if m.cycles is not None:
            return "stated"
        if m.measured is None:
            return "unknown: no MLPerf Tiny closed result"
        per = ", ".join(f"{b} {v:.2f}" for b, v in m.derivation().items())
        return f"{m.measured.round}: median of {per}"

    from .engines import measured_engines

    cols = ["id", "name", "core", "clock_mhz", "cycles_per_macc", "cycles_basis", "engine", "sram_kb", "flash_kb",
            "source", "engines_measured"]
    rows = [[m.id, m.name, m.core, m.clock_mhz, None if m.cycles_per_macc is None else round(m.cycles_per_macc, 3),
             basis(m), m.engine, m.sram_kb, m.flash_kb, m.source, ", ".join(measured_engines(m)) or None]
            for m in catalog().values()]
    _emit_listing(fmt, "MCUs", cols, rows, numeric={3, 4, 7, 8},
                  notes=["derived cycles/MACC = clock / MLPerf Tiny median throughput / forward MACC of the "
                         "built-in model, per benchmark; KB = 1024 B"])


@app.command()
def engines(fmt: Format = FormatOpt) -> None:
    """The engine profiles: cycles per MACC by layer kind and core, fitted on MLPerf Tiny v1.0 (inference)
    and MIT's Tiny Training measurements (training), with the spread and power each supports."""
    from .engines import profiles

    cols = ["engine", "name", "core", "conv", "depthwise", "dense", "measured_on", "spread", "power_mw", "backward",
            "source"]
    rows = []
    for e, p in profiles().items():
        for core, g in p["cores"].items():
            boards = g.get("boards") or {}
            resid = [r for b in boards.values() for r in (b or {}).get("residuals", {}).values()]
            spread = (f"{min(resid):+.1%} to {max(resid):+.1%} (predicted / measured - 1)" if resid
                      else f"{g['range'][0]:g}-{g['range'][1]:g} cycles/MACC" if "range" in g else None)
            power = {b: v["power_mw"] for b, v in boards.items() if v and v.get("power_mw")}
            power_text = "; ".join(f"{b} {min(w.values()):.3g}-{max(w.values()):.3g}" for b, w in power.items())
            rows.append([e, p["name"], core, *(g["cycles_per_macc"][c] for c in ("conv", "depthwise", "dense")),
                         ", ".join(boards), spread, power_text or None, p["backward"], p["source"]])
    _emit_listing(fmt, "Engines", cols, rows, numeric={3, 4, 5},
                  notes=["cycles per MACC of each layer kind's operations (pools, element-wise and other kinds at the "
                         "dense rate); fitted by `python -m learncost.calibrate`; a board of a listed core can use "
                         "the profile, `paper` (one cycles/MACC per board) is always there"])


@app.command()
def datasets(fmt: Format = FormatOpt) -> None:
    """The training workloads (epochs x samples)."""
    from .catalog import datasets as catalog

    cols = ["id", "name", "epochs", "samples", "source"]
    rows = [[getattr(d, c) for c in cols] for d in catalog().values()]
    _emit_listing(fmt, "Datasets", cols, rows, numeric={2, 3})


@app.command()
def setups(
    setup_id: Optional[str] = typer.Argument(None, help="A preset id or setup file: show all its fields."),
    fmt: Format = FormatOpt,
) -> None:
    """The training setups: the paper's, int8-fp32grad, float32 and MIT's fifteen sparse-update schemes."""
    from . import setups as S

    if setup_id is not None:
        st = S.load(setup_id)
        from .report.setup_report import fields

        rows = fields(st)
        _emit_listing(fmt, f"Setup {st.key}: {st.name}", ["field", "value"], rows,
                      notes=[f"{role}: {doc}" for role, doc in S.ROLE_DOCS.items()])
        return
    cols = ["id", "name", "model", "memory", "description"]
    rows = [[st.key, st.name, st.model or "", st.memory, st.description]
            for st in (S.load(i) for i in S.preset_ids())]
    _emit_listing(fmt, "Training setups", cols, rows,
                  notes=["`learncost setups ID` shows every field; --setup takes an id or a setup file"])


@app.command()
def procedures(fmt: Format = FormatOpt) -> None:
    """The learning procedures: operations counted and memory rules."""
    from .memory import RULE_DOCS
    from .procedures import PROCEDURES

    def terms(phase) -> str:
        return phase.describe()

    def memory(phase) -> str:
        if phase.memory is None:
            return "live schedule"
        return phase.memory if isinstance(phase.memory, str) else ", ".join(f"{k}: {v}" for k, v in phase.memory)

    def described(phase) -> str:
        if phase.memory is None:
            return "the peak of its schedule's live tensors (no rule of the paper's describes it)"
        rules = [phase.memory] if isinstance(phase.memory, str) else [v for _, v in phase.memory]
        return "; ".join(f"{r}: {RULE_DOCS[r]}" for r in dict.fromkeys(rules))

    def phase_json(phase) -> dict:
        return {"terms": [{"operation": t.op, "times": t.times, "layers": t.where or "all"} for t in phase.terms],
                "macc": terms(phase), "memory": memory(phase), "memory_description": described(phase),
                "params_in_ram": phase.params_in_ram, "updates_per_sample": phase.update_passes}

    cols = ["id", "name", "training MACC", "training memory", "inference MACC", "inference memory", "reference"]
    procs = list(PROCEDURES.values())
    rows = [[p.id, p.name, terms(p.training), memory(p.training), terms(p.inference), memory(p.inference), p.reference]
            for p in procs]
    notes = [f"{k}: {v}" for k, v in RULE_DOCS.items()] + ["passes = classes for a supervised classifier, else 1"]
    notes += [f"{p.id}: {p.step}" for p in procs if p.step]

    def json_text() -> str:
        import json

        return json.dumps([dict(zip(cols, r)) | {"step": p.step, "feedback": p.feedback, "notes": list(p.notes),
                                                 "training": phase_json(p.training),
                                                 "inference": phase_json(p.inference)}
                           for p, r in zip(procs, rows)], indent=2)

    from .report.tables import Table, to_csv

    emit(fmt, tables=lambda: [Table("Learning procedures", cols, rows, notes)], json_text=json_text,
         csv_text=lambda: to_csv(cols, rows))


