"""A month of child care in a book: the providers' facts, the state's ceilings and the
policy, the attendance records received, the calculation, and the payable child-months
posted as open items of their providers.

The calculation is the offline command's engine (``childcare.engine``) on inputs read from
the book: every certificate of the book in care during the month (with all its versions),
the records of the month, the book's ceilings and providers, the families and the policy in
force on the month's first day. So a month calculated in the book gives the rows
``remit childcare calculate`` gives for the same files (a test holds them equal).

Nothing is paid twice. A calculation replaces the month's rows that are not posted; a
posted row is kept for good, and a later calculation of the same child-month that differs
from it is counted (``MonthSummary.differs``), for an adjustment, never posted again. A
record of a child-month already posted is refused at import. Each payable row is posted
once, as its own entry (idempotent by the child-month's key): child care expense debited,
the provider's payable credited, due on the row's ``due_by`` (the record's received date
plus the policy's days to pay), with the certificate and month as its document reference.
An incomplete record holds back only its own child-month.
"""

from __future__ import annotations

import calendar
import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

import polars as pl
from sqlalchemy import Connection, Integer, and_, cast, delete, func, insert, select, update

from remit import audit, bulk
from remit.access.model import Actor, Permission, require
from remit.childcare import compliance, engine, exchange, fastread
from remit.childcare.calculate import Inputs
from remit.childcare.model import (
    Absence,
    AgeBand,
    Attendance,
    Ceiling,
    CertificateVersion,
    Facility,
    Family,
    Policy,
    Provider,
    ProviderType,
    RateCategory,
    TimeBasis,
)
from remit.childcare.store import (
    childcare_ceilings,
    childcare_certificate_versions,
    childcare_certificates,
    childcare_children,
    childcare_families,
    childcare_payments,
    childcare_policies,
    childcare_providers,
    childcare_record_days,
    childcare_records,
)
from remit.db import is_postgres
from remit.documents import service as documents
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.errors import Forbidden, Problem, ValidationFailed
from remit.formats import sheets
from remit.ledger import items as open_items
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.parties.model import PartyRole
from remit.text import text_problem

EXPENSE_ACCOUNT = "5300"  # child care subsidies (the demo chart); a book may name another
PAYABLE_ACCOUNT = "2000"  # the provider payables control account
POLICY_MAX = 4000
POST_BATCH = 20_000


@dataclass(frozen=True, slots=True)
class AttendanceSummary:
    records_new: int
    records_replaced: int
    days: int
    records_unchanged: int = 0  # the same record sent again: nothing written


@dataclass(frozen=True, slots=True)
class MonthSummary:
    """What a calculation found: rows by status, the payable net, the rows kept because
    they are posted, and how many of those the new calculation would change."""

    month: date
    payable: int
    incomplete: int
    net_minor: int
    posted_kept: int
    differs: int


@dataclass(frozen=True, slots=True)
class PostSummary:
    posted: int
    net_minor: int


def _last(first: date) -> date:
    return date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])


def _first(month: date) -> date:
    return date(month.year, month.month, 1)


def _raise(problems: Sequence[Problem]) -> None:
    if problems:
        raise ValidationFailed(list(problems))


# ---------------------------------------------------------------- the book's facts


FLAGS_UNREAD = (
    "providers.csv's file_complete and closure_policy columns are not read in a book: each "
    "provider's file is judged from its records (documents.csv or the provider's page)"
)


class ProvidersImported(NamedTuple):
    written: int  # new or changed
    same: int
    flags_unread: bool  # the file carried file_complete / closure_policy, not read in a book


def import_providers(
    conn: Connection, actor: Actor, book_id: int, content: bytes, name: str = "providers.csv"
) -> ProvidersImported:
    """The providers' types, counties and (licence-exempt carers) relationship to the
    children (providers.csv); every provider must be a provider party of the book. Whether
    a file is complete, and whether it has a closure policy, come from its documents
    (``childcare.compliance``), never from this file."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    found = exchange.book_provider_records(content, name)
    ids = parties.party_ids_for(conn, book_id, [p.provider_id for _l, p in found])
    roles = parties.party_roles_of(conn, book_id, set(ids.values())) if ids else {}
    providers = roles.get(PartyRole.PROVIDER.value, set())
    problems = [
        Problem(
            "provider_id",
            f"no provider {p.provider_id} in this book",
            "unknown_provider",
            line,
            name,
        )
        for line, p in found
        if ids.get(p.provider_id) not in providers
    ]
    _raise(problems)
    cp = childcare_providers.c
    before = {
        int(r.party_id): r
        for r in conn.execute(select(childcare_providers).where(cp.book_id == book_id))
    }
    now = audit.utc_now_text()
    written, same = 0, 0
    events: list[tuple[str, str, object, Any, Any, int | None]] = []
    for _line, p in found:
        party_id = ids[p.provider_id]
        values = {
            "provider_type": str(p.provider_type),
            "county": p.county,
            "relationship": p.relationship,
        }
        old = before.get(party_id)
        if old is not None and {k: getattr(old, k) for k in values} == values:
            same += 1
            continue
        if old is None:
            conn.execute(
                insert(childcare_providers).values(
                    book_id=book_id,
                    party_id=party_id,
                    updated_by=actor.username,
                    updated_at=now,
                    **values,
                )
            )
        else:
            conn.execute(
                update(childcare_providers)
                .where(and_(cp.book_id == book_id, cp.party_id == party_id))
                .values(updated_by=actor.username, updated_at=now, **values)
            )
        written += 1
        events.append(("childcare.provider.set", "party", party_id, None, values, book_id))
    if events:
        audit.record_many(conn, actor, events)
    # A provider with no complete file yet has its payments held until it has one.
    compliance.sync_holds(conn, actor, book_id, {ids[p.provider_id] for _l, p in found})
    return ProvidersImported(written, same, any(p.flags_given for _l, p in found))


def import_ceilings(
    conn: Connection, actor: Actor, book_id: int, content: bytes, name: str = "ceilings.csv"
) -> tuple[int, int]:
    """The state's ceilings (ceilings.csv); a row already in the book with another amount
    is refused (a new ceiling is a row from a new date). Returns (new, unchanged)."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    found = exchange.ceiling_records(content, name)
    cc = childcare_ceilings.c
    existing = {
        (r.effective_from, r.county, r.facility, r.age_band, r.rate_category, r.time_basis): int(
            r.amount_minor
        )
        for r in conn.execute(select(childcare_ceilings).where(cc.book_id == book_id))
    }
    problems: list[Problem] = []
    new: list[dict[str, Any]] = []
    same = 0
    now = audit.utc_now_text()
    for line, c in found:
        key = (
            c.effective_from,
            c.county,
            str(c.facility),
            str(c.age_band),
            str(c.rate_category),
            str(c.time_basis),
        )
        there = existing.get(key)
        if there == c.amount_minor:
            same += 1
        elif there is not None:
            message = (
                "the book has this ceiling from this date with another amount: a new ceiling "
                "is a row from a new date"
            )
            problems.append(Problem("amount", message, "ceiling_differs", line, name))
        else:
            new.append(
                dict(
                    zip(
                        (
                            "effective_from",
                            "county",
                            "facility",
                            "age_band",
                            "rate_category",
                            "time_basis",
                        ),
                        key,
                        strict=True,
                    )
                )
                | {
                    "book_id": book_id,
                    "amount_minor": c.amount_minor,
                    "created_by": actor.username,
                    "created_at": now,
                }
            )
    _raise(problems)
    if new:
        conn.execute(insert(childcare_ceilings), new)
        audit.record(
            conn,
            actor,
            "childcare.ceilings.imported",
            "book",
            book_id,
            None,
            {"rows": len(new), "file": name},
            book_id,
        )
    return len(new), same


