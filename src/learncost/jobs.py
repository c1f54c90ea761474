"""What a command does once its options are read, for the commands the entry point (``launch``) runs
without loading the CLI framework: ``learncost paper``, the main job. The typer command (``cli.py``)
calls the same function, and every command prints through ``emit``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import Enum
from typing import Optional

from .errors import LearncostError
from .launch import QUIET
from .printable import printable


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def chosen_mcus(ids: Optional[list[str]], clock: Optional[float], cycles: Optional[float], default: list[str],
                sram_kb: Optional[float] = None, flash_kb: Optional[float] = None):
    """The boards a command runs on: the chosen ids (their clock, cycles/MACC, SRAM or flash changed by the
    options), a custom board made of the options alone, or the command's default boards."""
    from .catalog import custom_mcu, get_mcu, override_mcu

    overrides = clock is not None or cycles is not None or sram_kb is not None or flash_kb is not None
    if ids:  # the options change the chosen boards, which keep their ids
        return [override_mcu(get_mcu(i), clock, cycles, sram_kb, flash_kb) if overrides else get_mcu(i) for i in ids]
    if overrides:
        return [custom_mcu(clock, cycles, sram_kb, flash_kb)]
    return [get_mcu(i) for i in default]


def pieces(text) -> Iterable[str]:
    """A text, or the pieces of one written as they come (a sweep's export is never held whole)."""
    return [text] if isinstance(text, str) else text


def emit(fmt: Format, *, tables, json_text, csv_text, output: Optional[str] = None, force: bool = False,
         figure=None, workbook=None, setup=None, accounting: str = "paper") -> None:
    """Print or write a result: ``json_text`` and ``csv_text`` give a text or its pieces."""
    from itertools import chain

    from .report.tables import to_markdown, to_rich

    def json_lines():
        return chain(pieces(json_text()), ["\n"])

    if output is not None:
        from .report.output import write

        from .report.html import page

        texts = {"csv": csv_text, "json": json_lines, "markdown": lambda: to_markdown(tables()),
                 "html": lambda: page(tables(), figure() if figure else None, setup=setup, accounting=accounting)}
        path = write(output, force, text=lambda kind: texts[kind](), figure=figure, workbook=workbook)
        if not QUIET:
            print(f"learncost: wrote {printable(path)}", file=sys.stderr)
        return
    if fmt is Format.table:
        to_rich(tables())
    elif fmt is Format.markdown:
        sys.stdout.write(to_markdown(tables()))
    elif fmt is Format.json:
        sys.stdout.writelines(json_lines())
    else:
        sys.stdout.writelines(pieces(csv_text()))


def workbook(analyses, as_published: bool = False):
    """The live workbook of ``analyses`` (their formulas recompute every figure)."""
    from .report.workbook import build

    if as_published:
        raise LearncostError("a workbook recomputes with learncost's rules; the sheet's errata are not formulas",
                             hint="drop --as-published, or use .csv/.json/.md")
    return build(analyses)


def paper(as_published: bool = False, errata: bool = False, fmt: Format = Format.table,
          mcu: Optional[list[str]] = None, clock_mhz: Optional[float] = None, cycles_per_macc: Optional[float] = None,
          epochs: Optional[int] = None, samples: Optional[int] = None, engine: Optional[str] = None,
          output: Optional[str] = None, force: bool = False) -> None:
    """``learncost paper``: its tables for its four MLPerf Tiny models, procedures and two MCUs."""
    from . import paper as paper_mod
    from .report import paper_report as rep

    if errata:
        from .report.schema import dumps

        emit(fmt, tables=rep.errata_tables, json_text=lambda: dumps({"errata": rep.errata_dicts()}),
             csv_text=rep.errata_csv, output=output, force=force)
        return
    boards = chosen_mcus(mcu, clock_mhz, cycles_per_macc, paper_mod.setup()["mcus"])
    override = None
    if epochs is not None or samples is not None:
        from .catalog import get_dataset, workload
        from .zoo import load_model

        override = {m: workload(get_dataset(load_model(m).dataset), epochs, samples)
                    for m in paper_mod.setup()["models"]}
    result = paper_mod.compute(as_published, mcus=boards, dataset_override=override, engine=engine or "paper")
    from .report import plots

    emit(fmt, tables=lambda: rep.tables(result), json_text=lambda: rep.to_json(result),
         csv_text=lambda: rep.csv_text(result), output=output, force=force, figure=lambda: plots.paper_figure(result),
         workbook=lambda: workbook(list(result.analyses.values()), as_published))
