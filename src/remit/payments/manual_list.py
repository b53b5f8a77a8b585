"""The list of suspended and manual payments not yet reconciled, oldest first (issue 10,
point 8).

*Suspended* is kept simple: what an active payment block (a provider on hold, a disputed
item; ``remit.payments.blocks``) keeps out of the runs, per payee and currency, since the
earliest of those blocks. The blocks a pending manual payment sets on its own items are not
suspensions: that payment is listed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl
from sqlalchemy import Connection

from remit.access.model import Actor, Permission, require
from remit.ledger import items as open_items
from remit.parties import service as parties
from remit.payments import blocks
from remit.payments.manual import SOURCE_PREFIX, list_manual_payments
from remit.payments.manual_checks import PAYABLES_ACCOUNT
from remit.payments.model import ManualStatus, Outstanding
from remit.text import DATE_MAX


def _suspended(conn: Connection, book_id: int, accounts: Sequence[str]) -> list[Outstanding]:
    """Per payee and currency, what the active blocks (other than a pending manual
    payment's) keep from the runs, since the earliest of those blocks."""
    found = [
        b for b in blocks.active_blocks(conn, book_id) if not b.source.startswith(SOURCE_PREFIX)
    ]
    if not found:
        return []
    schema = {"key": pl.Int64, "since": pl.Utf8, "reason": pl.Utf8}
    by_party = pl.DataFrame(
        [(b.party_id, b.set_at[:10], b.reason.value) for b in found if b.party_id is not None],
        schema=schema,
        orient="row",
    )
    by_item = pl.DataFrame(
        [
            (b.open_item_id, b.set_at[:10], b.reason.value)
            for b in found
            if b.open_item_id is not None
        ],
        schema=schema,
        orient="row",
    )
    items = open_items.items_frame(conn, book_id, accounts, due_by=DATE_MAX)
    blocked = pl.concat(
        [
            items.join(by_party, left_on="party_id", right_on="key"),
            items.join(by_item, left_on="item_id", right_on="key"),
        ]
    )
    keys = ["party_id", "currency"]
    # An item blocked on its own and through its payee counts once.
    owed = (
        blocked.unique(subset=["item_id"])
        .group_by(keys)
        .agg((-pl.col("open_minor").sum()).alias("owed"), pl.len().alias("items"))
    )
    why = blocked.group_by(keys).agg(
        pl.col("since").min(), pl.col("reason").unique().sort().str.join(", ").alias("reasons")
    )
    grouped = owed.join(why, on=keys).filter(pl.col("owed") > 0)
    refs = parties.party_names(conn, book_id, grouped["party_id"].to_list())
    return [
        Outstanding(
            kind="suspended",
            ref=refs.get(party, ("?", "?"))[0],
            party_id=party,
            currency=currency,
            amount_minor=owed,
            since=date.fromisoformat(since),
            status="blocked",
            detail=f"{count} item(s): {reasons}",
        )
        for party, currency, since, reasons, count, owed in grouped.select(
            "party_id", "currency", "since", "reasons", "items", "owed"
        ).iter_rows()
    ]


def outstanding(
    conn: Connection, actor: Actor, book_id: int, *, accounts: Sequence[str] = (PAYABLES_ACCOUNT,)
) -> list[Outstanding]:
    """Suspended payments and manual payments not yet reconciled (pending or approved),
    oldest first: a manual payment by the day it was paid, a suspension by its block's day."""
    require(actor, book_id, Permission.PAYMENT_READ)
    waiting = [
        m
        for status in (ManualStatus.PENDING, ManualStatus.APPROVED)
        for m in list_manual_payments(conn, actor, book_id, status=status.value, limit=10_000)
    ]
    refs = parties.party_names(conn, book_id, [m.party_id for m in waiting])
    manual = [
        Outstanding(
            kind=m.kind.value,
            ref=f"M{m.id}",
            party_id=m.party_id,
            currency=m.currency,
            amount_minor=m.amount_minor,
            since=m.paid_on,
            status=m.status.value,
            detail=f"{refs.get(m.party_id, ('?', '?'))[0]} {m.method} {m.bank_reference}",
        )
        for m in waiting
    ]
    return sorted(
        [*manual, *_suspended(conn, book_id, accounts)], key=lambda o: (o.since, o.kind, o.ref)
    )
