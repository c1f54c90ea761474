"""The one error type learncost raises for bad input.

The CLI turns it into a single line on stderr and exit code 2; the Python API lets it
propagate so callers can catch it. ``location`` follows pydantic's habit of saying *where*
(``layers[3] (dw1).kernel``) before saying *what*.
"""

from __future__ import annotations


class LearncostError(Exception):
    """A problem with what the user asked for or handed in (not a bug in learncost)."""

    def __init__(self, message: str, *, location: str | None = None, hint: str | None = None):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecError(LearncostError):
    """A model spec (file or in-memory) that is malformed or describes an impossible network."""


class UnknownNameError(LearncostError):
    """A model, procedure, MCU, dataset or operation id that learncost does not know."""

    def __init__(self, what: str, name: str, valid: list[str]):
        import difflib

        # closest first: a prefix or substring match, then difflib's similarity
        near = [v for v in valid if name.lower() in v.lower()]
        near += [v for v in difflib.get_close_matches(name.lower(), valid, n=3, cutoff=0.5) if v not in near]
        hint = None
        if near:
            hint = "did you mean " + ", ".join(near[:3]) + "? valid: " + ", ".join(valid)
        elif valid:
            hint = "valid: " + ", ".join(valid)
        super().__init__(f"unknown {what} {name!r}", hint=hint)
        self.what = what
        self.name = name
        self.valid = valid
