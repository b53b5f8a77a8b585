"""The policy's minimum charge per visit holds for officers' decisions as it does for the
engine (issue 9): accepting the actual or the planned minutes, of a visit or of unplanned
care at the rate card, pays at least ``minimum_charge_minutes``; *set minutes* pays the
officer's own figure as typed. Checked on a real run, its self-bill and its ledger entry."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from remit.care import decisions, imports, payables, rates, runs, selfbill
from remit.care import service as care
from remit.care.model import Policy
from remit.care.store import actual_records, visit_outcomes
from remit.ledger.store import postings

MONDAY = date(2026, 11, 2)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
# Ada's Monday with Sunrise (P1): 09:00 for 30 minutes delivered in 10 (a short exception),
# 13:00 with two carers delivered in full; Alan (C2) with Sunrise, who has no package with
# him: 10 minutes at 15:00, unplanned care paid at the rate card (20.00 an hour).
RECORDS = (
    HEADER + "M1,C1,P1,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:10:00\n"
    "M2,C1,P1,K1,HC,app,2026-11-02T13:00:00,2026-11-02T13:30:00\n"
    "M3,C1,P1,K2,HC,app,2026-11-02T13:00:00,2026-11-02T13:30:00\n"
    "M4,C2,P1,K1,HC,app,2026-11-02T15:00:00,2026-11-02T15:10:00\n"
)
CARD = "provider_ref,service_code,band,effective_from,rate_per_hour,currency\n"
CARD += "P1,HC,,2026-04-01,20.00,GBP\n"


def _run(db, book, council, minimum: int) -> int:
    clerk, manager = council["clerk"], council["manager"]
    with db.write() as conn:
        care.set_policy(
            conn, manager, book, Policy(minimum_charge_minutes=minimum), date(2026, 10, 1)
        )
        rates.import_rates(conn, clerk, book, "card.csv", CARD.encode())
        care.generate_planned(conn, clerk, book, MONDAY, MONDAY)
        imports.import_actual(conn, clerk, book, "ecm.csv", RECORDS.encode())
        (run,) = runs.reconcile_period(conn, clerk, book, MONDAY, MONDAY, [council["p1"]])
    assert run.exceptions == 2  # M1 short, M4 unplanned
    return run.run_id


def _outcome(db, ref: str):
    a, o = actual_records.c, visit_outcomes.c
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes)
            .join(actual_records, a.id == o.actual_record_id)
            .where(a.ref == ref)
        ).one()


def _posted(db, council, book, run_id: int) -> tuple[dict[str, int], int, int]:
    """(self-bill amount by record, the self-bill's total, the provider's ledger credit)."""
    manager = council["manager"]
    with db.write() as conn:
        entry = payables.post_payable(conn, manager, book, run_id)
        bill = selfbill.self_bill(conn, manager, book, run_id)
        credit = conn.execute(
            select(postings.c.amount_minor).where(
                postings.c.entry_id == entry, postings.c.party_id == council["p1"]
            )
        ).scalar_one()
    lines = {line["record_ref"]: line["amount_minor"] for line in bill.lines}
    return lines, bill.total_minor, -int(credit)


def test_accepting_actual_minutes_pays_the_minimum_as_the_engine_does(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    run_id = _run(db, book, council, 30)
    short = _outcome(db, "M1")
    # The engine: 10 minutes, banded to 15, raised to the minimum of 30 at 19.00 an hour.
    assert (short.paid_minutes, short.amount_minor) == (30, 950)
    assert "paid the minimum charge of 30 minutes" in short.reason
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, short.id, "accept_actual", "agreed")
        unplanned = decisions.decide(
            conn, clerk, book, _outcome(db, "M4").id, "accept_actual", "emergency care"
        )
    # 10 minutes delivered, paid as 30: the decision prices as the engine, not £3.17.
    assert (done["final_minutes"], done["final_amount_minor"]) == (30, 950)
    assert done["minimum_charge_from"] == 10 and not done["awaiting_approval"]
    # Unplanned care at the rate card: 10 minutes raised to 30 at 20.00 = £10.00, not £3.33.
    assert (unplanned["final_minutes"], unplanned["final_amount_minor"]) == (30, 1000)
    assert unplanned["awaiting_approval"]
    with db.write() as conn:
        decisions.approve(conn, manager, book, unplanned["decision_id"], True)
    lines, total, credit = _posted(db, council, book, run_id)
    assert lines == {"M1": 950, "M2": 950, "M3": 950, "M4": 1000}
    assert total == credit == 3850  # the self-bill and the ledger agree, line by line


def test_set_minutes_pays_the_officers_figure_below_the_minimum(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    run_id = _run(db, book, council, 30)
    with db.write() as conn:
        short = decisions.decide(
            conn,
            clerk,
            book,
            _outcome(db, "M1").id,
            "set_minutes",
            "client sent carer away",
            minutes=10,
        )
        unplanned = decisions.decide(
            conn, clerk, book, _outcome(db, "M4").id, "set_minutes", "agreed", minutes=10
        )
        decisions.approve(conn, manager, book, unplanned["decision_id"], True)
    assert (short["final_minutes"], short["final_amount_minor"]) == (10, 317)  # 19.00 / 6
    assert "minimum_charge_from" not in short
    assert (unplanned["final_minutes"], unplanned["final_amount_minor"]) == (10, 333)
    with db.read() as conn:
        history = decisions.history(conn, clerk, book, run_id)
    assert [h["minutes"] for h in history[_outcome(db, "M1").id]] == [10]
    lines, total, credit = _posted(db, council, book, run_id)
    assert (lines["M1"], lines["M4"]) == (317, 333)
    assert total == credit == 317 + 950 + 950 + 333


def test_accepting_planned_minutes_below_the_minimum_pays_it_without_a_second_person(
    db, book, council
):
    """A minimum above the plan (45 on a 30-minute visit): the engine pays 45 for a visit
    delivered in full, and accepting the plan pays 45 too; the contract's minimum is no
    officer's choice, so it needs no second person."""
    clerk = council["clerk"]
    run_id = _run(db, book, council, 45)
    assert _outcome(db, "M2").paid_minutes == 45
    with db.write() as conn:
        done = decisions.decide(
            conn, clerk, book, _outcome(db, "M1").id, "accept_planned", "agreed"
        )
        rejected = decisions.decide(conn, clerk, book, _outcome(db, "M4").id, "reject", "no")
    assert (done["final_minutes"], done["final_amount_minor"]) == (45, 1425)
    assert not done["awaiting_approval"]
    assert (rejected["final_minutes"], rejected["final_amount_minor"]) == (0, 0)  # never raised
    lines, total, credit = _posted(db, council, book, run_id)
    assert lines == {"M1": 1425, "M2": 1425, "M3": 1425, "M4": 0}
    assert total == credit == 3 * 1425


def test_without_a_minimum_a_decision_pays_what_it_says(db, book, council):
    clerk = council["clerk"]
    _run(db, book, council, 0)
    with db.write() as conn:
        done = decisions.decide(conn, clerk, book, _outcome(db, "M1").id, "accept_actual", "ok")
    assert (done["final_minutes"], done["final_amount_minor"]) == (10, 317)
