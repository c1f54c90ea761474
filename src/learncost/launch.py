"""The entry point: arguments read, the command run, and every way it can end turned into an exit
status and one line on stderr. The main job's usual command lines (``learncost paper``, with
``--as-published``, ``--errata`` or a ``--format``; ``learncost --version``) run here without
loading the CLI framework, a third of their start; every other command line goes to the typer
app (``cli.py``), which parses them all."""

from __future__ import annotations

import os
import sys

from .errors import LearncostError
from .printable import printable

#: warning lines, printed once the command succeeds: a failing command prints its one error line only
WARNINGS: list[str] = []
#: set by --quiet: no warnings, no progress bar (errors are still one line each)
QUIET: list[bool] = []


def _usage_errors():
    """Click's exception classes: vendored inside typer since 0.2x, plain click before."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised where the program is so that ``finally`` and cleanup run
    (a BaseException: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


#: termination signals received during this run: a C extension running Python code (pydantic's schema
#: builder) may turn the ``Terminated`` raised inside it into an exception of its own
_RECEIVED: list[int] = []


def _on_signal(signum, frame):
    _RECEIVED.append(signum)
    raise Terminated(signum)


def _on_interrupt(signum, frame):
    """Ctrl-C as Python's own handler raises it, remembered (as ``_on_signal``)."""
    _RECEIVED.append(signum)
    raise KeyboardInterrupt


def _interrupted(as_json: bool) -> int:
    signum = _RECEIVED[0]
    message = "learncost: interrupted" if signum == 2 else f"learncost: stopped by signal {signum}"
    return _report("LC-INTERRUPTED", message, 128 + signum, as_json)


def _options(argv: list[str]) -> tuple[list[str], bool, bool]:
    """``--debug`` and ``--quiet`` taken out of the arguments wherever they are (``--quiet`` is
    remembered in ``QUIET``), and whether errors go out as JSON (``-f json``), read before click
    parses anything so that usage errors follow it too."""
    args, debug, as_json = [], False, False
    for i, arg in enumerate(argv):
        if arg == "--":
            args += argv[i:]
            break
        if arg == "--debug":
            debug = True
            continue
        if arg in ("--quiet", "-q"):
            QUIET.append(True)
            continue
        args.append(arg)
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg in ("-f", "--format") and i + 1 < len(args):
            as_json = args[i + 1] == "json"
        elif arg.startswith("--format="):
            as_json = arg == "--format=json"
        elif arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            as_json = arg[2:] in ("json", "=json")
    return args, debug, as_json


