"""The payment run's selection engine at size: ``items`` due payable items of ``parties``
payees, a fifth of them with a recent bank change, one in a hundred on hold, one in ten
with a credit note, selected by ``remit.payments.selection.select_payments`` and by
``naive_select``, the same rules one item at a time in plain Python (kept only here, as the
yardstick and as a second statement of the rules that the tests compare with the engine).

``python -m bench.payments_selection [ITEMS]`` prints the median of three runs of each and
their ratio; the engine is to take well under 1 s for 100,000 items.
"""

from __future__ import annotations

import random
import sys
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import polars as pl

from bench.timing import median_s
from remit.payments.selection import (
    BANK_SCHEMA,
    BLOCK_SCHEMA,
    ITEM_SCHEMA,
    SCHEME_CURRENCIES,
    select_payments,
)

PAY_DATE = date(2026, 11, 6)
TARGET_S = 1.0
SCHEMES = ("bacs18", "bacs18", "nacha", "pain.001", "cheque")
CURRENCIES = ("GBP", "GBP", "GBP", "USD", "EUR")


def frames(items: int, parties: int, seed: int = 7) -> tuple[pl.DataFrame, ...]:
    """Items, banks and blocks frames of the selection's shapes, the same for a seed."""
    rng = random.Random(seed)
    item_rows = []
    for i in range(items):
        party = rng.randrange(parties)
        credit = rng.random() < 0.1
        item_rows.append(
            (
                i,
                party,
                "2000",
                CURRENCIES[party % 5] if rng.random() < 0.9 else rng.choice(CURRENCIES),
                rng.randrange(1, 50_000) * (1 if credit else -1),
                PAY_DATE + timedelta(days=rng.randrange(-40, 10)),
                PAY_DATE - timedelta(days=60),
                f"SB-{i}",
            )
        )
    bank_rows = []
    for party in range(parties):
        if rng.random() < 0.03:
            continue  # no bank details at all
        scheme = SCHEMES[party % 5]
        bank_rows.append(
            (
                party,
                party * 10,
                scheme,
                SCHEME_CURRENCIES.get(scheme),
                rng.random() > 0.02,
                PAY_DATE - timedelta(days=rng.randrange(1, 150)),
                rng.random() < 0.01,
            )
        )
    block_rows: list[tuple[Any, ...]] = [
        (p, None, "provider_on_hold") for p in range(0, parties, 100)
    ]
    block_rows += [(None, i, "disputed_amount") for i in range(3, items, 500)]
    return (
        pl.DataFrame(item_rows, schema=dict(ITEM_SCHEMA), orient="row"),
        pl.DataFrame(bank_rows, schema=dict(BANK_SCHEMA), orient="row"),
        pl.DataFrame(block_rows, schema=dict(BLOCK_SCHEMA), orient="row"),
    )


def _reason(item: dict[str, Any], bank: dict[str, Any] | None, party_block: Any,
            item_block: Any, pay_date: date, days: int) -> str | None:  # fmt: skip
    block = item_block or party_block
    if block:
        return f"blocked:{block}"
    if bank is not None and bank["pending_change"]:
        return "bank_change_pending"
    changed = bank["last_change_at"] if bank is not None else None
    if changed is not None and changed > pay_date - timedelta(days=days):
        return "bank_change_recent"
    usable = bank is not None and bank["valid"] and bank["currency"] in (None, item["currency"])
    return None if usable else "no_bank_details"


def naive_select(
    items: pl.DataFrame,
    banks: pl.DataFrame,
    blocks: pl.DataFrame,
    pay_date: date = PAY_DATE,
    bank_change_days: int = 30,
) -> tuple[dict[tuple[Any, ...], tuple[int, list[int]]], dict[int, str]]:
    """The payments ({(party, currency, account, method): (amount, item ids)}) and the
    exclusions ({item_id: reason}), one item at a time (one bank row per party)."""
    bank_of = {b["party_id"]: b for b in banks.iter_rows(named=True)}
    party_blocks: dict[int, str] = {}
    item_blocks: dict[int, str] = {}
    for b in blocks.iter_rows(named=True):
        into, key = (
            (item_blocks, b["open_item_id"])
            if b["open_item_id"] is not None
            else (party_blocks, b["party_id"])
        )
        into[key] = min(into.get(key, b["reason"]), b["reason"])
    excluded: dict[int, str] = {}
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for item in items.iter_rows(named=True):
        if item["due_date"] > pay_date or item["open_minor"] == 0:
            continue
        bank = bank_of.get(item["party_id"])
        reason = _reason(
            item,
            bank,
            party_blocks.get(item["party_id"]),
            item_blocks.get(item["item_id"]),
            pay_date,
            bank_change_days,
        )
        if reason:
            excluded[item["item_id"]] = reason
            continue
        assert bank is not None
        key = (item["party_id"], item["currency"], bank["bank_account_id"], bank["scheme"])
        groups[key].append(item)
    payments = {}
    for key, members in groups.items():
        owed = -sum(m["open_minor"] for m in members)
        if owed <= 0:
            excluded.update({m["item_id"]: "credit_balance" for m in members})
        else:
            payments[key] = (owed, sorted(m["item_id"] for m in members))
    return payments, excluded


def run(items: int = 100_000) -> dict[str, float]:
    """Median seconds of the engine and of the naive loop, printed with their ratio."""
    stock, banks, blocks = frames(items, max(items // 5, 1))
    engine_s = median_s(lambda: select_payments(stock, banks, blocks, pay_date=PAY_DATE))
    naive_s = median_s(lambda: naive_select(stock, banks, blocks))
    chosen = select_payments(stock, banks, blocks, pay_date=PAY_DATE)
    print(
        f"select_payments {engine_s:6.3f} s  ({items:,} items, {chosen.payments.height:,} "
        f"payments, {chosen.excluded.height:,} excluded; target < {TARGET_S} s)"
    )
    print(f"naive loop      {naive_s:6.3f} s  (engine {naive_s / engine_s:.1f}x faster)")
    return {"select_payments": engine_s, "naive": naive_s}


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
