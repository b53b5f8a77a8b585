"""A planned visit's status in a book (cancelled, frustrated, in hospital) and the clients'
hospital stays, as the reconciliation reads them.

A coordinator records that a visit was cancelled (with notice, or at short notice), that it
was frustrated (the carer came, the client was not there), or that the client was in
hospital, with the reason; a hospital stay (``care_absences``) suspends every visit of its
client on its days. ``with_absences`` gives the reconciliation the planned frame with each
visit's status, so that the engine pays each as the policy says. A visit inside a posted
run's period is not changed: the money is in the ledger.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.bulk import read_frame
from remit.calendar import BusinessCalendar
from remit.care.model import PLANNED_STATUSES, RunStatus
from remit.care.service import DAY_SECONDS, EPOCH
from remit.care.store import care_absences, care_runs, planned_visits
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.text import NAME_MAX, text_problem

STATUS_WORDS = {
    "planned": "planned",
    "cancelled_notice": "cancelled with notice (not paid)",
    "cancelled_short_notice": "cancelled at short notice (paid the policy's share)",
    "frustrated": "frustrated: the carer came, the client was not there (paid the policy's share)",
    "hospital": "the client was in hospital (suspended, not paid)",
}
FAR_DAY = 2**31  # an open hospital stay: not yet back


def with_absences(conn: Connection, book_id: int, frame: pl.DataFrame) -> pl.DataFrame:
    """The planned frame (``visit_id``, ``client_id`` as the book's ids in text) with each
    visit's ``status`` and ``reason``: the stored ones, and ``hospital`` with the stay's
    reason for a planned visit whose start day falls in a hospital stay of its client."""
    if not frame.height:
        return frame.with_columns(status=pl.lit("planned"), reason=pl.lit(""))
    v = planned_visits.c
    if {"status", "reason"} <= set(frame.columns):  # read with the visits already
        out = frame.with_columns(
            pl.col("status").fill_null("planned"), pl.col("reason").fill_null("")
        )
        return _in_hospital(conn, book_id, out)
    low, high = frame.get_column("start_s").min(), frame.get_column("start_s").max()
    stored = read_frame(
        conn,
        select(v.id, v.status, v.status_reason).where(
            and_(v.book_id == book_id, v.start_s >= low, v.start_s <= high)
        ),
        {"id": pl.Int64, "status": pl.String, "reason": pl.String},
    ).select(visit_id=pl.col("id").cast(pl.String), status="status", reason="reason")
    out = frame.drop("status", "reason", strict=False).join(stored, on="visit_id", how="left")
    out = out.with_columns(pl.col("status").fill_null("planned"), pl.col("reason").fill_null(""))
    return _in_hospital(conn, book_id, out)


def _in_hospital(conn: Connection, book_id: int, out: pl.DataFrame) -> pl.DataFrame:
    """The planned visits (with their stored ``status``, ``reason``) of a client in a
    hospital stay on their start day become ``hospital``, with the stay's reason."""
    a = care_absences.c
    stays = pl.DataFrame(
        [
            (
                str(r.client_party_id),
                (r.first_day - EPOCH).days,
                FAR_DAY if r.last_day is None else (r.last_day - EPOCH).days,
                r.reason,
            )
            for r in conn.execute(
                select(a.client_party_id, a.first_day, a.last_day, a.reason).where(
                    a.book_id == book_id
                )
            )
        ],
        orient="row",
        schema={"client_id": pl.String, "first": pl.Int64, "last": pl.Int64, "why": pl.String},
    )
    away = (
        out.select("visit_id", "client_id", day=pl.col("start_s") // DAY_SECONDS)
        .join(stays, on="client_id")
        .filter(pl.col("day").is_between("first", "last"))
        .unique("visit_id", keep="first")
        .select("visit_id", "why")
    )
    out = out.join(away, on="visit_id", how="left")
    in_hospital = pl.col("why").is_not_null() & (pl.col("status") == "planned")
    return out.with_columns(
        status=pl.when(in_hospital).then(pl.lit("hospital")).otherwise("status"),
        reason=pl.when(in_hospital).then("why").otherwise("reason"),
    ).drop("why")


def holidays(conn: Connection, book_id: int, start_s: int, end_s: int) -> list[int]:
    """The book calendar's public holidays from ``start_s`` to ``end_s``, as days since
    1970-01-01 (the engine's bank-holiday band)."""
    code = str(ledger.get_book(conn, book_id).get("calendar") or "GB-ENG")
    first = date.fromordinal(EPOCH.toordinal() + start_s // DAY_SECONDS)
    last = date.fromordinal(EPOCH.toordinal() + end_s // DAY_SECONDS)
    return [(d - EPOCH).days for d in BusinessCalendar(code).holidays_between(first, last)]


def absences(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    """The book's hospital stays, latest first, with the client's reference and name."""
    require(actor, book_id, Permission.CARE_READ)
    a = care_absences.c
    rows = [
        dict(r)
        for r in conn.execute(
            select(a.id, a.client_party_id, a.first_day, a.last_day, a.reason, a.created_by)
            .where(a.book_id == book_id)
            .order_by(a.first_day.desc(), a.id.desc())
            .limit(500)
        ).mappings()
    ]
    names = parties.party_names(conn, book_id, {r["client_party_id"] for r in rows})
    for r in rows:
        r["client_ref"], r["client_name"] = names.get(r["client_party_id"], ("", ""))
    return rows


def get_visit(conn: Connection, actor: Actor, book_id: int, visit_id: int) -> dict[str, Any]:
    """One planned visit of the book, with its status in words."""
    require(actor, book_id, Permission.CARE_READ)
    row = _visit(conn, book_id, visit_id)
    day = date.fromordinal(EPOCH.toordinal() + row["start_s"] // DAY_SECONDS)
    return {**row, "day": day, "status_words": STATUS_WORDS.get(row["status"], row["status"])}


def set_visit_status(
    conn: Connection,
    actor: Actor,
    book_id: int,
    visit_id: int,
    status: str,
    reason: str,
) -> None:
    """Record what became of a planned visit (a cancellation, a frustrated visit, a hospital
    stay's day) with its reason; refused inside a posted run's period. The next
    reconciliation of its period pays it as the policy says."""
    require(actor, book_id, Permission.CARE_DECIDE)
    problems = []
    if status not in PLANNED_STATUSES:
        problems.append(Problem("status", f"one of: {', '.join(PLANNED_STATUSES)}", "visit_status"))
    found = text_problem(reason, "reason", max_chars=NAME_MAX, required=status != "planned")
    if found is not None:
        problems.append(found)
    if problems:
        raise ValidationFailed(problems)
    before = _visit(conn, book_id, visit_id)
    day = date.fromordinal(EPOCH.toordinal() + before["start_s"] // DAY_SECONDS)
    r = care_runs.c
    posted = conn.execute(
        select(r.id).where(
            and_(
                r.book_id == book_id,
                r.provider_party_id == before["provider_party_id"],
                r.period_start <= day,
                r.period_end >= day,
                r.status == RunStatus.POSTED.value,
            )
        )
    ).first()
    if posted is not None:
        raise Conflict(
            f"visit {before['ref']} is in run {posted.id}, already posted: its money is in "
            "the ledger; record a correction on the next self-bill instead"
        )
    reason = reason.strip()
    conn.execute(
        update(planned_visits)
        .where(planned_visits.c.id == visit_id)
        .values(status=status, status_reason=reason or None)
    )
    audit.record(
        conn,
        actor,
        "care.visit.status",
        "planned_visit",
        visit_id,
        {"status": before["status"], "reason": before["status_reason"]},
        {"status": status, "reason": reason},
        book_id,
    )


def _visit(conn: Connection, book_id: int, visit_id: int) -> dict[str, Any]:
    v = planned_visits.c
    row = (
        conn.execute(
            select(
                v.id,
                v.ref,
                v.client_party_id,
                v.provider_party_id,
                v.start_s,
                v.end_s,
                v.carers,
                v.status,
                v.status_reason,
            ).where(and_(v.book_id == book_id, v.id == visit_id))
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no planned visit {visit_id} in this book")
    return dict(row)
