"""Care reports and self-bills over two worked weeks.

Ada (Sunrise Home Care, P1) is planned 09:00 for 30 minutes every day and 13:00 with two
carers on weekdays: 17 carer places a week at 19.00 an hour. Alan (Oakfield Care, P2) is
planned Monday 10:00 for 45 minutes at 21.10 an hour; Oakfield's contract matches a record
up to two hours from the plan. Each week is its own run.

Week 1, Sunrise: Monday 09:00 short (22 minutes, paid 15); Monday 13:00 one carer within
tolerance (38, paid 30) and one short by 13 (17, paid 15, an exception); Tuesday 09:00 20
minutes late, Wednesday 09:00 20 minutes early, Thursday 09:00 45 minutes late (each 30,
paid 30); Tuesday 13:00 one carer (30) plus her own second record (a duplicate), the other
place missed; Friday 09:00 checked out before checking in (invalid); Saturday 18:00 a record
with no visit (unplanned); the rest missed. Week 2, Sunrise: Monday 09:00 only. Oakfield:
week 1 checked in 75 minutes late and stayed the 45 minutes; week 2 missed.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from remit.access.model import Actor, Role
from remit.care import decisions, imports, payables, reports, runs, selfbill
from remit.care import service as care
from remit.care.model import Policy
from remit.care.store import actual_records, visit_outcomes
from remit.errors import Forbidden, NotFound, ValidationFailed

MONDAY = date(2026, 11, 2)
LAST = date(2026, 11, 15)  # the Sunday of week 2
SVG = "{http://www.w3.org/2000/svg}"

ACTUAL = """record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out
R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:27:40
R2,C1,P1,K1,HC,app,2026-11-02T13:02:00,2026-11-02T13:40:00
R3,C1,P1,K2,HC,app,2026-11-02T13:03:00,2026-11-02T13:20:00
R6,C2,P2,K4,HC,phone,2026-11-02T11:15:00,2026-11-02T12:00:00
R10,C1,P1,K1,HC,app,2026-11-03T09:20:00,2026-11-03T09:50:00
R13,C1,P1,K1,HC,app,2026-11-03T13:00:00,2026-11-03T13:30:00
R14,C1,P1,K1,HC,app,2026-11-03T13:05:00,2026-11-03T13:30:00
R11,C1,P1,K1,HC,app,2026-11-04T08:40:00,2026-11-04T09:10:00
R12,C1,P1,K1,HC,app,2026-11-05T09:45:00,2026-11-05T10:15:00
R16,C1,P1,K1,HC,app,2026-11-06T09:00:00,2026-11-06T08:50:00
R15,C1,P1,K3,HC,manual,2026-11-07T18:00:00,2026-11-07T18:30:00
R20,C1,P1,K1,HC,app,2026-11-09T09:00:00,2026-11-09T09:30:00
"""


@pytest.fixture
def council(council, db, book):
    """The shared council's fortnight (tests/conftest.py), with Oakfield's contract giving a
    two-hour match window, imported and reconciled week by week."""
    clerk, manager, p2 = council["clerk"], council["manager"], council["p2"]
    with db.write() as conn:
        care.set_policy(
            conn,
            manager,
            book,
            Policy(match_window_minutes=120),
            date(2026, 1, 1),
            p2,
            "Oakfield contract: two-hour window",
        )
        care.generate_planned(conn, clerk, book, MONDAY, LAST)
        imports.import_actual(conn, clerk, book, "ecm.csv", ACTUAL.encode())
        week1 = {
            s.provider_party_id: s.run_id
            for s in runs.reconcile_period(conn, clerk, book, MONDAY, MONDAY + timedelta(days=6))
        }
        runs.reconcile_period(conn, clerk, book, MONDAY + timedelta(days=7), LAST)
    return {**council, "week1": week1}


def _figures(report, key, *names):
    return {row[key]: tuple(row[n] for n in names) for row in report.rows}


MEASURES = (
    "places",
    "planned_minutes",
    "delivered_minutes",
    "delivered_percent",
    "paid_minutes",
    "amount_minor",
    "amount",
)


def test_commissioned_against_delivered_by_provider_client_and_week(db, book, council):
    clerk = council["clerk"]
    with db.read() as conn:
        by_provider = reports.delivery(conn, clerk, book, MONDAY, LAST)
        by_client = reports.delivery(conn, clerk, book, MONDAY, LAST, "client")
        by_week = reports.delivery(conn, clerk, book, MONDAY, LAST, reports.Grouping.WEEK)
        oakfield = reports.delivery(
            conn, clerk, book, MONDAY, LAST, provider_party_id=council["p2"]
        )
    # Sunrise: 34 places of 30 minutes; delivered 22 + 30 + 30 + 30 + 0 (invalid) + 38 + 17
    # + 30 in week 1 and 30 in week 2; paid 15 + 30 x 3 + 0 + 30 + 15 + 30, and 30, at 19.00.
    sunrise = (34, 1020, 227, Decimal("22.3"), 210, 6650, "£66.50")
    alan = (2, 90, 45, Decimal("50.0"), 45, 1583, "£15.83")  # 45 minutes at 21.10: 15.825
    assert [r["provider_name"] for r in by_provider.rows] == ["Oakfield Care", "Sunrise Home Care"]
    assert _figures(by_provider, "provider_ref", *MEASURES) == {"P1": sunrise, "P2": alan}
    assert _figures(by_client, "client_ref", *MEASURES) == {"C1": sunrise, "C2": alan}
    assert [r["client_name"] for r in by_client.rows] == ["Ada Lovelace", "Alan Turing"]
    assert _figures(by_week, "week_start", *MEASURES) == {
        date(2026, 11, 2): (18, 555, 242, Decimal("43.6"), 225, 7283, "£72.83"),
        date(2026, 11, 9): (18, 555, 30, Decimal("5.4"), 30, 950, "£9.50"),
    }
    assert _figures(oakfield, "provider_ref", *MEASURES) == {"P2": alan}
    assert by_week.filename("csv") == "care-delivery-by-week-2026-11-02-2026-11-15.csv"


def test_a_week_with_nothing_reconciled_still_has_its_row(db, book, council):
    with db.read() as conn:
        report = reports.delivery(
            conn, council["clerk"], book, MONDAY, LAST + timedelta(days=1), "week"
        )
    assert [(r["week_start"], r["places"], r["amount"]) for r in report.rows][-1] == (
        date(2026, 11, 16),
        0,
        "£0.00",
    )


def test_a_period_with_no_runs_reports_nothing_but_its_weeks(db, book, council):
    clerk, first, last = council["clerk"], date(2027, 1, 4), date(2027, 1, 17)
    with db.read() as conn:
        assert reports.delivery(conn, clerk, book, first, last).rows == ()
        assert reports.exceptions(conn, clerk, book, first, last).rows == ()
        assert reports.punctuality(conn, clerk, book, first, last).rows == ()
        assert reports.delivery_charts(conn, clerk, book, first, last) == []
        weeks = reports.delivery(conn, clerk, book, first, last, "week").rows
    assert [
        (w["week_start"], w["planned_minutes"], w["delivered_percent"], w["amount"]) for w in weeks
    ] == [(first, 0, None, ""), (date(2027, 1, 11), 0, None, "")]


def test_missed_visits_and_exception_rates_by_provider(db, book, council):
    with db.read() as conn:
        report = reports.exceptions(conn, council["clerk"], book, MONDAY, LAST)
    names = (
        "places",
        "missed",
        "missed_percent",
        "exceptions",
        "exception_percent",
        "undecided",
        "unplanned",
        "duplicates",
    )
    # Sunrise missed Sat and Sun 09:00, Tue 13:00's second place and Wed to Fri 13:00 in
    # week 1 (9) and all but one place in week 2 (16); its exceptions add the short by 13,
    # the invalid record and the unplanned one: 12 + 16 over 34 places.
    assert _figures(report, "provider_ref", *names) == {
        "P1": (34, 25, Decimal("73.5"), 28, Decimal("82.4"), 28, 1, 1),
        "P2": (2, 1, Decimal("50.0"), 1, Decimal("50.0"), 1, 0, 0),
    }


def test_punctuality_buckets_by_provider(db, book, council):
    with db.read() as conn:
        report = reports.punctuality(conn, council["clerk"], book, MONDAY, LAST)
    names = (
        "matched",
        "early",
        "on_time",
        "late_15_30",
        "late_30_60",
        "late_over_60",
        "on_time_percent",
    )
    # Sunrise: +5, +2, +3, 0 (Tue 13:00), 0 (the invalid Friday), 0 (week 2) on time;
    # +20, +45 late; -20 early. The duplicate and the unplanned record hold no place.
    assert _figures(report, "provider_ref", *names) == {
        "P1": (9, 1, 6, 1, 1, 0, Decimal("66.7")),
        "P2": (1, 0, 0, 0, 0, 1, Decimal("0.0")),
    }


def test_a_chart_per_provider_has_two_bars_per_week(db, book, council):
    with db.read() as conn:
        charts = reports.delivery_charts(conn, council["clerk"], book, MONDAY, LAST)
    assert [c.provider_ref for c in charts] == ["P2", "P1"]
    sunrise = charts[1]
    root = ET.fromstring(sunrise.svg)  # noqa: S314 - our own markup; raises if malformed
    assert root.tag == f"{SVG}svg" and root.findtext(f"{SVG}title").startswith("Sunrise Home Care")
    bars = root.findall(f"{SVG}rect")
    assert len(bars) == 2 * 2  # commissioned and delivered, two weeks
    assert [b.findtext(f"{SVG}title") for b in bars] == ["8h 30m", "3h 17m", "8h 30m", "0h 30m"]
    assert "<script" not in sunrise.svg and "style=" not in sunrise.svg


def test_report_tables_round_trip_through_csv_and_xlsx(db, book, council):
    with db.read() as conn:
        by_provider = reports.delivery(conn, council["clerk"], book, MONDAY, LAST)
        by_week = reports.delivery(conn, council["clerk"], book, MONDAY, LAST, "week")
        lateness = reports.punctuality(conn, council["clerk"], book, MONDAY, LAST)
    lines = list(csv.reader(io.StringIO(reports.report_csv(by_provider).decode("utf-8"))))
    assert lines[0] == [
        "Provider ref",
        "Provider",
        "Carer visits",
        "Hours commissioned",
        "Hours delivered",
        "Delivered (%)",
        "Hours paid",
        "Amount paid",
        "Currency",
    ]
    assert lines[1:] == [
        ["P2", "Oakfield Care", "2", "1.50", "0.75", "50.0", "0.75", "15.83", "GBP"],
        ["P1", "Sunrise Home Care", "34", "17.00", "3.78", "22.3", "3.50", "66.50", "GBP"],
        ["Total", "", "36", "18.50", "4.53", "24.5", "4.25", "82.33", "GBP"],
    ]
    workbook = load_workbook(io.BytesIO(reports.report_xlsx(by_provider, by_week, lateness)))
    assert workbook.sheetnames == [
        "care-delivery-by-provider",
        "care-delivery-by-week",
        "care-punctuality-by-provider",
    ]
    sheet = workbook["care-delivery-by-provider"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(lines[0])
    assert rows[2][:6] == ("P1", "Sunrise Home Care", 34, 17, 3.78, 22.3)
    assert rows[2][6:] == (3.5, 66.5, "GBP")
    assert rows[3][0] == "Total" and rows[3][7] == 82.33
    assert sheet["H3"].data_type == "n" and sheet["H3"].number_format.startswith('"£"#,##0.00')
    assert sheet["D3"].data_type == "n" and sheet["D3"].number_format == "0.00"
    weeks = list(workbook["care-delivery-by-week"].iter_rows(values_only=True))
    # openpyxl reads a date cell back as a naive datetime at midnight
    naive_midnights = [datetime(2026, 11, 2), datetime(2026, 11, 9)]  # noqa: DTZ001
    assert [(r[0], r[6]) for r in weeks[1:3]] == list(
        zip(naive_midnights, (72.83, 9.5), strict=True)
    )
    assert workbook["care-delivery-by-week"]["A2"].is_date
    punctual = list(workbook["care-punctuality-by-provider"].iter_rows(values_only=True))
    assert punctual[2][:8] == ("P1", "Sunrise Home Care", 9, 1, 6, 1, 1, 0)


def test_text_that_a_spreadsheet_would_run_stays_text(db, book, council):
    report = reports.Report(
        "x",
        "x",
        MONDAY,
        LAST,
        (reports.Column("name", "Name", reports.Kind.TEXT),),
        ({"name": "=1+2"},),
    )
    assert reports.report_csv(report).decode().splitlines()[1] == "'=1+2"
    cell = load_workbook(io.BytesIO(reports.report_xlsx(report)))["x"]["A2"]
    assert (cell.value, cell.data_type) == ("=1+2", "s")


def test_reports_need_care_read_and_a_sensible_period(db, book, council):
    stranger = Actor("sam", roles={})
    with db.read() as conn:
        with pytest.raises(Forbidden):
            reports.delivery(conn, stranger, book, MONDAY, LAST)
        with pytest.raises(Forbidden):
            selfbill.self_bill(conn, stranger, book, council["week1"][council["p1"]])
        sunrise = Actor(
            "sunrise", roles={book: frozenset({Role.PROVIDER})}, parties={book: council["p1"]}
        )
        with pytest.raises(Forbidden):
            selfbill.self_bill(conn, sunrise, book, council["week1"][council["p1"]])
        assert (
            selfbill.self_bill(
                conn, sunrise, book, council["week1"][council["p1"]], portal=True
            ).provider_ref
            == "P1"
        )
        with pytest.raises(NotFound, match="no such self-bill of yours"):  # as a missing one
            selfbill.self_bill(conn, sunrise, book, council["week1"][council["p2"]], portal=True)
        with pytest.raises(Forbidden):
            reports.delivery(conn, sunrise, book, MONDAY, LAST)
        with pytest.raises(ValidationFailed):
            reports.punctuality(conn, council["clerk"], book, LAST, MONDAY)
        with pytest.raises(ValidationFailed, match="provider, client or week"):
            reports.delivery(conn, council["clerk"], book, MONDAY, LAST, "carer")


def _outcome_of(db, record_ref):
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes.c.id)
            .join(actual_records, actual_records.c.id == visit_outcomes.c.actual_record_id)
            .where(actual_records.c.ref == record_ref)
        ).scalar_one()


def test_a_self_bill_with_a_decision_as_csv_xlsx_and_pdf(db, book, council):
    clerk, run_id = council["clerk"], council["week1"][council["p1"]]
    with db.write() as conn:
        decisions.decide(
            conn,
            clerk,
            book,
            _outcome_of(db, "R3"),
            "accept_actual",
            "the client confirms 17 minutes",
        )
        bill = selfbill.self_bill(conn, clerk, book, run_id)
    # 17 places, the duplicate and the unplanned record; 5700 less R3's 475 plus 538 (17
    # minutes at 19.00).
    assert (bill.provider_name, bill.provider_ref, bill.status, bill.entry_id) == (
        "Sunrise Home Care",
        "P1",
        "deciding",
        None,
    )
    assert len(bill.lines) == 17 + 2 and bill.cost_centres == (("HC", 5763),)
    assert (bill.visits_minor, bill.adjustments_minor, bill.total_minor) == (5763, 0, 5763)
    first = bill.lines[0]
    assert (
        first["date"],
        first["time"],
        first["client_ref"],
        first["carer"],
        first["status"],
        first["paid_minutes"],
        first["amount"],
    ) == ("2026-11-02", "09:00", "C1", "K1", "short", 15, "£4.75")
    decided = next(line for line in bill.lines if line["record_ref"] == "R3")
    assert (
        decided["decision"],
        decided["delivered_minutes"],
        decided["paid_minutes"],
        decided["amount_minor"],
    ) == ("accept_actual", 17, 17, 538)

    rows = list(csv.DictReader(io.StringIO(selfbill.selfbill_csv(bill).decode("utf-8"))))
    assert len(rows) == 19 and {r["Run"] for r in rows} == {str(run_id)}
    assert sum(Decimal(r["Amount paid"]) for r in rows) == Decimal("57.63")
    assert {r["Invoice number"] for r in rows} == {f"test-SB-P1-{run_id}"}

    workbook = load_workbook(io.BytesIO(selfbill.selfbill_xlsx(bill)))
    assert workbook.sheetnames == ["Self-bill", "Visits", "Adjustments"]
    summary = {r[0]: r[1:] for r in workbook["Self-bill"].iter_rows(values_only=True) if r[0]}
    assert summary["Provider"][0] == "Sunrise Home Care" and summary["Run"][0] == run_id
    assert summary["Ledger entry"][0] == "not posted"
    assert summary["HC"][0] == 57.63 and summary["Grand total"][0] == 57.63
    visits = list(workbook["Visits"].iter_rows(values_only=True))
    amount = visits[0].index("Amount paid")
    assert len(visits) == 1 + 19 and visits[1][amount] == 4.75
    assert isinstance(visits[1][visits[0].index("Date")], datetime)

    pdf = PdfReader(io.BytesIO(selfbill.selfbill_pdf(bill)))
    assert pdf.pages[0].mediabox.width > pdf.pages[0].mediabox.height  # A4 landscape
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "Sunrise Home Care" in text and "Test council" in text
    assert "the client confirms 17 minutes" in text  # the decision's reason, on its line
    assert "Grand total" in text and "£57.63" in text


def test_a_posted_self_bill_names_its_entry_and_counts_approved_adjustments(db, book, council):
    manager, run_id = council["manager"], council["week1"][council["p2"]]
    other = Actor("max", roles={book: frozenset({Role.MANAGER})})
    with db.write() as conn:
        approved = payables.request_adjustment(
            conn, manager, book, run_id, 1000, "mileage agreed by phone"
        )
        payables.decide_adjustment(conn, other, book, approved, approve=True)
        refused = payables.request_adjustment(conn, manager, book, run_id, 5000, "a guess")
        payables.decide_adjustment(conn, other, book, refused, approve=False)
        entry_id = payables.post_payable(conn, manager, book, run_id)
        bill = selfbill.self_bill(conn, manager, book, run_id)
    assert (bill.status, bill.entry_id) == ("posted", entry_id)
    assert [(a["reason"], a["amount"]) for a in bill.adjustments] == [
        ("mileage agreed by phone", "£10.00")
    ]
    assert (bill.visits_minor, bill.adjustments_minor, bill.total_minor) == (1583, 1000, 2583)
    rows = list(csv.DictReader(io.StringIO(selfbill.selfbill_csv(bill).decode("utf-8"))))
    assert [(r["Line"], r["Cost centre (service)"], r["Amount paid"]) for r in rows] == [
        ("visit", "HC", "15.83"),
        ("adjustment", "adjustments", "10.00"),
    ]
    summary = {
        r[0]: r[1:]
        for r in load_workbook(io.BytesIO(selfbill.selfbill_xlsx(bill)))["Self-bill"].iter_rows(
            values_only=True
        )
        if r[0]
    }
    assert summary["Ledger entry"][0] == entry_id
    assert summary["Adjustments (approved)"][0] == 10
    assert summary["Grand total"][0] == 25.83
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(selfbill.selfbill_pdf(bill))).pages
    )
    assert "Oakfield Care" in text and "£25.83" in text and "mileage agreed by phone" in text
    assert bill.filename("pdf") == f"self-bill-P2-2026-11-02-2026-11-08-run-{run_id}.pdf"
