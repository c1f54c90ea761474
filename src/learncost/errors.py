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
        super().__init__(
            f"unknown {what} {name!r}",
            hint="valid: " + ", ".join(valid) if valid else None,
        )
        self.what = what
        self.name = name
        self.valid = valid
