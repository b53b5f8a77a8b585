"""Unplanned care held until a package exists (issue 9, deliverable 2): the officer holds an
unplanned record (single or bulk); it pays nothing and blocks nothing, the run is posted
without it, the record is listed as held among the records in no run, and once a package
covers it, the next reconciliation of its period pays it once, in a supplementary run."""

from __future__ import annotations

import re
from datetime import date

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from remit.access.model import Actor, Role
from remit.access.service import add_user
from remit.audit import audit_events
from remit.care import decisions, imports, payables, reports, runs, selfbill
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.care.store import RECORD_PAID_BY, actual_records, care_runs, visit_outcomes
from remit.cli import app
from remit.errors import Conflict, ValidationFailed
from remit.parties import service as parties
from remit.parties.model import PartyKind, PartyRole
from remit.parties.service import NewParty, create_parties
from remit.testkit.web import sign_in
from remit.web.app import create_app

MONDAY = date(2026, 11, 2)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
# Ada's Monday with Sunrise (P1), all delivered; H1: Alan (C2) with Sunrise, who has no
# package with him; H2: a client reference C9 the book does not know yet.
RECORDS = (
    HEADER + "R1,C1,P1,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"
    "R2,C1,P1,K1,HC,app,2026-11-02T13:00:00,2026-11-02T13:30:00\n"
    "R3,C1,P1,K2,HC,app,2026-11-02T13:00:00,2026-11-02T13:30:00\n"
    "H1,C2,P1,K1,HC,app,2026-11-02T15:00:00,2026-11-02T15:30:00\n"
    "H2,C9,P1,K1,HC,app,2026-11-02T16:00:00,2026-11-02T16:30:00\n"
)
ADA_MONDAY = 3 * 950  # three places of 30 minutes at 19.00 an hour


@pytest.fixture
def monday(db, book, council):
    """Sunrise's Monday reconciled: two unplanned exceptions, H1 and H2."""
    with db.write() as conn:
        care.generate_planned(conn, council["clerk"], book, MONDAY, MONDAY)
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
        (run,) = runs.reconcile_period(
            conn, council["clerk"], book, MONDAY, MONDAY, [council["p1"]]
        )
    assert run.exceptions == 2
    return {**council, "book": book, "run": run.run_id}


def _outcomes(db, ref: str):
    """Every outcome of the record, oldest first."""
    a, o = actual_records.c, visit_outcomes.c
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes)
            .join(actual_records, a.id == o.actual_record_id)
            .where(a.ref == ref)
            .order_by(o.id)
        ).all()


def _hold_both(db, m, reason="no support plan yet"):
    versions = {int(r.id): int(r.version) for ref in ("H1", "H2") for r in _outcomes(db, ref)}
    with db.write() as conn:
        return decisions.decide_many(
            conn, m["clerk"], m["book"], m["run"], versions, "hold", reason
        )


def _alan_with_sunrise(conn, clerk, book) -> int:
    c2 = parties.party_ids_for(conn, book, ["C2"])["C2"]
    return care.create_package(
        conn,
        clerk,
        book,
        NewPackage(
            "PKG-ALAN-SUNRISE",
            c2,
            parties.party_ids_for(conn, book, ["P1"])["P1"],
            "HC",
            date(2026, 10, 1),
            None,
            (Slot(0, 15 * 60, 30),),
            ((date(2026, 4, 1), "20.00", "GBP"),),
        ),
    )


def _paid(db, book) -> dict[str, int]:
    """Each record's paid amount over every outcome of every run."""
    a, o = actual_records.c, visit_outcomes.c
    with db.read() as conn:
        rows = conn.execute(
            select(a.ref, func.sum(o.final_amount_minor), func.count())
            .join(actual_records, a.id == o.actual_record_id)
            .where(a.book_id == book, o.final_amount_minor > 0)
            .group_by(a.ref)
        ).all()
    assert all(n == 1 for _ref, _sum, n in rows), rows  # never paid by two outcomes
    return {ref: int(total) for ref, total, _n in rows}


def test_a_held_record_leaves_the_outcome_and_the_run_is_posted_without_it(db, monday):
    m = monday
    done = _hold_both(db, m)
    assert [d["decision"] for d in done] == ["hold", "hold"]
    assert all(d["final_amount_minor"] == 0 and not d["awaiting_approval"] for d in done)
    with db.read() as conn:
        status = conn.execute(
            select(care_runs.c.status).where(care_runs.c.id == m["run"])
        ).scalar_one()
    assert status == "resolved"  # a held record blocks nothing
    with db.write() as conn:
        entry = payables.post_payable(conn, m["manager"], m["book"], m["run"])
        bill = selfbill.self_bill(conn, m["manager"], m["book"], m["run"])
    assert entry is not None and bill.total_minor == ADA_MONDAY
    held_lines = {x["record_ref"]: x for x in bill.lines if x["record_ref"] in ("H1", "H2")}
    assert held_lines["H2"]["client_ref"] == "C9"  # a client not in the book, as sent
    assert {r: (x["decision"], x["amount_minor"]) for r, x in held_lines.items()} == {
        "H1": ("hold", 0),
        "H2": ("hold", 0),
    }
    with db.read() as conn:
        total, rows = runs.unmatched_records(conn, m["clerk"], m["book"])
    assert total == 2
    assert [(r["ref"], r["held_run_id"], r["covered"]) for r in rows] == [
        ("H1", m["run"], False),
        ("H2", m["run"], False),
    ]
    with db.write() as conn:  # nothing covers them yet: reconciling again holds them still
        assert runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]]) == []
    with db.read() as conn:  # audited like every decision, with what it replaced
        audited = conn.execute(
            select(audit_events.c.after).where(
                audit_events.c.action == "care.decide",
                audit_events.c.object_type == "visit_outcome",
                audit_events.c.object_id.in_([str(d["id"]) for d in done]),
            )
        ).all()
    assert len(audited) == 2 and all(
        '"decision":"hold"' in a.after.replace(" ", "") for a in audited
    )


