"""The bank-holiday time band in a book's run, end to end (issue 9, deliverable 5): a
package with a bank-holiday rate, a visit planned on Christmas Day (a bank holiday of the
book's calendar, England and Wales) paid at that rate from import to run, self-bill line and
posted amount; a visit that starts late on Christmas Eve and runs past midnight is priced by
the band of its planned start, not of its end."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from remit.care import decisions, imports, packages, payables, runs, selfbill
from remit.care import service as care
from remit.care.store import visit_outcomes
from remit.ledger import service as ledger

EVE, CHRISTMAS = date(2026, 12, 24), date(2026, 12, 25)  # a Thursday and a Friday
# Alan's Christmas package from Oakfield: 20.00 an hour on a weekday, 30.00 in the evening,
# 40.00 on a bank holiday. Thursday 10:00 and 23:30 (for an hour, past midnight); Friday
# 10:00 for an hour and 15:00 for half an hour.
PACKAGES = (
    "package_id,client_id,provider_id,service_code,start_date,days,start,minutes,"
    "rate_per_hour,currency,evening_rate_per_hour,bank_holiday_rate_per_hour\n"
    "XMAS-1,C2,P2,BH,2026-12-01,Thu,10:00,60,20.00,GBP,30.00,40.00\n"
    "XMAS-1,C2,P2,BH,2026-12-01,Thu,23:30,60,20.00,GBP,30.00,40.00\n"
    "XMAS-1,C2,P2,BH,2026-12-01,Fri,10:00,60,20.00,GBP,30.00,40.00\n"
    "XMAS-1,C2,P2,BH,2026-12-01,Fri,15:00,30,20.00,GBP,30.00,40.00\n"
)
RECORDS = (
    "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
    "B1,C2,P2,K4,BH,app,2026-12-24T10:00:00,2026-12-24T11:00:00\n"
    "B2,C2,P2,K4,BH,app,2026-12-24T23:30:00,2026-12-25T00:30:00\n"
    "B3,C2,P2,K4,BH,app,2026-12-25T10:00:00,2026-12-25T11:00:00\n"
    "B4,C2,P2,K4,BH,app,2026-12-25T15:00:00,2026-12-25T15:10:00\n"  # 10 of 30 minutes
)


@pytest.fixture
def christmas(db, book, council):
    """The packages file and the records imported, Oakfield's two days reconciled."""
    clerk = council["clerk"]
    with db.write() as conn:
        packages.import_packages(conn, clerk, book, "packages.csv", PACKAGES.encode())
        care.generate_planned(conn, clerk, book, EVE, CHRISTMAS)
        imports.import_actual(conn, clerk, book, "ecm.csv", RECORDS.encode())
        (run,) = runs.reconcile_period(conn, clerk, book, EVE, CHRISTMAS, [council["p2"]])
    return {**council, "run": run.run_id}


def _lines(db, council, book) -> dict[str, dict]:
    with db.read() as conn:
        bill = selfbill.self_bill(conn, council["manager"], book, council["run"])
    return {line["record_ref"]: line for line in bill.lines}


def test_christmas_day_is_paid_at_the_bank_holiday_rate_to_the_ledger(db, book, christmas):
    clerk, manager = christmas["clerk"], christmas["manager"]
    lines = _lines(db, christmas, book)
    assert set(lines) == {"B1", "B2", "B3", "B4"}
    # Thursday 10:00, an hour at the weekday 20.00; Friday 10:00, an hour at 40.00.
    assert (lines["B1"]["day"], lines["B1"]["amount_minor"]) == ("24 Dec 2026", 2000)
    assert (lines["B3"]["day"], lines["B3"]["amount_minor"]) == ("25 Dec 2026", 4000)
    assert lines["B3"]["amount"] == "£40.00"
    # Ten minutes of Friday's 15:00 half hour: an exception, accepted as planned at the
    # bank-holiday rate (a decision prices as the engine does).
    (short,) = (
        r
        for r in _exceptions(db, christmas["run"])
        if r.status != "verified" and r.planned_minutes == 30
    )
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, short.id, "accept_planned", "carer phoned")
    assert done["final_amount_minor"] == 2000  # 30 minutes at 40.00, not 1000 at 20.00
    lines = _lines(db, christmas, book)
    assert lines["B4"]["amount_minor"] == 2000
    # The posted self-bill pays the lines' sum, and the ledger holds it.
    with db.write() as conn:
        entry = payables.post_payable(conn, manager, book, christmas["run"])
        balance = ledger.party_balances_by_account(conn, manager, book, christmas["p2"])
        bill = selfbill.self_bill(conn, manager, book, christmas["run"])
    total = sum(line["amount_minor"] for line in bill.lines)
    assert entry is not None and bill.total_minor == total == 2000 + 3000 + 4000 + 2000
    assert [(b.account_code, b.balance_minor) for b in balance] == [("2000", -total)]


def test_a_visit_from_23_30_on_christmas_eve_is_priced_by_its_planned_start(db, book, christmas):
    """Thursday 23:30 to Friday 00:30: the evening band of its start (30.00 an hour), not
    the bank holiday its second half falls on (40.00), and not the weekday rate."""
    line = _lines(db, christmas, book)["B2"]
    assert (line["day"], line["planned"]) == ("24 Dec 2026", "23:30-00:30")
    assert (line["check_in"], line["check_out"]) == ("23:30", "00:30")
    assert (line["paid_minutes"], line["amount_minor"]) == (60, 3000)


def test_without_a_bank_holiday_rate_christmas_is_paid_the_standard_rate(db, book, council):
    """A band with no rate in force is paid the standard rate (the package's own words),
    so the Christmas rate above comes from the band, not from the day's weekday."""
    clerk = council["clerk"]
    plain = PACKAGES.replace(",bank_holiday_rate_per_hour", "").replace(",40.00", "")
    with db.write() as conn:
        packages.import_packages(conn, clerk, book, "packages.csv", plain.encode())
        care.generate_planned(conn, clerk, book, EVE, CHRISTMAS)
        imports.import_actual(conn, clerk, book, "ecm.csv", RECORDS.encode())
        (run,) = runs.reconcile_period(conn, clerk, book, EVE, CHRISTMAS, [council["p2"]])
    lines = _lines(db, {**council, "run": run.run_id}, book)
    assert lines["B3"]["amount_minor"] == 2000 and lines["B2"]["amount_minor"] == 3000


def _exceptions(db, run_id):
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes)
            .where(visit_outcomes.c.run_id == run_id, visit_outcomes.c.exception.is_(True))
            .order_by(visit_outcomes.c.id)
        ).all()