def set_policy(
    conn: Connection,
    actor: Actor,
    book_id: int,
    effective_from: date,
    content: bytes,
    note: str = "",
) -> None:
    """The calculation's parameters (policy.toml) from a date (a version of the same date
    replaces it)."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    problems: list[Problem] = []
    if len(content) > POLICY_MAX:
        problems.append(Problem("policy", f"at most {POLICY_MAX} bytes", "length"))
    wrong = text_problem(note, "note", max_chars=300)
    if wrong is not None:
        problems.append(wrong)
    _raise(problems)
    exchange.read_policy(content)  # every problem, named
    cp = childcare_policies.c
    conn.execute(
        delete(childcare_policies).where(
            and_(cp.book_id == book_id, cp.effective_from == effective_from)
        )
    )
    text = content.decode("utf-8")
    conn.execute(
        insert(childcare_policies).values(
            book_id=book_id,
            effective_from=effective_from,
            policy=text,
            note=note,
            set_by=actor.username,
            set_at=audit.utc_now_text(),
        )
    )
    audit.record(
        conn,
        actor,
        "childcare.policy.set",
        "book",
        book_id,
        None,
        {"effective_from": effective_from.isoformat(), "policy": text, "note": note},
        book_id,
    )


def policy_on(conn: Connection, book_id: int, day: date) -> Policy:
    cp = childcare_policies.c
    row = conn.execute(
        select(cp.policy)
        .where(and_(cp.book_id == book_id, cp.effective_from <= day))
        .order_by(cp.effective_from.desc())
        .limit(1)
    ).first()
    return Policy() if row is None else exchange.read_policy(row.policy.encode())


# ---------------------------------------------------------------- attendance


def import_attendance(
    conn: Connection,
    actor: Actor,
    book_id: int,
    content: bytes,
    name: str = "attendance.csv",
    provider_party_id: int | None = None,
) -> AttendanceSummary:
    """Attendance records (attendance.csv, or the same columns as the first sheet of an
    XLSX workbook), all or nothing: each certificate-month of the file replaces the book's
    record of it, unless that child-month is posted. The file is kept as received.

    The file is read straight into a frame (``childcare.fastread``) when that reader takes
    it and every certificate-month may be written; otherwise (a problem to name, with its
    line) value by value by the careful reader. A provider sending its records through the
    portal (``provider_party_id``) may send only its own certificates' records."""
    if provider_party_id is None:
        require(actor, book_id, Permission.CHILDCARE_EDIT)
    else:
        require(actor, book_id, Permission.PORTAL_PROVIDER)
        if actor.party_in(book_id) != provider_party_id:
            raise Forbidden("a provider sends only its own attendance records")
    received = content
    if sheets.is_xlsx(name, content):
        content = sheets.sheet_as_csv(content, name)
    certs = _certificate_ids(conn, book_id, provider_party_id)
    today = ledger.book_today(conn, book_id)
    frame = fastread.attendance(content)
    if frame is not None:
        frame = frame.with_columns(
            pl.col("cert").replace_strict(certs, default=None, return_dtype=pl.Int64).alias("cid"),
            pl.col("day").dt.truncate("1mo").alias("month"),
        )
        months = frame["month"].unique().to_list()
        posted = _posted_keys(conn, book_id, months)
        dated = ("day", *_SIGNED)
        wrong = (
            frame["cid"].null_count() > 0
            or any(frame[c].max() is not None and frame[c].max() > today for c in dated)  # type: ignore[operator]
            or any((c, m) in posted for c, m in frame.select("cert", "month").unique().iter_rows())
        )
        if wrong:
            frame = None  # the careful reader names each problem with its line
    if frame is None:
        mine = " of yours" if provider_party_id is not None else " in this book"
        frame = _careful_attendance(conn, book_id, content, name, certs, today, mine)
    return _write_attendance(conn, actor, book_id, frame, received, name)