def test_a_package_added_after_posting_pays_the_held_record_once_in_a_supplementary_run(db, monday):
    m = monday
    _hold_both(db, m)
    with db.write() as conn:
        payables.post_payable(conn, m["manager"], m["book"], m["run"])
        _alan_with_sunrise(conn, m["clerk"], m["book"])  # the posted Monday cannot be planned
    with db.read() as conn:
        _total, rows = runs.unmatched_records(conn, m["clerk"], m["book"])
    assert {r["ref"]: r["covered"] for r in rows} == {"H1": True, "H2": False}
    with db.write() as conn:
        (extra,) = runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]])
    assert extra.sequence == 1 and extra.exceptions == 1
    held, again = _outcomes(db, "H1")
    assert (held.run_id, held.decision, held.final_amount_minor) == (m["run"], "hold", 0)
    assert again.run_id == extra.run_id and again.status == "unplanned"
    assert "support plan" not in again.reason  # a package covers it now
    with db.write() as conn:
        with pytest.raises(ValidationFailed, match="a care package covers this record"):
            decisions.decide(conn, m["clerk"], m["book"], again.id, "hold", "again")
        asked = decisions.decide(conn, m["clerk"], m["book"], again.id, "accept_actual", "ok")
        decisions.approve(conn, m["manager"], m["book"], asked["decision_id"], True)
        payables.post_payable(conn, m["manager"], m["book"], extra.run_id)
    assert asked["final_amount_minor"] == 1000  # 30 minutes at the package's 20.00
    with db.write() as conn:  # reconciled once more: nothing is paid again
        assert runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]]) == []
    assert _paid(db, m["book"]) == {"R1": 950, "R2": 950, "R3": 950, "H1": 1000}
    with db.read() as conn:
        _total, rows = runs.unmatched_records(conn, m["clerk"], m["book"])
    assert [r["ref"] for r in rows] == ["H2"]  # H1 is paid; H2 still waits
    with db.read() as conn:  # the month's report counts H1 once, where it is paid
        frame = reports.delivery_frame(conn, m["clerk"], m["book"], MONDAY, MONDAY)
    assert int(frame["unplanned"].sum()) == 2  # H1 (paid in the supplementary run) and H2
    assert int(frame["amount_minor"].sum()) == 950 * 3 + 1000


def test_a_held_record_of_a_kept_run_is_matched_to_a_visit_planned_later(db, monday):
    """The run is decided (so kept) but not posted: the package's visit is planned, and the
    next reconciliation matches the held record to it like any record, paid in full with
    no exception; the hold in the first run can no longer be changed."""
    m = monday
    (h1, _h2) = _hold_both(db, m)
    with db.write() as conn:  # held twice: the second hold replaces the first, pays nothing
        h1 = decisions.decide(
            conn,
            m["clerk"],
            m["book"],
            h1["id"],
            "hold",
            "still no plan",
            expected_version=h1["version"],
        )
        _alan_with_sunrise(conn, m["clerk"], m["book"])
        care.generate_planned(conn, m["clerk"], m["book"], MONDAY, MONDAY)
        (extra,) = runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]])
    assert extra.sequence == 1 and extra.exceptions == 0 and extra.amount_minor == 1000
    held, matched = _outcomes(db, "H1")
    assert held.decision == "hold" and matched.status == "verified" and matched.place == 1
    with db.read() as conn:
        history = decisions.history(conn, m["clerk"], m["book"], m["run"])[held.id]
    assert [(h["decision"], h["status"]) for h in history] == [
        ("hold", "replaced"),
        ("hold", "in_force"),
    ]
    with pytest.raises(Conflict, match=f"now in run {extra.run_id}"), db.write() as conn:
        decisions.decide(conn, m["clerk"], m["book"], held.id, "accept_actual", "pay it here")
    with db.write() as conn:  # reconciled again: the undecided supplementary run is replaced
        (same,) = runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]])
        assert same.replaced and same.amount_minor == 1000
        payables.post_payable(conn, m["manager"], m["book"], m["run"])
        payables.post_payable(conn, m["manager"], m["book"], same.run_id)
    assert _paid(db, m["book"]) == {"R1": 950, "R2": 950, "R3": 950, "H1": 1000}


