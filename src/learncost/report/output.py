"""``--output FILE``: the format from the extension, written atomically, never over a file
without ``--force``. Nothing is left on disk when rendering or writing fails."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import LearncostError

TEXT = {".csv": "csv", ".json": "json", ".md": "markdown", ".html": "html"}
IMAGES = {".png", ".svg", ".pdf"}
WORKBOOKS = {".xlsx", ".ods"}


def check_path(path: str, force: bool, supported: set[str]) -> Path:
    """The output path, or one clear error: unsupported extension, missing directory, existing file."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in supported:
        raise LearncostError(f"cannot write {p.name!r}: unsupported extension {ext or '(none)'}",
                             hint="use one of " + ", ".join(sorted(supported)))
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise LearncostError(f"cannot write {path}: directory {str(parent)!r} does not exist", hint="create it first")
    if p.exists() and not force:
        raise LearncostError(f"{path} already exists", hint="use --force to overwrite it")
    return p


def write_atomic(path: Path, produce: Callable[[Path], None]) -> None:
    """``produce(tmp)`` writes a temporary file beside ``path``; it replaces ``path`` only once complete."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        produce(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write(path: str, force: bool, *, text: Callable[[str], str], figure: Callable[[], object] | None,
          workbook: Callable[[], object] | None = None) -> Path:
    """Write ``text(format)`` for .csv/.json/.md, save ``figure()`` for .png/.svg/.pdf, or
    ``workbook()`` (a ``report.workbook.Book``) as a live .xlsx/.ods."""
    supported = set(TEXT) | (IMAGES if figure is not None else set()) | (WORKBOOKS if workbook is not None else set())
    p = check_path(path, force, supported)
    ext = p.suffix.lower()
    if ext in WORKBOOKS:
        from . import workbook as wb

        writer = wb.write_xlsx if ext == ".xlsx" else wb.write_ods
        module = "openpyxl" if ext == ".xlsx" else "odf"
        try:
            __import__(module)
        except ImportError:
            raise LearncostError(f"{ext} workbooks need {module}, which is not installed",
                                 hint="pip install 'learncost[reports]'") from None
        book = workbook()
        write_atomic(p, lambda tmp: writer(book, tmp))
    elif ext in TEXT:
        content = text(TEXT[ext])
        write_atomic(p, lambda tmp: tmp.write_text(content, encoding="utf-8"))
    else:
        fig = figure()
        try:
            write_atomic(p, lambda tmp: fig.savefig(tmp, format=ext[1:], bbox_inches="tight"))
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return p
