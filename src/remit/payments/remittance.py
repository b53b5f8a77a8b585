"""Remittance advice: what each payment covers, for the payee (a page, PDF, CSV and the
portal), and the run's remittance CSV in the exchange format of docs/formats/payments.md.

A payment pays one payee's items in one currency: its bills (self-bills, child-months,
invoices) less its credits (a clawback, a credit note), each with the amount of it paid.
The advice lists each item with its document reference and dates, so the provider can
match the money to their own invoices without a phone call.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from remit.access.model import Actor, Permission, require
from remit.calendar import locale_of
from remit.errors import NotFound
from remit.formats.offline import REMITTANCE_COLUMNS
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.payments import runs
from remit.payments.model import PaymentRun, RunPayment, method_label
from remit.payments.store import run_items, run_payments
from remit.reports.printing import document_environment, pdf_bytes
from remit.reports.tables import Column, Kind, table_csv

TEMPLATE_DIR = Path(__file__).parent / "templates"
ADVICE_COLUMNS = (
    Column("payment", "Payment", Kind.LABEL),
    Column("payee", "Payee", Kind.TEXT),
    Column("pay_date", "Pay date", Kind.DATE),
    Column("doc_ref", "Document", Kind.TEXT),
    Column("kind", "What it is", Kind.LABEL),
    Column("item_date", "Dated", Kind.DATE),
    Column("due_date", "Due", Kind.DATE),
    Column("amount_minor", "Amount paid", Kind.MONEY),
    Column("currency", "Currency", Kind.LABEL),
)


@dataclass(frozen=True, slots=True)
class Advice:
    """One payment's remittance advice."""

    payment: RunPayment
    run: PaymentRun
    payer_name: str
    payer_address: str
    payee_ref: str
    payee_name: str
    payee_address: str
    account_masked: str | None
    value_date: date | None
    lines: tuple[dict[str, Any], ...]
    locale: str

    @property
    def total_minor(self) -> int:
        return sum(int(line["amount_minor"]) for line in self.lines)


def _kind(amount_minor: int, doc_ref: str) -> str:
    if amount_minor < 0:
        return "credit deducted"
    if "-SB-" in doc_ref:
        return "self-bill (care visits)"
    return "bill"


def advice(conn: Connection, actor: Actor, book_id: int, payment_id: int) -> Advice:
    """The advice of one payment: staff of the book, or the payee itself in the portal."""
    payment = _readable(conn, actor, book_id, payment_id)
    run = runs.get_run(conn, _reader(actor, book_id), book_id, payment.run_id)
    items = runs.payment_items(conn, _reader(actor, book_id), book_id, payment_id)
    book = ledger.get_book(conn, book_id)
    party = parties.party_names(conn, book_id, [payment.party_id]).get(payment.party_id)
    files = {f.id: f for f in runs.list_files(conn, _reader(actor, book_id), book_id, run.id)}
    chosen = files.get(payment.file_id) if payment.file_id is not None else None
    return Advice(
        payment=payment,
        run=run,
        payer_name=str(book["name"]),
        payer_address=str(book.get("address") or ""),
        payee_ref=party[0] if party else "?",
        payee_name=party[1] if party else "?",
        payee_address=parties.postal_address(conn, book_id, payment.party_id),
        account_masked=parties.masked_bank_account(conn, book_id, payment.party_id),
        value_date=chosen.value_date if chosen is not None else None,
        lines=tuple(
            {
                **line,
                "payment": payment.reference,
                "payee": party[1] if party else "",
                "pay_date": run.pay_date,
                "kind": _kind(int(line["amount_minor"]), str(line["doc_ref"])),
            }
            for line in items
        ),
        locale=locale_of(str(book["base_currency"])),
    )


def _reader(actor: Actor, book_id: int) -> Actor:
    """The payee in the portal reads its own payment through the run's reading rights."""
    if actor.can(book_id, Permission.PAYMENT_READ):
        return actor
    return Actor.system(actor.username)


