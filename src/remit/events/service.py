"""Emitting events (the outbox) and managing the webhooks that deliver them.

``emit`` runs in the caller's transaction: the event and its deliveries are written with the
change they describe, or not at all. Nothing is stored when no active subscription of the
book wants the event type, so a book without webhooks pays one indexed read per emit (and
``emit_many`` one read for a whole batch).

A subscription is a receiver's URL, the event types it wants and a signing secret. The
secret is shown once, when the subscription is made or its secret rotated, and is kept
encrypted by the installation's vault (it must be read back to sign). The POSTs themselves
are made by ``remit.events.delivery``; the delivery log is read here.

Big batches emit one summary event instead of one per object: a ``post_entries`` call that
posts more than ``BATCH_EVENT_LIMIT`` entries emits ``entries.posted`` (not
``entry.posted``), and ``create_parties`` emits ``parties.created`` (not ``party.created``).
A receiver that wants every posting subscribes to both (or to ``*``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.events.delivery import AddressRefused, AddressUnresolved, checked_target
from remit.events.rules import (
    MAX_DESCRIPTION_LENGTH,
    DeliveryStatus,
    event_type_problems,
    new_secret,
    url_problems,
)
from remit.events.store import (
    events,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from remit.secrets import Vault
from remit.text import text_problem

EVENT_TYPES = (
    "entry.posted",
    "entries.posted",
    "case.created",
    "case.transitioned",
    "case.assigned",
    "case.escalated",
    "case.commented",
    "party.created",
    "parties.created",
    "party.bank_change.requested",
    "party.bank_change.approved",
    "party.bank_change.rejected",
    "job.finished",
    "correspondence.sent",
)
# A call that makes more objects than this emits one summary event instead of one each.
BATCH_EVENT_LIMIT = 100
MAX_PAGE = 500


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


# ---------------------------------------------------------------- emitting


def emit(
    conn: Connection,
    book_id: int,
    event_type: str,
    object_type: str,
    object_id: object,
    payload: Mapping[str, Any],
) -> int | None:
    """Record an event for the book's webhooks; returns its id, or None if nobody listens."""
    ids = emit_many(conn, book_id, event_type, object_type, [(object_id, payload)])
    return ids[0] if ids else None


def emit_many(
    conn: Connection,
    book_id: int,
    event_type: str,
    object_type: str,
    items: Iterable[tuple[object, Mapping[str, Any]]],
) -> list[int]:
    """Record several events of one type with one read of the subscriptions.

    ``items`` are (object id, payload) pairs, iterated only when someone listens: pass a
    generator and a book without webhooks never builds the payloads. Returns the event ids.
    """
    ws = webhook_subscriptions.c
    subscribers = [
        int(r.id)
        for r in conn.execute(
            select(ws.id, ws.event_types).where(and_(ws.book_id == book_id, ws.active.is_(True)))
        )
        if wants(r.event_types, event_type)
    ]
    if not subscribers:
        return []
    now = audit.utc_now_text()
    rows = [
        {
            "book_id": book_id,
            "event_type": event_type,
            "object_type": object_type,
            "object_id": str(object_id),
            "occurred_at": now,
            "payload": audit.canonical(
                {
                    "type": event_type,
                    "book_id": book_id,
                    "object": {"type": object_type, "id": str(object_id)},
                    "occurred_at": now,
                    "data": dict(payload),
                }
            ),
        }
        for object_id, payload in items
    ]
    if not rows:
        return []
    ids = [
        int(i)
        for i in conn.execute(
            insert(events).returning(events.c.id, sort_by_parameter_order=True), rows
        ).scalars()
    ]
    conn.execute(
        insert(webhook_deliveries),
        [
            {
                "subscription_id": sid,
                "event_id": event_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "updated_at": now,
            }
            for event_id in ids
            for sid in subscribers
        ],
    )
    return ids


# ---------------------------------------------------------------- subscriptions


