"""The self-bill as a document (issue 9, point 8): its invoice number, issue and due dates,
both parties, the self-billing wording, a DRAFT mark until posted, check-in and check-out
times and flags on every line, and a total on each page apart from the grand total."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import insert, update

from remit.care import imports, payables, runs, selfbill
from remit.care import service as care
from remit.care.store import actual_records, visit_outcomes
from remit.ledger import service as ledger
from remit.parties.store import contacts, party_identifiers

MONDAY = date(2026, 11, 2)
TODAY = date(2026, 11, 20)
ACTUAL = """record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out
R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:27:40
R2,C1,P1,K1,HC,app,2026-11-02T13:02:00,2026-11-02T13:40:00
R3,C1,P1,K2,HC,app,2026-11-02T13:03:00,2026-11-02T13:20:00
R6,C2,P2,K4,HC,phone,2026-11-02T10:15:00,2026-11-02T11:00:00
R10,C1,P1,K1,HC,app,2026-11-03T09:20:00,2026-11-03T09:50:00
R11,C1,P1,K1,HC,app,2026-11-04T08:40:00,2026-11-04T09:10:00
"""


@pytest.fixture
def week(council, db, book):
    """The council's first week planned, six records imported, one run per provider."""
    clerk = council["clerk"]
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, MONDAY + timedelta(days=6))
        imports.import_actual(conn, clerk, book, "ecm.csv", ACTUAL.encode())
        made = runs.reconcile_period(conn, clerk, book, MONDAY, MONDAY + timedelta(days=6))
        conn.execute(
            insert(contacts).values(
                party_id=council["p1"],
                name="Accounts",
                address="1 Mill Lane\nRiverside RV1 2AB",
                role="billing",
            )
        )
        conn.execute(
            update(visit_outcomes)
            .where(
                visit_outcomes.c.actual_record_id
                == actual_records.select()
                .with_only_columns(actual_records.c.id)
                .where(actual_records.c.ref == "R10")
                .scalar_subquery()
            )
            .values(flags="late_arrival,early_leaving")
        )
    return {**council, "runs": {s.provider_party_id: s.run_id for s in made}}


def _text(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


def test_a_draft_names_its_number_dates_parties_and_wording(db, book, week):
    run_id = week["runs"][week["p1"]]
    with db.read() as conn:
        bill = selfbill.self_bill(conn, week["clerk"], book, run_id, today=TODAY)
    assert bill.number == f"test-SB-P1-{run_id}" and bill.draft
    assert (bill.issued_on, bill.due_on) == (TODAY, TODAY + timedelta(days=14))
    pages = _text(selfbill.selfbill_pdf(bill))
    first = pages[0]
    assert "DRAFT" in first and f"test-SB-P1-{run_id}" in first
    assert "Issue date: 20 Nov 2026" in first and "Payment due: 4 Dec 2026" in first
    assert "Sunrise Home Care" in first and "1 Mill Lane" in first and "Riverside RV1 2AB" in first
    assert "Test council" in first and "Address not set" in first
    assert "VAT number: not registered" in first
    assert "This is a self-billed invoice" in first
    assert "agrees not to issue sales invoices" in first
    late = next(line for line in bill.lines if line["record_ref"] == "R10")
    assert (late["day"], late["planned"], late["check_in"], late["check_out"]) == (
        "3 Nov 2026",
        "09:00-09:30",
        "09:20",
        "09:50",
    )
    assert late["flags"] == "late arrival, left early"
    text = "".join(pages)
    assert "late arrival, left early" in text and "09:20" in text and "09:50" in text


def test_the_council_and_provider_addresses_and_vat_numbers_are_on_the_bill(db, book, week, system):
    """HMRC's self-billing rules: both parties' names and addresses, and the supplier's VAT
    registration number when it has one; the book's details are set once by an admin."""
    run_id = week["runs"][week["p1"]]
    with db.write() as conn:
        ledger.set_book_details(
            conn,
            system,
            book,
            address="Town Hall\n1 River Street\nRV1 1AA",
            vat_number="GB 980780684",
        )
        conn.execute(
            insert(party_identifiers).values(
                party_id=week["p1"], scheme="uk_vat", value="223456719"
            )
        )
    with db.read() as conn:
        bill = selfbill.self_bill(conn, week["clerk"], book, run_id, today=TODAY)
    fields = dict(selfbill.header_fields(bill))
    assert fields["Council address"] == "Town Hall, 1 River Street, RV1 1AA"
    assert fields["Council VAT number"] == "GB 980 7806 84"
    assert fields["Provider VAT number"] == "GB 223 4567 19"
    first = _text(selfbill.selfbill_pdf(bill))[0]
    assert "1 River Street" in first and "RV1 1AA" in first
    assert "VAT number: GB 980 7806 84" in first and "VAT number: GB 223 4567 19" in first


def test_each_page_has_its_own_total_and_the_last_the_grand_total(db, book, week, monkeypatch):
    monkeypatch.setattr(selfbill, "FIRST_PAGE_LINES", 2)
    monkeypatch.setattr(selfbill, "PAGE_LINES", 4)
    run_id = week["runs"][week["p1"]]
    with db.read() as conn:
        bill = selfbill.self_bill(conn, week["clerk"], book, run_id, today=TODAY)
    chunks = bill.pages()
    assert [len(c) for c in chunks[:-1]] == [2, *([4] * (len(chunks) - 2))]
    assert sum(len(c) for c in chunks) == len(bill.lines) and len(chunks) >= 3
    pages = _text(selfbill.selfbill_pdf(bill))
    assert len(pages) >= len(chunks)
    grand = bill.money(bill.total_minor)
    for chunk, text in zip(chunks, pages, strict=False):
        total = sum(line["amount_minor"] for line in chunk)
        assert f"Page total ({len(chunk)} lines)" in text and bill.money(total) in text
    assert bill.money(sum(line["amount_minor"] for line in chunks[0])) != grand
    assert all("Grand total" not in text for text in pages[:-1])
    assert "Grand total" in pages[-1] and grand in pages[-1]


def test_a_posted_bill_is_dated_by_its_posting_and_carries_no_draft_mark(db, book, week):
    manager, run_id = week["manager"], week["runs"][week["p2"]]
    with db.write() as conn:
        payables.set_settings(conn, manager, book, week["p2"], payment_terms_days=30)
        payables.post_payable(conn, manager, book, run_id)
        bill = selfbill.self_bill(conn, manager, book, run_id, today=TODAY)
    assert not bill.draft and bill.issued_on == date(2026, 11, 8)
    assert bill.due_on == date(2026, 12, 8)
    text = "".join(_text(selfbill.selfbill_pdf(bill)))
    assert "DRAFT" not in text and "Issue date: 8 Nov 2026" in text
    assert "Payment due: 8 Dec 2026" in text and "Address not held" in text


def test_a_supplementary_run_has_a_suffixed_number():
    assert selfbill.invoice_number("RIV", "P1", 40, 1) == "RIV-SB-P1-40-S1"
