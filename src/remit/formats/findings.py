"""What a format check found: the report ``remit check FILE`` prints as JSON.

Each finding carries a stable snake_case ``code`` (listed in ``docs/formats/payments.md``), a
message in words, and where it is: a physical ``line`` (1-based) for fixed-width files or an
``xpath`` for XML. Totals count payment entries only (NACHA type-6 records, BACS data
records, SEPA transactions), never addenda, a BACS contra or a NACHA offset record.

>>> short = Finding("record_length", "line 3 has 93 characters", line=3)
>>> report = CheckReport("nacha", errors=(short,))
>>> report.valid
False
>>> report.as_json()["errors"]
[{'line': 3, 'code': 'record_length', 'message': 'line 3 has 93 characters'}]
>>> CheckReport("bacs18", entries=2, credit_minor=1500).as_json()["totals"]
{'entries': 2, 'credit_minor': 1500, 'debit_minor': 0}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Finding:
    """One problem (an error) or doubt (a warning) in a file."""

    code: str
    message: str
    line: int | None = None
    xpath: str | None = None

    def as_json(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.line is not None:
            where["line"] = self.line
        if self.xpath is not None:
            where["xpath"] = self.xpath
        return {**where, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class CheckReport:
    """A whole file's verdict: valid when it has no errors (warnings allowed)."""

    format: str
    errors: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    entries: int = 0
    credit_minor: int = 0
    debit_minor: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "valid": self.valid,
            "errors": [f.as_json() for f in self.errors],
            "warnings": [f.as_json() for f in self.warnings],
            "totals": {
                "entries": self.entries,
                "credit_minor": self.credit_minor,
                "debit_minor": self.debit_minor,
            },
        }
