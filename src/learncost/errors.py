"""The errors learncost raises for bad input, each with a stable code.

The CLI turns them into a single line on stderr (or, with ``--format json``, one JSON object)
and an exit status; the Python API lets them propagate so callers can catch them. ``location``
follows pydantic's habit of saying *where* (``layers[3] (dw1).kernel``) before saying *what*.
``code`` is stable across versions, so tools and tests need not match on wording.
"""

from __future__ import annotations

#: every code learncost emits, with what it means; the README lists them (tests keep the two in step)
CODES = {
    "LC-USAGE": "the command line is malformed: unknown option, missing argument, a value of the wrong type",
    "LC-OPTION": "an option's value is out of range (not finite, not positive, empty, too large)",
    "LC-UNKNOWN-MODEL": "no built-in model or file by that name",
    "LC-UNKNOWN-MCU": "no MCU by that id in the catalogue",
    "LC-UNKNOWN-DATASET": "no dataset by that id",
    "LC-UNKNOWN-PROCEDURE": "no learning procedure by that id",
    "LC-UNKNOWN-ENGINE": "no engine by that id, or none profiled for the board's core",
    "LC-UNKNOWN-NAME": "another unknown id (an operation, a memory rule)",
    "LC-PROCEDURE-MODEL": "a procedure that cannot run on this model (FF's readout with no layer with weights)",
    "LC-INPUT-FILE": "a model path that cannot be read: missing, a directory, not a regular file, no permission",
    "LC-SPEC-SYNTAX": "a spec that is not valid YAML/TOML/UTF-8, or not a mapping",
    "LC-SPEC-FIELD": "a spec field with a wrong type or value, or an impossible layer",
    "LC-SPEC-EXPR": "an =expression that is malformed, uses something not allowed, or does not give an integer",
    "LC-SPEC-PARAM": "a parameter that is not declared, given twice or given with an unusable value",
    "LC-UNKNOWN-SETUP": "no setup preset by that id, and no setup file",
    "LC-SETUP-FIELD": "a setup field with a wrong type or value, or selecting layers the model does not have",
    "LC-IMPORT-FORMAT": "a model file of a format learncost does not read (or refuses: pickles)",
    "LC-IMPORT-MALFORMED": "a model file that is truncated, corrupted or internally inconsistent",
    "LC-IMPORT-UNSUPPORTED-OP": "a model with an operator learncost has no cost formula for",
    "LC-IMPORT-UNSUPPORTED": "a model using a feature learncost does not model (an input without a batch axis, "
                             "an element type it does not size, channels-first Keras layers)",
    "LC-REPORT-FORMAT": "an X-CUBE-AI or ST Edge AI Core report learncost cannot read: not such a report, a failed run, "
                        "a truncated table or a line of an unknown layout (named by its number)",
    "LC-IMPORT-SHAPE": "a model whose shapes are unknown or disagree with what learncost infers",
    "LC-LIMIT-SIZE": "an input file larger than learncost reads",
    "LC-LIMIT-DEPTH": "a spec nested more deeply than learncost reads",
    "LC-LIMIT-EXPANSION": "a spec whose aliases or repeats expand to more than learncost builds",
    "LC-LIMIT-LAYERS": "a model with more layers than learncost analyses",
    "LC-LIMIT-INT": "an integer beyond the range learncost accepts",
    "LC-LIMIT-EXPR": "an =expression that is too long or whose value grows too large",
    "LC-LIMIT-SWEEP": "a sweep with too many variants, layer lists or figures beyond 64-bit integers",
    "LC-LIMIT-TIME": "reading a model file took longer than learncost allows",
    "LC-LIMIT-MEMORY": "learncost ran out of memory",
    "LC-OUTPUT-PATH": "an --output path that cannot be used: unsupported extension, missing directory, a directory",
    "LC-OUTPUT-EXISTS": "an --output path that exists (or is a symlink) and --force was not given",
    "LC-OUTPUT-WRITE": "the operating system refused to write --output (permission, full disk, name too long)",
    "LC-DEPENDENCY": "an optional package needed for this is not installed",
    "LC-VERIFY-UNEXPLAINED": "verify found a difference no stated rule predicts (exit status 3)",
    "LC-VERIFY-UNSUPPORTED": "verify cannot execute this procedure on this model (a kind whose input gradient its "
                             "reference executor lacks)",
    "LC-INTERRUPTED": "interrupted by Ctrl-C or a termination signal (exit status 130 or 128 + signal)",
    "LC-INTERNAL": "a bug in learncost (exit status 1): please report it",
}


class LearncostError(Exception):
    """A problem with what the user asked for or handed in (not a bug in learncost)."""

    #: the code used when a raise site does not name a more specific one
    default_code = "LC-USAGE"
    #: the CLI's exit status for this error
    exit_status = 2

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None,
                 code: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        self.code = code or self.default_code
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "location": self.location, "hint": self.hint,
                "exit_status": self.exit_status}


class SpecError(LearncostError):
    """A model spec (file or in-memory) that is malformed or describes an impossible network."""

    default_code = "LC-SPEC-FIELD"


class SetupError(SpecError):
    """A training setup (file or preset) that is malformed, or that cannot apply to the model."""

    default_code = "LC-SETUP-FIELD"


class LimitError(LearncostError):
    """Input that would take more time or memory than learncost allows (see ``limits``)."""

    default_code = "LC-LIMIT-SIZE"


class SpecLimitError(SpecError, LimitError):
    """A spec beyond a limit: a ``SpecError`` too, so a sweep sets the variant aside like any impossible one."""

    default_code = "LC-LIMIT-INT"


class UnknownNameError(LearncostError):
    """A model, procedure, MCU, dataset or operation id that learncost does not know."""

    def __init__(self, what: str, name: str, valid: list[str]):
        import difflib

        # closest first: a prefix or substring match, then difflib's similarity (none for an empty name,
        # which every id contains)
        near = [v for v in valid if name and name.lower() in v.lower()]
        near += [v for v in difflib.get_close_matches(name.lower(), valid, n=3, cutoff=0.5) if v not in near]
        hint = None
        if near:
            hint = "did you mean " + ", ".join(near[:3]) + "? valid: " + ", ".join(valid)
        elif valid:
            hint = "valid: " + ", ".join(valid)
        code = f"LC-UNKNOWN-{what.upper()}"
        super().__init__(f"unknown {what} {name!r}", hint=hint, code=code if code in CODES else "LC-UNKNOWN-NAME")
        self.what = what
        self.name = name
        self.valid = valid


class VerifyUnexplained(LearncostError):
    """``verify`` ran and printed its report, but some difference has no stated reason."""

    default_code = "LC-VERIFY-UNEXPLAINED"
    exit_status = 3


def rebuild(data: dict) -> LearncostError:
    """An error sent as ``to_dict()`` plus its class name from a child process, as it was raised there."""
    from .importers.common import ImportFailure

    classes = {c.__name__: c for c in (LearncostError, SpecError, SetupError, LimitError, SpecLimitError,
                                       UnknownNameError,
                                       VerifyUnexplained, ImportFailure)}
    cls = classes.get(data.get("class", ""), LearncostError)
    exc = cls.__new__(cls)
    LearncostError.__init__(exc, data["message"], location=data.get("location"), hint=data.get("hint"),
                            code=data.get("code"))
    return exc
