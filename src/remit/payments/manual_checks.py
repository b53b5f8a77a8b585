"""The checks of a manual payment (``remit.payments.manual``), each problem with its field:
the header (payee, amount, currency, day, method, bounded text, a bank reference not
recorded before), the book's account it left, and each item it covers.

An item is checked against what pending manual payments already claim of it, so two
payments recorded for the same bill cannot together pay more than is open.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, func, select

from remit.access.model import Actor
from remit.errors import Problem
from remit.ledger import items as open_items
from remit.ledger import service as ledger
from remit.money import MAX_AMOUNT_MINOR, UnknownCurrency, exponent
from remit.parties import service as parties
from remit.payments import house
from remit.payments.model import MANUAL_METHODS, ManualStatus, NewManualPayment
from remit.payments.runs import held_item_ids
from remit.payments.store import manual_payment_items, manual_payments
from remit.text import DATE_MIN, text_problem

PAYABLES_ACCOUNT = "2000"
REFERENCE_MAX = 35
NOTE_MAX = 500


def text_problems(spec: NewManualPayment) -> list[Problem]:
    checks = (
        text_problem(spec.bank_reference, "bank_reference", max_chars=REFERENCE_MAX, required=True),
        text_problem(spec.note, "note", max_chars=NOTE_MAX),
        text_problem(spec.house_account, "house_account", max_chars=32),
    )
    return [p for p in checks if p is not None]


def header_problems(conn: Connection, book_id: int, spec: NewManualPayment) -> list[Problem]:
    problems = text_problems(spec)
    if spec.party_id not in parties.party_names(conn, book_id, [spec.party_id]):
        problems.append(Problem("party", f"no party {spec.party_id} in this book", "unknown_party"))
    if not 0 < spec.amount_minor <= MAX_AMOUNT_MINOR:
        problems.append(
            Problem(
                "amount", f"a payment is between 1 and {MAX_AMOUNT_MINOR:,} minor units", "range"
            )
        )
    try:
        exponent(spec.currency)
    except UnknownCurrency as exc:
        problems.append(Problem("currency", str(exc), "currency"))
    today = ledger.book_today(conn, book_id)
    if not DATE_MIN <= spec.paid_on <= today:
        message = f"{spec.paid_on.isoformat()} is not a day it could have been paid (after today)"
        problems.append(Problem("paid_on", message, "date"))
    if spec.method not in MANUAL_METHODS:
        message = f"unknown method {spec.method!r} (one of {', '.join(MANUAL_METHODS)})"
        problems.append(Problem("method", message, "method"))
    mp = manual_payments.c
    taken = conn.execute(
        select(mp.id).where(
            and_(
                mp.book_id == book_id,
                mp.bank_reference == spec.bank_reference.strip(),
                mp.status != ManualStatus.REJECTED.value,
            )
        )
    ).scalar()
    if taken is not None:
        message = f"{spec.bank_reference.strip()} is already recorded, as manual payment M{taken}"
        problems.append(Problem("bank_reference", message, "duplicate"))
    return problems


def house_account_of(
    conn: Connection, book_id: int, spec: NewManualPayment
) -> tuple[int | None, list[Problem]]:
    """The book's account the money left: the one named, else the only active one in the
    payment's currency."""
    active = house.list_house_accounts(conn, Actor.system(), book_id)
    if spec.house_account.strip():
        chosen = [a for a in active if a.code == spec.house_account.strip()]
        missing = f"no active bank account {spec.house_account.strip()!r} in this book"
    else:
        chosen = [a for a in active if a.currency == spec.currency]
        missing = f"the book has no active bank account in {spec.currency}"
        if len(chosen) > 1:
            codes = ", ".join(a.code for a in chosen)
            message = f"several accounts pay {spec.currency} ({codes}): name the one it left"
            return None, [Problem("house_account", message, "ambiguous")]
    if not chosen:
        return None, [Problem("house_account", missing, "unknown_account")]
    if chosen[0].currency != spec.currency:
        message = f"{chosen[0].code} holds {chosen[0].currency}, not {spec.currency}"
        return None, [Problem("house_account", message, "currency")]
    return chosen[0].id, []


def pending_claims(
    conn: Connection, item_ids: Sequence[int], *, besides: int | None = None
) -> dict[int, int]:
    """What pending manual payments (other than ``besides``) already claim of each item."""
    mi, mp = manual_payment_items.c, manual_payments.c
    query = (
        select(mi.item_id, func.sum(mi.amount_minor))
        .join(manual_payments, mp.id == mi.manual_payment_id)
        .where(and_(mi.item_id.in_(list(item_ids)), mp.status == ManualStatus.PENDING.value))
        .group_by(mi.item_id)
    )
    if besides is not None:
        query = query.where(mp.id != besides)
    return {int(i): int(total) for i, total in conn.execute(query)}


def line_problems(
    conn: Connection,
    book_id: int,
    spec: NewManualPayment,
    accounts: Sequence[str],
    *,
    besides: int | None = None,
) -> list[Problem]:
    """Each item: the payee's, open (a bill owed), in the currency, on a payables account,
    not held by a run, dated by the payment, and paid no more than is open (less what other
    pending manual payments claim); the parts add up to the amount."""
    problems: list[Problem] = []
    ids = [line.item_id for line in spec.lines]
    if len(set(ids)) != len(ids):
        problems.append(Problem("items", "names an item twice", "duplicate_item"))
    facts = open_items.item_facts(conn, book_id, ids)
    owners = {
        i.id: i.party_id
        for i in open_items.open_items(conn, Actor.system(), book_id, party_id=spec.party_id)
    }
    held = held_item_ids(conn, book_id)
    claims = pending_claims(conn, ids, besides=besides)
    for line in spec.lines:
        where, found = f"item {line.item_id}", facts.get(line.item_id)
        if found is None:
            problems.append(Problem(where, "is not an item of this book", "unknown_item"))
            continue
        free = -found.open_minor - claims.get(line.item_id, 0)
        checks = (
            (found.open_minor >= 0, f"{found.doc_ref} is not a bill owed to anyone", "not_owed"),
            (line.item_id not in owners, f"{found.doc_ref} is another payee's", "other_payee"),
            (found.account_code not in accounts, f"is on account {found.account_code}", "account"),
            (found.currency != spec.currency, f"is in {found.currency}", "currency"),
            (line.item_id in held, f"{found.doc_ref} is held by a payment run", "held_by_run"),
            (found.item_date > spec.paid_on, f"is dated after {spec.paid_on}", "item_date"),
            (line.amount_minor <= 0, "a part paid is more than zero", "range"),
            (
                line.amount_minor > free,
                f"{found.doc_ref}: {line.amount_minor:,} minor units paid, only {free:,} open",
                "over_allocated",
            ),
        )
        problems += [Problem(where, m, c) for failed, m, c in checks if failed][:1]
    paid = sum(line.amount_minor for line in spec.lines)
    if spec.lines and paid != spec.amount_minor:
        message = (
            f"the items' parts sum to {paid:,} minor units, the payment is {spec.amount_minor:,}"
        )
        problems.append(Problem("items", message, "sum"))
    return problems
