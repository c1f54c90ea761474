"""A plain table (title, columns, rows) rendered as rich, CSV or Markdown."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("table", "csv", "json", "markdown")


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    #: columns holding numbers (right-aligned in rich/markdown)
    numeric: set[int] = field(default_factory=set)
    #: decimals shown for floats
    digits: int = 2


def cell(value: Any, digits: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits if digits is not None else 2}f}"
    return str(value)


def to_rich(tables: list[Table], console=None) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable

    import sys

    # piped output keeps whole rows rather than folding them at 80 columns
    console = console or Console(width=None if sys.stdout.isatty() else 240)
    for t in tables:
        rt = RichTable(title=t.title, title_justify="left", title_style="bold")
        for i, col in enumerate(t.columns):
            rt.add_column(col, justify="right" if i in t.numeric else "left")
        for row in t.rows:
            rt.add_row(*(cell(v, t.digits) for v in row))
        console.print(rt)
        for note in t.notes:
            console.print(f"  {note}", style="dim", highlight=False)
        console.print()


def to_markdown(tables: list[Table]) -> str:
    out = []
    for t in tables:
        out.append(f"### {t.title}\n")
        out.append("| " + " | ".join(t.columns) + " |")
        out.append("|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.columns))) + "|")
        for row in t.rows:
            out.append("| " + " | ".join(cell(v, t.digits).replace("\n", "<br>") for v in row) + " |")
        out.extend([""] + [f"- {n}" for n in t.notes] + ([""] if t.notes else []))
    return "\n".join(out).rstrip() + "\n"


def to_csv(columns: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()