_SIGNED = ("parent_signed", "provider_signed", "received")


def _certificate_ids(
    conn: Connection, book_id: int, provider_party_id: int | None = None
) -> dict[str, int]:
    ce = childcare_certificates.c
    query = select(ce.certificate_ref, ce.id).where(ce.book_id == book_id)
    if provider_party_id is not None:
        query = query.where(ce.provider_party_id == provider_party_id)
    return {r.certificate_ref: int(r.id) for r in conn.execute(query)}


def _careful_attendance(
    conn: Connection,
    book_id: int,
    content: bytes,
    name: str,
    certs: Mapping[str, int],
    today: date,
    mine: str = " in this book",
) -> pl.DataFrame:
    """The file read value by value: every problem with its line, or the rows as a frame.
    A day, signature or received date after today is refused: a month is paid once it is
    over and its record is in."""
    days = exchange.attendance_records(content, name)
    problems: list[Problem] = []
    first_line: dict[tuple[str, date], int] = {}
    for line, a in days:
        for column, value in (
            ("date", a.day),
            ("parent_signed", a.parent_signed),
            ("provider_signed", a.provider_signed),
            ("received", a.received),
        ):
            if value is not None and value > today:
                message = f"{value} is after today ({today}): a record is of days gone by"
                problems.append(Problem(column, message, "future", line, name))
        if a.certificate_id not in certs:
            message = f"no certificate {a.certificate_id}{mine}"
            problems.append(Problem("certificate_id", message, "unknown_certificate", line, name))
            continue
        first_line.setdefault((a.certificate_id, _first(a.day)), line)
    posted = _posted_keys(conn, book_id, sorted({m for _c, m in first_line}))
    for key, line in first_line.items():
        if key in posted:
            message = (
                f"{key[0]}'s record of {key[1]:%B %Y} is posted for payment: a correction is "
                "an adjustment, not a new record"
            )
            problems.append(Problem("certificate_id", message, "posted", line, name))
    _raise(problems)
    return pl.DataFrame(
        [
            (
                a.certificate_id,
                a.day,
                a.minutes,
                a.absence.value,
                a.parent_signed,
                a.provider_signed,
                a.received,
                certs[a.certificate_id],
                _first(a.day),
            )
            for _line, a in days
        ],
        schema={
            "cert": pl.Utf8,
            "day": pl.Date,
            "minutes": pl.Int64,
            "absence": pl.Utf8,
            "parent_signed": pl.Date,
            "provider_signed": pl.Date,
            "received": pl.Date,
            "cid": pl.Int64,
            "month": pl.Date,
        },
        orient="row",
    )


def _write_attendance(
    conn: Connection,
    actor: Actor,
    book_id: int,
    frame: pl.DataFrame,
    content: bytes,
    name: str,
) -> AttendanceSummary:
    """The records and their days of a checked frame (``cid``, ``month`` and the days), in
    bulk, replacing the book's records of the same certificate-months."""
    # The file is kept as received up to the documents' limit; a bigger one (a whole
    # agency's month) is named by its digest in the audit event.
    document_id = (
        documents.store_file(conn, book_id, name[:200], content)
        if len(content) <= MAX_UPLOAD_BYTES
        else None
    )
    cr, cd = childcare_records.c, childcare_record_days.c
    months = frame["month"].unique().sort().to_list()
    keys = frame.select("cid", "month").unique()
    existing = bulk.read_frame(
        conn,
        select(cr.id, cr.certificate_id, cr.month).where(
            and_(cr.book_id == book_id, cr.month.in_(months))
        ),
        {"id": pl.Int64, "cid": pl.Int64, "month": pl.Date},
    ).join(keys, on=["cid", "month"], how="semi")
    same = _unchanged(conn, frame, existing)
    if not same.is_empty():  # the same record sent again is neither replaced nor new
        frame = frame.join(same, on=["cid", "month"], how="anti")
        existing = existing.join(same, on=["cid", "month"], how="anti")
    replaced = existing["id"].to_list()
    for start in range(0, len(replaced), 10_000):
        chunk = replaced[start : start + 10_000]
        conn.execute(delete(childcare_record_days).where(bulk.among(conn, cd.record_id, chunk)))
        conn.execute(delete(childcare_records).where(bulk.among(conn, cr.id, chunk)))
    now = audit.utc_now_text()
    records = (
        frame.group_by("cid", "month", maintain_order=True)
        .agg(
            pl.col("parent_signed").first(),
            pl.col("provider_signed").first(),
            pl.col("received").first(),
        )
        .select(
            pl.lit(book_id).alias("book_id"),
            pl.col("cid").alias("certificate_id"),
            "month",
            "parent_signed",
            "provider_signed",
            "received",
            pl.lit(name[:200]).alias("source"),
            pl.lit(document_id).alias("document_id"),
            pl.lit(actor.username).alias("created_by"),
            pl.lit(now).alias("created_at"),
        )
    )
    bulk.insert_frame(conn, childcare_records, records)
    ids = bulk.read_frame(
        conn,
        select(cr.id, cr.certificate_id, cr.month).where(
            and_(cr.book_id == book_id, cr.month.in_(months))
        ),
        {"record_id": pl.Int64, "cid": pl.Int64, "month": pl.Date},
    )
    days = (
        frame.join(ids, on=["cid", "month"], how="left")
        .with_columns(pl.int_range(1, pl.len() + 1).over("record_id").alias("seq"))
        .select("record_id", "seq", "day", "minutes", "absence")
    )
    bulk.insert_frame(conn, childcare_record_days, days)
    audit.record(
        conn,
        actor,
        "childcare.attendance.imported",
        "book",
        book_id,
        None,
        {
            "file": name,
            "sha256": hashlib.sha256(content).hexdigest(),
            "kept": document_id is not None,
            "records": records.height,
            "replaced": len(replaced),
            "unchanged": same.height,
            "days": days.height,
        },
        book_id,
    )
    return AttendanceSummary(
        records.height - len(replaced), len(replaced), days.height, same.height
    )


