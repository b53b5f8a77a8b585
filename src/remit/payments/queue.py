"""The payments work of a book for the work queue: runs waiting for someone's approval (never
their own) and approved runs waiting for release, each offered only to those who may act."""

from __future__ import annotations

from sqlalchemy import Connection, and_, select

from remit.access.model import Actor, Permission
from remit.calendar import book_locale, local_date
from remit.cases.model import QueueItem, QueueSection
from remit.ledger import service as ledger
from remit.money import Money, format_money
from remit.payments.model import RunStatus
from remit.payments.store import payment_runs

SHOWN = 20


def queue_sections(conn: Connection, actor: Actor, book_id: int) -> list[QueueSection]:
    """Runs this person may approve or release now (none for one who may do neither)."""
    can_approve = actor.can(book_id, Permission.PAYMENT_APPROVE)
    can_release = actor.can(book_id, Permission.PAYMENT_RELEASE)
    if not (can_approve or can_release):
        return []
    book = ledger.get_book(conn, book_id)
    code, locale = str(book["code"]), book_locale(book)
    pr = payment_runs.c
    mine = actor.username
    found = []
    if can_approve:
        waiting = select(payment_runs).where(
            and_(
                pr.book_id == book_id,
                pr.status == RunStatus.PREPARED.value,
                pr.prepared_by != mine,
                (pr.approved_by.is_(None)) | (pr.approved_by != mine),
            )
        )
        found.append(
            _section(conn, "Payment runs waiting for your approval", waiting, code, locale)
        )
    if can_release:
        ready = select(payment_runs).where(
            and_(
                pr.book_id == book_id,
                pr.status == RunStatus.APPROVED.value,
                pr.prepared_by != mine,
            )
        )
        found.append(_section(conn, "Approved payment runs to release", ready, code, locale))
    return found


def _section(conn: Connection, title: str, query: object, code: str, locale: str) -> QueueSection:
    pr = payment_runs.c
    rows = list(conn.execute(query.order_by(pr.pay_date, pr.id).limit(SHOWN + 1)))  # type: ignore[attr-defined]
    items = tuple(
        QueueItem(
            f"Run #{r.id}, paying on {local_date(r.pay_date, locale)}",
            f"/b/{code}/payments/runs/{r.id}",
            f"{int(r.payment_count):,} payment(s), "
            f"{format_money(Money(int(r.total_minor), str(r.currency)), locale)}"
            + (f" + {r.other_currencies}" if r.other_currencies else "")
            + (f"; first approval by {r.approved_by}" if r.approved_by else ""),
        )
        for r in rows[:SHOWN]
    )
    note = f"The first {SHOWN}; the payments page lists them all." if len(rows) > SHOWN else ""
    return QueueSection(title, items, note)