def _report(code: str, message: str, status: int, as_json: bool, *, hint: str | None = None,
            location: str | None = None, line: str | None = None) -> int:
    """One line on stderr: ``learncost: error: ... [LC-CODE]``, or one JSON object with ``-f json``."""
    if as_json:
        from .report.schema import dumps

        print(dumps({"code": code, "message": printable(message), "location": location and printable(location),
                     "hint": hint and printable(hint), "exit_status": status}, indent=None), file=sys.stderr)
    else:
        print(f"{printable(line or message)} [{code}]", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point. Exit status: 0 success; 2 bad input (one line on stderr naming the problem and
    the way out); 3 ``verify`` found an UNEXPLAINED difference; 130 Ctrl-C, 128 + N signal N;
    1 a bug in learncost (a short "please report" line; the traceback with ``--debug``)."""
    import signal

    QUIET.clear()
    args, debug, as_json = _options(list(sys.argv[1:] if argv is None else argv))
    WARNINGS.clear()
    _RECEIVED.clear()
    previous = {}
    for name in ("SIGTERM", "SIGHUP", "SIGINT"):
        if not hasattr(signal, name):
            continue
        if name == "SIGINT" and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            continue  # Ctrl-C ignored (a background job) or handled by an embedding application: left as it is
        try:
            previous[name] = signal.signal(getattr(signal, name), _on_interrupt if name == "SIGINT" else _on_signal)
        except ValueError:  # not the main thread (an embedding application): keep its handlers
            pass
    try:
        status = _invoke(args)
        if status == 130:  # typer turns KeyboardInterrupt into Exit(130) and hands back the code
            return _report("LC-INTERRUPTED", "learncost: interrupted", 130, as_json)
    except LearncostError as exc:
        if _RECEIVED:
            return _interrupted(as_json)
        return _report(exc.code, exc.message, exc.exit_status, as_json, hint=exc.hint, location=exc.location,
                       line=f"learncost: error: {exc.line()}")
    except KeyboardInterrupt:
        return _report("LC-INTERRUPTED", "learncost: interrupted", 130, as_json)
    except Terminated as exc:
        return _report("LC-INTERRUPTED", f"learncost: stopped by signal {exc.signum}", 128 + exc.signum, as_json)
    except SystemExit as exc:
        import errno

        if isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
            return 0  # the reader of our output went away (`| head`): nothing is wrong with the input
        raise
    except BrokenPipeError:
        return 0
    except MemoryError:
        return _report("LC-LIMIT-MEMORY", "out of memory", 2, as_json,
                       hint="the model or sweep is too large for this machine's memory",
                       line="learncost: error: out of memory (the model or sweep is too large for this machine's "
                            "memory)")
    except Exception as exc:
        ended = _click_ending(exc, as_json)
        if ended is not None:
            return ended
        if _RECEIVED:  # the signal's exception, converted on its way up by an extension
            return _interrupted(as_json)
        if debug:
            import traceback

            traceback.print_exc()
            if getattr(exc, "child_traceback", None):
                print(exc.child_traceback, file=sys.stderr, end="")
        text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        hint = "please report it with the command line" + ("" if debug else "; --debug shows the traceback")
        return _report("LC-INTERNAL", text, 1, as_json, hint=hint,
                       line=f"learncost: internal error (a bug in learncost): {text} ({hint})")
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)
    for line in [] if QUIET else WARNINGS:
        print(line, file=sys.stderr)
    WARNINGS.clear()
    return status


def _invoke(args: list[str]) -> int:
    """The command run: directly when ``_direct`` knows the command line, by the typer app otherwise."""
    from . import completion

    job = None if completion.COMPLETE_VAR in os.environ else _direct(args)
    if job is not None:
        job()
        return 0
    import typer

    from .cli import app

    if completion.COMPLETE_VAR in os.environ:
        completion.register()
    status = typer.main.get_command(app).main(args=args, prog_name="learncost", standalone_mode=False)
    return status if isinstance(status, int) else 0


def _click_ending(exc: Exception, as_json: bool) -> int | None:
    """The exit status of the ways click ends a command (usage errors, ``--help`` with no arguments,
    ``Exit``, ``Abort``), or None for any other exception. Only the typer app raises these."""
    if "typer" not in sys.modules:
        return None
    exc_types = _usage_errors()
    if isinstance(exc, exc_types.NoArgsIsHelpError):
        # the help is its message; typer's rich help has printed itself already and left the message empty
        if exc.format_message():
            print(exc.format_message())
        return 0
    if isinstance(exc, exc_types.UsageError):
        where = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        return _report("LC-USAGE", exc.format_message(), 2, as_json,
                       line=f"learncost: error: {exc.format_message()}{where}")
    import typer

    if isinstance(exc, typer.Abort):
        return _report("LC-INTERRUPTED", "learncost: interrupted", 130, as_json)
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    return None


def _direct(args: list[str]):
    """The job for a command line this module runs without the CLI framework, or None. Only exact forms
    are taken (``paper`` with ``--as-published``, ``--errata``, ``-f``/``--format`` and a format), each
    at most once; anything else, even a spelling click would accept, goes to the typer app."""
    if args == ["--version"]:
        return version
    if not args or args[0] != "paper":
        return None
    from . import jobs

    formats = {f.value for f in jobs.Format}
    flags: dict[str, object] = {}
    rest = args[1:]
    while rest:
        arg = rest.pop(0)
        if arg in ("--as-published", "--errata") and arg not in flags:
            flags[arg] = True
        elif arg in ("-f", "--format") and "format" not in flags and rest and rest[0] in formats:
            flags["format"] = rest.pop(0)
        else:
            return None

    def paper():
        jobs.paper(as_published="--as-published" in flags, errata="--errata" in flags,
                   fmt=jobs.Format(flags.get("format", "table")))
    return paper


def version() -> None:
    """``learncost --version`` (typer's option prints it through here too)."""
    from . import __version__

    print(f"learncost {__version__}")


def run() -> None:
    code = main()
    try:
        sys.stdout.flush()
    except OSError:  # a closed pipe: keep the interpreter from printing "Exception ignored" at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if _RECEIVED:
        # interrupted inside a C extension, the interpreter's finalization can abort (seen: SIGABRT after the
        # report); the cleanup ran in ``finally`` blocks already, so leave with the reported status at once
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
