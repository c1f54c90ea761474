"""A plain table (title, columns, rows) rendered as rich, CSV or Markdown."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from typing import Any

from ..printable import printable


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
    #: columns holding ids (model, MCU, procedure): never split, like numbers. Words with a digit stay
    #: whole in every column anyway; this covers ids without one
    keep: set[int] = field(default_factory=lambda: {0})


def cell(value: Any, digits: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits if digits is not None else 2}f}"
    return printable(value, keep_newlines=True)


def _chrome(columns: int, boxed: bool) -> int:
    """Characters a row spends outside its cells: "│ " and " " per column and a closing "│" when
    boxed; two spaces between columns when not."""
    return 3 * columns + 1 if boxed else 2 * (columns - 1)


def _words(text: str) -> list[str]:
    return text.split()


def _unbreakable(word: str, keep: bool) -> bool:
    """Numbers and ids are never split across lines; paths may be (at any character)."""
    return "/" not in word or keep


def _widths(t: Table, texts: list[list[str]], avail: int) -> list[int] | None:
    """Column widths that keep every number and id whole within ``avail`` characters, or None
    when no such widths exist (then the rows are stacked instead)."""
    n = len(t.columns)
    need, natural = [1] * n, [1] * n
    for c in range(n):
        lines = [t.columns[c]] + [row[c] for row in texts]
        for text in lines:
            for line in text.split("\n"):
                natural[c] = max(natural[c], len(line))
                if c in t.numeric and text is not lines[0]:
                    need[c] = max(need[c], len(line))
                else:
                    need[c] = max([need[c]] + [len(w) if _unbreakable(w, c in t.keep) else min(len(w), 16)
                                               for w in _words(line)])
    if sum(need) > avail:
        return None
    if sum(natural) <= avail:
        return natural
    # shrink the widest columns first, never below what must stay whole: the largest level
    # such that every column capped at it (but not below its need) fits
    lo, hi = 1, max(natural)
    while lo < hi:
        level = (lo + hi + 1) // 2
        if sum(max(need[c], min(natural[c], level)) for c in range(n)) <= avail:
            lo = level
        else:
            hi = level - 1
    return [max(need[c], min(natural[c], lo)) for c in range(n)]


def terminal(stderr: bool = False):
    """The rich console learncost prints through. Piped output gets no escape codes and keeps whole
    rows (240 columns rather than 80); ``NO_COLOR`` (https://no-color.org, any non-empty value) drops
    every escape code, bold and dim included, on a terminal too."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(stderr=stderr, width=None if stream.isatty() else 240, no_color=plain or None,
                   color_system=None if plain else "auto")


def to_rich(tables: list[Table], console=None) -> None:
    """Tables on the terminal. Numbers and ids are never cut: columns narrow by wrapping text at
    spaces, and when even that cannot fit, each row is printed as a block of ``column: value`` lines."""
    from rich.table import Table as RichTable
    from rich.text import Text

    console = console or terminal()
    for t in tables:
        texts = [[cell(v, t.digits) for v in row] for row in t.rows]
        boxed = True
        widths = _widths(t, texts, console.width - _chrome(len(t.columns), boxed))
        if widths is None:  # the borders cost 3 characters a column: try without them
            boxed = False
            widths = _widths(t, texts, console.width - _chrome(len(t.columns), boxed))
        if widths is None:
            _stacked(console, t, texts)
            continue
        # Text, never str: rich would read "[/x]" in a layer name as markup
        extra = {} if boxed else {"box": None, "pad_edge": False, "show_edge": False}
        rt = RichTable(title=Text(printable(t.title), style="bold"), title_justify="left", **extra)
        for i, col in enumerate(t.columns):
            rt.add_column(Text(printable(col)), justify="right" if i in t.numeric else "left", width=widths[i],
                          overflow="fold")
        for row in texts:
            rt.add_row(*(Text(v) for v in row))
        console.print(rt)
        for note in t.notes:
            _line(console, Text("  " + printable(note), style="dim"))
        console.print()


def _stacked(console, t: Table, texts: list[list[str]]) -> None:
    """One block per row, ``column: value`` per line: for terminals too narrow for the table."""
    from rich.text import Text

    _line(console, Text(printable(t.title), style="bold"))
    for row in texts:
        console.print()
        _line(console, Text(f"{printable(t.columns[0])}: {row[0]}", style="bold"))
        for col, value in zip(t.columns[1:], row[1:]):
            if value:
                _line(console, Text(f"  {printable(col)}: {value}"))
    for note in t.notes:
        _line(console, Text("  " + printable(note), style="dim"))
    console.print()


def _line(console, text) -> None:
    """A line wrapped at spaces; one holding a word wider than the terminal is left to the terminal
    to wrap, since rich would fold that word (a long number) at the edge."""
    longest = max((len(w) for w in text.plain.split() if _unbreakable(w, False)), default=0)
    console.print(text, soft_wrap=longest > console.width, highlight=False, overflow="fold")


def _md(text: str) -> str:
    # a "|" in a name would end the cell
    return text.replace("|", "\\|").replace("\n", "<br>")


def to_markdown(tables: list[Table]) -> str:
    out = []
    for t in tables:
        out.append(f"### {printable(t.title)}\n")
        out.append("| " + " | ".join(_md(printable(c)) for c in t.columns) + " |")
        out.append("|" + "|".join("---:" if i in t.numeric else "---" for i in range(len(t.columns))) + "|")
        for row in t.rows:
            out.append("| " + " | ".join(_md(cell(v, t.digits)) for v in row) + " |")
        out.extend([""] + [f"- {printable(n)}" for n in t.notes] + ([""] if t.notes else []))
    return "\n".join(out).rstrip() + "\n"


def to_csv(columns: list[str], rows: list[list[Any]]) -> str:
    """CSV; text fields lose terminal control characters (csv quoting keeps commas and newlines)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([printable(v, keep_newlines=True) if isinstance(v, str) else v for v in row] for row in rows)
    return buf.getvalue()
