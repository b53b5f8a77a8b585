"""Plain values of care monitoring: the tolerance policy, outcome statuses and rules.

The policy's six numbers are parameters, never constants in the engine; a book keeps them
versioned and effective-dated, and a provider contract may override them.

>>> Policy().match_window_minutes, Policy.from_mapping({"tolerance_minutes": 10}).tolerance_minutes
(60, 10)
>>> band_minutes(22, 15), band_minutes(23, 15), band_minutes(37, 15), band_minutes(38, 15)
(15, 30, 30, 45)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from enum import StrEnum
from typing import Any

from remit.errors import Problem, ValidationFailed
from remit.text import date_problem


class VisitStatus(StrEnum):
    """What became of a carer place or of an actual record."""

    VERIFIED = "verified"  # delivered within tolerance: paid as planned
    OVER = "over"  # delivered well over the plan: paid as planned, an exception
    SHORT = "short"  # delivered under the plan beyond tolerance: paid banded delivered minutes
    INVALID = "invalid"  # check-out before check-in, or impossibly long: paid 0
    MISSED = "missed"  # a carer place with no record: paid 0
    UNPLANNED = "unplanned"  # a record with no planned visit in the window: paid 0
    DUPLICATE = "duplicate"  # a second record of a placed carer, or beyond the carers planned
    CANCELLED = "cancelled"  # the visit was cancelled with notice: paid 0
    SHORT_NOTICE = "short_notice"  # cancelled at short notice: paid a share of the plan
    FRUSTRATED = "frustrated"  # the carer came, the client was not there: paid a share
    HOSPITAL = "hospital"  # the client was in hospital: the visit is suspended, paid 0


class Rule(StrEnum):
    """The rule that decided an outcome; its name is written beside every outcome."""

    WITHIN_TOLERANCE = "within_tolerance"
    OVER_EXCEPTION = "over_exception"
    SHORT_BANDED = "short_banded"
    SHORT_EXCEPTION = "short_exception"
    CHECK_OUT_BEFORE_CHECK_IN = "check_out_before_check_in"
    OVER_MAX_VISIT = "over_max_visit"
    NO_RECORD_FOR_PLACE = "no_record_for_place"
    NO_PLANNED_VISIT_IN_WINDOW = "no_planned_visit_in_window"
    CARER_ALREADY_PLACED = "carer_already_placed"
    PLACES_FILLED = "places_filled"
    CANCELLED_WITH_NOTICE = "cancelled_with_notice"
    CANCELLED_SHORT_NOTICE = "cancelled_short_notice"
    FRUSTRATED_VISIT = "frustrated_visit"
    CLIENT_IN_HOSPITAL = "client_in_hospital"
    RECORD_AT_CANCELLED_VISIT = "record_at_cancelled_visit"
    RECORD_IN_HOSPITAL = "record_in_hospital"
    # In a book only: a late record of a visit whose places another run holds (decided).
    VISIT_DECIDED_IN_OTHER_RUN = "visit_decided_in_other_run"


class RunStatus(StrEnum):
    """Where a provider's period stands."""

    RECONCILED = "reconciled"  # outcomes computed; may be reconciled again
    DECIDING = "deciding"  # decisions recorded on its exceptions
    RESOLVED = "resolved"  # every exception decided: ready to become a payable
    POSTED = "posted"  # the self-bill payable is in the ledger


OUTCOME_COLUMNS = (
    "visit_id",
    "record_id",
    "provider_id",
    "client_id",
    "carer_id",
    "status",
    "rule",
    "planned_minutes",
    "delivered_minutes",
    "paid_minutes",
    "amount_minor",
    "currency",
    "exception",
    "reason",
)
# The engine's columns: the offline outcomes.csv (OUTCOME_COLUMNS), then what a book also keeps.
ENGINE_COLUMNS = (*OUTCOME_COLUMNS, "flags")
FLAGS = ("early_leaving", "late_arrival")  # sorted: a row's flags are written in this order
# A planned visit's status (planned_visits.status; planned.csv's optional ``status`` column).
PLANNED_STATUSES = (
    "planned",
    "cancelled_notice",
    "cancelled_short_notice",
    "frustrated",
    "hospital",
)
BANDS = ("standard", "evening", "weekend", "bank_holiday")
METHODS = ("app", "phone", "manual")
MAX_CARERS = 10
MAX_PLANNED_MINUTES = 1440  # one day; longer care is more than one planned visit
MAX_RATE = 100_000  # per hour, in major units: a typo guard that also bounds the arithmetic
RATE_SCALE = 10**6  # rates are integer millionths of a major unit per hour
_RATE_TEXT = re.compile(r"(\d{1,9})(?:\.(\d{1,6}))?")


