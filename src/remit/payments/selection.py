"""The selection engine of a payment run: which due payable items are paid, in which
payments, and why each of the others is not. Pure: Polars frames in, frames out.

Inputs (the frames' columns are in ``ITEM_SCHEMA``, ``BANK_SCHEMA``, ``BLOCK_SCHEMA``):

- *items*: open items of the payables account(s); ``open_minor`` is signed, and on a
  payables account NEGATIVE means we owe the party. An item is in scope when its due date is
  on or before the pay date (and it passes the ``party_ids`` and ``methods`` filters, and
  the ``cost_centres`` and ``areas`` filters on its ``cost_centre`` and ``source_type``
  columns, which the frame needs only when they are used).
- *banks*: per party, its bank account (``bank_account_id``, ``scheme``: ``nacha``,
  ``bacs18``, ``pain.001`` or ``cheque``), whether it is ``valid``, when it was activated
  (``last_change_at``) and whether a change is ``pending_change``. ``currency`` is the
  scheme's currency, null for a cheque (any currency); derived from the scheme when absent.
- *blocks*: active payment blocks, each on a party (``open_item_id`` null) or one item.

Each item in scope that is not paid gets the first reason that applies: ``blocked:<reason>``
(a block on the item, else on its party), ``bank_change_pending``, ``bank_change_recent``
(activated less than ``bank_change_days`` before the pay date), ``no_bank_details`` (no
account, not valid, or its scheme pays another currency than the item's), and last
``credit_balance``: the items left of one party, currency and account are paid together,
and when their net is not owed to the party (net >= 0) none of them is paid.

The rest become one payment per party, currency and bank account: its amount is what we
owe, ``-sum(open_minor)`` (so a partly settled item pays only its open amount, and a credit
note of the party reduces the payment), with its items listed.

>>> from datetime import date
>>> items = pl.DataFrame(
...     {"item_id": [1, 2, 3], "party_id": [7, 7, 8], "account_code": ["2000"] * 3,
...      "currency": ["GBP"] * 3, "open_minor": [-12500, -500, -900],
...      "due_date": [date(2026, 11, 1)] * 3, "item_date": [date(2026, 10, 1)] * 3,
...      "doc_ref": ["SB-1", "SB-2", "SB-3"]}, schema=ITEM_SCHEMA)
>>> banks = pl.DataFrame(
...     {"party_id": [7], "bank_account_id": [70], "scheme": ["bacs18"], "valid": [True],
...      "last_change_at": [date(2026, 1, 5)], "pending_change": [False]})
>>> chosen = select_payments(items, banks, empty_blocks(), pay_date=date(2026, 11, 6))
>>> chosen.payments.select("party_id", "method", "amount_minor", "item_ids").rows()
[(7, 'bacs18', 13000, [1, 2])]
>>> chosen.excluded.select("item_id", "reason").rows()
[(3, 'no_bank_details')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

ITEM_SCHEMA: Mapping[str, pl.DataType] = {
    "item_id": pl.Int64(),
    "party_id": pl.Int64(),
    "account_code": pl.Utf8(),
    "currency": pl.Utf8(),
    "open_minor": pl.Int64(),
    "due_date": pl.Date(),
    "item_date": pl.Date(),
    "doc_ref": pl.Utf8(),
}
BANK_SCHEMA: Mapping[str, pl.DataType] = {
    "party_id": pl.Int64(),
    "bank_account_id": pl.Int64(),
    "scheme": pl.Utf8(),
    "currency": pl.Utf8(),
    "valid": pl.Boolean(),
    "last_change_at": pl.Date(),
    "pending_change": pl.Boolean(),
}
BLOCK_SCHEMA: Mapping[str, pl.DataType] = {
    "party_id": pl.Int64(),
    "open_item_id": pl.Int64(),
    "reason": pl.Utf8(),
}
# The currency each electronic scheme pays in (remit.payments.model.PAYMENT_SCHEMES); a
# cheque is written in the item's currency. Repeated here so the engine needs no registry.
SCHEME_CURRENCIES: Mapping[str, str] = {"nacha": "USD", "bacs18": "GBP", "pain.001": "EUR"}
REASONS = (
    "blocked:<reason>",
    "bank_change_pending",
    "bank_change_recent",
    "no_bank_details",
    "credit_balance",
)
PAYMENT_KEY = ("party_id", "currency", "bank_account_id", "method")


@dataclass(frozen=True, slots=True)
class Selection:
    """What a run would pay: ``payments`` (one row per payment, its ``item_ids``),
    ``included`` (item_id, payment_key, open_minor, doc_ref), ``excluded`` (item_id,
    party_id, currency, open_minor, reason) and ``totals`` (method, currency, payments,
    amount_minor)."""

    payments: pl.DataFrame
    included: pl.DataFrame
    excluded: pl.DataFrame
    totals: pl.DataFrame


def empty_blocks() -> pl.DataFrame:
    """A blocks frame with no block."""
    return pl.DataFrame(schema=dict(BLOCK_SCHEMA))


def _require(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], name: str) -> None:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"the {name} frame lacks column(s) {', '.join(missing)}")


def _banks(banks: pl.DataFrame) -> pl.LazyFrame:
    """Each bank row with its currency, and the party's change state (pending on any row;
    the latest activation of any row)."""
    lazy = banks.lazy()
    if "currency" not in banks.columns:
        currency = pl.col("scheme").replace_strict(
            dict(SCHEME_CURRENCIES), default=None, return_dtype=pl.Utf8
        )
        lazy = lazy.with_columns(currency.alias("currency"))
    return lazy.select(
        "party_id",
        "bank_account_id",
        pl.col("scheme").alias("method"),
        pl.col("currency").alias("bank_currency"),
        pl.col("valid").fill_null(value=False),
        pl.col("pending_change").fill_null(value=False).any().over("party_id").alias("pending"),
        pl.col("last_change_at").max().over("party_id").alias("last_change"),
    )


def _blocks(blocks: pl.DataFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The block reason of each blocked item and of each blocked party (the first by name
    when there are several)."""
    lazy = blocks.lazy()
    on_item = (
        lazy.filter(pl.col("open_item_id").is_not_null())
        .group_by("open_item_id")
        .agg(pl.col("reason").min().alias("item_block"))
        .rename({"open_item_id": "item_id"})
    )
    on_party = (
        lazy.filter(pl.col("open_item_id").is_null() & pl.col("party_id").is_not_null())
        .group_by("party_id")
        .agg(pl.col("reason").min().alias("party_block"))
    )
    return on_item, on_party


