"""The provider file in a book (issue 11, point 1): its records imported or entered with
the scanned document, a licence-exempt carer made provisional, each file judged by
``childcare.providerfile``'s rules for a month (the calculation holds a provider's
child-months while its file is incomplete, and lists what is missing) and for today (the
compliance page), and reminders of documents nearing their expiry opened as cases of the
work queue, once per record.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.cases import service as cases
from remit.cases.model import NewCase, Priority
from remit.childcare import exchange
from remit.childcare.providerfile import (
    LABELS,
    PROVISIONAL_DAYS,
    DocumentKind,
    FileDocument,
    FileStatus,
    expiring,
    file_status,
    good_status,
    provisional_last,
    required,
    statuses,
)
from remit.childcare.store import (
    childcare_certificate_versions,
    childcare_certificates,
    childcare_provider_documents,
    childcare_providers,
)
from remit.documents import service as documents
from remit.errors import NotFound, Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.money import MAX_AMOUNT_MINOR
from remit.parties import service as parties
from remit.payments import blocks
from remit.payments.model import BlockReason
from remit.reports.tables import Column, Kind, table_csv
from remit.text import DATE_MAX, DATE_MIN, text_problem


@dataclass(frozen=True, slots=True)
class ProviderFile:
    """A provider's file as its page shows it."""

    party_id: int
    ref: str
    name: str
    provider_type: str
    county: str
    relationship: str | None
    provisional_from: date | None
    status: FileStatus  # today
    required: tuple[DocumentKind, ...]
    records: tuple[dict[str, Any], ...]  # newest first
    expiring: tuple[FileDocument, ...]

    @property
    def needs_trustline(self) -> bool:
        return DocumentKind.TRUSTLINE in self.required

    @property
    def required_status(self) -> list[tuple[str, str]]:
        """Each required item with what is wrong with it ("" when on file, in force)."""
        return [
            (
                LABELS[k],
                next((m for m in self.status.missing if m.startswith(LABELS[k])), ""),
            )
            for k in self.required
        ]


@dataclass(frozen=True, slots=True)
class Compliance:
    """The book's provider files today: how many are complete, and what is missing."""

    today: date
    files: tuple[ProviderFile, ...]

    @property
    def complete(self) -> int:
        return sum(1 for f in self.files if f.status.complete)

    @property
    def expiring_count(self) -> int:
        return sum(len(f.expiring) for f in self.files)

    @property
    def share_text(self) -> str:
        if not self.files:
            return "no providers"
        return f"{self.complete * 100 / len(self.files):.1f}%"

    @property
    def missing_by_kind(self) -> list[tuple[str, int]]:
        """How many files lack each kind (the first words of each reason)."""
        counts: dict[str, int] = defaultdict(int)
        for f in self.files:
            for kind in f.required:
                label = LABELS[kind]
                if any(m.startswith(label) for m in f.status.missing):
                    counts[label] += 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _raise(problems: Sequence[Problem]) -> None:
    if problems:
        raise ValidationFailed(list(problems))


def _records(
    conn: Connection, book_id: int, party_ids: set[int] | None = None
) -> dict[int, list[FileDocument]]:
    d = childcare_provider_documents.c
    query = select(childcare_provider_documents).where(d.book_id == book_id)
    if party_ids is not None and len(party_ids) <= 500:
        query = query.where(d.party_id.in_(sorted(party_ids)))
    out: dict[int, list[FileDocument]] = defaultdict(list)
    for r in conn.execute(query):
        if party_ids is not None and int(r.party_id) not in party_ids:
            continue
        out[int(r.party_id)].append(
            FileDocument(
                int(r.id),
                DocumentKind(r.kind),
                r.status,
                r.valid_from,
                r.expires_on,
                r.reference,
                None if r.unsubsidised_rate_minor is None else int(r.unsubsidised_rate_minor),
            )
        )
    return out


