"""The provider file (issue 11, point 1): required documents per provider type, their
dates, a provisional carer's 30 days, the payment held while a file is incomplete with the
missing items listed, reminders of expiring documents as cases, and the pages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from remit.access.model import Role
from remit.cases import service as cases
from remit.childcare import compliance
from remit.childcare import demo as cc_demo
from remit.childcare import month as cc_month
from remit.childcare.providerfile import (
    DocumentKind,
    FileDocument,
    file_status,
    required,
)
from remit.errors import ValidationFailed
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.testkit import person
from remit.testkit.childcare_book import worked_example_book

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats" / "childcare.md"
BLOCK = re.compile(r"<!-- (file|output) (\S+) -->\n```\w*\n(.*?)```\n", re.S)
FILES = {name: text for kind, name, text in BLOCK.findall(DOC.read_text()) if kind == "file"}
OCTOBER = date(2026, 10, 1)
NOV = date(2026, 11, 1)
ATTENDANCE = "".join(
    line for line in FILES["attendance.csv"].splitlines(keepends=True) if not line.startswith("C9,")
)
HEADER = cc_demo.DOCUMENT_HEADER


def _doc(n, kind, status, start, ends=None, ref=""):
    return FileDocument(n, DocumentKind(kind), status, start, ends, ref)


# ---------------------------------------------------------------- the rules


def test_each_type_needs_its_documents_and_a_relative_needs_no_trustline():
    assert set(required("center", None)) == {"w9", "rate_sheet", "rate_statement", "licence"}
    assert set(required("fcch", None)) == set(required("center", None))
    assert set(required("exempt", "other")) == {"w9", "health_safety", "trustline"}
    assert set(required("exempt", "grandparent")) == {"w9", "health_safety"}
    assert "closure_policy" not in required("center", None)


def test_a_document_counts_only_on_its_days_and_a_renewal_or_suspension_rules_from_its_date():
    base = [
        _doc(1, "w9", "received", date(2020, 1, 1)),
        _doc(2, "rate_sheet", "received", date(2020, 1, 1)),
        _doc(3, "rate_statement", "received", date(2020, 1, 1)),
        _doc(4, "licence", "active", date(2020, 1, 1), date(2026, 11, 15), "L1"),
    ]
    nov_end = date(2026, 11, 30)
    expired = file_status("center", None, None, base, NOV, nov_end)
    assert not expired.complete
    assert expired.missing == ("licence expired 2026-11-15",)
    assert file_status("center", None, None, base, NOV, date(2026, 11, 15)).complete
    renewed = [*base, _doc(5, "licence", "active", date(2026, 11, 16), date(2028, 11, 15), "L1")]
    assert file_status("center", None, None, renewed, NOV, nov_end).complete
    suspended = [*renewed, _doc(6, "licence", "suspended", date(2026, 11, 20))]
    status = file_status("center", None, None, suspended, NOV, nov_end)
    assert status.missing == ("licence suspended from 2026-11-20",)
    assert file_status("center", None, None, base[:3], NOV, nov_end).missing == (
        "licence not on file",
    )
    # A closure policy is not required; closure days are paid only with one in force.
    assert not file_status("center", None, None, renewed, NOV, nov_end).closure_policy
    with_policy = [*renewed, _doc(7, "closure_policy", "received", date(2026, 7, 1))]
    assert file_status("center", None, None, with_policy, NOV, nov_end).closure_policy


def test_a_provisional_carer_is_paid_from_its_first_day_only_if_cleared_within_30_days():
    docs = [
        _doc(1, "w9", "received", date(2026, 10, 1)),
        _doc(2, "health_safety", "received", date(2026, 10, 1)),
        _doc(3, "trustline", "applied", date(2026, 10, 28)),
    ]
    start, end = NOV, date(2026, 11, 30)
    pending = file_status("exempt", "other", NOV, docs, start, end)
    assert not pending.complete and pending.provisional_until == date(2026, 11, 30)
    assert pending.missing[0].startswith("TrustLine registration pending: provisional until")
    cleared_in_time = [*docs, _doc(4, "trustline", "cleared", date(2026, 11, 30), None, "T1")]
    assert file_status("exempt", "other", NOV, cleared_in_time, start, end).complete
    too_late = [*docs, _doc(4, "trustline", "cleared", date(2026, 12, 1), None, "T1")]
    december = file_status("exempt", "other", NOV, too_late, date(2026, 12, 1), date(2026, 12, 31))
    assert december.complete  # paid from the clearance on
    november = file_status("exempt", "other", NOV, too_late, start, end)
    assert not november.complete  # nothing for the provisional days that ended uncleared
    assert "not cleared within the provisional days" in november.missing[0]
    # Without being made provisional, an application is not enough.
    assert not file_status("exempt", "other", None, cleared_in_time, start, end).complete


# ---------------------------------------------------------------- in a book


@pytest.fixture
def agency(db, system):
    return worked_example_book(db, system, documents=False)


def clerk(book_id):
    return person("cc-clerk", book_id, Role.CLERK)


def _rows(db, book_id, month=OCTOBER):
    with db.read() as conn:
        rows, _ = cc_month.month_rows(conn, clerk(book_id), book_id, month)
    return {r["provider_ref"]: r for r in rows}


def test_without_documents_every_child_month_is_held_with_what_is_missing(db, agency):
    with db.write() as conn:
        done = cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        missing = compliance.month_missing(conn, clerk(agency), agency, OCTOBER)
    assert done.payable == 0
    assert all("file_incomplete" in r["reasons"] for r in _rows(db, agency).values())
    assert missing["P-SUN"] == (
        "W-9 not on file",
        "rate sheet not on file",
        "signed rate statement not on file",
        "licence not on file",
    )
    assert missing["P-ABUELA"] == (
        "W-9 not on file",
        "Health & Safety self-certification not on file",
        "TrustLine registration not on file",
    )


def test_documents_complete_a_file_and_an_expired_licence_holds_only_its_provider(db, agency):
    docs = cc_demo.documents_for(FILES["providers.csv"].encode())
    with db.write() as conn:
        assert compliance.import_documents(conn, clerk(agency), agency, docs) == (12, 0)
        assert compliance.import_documents(conn, clerk(agency), agency, docs) == (0, 12)
        cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
    rows = _rows(db, agency)
    assert rows["P-SUN"]["status"] == rows["P-ROSA"]["status"] == "payable"
    # P-ROSA's licence was suspended from October 10: only its child-months are held.
    suspended = f"{HEADER}P-ROSA,licence,suspended,2026-10-10,,LIC-P-ROSA,\n"
    with db.write() as conn:
        compliance.import_documents(conn, clerk(agency), agency, suspended.encode())
        cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        missing = compliance.month_missing(conn, clerk(agency), agency, OCTOBER)
    rows = _rows(db, agency)
    assert "file_incomplete" in rows["P-ROSA"]["reasons"]
    assert rows["P-SUN"]["status"] == "payable"
    assert missing["P-ROSA"] == ("licence suspended from 2026-10-10",)


def test_a_bad_documents_file_names_each_line_and_field_and_writes_nothing(db, agency):
    bad = (
        f"{HEADER}"
        "P-SUN,w8,received,2026-07-01,,,\n"  # no such kind
        "P-SUN,licence,active,2026-07-01,,,\n"  # a licence without its number
        "P-SUN,rate_sheet,received,2026-07-01,,,\n"  # a rate sheet without the rate
        "P-SUN,w9,received,2026-07-01,2026-06-30,,\n"  # expires before it holds
        "P-SUN,trustline,pending,2026-07-01,,,\n"  # no such status
        "P-NOBODY,w9,received,2026-07-01,,,\n"
    )
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.import_documents(conn, clerk(agency), agency, bad.encode(), "docs.csv")
    assert [(p.line, p.field) for p in failed.value.problems] == [
        (2, "kind"),
        (3, "reference"),
        (4, "unsubsidised_rate"),
        (5, "expires_on"),
        (6, "status"),
    ]
    unknown = f"{HEADER}P-NOBODY,w9,received,2026-07-01,,,\n"
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.import_documents(conn, clerk(agency), agency, unknown.encode(), "docs.csv")
    assert [(p.line, p.check) for p in failed.value.problems] == [(2, "unknown_provider")]
    with db.read() as conn:
        found = compliance.compliance(conn, clerk(agency), agency, date(2026, 10, 1))
    assert all(not f.records for f in found.files)  # nothing written
    # The same record with other values is refused: a change is a record from a new date.
    with db.write() as conn:
        compliance.import_documents(
            conn, clerk(agency), agency, f"{HEADER}P-SUN,w9,received,2026-07-01,,,\n".encode()
        )
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.import_documents(
            conn,
            clerk(agency),
            agency,
            f"{HEADER}P-SUN,w9,withdrawn,2026-07-01,,,\n".encode(),
        )
    assert [p.check for p in failed.value.problems] == ["conflict"]


def test_a_provisional_carer_is_made_so_once_with_its_application_in(db, agency):
    with db.read() as conn:
        abuela = parties.party_id_for(conn, agency, "P-ABUELA")
        sun = parties.party_id_for(conn, agency, "P-SUN")
    today = date(2026, 11, 5)
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.make_provisional(conn, clerk(agency), agency, sun, today, today=today)
    assert "provider" in [p.field for p in failed.value.problems]
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.make_provisional(conn, clerk(agency), agency, abuela, today, today=today)
    assert [p.check for p in failed.value.problems] == ["trustline_application"]
    with db.write() as conn:
        compliance.record_document(
            conn,
            clerk(agency),
            agency,
            abuela,
            compliance.NewRecord("trustline", "applied", date(2026, 11, 1)),
        )
        last = compliance.make_provisional(
            conn, clerk(agency), agency, abuela, date(2026, 11, 2), today=today
        )
        assert last == date(2026, 12, 1)
        found = compliance.provider_file(conn, clerk(agency), agency, abuela, today)
    assert found.status.provisional_until == date(2026, 12, 1)
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.make_provisional(conn, clerk(agency), agency, abuela, today, today=today)
    assert [p.check for p in failed.value.problems] == ["once"]


def test_a_document_nearing_its_expiry_opens_one_reminder_case(db, agency):
    docs = cc_demo.documents_for(FILES["providers.csv"].encode()).decode()
    docs = docs.replace(
        "P-SUN,licence,active,2024-07-01,2027-06-30", "P-SUN,licence,active,2024-07-01,2026-12-20"
    )
    with db.write() as conn:
        compliance.import_documents(conn, clerk(agency), agency, docs.encode())
        today = date(2026, 11, 1)
        assert compliance.send_reminders(conn, clerk(agency), agency, today) == 1
        assert compliance.send_reminders(conn, clerk(agency), agency, today) == 0
        found = compliance.compliance(conn, clerk(agency), agency, today)
        queue = cases.list_cases(conn, clerk(agency), agency, cases.CaseFilter())
    [sun] = [f for f in found.files if f.ref == "P-SUN"]
    assert [r.kind for r in sun.expiring] == ["licence"]
    assert any("P-SUN: licence expires 2026-12-20" in c.title for c in queue)
    assert found.complete == 3 and found.share_text == "75.0%"
    assert compliance.compliance_csv(found).decode().splitlines()[0].startswith("Provider,Name,")


def test_a_record_entered_on_the_page_checks_its_fields(db, agency):
    with db.read() as conn:
        sun = parties.party_id_for(conn, agency, "P-SUN")
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        compliance.record_document(
            conn,
            clerk(agency),
            agency,
            sun,
            compliance.NewRecord("licence", "active", date(2026, 7, 1), date(2026, 6, 1)),
        )
    assert {p.field for p in failed.value.problems} == {"expires_on", "reference"}
    with db.write() as conn:
        compliance.record_document(
            conn,
            clerk(agency),
            agency,
            sun,
            compliance.NewRecord(
                "licence",
                "active",
                date(2026, 7, 1),
                None,
                "L-77",
                filename="licence.pdf",
                content=b"%PDF-1.4\n%demo\n",
            ),
        )
        found = compliance.provider_file(conn, clerk(agency), agency, sun, date(2026, 8, 1))
    assert [r["reference"] for r in found.records] == ["L-77"]
    assert ("licence", "") in found.required_status


# ---------------------------------------------------------------- attendance as XLSX


def _workbook(rows):
    import io  # noqa: PLC0415

    from openpyxl import Workbook  # noqa: PLC0415

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_an_xlsx_record_reads_as_its_csv_and_names_each_problem_by_row(db, agency):
    from datetime import time  # noqa: PLC0415

    header = FILES["attendance.csv"].splitlines()[0].split(",")
    signed, received = date(2026, 10, 31), date(2026, 11, 3)
    good = _workbook(
        [
            header,
            ["C1", date(2026, 10, 1), time(8), time(12), None, signed, signed, received],
            ["C1", date(2026, 10, 2), time(8), time(12, 30), None, signed, signed, received],
        ]
    )
    with db.write() as conn:
        got = cc_month.import_attendance(conn, clerk(agency), agency, good, "c1.xlsx")
    assert (got.records_replaced, got.days) == (1, 2)
    bad = _workbook(
        [
            header,
            ["C1", date(2026, 10, 1), time(8), time(7), None, signed, signed, received],
            [],
            ["C1", "2026-10-40", time(8), time(9), None, signed, signed, received],
        ]
    )
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        cc_month.import_attendance(conn, clerk(agency), agency, bad, "bad.xlsx")
    assert [(p.source, p.line, p.field) for p in failed.value.problems] == [
        ("bad.xlsx", 2, "time_out"),
        ("bad.xlsx", 4, "date"),
    ]
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        cc_month.import_attendance(conn, clerk(agency), agency, b"PK\x03\x04xl/ junk", "x.xlsx")
    assert [(p.field, p.check) for p in failed.value.problems] == [("file", "xlsx")]


def test_the_same_attendance_sent_again_is_neither_new_nor_replaced(db, agency):
    with db.write() as conn:
        again = cc_month.import_attendance(conn, clerk(agency), agency, ATTENDANCE.encode())
        changed = ATTENDANCE.replace(",09:00,12:00,", ",09:00,12:15,", 1)
        assert changed != ATTENDANCE
        once_more = cc_month.import_attendance(conn, clerk(agency), agency, changed.encode())
    assert (again.records_new, again.records_replaced, again.days) == (0, 0, 0)
    assert again.records_unchanged == once_more.records_unchanged + 1 > 1
    assert (once_more.records_new, once_more.records_replaced) == (0, 1)


def test_an_incomplete_file_holds_the_providers_payments_until_it_is_complete(db, agency):
    from remit.payments import blocks  # noqa: PLC0415

    docs = cc_demo.documents_for(FILES["providers.csv"].encode())
    with db.write() as conn:
        compliance.import_documents(conn, clerk(agency), agency, docs)
        rosa = parties.party_id_for(conn, agency, "P-ROSA")
        held = {b.party_id: b for b in blocks.active_blocks(conn, agency)}
    new = parties_by_ref(db, agency)["P-NEW"]
    # Every file complete but P-NEW's (no record): only P-NEW's payments are held.
    assert set(held) == {new} and held[new].source == "childcare.file"
    assert "W-9 not on file" in held[new].note
    with db.read() as conn:
        today = ledger.book_today(conn, agency)  # the hold follows the file as it is today
    suspended = f"{HEADER}P-ROSA,licence,suspended,{today.isoformat()},,LIC-P-ROSA,\n"
    with db.write() as conn:
        compliance.import_documents(conn, clerk(agency), agency, suspended.encode())
        assert {b.party_id for b in blocks.active_blocks(conn, agency)} == {new, rosa}
        compliance.record_document(
            conn,
            clerk(agency),
            agency,
            rosa,
            compliance.NewRecord(
                "licence", "active", today + timedelta(days=1), None, "LIC-P-ROSA-2"
            ),
        )
        # Still suspended today: the renewal holds only from tomorrow.
        assert rosa in {b.party_id for b in blocks.active_blocks(conn, agency)}
        assert compliance.sync_holds(
            conn, clerk(agency), agency, today=today + timedelta(days=1)
        ) == (0, 1)
        assert {b.party_id for b in blocks.active_blocks(conn, agency)} == {new}


def parties_by_ref(db, book_id):
    with db.read() as conn:
        return {
            ref: parties.party_id_for(conn, book_id, ref)
            for ref in ("P-SUN", "P-ROSA", "P-ABUELA", "P-NEW")
        }
