"""The book's own bank accounts: what a payment run pays from and a bank file originates.

Each house account books to one asset account of the chart, holds one currency, and
originates one or more schemes whose currency is its own; each scheme's originator table
(NACHA company and ODFI, BACS service user number, SEPA creditor) is checked by the same
rules as the offline command's originator.toml. Only admins and managers add or close one
(``accounts.manage``). What is returned for display masks account numbers; the full details
come only from :func:`originator_for`, for the file writer, and that read is audited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.db import insert_id
from remit.errors import Conflict, Forbidden, NotFound, Problem, ValidationFailed
from remit.formats import offline
from remit.ledger import service as ledger
from remit.ledger.model import AccountType
from remit.money import CURRENCY_EXPONENTS
from remit.payments.model import (
    CHEQUE,
    PAYMENT_SCHEMES,
    HouseAccount,
    HouseAccountStatus,
    NewHouseAccount,
)
from remit.payments.store import house_bank_accounts
from remit.text import NAME_MAX, text_problem

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# The originator values that are account numbers: shown masked, kept in full for the writer.
_SECRET_KEYS = frozenset({"account_number", "iban"})
# How the offline reader cleans a value before it is stored (sort code digits, compact IBAN).
_CLEAN = {
    ("bacs", "sort_code"): offline.sort_code,
    (CHEQUE, "sort_code"): offline.sort_code,
    ("sepa", "iban"): offline.compact,
    ("sepa", "bic"): offline.compact,
}


def mask(value: str) -> str:
    """An account number with all but its last four characters hidden.

    >>> mask("55779911"), mask("GB82WEST12345698765432"), mask("12")
    ('****9911', 'GB****************5432', '**')
    """
    if len(value) <= 4:
        return "*" * len(value)
    keep = 2 if value[:2].isalpha() else 0  # an IBAN keeps its country
    return value[:keep] + "*" * (len(value) - keep - 4) + value[-4:]


def masked_originators(
    originators: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """The originator tables with account numbers masked.

    >>> masked_originators({"bacs": {"account_number": "55779911", "name": "COUNCIL"}})
    {'bacs': {'account_number': '****9911', 'name': 'COUNCIL'}}
    """
    return {
        table: {
            key: mask(value) if key in _SECRET_KEYS and isinstance(value, str) else value
            for key, value in values.items()
        }
        for table, values in originators.items()
    }


# ---------------------------------------------------------------- checking a new account


def _gl_problems(conn: Connection, book_id: int, spec: NewHouseAccount) -> list[Problem]:
    """The GL account must be an asset account of the book, in the account's currency."""
    chart = {a.code: a for a in ledger.list_accounts(conn, book_id)}
    found = chart.get(spec.gl_account_code)
    if found is None:
        return [
            Problem(
                "gl_account_code",
                f"no account {spec.gl_account_code!r} in the book's chart",
                "unknown_account",
            )
        ]
    problems = []
    if found.type is not AccountType.ASSET:
        message = f"account {found.code} is {found.type.value}; a bank account is an asset"
        problems.append(Problem("gl_account_code", message, "account_type"))
    if found.is_control:
        message = f"account {found.code} is a party control account, not a bank account"
        problems.append(Problem("gl_account_code", message, "account_type"))
    held = found.currency or str(ledger.get_book(conn, book_id)["base_currency"])
    if held != spec.currency:
        message = f"account {found.code} holds {held}; the bank account is in {spec.currency}"
        problems.append(Problem("gl_account_code", message, "currency"))
    return problems


def _scheme_problems(spec: NewHouseAccount) -> list[Problem]:
    problems = []
    if not spec.schemes:
        problems.append(Problem("schemes", "name at least one scheme", "required"))
    if len(set(spec.schemes)) != len(spec.schemes):
        problems.append(Problem("schemes", "a scheme is named twice", "duplicate"))
    tables = set()
    for i, name in enumerate(spec.schemes):
        if name == CHEQUE:  # written in the account's own currency, from its [cheque] table
            tables.add(CHEQUE)
            problems += _cheque_problems(spec.originators.get(CHEQUE))
            continue
        fmt = PAYMENT_SCHEMES.get(name)
        if fmt is None:
            known = ", ".join((*PAYMENT_SCHEMES, CHEQUE))
            message = f"unknown scheme {name!r} (one of {known})"
            problems.append(Problem(f"schemes[{i}]", message, "scheme"))
            continue
        tables.add(fmt.originator_table)
        if fmt.currency != spec.currency:
            message = f"{name} pays in {fmt.currency}; the account is in {spec.currency}"
            problems.append(Problem(f"schemes[{i}]", message, "scheme_currency"))
        table = spec.originators.get(fmt.originator_table)
        if table is None:
            message = f"the [{fmt.originator_table}] originator table is required for {name}"
            problems.append(Problem(fmt.originator_table, message, "missing_table"))
        else:
            problems += offline.originator_problems(fmt.originator_table, table)
    for extra in sorted(set(spec.originators) - tables):
        message = "an originator table for a scheme the account does not originate"
        problems.append(Problem(extra, message, "unused_table"))
    return problems