def month_files(conn: Connection, book_id: int, first: date) -> dict[int, FileStatus]:
    """Each provider's file judged over the days its certificates run in the month."""
    last = date(first.year, first.month, calendar.monthrange(first.year, first.month)[1])
    ce, cv = childcare_certificates.c, childcare_certificate_versions.c
    spans = {
        int(r.party_id): (max(first, r.start), min(last, r.end))
        for r in conn.execute(
            select(
                ce.provider_party_id.label("party_id"),
                func.min(cv.start_date).label("start"),
                func.max(cv.end_date).label("end"),
            )
            .join(childcare_certificate_versions, cv.certificate_id == ce.id)
            .where(and_(ce.book_id == book_id, cv.start_date <= last, cv.end_date >= first))
            .group_by(ce.provider_party_id)
        )
    }
    records = _records(conn, book_id)
    cp = childcare_providers.c
    out = {}
    for r in conn.execute(select(childcare_providers).where(cp.book_id == book_id)):
        start, end = spans.get(int(r.party_id), (first, last))
        out[int(r.party_id)] = file_status(
            r.provider_type,
            r.relationship,
            r.provisional_from,
            records.get(int(r.party_id), []),
            start,
            end,
        )
    return out


def _provider_row(conn: Connection, book_id: int, party_id: int) -> Any:
    cp = childcare_providers.c
    row = conn.execute(
        select(childcare_providers).where(and_(cp.book_id == book_id, cp.party_id == party_id))
    ).first()
    if row is None:
        raise NotFound(f"no child care provider {party_id} in this book")
    return row


def _file(
    conn: Connection, book_id: int, row: Any, records: list[FileDocument], today: date
) -> ProviderFile:
    ref, name = parties.party_names(conn, book_id, [int(row.party_id)])[int(row.party_id)]
    return _assemble(row, ref, name, records, today)


def _assemble(
    row: Any, ref: str, name: str, records: list[FileDocument], today: date
) -> ProviderFile:
    listed = tuple(
        {
            "id": r.record_id,
            "kind": r.kind.value,
            "label": LABELS[r.kind],
            "status": r.status,
            "good": r.status == good_status(r.kind),
            "valid_from": r.valid_from,
            "expires_on": r.expires_on,
            "reference": r.reference,
            "unsubsidised_rate_minor": r.unsubsidised_rate_minor,
        }
        for r in sorted(records, key=lambda r: (r.valid_from, r.record_id), reverse=True)
    )
    return ProviderFile(
        int(row.party_id),
        ref,
        name,
        row.provider_type,
        row.county,
        row.relationship,
        row.provisional_from,
        file_status(
            row.provider_type, row.relationship, row.provisional_from, records, today, today
        ),
        required(row.provider_type, row.relationship),
        listed,
        tuple(expiring(records, today)),
    )


def provider_file(
    conn: Connection, actor: Actor, book_id: int, party_id: int, today: date | None = None
) -> ProviderFile:
    require(actor, book_id, Permission.CHILDCARE_READ)
    row = _provider_row(conn, book_id, party_id)
    day = today or ledger.book_today(conn, book_id)
    return _file(conn, book_id, row, _records(conn, book_id, {party_id}).get(party_id, []), day)


