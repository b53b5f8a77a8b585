"""A provider's self-bill for a reconciliation run, as CSV, XLSX and PDF.

The council writes the bill on the provider's behalf: a line per carer place or record of
the run (date and time of the visit, or of the check-in of a record matched to no visit),
the final minutes and amount of each (after arbitration), the totals by cost centre (the
service code), the approved adjustments, and the grand total, which is what the run posts
(or posted) to the provider's payable. Amounts are integers of minor units throughout and
are formatted with their currency only for people.

- CSV: flat, one row per line and per approved adjustment, each naming its invoice number,
  run and provider; the ``Amount paid`` column (major units) adds up to the grand total.
- XLSX: a ``Self-bill`` sheet (header, cost centres, adjustments, totals), then ``Visits``
  and ``Adjustments`` sheets with the CSV's columns.
- PDF: ``templates/care/selfbill_pdf.html`` rendered by WeasyPrint, A4 landscape.

>>> clock_text(1_793_610_000)
('2026-11-02', '09:00')
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Connection, and_, func, select

from remit.access.model import Actor, Permission, require
from remit.calendar import book_locale, local_date
from remit.care.payables import cost_centres, payment_terms_days, run_row
from remit.care.reports import hours_text, money_text
from remit.care.service import DAY_SECONDS, EPOCH
from remit.care.store import actual_records, care_adjustments, planned_visits, visit_outcomes
from remit.errors import NotFound
from remit.ledger import service as ledger
from remit.parties.model import IdentifierScheme
from remit.parties.service import party_identifier, party_names, postal_address
from remit.reports.tables import (
    Column,
    Kind,
    money_format,
    put_cell,
    table_csv,
    typed_value,
    workbook_bytes,
    write_sheet,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
ADJUSTMENTS_CENTRE = "adjustments"  # as post_payable names their posting

NOT_YOURS = "there is no such self-bill of yours"
# The PDF's lines are cut into pages here (not by WeasyPrint) so that each page carries the
# total of its own lines: the first page, under the parties and the wording, holds fewer.
FIRST_PAGE_LINES = 8
_NOT_IN_NUMBER = re.compile(r"[^A-Za-z0-9./-]")
PAGE_LINES = 18


@dataclass(frozen=True, slots=True)
class SelfBill:
    """Everything a self-bill shows; the totals are integers of minor units."""

    book_code: str
    book_name: str
    provider_party_id: int
    provider_ref: str
    provider_name: str
    run_id: int
    period_start: date
    period_end: date
    status: str
    entry_id: int | None
    sequence: int  # 0 for the period's first run, 1, 2 ... for supplementary runs
    issued_on: date  # the posting date, or today while a draft
    due_on: date  # the issue date + the provider's payment terms
    provider_address: str
    provider_vat_number: str | None
    book_address: str
    book_vat_number: str | None
    currency: str
    locale: str  # the book's, for dates (amounts are written in their currency's)
    lines: tuple[dict[str, Any], ...]
    cost_centres: tuple[tuple[str, int], ...]  # (centre, final amount), by centre
    adjustments: tuple[dict[str, Any], ...]  # approved ones only
    visits_minor: int
    adjustments_minor: int
    total_minor: int

    def money(self, amount_minor: int) -> str:
        return money_text(amount_minor, self.currency)

    def day(self, value: date | None) -> str:
        return local_date(value, self.locale)

    def vat(self, number: str | None) -> str:
        return vat_text(number)

    @property
    def draft(self) -> bool:
        return self.status != "posted"

    @property
    def number(self) -> str:
        return invoice_number(self.book_code, self.provider_ref, self.run_id, self.sequence)

    def pages(self) -> list[tuple[dict[str, Any], ...]]:
        """The lines cut into the PDF's pages, each page a table with its page total."""
        first, rest = self.lines[:FIRST_PAGE_LINES], self.lines[FIRST_PAGE_LINES:]
        return [first, *(rest[i : i + PAGE_LINES] for i in range(0, len(rest), PAGE_LINES))]

    def filename(self, extension: str) -> str:
        return (
            f"self-bill-{self.provider_ref or self.provider_party_id}-"
            f"{self.period_start.isoformat()}-{self.period_end.isoformat()}-"
            f"run-{self.run_id}.{extension}"
        )


