"""Finding payments across runs: by reference, payee, state and dates (the payments search
and a provider's payments), newest first, with each payment's run and pay date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, and_, or_, select

from remit.access.model import Actor, Permission, require
from remit.errors import Problem, ValidationFailed
from remit.parties import service as parties
from remit.payments.model import PaymentStatus
from remit.payments.store import payment_runs, run_payments

MAX_QUERY = 100
MAX_ROWS = 500


@dataclass(frozen=True, slots=True)
class FoundPayment:
    """One payment as a list shows it."""

    id: int
    run_id: int
    reference: str
    party_id: int
    party_ref: str
    party_name: str
    method: str
    currency: str
    amount_minor: int
    status: str
    pay_date: date
    return_code: str


def search_payments(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    q: str = "",
    party_id: int | None = None,
    status: str | None = None,
    paid_from: date | None = None,
    paid_to: date | None = None,
    limit: int = 100,
) -> list[FoundPayment]:
    """Payments of the book matching all that is given: ``q`` a payment reference
    (``R12-000003``) or part of a payee's reference or name; newest first."""
    require(actor, book_id, Permission.PAYMENT_READ)
    text = q.strip()
    problems = []
    if len(text) > MAX_QUERY or any(ord(ch) < 32 for ch in text):
        problems.append(Problem("q", f"up to {MAX_QUERY} characters of text", "length"))
    if status and status not in tuple(PaymentStatus):
        known = ", ".join(s.value for s in PaymentStatus)
        problems.append(Problem("status", f"one of {known}", "status"))
    if problems:
        raise ValidationFailed(problems)
    rp, pr = run_payments.c, payment_runs.c
    query = (
        select(rp.id, rp.run_id, rp.reference, rp.party_id, rp.method, rp.currency)
        .add_columns(rp.amount_minor, rp.status, pr.pay_date, rp.return_code)
        .join(payment_runs, pr.id == rp.run_id)
        .where(rp.book_id == book_id)
    )
    if party_id is not None:
        query = query.where(rp.party_id == party_id)
    if status:
        query = query.where(rp.status == status)
    if paid_from is not None:
        query = query.where(pr.pay_date >= paid_from)
    if paid_to is not None:
        query = query.where(pr.pay_date <= paid_to)
    if text:
        matching = parties.party_ids_matching(conn, book_id, text, MAX_ROWS)
        query = query.where(
            or_(rp.reference == text.upper(), and_(rp.party_id.in_(matching)))
            if matching
            else rp.reference == text.upper()
        )
    rows = conn.execute(query.order_by(rp.id.desc()).limit(max(1, min(limit, MAX_ROWS)))).all()
    names = parties.party_names(conn, book_id, sorted({int(r.party_id) for r in rows}))
    return [
        FoundPayment(
            id=int(r.id),
            run_id=int(r.run_id),
            reference=str(r.reference),
            party_id=int(r.party_id),
            party_ref=names.get(int(r.party_id), ("?", "?"))[0],
            party_name=names.get(int(r.party_id), ("?", "?"))[1],
            method=str(r.method),
            currency=str(r.currency),
            amount_minor=int(r.amount_minor),
            status=str(r.status),
            pay_date=r.pay_date if isinstance(r.pay_date, date) else date.fromisoformat(r.pay_date),
            return_code=str(r.return_code or ""),
        )
        for r in rows
    ]