def compliance(
    conn: Connection, actor: Actor, book_id: int, today: date | None = None
) -> Compliance:
    """Every provider's file today, incomplete ones first."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    day = today or ledger.book_today(conn, book_id)
    cp = childcare_providers.c
    rows = conn.execute(select(childcare_providers).where(cp.book_id == book_id)).all()
    names = parties.party_names(conn, book_id, {int(r.party_id) for r in rows})
    records = _records(conn, book_id)
    files = [
        _assemble(r, *names[int(r.party_id)], records.get(int(r.party_id), []), day) for r in rows
    ]
    files.sort(key=lambda f: (f.status.complete, f.ref))
    return Compliance(day, tuple(files))


# ---------------------------------------------------------------- recording


def _insert(
    conn: Connection,
    actor: Actor,
    book_id: int,
    rows: Sequence[dict[str, Any]],
) -> None:
    now = audit.utc_now_text()
    who = {"book_id": book_id, "recorded_by": actor.username, "recorded_at": now}
    full = [{**r, **who} for r in rows]
    conn.execute(insert(childcare_provider_documents), full)
    audit.record_many(
        conn,
        actor,
        [
            (
                "childcare.provider_document.record",
                "party",
                r["party_id"],
                None,
                {k: v for k, v in r.items() if k != "party_id"},
                book_id,
            )
            for r in rows
        ],
    )


def _same_key(r: FileDocument | dict[str, Any]) -> tuple[Any, ...]:
    if isinstance(r, FileDocument):
        return (
            r.kind.value,
            r.status,
            r.valid_from,
            r.expires_on,
            r.reference,
            r.unsubsidised_rate_minor,
        )
    return (
        r["kind"],
        r["status"],
        r["valid_from"],
        r["expires_on"],
        r["reference"],
        r["unsubsidised_rate_minor"],
    )


def import_documents(
    conn: Connection, actor: Actor, book_id: int, content: bytes, name: str = "documents.csv"
) -> tuple[int, int]:
    """Provider-file records from documents.csv, all or nothing; a record already in the
    book is not recorded again. Returns (new, unchanged)."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    found = exchange.document_records(content, name)
    ids = parties.party_ids_for(conn, book_id, [d.provider_id for _l, d in found])
    cp = childcare_providers.c
    known = {
        int(r.party_id) for r in conn.execute(select(cp.party_id).where(cp.book_id == book_id))
    }
    _raise(
        [
            Problem(
                "provider_id",
                f"no child care provider {d.provider_id} in this book (import providers.csv)",
                "unknown_provider",
                line,
                name,
            )
            for line, d in found
            if ids.get(d.provider_id) not in known
        ]
    )
    have = {
        pid: {_same_key(r) for r in recs} | {(r.kind.value, r.valid_from) for r in recs}
        for pid, recs in _records(conn, book_id, {ids[d.provider_id] for _l, d in found}).items()
    }
    rows, same, problems = [], 0, []
    for line, d in found:
        pid = ids[d.provider_id]
        row = {
            "party_id": pid,
            "kind": d.kind.value,
            "status": d.status,
            "valid_from": d.valid_from,
            "expires_on": d.expires_on,
            "reference": d.reference,
            "unsubsidised_rate_minor": d.unsubsidised_rate_minor,
        }
        mine = have.get(pid, set())
        if _same_key(row) in mine:
            same += 1
        elif (d.kind.value, d.valid_from) in mine:
            problems.append(
                Problem(
                    "valid_from",
                    f"{d.provider_id}'s {LABELS[d.kind]} from {d.valid_from.isoformat()} is "
                    "in the book with other values; a change is a record from a later date",
                    "conflict",
                    line,
                    name,
                )
            )
        else:
            rows.append(row)
    _raise(problems)
    if rows:
        _insert(conn, actor, book_id, rows)
        sync_holds(conn, actor, book_id, {ids[d.provider_id] for _l, d in found})
    return len(rows), same


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record entered on the provider's page, with its scanned document if given."""

    kind: str
    status: str
    valid_from: date | None
    expires_on: date | None = None
    reference: str = ""
    unsubsidised_rate_minor: int | None = None
    filename: str = ""
    content: bytes = b""


def _record_problems(new: NewRecord) -> tuple[DocumentKind | None, list[Problem]]:
    problems = []
    try:
        kind: DocumentKind | None = DocumentKind(new.kind)
    except ValueError:
        kind = None
        problems.append(Problem("kind", "a kind of the provider file", "value"))
    if kind is not None and new.status not in statuses(kind):
        problems.append(Problem("status", " or ".join(statuses(kind)), "value"))
    for field, day in (("valid_from", new.valid_from), ("expires_on", new.expires_on)):
        if day is not None and not DATE_MIN <= day <= DATE_MAX:
            problems.append(Problem(field, "a date from 1900 to 2100", "range"))
    if new.valid_from is None:
        problems.append(Problem("valid_from", "the date it holds from", "required"))
    elif new.expires_on is not None and new.expires_on < new.valid_from:
        problems.append(Problem("expires_on", "not before the date it holds from", "value"))
    bad = text_problem(new.reference, "reference", max_chars=64)
    if bad is not None:
        problems.append(bad)
    rate = new.unsubsidised_rate_minor
    if rate is not None and not 0 < rate <= MAX_AMOUNT_MINOR:
        problems.append(Problem("unsubsidised_rate", "a positive amount", "range"))
    if kind is not None and new.status == good_status(kind):
        if kind in (DocumentKind.LICENCE, DocumentKind.TRUSTLINE) and not new.reference.strip():
            problems.append(Problem("reference", f"the {LABELS[kind]} number", "required"))
        if kind is DocumentKind.RATE_SHEET and rate is None:
            problems.append(
                Problem(
                    "unsubsidised_rate", "the rate charged to unsubsidised families", "required"
                )
            )
    return kind, problems