_CHEQUE_ROUTING = {
    "sort_code": offline.sort_code_message,
    "routing_number": offline.routing_message,
}


def _cheque_problems(table: Mapping[str, Any] | None) -> list[Problem]:
    """The [cheque] table: the account the cheques are drawn on (digits), its sort code or
    routing number (one of them), and the first cheque number of the book's stock.

    >>> _cheque_problems({"account_number": "55779911", "sort_code": "20-00-00",
    ...                   "first_number": 100001})
    []
    >>> [p.check for p in _cheque_problems({"account_number": "5577 x", "first_number": 0})]
    ['digits', 'required', 'first_number']
    """
    if table is None:
        message = "the [cheque] originator table is required for cheque"
        return [Problem(CHEQUE, message, "missing_table")]
    problems = []
    if not re.fullmatch(r"\d{4,17}", str(table.get("account_number", ""))):
        message = "the account the cheques are drawn on: 4 to 17 digits"
        problems.append(Problem("cheque.account_number", message, "digits"))
    routing = [key for key in _CHEQUE_ROUTING if key in table]
    if len(routing) != 1:
        message = "give one of sort_code (6 digits) or routing_number (9 digits), not both"
        problems.append(Problem("cheque.sort_code", message, "required"))
    for key in routing:
        found = _CHEQUE_ROUTING[key](str(table[key]))
        if found is not None:
            problems.append(Problem(f"cheque.{key}", found, key))
    first = table.get("first_number")
    if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first < 10**12:
        message = "the first cheque number of the stock: a whole number from 1"
        problems.append(Problem("cheque.first_number", message, "first_number"))
    for extra in sorted(set(table) - {"account_number", "first_number", *_CHEQUE_ROUTING}):
        problems.append(Problem(f"cheque.{extra}", "not a key of a [cheque] table", "unknown_key"))
    return problems


def house_account_problems(conn: Connection, book_id: int, spec: NewHouseAccount) -> list[Problem]:
    """Every problem of a new house account, each naming its field."""
    problems = []
    if not _CODE.fullmatch(spec.code):
        problems.append(Problem("code", "1 to 32 letters, digits, - or _", "code"))
    found = text_problem(spec.name, "name", max_chars=NAME_MAX, required=True)
    problems += [found] if found is not None else []
    if spec.currency not in CURRENCY_EXPONENTS:
        problems.append(Problem("currency", f"unknown currency {spec.currency!r}", "currency"))
    problems += _gl_problems(conn, book_id, spec)
    problems += _scheme_problems(spec)
    hb = house_bank_accounts.c
    if conn.execute(select(hb.id).where(and_(hb.book_id == book_id, hb.code == spec.code))).first():
        message = f"the book already has a bank account {spec.code!r}"
        problems.append(Problem("code", message, "duplicate_code"))
    return problems


def _cleaned(originators: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        table: {
            key: _CLEAN.get((table, key), str)(value) if isinstance(value, str) else value
            for key, value in values.items()
        }
        for table, values in originators.items()
    }


# ---------------------------------------------------------------- use cases


def add_house_account(conn: Connection, actor: Actor, book_id: int, spec: NewHouseAccount) -> int:
    """Add one of the book's own bank accounts; every problem is reported, nothing written."""
    require(actor, book_id, Permission.ACCOUNTS_MANAGE)
    problems = house_account_problems(conn, book_id, spec)
    if problems:
        raise ValidationFailed(problems)
    originators = _cleaned(spec.originators)
    values = {
        "book_id": book_id,
        "code": spec.code,
        "name": spec.name.strip(),
        "gl_account_code": spec.gl_account_code,
        "currency": spec.currency,
        "schemes": ",".join(spec.schemes),
        "originators": audit.canonical(originators),
        "status": HouseAccountStatus.ACTIVE.value,
        "created_by": actor.username,
        "created_at": audit.utc_now_text(),
    }
    account_id = insert_id(conn, insert(house_bank_accounts).values(**values))
    shown = {**values, "originators": masked_originators(originators)}
    audit.record(
        conn,
        actor,
        "payments.house_account.add",
        "house_bank_account",
        account_id,
        None,
        shown,
        book_id,
    )
    return account_id


