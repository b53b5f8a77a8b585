"""Child care in the provider portal (issue 11, point 3): a provider's own certificates,
its attendance records with how each child-month was calculated and paid, what its file
still lacks, and a month's record entered day by day or sent as CSV or XLSX.

The provider is always the signed-in user's party, never one named by the request: a
certificate of another provider answers as a missing one (NotFound), so that a guessed
reference tells nothing. A record entered here goes through the same import as the
agency's files (``month.import_attendance``), restricted to the provider's certificates;
its received date is the day it arrives.
"""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, select

from remit.access.model import Actor, Permission, require
from remit.childcare import compliance, exchange, month
from remit.childcare.model import WEEKDAYS
from remit.childcare.store import (
    childcare_certificate_versions,
    childcare_certificates,
    childcare_children,
    childcare_payments,
    childcare_record_days,
    childcare_records,
)
from remit.errors import NotFound, Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties

MONTHS_SHOWN = 6


def _provider(actor: Actor, book_id: int) -> int:
    require(actor, book_id, Permission.PORTAL_PROVIDER)
    party_id = actor.party_in(book_id)
    if party_id is None:
        raise NotFound("no provider of yours in this book")
    return party_id


def _first(day: date) -> date:
    return date(day.year, day.month, 1)


def _last(first: date) -> date:
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


@dataclass(frozen=True, slots=True)
class PortalDay:
    """A day of the entry form: its certified hours and what the book holds of it (the
    book keeps the minutes attended, not the times)."""

    day: date
    certified_hours: Decimal
    kept_minutes: int = 0
    absence: str = ""

    @property
    def kept_text(self) -> str:
        if self.absence:
            return self.absence
        if self.kept_minutes:
            return f"{self.kept_minutes // 60}h{self.kept_minutes % 60:02d}"
        return ""


def overview(conn: Connection, actor: Actor, book_id: int) -> dict[str, Any]:
    """The provider's certificates in care this month or last, its recent child-months
    as calculated (and whether posted for payment), and its file's missing items."""
    party_id = _provider(actor, book_id)
    today = ledger.book_today(conn, book_id)
    this_month = _first(today)
    last_month = _first(this_month - timedelta(days=1))
    ce, cv, ch = (
        childcare_certificates.c,
        childcare_certificate_versions.c,
        childcare_children.c,
    )
    certs: dict[str, dict[str, Any]] = {}
    for r in conn.execute(
        select(ce.id, ce.certificate_ref, ch.child_ref, ch.name, cv.start_date, cv.end_date)
        .join(childcare_children, ch.id == ce.child_id)
        .join(childcare_certificate_versions, cv.certificate_id == ce.id)
        .where(
            and_(
                ce.book_id == book_id,
                ce.provider_party_id == party_id,
                cv.start_date <= _last(this_month),
                cv.end_date >= last_month,
            )
        )
        .order_by(ce.certificate_ref, cv.version_from)
    ):
        certs[r.certificate_ref] = {
            "certificate_ref": r.certificate_ref,
            "child_ref": r.child_ref,
            "child_name": r.name,
            "start_date": r.start_date,
            "end_date": r.end_date,
        }
    ref = parties.party_names(conn, book_id, [party_id])[party_id][0]
    cp = childcare_payments.c
    since = this_month
    for _ in range(MONTHS_SHOWN - 1):
        since = _first(since - timedelta(days=1))
    rows = [
        {
            "month": r.month,
            "certificate_ref": r.certificate_ref,
            "status": r.status,
            "reasons": r.reasons,
            "net_minor": int(r.net_minor),
            "due_by": r.due_by,
            "posted": r.entry_id is not None,
        }
        for r in conn.execute(
            select(childcare_payments)
            .where(and_(cp.book_id == book_id, cp.provider_ref == ref, cp.month >= since))
            .order_by(cp.month.desc(), cp.certificate_ref, cp.version_key)
        )
    ]
    cr = childcare_records.c
    received = {
        (r.certificate_ref, r.month): r.received
        for r in conn.execute(
            select(ce.certificate_ref, cr.month, cr.received)
            .join(childcare_certificates, ce.id == cr.certificate_id)
            .where(
                and_(
                    cr.book_id == book_id,
                    ce.provider_party_id == party_id,
                    cr.month >= since,
                )
            )
        )
    }
    files = compliance.month_files(conn, book_id, this_month)
    status = files.get(party_id)
    return {
        "today": today,
        "months": (last_month, this_month),
        "certificates": list(certs.values()),
        "rows": rows,
        "received": received,
        # A posted child-month is paid or on its way: its record cannot come again.
        "posted": {(r["certificate_ref"], r["month"]) for r in rows if r["posted"]},
        "missing": status.missing if status is not None else (),
        "currency": str(ledger.get_book(conn, book_id)["base_currency"]),
    }


