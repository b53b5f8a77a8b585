"""A payment run's preview from the book itself: the open payable items due by a pay date,
the payees' bank states and the payment blocks, through the selection engine.

A payee the book pays by cheque (remit.payments.cheques) has one ``cheque`` bank row in
place of its accounts; one with no postal address is left out as ``no_postal_address``.

Only reads: it is what a preparer sees before preparing a run (issue 10, point 2). The
run itself (states, approval, release, postings) is not built yet; see docs/payments-runs.md.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date

import polars as pl
from sqlalchemy import Connection

from remit.access.model import Actor, Permission, require
from remit.errors import Problem, ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.payments import blocks, cheques
from remit.payments.model import CHEQUE, MANUAL_AREA
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
    cost_centres: set[str] | None = None,
    areas: set[str] | None = None,
    bank_change_days: int = BANK_CHANGE_DAYS,
    skip_item_ids: Collection[int] = (),
) -> Selection:
    """What a run paying on ``pay_date`` would pay from the control accounts ``accounts``,
    and every item it would leave out with the reason. ``skip_item_ids`` (the items another
    run holds) are not due for this run: left out before payments are netted. The
    filters (``methods``, ``party_ids``, ``cost_centres``, ``areas``: the source type of the
    items' entries, e.g. ``care_run``) are None for every one."""
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
    if areas is not None:
        items = items.with_columns(
            pl.when(pl.col("source_type") == "")
            .then(pl.lit(MANUAL_AREA))
            .otherwise(pl.col("source_type"))
            .alias("source_type")
        )
    if skip_item_ids:
        items = items.filter(~pl.col("item_id").is_in(list(skip_item_ids)))
    payees = items["party_id"].unique().to_list()
    banks = parties.payee_bank_states(conn, book_id, payees)
    by_cheque = cheques.cheque_payee_ids(conn, book_id, payees)
    unaddressed = cheques.without_postal_address(conn, book_id, by_cheque)
    chosen = select_payments(
        items,
        _cheque_rows(banks, by_cheque, unaddressed),
        blocks.blocks_frame(conn, book_id),
        pay_date=pay_date,
        bank_change_days=bank_change_days,
        methods=methods,
        party_ids=party_ids,
        cost_centres=cost_centres,
        areas=areas,
    )
    if not unaddressed:
        return chosen
    # A cheque payee's invalid row says it has no address, not that it has no bank details.
    reason = (
        pl.when(
            (pl.col("reason") == "no_bank_details") & pl.col("party_id").is_in(sorted(unaddressed))
        )
        .then(pl.lit(cheques.NO_POSTAL_ADDRESS))
        .otherwise(pl.col("reason"))
    )
    return replace(chosen, excluded=chosen.excluded.with_columns(reason.alias("reason")))


def _cheque_rows(banks: pl.DataFrame, by_cheque: set[int], unaddressed: set[int]) -> pl.DataFrame:
    """The bank rows with each cheque payee's replaced by one ``cheque`` row: no account,
    any currency, no change pending; valid only when the cheque can be posted."""
    if not by_cheque:
        return banks
    ids = sorted(by_cheque)
    rows = pl.DataFrame(
        {
            "party_id": ids,
            "bank_account_id": [None] * len(ids),
            "scheme": [CHEQUE] * len(ids),
            "currency": [None] * len(ids),
            "valid": [i not in unaddressed for i in ids],
            "last_change_at": [None] * len(ids),
            "pending_change": [False] * len(ids),
        },
        schema=banks.schema,
    )
    return pl.concat([banks.filter(~pl.col("party_id").is_in(ids)), rows])