def invoice_number(book_code: str, provider_ref: str, run_id: int, sequence: int) -> str:
    """The self-bill's invoice number: book, provider and run, and the supplementary run's
    sequence.

    Characters other than letters, digits, ``-``, ``.`` and ``/`` of a reference become
    ``_``, so the number is one word wherever it is written (a file, a bank's remittance).

    >>> invoice_number("RIV", "P1", 12, 0), invoice_number("RIV", "P1", 15, 2)
    ('RIV-SB-P1-12', 'RIV-SB-P1-15-S2')
    >>> invoice_number("RIV", "=A1 (old)", 3, 0)
    'RIV-SB-_A1__old_-3'
    """
    suffix = f"-S{sequence}" if sequence else ""
    plain = _NOT_IN_NUMBER.sub("_", provider_ref)
    return f"{_NOT_IN_NUMBER.sub('_', book_code)}-SB-{plain}-{run_id}{suffix}"


def flags_text(flags: str | None) -> str:
    """A line's flags in words; nothing for none.

    >>> flags_text("late_arrival,early_leaving"), flags_text(None), flags_text("")
    ('late arrival, left early', '', '')
    """
    words = {"late_arrival": "late arrival", "early_leaving": "left early"}
    found = [f.strip() for f in (flags or "").split(",") if f.strip()]
    return ", ".join(words.get(f, f.replace("_", " ")) for f in found)