def _record_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """One text per certificate-month of its days (sorted) and dates, to compare records."""
    return (
        frame.with_columns(
            pl.concat_str(
                pl.col("day").cast(pl.Utf8),
                pl.col("minutes").cast(pl.Utf8),
                pl.col("absence").fill_null(""),
                separator="/",
            ).alias("row")
        )
        .group_by("cid", "month")
        .agg(
            pl.col("row").sort().str.join(";"),
            *(pl.col(c).first().cast(pl.Utf8).fill_null("") for c in _SIGNED),
        )
        .select("cid", "month", pl.concat_str("row", *_SIGNED, separator="|").alias("text"))
    )


def _unchanged(conn: Connection, frame: pl.DataFrame, existing: pl.DataFrame) -> pl.DataFrame:
    """The certificate-months (``cid``, ``month``) whose record in the book is exactly
    the incoming one: the same days, minutes, absences, signatures and received date."""
    if existing.is_empty():
        return pl.DataFrame(schema={"cid": pl.Int64, "month": pl.Date})
    cr, cd = childcare_records.c, childcare_record_days.c
    ids = existing["id"].to_list()
    held = []
    for start in range(0, len(ids), 10_000):
        chunk = ids[start : start + 10_000]
        held.append(
            bulk.read_frame(
                conn,
                select(
                    cr.certificate_id,
                    cr.month,
                    cd.day,
                    cd.minutes,
                    cd.absence,
                    cr.parent_signed,
                    cr.provider_signed,
                    cr.received,
                )
                .join(childcare_record_days, cd.record_id == cr.id)
                .where(bulk.among(conn, cr.id, chunk)),
                {
                    "cid": pl.Int64,
                    "month": pl.Date,
                    "day": pl.Date,
                    "minutes": pl.Int64,
                    "absence": pl.Utf8,
                    "parent_signed": pl.Date,
                    "provider_signed": pl.Date,
                    "received": pl.Date,
                },
            )
        )
    before = _record_keys(pl.concat(held))
    incoming = _record_keys(frame.select("cid", "month", "day", "minutes", "absence", *_SIGNED))
    return incoming.join(before, on=["cid", "month", "text"], how="inner").select("cid", "month")


def _posted_keys(conn: Connection, book_id: int, months: Sequence[date]) -> set[tuple[str, date]]:
    if not months:
        return set()
    cp = childcare_payments.c
    return {
        (r.certificate_ref, r.month)
        for r in conn.execute(
            select(cp.certificate_ref, cp.month).where(
                and_(cp.book_id == book_id, cp.month.in_(list(months)), cp.entry_id.is_not(None))
            )
        )
    }


# ---------------------------------------------------------------- the calculation


def month_inputs(conn: Connection, book_id: int, month: date) -> Inputs:
    """The engine's inputs for a month, read from the book value by value: the plain
    reading that the bulk `month_frames` (what the calculation uses) is held equal to by
    tests/test_childcare_month.py."""
    first, last = _first(month), _last(_first(month))
    ce, ch, f, cv = (
        childcare_certificates.c,
        childcare_children.c,
        childcare_families.c,
        childcare_certificate_versions.c,
    )
    cr, cd = childcare_records.c, childcare_record_days.c
    in_care = (
        select(cv.certificate_id)
        .join(childcare_certificates, ce.id == cv.certificate_id)
        .where(and_(ce.book_id == book_id, cv.start_date <= last, cv.end_date >= first))
    )
    with_record = select(cr.certificate_id).where(and_(cr.book_id == book_id, cr.month == first))
    # Earlier months of the fiscal year (from July) count towards the closure days' cap.
    year_start = date(first.year if first.month >= 7 else first.year - 1, 7, 1)
    wanted = in_care.union(with_record).subquery()
    rows = conn.execute(
        select(
            childcare_certificate_versions,
            ce.certificate_ref,
            ce.provider_party_id,
            ch.child_ref,
            ch.birth_date,
            f.family_ref,
        )
        .join(childcare_certificates, ce.id == cv.certificate_id)
        .join(childcare_children, ch.id == ce.child_id)
        .join(childcare_families, f.id == ch.family_id)
        .where(cv.certificate_id.in_(select(wanted.c.certificate_id)))
        .order_by(ce.certificate_ref, cv.version_from)
    ).all()
    provider_ids = {int(r.provider_party_id) for r in rows}
    names = parties.party_names(conn, book_id, provider_ids)
    certificates = [
        CertificateVersion(
            r.certificate_ref,
            r.version_from,
            r.child_ref,
            r.family_ref,
            names[int(r.provider_party_id)][0],
            r.birth_date,
            r.start_date,
            r.end_date,
            exchange.schedule(r.schedule) or (),
            RateCategory(r.rate_category),
            TimeBasis(r.time_basis),
            Decimal(r.evening_weekend_share),
            bool(r.exceptional_needs),
            bool(r.severely_disabled),
            int(r.provider_rate_minor),
        )
        for r in rows
    ]
    included = {c.certificate_id for c in certificates}
    attendance = [
        Attendance(
            r.certificate_ref,
            r.day,
            int(r.minutes),
            Absence(r.absence),
            r.parent_signed,
            r.provider_signed,
            r.received,
        )
        for r in conn.execute(
            select(
                cd.day,
                cd.minutes,
                cd.absence,
                cr.parent_signed,
                cr.provider_signed,
                cr.received,
                ce.certificate_ref,
            )
            .join(childcare_records, cr.id == cd.record_id)
            .join(childcare_certificates, ce.id == cr.certificate_id)
            .where(and_(cr.book_id == book_id, cr.month >= year_start, cr.month <= first))
            .order_by(ce.certificate_ref, cr.month, cd.seq)
        )
        if r.certificate_ref in included
    ]
    cc = childcare_ceilings.c
    ceilings = [
        Ceiling(
            r.effective_from,
            r.county,
            Facility(r.facility),
            AgeBand(r.age_band),
            RateCategory(r.rate_category),
            TimeBasis(r.time_basis),
            int(r.amount_minor),
        )
        for r in conn.execute(select(childcare_ceilings).where(cc.book_id == book_id))
    ]
    cp = childcare_providers.c
    provider_rows = conn.execute(select(childcare_providers).where(cp.book_id == book_id)).all()
    provider_names = parties.party_names(conn, book_id, {int(r.party_id) for r in provider_rows})
    files = compliance.month_files(conn, book_id, first)
    providers: dict[str, Provider] | None = {
        provider_names[int(r.party_id)][0]: Provider(
            provider_names[int(r.party_id)][0],
            ProviderType(r.provider_type),
            r.county,
            files[int(r.party_id)].complete,
            files[int(r.party_id)].closure_policy,
        )
        for r in provider_rows
    } or None
    families = {
        r.family_ref: Family(
            r.family_ref,
            int(r.family_size),
            int(r.monthly_income_minor),
            int(r.family_fee_minor),
            r.fee_collected_by,
        )
        for r in conn.execute(select(childcare_families).where(f.book_id == book_id))
    }
    return Inputs(
        first,
        certificates,
        attendance,
        ceilings,
        providers,
        families,
        policy_on(conn, book_id, first),
    )