def _reason(pay_date: date, bank_change_days: int) -> pl.Expr:
    """The first reason, before the credit balance, that keeps an item out of the run."""
    block = pl.coalesce("item_block", "party_block")
    recent_after = pay_date - timedelta(days=bank_change_days)
    usable = pl.col("valid") & (
        pl.col("bank_currency").is_null() | (pl.col("bank_currency") == pl.col("currency"))
    )
    return (
        pl.when(block.is_not_null())
        .then(pl.lit("blocked:") + block)
        .when(pl.col("pending"))
        .then(pl.lit("bank_change_pending"))
        .when(pl.col("last_change") > pl.lit(recent_after))
        .then(pl.lit("bank_change_recent"))
        .when(~usable.fill_null(value=False))
        .then(pl.lit("no_bank_details"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )


def select_payments(
    items: pl.DataFrame,
    banks: pl.DataFrame,
    blocks: pl.DataFrame,
    *,
    pay_date: date,
    bank_change_days: int = 30,
    methods: set[str] | None = None,
    party_ids: set[int] | None = None,
    cost_centres: set[str] | None = None,
    areas: set[str] | None = None,
) -> Selection:
    """The payments of a run paying on ``pay_date``, its exclusions and totals."""
    _require(items, {k: v for k, v in ITEM_SCHEMA.items() if k != "item_date"}, "items")
    _require(banks, {k: v for k, v in BANK_SCHEMA.items() if k != "currency"}, "banks")
    _require(blocks, BLOCK_SCHEMA, "blocks")
    due = items.lazy().filter(
        (pl.col("due_date") <= pl.lit(pay_date)) & (pl.col("open_minor") != 0)
    )
    if party_ids is not None:
        due = due.filter(pl.col("party_id").is_in(sorted(party_ids)))
    for column, wanted in (("cost_centre", cost_centres), ("source_type", areas)):
        if wanted is not None:
            _require(items, {column: pl.Utf8()}, "items")
            due = due.filter(pl.col(column).is_in(sorted(wanted)))
    on_item, on_party = _blocks(blocks)
    # One bank row per item: a usable one in the item's currency first, then by id.
    usable_first = (
        pl.col("valid")
        & (pl.col("bank_currency").is_null() | (pl.col("bank_currency") == pl.col("currency")))
    ).fill_null(value=False)
    frame = (
        due.select("item_id", "party_id", "currency", "open_minor", "due_date", "doc_ref")
        .join(_banks(banks), on="party_id", how="left")
        .sort(["item_id", usable_first, "bank_account_id"], descending=[False, True, False])
        .unique(subset="item_id", keep="first", maintain_order=True)
        .join(on_item, on="item_id", how="left")
        .join(on_party, on="party_id", how="left")
    )
    if methods is not None:  # an item with no account stays listed as no_bank_details
        frame = frame.filter(pl.col("method").is_null() | pl.col("method").is_in(sorted(methods)))
    frame = frame.with_columns(_reason(pay_date, bank_change_days).alias("reason"))
    group = ["party_id", "currency", "bank_account_id"]
    net = pl.col("open_minor").filter(pl.col("reason").is_null()).sum().over(group)
    decided = frame.with_columns(
        pl.when(pl.col("reason").is_null() & (net >= 0))
        .then(pl.lit("credit_balance"))
        .otherwise(pl.col("reason"))
        .alias("reason")
    ).collect()
    return _result(decided)


def _result(frame: pl.DataFrame) -> Selection:
    paid = frame.filter(pl.col("reason").is_null()).with_columns(
        pl.format(
            "{}/{}/{}",
            "party_id",
            "currency",
            pl.coalesce(pl.col("bank_account_id").cast(pl.Utf8), pl.col("method")),
        ).alias("payment_key")
    )
    payments = (
        paid.group_by(["payment_key", *PAYMENT_KEY])
        .agg(
            (-pl.col("open_minor").sum()).alias("amount_minor"),
            pl.len().cast(pl.Int64).alias("item_count"),
            pl.col("item_id").sort().alias("item_ids"),
            pl.col("due_date").min().alias("earliest_due_date"),
        )
        .sort(["method", "currency", "party_id", "payment_key"])
    )
    totals = (
        payments.group_by(["method", "currency"])
        .agg(
            pl.len().cast(pl.Int64).alias("payments"),
            pl.col("amount_minor").sum().alias("amount_minor"),
        )
        .sort(["method", "currency"])
    )
    excluded = (
        frame.filter(pl.col("reason").is_not_null())
        .select("item_id", "party_id", "currency", "open_minor", "reason")
        .sort("item_id")
    )
    included = paid.select("item_id", "payment_key", "open_minor", "doc_ref").sort("item_id")
    return Selection(payments, included, excluded, totals)
