"""Over- and underpayments of child-months (issue 11, point 6), each with its reason and
posted once.

- An **underpayment** (``amount_minor`` > 0) is owed to the provider: child care expense
  debited, the provider's payable credited, due today, for the next payment run.
- An **overpayment** (< 0) is recovered from the provider's later payments only with its
  written consent on file (`record_consent`: a document of the provider): the provider's
  payable is debited, a credit item that the next payment run sets against its bills
  (``recovery``). Without consent it becomes a **receivable** from the provider, on the
  overpayments receivable account, to be collected (``receivable``).

An adjustment needs the child-month to be posted (before that, calculating again is the
way), and an overpayment cannot take back more than the child-month has been paid with
its adjustments. A recalculation that differs from what was posted
(``childcare_payments.recalculated_net_minor``) is shown with the difference to adjust.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.childcare.store import (
    childcare_adjustments,
    childcare_payments,
    childcare_recovery_consents,
)
from remit.documents import service as documents
from remit.errors import Problem, ValidationFailed
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.money import MAX_AMOUNT_MINOR
from remit.parties import service as parties
from remit.parties.model import PartyRole
from remit.text import text_problem

EXPENSE_ACCOUNT = "5300"  # child care subsidies
PAYABLE_ACCOUNT = "2000"  # provider payables (control)
RECEIVABLE_ACCOUNT = "1300"  # overpayments receivable from providers (control, providers)
REASON_MAX = 300


@dataclass(frozen=True, slots=True)
class Adjustment:
    id: int
    kind: str  # underpayment | recovery | receivable
    amount_minor: int
    entry_id: int


def _provider(conn: Connection, book_id: int, ref: str) -> int:
    found = parties.party_ids_for(conn, book_id, [ref])
    party_id = found.get(ref)
    if party_id is None or not parties.party_has_role(
        conn, book_id, party_id, PartyRole.PROVIDER.value
    ):
        raise ValidationFailed([Problem("provider", f"no provider {ref} in this book", "unknown")])
    return party_id


def record_consent(
    conn: Connection,
    actor: Actor,
    book_id: int,
    provider_ref: str,
    filename: str,
    content: bytes,
    given_on: date,
) -> int:
    """Keep the provider's signed consent to recover overpayments from its later payments
    (the document, on the provider's file); returns the document's id."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    party_id = _provider(conn, book_id, provider_ref)
    document_id = documents.attach(
        conn,
        actor,
        book_id,
        "party",
        party_id,
        filename,
        content,
        title="Consent to recover overpayments from later payments",
        kind="recovery_consent",
    )
    rc = childcare_recovery_consents.c
    conn.execute(
        childcare_recovery_consents.delete().where(
            and_(rc.book_id == book_id, rc.party_id == party_id)
        )
    )
    conn.execute(
        insert(childcare_recovery_consents).values(
            book_id=book_id,
            party_id=party_id,
            document_id=document_id,
            given_on=given_on,
            recorded_by=actor.username,
            recorded_at=audit.utc_now_text(),
        )
    )
    audit.record(
        conn,
        actor,
        "childcare.consent.recorded",
        "party",
        party_id,
        None,
        {"document_id": document_id, "given_on": given_on.isoformat()},
        book_id,
    )
    return document_id


def has_consent(conn: Connection, book_id: int, party_id: int) -> bool:
    rc = childcare_recovery_consents.c
    return (
        conn.execute(
            select(rc.party_id).where(and_(rc.book_id == book_id, rc.party_id == party_id))
        ).first()
        is not None
    )


def adjust(
    conn: Connection,
    actor: Actor,
    book_id: int,
    certificate_ref: str,
    month: date,
    amount_minor: int,
    reason: str,
) -> Adjustment:
    """Record and post an over- (negative) or underpayment (positive) of a posted
    child-month, with its reason."""
    require(actor, book_id, Permission.CHILDCARE_EDIT)
    first = date(month.year, month.month, 1)
    reason = reason.strip()
    problems: list[Problem] = []
    wrong = text_problem(reason, "reason", max_chars=REASON_MAX, required=True)
    if wrong is not None:
        problems.append(wrong)
    if type(amount_minor) is not int or amount_minor == 0 or abs(amount_minor) > MAX_AMOUNT_MINOR:
        problems.append(Problem("amount", "a non-zero amount (+ underpaid, - overpaid)", "amount"))
    cp, ca = childcare_payments.c, childcare_adjustments.c
    paid = conn.execute(
        select(cp.provider_ref, func.sum(cp.net_minor))
        .where(
            and_(
                cp.book_id == book_id,
                cp.month == first,
                cp.certificate_ref == certificate_ref,
                cp.entry_id.is_not(None),
            )
        )
        .group_by(cp.provider_ref)
    ).first()
    if paid is None:
        message = (
            f"{certificate_ref}'s {first:%B %Y} is not posted: calculate the month again "
            "instead of adjusting it"
        )
        problems.append(Problem("certificate_ref", message, "not_posted"))
    if problems:
        raise ValidationFailed(problems)
    assert paid is not None
    adjusted = int(
        conn.execute(
            select(func.coalesce(func.sum(ca.amount_minor), 0)).where(
                and_(
                    ca.book_id == book_id,
                    ca.month == first,
                    ca.certificate_ref == certificate_ref,
                )
            )
        ).scalar_one()
    )
    total = int(paid[1]) + adjusted
    if amount_minor < 0 and -amount_minor > total:
        message = f"more than the child-month has been paid ({total} minor units)"
        raise ValidationFailed([Problem("amount", message, "over_recovery")])
    provider_id = _provider(conn, book_id, str(paid[0]))
    currency = str(ledger.get_book(conn, book_id)["base_currency"])
    day = ledger.first_open_date(conn, actor, book_id, ledger.book_today(conn, book_id))
    kind = (
        "underpayment"
        if amount_minor > 0
        else ("recovery" if has_consent(conn, book_id, provider_id) else "receivable")
    )
    ref = f"ADJ {certificate_ref} {first:%Y-%m}"
    party_account = RECEIVABLE_ACCOUNT if kind == "receivable" else PAYABLE_ACCOUNT
    count = int(
        conn.execute(
            select(func.count()).where(
                and_(
                    ca.book_id == book_id, ca.certificate_ref == certificate_ref, ca.month == first
                )
            )
        ).scalar_one()
    )
    result = posting.post(
        conn,
        actor,
        book_id,
        EntryDraft(
            entry_date=day,
            description=f"Child care {kind} {certificate_ref} {first:%B %Y}: {reason}"[:200],
            idempotency_key=f"childcare:adjust:{first:%Y-%m}:{certificate_ref}:{count + 1}",
            postings=(
                PostingDraft(EXPENSE_ACCOUNT, amount_minor, currency),
                PostingDraft(
                    party_account, -amount_minor, currency, provider_id, reason[:200], doc_ref=ref
                ),
            ),
            source_type="childcare",
            source_id=f"adjust:{first:%Y-%m}:{certificate_ref}",
        ),
    )
    adjustment_id = int(
        conn.execute(
            insert(childcare_adjustments)
            .values(
                book_id=book_id,
                month=first,
                certificate_ref=certificate_ref,
                provider_party_id=provider_id,
                amount_minor=amount_minor,
                kind=kind,
                reason=reason,
                entry_id=result.entry_id,
                created_by=actor.username,
                created_at=audit.utc_now_text(),
            )
            .returning(ca.id)
        ).scalar_one()
    )
    audit.record(
        conn,
        actor,
        "childcare.adjusted",
        "childcare_adjustment",
        adjustment_id,
        None,
        {
            "certificate_ref": certificate_ref,
            "month": f"{first:%Y-%m}",
            "amount_minor": amount_minor,
            "kind": kind,
            "reason": reason,
            "entry_id": result.entry_id,
        },
        book_id,
    )
    return Adjustment(adjustment_id, kind, amount_minor, result.entry_id)


def adjustments(conn: Connection, actor: Actor, book_id: int, month: date) -> list[dict[str, Any]]:
    """A month's adjustments, newest first."""
    require(actor, book_id, Permission.CHILDCARE_READ)
    ca = childcare_adjustments.c
    first = date(month.year, month.month, 1)
    rows = conn.execute(
        select(childcare_adjustments)
        .where(and_(ca.book_id == book_id, ca.month == first))
        .order_by(ca.id.desc())
    ).all()
    return [dict(r._mapping) for r in rows]