def _readable(conn: Connection, actor: Actor, book_id: int, payment_id: int) -> RunPayment:
    if actor.can(book_id, Permission.PAYMENT_READ):
        return runs.get_payment(conn, actor, book_id, payment_id)
    if actor.party_in(book_id) is None:
        require(actor, book_id, Permission.PAYMENT_READ)  # neither staff nor a portal user
    found = runs.get_payment(conn, Actor.system(actor.username), book_id, payment_id)
    if actor.party_in(book_id) != found.party_id:  # another's answers as a missing one
        raise NotFound(f"no payment {payment_id} in this book")
    return found


def portal_payments(conn: Connection, actor: Actor, book_id: int) -> list[RunPayment]:
    """The portal user's own released payments, newest first."""
    require(actor, book_id, Permission.PORTAL_PROVIDER)
    party_id = actor.party_in(book_id)
    if party_id is None:
        return []
    return runs.released_payments_of(conn, book_id, party_id)


def advice_csv(found: Advice) -> bytes:
    """The advice as a CSV for people (amounts in major units, text guarded)."""
    return table_csv(ADVICE_COLUMNS, found.lines)


PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm;
        @bottom-right { content: counter(page) " / " counter(pages);
                        font: 7.5pt "DejaVu Sans", sans-serif; color: #555; } }
html { font: 9pt/1.4 "DejaVu Sans", sans-serif; color: #000; }
h1 { font-size: 15pt; margin: 0 0 2mm; } .parties { display: flex; gap: 10mm; margin: 0 0 5mm; }
.parties > div { flex: 1; } .parties h2 { font-size: 9pt; color: #444; margin: 0 0 1mm; }
.parties p { margin: 0; white-space: pre-line; }
dl { display: grid; grid-template-columns: 38mm auto; margin: 0 0 5mm; }
dt { font-weight: bold; } dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 0.4pt solid #999; padding: 1mm 1.5mm; text-align: left; }
th { background: #eee; } .num { text-align: right; white-space: nowrap; }
tfoot td { font-weight: bold; border-top: 0.8pt solid #000; } thead { display: table-header-group; }
"""


def advice_html(found: Advice) -> str:
    env = document_environment(TEMPLATE_DIR, method=method_label)
    return env.get_template("payments/advice_pdf.html").render(advice=found)


def advice_pdf(found: Advice) -> bytes:
    """The advice as an A4 PDF; nothing outside the document is fetched."""
    return pdf_bytes(advice_html(found), PRINT_CSS)


def run_remittance_csv(conn: Connection, actor: Actor, book_id: int, run_id: int) -> bytes:
    """The run's remittance CSV (``payment_id,payee_id,payable_id,reference,amount_minor,
    currency``): a row per item of each payment, read in batches (a 100,000-payment run is
    a few statements, not one per payment)."""
    runs.get_run(conn, actor, book_id, run_id)
    rp, ri = run_payments.c, run_items.c
    rows = conn.execute(
        select(rp.reference, rp.party_id, rp.currency, ri.item_id, ri.doc_ref, ri.open_minor)
        .join(run_items, ri.payment_id == rp.id)
        .where(rp.run_id == run_id, rp.book_id == book_id)
        .order_by(rp.id, ri.item_id)
    ).all()
    # One call: party_names reads a large set in one scan of the book (called per chunk of
    # 5,000 it scanned the book's 100,000 parties twenty times).
    names = parties.party_names(conn, book_id, {int(r.party_id) for r in rows})
    refs = {pid: ref for pid, (ref, _) in names.items()}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REMITTANCE_COLUMNS)
    writer.writerows(
        (
            r.reference,
            refs.get(int(r.party_id), ""),
            str(r.item_id),
            r.doc_ref,
            -int(r.open_minor),
            r.currency,
        )
        for r in rows
    )
    return out.getvalue().encode("utf-8")


kind_of = _kind  # what an item is, in words (the e-mailed advice puts it in its language)
