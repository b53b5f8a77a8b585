"""Cheques (issue 10, point 3): the payees a book pays by cheque, each cheque's number, the
cheque register (a PDF for the signatories and the post room) and the positive-pay file
that tells the bank which cheques to honour.

A payee chosen here is paid by cheque whatever bank account it has: the preview gives it one
``cheque`` bank row (no account, valid), so its items are paid in their own currency. A
cheque is posted, so a cheque payee with no postal address is left out of the run as
``no_postal_address`` (decided in the preview, where the other reasons are, not at prepare:
the preparer sees it before preparing).

Numbers are given at release, in payment order, from the house account that writes cheques
in the payment's currency: one more than the highest number it has used, else its
``first_number``. A payment keeps its number for good; numbering a run again changes
nothing, and a unique index keeps two payments from one number of one account.

Positive pay (``docs/formats/payments.md``): ``cheque_number,account_number,amount_minor,
currency,payee,issue_date``, a row per cheque, the account drawn on in full (it is for the
bank), the issue date being the run's pay date.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from remit import audit, bulk
from remit.access.model import Actor, Permission, require
from remit.calendar import locale_of
from remit.errors import Conflict, NotFound
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.payments import house
from remit.payments.model import CHEQUE, RunStatus
from remit.payments.store import cheque_payees, payment_runs, run_payments
from remit.reports.printing import document_environment, pdf_bytes
from remit.timestamps import utc_now_text

TEMPLATE_DIR = Path(__file__).parent / "templates"
POSITIVE_PAY_COLUMNS = (
    "cheque_number",
    "account_number",
    "amount_minor",
    "currency",
    "payee",
    "issue_date",
)
NO_POSTAL_ADDRESS = "no_postal_address"
_RELEASED = frozenset({RunStatus.RELEASED.value, RunStatus.SENT.value, RunStatus.SETTLED.value})


# ---------------------------------------------------------------- who is paid by cheque


def set_pays_by_cheque(
    conn: Connection, actor: Actor, book_id: int, party_id: int, on: bool
) -> bool:
    """Pay the book's party by cheque (``on``) or by its bank account again; audited.
    Returns whether anything changed (setting what is already so is no change)."""
    require(actor, book_id, Permission.PARTY_EDIT)
    if party_id not in parties.party_names(conn, book_id, [party_id]):
        raise NotFound(f"no party {party_id} in this book")
    cp = cheque_payees.c
    where = and_(cp.book_id == book_id, cp.party_id == party_id)
    was = conn.execute(select(cp.party_id).where(where)).first() is not None
    if was == on:
        return False
    if on:
        conn.execute(
            insert(cheque_payees).values(
                book_id=book_id, party_id=party_id, set_by=actor.username, set_at=utc_now_text()
            )
        )
    else:
        conn.execute(delete(cheque_payees).where(where))
    audit.record(
        conn,
        actor,
        "payments.cheque_payee.set" if on else "payments.cheque_payee.unset",
        "party",
        party_id,
        {"pays_by_cheque": was},
        {"pays_by_cheque": on},
        book_id,
    )
    return True


def cheque_payee_ids(conn: Connection, book_id: int, party_ids: Iterable[int]) -> set[int]:
    """Which of ``party_ids`` the book pays by cheque (one statement, ``bulk.among``)."""
    cp = cheque_payees.c
    return {
        int(r)
        for r in conn.execute(
            select(cp.party_id).where(
                and_(cp.book_id == book_id, bulk.among(conn, cp.party_id, sorted(set(party_ids))))
            )
        ).scalars()
    }


def without_postal_address(conn: Connection, book_id: int, party_ids: Iterable[int]) -> set[int]:
    """The parties a cheque cannot be posted to (few: only the cheque payees are asked)."""
    return {p for p in party_ids if not parties.postal_address(conn, book_id, p).strip()}


# ---------------------------------------------------------------- numbers at release


def number_cheques(conn: Connection, book_id: int, run_id: int) -> int:
    """Give each cheque payment of the run that has no number the next number of the house
    account that writes cheques in its currency; returns how many were numbered. Called by
    release in its transaction; a run numbered before is left as it is."""
    rp = run_payments.c
    waiting = conn.execute(
        select(rp.id, rp.currency)
        .where(
            and_(
                rp.run_id == run_id,
                rp.book_id == book_id,
                rp.method == CHEQUE,
                rp.cheque_number.is_(None),
            )
        )
        .order_by(rp.id)
    ).all()
    numbered: list[dict[str, int]] = []
    for currency in sorted({str(r.currency) for r in waiting}):
        account = house.house_account_for(conn, book_id, CHEQUE, currency)
        used = conn.execute(
            select(func.max(rp.cheque_number)).where(rp.cheque_account_id == account.id)
        ).scalar()
        first = int(account.originators[CHEQUE]["first_number"])
        number = first if used is None else max(int(used) + 1, first)
        for r in waiting:
            if str(r.currency) == currency:
                numbered.append({"pid": int(r.id), "number": number, "account": account.id})
                number += 1
    if numbered:
        conn.execute(
            update(run_payments)
            .where(rp.id == bindparam("pid"))
            .values(cheque_number=bindparam("number"), cheque_account_id=bindparam("account")),
            numbered,
        )
    return len(numbered)


# ---------------------------------------------------------------- register and positive pay


@dataclass(frozen=True, slots=True)
class Register:
    """A released run's cheques, by number."""

    run_id: int
    pay_date: date
    payer_name: str
    locale: str
    rows: tuple[dict[str, Any], ...]

    def totals(self) -> list[tuple[str, int, int]]:
        """(currency, cheques, amount_minor) per currency."""
        out: dict[str, tuple[int, int]] = {}
        for row in self.rows:
            count, amount = out.get(row["currency"], (0, 0))
            out[row["currency"]] = (count + 1, amount + int(row["amount_minor"]))
        return [(c, n, a) for c, (n, a) in sorted(out.items())]