def _hundredths(text: pl.Expr, places: int) -> pl.Expr:
    """Exact decimal text (``4.5``, ``0.25``) as an integer of ``places`` decimals,
    truncated past them as the engine's ``int(value * 10**places)`` does."""
    parts = text.str.split(".")
    whole = parts.list.get(0).cast(pl.Int64)
    frac = (
        pl.when(parts.list.len() > 1)
        .then(parts.list.get(1, null_on_oob=True))
        .otherwise(pl.lit(""))
        .str.pad_end(places, "0")
        .str.slice(0, places)
        .cast(pl.Int64)
    )
    combined: pl.Expr = whole * 10**places + frac
    return combined


def month_frames(
    conn: Connection, book_id: int, month: date
) -> tuple[dict[str, pl.DataFrame], Policy]:
    """The engine's frames for a month, read from the book's tables in bulk (the same
    inputs as `month_inputs`, held equal by the tests)."""
    first, last = _first(month), _last(_first(month))
    ce, ch, f, cv = (
        childcare_certificates.c,
        childcare_children.c,
        childcare_families.c,
        childcare_certificate_versions.c,
    )
    cr, cd = childcare_records.c, childcare_record_days.c
    in_care = (
        select(cv.certificate_id)
        .join(childcare_certificates, ce.id == cv.certificate_id)
        .where(and_(ce.book_id == book_id, cv.start_date <= last, cv.end_date >= first))
    )
    with_record = select(cr.certificate_id).where(and_(cr.book_id == book_id, cr.month == first))
    wanted = in_care.union(with_record).subquery()
    raw = bulk.read_frame(
        conn,
        select(
            ce.certificate_ref,
            cv.version_from,
            ch.child_ref,
            f.family_ref,
            ce.provider_party_id,
            ch.birth_date,
            cv.start_date,
            cv.end_date,
            cv.schedule,
            cv.rate_category,
            cv.time_basis,
            cv.evening_weekend_share,
            cast(cv.exceptional_needs, Integer),
            cast(cv.severely_disabled, Integer),
            cv.provider_rate_minor,
        )
        .join(childcare_certificates, ce.id == cv.certificate_id)
        .join(childcare_children, ch.id == ce.child_id)
        .join(childcare_families, f.id == ch.family_id)
        .where(cv.certificate_id.in_(select(wanted.c.certificate_id)))
        .order_by(ce.certificate_ref, cv.version_from),
        {
            "cert": pl.Utf8,
            "version_from": pl.Date,
            "child": pl.Utf8,
            "family": pl.Utf8,
            "provider_id": pl.Int64,
            "born": pl.Date,
            "start": pl.Date,
            "end": pl.Date,
            "schedule": pl.Utf8,
            "category": pl.Utf8,
            "time_basis": pl.Utf8,
            "ew_text": pl.Utf8,
            "exceptional": pl.Int64,
            "severe": pl.Int64,
            "provider_rate": pl.Int64,
        },
    )
    refs = {
        pid: ref
        for pid, (ref, _name) in parties.party_names(
            conn, book_id, set(raw["provider_id"].unique().to_list())
        ).items()
    }
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    certs = raw.select(
        "cert",
        "version_from",
        "child",
        "family",
        pl.col("provider_id").replace_strict(refs, return_dtype=pl.Utf8).alias("provider"),
        "born",
        "start",
        "end",
        *(
            _hundredths(
                pl.col("schedule").str.extract(rf"(?:^|;){day}=([0-9.]+)").fill_null("0"), 2
            ).alias(f"h{n}")
            for n, day in enumerate(days)
        ),
        "category",
        "time_basis",
        _hundredths(pl.col("ew_text"), 4).alias("ew"),
        (pl.col("exceptional") == 1).alias("exceptional"),
        (pl.col("severe") == 1).alias("severe"),
        "provider_rate",
    )
    year_start = date(first.year if first.month >= 7 else first.year - 1, 7, 1)
    attendance = bulk.read_frame(
        conn,
        select(
            ce.certificate_ref,
            cd.day,
            cd.minutes,
            cd.absence,
            cr.parent_signed,
            cr.provider_signed,
            cr.received,
        )
        .join(childcare_records, cr.id == cd.record_id)
        .join(childcare_certificates, ce.id == cr.certificate_id)
        .where(and_(cr.book_id == book_id, cr.month >= year_start, cr.month <= first))
        .order_by(ce.certificate_ref, cr.month, cd.seq),
        {
            "cert": pl.Utf8,
            "day": pl.Date,
            "minutes": pl.Int64,
            "absence": pl.Utf8,
            "parent_signed": pl.Date,
            "provider_signed": pl.Date,
            "received": pl.Date,
        },
    ).join(certs.select("cert").unique(), on="cert", how="semi")
    cc = childcare_ceilings.c
    ceilings = bulk.read_frame(
        conn,
        select(
            cc.effective_from,
            cc.county,
            cc.facility,
            cc.age_band,
            cc.rate_category,
            cc.time_basis,
            cc.amount_minor,
        ).where(cc.book_id == book_id),
        {
            "effective_from": pl.Date,
            "county": pl.Utf8,
            "facility": pl.Utf8,
            "age_band": pl.Utf8,
            "category": pl.Utf8,
            "time_basis": pl.Utf8,
            "amount": pl.Int64,
        },
    )
    cp = childcare_providers.c
    provider_rows = bulk.read_frame(
        conn,
        select(cp.party_id, cp.provider_type, cp.county).where(cp.book_id == book_id),
        {"party_id": pl.Int64, "ptype": pl.Utf8, "county": pl.Utf8},
    )
    files = compliance.month_files(conn, book_id, first)
    families = bulk.read_frame(
        conn,
        select(
            f.family_ref,
            f.family_size,
            f.monthly_income_minor,
            f.family_fee_minor,
            f.fee_collected_by,
        ).where(f.book_id == book_id),
        {
            "family": pl.Utf8,
            "size": pl.Int64,
            "income": pl.Int64,
            "fee": pl.Int64,
            "collected_by": pl.Utf8,
        },
    )
    frames = {"certs": certs, "attendance": attendance, "ceilings": ceilings, "families": families}
    if not provider_rows.is_empty():
        names = {
            pid: ref
            for pid, (ref, _n) in parties.party_names(
                conn, book_id, set(provider_rows["party_id"].to_list())
            ).items()
        }
        frames["providers"] = provider_rows.select(
            pl.col("party_id").replace_strict(names, return_dtype=pl.Utf8).alias("provider"),
            "ptype",
            "county",
            pl.col("party_id")
            .replace_strict({k: v.complete for k, v in files.items()}, return_dtype=pl.Boolean)
            .alias("file_complete"),
            pl.col("party_id")
            .replace_strict(
                {k: v.closure_policy for k, v in files.items()}, return_dtype=pl.Boolean
            )
            .alias("closure_policy"),
        )
    return frames, policy_on(conn, book_id, first)


