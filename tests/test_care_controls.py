"""Controls of arbitration (issue 9): decisions carry the version they were made on, a bulk
decision is all or nothing, paying over the plan or an unplanned record needs a second
person, the person who decided does not post, and the case moves with its run."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import select

from remit.access.model import Actor, Role
from remit.care import decisions, imports, payables, runs
from remit.care import service as care
from remit.care.decisions import StaleDecision
from remit.care.store import care_decisions, visit_outcomes
from remit.cases import service as cases
from remit.errors import Conflict, Forbidden, NotFound, ValidationFailed

MONDAY = date(2026, 11, 2)
SUNDAY = date(2026, 11, 8)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
WEEK = (
    HEADER + "R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:27:40\n"
    "R2,C1,P1,K1,HC,app,2026-11-02T13:02:00,2026-11-02T13:40:00\n"
    "R5,C1,P1,K7,HC,app,2026-11-02T16:00:00,2026-11-02T16:30:00\n"  # no visit near: unplanned
)


@pytest.fixture
def ada(db, book, council):
    """Sunrise's week reconciled: one short visit, many missed places, one unplanned."""
    with db.write() as conn:
        care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", WEEK.encode())
        (run,) = runs.reconcile_period(
            conn, council["clerk"], book, MONDAY, SUNDAY, [council["p1"]]
        )
    return run


def _open(db, run_id):
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes)
            .where(visit_outcomes.c.run_id == run_id, visit_outcomes.c.exception.is_(True))
            .order_by(visit_outcomes.c.id)
        ).all()


