"""Care monitoring in a book: commission a package, plan a week from its pattern, import the
carers' records, reconcile, and find the exceptions in one arbitration case per provider."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from remit.access.model import Actor, Role
from remit.access.service import add_user
from remit.care import decisions, imports, packages, payables, runs
from remit.care import service as care
from remit.care.model import Policy
from remit.care.service import NewPackage, Slot
from remit.care.store import (
    actual_records,
    care_packages,
    care_runs,
    planned_visits,
    visit_outcomes,
)
from remit.cases import service as cases
from remit.cli import app
from remit.errors import Conflict, Forbidden, ValidationFailed
from remit.ledger import service as ledger

MONDAY = date(2026, 11, 2)
SUNDAY = date(2026, 11, 8)
CLERK = Actor("carla", roles={})  # replaced per book in the fixture


def count(db, table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


ACTUAL = """record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out
R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:27:40
R2,C1,P1,K1,HC,app,2026-11-02T13:02:00,2026-11-02T13:40:00
R3,C1,P1,K2,HC,app,2026-11-02T13:03:00,2026-11-02T13:20:00
R6,C2,P2,K4,HC,phone,2026-11-02T10:10:00,2026-11-02T10:55:00
"""


def test_a_week_is_planned_from_the_packages_and_planning_twice_adds_nothing(db, book, council):
    with db.write() as conn:
        added = care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
        again = care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
    assert (added, again) == (7 + 5 + 1, 0)
    with db.read() as conn:
        refs = set(conn.execute(select(planned_visits.c.ref)).scalars())
    assert "PKG-ADA/2026-11-02/13:00" in refs and "PKG-ALAN/2026-11-09/10:00" not in refs


def test_import_reconcile_and_arbitrate_a_week(db, book, council):
    clerk = council["clerk"]
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
        result = imports.import_actual(conn, clerk, book, "ecm.csv", ACTUAL.encode())
    assert (result.rows, result.rejected, result.replayed) == (4, 0, False)
    with db.write() as conn:
        summaries = runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
    by_provider = {s.provider_party_id: s for s in summaries}
    ada, alan = by_provider[council["p1"]], by_provider[council["p2"]]
    # Ada's week: 12 visits, 17 carer places; Monday 09:00 short (22 -> 15 minutes at 19.00),
    # Monday 13:00 one carer verified (30) and one short by 13 (15); the rest missed.
    assert (ada.outcomes, ada.paid_minutes, ada.amount_minor) == (17, 60, 1900)
    assert ada.exceptions == 1 + 14  # the short-by-13 place and the 14 missed places
    assert (alan.outcomes, alan.exceptions, alan.amount_minor) == (1, 0, 1583)
    assert alan.case_id is None and ada.case_id is not None
    with db.read() as conn:
        case = cases.get_case(conn, council["manager"], book, ada.case_id)
    assert case["case_type"] == "arbitration" and "15 visit exceptions" in case["title"]

    # New records arrive: reconciling again replaces the outcomes, and keeps the one case.
    late = (
        "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
        "R9,C1,P1,K1,HC,app,2026-11-03T09:00:00,2026-11-03T09:30:00\n"
    )
    with db.write() as conn:
        imports.import_actual(conn, clerk, book, "late.csv", late.encode())
        again = {
            s.provider_party_id: s for s in runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
        }
    assert again[council["p1"]].exceptions == 14 and again[council["p1"]].case_id == ada.case_id
    assert count(db, visit_outcomes) == 17 + 1


def test_a_file_with_errors_imports_nothing_unless_asked_and_a_replay_is_recognised(
    db, book, council
):
    clerk = council["clerk"]
    bad = ACTUAL + (
        "R7,C1,P9,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"  # line 6
        "R8,C1,P1,K1,HC,app,2026-11-02T09:00:00,soon\n"  # line 7
        "R1,C1,P1,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n"
    )  # line 8
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        imports.import_actual(conn, clerk, book, "ecm.csv", bad.encode())
    text = [str(p) for p in caught.value.problems]
    assert "ecm.csv: line 6: provider_id: no provider P9 in this book [unknown_provider]" in text
    assert any("line 7: check_out" in t for t in text)
    assert any("line 8: record_id: record R1 repeats line 2" in t for t in text)
    assert count(db, actual_records) == 0
    with db.write() as conn:
        result = imports.import_actual(conn, clerk, book, "ecm.csv", bad.encode(), valid_only=True)
        replay = imports.import_actual(conn, clerk, book, "ecm.csv", bad.encode(), valid_only=True)
    assert (result.rows, result.rejected) == (4, 3)
    rejected = result.rejected_csv.decode().splitlines()
    assert rejected[0].endswith(",line,problems") and len(rejected) == 4
    assert replay.replayed and replay.rows == 0 and count(db, actual_records) == 4
    again = ACTUAL.replace("R1,", "R1X,").replace("R2,", "R2X,").replace("R3,", "R3X,")
    with pytest.raises(ValidationFailed, match="R6 was imported before"), db.write() as conn:
        imports.import_actual(conn, clerk, book, "ecm2.csv", again.encode())


def test_planned_visits_need_a_package_and_known_parties(db, book, council):
    planned = (
        "visit_id,client_id,provider_id,service_code,start,end\n"
        "V1,C1,P1,HC,2026-11-02T19:00,2026-11-02T19:30\n"
        "V2,C1,P2,HC,2026-11-02T19:00,2026-11-02T19:30\n"  # no package with P2
        "V3,C1,P1,HC,2026-09-02T19:00,2026-09-02T19:30\n"  # before the package
        "V4,P1,P1,HC,2026-11-02T19:00,2026-11-02T19:30\n"
    )  # P1 is no client
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        imports.import_planned(conn, council["clerk"], book, "plan.csv", planned.encode())
    lines = sorted((p.line, p.check) for p in caught.value.problems)
    assert lines == [(3, "no_package"), (4, "no_package"), (5, "unknown_client")]


def test_a_provider_uploads_only_its_own_visits_and_staff_roles_are_checked(db, book, council):
    sunrise = Actor(
        "sunrise", roles={book: frozenset({Role.PROVIDER})}, parties={book: council["p1"]}
    )
    with pytest.raises(ValidationFailed, match="not your organisation"), db.write() as conn:
        imports.import_actual(
            conn, sunrise, book, "mine.csv", ACTUAL.encode(), provider_party_id=council["p1"]
        )
    with pytest.raises(Forbidden), db.write() as conn:
        imports.import_actual(
            conn, sunrise, book, "mine.csv", ACTUAL.encode(), provider_party_id=council["p2"]
        )
    auditor = Actor("aud", roles={book: frozenset({Role.AUDITOR})})
    with pytest.raises(Forbidden), db.write() as conn:
        runs.reconcile_period(conn, auditor, book, MONDAY, SUNDAY)


def test_a_provider_policy_overrides_the_books_and_an_overlapping_period_pays_nothing_again(
    db, book, council
):
    clerk, manager = council["clerk"], council["manager"]
    with db.write() as conn:
        care.set_policy(
            conn,
            manager,
            book,
            Policy(tolerance_minutes=10),
            date(2026, 1, 1),
            council["p1"],
            "contract clause 7",
        )
        care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
        imports.import_actual(conn, clerk, book, "ecm.csv", ACTUAL.encode())
        ada = {
            s.provider_party_id: s for s in runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
        }[council["p1"]]
    assert ada.paid_minutes == 30 + 30 + 15  # 22 of 30 is within 10 now
    # Part of the week again: the week's run holds every visit and record of it.
    with db.write() as conn:
        assert runs.reconcile_period(conn, clerk, book, MONDAY, date(2026, 11, 4)) == []
        assert count_runs(conn) == 2


def count_runs(conn) -> int:
    return int(conn.execute(select(func.count()).select_from(care_runs)).scalar_one())


def _reconciled_week(db, book, council):
    clerk = council["clerk"]
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
        imports.import_actual(conn, clerk, book, "ecm.csv", ACTUAL.encode())
        found = {
            s.provider_party_id: s for s in runs.reconcile_period(conn, clerk, book, MONDAY, SUNDAY)
        }
    return found


def _exceptions(db, run_id):
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes)
            .where(visit_outcomes.c.run_id == run_id, visit_outcomes.c.exception.is_(True))
            .order_by(visit_outcomes.c.id)
        ).all()


def test_decisions_change_the_payable_and_resolve_the_run_then_it_posts_once(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    ada = _reconciled_week(db, book, council)[council["p1"]]
    rows = _exceptions(db, ada.run_id)
    short = next(r for r in rows if r.status == "short")
    missed = [r for r in rows if r.status == "missed"]
    with db.write() as conn:
        with pytest.raises(ValidationFailed) as caught:
            decisions.decide(conn, clerk, book, short.id, "set_minutes", " ", minutes=None)
        assert {p.field for p in caught.value.problems} == {"reason", "minutes"}
        done = decisions.decide(
            conn,
            clerk,
            book,
            short.id,
            "accept_actual",
            "the carer's phone died; the client confirms 17 minutes",
        )
        assert (done["final_minutes"], done["final_amount_minor"]) == (17, 538)  # 17/60 x 19
        with pytest.raises(ValidationFailed, match="no valid actual time"):
            decisions.decide(conn, clerk, book, missed[0].id, "accept_actual", "why not")
        with pytest.raises(Conflict, match="the run is deciding"):
            payables.post_payable(conn, manager, book, ada.run_id)
        for row in missed[:-1]:
            decisions.decide(conn, clerk, book, row.id, "reject", "no visit took place")
        # The hospital admission: the council pays the planned half hour.
        decisions.decide(
            conn,
            clerk,
            book,
            missed[-1].id,
            "accept_planned",
            "frustrated call: client admitted to hospital",
        )
        case = cases.get_case(conn, manager, book, ada.case_id)
        assert case["state"] == "decided" and not case["is_open"]
        entry_id = payables.post_payable(conn, manager, book, ada.run_id)
        again = payables.post_payable(conn, manager, book, ada.run_id)
        with pytest.raises(Conflict, match="posted"):
            decisions.decide(conn, clerk, book, short.id, "reject", "changed my mind")
    assert entry_id is not None and again == entry_id
    with db.read() as conn:
        balance = ledger.party_balances_by_account(conn, manager, book, council["p1"])
    # 15 (V1, 19.00) + 30 (13:00 K1) + 17 (decided) + 30 (accepted planned) = 92 minutes
    assert [(b.account_code, b.currency, b.balance_minor) for b in balance] == [
        ("2000", "GBP", -(475 + 950 + 538 + 950))
    ]


def test_a_held_provider_passes_nothing_and_an_adjustment_needs_a_second_person(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    alan = _reconciled_week(db, book, council)[council["p2"]]  # no exceptions: resolved
    other = Actor("max", roles={book: frozenset({Role.MANAGER})})
    with db.write() as conn:
        payables.hold(conn, manager, book, council["p2"], "insurance lapsed")
        with pytest.raises(Conflict, match="held"):
            payables.post_payable(conn, manager, book, alan.run_id)
        payables.lift_hold(conn, manager, book, council["p2"])
        adjustment = payables.request_adjustment(
            conn, manager, book, alan.run_id, 1000, "mileage agreed by phone"
        )
        with pytest.raises(Forbidden, match="cannot approve"):
            payables.decide_adjustment(conn, manager, book, adjustment, approve=True)
        with pytest.raises(Forbidden):
            payables.decide_adjustment(conn, clerk, book, adjustment, approve=True)
        payables.decide_adjustment(conn, other, book, adjustment, approve=True)
        entry_id = payables.post_payable(conn, manager, book, alan.run_id)
        lines = payables.payable_lines(conn, manager, book, alan.run_id)
    assert entry_id is not None and [line["final_amount_minor"] for line in lines] == [1583]
    with db.read() as conn:
        entry = ledger.get_entry(conn, book, entry_id)
    amounts = sorted(p.amount_minor for p in entry.postings)
    assert amounts == [-2583, 1000, 1583]  # the visit's cost centre, the adjustment, payable


def test_an_unanswered_case_is_settled_by_the_policy_after_fourteen_days(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    ada = _reconciled_week(db, book, council)[council["p1"]]
    with db.write() as conn:
        case = cases.get_case(conn, clerk, book, ada.case_id)
        cases.transition(
            conn, clerk, book, ada.case_id, "ask_provider", expected_version=case["version"]
        )
        assert decisions.settle_unanswered(conn, manager, book) == []  # not yet
        later = datetime.now(UTC).date() + timedelta(days=15)
        assert decisions.settle_unanswered(conn, manager, book, later) == [ada.run_id]
        case = cases.get_case(conn, manager, book, ada.case_id)
        assert case["state"] == "settled_by_default"
        entry_id = payables.post_payable(conn, manager, book, ada.run_id)
    assert entry_id is not None
    assert [r.decision for r in _exceptions(db, ada.run_id)] == ["policy_default"] * 15


def test_the_book_commands_plan_import_run_decide_and_post(
    db, book, council, tmp_path, monkeypatch
):
    monkeypatch.setenv("REMIT_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    runner = CliRunner()

    def remit(*args: str, user: str = "carla") -> str:
        done = runner.invoke(app, [*args, "--book", "test", "--as", user], catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.output

    with db.write() as conn:  # the CLI acts as real users of the book
        add_user(
            conn, Actor.system("t"), "carla", "a long enough password", grants=[(book, Role.CLERK)]
        )
        add_user(
            conn, Actor.system("t"), "mona", "a long enough password", grants=[(book, Role.MANAGER)]
        )
    out = remit(
        "care",
        "policy",
        "tolerance_minutes=10",
        "--from",
        "2026-01-01",
        "--provider",
        "P1",
        "--note",
        "clause 7",
        user="mona",
    )
    assert "tolerance_minutes 10" in out and "match_window_minutes 60" in out
    refused = runner.invoke(
        app,
        [
            "care",
            "policy",
            "tolerance_minutes=soon",
            "--from",
            "2026-01-01",
            "--book",
            "test",
            "--as",
            "mona",
        ],
    )
    assert refused.exit_code == 2 and "tolerance_minutes" in refused.output
    assert "planned 13 new visit(s)" in remit(
        "care", "plan", "--from", "2026-11-02", "--to", "2026-11-08"
    )
    bad = tmp_path / "ecm.csv"
    bad.write_text(ACTUAL + "R7,C1,P9,K1,HC,app,2026-11-02T09:00:00,2026-11-02T09:30:00\n")
    refused = runner.invoke(
        app, ["care", "import", "actual", str(bad), "--book", "test", "--as", "carla"]
    )
    assert refused.exit_code == 2 and "no provider P9" in refused.output
    out = remit("care", "import", "actual", str(bad), "--valid-only")
    assert "imported 4 actual row(s)" in out and "rejected 1 row(s)" in out
    assert "R7" in (tmp_path / "ecm.rejected.csv").read_text()
    table = remit("care", "run", "--from", "2026-11-02", "--to", "2026-11-08")
    assert "2 run(s)" in table
    with db.read() as conn:
        alan = next(
            r
            for r in payables.runs_of(conn, council["manager"], book)
            if r["provider_party_id"] == council["p2"]
        )
    assert alan["status"] == "resolved"
    assert f"run {alan['id']} posted as entry" in remit(
        "care", "post", str(alan["id"]), user="mona"
    )


PACKAGES = """\
package_id,client_id,provider_id,service_code,start_date,end_date,days,start,minutes,carers,rate_per_hour,currency,rate_from
PKG-1,C1,P1,HC,2026-11-02,,daily,08:00,30,1,18.50,GBP,
PKG-1,C1,P1,HC,2026-11-02,,weekdays,12:30,45,2,19.10,GBP,2026-11-05
PKG-2,C2,P2,NC,2026-11-02,2026-11-30,Mon Thu,21:00,15,,20,GBP,
"""


def test_packages_from_a_file_plan_the_week_they_describe(db, book, council):
    clerk = council["clerk"]
    with db.write() as conn:
        made = packages.import_packages(conn, clerk, book, "packages.csv", PACKAGES.encode())
        added = care.generate_planned(conn, clerk, book, MONDAY, SUNDAY)
    assert len(made) == 2
    # Already there: Ada's 12 and Alan's 1; from the file: 7 + 5 for PKG-1 and 2 for PKG-2.
    assert added == 12 + 1 + 7 + 5 + 2
    with db.read() as conn:
        pkg1 = conn.execute(
            select(
                planned_visits.c.carers, planned_visits.c.end_s - planned_visits.c.start_s
            ).where(planned_visits.c.ref == "PKG-1/2026-11-02/12:30")
        ).one()
    assert tuple(pkg1) == (2, 45 * 60)


def test_a_packages_file_with_errors_commissions_nothing(db, book, council):
    bad = PACKAGES + (
        "PKG-3,C9,P1,HC,2026-11-02,,Mon Funday,8am,0,11,cheap,GBX,\n"  # line 5: six problems
        "PKG-1,C2,P1,HC,2026-11-02,,daily,09:00,30,1,18.50,GBP,\n"  # line 6: client differs
        "PKG-ADA,C1,P1,HC,2026-11-02,,daily,09:00,30,1,18.50,GBP,\n"
    )  # line 7: exists
    with pytest.raises(ValidationFailed) as caught, db.write() as conn:
        packages.import_packages(conn, council["clerk"], book, "packages.csv", bad.encode())
    found = {(p.line, p.field) for p in caught.value.problems}
    assert {
        (5, "client_id"),
        (5, "days"),
        (5, "start"),
        (5, "minutes"),
        (5, "carers"),
        (5, "rate_per_hour"),
        (6, "client_id"),
        (7, "package_id"),
    } <= found
    with db.read() as conn:
        count_ = conn.execute(select(func.count()).select_from(care_packages)).scalar_one()
    assert count_ == 2  # the fixture's two


def test_a_rate_beyond_the_bound_is_refused_in_a_book_as_offline():
    """An absurd rate would overflow the engine's 64-bit arithmetic; both gates refuse it."""
    new = NewPackage(
        "PKG-X",
        1,
        2,
        "HC",
        MONDAY,
        None,
        (Slot(0, 540, 30),),
        ((MONDAY, "999999999", "GBP"), (MONDAY, "99999.999999", "GBP")),
    )
    assert [p.field for p in care.package_problems(new)] == ["rates[0]"]