def calculate_month(conn: Connection, actor: Actor, book_id: int, month: date) -> MonthSummary:
    """Calculate a month from the book and keep its rows (replacing those not posted)."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    first = _first(month)
    frames, policy = month_frames(conn, book_id, first)
    now = audit.utc_now_text()
    rows = _stored_frame(engine.payments_frame(frames, first, policy), book_id, first, now)
    cp = childcare_payments.c
    posted: dict[tuple[str, str], int] = {}
    stored: dict[tuple[str, str], int | None] = {}  # their recalculated net as kept
    for r in conn.execute(
        select(cp.certificate_ref, cp.version_key, cp.net_minor, cp.recalculated_net_minor).where(
            and_(cp.book_id == book_id, cp.month == first, cp.entry_id.is_not(None))
        )
    ):
        posted[(r.certificate_ref, r.version_key)] = int(r.net_minor)
        stored[(r.certificate_ref, r.version_key)] = r.recalculated_net_minor
    conn.execute(
        delete(childcare_payments).where(
            and_(cp.book_id == book_id, cp.month == first, cp.entry_id.is_(None))
        )
    )
    # A child-month with a posted row is paid: none of its new rows is kept to be posted
    # (a version starting in it later is a difference to adjust, never a second payment).
    paid = pl.DataFrame(
        {"certificate_ref": sorted({ref for ref, _v in posted})},
        schema={"certificate_ref": pl.Utf8},
    )
    fresh = rows.join(paid, on="certificate_ref", how="anti")
    # Each paid child-month's net as calculated now (0 when no longer payable), against
    # what was posted; the difference is kept on its first posted row.
    now_total: dict[str, int] = {
        ref: int(net)
        for ref, net in rows.join(paid, on="certificate_ref", how="semi")
        .group_by("certificate_ref")
        .agg(pl.when(pl.col("status") == "payable").then(pl.col("net_minor")).otherwise(0).sum())
        .iter_rows()
    }
    posted_total: dict[str, int] = defaultdict(int)
    first_row: dict[str, tuple[str, str]] = {}
    for ref, version in sorted(posted):
        posted_total[ref] += posted[(ref, version)]
        first_row.setdefault(ref, (ref, version))
    differs = 0
    for key in sorted(posted):
        ref = key[0]
        change = now_total.get(ref, 0) - posted_total[ref]
        value = None
        if change and first_row[ref] == key:
            differs += 1
            value = posted[key] + change  # this row's net as it would have to be
        if stored[key] == value:
            continue
        conn.execute(
            update(childcare_payments)
            .where(
                and_(
                    cp.book_id == book_id,
                    cp.month == first,
                    cp.certificate_ref == key[0],
                    cp.version_key == key[1],
                )
            )
            .values(recalculated_net_minor=value)
        )
    bulk.insert_frame(conn, childcare_payments, fresh)
    payable = rows.filter(pl.col("status") == "payable")
    summary = MonthSummary(
        first,
        payable.height,
        rows.height - payable.height,
        int(payable["net_minor"].sum()),
        len(posted),
        differs,
    )
    audit.record(
        conn,
        actor,
        "childcare.month.calculated",
        "book",
        book_id,
        None,
        {
            "month": f"{first:%Y-%m}",
            "payable": summary.payable,
            "incomplete": summary.incomplete,
            "net_minor": summary.net_minor,
            "posted_kept": summary.posted_kept,
            "differs": differs,
        },
        book_id,
    )
    return summary


def _stored_frame(frame: pl.DataFrame, book_id: int, first: date, now: str) -> pl.DataFrame:
    """The engine's rows as ``childcare_payments`` rows, as ``engine.rows_of`` reads them
    (units and factors to four places, hours as certified;attended), without a Python
    object per row."""
    known = pl.col("basis").is_not_null()
    e4 = engine.e4_text
    return frame.select(
        pl.lit(book_id).alias("book_id"),
        pl.lit(first).alias("month"),
        pl.col("cert").alias("certificate_ref"),
        pl.col("version_from").dt.to_string("%Y-%m-%d").fill_null("").alias("version_key"),
        pl.col("child").fill_null("").alias("child_ref"),
        pl.col("provider").fill_null("").alias("provider_ref"),
        pl.when(known).then(pl.col("status")).otherwise(pl.lit("incomplete")).alias("status"),
        pl.when(known)
        .then(pl.col("reasons").list.join(";"))
        .otherwise(pl.lit("unknown_certificate"))
        .alias("reasons"),
        pl.col("basis").fill_null(""),
        pl.when(known).then(e4("units_e4")).otherwise(pl.lit("0")).alias("units"),
        pl.col("ceiling").alias("ceiling_minor"),
        pl.when(pl.col("factor_e4").is_not_null()).then(e4("factor_e4")).alias("factor"),
        pl.col("rate").fill_null(0).alias("rate_applied_minor"),
        pl.col("gross").fill_null(0).alias("gross_minor"),
        pl.col("fee").fill_null(0).alias("family_fee_minor"),
        pl.col("net").fill_null(0).alias("net_minor"),
        "due_by",
        pl.col("fee_check").fill_null(""),
        pl.col("elig_check").fill_null("").alias("eligibility_check"),
        pl.col("rate_check").fill_null(""),
        pl.when(known).then(engine.hours_check_text()).otherwise(pl.lit("")).alias("hours_check"),
        pl.lit(now).alias("calculated_at"),
        pl.lit(None, dtype=pl.Int64).alias("entry_id"),
        pl.lit(None, dtype=pl.Utf8).alias("posted_at"),
        pl.lit(None, dtype=pl.Int64).alias("recalculated_net_minor"),
    )


# ---------------------------------------------------------------- posting


def post_month(
    conn: Connection,
    actor: Actor,
    book_id: int,
    month: date,
    expense_account: str = EXPENSE_ACCOUNT,
    payable_account: str = PAYABLE_ACCOUNT,
) -> PostSummary:
    """Post the month's payable rows not yet posted, each once: an open payable item of
    its provider, due on its ``due_by``."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    first = _first(month)
    cp = childcare_payments.c
    rows = conn.execute(
        select(childcare_payments)
        .where(
            and_(
                cp.book_id == book_id,
                cp.month == first,
                cp.status == "payable",
                cp.entry_id.is_(None),
                cp.net_minor > 0,
            )
        )
        .order_by(cp.certificate_ref, cp.version_key)
    ).all()
    if not rows:
        return PostSummary(0, 0)
    book = ledger.get_book(conn, book_id)
    currency = str(book["base_currency"])
    day = ledger.first_open_date(conn, actor, book_id, ledger.book_today(conn, book_id))
    ids = parties.party_ids_for(conn, book_id, {r.provider_ref for r in rows})
    drafts = [
        EntryDraft(
            entry_date=day,
            description=f"Child care {first:%B %Y}: {r.certificate_ref} ({r.child_ref})",
            idempotency_key=f"childcare:{first:%Y-%m}:{r.certificate_ref}:{r.version_key}",
            postings=(
                PostingDraft(expense_account, int(r.net_minor), currency),
                PostingDraft(
                    payable_account,
                    -int(r.net_minor),
                    currency,
                    ids[r.provider_ref],
                    f"{r.certificate_ref} {first:%Y-%m}",
                    due_date=r.due_by,  # late or not: a run pays what is due by its date
                    doc_ref=f"{r.certificate_ref} {first:%Y-%m}",
                ),
            ),
            source_type="childcare",
            source_id=f"{first:%Y-%m}:{r.certificate_ref}",
        )
        for r in rows
    ]
    now = audit.utc_now_text()
    for start in range(0, len(drafts), POST_BATCH):
        chunk = rows[start : start + POST_BATCH]
        results = posting.post_entries(conn, actor, book_id, drafts[start : start + POST_BATCH])
        pairs = [(int(r.id), result.entry_id) for r, result in zip(chunk, results, strict=True)]
        if is_postgres(conn):  # one statement from arrays, not one per row
            conn.exec_driver_sql(
                "UPDATE childcare_payments SET entry_id = m.entry, posted_at = %s "
                "FROM unnest(%s::bigint[], %s::bigint[]) AS m(id, entry) "
                "WHERE childcare_payments.id = m.id",
                (now, [p[0] for p in pairs], [p[1] for p in pairs]),
            )
        else:
            conn.exec_driver_sql(
                "UPDATE childcare_payments SET entry_id = ?, posted_at = ? WHERE id = ?",
                [(entry, now, row_id) for row_id, entry in pairs],
            )
    return PostSummary(len(rows), sum(int(r.net_minor) for r in rows))