def record_document(
    conn: Connection, actor: Actor, book_id: int, party_id: int, new: NewRecord
) -> int:
    """Record one document of a provider's file (a renewal, a suspension, a clearance), the
    scanned copy attached to the provider's party. Returns the record's id."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    _provider_row(conn, book_id, party_id)
    kind, problems = _record_problems(new)
    _raise(problems)
    assert kind is not None
    assert new.valid_from is not None
    mine = _records(conn, book_id, {party_id}).get(party_id, [])
    if any(r.kind is kind and r.valid_from == new.valid_from for r in mine):
        raise ValidationFailed(
            [
                Problem(
                    "valid_from",
                    f"a {LABELS[kind]} record from {new.valid_from.isoformat()} is on file; "
                    "a change is a record from another date",
                    "conflict",
                )
            ]
        )
    document_id = None
    if new.content:
        document_id = documents.attach(
            conn,
            actor,
            book_id,
            "party",
            party_id,
            new.filename or f"{kind.value}.pdf",
            new.content,
            title=f"{LABELS[kind]} from {new.valid_from.isoformat()}",
            kind="provider_file",
        )
    _insert(
        conn,
        actor,
        book_id,
        [
            {
                "party_id": party_id,
                "kind": kind.value,
                "status": new.status,
                "valid_from": new.valid_from,
                "expires_on": new.expires_on,
                "reference": new.reference.strip(),
                "unsubsidised_rate_minor": new.unsubsidised_rate_minor,
                "document_id": document_id,
            }
        ],
    )
    sync_holds(conn, actor, book_id, {party_id})
    d = childcare_provider_documents.c
    return int(
        conn.execute(
            select(func.max(d.id)).where(and_(d.book_id == book_id, d.party_id == party_id))
        ).scalar_one()
    )


def make_provisional(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_id: int,
    start: date,
    today: date | None = None,
) -> date:
    """Make a licence-exempt carer a provisional provider from ``start`` (for an immediate
    need, its TrustLine application and fingerprints in): at most 30 days, once. Returns
    the last provisional day."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    row = _provider_row(conn, book_id, party_id)
    day = today or ledger.book_today(conn, book_id)
    problems = []
    if row.provider_type != "exempt":
        problems.append(Problem("provider", "only a licence-exempt carer", "provider_type"))
    elif DocumentKind.TRUSTLINE not in required(row.provider_type, row.relationship):
        problems.append(Problem("provider", "a relative needs no TrustLine registration", "value"))
    if row.provisional_from is not None:
        problems.append(
            Problem(
                "start",
                f"provisional from {row.provisional_from.isoformat()} already: once only",
                "once",
            )
        )
    if not day - timedelta(days=PROVISIONAL_DAYS) < start <= day:
        problems.append(Problem("start", f"a day within the last {PROVISIONAL_DAYS} days", "range"))
    applied = [
        r
        for r in _records(conn, book_id, {party_id}).get(party_id, [])
        if r.kind is DocumentKind.TRUSTLINE and r.status == "applied" and r.valid_from <= start
    ]
    if not applied:
        problems.append(
            Problem(
                "start",
                "record the TrustLine application (status applied) first",
                "trustline_application",
            )
        )
    _raise(problems)
    cp = childcare_providers.c
    conn.execute(
        update(childcare_providers)
        .where(and_(cp.book_id == book_id, cp.party_id == party_id))
        .values(provisional_from=start)
    )
    audit.record(
        conn,
        actor,
        "childcare.provider.provisional",
        "party",
        party_id,
        None,
        {"provisional_from": start.isoformat()},
        book_id,
    )
    sync_holds(conn, actor, book_id, {party_id}, today=day)
    return provisional_last(start)


