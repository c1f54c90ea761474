"""``--output FILE``: the format from the extension, written atomically, never over a file
without ``--force``. Nothing is left on disk when rendering or writing fails, a text rendered
piece by piece while it is written (a sweep's export) included."""

from __future__ import annotations

import errno
import os
import signal
import tempfile
from pathlib import Path
from collections.abc import Callable, Iterable

from ..errors import LearncostError
from ..printable import printable

TEXT = {".csv": "csv", ".json": "json", ".md": "markdown", ".html": "html"}
IMAGES = {".png", ".svg", ".pdf"}
WORKBOOKS = {".xlsx", ".ods"}


def _refuse(path: str, exc: OSError) -> LearncostError:
    """One line for an OS error while writing ``path``."""
    reasons = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.EROFS: "the file system is read-only", errno.ENAMETOOLONG: "the name is too long",
               errno.EISDIR: "it is a directory", errno.EFBIG: "the file would be too large",
               errno.ENOTDIR: "a part of the path is not a directory"}
    reason = reasons.get(exc.errno, exc.strerror or type(exc).__name__)
    return LearncostError(f"cannot write {printable(path)}: {reason}", code="LC-OUTPUT-WRITE",
                          hint="nothing was written; choose another place or free the space")


def check_path(path: str, force: bool, supported: set[str]) -> Path:
    """The output path, or one clear error: unsupported extension, missing directory, a directory,
    an existing file or symlink (dangling ones too) without ``--force``."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in supported:
        raise LearncostError(f"cannot write {printable(p.name)!r}: unsupported extension {printable(ext) or '(none)'}",
                             hint="use one of " + ", ".join(sorted(supported)), code="LC-OUTPUT-PATH")
    parent = p.parent if str(p.parent) else Path(".")
    try:
        if not parent.is_dir():
            raise LearncostError(f"cannot write {printable(path)}: directory {printable(parent)!r} does not exist",
                                 hint="create it first", code="LC-OUTPUT-PATH")
        if p.is_dir():
            raise LearncostError(f"cannot write {printable(path)}: it is a directory", code="LC-OUTPUT-PATH",
                                 hint="give a file name")
        # lexists: a dangling symlink is something the user made; --force says it may go
        if os.path.lexists(p) and not force:
            what = "is a symbolic link" if p.is_symlink() else "already exists"
            raise LearncostError(f"{printable(path)} {what}", hint="use --force to overwrite it", code="LC-OUTPUT-EXISTS")
    except OSError as exc:
        raise _refuse(path, exc) from None
    except ValueError:  # a NUL byte in the path
        raise LearncostError(f"cannot write {printable(path)}: a path cannot contain a NUL character",
                             code="LC-OUTPUT-PATH") from None
    return p


#: temporary files being written; removed on any exit path, signals included (see write_atomic)
_PENDING: set[Path] = set()


def write_atomic(path: Path, produce: Callable[[Path], None]) -> None:
    """``produce(tmp)`` writes a temporary file beside ``path``; it replaces ``path`` only once complete.

    The temporary file is created and registered with termination signals blocked, so a SIGTERM or
    Ctrl-C arriving at any point finds it registered and the cleanup below removes it."""
    blocked = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}
    can_block = hasattr(signal, "pthread_sigmask")
    if can_block:
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        # a short name of its own: ".<name>.part" would pass the 255-byte limit before the name itself does
        fd, tmp = tempfile.mkstemp(prefix=".learncost-", suffix=".part", dir=path.parent or ".")
        tmp_path = Path(tmp)
        _PENDING.add(tmp_path)
        os.close(fd)
    except OSError as exc:
        raise _refuse(str(path), exc) from None
    finally:
        if can_block:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    try:
        produce(tmp_path)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp_path, path)
        _PENDING.discard(tmp_path)
    except OSError as exc:
        _remove(tmp_path)
        raise _refuse(str(path), exc) from None
    except BaseException:
        _remove(tmp_path)
        raise


def _remove(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass
    _PENDING.discard(tmp)


def write_text(path: Path, content: str | Iterable[str]) -> None:
    """``content`` in UTF-8: one text, or pieces written as they come (a large export is never held whole)."""
    with open(path, "w", encoding="utf-8") as f:
        if isinstance(content, str):
            f.write(content)
        else:
            f.writelines(content)


def write(path: str, force: bool, *, text: Callable[[str], str | Iterable[str]], figure: Callable[[], object] | None,
          workbook: Callable[[], object] | None = None) -> Path:
    """Write ``text(format)`` (a text, or its pieces) for .csv/.json/.md, save ``figure()`` for .png/.svg/.pdf, or
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
                                 hint="pip install 'learncost[reports]'", code="LC-DEPENDENCY") from None
        book = workbook()
        write_atomic(p, lambda tmp: writer(book, tmp))
    elif ext in TEXT:
        content = text(TEXT[ext])
        write_atomic(p, lambda tmp: write_text(tmp, content))
    else:
        fig = figure()
        try:
            write_atomic(p, lambda tmp: fig.savefig(tmp, format=ext[1:], bbox_inches="tight"))
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)
    return p
