"""Payment blocks: a reason, set by any package on a party or on one open item, that keeps
it out of payment runs until someone lifts it.

A block names what set it (``source``: ``care.hold:12``, or empty when a person did) so a
package can lift its own blocks. Setting a block that is already active on the same target
with the same reason returns the one there is (idempotent: a package may say it again).
Setting and lifting need ``party.edit``; both are audited.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id
from remit.errors import NotFound, Problem, ValidationFailed
from remit.ledger import items as open_items
from remit.parties import service as parties
from remit.payments.model import BlockReason, PaymentBlock
from remit.payments.store import payment_blocks
from remit.text import ID_MAX, text_problem

NOTE_MAX = 500
BLOCK_SCHEMA = {"party_id": pl.Int64, "open_item_id": pl.Int64, "reason": pl.Utf8}


def _target(party_id: int | None, open_item_id: int | None) -> str:
    return f"party:{party_id}" if open_item_id is None else f"item:{open_item_id}"


def _problems(
    party_id: int | None, open_item_id: int | None, reason: str, note: str, source: str
) -> list[Problem]:
    problems = []
    if (party_id is None) == (open_item_id is None):
        message = "a block is on a party or on one open item: give exactly one"
        problems.append(Problem("party_id", message, "target"))
    if reason not in BlockReason.__members__.values():
        known = ", ".join(r.value for r in BlockReason)
        problems.append(Problem("reason", f"unknown reason {reason!r} (one of {known})", "reason"))
    for value, name, limit in ((note, "note", NOTE_MAX), (source, "source", ID_MAX)):
        found = text_problem(value, name, max_chars=limit)
        problems += [found] if found is not None else []
    return problems


def _active(conn: Connection, book_id: int, target: str, reason: str | None) -> list[Any]:
    pb = payment_blocks.c
    query = select(payment_blocks).where(
        and_(pb.book_id == book_id, pb.target == target, pb.lifted_at.is_(None))
    )
    if reason is not None:
        query = query.where(pb.reason == reason)
    return list(conn.execute(query.order_by(pb.id)))


def set_block(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    party_id: int | None = None,
    open_item_id: int | None = None,
    reason: str,
    note: str,
    source: str = "",
) -> int:
    """Block a party of the book, or one open item, from payment runs; returns the block's
    id (the active one already there when the same block is set again)."""
    require(actor, book_id, Permission.PARTY_EDIT)
    note = note.strip()
    problems = _problems(party_id, open_item_id, reason, note, source)
    if problems:
        raise ValidationFailed(problems)
    if party_id is not None and party_id not in parties.party_names(conn, book_id, [party_id]):
        message = f"no party {party_id} in this book"
        raise ValidationFailed([Problem("party_id", message, "unknown_party")])
    if open_item_id is not None and not open_items.item_in_book(conn, book_id, open_item_id):
        message = f"no open item {open_item_id} in this book"
        raise ValidationFailed([Problem("open_item_id", message, "unknown_item")])
    target = _target(party_id, open_item_id)
    existing = _active(conn, book_id, target, reason)
    if existing:
        return int(existing[0].id)
    values = {
        "book_id": book_id,
        "party_id": party_id,
        "open_item_id": open_item_id,
        "target": target,
        "reason": reason,
        "note": note,
        "source": source,
        "set_by": actor.username,
        "set_at": audit.utc_now_text(),
    }
    try:
        with conn.begin_nested():  # another package may set the same block between the two
            block_id = insert_id(conn, insert(payment_blocks).values(**values))
    except IntegrityError:
        existing = _active(conn, book_id, target, reason)
        if not existing:
            raise
        return int(existing[0].id)
    after = {k: v for k, v in values.items() if k not in ("book_id", "set_at")}
    audit.record(conn, actor, "payments.block.set", "payment_block", block_id, None, after, book_id)
    return block_id


def lift_block(
    conn: Connection,
    actor: Actor,
    book_id: int,
    *,
    party_id: int | None = None,
    open_item_id: int | None = None,
    reason: str | None = None,
    note: str = "",
) -> list[int]:
    """Lift the active blocks of a party or an item (of one reason, or all); returns the
    ids lifted, or NotFound when there is none."""
    require(actor, book_id, Permission.PARTY_EDIT)
    note = note.strip()
    problems = _problems(party_id, open_item_id, reason or BlockReason.OTHER, note, "")
    if problems:
        raise ValidationFailed(problems)
    target = _target(party_id, open_item_id)
    found = _active(conn, book_id, target, reason)
    if not found:
        what = f" for {reason}" if reason else ""
        raise NotFound(f"no active payment block on {target}{what} in this book")
    now = audit.utc_now_text()
    ids = [int(r.id) for r in found]
    conn.execute(
        update(payment_blocks)
        .where(payment_blocks.c.id.in_(ids))
        .values(lifted_by=actor.username, lifted_at=now)
    )
    audit.record_many(
        conn,
        actor,
        [
            (
                "payments.block.lift",
                "payment_block",
                r.id,
                {"target": r.target, "reason": r.reason, "active": True},
                {"active": False, "note": note},
                book_id,
            )
            for r in found
        ],
    )
    return ids


def _block(row: Any) -> PaymentBlock:
    return PaymentBlock(
        id=int(row.id),
        book_id=int(row.book_id),
        party_id=None if row.party_id is None else int(row.party_id),
        open_item_id=None if row.open_item_id is None else int(row.open_item_id),
        reason=BlockReason(row.reason),
        note=str(row.note),
        source=str(row.source),
        set_by=str(row.set_by),
        set_at=str(row.set_at),
        lifted_by=row.lifted_by,
        lifted_at=row.lifted_at,
    )


def active_blocks(conn: Connection, book_id: int) -> list[PaymentBlock]:
    """The book's active blocks, oldest first."""
    pb = payment_blocks.c
    rows = conn.execute(
        select(payment_blocks)
        .where(and_(pb.book_id == book_id, pb.lifted_at.is_(None)))
        .order_by(pb.id)
    )
    return [_block(r) for r in rows]


def blocks_frame(conn: Connection, book_id: int) -> pl.DataFrame:
    """The active blocks as the selection engine reads them: party_id, open_item_id and
    reason (one of the two ids null)."""
    pb = payment_blocks.c
    rows = conn.execute(
        select(pb.party_id, pb.open_item_id, pb.reason).where(
            and_(pb.book_id == book_id, pb.lifted_at.is_(None))
        )
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=BLOCK_SCHEMA, orient="row")
