"""The provider file (issue 11, point 1): which documents a provider must have on file to
be paid, and whether its file is complete over a span of days (pure).

The rules (../shared/reference/domain-rules.md section 1.7):

- a licensed centre or family child care home: a W-9, its rate sheet (the rate it charges
  unsubsidised families), the signed statement that subsidised families are not charged
  more, and its licence (number and status: only an ``active`` licence counts);
- a licence-exempt carer: a W-9, the Health & Safety self-certification, and TrustLine
  registration (``cleared``, not merely ``applied``) unless it is the children's
  grandparent, aunt or uncle; it needs no rate sheet;
- a closure policy is not required, but closure days are paid only with one in force.

A document counts on the days its records say it is in force (from ``valid_from`` to
``expires_on``, inclusive) with a good status. A renewal or a suspension is a new record:
the latest record of a kind from a date rules from that date. A file is complete over a
span when every required kind is in force on every day of it; the span of a month is the
days the provider's certificates run in it.

A provisional provider (a licence-exempt carer for an immediate need, whose TrustLine
application and fingerprints are in) may look after the children for at most 30 calendar
days pending registration; it is paid only once registered, and then from its first
provisional day if the clearance came within those 30 days. Nothing is paid for care in a
provisional period that ended without clearance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

PROVISIONAL_DAYS = 30
REMIND_DAYS = 60  # a document expiring within this many days is reminded
RELATIVES = ("grandparent", "aunt", "uncle")
RELATIONSHIPS = (*RELATIVES, "other")


class DocumentKind(StrEnum):
    W9 = "w9"
    RATE_SHEET = "rate_sheet"
    RATE_STATEMENT = "rate_statement"
    LICENCE = "licence"
    TRUSTLINE = "trustline"
    HEALTH_SAFETY = "health_safety"
    CLOSURE_POLICY = "closure_policy"


LABELS = {
    DocumentKind.W9: "W-9",
    DocumentKind.RATE_SHEET: "rate sheet",
    DocumentKind.RATE_STATEMENT: "signed rate statement",
    DocumentKind.LICENCE: "licence",
    DocumentKind.TRUSTLINE: "TrustLine registration",
    DocumentKind.HEALTH_SAFETY: "Health & Safety self-certification",
    DocumentKind.CLOSURE_POLICY: "closure policy",
}

# The statuses a record of each kind may have; the first is the one that counts.
STATUSES: dict[DocumentKind, tuple[str, ...]] = {
    DocumentKind.LICENCE: ("active", "suspended", "revoked"),
    DocumentKind.TRUSTLINE: ("cleared", "applied", "denied"),
}
RECEIVED = ("received", "withdrawn")


def statuses(kind: DocumentKind) -> tuple[str, ...]:
    return STATUSES.get(kind, RECEIVED)


def good_status(kind: DocumentKind) -> str:
    return statuses(kind)[0]


def required(provider_type: str, relationship: str | None) -> tuple[DocumentKind, ...]:
    """The kinds a provider's file must hold to be paid."""
    if provider_type == "exempt":
        kinds = [DocumentKind.W9, DocumentKind.HEALTH_SAFETY]
        if relationship not in RELATIVES:
            kinds.append(DocumentKind.TRUSTLINE)
        return tuple(kinds)
    return (
        DocumentKind.W9,
        DocumentKind.RATE_SHEET,
        DocumentKind.RATE_STATEMENT,
        DocumentKind.LICENCE,
    )


@dataclass(frozen=True, slots=True)
class FileDocument:
    """One record of a provider's file."""

    record_id: int
    kind: DocumentKind
    status: str
    valid_from: date
    expires_on: date | None
    reference: str = ""
    unsubsidised_rate_minor: int | None = None


@dataclass(frozen=True, slots=True)
class FileStatus:
    complete: bool
    missing: tuple[str, ...]  # what keeps it from being complete, in words
    closure_policy: bool  # a closure policy in force over the whole span
    provisional_until: date | None  # the last provisional day, when provisional