def clock_text(moment_s: int) -> tuple[str, str]:
    """Date and time of a local wall-clock moment (seconds since 1970-01-01 00:00)."""
    day = EPOCH + timedelta(days=moment_s // DAY_SECONDS)
    minute = moment_s % DAY_SECONDS // 60
    return day.isoformat(), f"{minute // 60:02d}:{minute % 60:02d}"


def self_bill(
    conn: Connection,
    actor: Actor,
    book_id: int,
    run_id: int,
    portal: bool = False,
    today: date | None = None,
) -> SelfBill:
    """The self-bill of a run, as it stands (a run not yet posted can still change): a
    draft is dated ``today`` (the book's), due after the provider's payment terms.

    Staff need ``care.read``; with ``portal``, a provider's user sees its own runs only.
    """
    require(actor, book_id, Permission.PORTAL_PROVIDER if portal else Permission.CARE_READ)
    try:
        run = run_row(conn, book_id, run_id)
    except NotFound:
        if portal:  # as another provider's run: a guessed number tells nothing
            raise NotFound(NOT_YOURS) from None
        raise
    if portal and actor.party_in(book_id) != int(run.provider_party_id):
        raise NotFound(NOT_YOURS)
    book = ledger.get_book(conn, book_id)
    found = _lines(conn, book_id, run_id)
    currency = next(
        (line["currency"] for line in found if line["currency"]), str(book["base_currency"])
    )
    locale = book_locale(book)
    centres = tuple(sorted(cost_centres(conn, run_id).items()))
    adjustments = _adjustments(conn, run_id)
    provider = int(run.provider_party_id)
    ref, name = party_names(conn, book_id, [provider]).get(provider, ("", ""))
    sequence = int(run.sequence)
    number = invoice_number(str(book["code"]), ref, run_id, sequence)
    for item in (*found, *adjustments):
        item.update(
            run_id=run_id,
            provider_ref=ref,
            amount=money_text(item["amount_minor"], currency),
            day=local_date(date.fromisoformat(item["date"]), locale),
            on=date.fromisoformat(item["date"]),
            invoice=number,
        )
    visits = sum(amount for _, amount in centres)
    adjusted = sum(a["amount_minor"] for a in adjustments)
    issued = run.posted_on or today or datetime.now(ZoneInfo(str(book["timezone"]))).date()
    due = run.due_on or issued + timedelta(days=payment_terms_days(conn, book_id, provider))
    return SelfBill(
        str(book["code"]),
        str(book["name"]),
        provider,
        ref,
        name,
        run_id,
        run.period_start,
        run.period_end,
        str(run.status),
        None if run.entry_id is None else int(run.entry_id),
        sequence,
        issued,
        due,
        postal_address(conn, book_id, provider),
        party_identifier(conn, book_id, provider, IdentifierScheme.UK_VAT),
        str(book.get("address") or ""),
        book.get("vat_number"),
        currency,
        locale,
        tuple(found),
        centres,
        tuple(adjustments),
        visits,
        adjusted,
        visits + adjusted,
    )


def _lines(conn: Connection, book_id: int, run_id: int) -> list[dict[str, Any]]:
    o, v, a = visit_outcomes.c, planned_visits.c, actual_records.c
    moment = func.coalesce(v.start_s, a.check_in_s)
    rows = conn.execute(
        select(
            o.id,
            moment.label("moment_s"),
            v.ref.label("visit_ref"),
            a.ref.label("record_ref"),
            func.coalesce(v.client_party_id, a.client_party_id).label("client_id"),
            a.client_ref.label("sent_client_ref"),  # a client not in the book: as sent
            a.carer_ref,
            a.check_in_s,
            a.check_out_s,
            v.start_s.label("planned_start_s"),
            v.end_s.label("planned_end_s"),
            o.flags,
            func.coalesce(v.service_code, a.service_code).label("cost_centre"),
            o.status,
            o.rule,
            o.decision,
            o.exception,
            o.planned_minutes,
            o.delivered_minutes,
            o.final_minutes,
            o.final_amount_minor,
            o.currency,
            o.reason,
            o.decision_reason,
        )
        .select_from(
            visit_outcomes.outerjoin(planned_visits, v.id == o.planned_visit_id).outerjoin(
                actual_records, a.id == o.actual_record_id
            )
        )
        .where(o.run_id == run_id)
        .order_by(moment, o.id)
    ).all()
    clients = party_names(conn, book_id, (r.client_id for r in rows if r.client_id is not None))
    lines = []
    for r in rows:
        day, time = clock_text(int(r.moment_s))
        lines.append(
            {
                "kind": "visit",
                "outcome_id": int(r.id),
                "date": day,
                "time": time,
                "visit_ref": r.visit_ref or "",
                "record_ref": r.record_ref or "",
                "client_ref": clients.get(r.client_id, (r.sent_client_ref or "", ""))[0],
                "carer": r.carer_ref or "",
                "planned": _span(r.planned_start_s, r.planned_end_s),
                "check_in": _time(r.check_in_s),
                "check_out": _time(r.check_out_s),
                "flags": flags_text(r.flags),
                "cost_centre": r.cost_centre,
                "status": r.status,
                "rule": r.rule,
                "decision": r.decision or "",
                "exception": bool(r.exception),
                "planned_minutes": int(r.planned_minutes),
                "delivered_minutes": int(r.delivered_minutes),
                "paid_minutes": int(r.final_minutes),
                "amount_minor": int(r.final_amount_minor),
                "currency": r.currency,
                "reason": r.decision_reason or r.reason,
            }
        )
    return lines


def _time(moment_s: int | None) -> str:
    return "" if moment_s is None else clock_text(int(moment_s))[1]


def _span(start_s: int | None, end_s: int | None) -> str:
    return "" if start_s is None else f"{_time(start_s)}-{_time(end_s)}"


def _adjustments(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    j = care_adjustments.c
    rows = conn.execute(
        select(
            j.id, j.amount_minor, j.currency, j.reason, j.requested_by, j.decided_by, j.decided_at
        )
        .where(and_(j.run_id == run_id, j.status == "approved"))
        .order_by(j.id)
    ).all()
    return [
        {
            "kind": "adjustment",
            "adjustment_id": int(r.id),
            "date": r.decided_at[:10],
            "time": "",
            "cost_centre": ADJUSTMENTS_CENTRE,
            "status": "approved",
            "decision": "",
            "amount_minor": int(r.amount_minor),
            "currency": r.currency,
            "reason": r.reason,
            "requested_by": r.requested_by,
            "approved_by": r.decided_by,
        }
        for r in rows
    ]


# ---------------------------------------------------------------- files

_C, _K = Column, Kind
LINE_COLUMNS = (
    _C("invoice", "Invoice number", _K.LABEL),
    _C("run_id", "Run"),
    _C("provider_ref", "Provider ref", _K.TEXT),
    _C("kind", "Line", _K.LABEL),
    _C("on", "Date", _K.DATE),
    _C("time", "Time (local)", _K.LABEL),
    _C("planned", "Planned (local)", _K.LABEL),
    _C("check_in", "Check-in", _K.LABEL),
    _C("check_out", "Check-out", _K.LABEL),
    _C("visit_ref", "Visit", _K.TEXT),
    _C("record_ref", "Record", _K.TEXT),
    _C("client_ref", "Client ref", _K.TEXT),
    _C("carer", "Carer", _K.TEXT),
    _C("cost_centre", "Cost centre (service)", _K.TEXT),
    _C("status", "Status", _K.LABEL),
    _C("flags", "Flags", _K.LABEL),
    _C("decision", "Decision", _K.LABEL),
    _C("planned_minutes", "Hours planned", _K.HOURS),
    _C("delivered_minutes", "Hours delivered", _K.HOURS),
    _C("paid_minutes", "Hours paid", _K.HOURS),
    _C("amount_minor", "Amount paid", _K.MONEY),
    _C("currency", "Currency", _K.LABEL),
    _C("reason", "Reason", _K.TEXT),
)
ADJUSTMENT_COLUMNS = (
    _C("invoice", "Invoice number", _K.LABEL),
    _C("adjustment_id", "Adjustment"),
    _C("on", "Approved on", _K.DATE),
    _C("reason", "Reason", _K.TEXT),
    _C("requested_by", "Requested by", _K.TEXT),
    _C("approved_by", "Approved by", _K.TEXT),
    _C("amount_minor", "Amount", _K.MONEY),
    _C("currency", "Currency", _K.LABEL),
)


def selfbill_csv(bill: SelfBill) -> bytes:
    """The lines, then the approved adjustments, in one flat UTF-8 CSV."""
    return table_csv(LINE_COLUMNS, (*bill.lines, *bill.adjustments))


def vat_text(number: str | None) -> str:
    """A VAT registration number as HMRC prints it (GB 123 4567 89), or "not registered"."""
    if not number:
        return "not registered"
    if number.isdigit() and len(number) in (9, 12):
        groups = [number[:3], number[3:7], number[7:9], number[9:]]
        return "GB " + " ".join(g for g in groups if g)
    return f"GB {number}"


def header_fields(bill: SelfBill) -> list[tuple[str, Any]]:
    """The document's header, as (label, value); dates stay dates (the XLSX types them)."""
    return [
        ("Invoice number", bill.number),
        ("Issue date", bill.issued_on),
        ("Payment due", bill.due_on),
        ("Council", bill.book_name),
        ("Council address", bill.book_address.replace("\n", ", ") or "not set"),
        ("Council VAT number", vat_text(bill.book_vat_number)),
        ("Provider", bill.provider_name),
        ("Provider ref", bill.provider_ref),
        ("Provider address", bill.provider_address.replace("\n", ", ") or "not held"),
        ("Provider VAT number", vat_text(bill.provider_vat_number)),
        ("Period", f"{bill.day(bill.period_start)} to {bill.day(bill.period_end)}"),
        ("Run", bill.run_id),
        ("Status", bill.status),
        ("Ledger entry", bill.entry_id if bill.entry_id is not None else "not posted"),
        ("Currency", bill.currency),
    ]


def selfbill_xlsx(bill: SelfBill) -> bytes:
    from openpyxl import Workbook  # noqa: PLC0415 - heavy import, only when exporting
    from openpyxl.styles import Font  # noqa: PLC0415

    book = Workbook()
    summary = book.active
    summary.title = "Self-bill"
    bold = Font(bold=True)
    row = 1
    for label, value in header_fields(bill):
        put_cell(summary, row, 1, label)
        put_cell(summary, row, 2, value)
        row += 1
    row += 1
    for j, heading in enumerate(("Cost centre", "Amount"), start=1):
        summary.cell(row, j, heading).font = bold
    totals = [
        *((centre, amount) for centre, amount in bill.cost_centres),
        ("Visits total", bill.visits_minor),
        ("Adjustments (approved)", bill.adjustments_minor),
        ("Grand total", bill.total_minor),
    ]
    for label, amount in totals:
        row += 1
        put_cell(summary, row, 1, label)
        put_cell(summary, row, 2, typed_value(amount, Kind.MONEY, bill.currency), Kind.MONEY)
        summary.cell(row, 2).number_format = money_format(bill.currency)
    summary.cell(row, 1).font = bold
    summary.column_dimensions["A"].width = 26
    summary.column_dimensions["B"].width = 30
    for title, columns, rows in (
        ("Visits", LINE_COLUMNS, bill.lines),
        ("Adjustments", ADJUSTMENT_COLUMNS, bill.adjustments),
    ):
        sheet = book.create_sheet(title)
        write_sheet(sheet, columns, rows)
        sheet.freeze_panes = "A2"
    return workbook_bytes(book)


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hours"] = hours_text
    return env


def selfbill_html(bill: SelfBill) -> str:
    return (
        environment()
        .get_template("care/selfbill_pdf.html")
        .render(bill=bill, header=header_fields(bill))
    )


PRINT_CSS = """
@page { size: A4 landscape; margin: 14mm 12mm 16mm 12mm;
        @bottom-left { content: string(billref); font: 7.5pt "DejaVu Sans", sans-serif;
                       color: #555; }
        @bottom-right { content: counter(page) " / " counter(pages);
                        font: 7.5pt "DejaVu Sans", sans-serif; color: #555; } }
html { font: 8.5pt/1.35 "DejaVu Sans", sans-serif; color: #000; }
h1 { font-size: 14pt; margin: 0 0 1mm; }
.billref { string-set: billref content(); font-size: 9pt; margin: 0 0 4mm; }
dl.header { display: grid; grid-template-columns: 32mm auto; margin: 0 0 5mm; }
dl.header dt { font-weight: bold; } dl.header dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: 0 0 5mm; }
th, td { border-bottom: 0.4pt solid #999; padding: 0.8mm 1.2mm; text-align: left;
         vertical-align: top; }
thead { display: table-header-group; } tr { break-inside: avoid; }
th { background: #eee; } .num { text-align: right; white-space: nowrap; }
tfoot td, tr.total td { font-weight: bold; border-top: 0.8pt solid #000; }
h2 { font-size: 10.5pt; margin: 4mm 0 1.5mm; } .summary { width: 50%; }
td.reason { font-size: 7pt; color: #333; width: 24%; } .nowrap { white-space: nowrap; }
section.more { break-after: page; } tr.pagetotal td { font-weight: bold;
    border-top: 0.8pt solid #000; } td.carried { font-size: 7pt; color: #555; border: 0; }
tr.grand td { font-size: 11pt; }
.draft { position: fixed; top: 60mm; left: 40mm; font-size: 110pt; font-weight: bold;
         color: rgba(200, 0, 0, 0.18); transform: rotate(-20deg); z-index: -1; }
.parties { display: flex; gap: 8mm; margin: 0 0 3mm; } .parties > div { flex: 1; }
.parties h3 { font-size: 8.5pt; margin: 0 0 1mm; color: #444; } .parties p { margin: 0; }
.wording { font-size: 8pt; border: 0.6pt solid #999; padding: 1.5mm 2mm; margin: 0 0 3mm; }
"""


def selfbill_pdf(bill: SelfBill) -> bytes:
    """The self-bill as an A4 landscape PDF; nothing outside the document is fetched."""
    from weasyprint import CSS, HTML  # noqa: PLC0415 - heavy import, only when printing
    from weasyprint.urls import URLFetcher  # noqa: PLC0415

    fetcher = URLFetcher(allowed_protocols=("data",))
    pdf = HTML(string=selfbill_html(bill), url_fetcher=fetcher).write_pdf(
        stylesheets=[CSS(string=PRINT_CSS, url_fetcher=fetcher)]
    )
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() without a target
        raise TypeError("WeasyPrint returned no PDF")
    return pdf
