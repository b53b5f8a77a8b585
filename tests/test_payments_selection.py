"""The selection engine of a payment run: which due items are paid, in which payments, and
why each of the others is not. Pure frames, no store: each test is one small story."""

from __future__ import annotations

import time
from datetime import date, timedelta

import polars as pl
import pytest

from remit.payments.selection import (
    BANK_SCHEMA,
    BLOCK_SCHEMA,
    ITEM_SCHEMA,
    empty_blocks,
    select_payments,
)

PAY = date(2026, 11, 6)
LONG_AGO = date(2026, 1, 5)


def items(*rows: tuple[int, int, str, int] | tuple[int, int, str, int, date]) -> pl.DataFrame:
    """Items as (item_id, party_id, currency, open_minor[, due_date]); due 1 November."""
    full = [
        {
            "item_id": r[0],
            "party_id": r[1],
            "account_code": "2000",
            "currency": r[2],
            "open_minor": r[3],
            "due_date": r[4] if len(r) > 4 else date(2026, 11, 1),  # type: ignore[misc]
            "item_date": date(2026, 10, 1),
            "doc_ref": f"SB-{r[0]}",
        }
        for r in rows
    ]
    return pl.DataFrame(full, schema=dict(ITEM_SCHEMA))


def bank(
    party_id: int,
    scheme: str = "bacs18",
    *,
    account: int | None = None,
    valid: bool = True,
    changed: date | None = LONG_AGO,
    pending: bool = False,
    currency: str | None = "",
) -> dict[str, object]:
    currencies = {"nacha": "USD", "bacs18": "GBP", "pain.001": "EUR", "cheque": None}
    return {
        "party_id": party_id,
        "bank_account_id": account if account is not None else party_id * 10,
        "scheme": scheme,
        "currency": currencies[scheme] if currency == "" else currency,
        "valid": valid,
        "last_change_at": changed,
        "pending_change": pending,
    }


def banks(*rows: dict[str, object]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=dict(BANK_SCHEMA))


