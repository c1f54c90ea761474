"""Reading input files with bounded effort.

A model path may name anything: a FIFO (a read blocks forever), ``/dev/zero`` (a read never
ends), a folder the user cannot enter, a file of gigabytes. Only regular files of bounded size
are read, and every refusal or OS error is one ``LearncostError``. Parsing a binary model runs
in a child process with a time limit: a corrupted HDF5 file can loop inside the C library, where
neither a timeout nor Ctrl-C reaches, and a crash in a parser's C code must not take learncost
down with it.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import Any

from .errors import LearncostError, LimitError
from .printable import printable

_REASONS = {
    errno.EACCES: ("permission denied", "check the file's and its folders' permissions"),
    errno.EPERM: ("permission denied", "check the file's and its folders' permissions"),
    errno.ENAMETOOLONG: ("the path or one of its names is too long", None),
    errno.ELOOP: ("too many levels of symbolic links", None),
    errno.ENOTDIR: ("a part of the path is not a folder", None),
    errno.EISDIR: ("is a directory, not a model file", None),
}


def os_error(path: Path | str, exc: OSError, action: str = "cannot be read") -> LearncostError:
    """One line for an OS error on an input path."""
    reason, hint = _REASONS.get(exc.errno, (exc.strerror or type(exc).__name__, None))
    if exc.errno == errno.ENOENT:
        return LearncostError(f"no such file: {printable(path)}", code="LC-INPUT-FILE")
    return LearncostError(f"{printable(path)}: {action}: {reason}", hint=hint, code="LC-INPUT-FILE")


def stat_input(path: Path) -> os.stat_result | None:
    """The file's status (following symlinks), None when nothing is there; refuses what cannot be examined."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except ValueError:  # an embedded NUL byte
        raise LearncostError(f"{printable(path)}: a path cannot contain a NUL character", code="LC-INPUT-FILE") from None
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            return None
        raise os_error(path, exc) from None


def is_regular(st: os.stat_result | None) -> bool:
    return st is not None and stat.S_ISREG(st.st_mode)


def check_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise LearncostError(f"{printable(path)} is a directory, not a model file", code="LC-INPUT-FILE")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
        raise LearncostError(f"{printable(path)} is {kind}, not a regular file; learncost reads model files only",
                             hint="save the model to a file first", code="LC-INPUT-FILE")


def read_bytes(path: Path, limit: int, what: str = "model file") -> bytes:
    """The whole file, if it is a regular file of at most ``limit`` bytes."""
    # O_NONBLOCK: opening a FIFO that replaced the file since it was examined must not block
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except ValueError:
        raise LearncostError(f"{printable(path)}: a path cannot contain a NUL character", code="LC-INPUT-FILE") from None
    except OSError as exc:
        raise os_error(path, exc) from None
    try:
        st = os.fstat(fd)
        check_regular(path, st)
        if st.st_size > limit:
            raise LimitError(f"{printable(path)}: {st.st_size:,} bytes, more than the {limit:,} a {what} may have",
                             code="LC-LIMIT-SIZE")
        chunks, total = [], 0
        while True:  # read to the end, not to st_size: the file may be growing
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise LimitError(f"{printable(path)}: more than the {limit:,} bytes a {what} may have",
                                 code="LC-LIMIT-SIZE")
        return b"".join(chunks)
    except OSError as exc:
        raise os_error(path, exc) from None
    finally:
        os.close(fd)


# --- parsing in a child process ------------------------------------------------------------------

def run_isolated(module: str, function: str, args: tuple, kwargs: dict, *, what: str, timeout: float,
                 preload: tuple[str, ...] = ()) -> Any:
    """``module.function(*args, **kwargs)`` in a child process, killed after ``timeout`` seconds.

    ``preload`` names libraries imported here first, so that a forked child spends its time limit
    on the file, not on importing its reader. The result comes back pickled from our own child
    (never from the file). A ``LearncostError`` raised in the child is raised here with the same
    code and text."""
    import importlib
    import multiprocessing
    import threading

    for name in (module, *preload):
        try:
            importlib.import_module(name)
        except ImportError:  # the child says what is missing, as one error line
            pass

    # fork is cheap and needs nothing re-imported; with threads running, a forked child could
    # inherit a held lock, so start a fresh interpreter instead
    method = "fork" if hasattr(os, "fork") and threading.active_count() == 1 else "spawn"
    ctx = multiprocessing.get_context(method)
    receiver, sender = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(sender, module, function, args, kwargs), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise LimitError(f"{what}: reading it took more than {timeout:g} s (a corrupted file can make its "
                             "reader loop); stopped", hint="check the file, or re-export it",
                             code="LC-LIMIT-TIME")
        try:
            outcome, payload = receiver.recv()
        except (EOFError, OSError):
            child.join(2)
            signal_no = -child.exitcode if child.exitcode is not None and child.exitcode < 0 else None
            how = f"signal {signal_no}" if signal_no else f"exit status {child.exitcode}"
            raise LearncostError(f"{what}: its reader crashed ({how}); the file is corrupted or not what its "
                                 "extension says", code="LC-IMPORT-MALFORMED") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()
    if outcome == "ok":
        return payload
    if outcome == "error":
        from .errors import rebuild

        raise rebuild(payload)
    summary, details = payload
    bug = RuntimeError(f"in the child process reading {what}: {summary}")
    bug.child_traceback = details  # type: ignore[attr-defined]  # shown by --debug
    raise bug


def _child(conn, module: str, function: str, args: tuple, kwargs: dict) -> None:
    import signal

    # the parent answers Ctrl-C and termination; the child's output would break the one-line rule
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        import importlib

        result = ("ok", getattr(importlib.import_module(module), function)(*args, **kwargs))
    except LearncostError as exc:
        result = ("error", exc.to_dict() | {"class": type(exc).__name__})
    except MemoryError:
        result = ("error", {"class": "LimitError", "message": "reading it needs more memory than allowed",
                            "location": None, "hint": None, "code": "LC-LIMIT-MEMORY"})
    except BaseException as exc:  # a bug: the parent reports it as one
        import traceback

        result = ("bug", (f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    try:
        conn.send(result)
    except Exception as exc:  # an unpicklable result is a bug too
        conn.send(("bug", (f"cannot send the result: {type(exc).__name__}: {exc}", "")))
    conn.close()
    sys.stdout.flush()