def send_reminders(conn: Connection, actor: Actor, book_id: int, today: date | None = None) -> int:
    """Open a case (the work queue's compliance gap) for each document in force that
    expires within REMIND_DAYS with no renewal recorded, once per record. Returns how
    many were opened."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    day = today or ledger.book_today(conn, book_id)
    d = childcare_provider_documents.c
    reminded = {
        int(r.id)
        for r in conn.execute(
            select(d.id).where(and_(d.book_id == book_id, d.reminder_case_id.is_not(None)))
        )
    }
    due: list[tuple[int, FileDocument]] = [
        (pid, r)
        for pid, recs in _records(conn, book_id).items()
        for r in expiring(recs, day)
        if r.record_id not in reminded
    ]
    if not due:
        return 0
    names = parties.party_names(conn, book_id, {pid for pid, _r in due})
    news = [
        NewCase(
            case_type="compliance_gap",
            title=(
                f"{names[pid][0]}: {LABELS[r.kind]} expires {r.expires_on.isoformat()}"
                if r.expires_on
                else ""
            )[:200],
            description=(
                f"{names[pid][1]}'s {LABELS[r.kind]}"
                + (f" {r.reference}" if r.reference else "")
                + f" expires on {r.expires_on.isoformat() if r.expires_on else ''}. "
                "Ask for the renewal and record it on the provider's file: after that day "
                "the provider's child-months are held until it is on file."
            ),
            priority=Priority.HIGH
            if r.expires_on and r.expires_on - day <= timedelta(days=14)
            else Priority.NORMAL,
            party_id=pid,
            links=(("party", str(pid), names[pid][0]),),
        )
        for pid, r in due
    ]
    opened = cases.open_cases(conn, actor, book_id, news, today=day)
    for (_pid, r), case_id in zip(due, opened, strict=True):
        conn.execute(
            update(childcare_provider_documents)
            .where(childcare_provider_documents.c.id == r.record_id)
            .values(reminder_case_id=case_id)
        )
    return len(opened)


HOLD_SOURCE = "childcare.file"


def sync_holds(
    conn: Connection,
    actor: Actor,
    book_id: int,
    party_ids: set[int] | None = None,
    today: date | None = None,
) -> tuple[int, int]:
    """Hold the payments of each provider whose file is incomplete today (a payment block,
    ``incomplete_provider_file``, naming what is missing), and lift the holds this set on
    files complete again; a block a person set is left alone. Its child-months already
    posted wait in the payment runs until the file is complete. Returns (held, lifted)."""
    day = today or ledger.book_today(conn, book_id)
    cp = childcare_providers.c
    query = select(childcare_providers).where(cp.book_id == book_id)
    rows = [r for r in conn.execute(query) if party_ids is None or int(r.party_id) in party_ids]
    if not rows:
        return 0, 0
    records = _records(conn, book_id, {int(r.party_id) for r in rows})
    reason = BlockReason.INCOMPLETE_PROVIDER_FILE
    active: dict[int, list[str]] = defaultdict(list)
    for b in blocks.active_blocks(conn, book_id):
        if b.party_id is not None and b.reason is reason:
            active[b.party_id].append(b.source)
    held = lifted = 0
    for r in rows:
        pid = int(r.party_id)
        status = file_status(
            r.provider_type,
            r.relationship,
            r.provisional_from,
            records.get(pid, []),
            day,
            day,
        )
        if not status.complete and not active.get(pid):
            note = "provider file incomplete: " + "; ".join(status.missing)
            blocks.set_block(
                conn,
                actor,
                book_id,
                party_id=pid,
                reason=reason,
                note=note[:500],
                source=HOLD_SOURCE,
            )
            held += 1
        elif status.complete and active.get(pid) and set(active[pid]) == {HOLD_SOURCE}:
            blocks.lift_block(
                conn,
                actor,
                book_id,
                party_id=pid,
                reason=reason,
                note="provider file complete again",
            )
            lifted += 1
    return held, lifted


def month_missing(
    conn: Connection, actor: Actor, book_id: int, first: date
) -> dict[str, tuple[str, ...]]:
    """What keeps each provider's file from being complete over the month, by the
    provider's reference (only the incomplete ones): the month page lists it beside the
    child-months held for ``file_incomplete``."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    held = {pid: s.missing for pid, s in month_files(conn, book_id, first).items() if s.missing}
    names = parties.party_names(conn, book_id, held)
    return {names[pid][0]: missing for pid, missing in held.items()}


COMPLIANCE_COLUMNS = (
    Column("provider_id", "Provider", Kind.TEXT),
    Column("provider_name", "Name", Kind.TEXT),
    Column("provider_type", "Type", Kind.LABEL),
    Column("county", "County", Kind.TEXT),
    Column("complete", "File complete", Kind.LABEL),
    Column("missing", "Missing", Kind.TEXT),
    Column("provisional_until", "Provisional until", Kind.DATE),
    Column("expiring", "Expiring", Kind.TEXT),
)


def compliance_csv(found: Compliance) -> bytes:
    """The compliance page as CSV, one row per provider (text from outside guarded)."""
    return table_csv(
        COMPLIANCE_COLUMNS,
        (
            {
                "provider_id": f.ref,
                "provider_name": f.name,
                "provider_type": f.provider_type,
                "county": f.county,
                "complete": "yes" if f.status.complete else "no",
                "missing": "; ".join(f.status.missing),
                "provisional_until": f.status.provisional_until,
                "expiring": "; ".join(
                    f"{LABELS[r.kind]} {r.expires_on.isoformat()}"
                    for r in f.expiring
                    if r.expires_on
                ),
            }
            for f in found.files
        ),
    )
