"""Emitting events (the outbox) and the webhooks that deliver them.

``emit`` runs in the caller's transaction: the event and its deliveries are written with the
change they describe, or not at all. Nothing is stored when no active subscription of the
book wants the event type, so a book without webhooks pays one indexed read per emit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select

from remit.db import insert_id
from remit.events.store import events, webhook_deliveries, webhook_subscriptions
from remit.ledger import audit

EVENT_TYPES = (
    "entry.posted", "case.created", "case.transitioned", "case.assigned", "case.escalated",
    "case.commented", "party.created", "party.bank_change.requested",
    "party.bank_change.approved", "party.bank_change.rejected", "job.finished",
    "correspondence.sent",
)


def wants(event_types: str, event_type: str) -> bool:
    """Whether a subscription's space-separated list takes this event type.

    >>> wants("case.created entry.posted", "entry.posted"), wants("*", "job.finished")
    (True, True)
    >>> wants("case.*", "case.escalated"), wants("case.*", "entry.posted")
    (True, False)
    """
    for pattern in event_types.split():
        if pattern in ("*", event_type):
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def emit(conn: Connection, book_id: int, event_type: str, object_type: str,
         object_id: object, payload: Mapping[str, Any]) -> int | None:
    """Record an event for the book's webhooks; returns its id, or None if nobody listens."""
    ws = webhook_subscriptions.c
    subscribers = [int(r.id) for r in conn.execute(
        select(ws.id, ws.event_types).where(and_(ws.book_id == book_id, ws.active.is_(True))))
        if wants(r.event_types, event_type)]
    if not subscribers:
        return None
    now = audit.utc_now_text()
    body = {"type": event_type, "book_id": book_id, "object": {"type": object_type,
                                                               "id": str(object_id)},
            "occurred_at": now, "data": dict(payload)}
    event_id = insert_id(conn, insert(events).values(
        book_id=book_id, event_type=event_type, object_type=object_type,
        object_id=str(object_id), payload=audit.canonical(body), occurred_at=now))
    conn.execute(insert(webhook_deliveries), [
        {"subscription_id": sid, "event_id": event_id, "status": "pending", "attempts": 0,
         "next_attempt_at": now, "updated_at": now} for sid in subscribers])
    return event_id


def utc_now() -> datetime:
    return datetime.now(UTC)