def test_six_officers_deciding_one_exception_at_once_one_succeeds(db, book, council, ada):
    row = next(r for r in _open(db, ada.run_id) if r.status == "missed")
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def officer(n: int) -> None:
        start.wait()
        try:
            with db.write() as conn:
                decisions.decide(
                    conn,
                    council["clerk"],
                    book,
                    row.id,
                    "reject",
                    f"officer {n}: no visit",
                    expected_version=row.version,
                )
            outcomes.append("decided")
        except StaleDecision:
            outcomes.append("stale")

    threads = [threading.Thread(target=officer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["decided"] + ["stale"] * 5
    with db.read() as conn:
        history = conn.execute(
            select(care_decisions).where(care_decisions.c.outcome_id == row.id)
        ).all()
    assert len(history) == 1 and history[0].status == "in_force"


def test_a_stale_decision_says_what_stands_and_changes_nothing(db, book, council, ada):
    clerk = council["clerk"]
    row = next(r for r in _open(db, ada.run_id) if r.status == "missed")
    with db.write() as conn:
        decisions.decide(conn, clerk, book, row.id, "reject", "no visit", expected_version=1)
    with pytest.raises(StaleDecision) as caught, db.write() as conn:
        decisions.decide(conn, clerk, book, row.id, "accept_planned", "paid", expected_version=1)
    assert "decided by someone else" in str(caught.value)
    assert caught.value.current[0]["decision"] == "reject"
    assert caught.value.current[0]["version"] == 2
    # Changed on purpose, on the current version: the history keeps both.
    with db.write() as conn:
        decisions.decide(
            conn, clerk, book, row.id, "accept_planned", "hospital", expected_version=2
        )
        history = decisions.history(conn, clerk, book, ada.run_id)[row.id]
    assert [(h["decision"], h["status"]) for h in history] == [
        ("reject", "replaced"),
        ("accept_planned", "in_force"),
    ]


def test_a_bulk_decision_is_all_or_nothing(db, book, council, ada):
    clerk = council["clerk"]
    missed = [r for r in _open(db, ada.run_id) if r.status == "missed"][:4]
    versions = {r.id: r.version for r in missed}
    with db.write() as conn:  # someone decides one of them first
        decisions.decide(conn, clerk, book, missed[0].id, "reject", "no visit")
    with pytest.raises(StaleDecision) as caught, db.write() as conn:
        decisions.decide_many(conn, clerk, book, ada.run_id, versions, "reject", "no visits")
    assert [c["outcome_id"] for c in caught.value.current] == [missed[0].id]
    assert all(
        r.decision is None
        for r in _open(db, ada.run_id)
        if r.id in versions and r.id != missed[0].id
    )
    fresh = {r.id: r.version for r in missed[1:]}
    with pytest.raises(ValidationFailed) as bad, db.write() as conn:
        decisions.decide_many(conn, clerk, book, ada.run_id, fresh, "accept_actual", "ok")
    assert all(
        "exception" in p.message and "no valid actual" in p.message for p in bad.value.problems
    )
    with db.write() as conn:
        done = decisions.decide_many(conn, clerk, book, ada.run_id, fresh, "reject", "no visits")
    assert len(done) == 3 and all(d["decision"] == "reject" for d in done)
    with pytest.raises(NotFound), db.write() as conn:
        decisions.decide_many(conn, clerk, book, ada.run_id + 999, fresh, "reject", "x")


def test_paying_over_the_plan_or_an_unplanned_record_needs_a_second_person(db, book, council, ada):
    clerk, manager = council["clerk"], council["manager"]
    approver = Actor("april", roles={book: frozenset({Role.APPROVER})})
    rows = _open(db, ada.run_id)
    missed = next(r for r in rows if r.status == "missed")
    unplanned = next(r for r in rows if r.status == "unplanned")
    with db.write() as conn:
        # 600 minutes on a missed 30-minute visit: waits for a second person.
        big = decisions.decide(
            conn, clerk, book, missed.id, "set_minutes", "long visit", minutes=600
        )
        assert big["awaiting_approval"]
        carla_as_manager = Actor("carla", roles={book: frozenset({Role.MANAGER})})
        with pytest.raises(Forbidden, match="cannot approve"):
            decisions.approve(conn, carla_as_manager, book, big["decision_id"], True)
        with pytest.raises(Forbidden):
            decisions.approve(conn, clerk, book, big["decision_id"], True)  # no care.approve
        decisions.approve(conn, approver, book, big["decision_id"], accept=False, note="no")
        row = conn.execute(select(visit_outcomes).where(visit_outcomes.c.id == missed.id)).one()
        assert row.decision is None and row.final_minutes == 0  # refused: still open
        # 30 planned minutes accepted: within the plan, in force at once.
        plain = decisions.decide(conn, clerk, book, missed.id, "accept_planned", "hospital")
        assert not plain["awaiting_approval"]
        # An unplanned record accepted: a second person, then paid.
        extra = decisions.decide(conn, clerk, book, unplanned.id, "set_minutes", "ok", minutes=30)
        assert extra["awaiting_approval"]
        assert [p["id"] for p in decisions.pending_approvals(conn, manager, book)] == [
            extra["decision_id"]
        ]
        decisions.approve(conn, manager, book, extra["decision_id"], accept=True)
        row = conn.execute(select(visit_outcomes).where(visit_outcomes.c.id == unplanned.id)).one()
    assert (row.decision, row.final_minutes, row.final_amount_minor) == ("set_minutes", 30, 950)
    assert row.decided_by == "carla"  # the decider; the approver is in the history
    with db.read() as conn:
        (entry,) = decisions.history(conn, manager, book, ada.run_id)[unplanned.id]
    assert (entry["status"], entry["approved_by"]) == ("in_force", "mona")


def test_the_case_moves_with_its_run_both_ways(db, book, council, ada):
    clerk, manager = council["clerk"], council["manager"]
    with db.write() as conn:
        case = cases.get_case(conn, manager, book, ada.case_id)
        with pytest.raises(Conflict, match="still wait for a decision"):
            cases.transition(conn, manager, book, ada.case_id, "decide", "done", case["version"])
        versions = {r.id: r.version for r in _open(db, ada.run_id)}
        decisions.decide_many(conn, clerk, book, ada.run_id, versions, "reject", "not delivered")
        case = cases.get_case(conn, manager, book, ada.case_id)
    assert case["state"] == "decided" and not case["is_open"]


def test_the_person_who_decided_does_not_post_unless_the_book_says_so(db, book, council, ada):
    clerk, manager = council["clerk"], council["manager"]
    versions = {r.id: r.version for r in _open(db, ada.run_id)}
    with db.write() as conn:
        decisions.decide_many(conn, clerk, book, ada.run_id, versions, "reject", "not delivered")
    with pytest.raises(Forbidden, match="another person posts it"), db.write() as conn:
        payables.post_payable(conn, clerk, book, ada.run_id)
    with db.write() as conn:
        with pytest.raises(NotFound):
            payables.set_settings(conn, manager, book, council["c1"], decider_may_post=True)
        payables.set_settings(conn, manager, book, council["p1"], decider_may_post=True)
        assert payables.post_payable(conn, clerk, book, ada.run_id) is not None