def test_a_client_registered_later_stays_held_until_a_package_covers_it(db, monday):
    m = monday
    _hold_both(db, m)
    with db.write() as conn:
        create_parties(
            conn,
            Actor.system("test"),
            m["book"],
            [NewParty("C9", "Grace Hopper", PartyKind.PERSON, (PartyRole.CLIENT,))],
        )
        assert runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]]) == []
        c9 = parties.party_ids_for(conn, m["book"], ["C9"])["C9"]
        care.create_package(
            conn,
            m["clerk"],
            m["book"],
            NewPackage(
                "PKG-GRACE",
                c9,
                m["p1"],
                "HC",
                date(2026, 10, 1),
                None,
                (Slot(0, 16 * 60, 30),),
                ((date(2026, 4, 1), "19.00", "GBP"),),
            ),
        )
        care.generate_planned(conn, m["clerk"], m["book"], MONDAY, MONDAY)
        (extra,) = runs.reconcile_period(conn, m["clerk"], m["book"], MONDAY, MONDAY, [m["p1"]])
    (_held, matched) = _outcomes(db, "H2")
    assert matched.run_id == extra.run_id and matched.status == "verified"
    assert matched.final_amount_minor == 950


def test_only_an_unplanned_record_without_a_package_is_held(db, book, council):
    """Ada has a package: her record at 17:00 (no visit then) is unplanned but covered, and
    her missed visits have a planned visit: neither can be held, each says why, by row."""
    clerk = council["clerk"]
    extra = HEADER + "R5,C1,P1,K1,HC,app,2026-11-02T17:00:00,2026-11-02T17:30:00\n"
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, MONDAY)
        imports.import_actual(conn, clerk, book, "r5.csv", extra.encode())
        (run,) = runs.reconcile_period(conn, clerk, book, MONDAY, MONDAY, [council["p1"]])
    (covered,) = _outcomes(db, "R5")
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        decisions.decide(conn, clerk, book, covered.id, "hold", "wait")
    (problem,) = caught.value.problems
    assert problem.field == "decision" and "a care package covers this record" in problem.message
    o = visit_outcomes.c
    with db.read() as conn:
        missed = dict(
            conn.execute(
                select(o.id, o.version).where(
                    o.run_id == run.run_id, o.exception.is_(True), o.planned_visit_id.is_not(None)
                )
            ).all()
        )
    assert len(missed) == 3
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        decisions.decide_many(conn, clerk, book, run.run_id, missed, "hold", "wait")
    assert {p.field for p in caught.value.problems} == {"decision"}
    assert len(caught.value.problems) == 3
    assert all("has a planned visit" in p.message for p in caught.value.problems)
    assert all(p.message.startswith("exception ") for p in caught.value.problems)
    with db.read() as conn:  # nothing was decided
        assert (
            conn.execute(
                select(func.count()).where(o.run_id == run.run_id, o.decision.is_not(None))
            ).scalar_one()
            == 0
        )


def test_the_worklist_page_and_the_commands_hold_a_record(db, monday, monkeypatch):
    m = monday
    monkeypatch.setenv("REMIT_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    password = "a long enough password"
    with db.write() as conn:
        add_user(conn, Actor.system("t"), "carla", password, grants=[(m["book"], Role.CLERK)])
    (h1,) = _outcomes(db, "H1")
    with TestClient(create_app(db)) as client:
        csrf = sign_in(client, "carla", password)
        url = f"/b/test/care/runs/{m['run']}"
        page = client.get(url)
        assert page.status_code == 200
        assert '<option value="hold">Hold until a package exists</option>' in page.text
        done = client.post(
            f"/b/test/care/outcomes/{h1.id}/decide",
            data={
                "csrf_token": csrf,
                "decision": "hold",
                "reason": "no support plan yet",
                "version": str(h1.version),
            },
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        line = re.search(rf'<tr id="row-{h1.id}".*?</tr>', client.get(url).text, re.S).group(0)
        assert "held until a package exists" in line
        unmatched = client.get("/b/test/care/unmatched").text
        assert "held until a package exists" in unmatched and "awaiting a care package" in unmatched
    (h2,) = _outcomes(db, "H2")
    runner = CliRunner()
    decided = runner.invoke(
        app,
        [
            "care",
            "decide",
            str(h2.id),
            "hold",
            "--reason",
            "unknown client",
            "--book",
            "test",
            "--as",
            "carla",
        ],
    )
    assert decided.exit_code == 0, decided.output
    assert f"outcome {h2.id}: hold, 0 minute(s)" in decided.output
    listed = runner.invoke(app, ["care", "unmatched", "--book", "test", "--as", "carla"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("held until") == 2, listed.output


def test_the_hold_is_one_word_for_the_decision_the_runs_and_the_index():
    """The runs (a sibling layer of the decisions, which may not import them) and the
    store's partial unique index spell the decision themselves: they must spell it alike."""
    assert decisions.Decision.HOLD.value == runs.HOLD
    assert f"decision <> '{decisions.Decision.HOLD.value}'" in RECORD_PAID_BY