@dataclass(frozen=True, slots=True)
class Policy:
    """The tolerance policy; each number is in whole minutes."""

    match_window_minutes: int = 60  # an actual matches the nearest planned start within +/-
    max_visit_minutes: int = 720  # longer than this is not a visit but a broken record
    tolerance_minutes: int = 5  # delivered >= planned - this: paid as planned
    over_exception_minutes: int = 15  # delivered > planned + this: an exception (still planned)
    rounding_minutes: int = 15  # short visits are paid to the nearest band of this
    short_exception_minutes: int = 10  # a shortfall over this is an exception
    # Controls (issue 9): a decision paying more than planned + this needs a second person.
    second_approval_minutes: int = 0
    # Issue 9: arrival and leaving, cancellations, minimum charge, time bands.
    late_minutes: int = 15  # check-in later than planned start + this: flagged late_arrival
    early_minutes: int = 15  # check-out earlier than planned end - this: flagged early_leaving
    late_exception: int = 0  # 1: a late arrival is also an exception
    early_exception: int = 0  # 1: an early leaving is also an exception
    short_notice_paid_percent: int = 100  # a visit cancelled at short notice is paid this share
    frustrated_paid_percent: int = 100  # a frustrated visit (client not there) is paid this share
    minimum_charge_minutes: int = 0  # a visit paid more than 0 minutes is paid at least this
    evening_from_minute: int = 1200  # the evening band starts at this minute of the day (20:00)
    evening_to_minute: int = 420  # ... and ends at this one (07:00), across midnight

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], source: str = "") -> Policy:
        """A policy from named values (missing ones take the defaults); every problem at once.

        >>> Policy.from_mapping({"rounding_minutes": 0, "grace": 3})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        remit.errors.ValidationFailed: ...
        """
        names = tuple(f.name for f in fields(cls))
        problems = [
            Problem(
                key,
                f"unknown parameter (the policy takes: {', '.join(names)})",
                "unknown_param",
                source=source,
            )
            for key in values
            if key not in names
        ]
        chosen: dict[str, int] = {}
        for name in names:
            if name not in values:
                continue
            value = values[name]
            least, most, what = BOUNDS.get(name, (0, 100_000, MINUTES))
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                problems.append(Problem(name, what, "minutes", source=source))
            else:
                chosen[name] = value
        if problems:
            raise ValidationFailed(problems)
        return cls(**chosen)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary_dict(self) -> dict[str, int]:
        """The numbers an offline summary lists: the first seven always, a later one only
        when it is not its default (so that a summary written before them reads the same).

        >>> list(Policy(late_minutes=20).summary_dict())[-2:]
        ['second_approval_minutes', 'late_minutes']
        """
        values = self.as_dict()
        default = Policy().as_dict()
        return {
            k: v for i, (k, v) in enumerate(values.items()) if i < BASE_FIELDS or v != default[k]
        }


BASE_FIELDS = 7  # the policy's numbers before issue 9's
# What each of the policy's numbers means, in words for the policy page.
POLICY_MEANINGS = {
    "match_window_minutes": "a record matches the planned visit whose start is nearest its "
    "check-in, within this many minutes either side",
    "max_visit_minutes": "a record longer than this is broken, not a visit: not paid",
    "tolerance_minutes": "delivered at least planned minus this: paid as planned",
    "over_exception_minutes": "delivered more than planned plus this: paid as planned, to review",
    "rounding_minutes": "a short visit is paid to the nearest band of this many minutes",
    "short_exception_minutes": "a visit short by more than this is to review",
    "second_approval_minutes": "a decision paying more than planned plus this needs a second "
    "person's approval",
    "late_minutes": "a check-in later than the planned start plus this is a late arrival",
    "early_minutes": "a check-out earlier than the planned end minus this is an early leaving",
    "late_exception": "1: a late arrival is also to review; 0: only flagged",
    "early_exception": "1: an early leaving is also to review; 0: only flagged",
    "short_notice_paid_percent": "a visit cancelled at short notice is paid this percentage of "
    "its planned minutes",
    "frustrated_paid_percent": "a frustrated visit (the carer came, the client was not there) is "
    "paid this percentage of its planned minutes",
    "minimum_charge_minutes": "a visit paid any minutes is paid at least this many",
    "evening_from_minute": "the evening rate starts at this minute of the day (1200 = 20:00)",
    "evening_to_minute": "the evening rate ends at this minute of the day (420 = 07:00)",
}
MINUTES = "a whole number of minutes from 0 to 100000"
_ONE_OR_ZERO = "0 (a flag only) or 1 (also an exception)"
_PERCENT = "a whole percentage from 0 to 100"
_MINUTE_OF_DAY = "a minute of the day from 0 (midnight) to 1439 (23:59)"
# Bounds other than 0..100000 minutes: (least, most, what the number must be).
BOUNDS = {
    "rounding_minutes": (1, 100_000, "a whole number of minutes from 1 to 100000"),
    "max_visit_minutes": (1, 100_000, "a whole number of minutes from 1 to 100000"),
    "late_exception": (0, 1, _ONE_OR_ZERO),
    "early_exception": (0, 1, _ONE_OR_ZERO),
    "short_notice_paid_percent": (0, 100, _PERCENT),
    "frustrated_paid_percent": (0, 100, _PERCENT),
    "evening_from_minute": (0, 1439, _MINUTE_OF_DAY),
    "evening_to_minute": (0, 1439, _MINUTE_OF_DAY),
}


