"""The audit trail: an append-only event for every change of state, chained by SHA-256.

The kernel's, not any package's: every package records here, and this module imports
nothing above the kernel (the actor is anything with a ``username``). Its tables are
``audit_events`` and ``audit_head``; the migrations add the triggers that refuse UPDATE and
DELETE of an event.

Each event's hash covers its own fields and the previous event's hash, and ``audit_head``
holds the newest sequence number and hash. ``verify`` walks the chain and reports an edited
event (its hash no longer matches), a deleted one (a gap in the sequence, a broken link, or
a head that points past the end) and a reordered one (links that no longer follow).

>>> h1 = event_hash(1, "2026-01-01T00:00:00.000000Z", "ana", 1, "book.create", "book", "1",
...                 "null", '{"code":"demo"}', GENESIS_HASH)
>>> len(h1)
64
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from remit.db import is_postgres, metadata
from remit.timestamps import utc_now_text

__all__ = [
    "GENESIS_HASH",
    "AuditActor",
    "canonical",
    "record",
    "record_many",
    "utc_now_text",
    "verify",
]

GENESIS_HASH = "0" * 64
HEAD_ID = 1


_Id = BigInteger().with_variant(Integer, "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=False),
    Column("occurred_at", String(32), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("book_id", Integer),
    Column("action", String(64), nullable=False),
    Column("object_type", String(64), nullable=False),
    Column("object_id", String(100), nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_object", "object_type", "object_id"),
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


class AuditActor(Protocol):
    """Who acts, as the chain records it: only the name (a user, a token's user, a job)."""

    @property
    def username(self) -> str: ...


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, dates and others as text.

    >>> canonical({"b": 1, "a": [2, None]})
    '{"a":[2,null],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(
    seq: int,
    occurred_at: str,
    actor: str,
    book_id: int | None,
    action: str,
    object_type: str,
    object_id: str,
    before: str,
    after: str,
    prev_hash: str,
) -> str:
    """SHA-256 over the event's stored fields and the previous hash."""
    body = [
        seq,
        occurred_at,
        actor,
        book_id,
        action,
        object_type,
        object_id,
        before,
        after,
        prev_hash,
    ]
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def record(
    conn: Connection,
    actor: AuditActor,
    action: str,
    object_type: str,
    object_id: object,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    book_id: int | None = None,
) -> int:
    """Append one event to the chain in the caller's transaction; returns its sequence."""
    return record_many(conn, actor, [(action, object_type, object_id, before, after, book_id)])


def record_many(
    conn: Connection, actor: AuditActor, events: list[tuple[str, str, object, Any, Any, int | None]]
) -> int:
    """Append several events at once (one lock on the head); returns the last sequence."""
    head = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == HEAD_ID)
    if is_postgres(conn):
        head = head.with_for_update()
    row = conn.execute(head).first()
    if row is None:
        conn.execute(insert(audit_head).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
        seq, prev = 0, GENESIS_HASH
    else:
        seq, prev = int(row.seq), str(row.hash)
    now = utc_now_text()
    rows = []
    for action, object_type, object_id, before, after, book_id in events:
        seq += 1
        before_text, after_text = canonical(before), canonical(after)
        digest = event_hash(
            seq,
            now,
            actor.username,
            book_id,
            action,
            object_type,
            str(object_id),
            before_text,
            after_text,
            prev,
        )
        rows.append(
            {
                "id": seq,
                "occurred_at": now,
                "actor": actor.username,
                "book_id": book_id,
                "action": action,
                "object_type": object_type,
                "object_id": str(object_id),
                "before": before_text,
                "after": after_text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    conn.execute(insert(audit_events), rows)
    conn.execute(update(audit_head).where(audit_head.c.id == HEAD_ID).values(seq=seq, hash=prev))
    return seq


@dataclass(frozen=True, slots=True)
class ChainFault:
    seq: int
    kind: str  # edited | deleted | reordered | head
    detail: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    events: int
    faults: tuple[ChainFault, ...]

    @property
    def ok(self) -> bool:
        return not self.faults


def _walk(conn: Connection) -> Iterator[Any]:
    result = conn.execution_options(yield_per=5000).execute(
        select(audit_events).order_by(audit_events.c.id)
    )
    yield from result


def verify(
    conn: Connection, on_progress: Callable[[int, int], None] | None = None, every: int = 2000
) -> VerifyReport:
    """Recompute the chain and report every edited, deleted or reordered event;
    ``on_progress(events checked, events in the chain)`` is called every ``every`` events
    (a background job's progress bar)."""
    total = 0
    if on_progress is not None:
        total = int(conn.execute(select(audit_head.c.seq)).scalar() or 0)
    faults: list[ChainFault] = []
    broken_links: list[tuple[int, str]] = []
    seen_hashes: set[str] = set()
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for ev in _walk(conn):
        count += 1
        seq = int(ev.id)
        if seq != expected_seq:
            faults.append(
                ChainFault(seq, "deleted", f"events {expected_seq} to {seq - 1} are missing")
            )
        recomputed = event_hash(
            seq,
            ev.occurred_at,
            ev.actor,
            ev.book_id,
            ev.action,
            ev.object_type,
            ev.object_id,
            ev.before,
            ev.after,
            ev.prev_hash,
        )
        if recomputed != ev.hash:
            faults.append(ChainFault(seq, "edited", "the stored fields no longer match the hash"))
        if ev.prev_hash != prev_hash:
            broken_links.append((seq, str(ev.prev_hash)))
        seen_hashes.add(str(ev.hash))
        expected_seq, prev_hash = seq + 1, str(ev.hash)
        if on_progress is not None and count % every == 0:
            on_progress(count, max(total, count))
    for seq, link in broken_links:
        if link in seen_hashes or link == GENESIS_HASH:
            faults.append(
                ChainFault(
                    seq, "reordered", "it follows an event that stands elsewhere in the chain"
                )
            )
        else:
            faults.append(ChainFault(seq, "deleted", "the event it follows is missing"))
    head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).first()
    if head is not None and (int(head.seq) != expected_seq - 1 or head.hash != prev_hash):
        faults.append(
            ChainFault(
                int(head.seq),
                "deleted",
                f"the head records event {head.seq} but the chain ends at {expected_seq - 1}",
            )
        )
    faults.sort(key=lambda f: f.seq)
    return VerifyReport(count, tuple(faults))