def _cheque_rows(conn: Connection, book_id: int, run_id: int) -> tuple[Any, Sequence[Any]]:
    run = conn.execute(
        select(payment_runs).where(
            and_(payment_runs.c.id == run_id, payment_runs.c.book_id == book_id)
        )
    ).first()
    if run is None:
        raise NotFound(f"no payment run {run_id} in this book")
    rp = run_payments.c
    rows = conn.execute(
        select(run_payments)
        .where(and_(rp.run_id == run_id, rp.method == CHEQUE))
        .order_by(rp.cheque_number, rp.id)
    ).all()
    if run.status not in _RELEASED or any(r.cheque_number is None for r in rows):
        raise Conflict(f"payment run {run_id} is not released: its cheques have no numbers yet")
    return run, rows


def cheque_register(conn: Connection, actor: Actor, book_id: int, run_id: int) -> Register:
    """The run's cheques (number, payee ref and name, amount, currency, date, the account
    drawn on, masked); for those who release payments, as the bank files are."""
    require(actor, book_id, Permission.PAYMENT_RELEASE)
    run, rows = _cheque_rows(conn, book_id, run_id)
    names = parties.party_names(conn, book_id, [int(r.party_id) for r in rows])
    accounts = {
        a.id: a for a in house.list_house_accounts(conn, actor, book_id, include_closed=True)
    }
    book = ledger.get_book(conn, book_id)
    return Register(
        run_id=run_id,
        pay_date=run.pay_date,
        payer_name=str(book["name"]),
        locale=locale_of(str(book["base_currency"])),
        rows=tuple(
            {
                "cheque_number": int(r.cheque_number),
                "payment": str(r.reference),
                "payee_ref": names.get(int(r.party_id), ("?", "?"))[0],
                "payee": names.get(int(r.party_id), ("?", "?"))[1],
                "amount_minor": int(r.amount_minor),
                "currency": str(r.currency),
                "issue_date": run.pay_date,
                "account_id": int(r.cheque_account_id),
                "drawn_on": _drawn_on(accounts.get(int(r.cheque_account_id))),
            }
            for r in rows
        ),
    )


def _drawn_on(account: Any) -> str:
    if account is None:
        return "?"
    table = account.originators.get(CHEQUE, {})
    return f"{account.code} {table.get('account_number', '')}".strip()


def positive_pay_csv(conn: Connection, actor: Actor, book_id: int, run_id: int) -> bytes:
    """The run's positive-pay file for the bank (docs/formats/payments.md); audited, as it
    carries the full number of the account drawn on."""
    found = cheque_register(conn, actor, book_id, run_id)
    full: dict[int, str] = {}
    for account_id in sorted({int(row["account_id"]) for row in found.rows}):
        table = house.originator_for(conn, actor, book_id, account_id, CHEQUE)
        full[account_id] = str(table["account_number"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(POSITIVE_PAY_COLUMNS)
    writer.writerows(
        (
            row["cheque_number"],
            full[int(row["account_id"])],
            row["amount_minor"],
            row["currency"],
            row["payee"],
            row["issue_date"].isoformat(),
        )
        for row in found.rows
    )
    return out.getvalue().encode("utf-8")


REGISTER_CSS = """
@page { size: A4; margin: 16mm 14mm;
        @bottom-right { content: counter(page) " / " counter(pages);
                        font: 7.5pt "DejaVu Sans", sans-serif; color: #555; } }
html { font: 9pt/1.4 "DejaVu Sans", sans-serif; color: #000; }
h1 { font-size: 15pt; margin: 0 0 2mm; } p.lead { margin: 0 0 5mm; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 0.4pt solid #999; padding: 1mm 1.5mm; text-align: left; }
th { background: #eee; } .num { text-align: right; white-space: nowrap; }
tfoot td { font-weight: bold; border-top: 0.8pt solid #000; } thead { display: table-header-group; }
"""


def register_html(found: Register) -> str:
    return (
        document_environment(TEMPLATE_DIR)
        .get_template("payments/cheques_pdf.html")
        .render(register=found)
    )


def register_pdf(found: Register) -> bytes:
    """The register as an A4 PDF, with a total per currency; nothing outside is fetched."""
    return pdf_bytes(register_html(found), REGISTER_CSS)
