"""``.html``: one self-contained page (tables, the figure inlined as PNG, the assumptions,
the memory rules and the paper sheet's errata) that opens offline. It is written as XHTML,
so any XML parser can read it back."""

from __future__ import annotations

import base64
import io
from html import escape

from .tables import Table, cell

CSS_TABLES = """
table { border-collapse: collapse; margin: 0.5em 0 0.3em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; vertical-align: top; }
th { background: #f0f0f0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
ul.notes { color: #555; font-size: 0.85em; margin-top: 0; }
"""
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 78em; color: #222; }
img { max-width: 100%; }
""" + CSS_TABLES


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = []
        for i, v in enumerate(row):
            text = escape(cell(v, t.digits)).replace("\n", "<br/>")
            cells.append(f'<td class="n">{text}</td>' if i in t.numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<li>{escape(n)}</li>" for n in t.notes)
    return (f"<table><caption>{escape(t.title)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>" + (f'<ul class="notes">{notes}</ul>' if notes else ""))


def tables_html(tables: list[Table]) -> str:
    """Tables as an HTML fragment (a notebook's rich display of a result), styled like the page."""
    return f"<div><style scoped>{CSS_TABLES}</style>" + "".join(_table(t) for t in tables) + "</div>"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _setup_context(setup, accounting: str) -> str:
    from ..accounting import __doc__ as accountings
    from ..setups import ROLE_DOCS
    from .setup_report import fields, summary

    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in fields(setup))
    roles = "".join(f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in ROLE_DOCS.items())
    return (f"<h2>Setup</h2><p>{escape(summary(setup, accounting))}</p>"
            f"<table><thead><tr><th>field</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"
            f"<h2>Tensor roles</h2><ul>{roles}</ul>"
            f"<h2>Memory accountings</h2><pre>{escape(accountings or '')}</pre>")


def _context(setup=None, accounting: str = "paper") -> str:
    from ..memory import RULE_DOCS
    from ..paper import setup as paper_setup
    from ..procedures import PAPER_PROCEDURES, PROCEDURES
    from .paper_report import errata_tables

    if setup is not None and setup.key != "paper":
        # a real setup: the paper's assumptions and its sheet's errata would misdescribe these figures
        procs = "".join(f"<li><b>{escape(p.id)}</b> ({escape(p.name)}; {escape(p.reference)})</li>"
                        for p in PROCEDURES.values())
        return _setup_context(setup, accounting) + f"<h2>Procedures</h2><ul>{procs}</ul>"
    assumptions = "".join(f"<li>{escape(a)}</li>" for a in paper_setup()["assumptions"])
    rules = "".join(f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in RULE_DOCS.items())
    procs = "".join(
        f"<li><b>{escape(p.id)}</b> ({escape(p.name)}; {escape(p.reference)}): training "
        + escape(p.training.describe()) + "</li>" for p in (PROCEDURES[i] for i in PAPER_PROCEDURES))
    errata = "".join(_table(t) for t in errata_tables())
    return (f"<h2>Assumptions</h2><ul>{assumptions}</ul>"
            f"<h2>Procedures and memory rules</h2><ul>{procs}</ul><ul>{rules}</ul>"
            "<h2>Errata of the paper's sheet</h2><p>learncost computes by consistent rules; where the paper's "
            "spreadsheet deviates from them, the deviation and its effect are listed here (reproduced only by "
            "<code>learncost paper --as-published</code>).</p>" + errata)


def page(tables: list[Table], figure=None, title: str | None = None, setup=None, accounting: str = "paper") -> str:
    """The page; ``setup`` (default: the paper's) decides which assumptions it states."""
    from .. import __version__

    title = title or (tables[0].title if tables else "learncost")
    img = ""
    if figure is not None:
        img = f'<p><img alt="{escape(title)}: figure" src="data:image/png;base64,{_png(figure)}"/></p>'
    body = "".join(_table(t) for t in tables)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p>learncost {escape(__version__)}</p>{img}{body}{_context(setup, accounting)}"
            "</body></html>\n")