def _mine(conn: Connection, book_id: int, party_id: int, certificate_ref: str) -> int:
    ce = childcare_certificates.c
    found = conn.execute(
        select(ce.id).where(
            and_(
                ce.book_id == book_id,
                ce.certificate_ref == certificate_ref,
                ce.provider_party_id == party_id,
            )
        )
    ).first()
    if found is None:
        raise NotFound(f"no certificate {certificate_ref} of yours")
    return int(found.id)


def record_form(
    conn: Connection, actor: Actor, book_id: int, certificate_ref: str, first: date
) -> dict[str, Any]:
    """A month's days of one of the provider's certificates: each certified day with its
    hours (from the version in force that day), and what the book holds of it already."""
    party_id = _provider(actor, book_id)
    certificate_id = _mine(conn, book_id, party_id, certificate_ref)
    first = _first(first)
    last = _last(first)
    cv = childcare_certificate_versions.c
    versions = conn.execute(
        select(cv.version_from, cv.start_date, cv.end_date, cv.schedule)
        .where(cv.certificate_id == certificate_id)
        .order_by(cv.version_from)
    ).all()
    cr, cd = childcare_records.c, childcare_record_days.c
    record = conn.execute(
        select(childcare_records).where(
            and_(cr.certificate_id == certificate_id, cr.month == first)
        )
    ).first()
    kept: dict[date, tuple[int, str]] = {}
    if record is not None:
        for d in conn.execute(
            select(cd.day, cd.minutes, cd.absence).where(cd.record_id == record.id)
        ):
            minutes, absence = kept.get(d.day, (0, ""))
            kept[d.day] = (minutes + int(d.minutes), d.absence or absence)
    days = []
    day = first
    while day <= last:
        ruling = [v for v in versions if v.version_from <= day]
        hours = Decimal(0)
        if ruling and ruling[-1].start_date <= day <= ruling[-1].end_date:
            found = exchange.schedule(ruling[-1].schedule)
            hours = found[day.weekday()] if found else Decimal(0)
        minutes, absence = kept.get(day, (0, ""))
        if hours or day in kept:
            days.append(PortalDay(day, hours, minutes, absence))
        day += timedelta(days=1)
    return {
        "certificate_ref": certificate_ref,
        "month": first,
        "days": days,
        "weekdays": WEEKDAYS,
        "parent_signed": record.parent_signed if record is not None else None,
        "provider_signed": record.provider_signed if record is not None else None,
        "received": record.received if record is not None else None,
    }


@dataclass(frozen=True, slots=True)
class EnteredDay:
    day: date
    time_in: str
    time_out: str
    absence: str  # "" | excused | closure


def send_record(
    conn: Connection,
    actor: Actor,
    book_id: int,
    certificate_ref: str,
    first: date,
    days: list[EnteredDay],
    parent_signed: str,
    provider_signed: str,
) -> month.AttendanceSummary:
    """A month's record entered in the portal, received today: it goes through the
    agency's import (every problem named by its day), replacing an earlier record of the
    month until the month is posted."""
    party_id = _provider(actor, book_id)
    _mine(conn, book_id, party_id, certificate_ref)
    today = ledger.book_today(conn, book_id)
    first = _first(first)
    entered = [d for d in days if d.time_in or d.time_out or d.absence]
    if not entered:
        raise ValidationFailed([Problem("days", "enter at least one day's times", "required")])
    lines = {}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(exchange.ATTENDANCE)
    for n, d in enumerate(entered, start=2):
        if _first(d.day) != first:
            raise ValidationFailed([Problem("days", f"{d.day} is not in {first:%B %Y}", "month")])
        lines[n] = d.day
        writer.writerow(
            [
                certificate_ref,
                d.day.isoformat(),
                "" if d.absence else d.time_in,
                "" if d.absence else d.time_out,
                d.absence,
                parent_signed,
                provider_signed,
                today.isoformat(),
            ]
        )
    name = f"portal-{certificate_ref}-{first:%Y-%m}.csv"
    try:
        return month.import_attendance(
            conn, actor, book_id, out.getvalue().encode(), name, provider_party_id=party_id
        )
    except ValidationFailed as exc:
        raise ValidationFailed(
            [
                Problem(
                    p.field,
                    f"{lines[p.line].isoformat()}: {p.message}" if p.line in lines else p.message,
                    p.check,
                )
                for p in exc.problems
            ]
        ) from None
