"""What every result type shares in a notebook or a script: ``to_dataframe()`` (its CSV export as a
pandas DataFrame: the same columns, one row per record) and ``_repr_html_`` (its tables, as Jupyter shows
them). Both hand the result to its report module: results compute, reports format."""

from __future__ import annotations

import io
from importlib import import_module


def pandas():
    """pandas, or one clear error (it is an optional dependency)."""
    try:
        import pandas as pd
    except ImportError:
        from .errors import LearncostError

        raise LearncostError("to_dataframe needs pandas, which is not installed", code="LC-DEPENDENCY",
                             hint="pip install 'learncost[reports]'") from None
    return pd


class Reported:
    """A result whose report module (``learncost.report.<REPORT>``) has ``tables(result)`` and
    ``csv_text(result)``."""

    REPORT: str = ""

    def _report(self):
        return import_module(f"learncost.report.{self.REPORT}")

    def to_dataframe(self):
        """The CSV export (``--format csv``) as a pandas DataFrame."""
        return pandas().read_csv(io.StringIO(self._report().csv_text(self)))

    def _repr_html_(self) -> str:
        from .report.html import tables_html

        return tables_html(self._report().tables(self))