def create_subscription(
    conn: Connection,
    actor: Actor,
    vault: Vault,
    book_id: int,
    url: str,
    event_types: list[str],
    description: str = "",
    receiver: list[Problem] | None = None,
) -> tuple[int, str]:
    """Subscribe a receiver's URL to event types; returns (id, secret).

    The secret is returned this once and kept only encrypted: give it to the receiver, which
    checks each delivery's ``Remit-Signature`` with it. Event types are names from
    ``EVENT_TYPES``, ``*`` for all, or ``prefix.*`` (``case.*``). Plain ``http://`` is
    accepted; in production use ``https://``, or the events travel readable by anyone on
    the way. A host that is or resolves to an internal address is refused, here and again
    at each delivery, unless ``REMIT_WEBHOOKS_ALLOW_PRIVATE=1`` (see
    ``delivery.checked_target``); a name that does not resolve yet is accepted here (its
    deliveries fail until it does). The look-up is the outside world: a caller holding a
    write transaction passes ``receiver``, what ``receiver_problems(url)`` said before the
    transaction began, so that no lock waits on a slow resolver.
    """
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    patterns = list(dict.fromkeys(t.strip() for t in event_types if t.strip()))
    if receiver is None:
        receiver = receiver_problems(url)
    problems = receiver + event_type_problems(patterns, EVENT_TYPES)
    found = text_problem(description.strip(), "description", max_chars=MAX_DESCRIPTION_LENGTH)
    problems += [found] if found is not None else []
    if problems:
        raise ValidationFailed(problems)
    secret = new_secret()
    values = {
        "book_id": book_id,
        "url": url,
        "event_types": " ".join(patterns),
        "secret_ciphertext": vault.encrypt_json({"secret": secret}),
        "active": True,
        "description": description.strip(),
        "created_by": actor.username,
        "created_at": audit.utc_now_text(),
    }
    subscription_id = insert_id(conn, insert(webhook_subscriptions).values(**values))
    audit.record(
        conn,
        actor,
        "webhook.create",
        "webhook_subscription",
        subscription_id,
        None,
        {"url": url, "event_types": patterns, "description": values["description"], "active": True},
        book_id,
    )
    return subscription_id, secret


def receiver_problems(url: str) -> list[Problem]:
    """What is wrong with a receiver's URL: its form, then its host, which may not be or
    resolve to an internal address (one look-up; no database)."""
    problems = url_problems(url)
    if problems:
        return problems
    try:
        checked_target(url)
    except AddressUnresolved:
        return []
    except AddressRefused as refused:
        return [Problem("url", str(refused).removeprefix("refused: "), "url_address")]
    return []