def _account(row: Any) -> HouseAccount:
    return HouseAccount(
        id=int(row.id),
        book_id=int(row.book_id),
        code=str(row.code),
        name=str(row.name),
        gl_account_code=str(row.gl_account_code),
        currency=str(row.currency),
        schemes=tuple(str(row.schemes).split(",")),
        originators=masked_originators(json.loads(row.originators)),
        status=HouseAccountStatus(row.status),
        created_by=str(row.created_by),
        created_at=str(row.created_at),
    )


def list_house_accounts(
    conn: Connection, actor: Actor, book_id: int, *, include_closed: bool = False
) -> list[HouseAccount]:
    """The book's bank accounts by code (masked), active ones unless ``include_closed``."""
    require(actor, book_id, Permission.LEDGER_READ)
    hb = house_bank_accounts.c
    query = select(house_bank_accounts).where(hb.book_id == book_id).order_by(hb.code)
    if not include_closed:
        query = query.where(hb.status == HouseAccountStatus.ACTIVE.value)
    return [_account(r) for r in conn.execute(query)]


def _row(conn: Connection, book_id: int, house_account_id: int) -> Any:
    hb = house_bank_accounts.c
    row = conn.execute(
        select(house_bank_accounts).where(and_(hb.book_id == book_id, hb.id == house_account_id))
    ).first()
    if row is None:
        raise NotFound(f"no bank account {house_account_id} of this book")
    return row


def get_house_account(
    conn: Connection, actor: Actor, book_id: int, house_account_id: int
) -> HouseAccount:
    require(actor, book_id, Permission.LEDGER_READ)
    return _account(_row(conn, book_id, house_account_id))


def house_account_for(conn: Connection, book_id: int, scheme: str, currency: str) -> HouseAccount:
    """The active account that pays ``scheme`` in ``currency`` (the first by code when
    there are several), or NotFound saying what is missing."""
    hb = house_bank_accounts.c
    rows = conn.execute(
        select(house_bank_accounts)
        .where(
            and_(
                hb.book_id == book_id,
                hb.currency == currency,
                hb.status == HouseAccountStatus.ACTIVE.value,
            )
        )
        .order_by(hb.code)
    )
    for row in rows:
        if scheme in str(row.schemes).split(","):
            return _account(row)
    raise NotFound(f"the book has no active bank account that pays {scheme} in {currency}")


def house_account_id_for(conn: Connection, book_id: int, code: str) -> int:
    hb = house_bank_accounts.c
    found = conn.execute(select(hb.id).where(and_(hb.book_id == book_id, hb.code == code))).scalar()
    if found is None:
        raise NotFound(f"no bank account {code!r} of this book")
    return int(found)


def originator_for(
    conn: Connection, actor: Actor, book_id: int, house_account_id: int, scheme: str
) -> dict[str, Any]:
    """The full originator table of one scheme of an active account, for the bank-file
    writer; for those who manage accounts or approve payments only, and audited."""
    if not (
        actor.can(book_id, Permission.ACCOUNTS_MANAGE)
        or actor.can(book_id, Permission.BANK_CHANGE_APPROVE)
    ):
        raise Forbidden(f"{actor.username} may not read the originator details of book {book_id}")
    row = _row(conn, book_id, house_account_id)
    if row.status != HouseAccountStatus.ACTIVE.value:
        raise Conflict(f"bank account {row.code} is closed")
    fmt = PAYMENT_SCHEMES.get(scheme)
    if (fmt is None and scheme != CHEQUE) or scheme not in str(row.schemes).split(","):
        raise NotFound(f"bank account {row.code} does not originate {scheme!r}")
    table_name = CHEQUE if fmt is None else fmt.originator_table
    table: dict[str, Any] = json.loads(row.originators)[table_name]
    audit.record(
        conn,
        actor,
        "payments.house_account.originator",
        "house_bank_account",
        house_account_id,
        None,
        {"scheme": scheme},
        book_id,
    )
    return table


def close_house_account(
    conn: Connection, actor: Actor, book_id: int, house_account_id: int
) -> None:
    """Close an account: no later run pays from it (its history stays)."""
    require(actor, book_id, Permission.ACCOUNTS_MANAGE)
    row = _row(conn, book_id, house_account_id)
    if row.status == HouseAccountStatus.CLOSED.value:
        raise Conflict(f"bank account {row.code} is already closed")
    conn.execute(
        update(house_bank_accounts)
        .where(house_bank_accounts.c.id == house_account_id)
        .values(
            status=HouseAccountStatus.CLOSED.value,
            closed_by=actor.username,
            closed_at=audit.utc_now_text(),
        )
    )
    audit.record(
        conn,
        actor,
        "payments.house_account.close",
        "house_bank_account",
        house_account_id,
        {"status": "active"},
        {"status": "closed"},
        book_id,
    )