def blocks(*rows: tuple[int | None, int | None, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=dict(BLOCK_SCHEMA), orient="row")


def reasons(selection) -> dict[int, str]:
    return dict(selection.excluded.select("item_id", "reason").rows())


def test_several_items_of_a_payee_are_one_payment_listing_each():
    chosen = select_payments(
        items((1, 7, "GBP", -12500), (2, 7, "GBP", -500), (3, 7, "GBP", 2000)),
        banks(bank(7)),
        empty_blocks(),
        pay_date=PAY,
    )
    assert chosen.payments.select(
        "party_id", "currency", "bank_account_id", "method", "amount_minor", "item_count"
    ).rows() == [(7, "GBP", 70, "bacs18", 11000, 3)]
    assert chosen.payments["item_ids"].to_list() == [[1, 2, 3]]
    key = chosen.payments["payment_key"][0]
    assert chosen.included.select("item_id", "payment_key").rows() == [(1, key), (2, key), (3, key)]
    assert chosen.excluded.is_empty()


def test_a_partly_paid_item_pays_only_its_open_amount():
    # SB-1 was 12,500 and 10,000 of it is already settled: 2,500 stays open.
    chosen = select_payments(
        items((1, 7, "GBP", -2500)), banks(bank(7)), empty_blocks(), pay_date=PAY
    )
    assert chosen.payments["amount_minor"].to_list() == [2500]


def test_items_not_yet_due_are_out_of_scope_not_excluded():
    later = PAY + timedelta(days=1)
    chosen = select_payments(
        items((1, 7, "GBP", -100, PAY), (2, 7, "GBP", -900, later)),
        banks(bank(7)),
        empty_blocks(),
        pay_date=PAY,
    )
    assert chosen.payments["item_ids"].to_list() == [[1]]
    assert chosen.excluded.is_empty()


def test_two_currencies_of_one_party_are_two_payments():
    # Party 7 is paid by cheque, which is written in any currency.
    chosen = select_payments(
        items((1, 7, "GBP", -100), (2, 7, "EUR", -300), (3, 7, "GBP", -50)),
        banks(bank(7, "cheque", account=None)),
        empty_blocks(),
        pay_date=PAY,
    )
    assert sorted(chosen.payments.select("currency", "amount_minor", "item_count").rows()) == [
        ("EUR", 300, 1),
        ("GBP", 150, 2),
    ]
    assert chosen.payments["payment_key"].n_unique() == 2


def test_a_scheme_of_another_currency_is_no_bank_details():
    chosen = select_payments(
        items((1, 7, "GBP", -100), (2, 7, "EUR", -300)),
        banks(bank(7, "pain.001")),
        empty_blocks(),
        pay_date=PAY,
    )
    assert reasons(chosen) == {1: "no_bank_details"}
    assert chosen.payments.select("method", "currency", "amount_minor").rows() == [
        ("pain.001", "EUR", 300)
    ]


def test_no_account_or_an_invalid_one_is_no_bank_details():
    chosen = select_payments(
        items((1, 7, "GBP", -100), (2, 8, "GBP", -200)),
        banks(bank(8, valid=False)),
        empty_blocks(),
        pay_date=PAY,
    )
    assert reasons(chosen) == {1: "no_bank_details", 2: "no_bank_details"}
    assert chosen.payments.is_empty() and chosen.totals.is_empty()


def test_a_recent_or_pending_bank_change_keeps_the_party_out():
    chosen = select_payments(
        items((1, 7, "GBP", -100), (2, 8, "GBP", -200), (3, 9, "GBP", -300)),
        banks(
            bank(7, changed=PAY - timedelta(days=29)),  # inside 30 days
            bank(8, changed=PAY - timedelta(days=30)),  # exactly 30: paid
            bank(9, pending=True),
        ),
        empty_blocks(),
        pay_date=PAY,
    )
    assert reasons(chosen) == {1: "bank_change_recent", 3: "bank_change_pending"}
    assert chosen.payments["party_id"].to_list() == [8]
    shorter = select_payments(
        items((1, 7, "GBP", -100)),
        banks(bank(7, changed=PAY - timedelta(days=29))),
        empty_blocks(),
        pay_date=PAY,
        bank_change_days=10,
    )
    assert shorter.payments["item_ids"].to_list() == [[1]]


def test_a_pending_change_with_no_account_yet_says_pending():
    chosen = select_payments(
        items((1, 7, "GBP", -100)),
        banks(bank(7, valid=False, changed=None, pending=True) | {"bank_account_id": None}),
        empty_blocks(),
        pay_date=PAY,
    )
    assert reasons(chosen) == {1: "bank_change_pending"}


def test_blocks_on_a_party_or_one_item():
    chosen = select_payments(
        items((1, 7, "GBP", -100), (2, 7, "GBP", -200), (3, 8, "GBP", -300), (4, 8, "GBP", -5)),
        banks(bank(7), bank(8)),
        blocks((7, None, "provider_on_hold"), (None, 3, "disputed_amount")),
        pay_date=PAY,
    )
    assert reasons(chosen) == {
        1: "blocked:provider_on_hold",
        2: "blocked:provider_on_hold",
        3: "blocked:disputed_amount",
    }
    assert chosen.payments.select("party_id", "amount_minor").rows() == [(8, 5)]


def test_the_first_reason_that_applies_is_given():
    # Party 7 is blocked AND has a pending change AND no valid account: blocked wins.
    # Party 8 has a pending change AND a recent one AND a wrong-currency scheme: pending.
    # Party 9 has a recent change AND an invalid account: recent.
    # Party 10 has no valid account AND a credit balance: no bank details.
    chosen = select_payments(
        items((1, 7, "GBP", -100), (2, 8, "GBP", -200), (3, 9, "GBP", -300), (4, 10, "GBP", 50)),
        banks(
            bank(7, valid=False, pending=True),
            bank(8, "nacha", pending=True, changed=PAY),
            bank(9, valid=False, changed=PAY - timedelta(days=3)),
            bank(10, valid=False),
        ),
        blocks((7, None, "incomplete_provider_file")),
        pay_date=PAY,
    )
    assert reasons(chosen) == {
        1: "blocked:incomplete_provider_file",
        2: "bank_change_pending",
        3: "bank_change_recent",
        4: "no_bank_details",
    }


def test_a_credit_balance_excludes_all_the_partys_items():
    # Party 7 owes us 300 net (a 500 credit note against a 200 self-bill); party 8 nets zero.
    chosen = select_payments(
        items((1, 7, "GBP", -200), (2, 7, "GBP", 500), (3, 8, "GBP", -40), (4, 8, "GBP", 40)),
        banks(bank(7), bank(8)),
        empty_blocks(),
        pay_date=PAY,
    )
    assert reasons(chosen) == dict.fromkeys((1, 2, 3, 4), "credit_balance")
    assert chosen.payments.is_empty()


def test_the_credit_balance_is_of_what_would_be_paid():
    # The disputed item is blocked; the party's credit note is then all that is left, so
    # nothing is paid (never a negative payment).
    chosen = select_payments(
        items((1, 7, "GBP", -900), (2, 7, "GBP", 100)),
        banks(bank(7)),
        blocks((None, 1, "disputed_amount")),
        pay_date=PAY,
    )
    assert reasons(chosen) == {1: "blocked:disputed_amount", 2: "credit_balance"}
    assert chosen.excluded.filter(pl.col("item_id") == 2).row(0) == (
        2,
        7,
        "GBP",
        100,
        "credit_balance",
    )


def test_filters_by_party_and_method():
    stock = items((1, 7, "GBP", -100), (2, 8, "USD", -200), (3, 9, "GBP", -300))
    accounts = banks(bank(7), bank(8, "nacha"))
    by_party = select_payments(stock, accounts, empty_blocks(), pay_date=PAY, party_ids={8, 9})
    assert by_party.payments["party_id"].to_list() == [8]
    assert reasons(by_party) == {3: "no_bank_details"}
    by_method = select_payments(stock, accounts, empty_blocks(), pay_date=PAY, methods={"nacha"})
    assert by_method.payments["party_id"].to_list() == [8]
    assert reasons(by_method) == {3: "no_bank_details"}  # no account: listed, not hidden


def test_totals_by_method_and_currency():
    chosen = select_payments(
        items(
            (1, 7, "GBP", -100),
            (2, 8, "GBP", -200),
            (3, 8, "GBP", -1),
            (4, 9, "USD", -300),
            (5, 10, "EUR", -7),
        ),
        banks(bank(7), bank(8), bank(9, "nacha"), bank(10, "cheque", account=None)),
        empty_blocks(),
        pay_date=PAY,
    )
    assert chosen.totals.rows() == [
        ("bacs18", "GBP", 2, 301),
        ("cheque", "EUR", 1, 7),
        ("nacha", "USD", 1, 300),
    ]


def test_a_frame_without_a_needed_column_is_refused():
    with pytest.raises(ValueError, match="pending_change"):
        select_payments(
            items((1, 7, "GBP", -1)),
            banks(bank(7)).drop("pending_change"),
            empty_blocks(),
            pay_date=PAY,
        )


def test_a_hundred_thousand_items_in_well_under_a_second():
    n = 100_000
    parties = [i % 20_000 for i in range(n)]
    stock = pl.DataFrame(
        {
            "item_id": range(n),
            "party_id": parties,
            "account_code": ["2000"] * n,
            "currency": ["GBP"] * n,
            "open_minor": [-(i % 977) - 1 for i in range(n)],
            "due_date": [date(2026, 11, 1)] * n,
            "item_date": [date(2026, 10, 1)] * n,
            "doc_ref": [f"SB-{i}" for i in range(n)],
        },
        schema=dict(ITEM_SCHEMA),
    )
    accounts = banks(*(bank(p, changed=PAY - timedelta(days=p % 60)) for p in range(20_000)))
    held = blocks(*((p, None, "provider_on_hold") for p in range(0, 20_000, 97)))
    started = time.perf_counter()
    chosen = select_payments(stock, accounts, held, pay_date=PAY)
    elapsed = time.perf_counter() - started
    assert chosen.included.height + chosen.excluded.height == n
    assert (
        chosen.payments["amount_minor"].sum()
        == -stock.filter(pl.col("item_id").is_in(chosen.included["item_id"].implode()))[
            "open_minor"
        ].sum()
    )
    assert elapsed < 1.0, f"{elapsed:.2f} s"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_engine_agrees_with_the_rules_said_one_item_at_a_time(seed):
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # `bench` sits beside `src`, not inside the package
        sys.path.insert(0, root)
    from bench.payments_selection import PAY_DATE, frames, naive_select  # noqa: PLC0415

    stock, accounts, held = frames(3_000, 400, seed=seed)
    chosen = select_payments(stock, accounts, held, pay_date=PAY_DATE)
    payments, excluded = naive_select(stock, accounts, held)
    assert reasons(chosen) == excluded
    assert {
        (r["party_id"], r["currency"], r["bank_account_id"], r["method"]): (
            r["amount_minor"],
            r["item_ids"],
        )
        for r in chosen.payments.iter_rows(named=True)
    } == payments
    assert len(set(excluded.values())) >= 5  # the story holds every kind of reason