def _intervals(
    records: Sequence[FileDocument], kind: DocumentKind, provisional_from: date | None
) -> list[tuple[date, date, bool]]:
    """The days each record rules (from its date until the next record's), each with
    whether the kind counts on them. Records of one date: the latest recorded rules."""
    ordered = sorted(
        (r for r in records if r.kind == kind), key=lambda r: (r.valid_from, r.record_id)
    )
    out: list[tuple[date, date, bool]] = []
    for i, r in enumerate(ordered):
        later = [o.valid_from for o in ordered[i + 1 :] if o.valid_from > r.valid_from]
        if any(o.valid_from == r.valid_from for o in ordered[i + 1 :]):
            continue  # a later record of the same date rules instead
        end = min(later) - timedelta(days=1) if later else date.max
        if r.expires_on is not None:
            end = min(end, r.expires_on)
        start = r.valid_from
        good = r.status == good_status(kind)
        if (
            good
            and kind is DocumentKind.TRUSTLINE
            and provisional_from is not None
            and provisional_from <= start <= provisional_last(provisional_from)
        ):
            start = provisional_from  # cleared within the provisional days: paid from them
        if start <= end:
            out.append((start, end, good))
    return out


def provisional_last(provisional_from: date) -> date:
    return provisional_from + timedelta(days=PROVISIONAL_DAYS - 1)


def _gap(intervals: Iterable[tuple[date, date, bool]], start: date, end: date) -> date | None:
    """The first day of [start, end] on which the kind does not count, or None."""
    day = start
    for a, b, good in sorted(intervals):
        if b < day or not good:
            continue
        if a > day:
            break
        day = b + timedelta(days=1) if b < date.max else date.max
        if day > end:
            return None
    return day if day <= end else None


def _why(
    kind: DocumentKind,
    records: Sequence[FileDocument],
    gap: date,
    provisional_from: date | None,
) -> str:
    label = LABELS[kind]
    mine = [r for r in records if r.kind == kind]
    if not mine:
        return f"{label} not on file"
    ruling = [r for r in mine if r.valid_from <= gap]
    if not ruling:
        first = min(r.valid_from for r in mine)
        return f"{label} in force only from {first.isoformat()}"
    last = max(ruling, key=lambda r: (r.valid_from, r.record_id))
    if last.status != good_status(kind):
        if kind is DocumentKind.TRUSTLINE and last.status == "applied" and provisional_from:
            return _pending(label, mine, gap, provisional_from)
        return f"{label} {last.status} from {last.valid_from.isoformat()}"
    if last.expires_on is not None and last.expires_on < gap:
        return f"{label} expired {last.expires_on.isoformat()}"
    return f"{label} not in force on {gap.isoformat()}"


def _pending(label: str, mine: Sequence[FileDocument], gap: date, provisional_from: date) -> str:
    until = provisional_last(provisional_from)
    late = any(r.status == "cleared" and r.valid_from > until for r in mine)
    if gap <= until and not late:
        return f"{label} pending: provisional until {until.isoformat()}, paid once cleared"
    return f"{label} not cleared within the provisional days (ended {until.isoformat()})"


def file_status(
    provider_type: str,
    relationship: str | None,
    provisional_from: date | None,
    records: Sequence[FileDocument],
    start: date,
    end: date,
) -> FileStatus:
    """Whether the file is complete on every day from ``start`` to ``end``."""
    missing: list[str] = []
    for kind in required(provider_type, relationship):
        gap = _gap(_intervals(records, kind, provisional_from), start, end)
        if gap is not None:
            missing.append(_why(kind, records, gap, provisional_from))
    closure = (
        provider_type != "exempt"
        and _gap(_intervals(records, DocumentKind.CLOSURE_POLICY, None), start, end) is None
    )
    provisional = None
    if (
        provider_type == "exempt"
        and provisional_from is not None
        and DocumentKind.TRUSTLINE in required(provider_type, relationship)
        and _gap(_intervals(records, DocumentKind.TRUSTLINE, provisional_from), start, start)
        is not None
        and start <= provisional_last(provisional_from)
    ):
        provisional = provisional_last(provisional_from)
    return FileStatus(not missing, tuple(missing), closure, provisional)


def expiring(
    records: Sequence[FileDocument], today: date, within: int = REMIND_DAYS
) -> list[FileDocument]:
    """The records in force today that expire within ``within`` days with nothing recorded
    to follow them (a renewal from a later date)."""
    horizon = today + timedelta(days=within)
    out = []
    for r in records:
        if r.expires_on is None or not (today <= r.expires_on <= horizon):
            continue
        if r.status != good_status(r.kind) or r.valid_from > today:
            continue
        followed = any(
            o.kind == r.kind and o.record_id != r.record_id and r.valid_from < o.valid_from
            for o in records
        )
        if not followed:
            out.append(r)
    return sorted(out, key=lambda r: (r.expires_on or date.max, r.kind))