# ---------------------------------------------------------------- reading


def month_rows(
    conn: Connection,
    actor: Actor,
    book_id: int,
    month: date,
    *,
    status: str = "",
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A month's rows (of a status, or all) and its totals."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    first = _first(month)
    cp = childcare_payments.c
    where = [cp.book_id == book_id, cp.month == first]
    if status:
        where.append(cp.status == status)
    found = [
        dict(r._mapping)
        for r in conn.execute(
            select(childcare_payments)
            .where(and_(*where))
            .order_by(cp.status.desc(), cp.certificate_ref, cp.version_key)
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        )
    ]
    # The page's names: the providers' (parties) and the children's, by their refs.
    ids = parties.party_ids_for(conn, book_id, {row["provider_ref"] for row in found})
    names = parties.party_names(conn, book_id, set(ids.values()))
    ch = childcare_children.c
    wanted = sorted({row["child_ref"] for row in found})
    children = (
        {
            r.child_ref: r.name
            for r in conn.execute(
                select(ch.child_ref, ch.name).where(
                    and_(ch.book_id == book_id, ch.child_ref.in_(wanted))
                )
            )
        }
        if wanted
        else {}
    )
    for shown in found:
        party = ids.get(shown["provider_ref"])
        shown["provider_name"] = names.get(party, ("", ""))[1] if party is not None else ""
        shown["child_name"] = children.get(shown["child_ref"], "")
    totals = {
        "rows": 0,
        "payable": 0,
        "incomplete": 0,
        "posted": 0,
        "net_minor": 0,
        "posted_minor": 0,
    }
    for r in conn.execute(
        select(
            cp.status,
            (cp.entry_id.is_not(None)).label("posted"),
            func.count(),
            func.coalesce(func.sum(cp.net_minor), 0),
        )
        .where(and_(cp.book_id == book_id, cp.month == first))
        .group_by(cp.status, cp.entry_id.is_not(None))
    ):
        count, net = int(r[2]), int(r[3])
        totals["rows"] += count
        totals[r.status] = totals.get(r.status, 0) + count
        if r.status == "payable":
            totals["net_minor"] += net
        if r.posted:
            totals["posted"] += count
            totals["posted_minor"] += net
    return found, totals


def months(conn: Connection, actor: Actor, book_id: int) -> list[date]:
    """The months with records or calculated rows, newest first."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    cr, cp = childcare_records.c, childcare_payments.c
    found = {r[0] for r in conn.execute(select(cr.month).where(cr.book_id == book_id).distinct())}
    found |= {r[0] for r in conn.execute(select(cp.month).where(cp.book_id == book_id).distinct())}
    return sorted(found, reverse=True)


def timeliness(
    conn: Connection, actor: Actor, book_id: int, month: date
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The month's complete records by days to pay: received, due, posted, paid (the day
    its payable was settled by a payment) and the days from received to paid (to today
    while unpaid); ``breach`` when past the policy's days to pay. Worst first."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    first = _first(month)
    days_to_pay = policy_on(conn, book_id, first).days_to_pay
    today = ledger.book_today(conn, book_id)
    cp, cr, ce = childcare_payments.c, childcare_records.c, childcare_certificates.c
    rows = conn.execute(
        select(childcare_payments, cr.received)
        .join(
            childcare_certificates,
            and_(ce.book_id == cp.book_id, ce.certificate_ref == cp.certificate_ref),
        )
        .join(childcare_records, and_(cr.certificate_id == ce.id, cr.month == cp.month))
        .where(and_(cp.book_id == book_id, cp.month == first, cp.status == "payable"))
    ).all()
    states = open_items.entry_item_states(
        conn, book_id, (int(r.entry_id) for r in rows if r.entry_id is not None)
    )
    out = []
    for r in rows:
        state = states.get(int(r.entry_id)) if r.entry_id is not None else None
        paid_on = state[2] if state is not None and state[1] == 0 else None
        end = paid_on or today
        days = (end - r.received).days if r.received is not None else None
        out.append(
            {
                "certificate_ref": r.certificate_ref,
                "version_key": r.version_key,
                "provider_ref": r.provider_ref,
                "child_ref": r.child_ref,
                "net_minor": int(r.net_minor),
                "received": r.received,
                "due_by": r.due_by,
                "posted_at": r.posted_at,
                "paid_on": paid_on,
                "days": days,
                "breach": days is not None and days > days_to_pay,
                "state": "paid" if paid_on else ("posted" if r.entry_id is not None else "to post"),
            }
        )
    out.sort(key=lambda x: (-(x["days"] or 0), x["certificate_ref"], x["version_key"]))
    ids = parties.party_ids_for(conn, book_id, {x["provider_ref"] for x in out})
    names = parties.party_names(conn, book_id, set(ids.values()))
    for x in out:
        found = ids.get(x["provider_ref"])
        x["provider_name"] = names[found][1] if found in names else ""
    summary = {
        "net_minor": sum(x["net_minor"] for x in out),
        "unpaid_minor": sum(x["net_minor"] for x in out if not x["paid_on"]),
        "days_to_pay": days_to_pay,
        "rows": len(out),
        "paid": sum(1 for x in out if x["paid_on"]),
        "paid_in_time": sum(1 for x in out if x["paid_on"] and not x["breach"]),
        "breaches": sum(1 for x in out if x["breach"]),
        "open_breaches": sum(1 for x in out if x["breach"] and not x["paid_on"]),
    }
    return out, summary
