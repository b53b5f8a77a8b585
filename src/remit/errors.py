"""One small hierarchy of errors.

A user can cause a `RemitError` (bad input, a forbidden action, a replay with other
content); the program never raises one for its own faults. Validation never stops at the
first problem: it collects every `Problem` with its location, and raises one
`ValidationFailed` carrying them all.

>>> p = Problem(field="routing_number", message="checksum failed", check="aba_checksum", line=3)
>>> str(p)
'line 3: routing_number: checksum failed [aba_checksum]'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input, and where it is."""

    field: str
    message: str
    check: str = ""
    line: int | None = None
    source: str = ""

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        where.append(self.field)
        text = ": ".join(where) + f": {self.message}"
        return f"{text} [{self.check}]" if self.check else text


class RemitError(Exception):
    """Base of every error a user can cause."""


class ValidationFailed(RemitError):
    """Input failed one or more checks; nothing was written."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid input")


class NotFound(RemitError):
    """A referenced object does not exist in this book."""


class Forbidden(RemitError):
    """The actor's roles do not allow the action."""


class Conflict(RemitError):
    """The action conflicts with the current state (a key reused for other content)."""
