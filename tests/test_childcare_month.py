"""A month of child care in a book (issue 11, points 3-5): the worked example of
docs/formats/childcare.md imported into a book gives the offline command's rows, the
payable child-months are posted once as their providers' open items due 21 days after the
record, an incomplete record holds back only its own child-month, and a posted child-month
is never paid twice."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest

from remit.access.model import Role
from remit.childcare import adjustments
from remit.childcare import compliance as cc_compliance
from remit.childcare import demo as cc_demo
from remit.childcare import month as cc_month
from remit.childcare import service as childcare
from remit.errors import ValidationFailed
from remit.ledger import items as open_items
from remit.ledger import posting
from remit.ledger import service as ledger
from remit.ledger.model import EntryDraft, PostingDraft
from remit.parties import service as parties
from remit.testkit import person
from remit.testkit.childcare_book import worked_example_book

DOC = Path(__file__).resolve().parents[1] / "docs" / "formats" / "childcare.md"
BLOCK = re.compile(r"<!-- (file|output) (\S+) -->\n```\w*\n(.*?)```\n", re.S)
OCTOBER = date(2026, 10, 1)
FILES = {name: text for kind, name, text in BLOCK.findall(DOC.read_text()) if kind == "file"}
OUTPUT = {name: text for kind, name, text in BLOCK.findall(DOC.read_text()) if kind == "output"}
# The book refuses a record of a certificate it does not hold (the offline command makes
# it a row of its own): the example's C9 stays out of the book.
ATTENDANCE = "".join(
    line for line in FILES["attendance.csv"].splitlines(keepends=True) if not line.startswith("C9,")
)


@pytest.fixture
def agency(db, system):
    return worked_example_book(db, system)


def clerk(book_id):
    return person("cc-clerk", book_id, Role.CLERK)


def expected_rows():
    rows = list(csv.DictReader(io.StringIO(OUTPUT["payments.csv"])))
    return [r for r in rows if r["certificate_id"] != "C9"]


FIELDS = ("status", "reasons", "basis", "gross_minor", "family_fee_minor", "net_minor")


def book_rows(db, book_id):
    with db.read() as conn:
        rows, totals = cc_month.month_rows(conn, clerk(book_id), book_id, OCTOBER)
    return rows, totals


def test_the_month_in_the_book_is_what_the_offline_command_gives(db, agency):
    with db.write() as conn:
        summary = cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
    assert (summary.payable, summary.incomplete) == (4, 1)
    rows, totals = book_rows(db, agency)
    got = {
        (r["certificate_ref"], r["version_key"]): {
            **{k: str(r[k]) for k in FIELDS},
            "units": r["units"],
            "due_by": "" if r["due_by"] is None else str(r["due_by"]),
        }
        for r in rows
    }
    want = {
        (r["certificate_id"], r["version_from"]): {
            **{k: r[k] for k in FIELDS},
            "units": r["units"],
            "due_by": r["due_by"],
        }
        for r in expected_rows()
    }
    assert got == want
    assert totals["net_minor"] == 360440


def test_payable_child_months_are_posted_once_as_open_items_due_after_the_record(db, agency):
    with db.write() as conn:
        cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        posted = cc_month.post_month(conn, clerk(agency), agency, OCTOBER)
    assert (posted.posted, posted.net_minor) == (4, 360440)
    with db.read() as conn:
        rosa = parties.party_id_for(conn, agency, "P-ROSA")
        items = open_items.open_items(conn, clerk(agency), agency, account="2000", party_id=rosa)
    assert sorted((i.doc_ref, i.open_minor, i.due_date) for i in items) == [
        ("C2 2026-10", -84000, date(2026, 11, 23)),
        ("C2 2026-10", -45000, date(2026, 11, 23)),
    ]
    with db.write() as conn:  # again: nothing more
        assert cc_month.post_month(conn, clerk(agency), agency, OCTOBER).posted == 0
        again = cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        assert (again.posted_kept, again.differs) == (4, 0)
        assert cc_month.post_month(conn, clerk(agency), agency, OCTOBER).posted == 0
    _rows, totals = book_rows(db, agency)
    assert (totals["posted"], totals["posted_minor"], totals["rows"]) == (4, 360440, 5)


def test_an_incomplete_record_holds_back_only_its_child_and_is_paid_once_corrected(db, agency):
    with db.write() as conn:
        cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        cc_month.post_month(conn, clerk(agency), agency, OCTOBER)
    rows, _ = book_rows(db, agency)
    c4 = next(r for r in rows if r["certificate_ref"] == "C4")
    assert c4["status"] == "incomplete" and c4["entry_id"] is None
    header = FILES["attendance.csv"].splitlines()[0]
    corrected = f"{header}\nC4,2026-10-01,09:00,12:00,,2026-10-31,2026-10-31,2026-11-05\n"
    with db.write() as conn:  # P-NEW's file is complete now, and there is its ceiling
        cc_compliance.import_documents(
            conn,
            clerk(agency),
            agency,
            (cc_demo.DOCUMENT_HEADER + "".join(cc_demo.file_rows("P-NEW", "fcch", False))).encode(),
        )
        cc_month.import_ceilings(
            conn,
            clerk(agency),
            agency,
            (
                FILES["ceilings.csv"] + "2022-01-01,Los Angeles,fcch,2_to_5,daily,full,65.00\n"
            ).encode(),
        )
        cc_month.import_attendance(conn, clerk(agency), agency, corrected.encode(), "c4.csv")
        summary = cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        posted = cc_month.post_month(conn, clerk(agency), agency, OCTOBER)
    assert (summary.posted_kept, summary.differs) == (4, 0)
    rows, totals = book_rows(db, agency)
    c4 = next(r for r in rows if r["certificate_ref"] == "C4")
    assert (c4["status"], c4["due_by"]) == ("payable", date(2026, 11, 26))
    assert posted.posted == 1 and totals["posted"] == 5
    # The record of a posted child-month cannot come again: a correction is an adjustment.
    again = f"{header}\nC1,2026-10-01,08:00,12:00,,2026-10-31,2026-10-31,2026-11-09\n"
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        cc_month.import_attendance(conn, clerk(agency), agency, again.encode(), "late.csv")
    assert [(p.source, p.line, p.check) for p in failed.value.problems] == [
        ("late.csv", 2, "posted")
    ]


def test_bad_book_files_are_refused_with_their_lines(db, agency):
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        cc_month.import_attendance(
            conn,
            clerk(agency),
            agency,
            (
                FILES["attendance.csv"].splitlines()[0] + "\nC77,2026-10-01,08:00,09:00,,,,\n"
            ).encode(),
            "x.csv",
        )
    assert [(p.line, p.field, p.check) for p in failed.value.problems] == [
        (2, "certificate_id", "unknown_certificate")
    ]
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        changed = FILES["ceilings.csv"].replace("1600.00", "1650.00")
        cc_month.import_ceilings(conn, clerk(agency), agency, changed.encode(), "c.csv")
    assert [(p.line, p.check) for p in failed.value.problems] == [(3, "ceiling_differs")]
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        cc_month.import_providers(
            conn, clerk(agency), agency, FILES["providers.csv"].replace("P-NEW", "P-X").encode()
        )
    assert [(p.line, p.check) for p in failed.value.problems] == [(5, "unknown_provider")]
    with pytest.raises(ValidationFailed), db.write() as conn:
        cc_month.set_policy(conn, clerk(agency), agency, OCTOBER, b'basis = "guess"\n')


def test_timeliness_counts_days_from_the_record_to_the_payment(db, agency):
    with db.write() as conn:
        cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        cc_month.post_month(conn, clerk(agency), agency, OCTOBER)
        today = ledger.book_today(conn, agency)
        sun = parties.party_id_for(conn, agency, "P-SUN")
        [item] = open_items.open_items(conn, clerk(agency), agency, account="2000", party_id=sun)
        posting.post(
            conn,
            clerk(agency),
            agency,
            EntryDraft(
                today,
                "paid by hand",
                "pay-sun",
                (
                    PostingDraft("2000", 176000, "USD", sun, settles=(item.id,)),
                    PostingDraft("1000", -176000, "USD"),
                ),
            ),
        )
    with db.read() as conn:
        rows, summary = cc_month.timeliness(conn, clerk(agency), agency, OCTOBER)
    by_cert = {(r["certificate_ref"], r["version_key"]): r for r in rows}
    paid = by_cert[("C1", "2026-10-01")]
    waiting = (today - date(2026, 11, 2)).days
    assert (paid["paid_on"], paid["days"], paid["state"]) == (today, waiting, "paid")
    assert by_cert[("C3", "2026-10-01")]["state"] == "posted"
    # Received 2 November: past 21 days by now, each one a breach, worst first.
    assert summary == {
        "days_to_pay": 21,
        "rows": 4,
        "paid": 1,
        "paid_in_time": 0,
        "breaches": 4,
        "open_breaches": 3,
        "net_minor": sum(r["net_minor"] for r in rows),
        "unpaid_minor": sum(r["net_minor"] for r in rows if not r["paid_on"]),
    }
    assert 0 < summary["unpaid_minor"] < summary["net_minor"]
    with db.write() as conn:
        policy = FILES["policy.toml"].replace('basis = "certified_maximum"', "days_to_pay = 365")
        cc_month.set_policy(conn, clerk(agency), agency, date(2026, 7, 1), policy.encode())
    with db.read() as conn:
        _rows, summary = cc_month.timeliness(conn, clerk(agency), agency, OCTOBER)
    assert (summary["breaches"], summary["paid_in_time"]) == (0, 1)


def posted_october(db, book_id):
    with db.write() as conn:
        cc_month.calculate_month(conn, clerk(book_id), book_id, OCTOBER)
        cc_month.post_month(conn, clerk(book_id), book_id, OCTOBER)


def items_of(db, book_id, ref, account):
    with db.read() as conn:
        party = parties.party_id_for(conn, book_id, ref)
        found = open_items.open_items(
            conn, clerk(book_id), book_id, account=account, party_id=party
        )
    return sorted((i.doc_ref, i.open_minor) for i in found if i.doc_ref.startswith("ADJ"))


def test_an_underpayment_is_a_payable_and_an_overpayment_a_receivable_without_consent(db, agency):
    posted_october(db, agency)
    with db.write() as conn:
        under = adjustments.adjust(
            conn, clerk(agency), agency, "C3", OCTOBER, 1500, "two hours missed"
        )
        over = adjustments.adjust(
            conn, clerk(agency), agency, "C2", OCTOBER, -2000, "a day paid twice"
        )
    assert (under.kind, over.kind) == ("underpayment", "receivable")
    assert items_of(db, agency, "P-ABUELA", "2000") == [("ADJ C3 2026-10", -1500)]
    assert items_of(db, agency, "P-ROSA", "1300") == [("ADJ C2 2026-10", 2000)]
    assert items_of(db, agency, "P-ROSA", "2000") == []
    with db.read() as conn:
        listed = adjustments.adjustments(conn, clerk(agency), agency, OCTOBER)
    assert [(a["certificate_ref"], a["kind"], a["reason"]) for a in listed] == [
        ("C2", "receivable", "a day paid twice"),
        ("C3", "underpayment", "two hours missed"),
    ]


def test_with_written_consent_an_overpayment_is_recovered_from_later_payments(db, agency):
    posted_october(db, agency)
    with db.write() as conn:
        adjustments.record_consent(
            conn,
            clerk(agency),
            agency,
            "P-ROSA",
            "consent.pdf",
            b"%PDF-1.4\n%signed\n",
            date(2026, 11, 3),
        )
        over = adjustments.adjust(
            conn, clerk(agency), agency, "C2", OCTOBER, -2000, "a day paid twice"
        )
    assert over.kind == "recovery"
    # A credit on the provider's payables: the next payment run sets it against its bills.
    assert items_of(db, agency, "P-ROSA", "2000") == [("ADJ C2 2026-10", 2000)]
    assert items_of(db, agency, "P-ROSA", "1300") == []


@pytest.mark.parametrize(
    ("cert", "amount", "reason", "check"),
    [
        ("C4", 1000, "late record", "not_posted"),  # incomplete: calculate again instead
        ("C3", -55441, "all of it and a cent", "over_recovery"),
        ("C3", 0, "nothing", "amount"),
        ("C3", 100, "  ", "required"),
    ],
)
def test_a_wrong_adjustment_is_refused_and_posts_nothing(db, agency, cert, amount, reason, check):
    posted_october(db, agency)
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        adjustments.adjust(conn, clerk(agency), agency, cert, OCTOBER, amount, reason)
    assert check in {p.check for p in failed.value.problems}
    with db.read() as conn:
        assert adjustments.adjustments(conn, clerk(agency), agency, OCTOBER) == []


def test_a_recalculation_that_differs_from_what_was_paid_is_shown_not_paid(db, agency):
    posted_october(db, agency)
    cheaper = FILES["families.csv"].replace("F1,3,420000,4000", "F1,3,420000,6000")
    with db.write() as conn:
        childcare.import_files(conn, clerk(agency), agency, families=cheaper.encode())
        summary = cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        assert cc_month.post_month(conn, clerk(agency), agency, OCTOBER).posted == 0
    assert (summary.posted_kept, summary.differs) == (4, 1)
    rows, _ = book_rows(db, agency)
    c1 = next(r for r in rows if r["certificate_ref"] == "C1")
    assert (c1["net_minor"], c1["recalculated_net_minor"]) == (176000, 174000)


def test_the_frames_read_in_bulk_are_the_inputs_read_value_by_value(db, agency):
    from remit.childcare import engine  # noqa: PLC0415

    with db.read() as conn:
        frames, policy = cc_month.month_frames(conn, agency, OCTOBER)
        inputs = cc_month.month_inputs(conn, agency, OCTOBER)
    plain = engine.frames_of(inputs)
    assert policy == inputs.policy
    for name in ("certs", "attendance", "ceilings", "families", "providers"):
        keys = plain[name].columns
        assert (
            frames[name].select(keys).sort(keys).to_dicts() == plain[name].sort(keys).to_dicts()
        ), name


def test_a_change_back_into_a_posted_month_is_a_difference_to_adjust_never_a_new_payable(
    db, agency
):
    posted_october(db, agency)
    with db.read() as conn:
        rows, _ = childcare.list_certificates(conn, clerk(agency), agency, on=OCTOBER, search="C3")
    with db.write() as conn:
        childcare.change_certificate(
            conn, clerk(agency), agency, rows[0]["id"], date(2026, 10, 20),
            {"provider_rate": "8.00"}, "the provider lowered its rate",
        )  # fmt: skip
        summary = cc_month.calculate_month(conn, clerk(agency), agency, OCTOBER)
        assert cc_month.post_month(conn, clerk(agency), agency, OCTOBER).posted == 0
    assert (summary.posted_kept, summary.differs) == (4, 1)
    found, totals = book_rows(db, agency)
    c3 = [r for r in found if r["certificate_ref"] == "C3"]
    assert len(c3) == 1 and c3[0]["entry_id"] is not None  # no second row to post
    assert totals["posted"] == 4 and totals["rows"] == 5
    assert c3[0]["recalculated_net_minor"] < c3[0]["net_minor"]


def test_a_record_signed_or_received_in_the_future_is_refused(db, agency):
    header = FILES["attendance.csv"].splitlines()[0]
    ahead = f"{header}\nC4,2026-10-01,09:00,12:00,,2026-10-31,2026-10-31,2099-01-05\n"
    with pytest.raises(ValidationFailed) as failed, db.write() as conn:
        cc_month.import_attendance(conn, clerk(agency), agency, ahead.encode(), "ahead.csv")
    assert [(p.line, p.field, p.check) for p in failed.value.problems] == [
        (2, "received", "future")
    ]
