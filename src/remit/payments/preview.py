"""A payment run's preview from the book itself: the open payable items due by a pay date,
the payees' bank states and the payment blocks, through the selection engine.

Only reads: it is what a preparer sees before preparing a run (issue 10, point 2). The
run itself (states, approval, release, postings) is not built yet; see docs/payments-runs.md.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import polars as pl
from sqlalchemy import Connection

from remit.access.model import Actor, Permission, require
from remit.errors import Problem, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.payments import blocks
from remit.payments.selection import Selection, select_payments

BANK_CHANGE_DAYS = 30


def preview_run(
    conn: Connection,
    actor: Actor,
    book_id: int,
    pay_date: date,
    *,
    accounts: Sequence[str] = ("2000",),
    methods: set[str] | None = None,
    party_ids: set[int] | None = None,
    bank_change_days: int = BANK_CHANGE_DAYS,
    skip_item_ids: Collection[int] = (),
) -> Selection:
    """What a run paying on ``pay_date`` would pay from the control accounts ``accounts``,
    and every item it would leave out with the reason. ``skip_item_ids`` (the items another
    run holds) are not due for this run: left out before payments are netted."""
    require(actor, book_id, Permission.LEDGER_READ)
    require(actor, book_id, Permission.PARTY_READ)
    chart = {a.code: a for a in ledger.list_accounts(conn, book_id)}
    problems = [
        Problem("account", f"{code!r} is not a control account of the book", "account")
        for code in accounts
        if code not in chart or not chart[code].is_control
    ]
    if problems:
        raise ValidationFailed(problems)
    items = open_items.items_frame(conn, book_id, list(accounts), due_by=pay_date)
    if skip_item_ids:
        items = items.filter(~pl.col("item_id").is_in(list(skip_item_ids)))
    banks = parties.payee_bank_states(conn, book_id, items["party_id"].unique().to_list())
    return select_payments(
        items,
        banks,
        blocks.blocks_frame(conn, book_id),
        pay_date=pay_date,
        bank_change_days=bank_change_days,
        methods=methods,
        party_ids=party_ids,
    )