def rate_millionths(text: str) -> int | None:
    """A rate per hour (a decimal string, at most six decimals, below ``MAX_RATE``) as
    integer millionths; None when it is not one. The one parser of rates held in a book.

    >>> rate_millionths("18.5"), rate_millionths("0.000001"), rate_millionths("100000")
    (18500000, 1, None)
    """
    found = _RATE_TEXT.fullmatch(text.strip())
    if found is None:
        return None
    value = int(found.group(1)) * RATE_SCALE + int((found.group(2) or "").ljust(6, "0"))
    return value if value < MAX_RATE * RATE_SCALE else None


def amount_minor(minutes: Any, rate: Any, unit: Any) -> Any:
    """Half-up of minutes / 60 x rate (millionths per hour), in minor units (``unit`` of a
    major one), in integers only: for numbers and for Polars columns alike. Bounded by
    ``MAX_RATE`` and ``MAX_PLANNED_MINUTES``, it stays inside 64 bits.

    >>> amount_minor(15, 18_500_000, 100), amount_minor(45, 21_100_000, 100)
    (463, 1583)
    """
    den = 60 * RATE_SCALE
    return (2 * minutes * rate * unit + den) // (2 * den)


def band_minutes(delivered_minutes: int, rounding_minutes: int) -> int:
    """Delivered minutes to the nearest band; a half band rounds up (the engine's rule)."""
    return (2 * delivered_minutes + rounding_minutes) // (2 * rounding_minutes) * rounding_minutes


def checked_period(first: date, last: date, max_days: int) -> None:
    """A period of 1 to ``max_days`` days, ``first`` to ``last`` inclusive, inside the dates
    remit takes (1900-01-01 to 2100-12-31); ValidationFailed otherwise.

    >>> checked_period(date(2026, 11, 2), date(2026, 11, 8), 63)
    >>> checked_period(date(9999, 12, 25), date(9999, 12, 31), 63)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    remit.errors.ValidationFailed: from: 9999-12-25 is outside 1900-01-01 to 2100-12-31 ...
    """
    problems = [p for p in (date_problem(first, "from"), date_problem(last, "to")) if p]
    if not problems and (last < first or (last - first).days >= max_days):
        problems.append(Problem("period", f"a period of 1 to {max_days} days", "period"))
    if problems:
        raise ValidationFailed(problems)


def empty_cells(
    rows: list[tuple[int, dict[str, str]]], name: str, columns: tuple[str, ...]
) -> list[Problem]:
    """A "required" problem for every empty cell of ``columns`` in ``csv_records``' rows.

    >>> [(p.line, p.field) for p in empty_cells([(2, {"a": "", "b": "1"})], "x.csv", ("a", "b"))]
    [(2, 'a')]
    """
    return [
        Problem(c, "required", "required", line, name)
        for line, row in rows
        for c in columns
        if not row.get(c)
    ]


def csv_records(
    content: bytes, name: str, columns: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    r"""A book file's records (packages, rate cards): UTF-8 CSV whose header names every
    column of ``columns`` (any case, spaces around ignored), each record with the line it
    starts on and its values stripped; a file that is not such CSV, or holds no record, is
    refused with the line and field.

    >>> csv_records(b"a,B\n1, 2\n", "x.csv", ("a", "b"))
    [(2, {'a': '1', 'b': '2'})]
    >>> csv_records(b"a\n1\n", "x.csv", ("a", "b"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    remit.errors.ValidationFailed: x.csv: line 1: b: missing column ...
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            [Problem("file", "not UTF-8 text", "encoding", source=name)]
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or ()]
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValidationFailed(
            [
                Problem(
                    c,
                    f"missing column (the header must name: {', '.join(columns)})",
                    "missing_column",
                    1,
                    name,
                )
                for c in missing
            ]
        )
    records, line = [], 2  # where the record starts (a quoted line break would span lines)
    for raw in reader:
        records.append(
            (line, {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k})
        )
        line = reader.line_num + 1
    if not records:
        raise ValidationFailed(
            [Problem("file", "no rows under the header: nothing to import", "empty", source=name)]
        )
    return records