def _subscription(conn: Connection, book_id: int, subscription_id: int) -> Any:
    ws = webhook_subscriptions.c
    row = conn.execute(
        select(webhook_subscriptions).where(and_(ws.id == subscription_id, ws.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id} in this book")
    return row


def get_subscription(
    conn: Connection, actor: Actor, book_id: int, subscription_id: int
) -> dict[str, Any]:
    """One subscription of the book (never its secret)."""
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    row = _subscription(conn, book_id, subscription_id)
    return {
        "id": int(row.id),
        "url": row.url,
        "event_types": str(row.event_types).split(),
        "active": bool(row.active),
        "description": row.description,
    }


def list_subscriptions(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    """The book's subscriptions (never their secrets), with counts of pending and failed
    deliveries."""
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    ws, wd = webhook_subscriptions.c, webhook_deliveries.c
    counts: dict[tuple[int, str], int] = {
        (int(r.subscription_id), r.status): int(r.n)
        for r in conn.execute(
            select(wd.subscription_id, wd.status, func.count().label("n"))
            .join(webhook_subscriptions, ws.id == wd.subscription_id)
            .where(
                and_(
                    ws.book_id == book_id,
                    wd.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
                )
            )
            .group_by(wd.subscription_id, wd.status)
        )
    }
    rows = conn.execute(
        select(
            ws.id, ws.url, ws.event_types, ws.active, ws.description, ws.created_by, ws.created_at
        )
        .where(ws.book_id == book_id)
        .order_by(ws.id)
    ).mappings()
    return [
        {
            **row,
            "event_types": row["event_types"].split(),
            "active": bool(row["active"]),
            "pending": counts.get((row["id"], DeliveryStatus.PENDING.value), 0),
            "failed": counts.get((row["id"], DeliveryStatus.FAILED.value), 0),
        }
        for row in rows
    ]


def set_active(
    conn: Connection, actor: Actor, book_id: int, subscription_id: int, active: bool
) -> None:
    """Pause or resume a subscription. A paused one gets no new events, and its pending
    deliveries wait (they are sent when it is resumed)."""
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    row = _subscription(conn, book_id, subscription_id)
    if bool(row.active) == active:
        return
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(active=active)
    )
    audit.record(
        conn,
        actor,
        "webhook.activate" if active else "webhook.deactivate",
        "webhook_subscription",
        subscription_id,
        {"active": bool(row.active)},
        {"active": active},
        book_id,
    )


def rotate_secret(
    conn: Connection, actor: Actor, vault: Vault, book_id: int, subscription_id: int
) -> str:
    """Replace the signing secret; returns the new one (shown this once).

    Deliveries already being sent keep the old signature; every attempt that starts after
    the commit is signed with the new secret.
    """
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    _subscription(conn, book_id, subscription_id)
    secret = new_secret()
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(secret_ciphertext=vault.encrypt_json({"secret": secret}))
    )
    audit.record(
        conn,
        actor,
        "webhook.rotate_secret",
        "webhook_subscription",
        subscription_id,
        None,
        {"secret": "rotated"},
        book_id,
    )
    return secret


# ---------------------------------------------------------------- the delivery log


def list_deliveries(
    conn: Connection,
    actor: Actor,
    book_id: int,
    subscription_id: int,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """A page of a subscription's deliveries, newest first: the event, its object, the
    status, how many attempts, the last answer and (while pending) when the next is due.
    Pass the last id of a page as ``before_id`` for the next page."""
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    _subscription(conn, book_id, subscription_id)
    wd, ev = webhook_deliveries.c, events.c
    query = (
        select(
            wd.id,
            wd.event_id,
            ev.event_type,
            ev.object_type,
            ev.object_id,
            ev.occurred_at,
            wd.status,
            wd.attempts,
            wd.last_status_code,
            wd.last_error,
            wd.next_attempt_at,
            wd.updated_at,
        )
        .join(events, ev.id == wd.event_id)
        .where(wd.subscription_id == subscription_id)
    )
    if before_id is not None:
        query = query.where(wd.id < before_id)
    rows = conn.execute(query.order_by(wd.id.desc()).limit(max(1, min(limit, MAX_PAGE)))).mappings()
    return [
        {
            **row,
            "next_attempt_at": row["next_attempt_at"]
            if row["status"] == DeliveryStatus.PENDING.value
            else None,
        }
        for row in rows
    ]


def _delivery(conn: Connection, book_id: int, delivery_id: int) -> Any:
    wd, ws = webhook_deliveries.c, webhook_subscriptions.c
    row = conn.execute(
        select(wd.id, wd.status, wd.attempts, wd.subscription_id, ws.active)
        .join(webhook_subscriptions, ws.id == wd.subscription_id)
        .where(and_(wd.id == delivery_id, ws.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id} in this book")
    return row


def delivery_attempts(
    conn: Connection, actor: Actor, book_id: int, delivery_id: int
) -> list[dict[str, Any]]:
    """Every attempt of a delivery, oldest first: when, the status code or the error, and
    how long the receiver took."""
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    _delivery(conn, book_id, delivery_id)
    wa = webhook_attempts.c
    rows = conn.execute(
        select(wa.id, wa.at, wa.status_code, wa.error, wa.duration_ms)
        .where(wa.delivery_id == delivery_id)
        .order_by(wa.id)
    ).mappings()
    return [dict(row) for row in rows]


def redeliver(conn: Connection, actor: Actor, book_id: int, delivery_id: int) -> None:
    """Send a failed delivery once more, at the next run of the workers.

    It is one more attempt, not a new schedule: if it fails too, the delivery is failed
    again (and can be sent again by hand).
    """
    require(actor, book_id, Permission.WEBHOOKS_MANAGE)
    row = _delivery(conn, book_id, delivery_id)
    if row.status != DeliveryStatus.FAILED.value:
        raise Conflict(
            f"webhook delivery {delivery_id} is {row.status}; only a failed delivery is sent again"
        )
    if not row.active:
        raise Conflict(f"webhook subscription {row.subscription_id} is paused; resume it first")
    now = audit.utc_now_text()
    wd = webhook_deliveries.c
    conn.execute(
        update(webhook_deliveries)
        .where(and_(wd.id == delivery_id, wd.status == DeliveryStatus.FAILED.value))
        .values(status=DeliveryStatus.PENDING.value, next_attempt_at=now, updated_at=now)
    )
    audit.record(
        conn,
        actor,
        "webhook.redeliver",
        "webhook_delivery",
        delivery_id,
        {"status": row.status, "attempts": int(row.attempts)},
        {"status": DeliveryStatus.PENDING.value},
        book_id,
    )
