"""A second person's approval of bulk decisions (issue 9, deliverable 4): a bulk decision
that pays more than planned by more than the policy's ``second_approval_minutes``, or that
accepts unplanned records, waits for a second person, row by row; the person who made it
cannot approve it, a manager or an approver can; the run is posted only once nothing waits.
Through the service, and through the run page's bulk form."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from remit.access.model import Actor, Role
from remit.access.service import actor_for
from remit.care import decisions, imports, payables, runs
from remit.care import service as care
from remit.care.model import Policy
from remit.care.service import NewPackage, Slot
from remit.care.store import care_decisions, care_runs, visit_outcomes
from remit.errors import Conflict, Forbidden
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.testkit.web import sign_in
from remit.web.app import create_app

MONDAY = date(2026, 11, 2)
SUNDAY = date(2026, 11, 8)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
WEEK = (
    HEADER + "R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:27:40\n"
    "R5,C1,P1,K7,HC,app,2026-11-02T16:00:00,2026-11-02T16:30:00\n"  # no visit near: unplanned
    "R6,C1,P1,K7,HC,app,2026-11-03T17:00:00,2026-11-03T17:20:00\n"  # unplanned
)
LIMIT = 10  # the policy's second_approval_minutes


@pytest.fixture
def week(db, book, council):
    """Sunrise's week under a policy allowing 10 minutes over the plan without a second
    person: missed places, one short visit and two unplanned records."""
    with db.write() as conn:
        care.set_policy(
            conn,
            council["manager"],
            book,
            Policy(second_approval_minutes=LIMIT),
            date(2026, 10, 1),
        )
        care.generate_planned(conn, council["clerk"], book, MONDAY, SUNDAY)
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", WEEK.encode())
        (run,) = runs.reconcile_period(
            conn, council["clerk"], book, MONDAY, SUNDAY, [council["p1"]]
        )
    return {**council, "run": run.run_id}


def _open(db, run_id):
    with db.read() as conn:
        return conn.execute(
            select(visit_outcomes)
            .where(visit_outcomes.c.run_id == run_id, visit_outcomes.c.exception.is_(True))
            .order_by(visit_outcomes.c.id)
        ).all()


def _status(db, run_id) -> str:
    with db.read() as conn:
        found = conn.execute(select(care_runs.c.status).where(care_runs.c.id == run_id))
        return str(found.scalar_one())


def test_a_bulk_decision_over_the_plan_waits_for_a_second_person(db, book, week):
    clerk, manager, run_id = week["clerk"], week["manager"], week["run"]
    approver = Actor("april", roles={book: frozenset({Role.APPROVER})})
    rows = _open(db, run_id)
    missed = [r for r in rows if r.status == "missed" and r.planned_minutes == 30]
    within, over = missed[:2], missed[2:4]
    assert len(over) == 2 and all(r.planned_minutes == 30 for r in over)
    with db.write() as conn:
        # 30 + 10 minutes: at the limit, in force at once.
        done = decisions.decide_many(
            conn,
            clerk,
            book,
            run_id,
            {r.id: r.version for r in within},
            "set_minutes",
            "visits ran long",
            minutes=30 + LIMIT,
        )
        assert [d["awaiting_approval"] for d in done] == [False, False]
        # One minute more: each row waits for a second person, and stays open.
        waiting = decisions.decide_many(
            conn,
            clerk,
            book,
            run_id,
            {r.id: r.version for r in over},
            "set_minutes",
            "visits ran long",
            minutes=30 + LIMIT + 1,
        )
    assert [d["awaiting_approval"] for d in waiting] == [True, True]
    by_id = {r.id: r for r in _open(db, run_id)}
    assert all(by_id[r.id].decision == "set_minutes" for r in within)
    assert all(by_id[r.id].decision is None and by_id[r.id].final_minutes == 0 for r in over)
    pending = [d["decision_id"] for d in waiting]
    with db.read() as conn:
        assert [p["id"] for p in decisions.pending_approvals(conn, manager, book)] == pending
    # Everything else rejected: the run still waits for the two approvals, and is not posted.
    over_ids = {r.id for r in over}
    rest = {r.id: r.version for r in _open(db, run_id) if r.decision is None}
    rest = {k: v for k, v in rest.items() if k not in over_ids}
    with db.write() as conn:
        decisions.decide_many(conn, clerk, book, run_id, rest, "reject", "not delivered")
    assert _status(db, run_id) == "deciding"
    with pytest.raises(Conflict, match="decide its exceptions first"), db.write() as conn:
        payables.post_payable(conn, manager, book, run_id)
    # The first person cannot approve: not as a clerk, and not with a manager's role either.
    with db.write() as conn:
        with pytest.raises(Forbidden):
            decisions.approve(conn, clerk, book, pending[0], accept=True)
        carla_as_manager = Actor("carla", roles={book: frozenset({Role.MANAGER})})
        with pytest.raises(Forbidden, match="cannot approve"):
            decisions.approve(conn, carla_as_manager, book, pending[0], accept=True)
        decisions.approve(conn, approver, book, pending[0], accept=True)
    assert _status(db, run_id) == "deciding"  # one still waits
    with db.write() as conn:
        decisions.approve(conn, manager, book, pending[1], accept=True)
    assert _status(db, run_id) == "resolved"
    by_id = {r.id: r for r in _open(db, run_id)}
    assert [(by_id[r.id].final_minutes, by_id[r.id].decided_by) for r in over] == [
        (41, "carla"),
        (41, "carla"),
    ]
    with db.read() as conn:
        history = decisions.history(conn, manager, book, run_id)
    assert [history[r.id][-1]["approved_by"] for r in over] == ["april", "mona"]
    # Posted by someone who decided nothing: the ledger holds what the lines pay.
    with db.write() as conn:
        entry = payables.post_payable(conn, manager, book, run_id)
        balance = ledger.party_balances_by_account(conn, manager, book, week["p1"])
    paid = sum(r.final_amount_minor for r in _open(db, run_id))
    assert entry is not None and paid == 2 * 1267 + 2 * 1298  # 40 and 41 minutes at 19.00
    with db.read() as conn:
        lines = payables.cost_centres(conn, run_id)
    assert [(b.account_code, b.balance_minor) for b in balance] == [("2000", -sum(lines.values()))]


def test_a_bulk_acceptance_of_unplanned_records_waits_and_a_refusal_leaves_them_open(
    db, book, week
):
    clerk, manager, run_id = week["clerk"], week["manager"], week["run"]
    unplanned = [r for r in _open(db, run_id) if r.status == "unplanned"]
    assert len(unplanned) == 2
    with db.write() as conn:
        waiting = decisions.decide_many(
            conn,
            clerk,
            book,
            run_id,
            {r.id: r.version for r in unplanned},
            "accept_actual",
            "extra visits agreed by phone",
        )
    assert [d["awaiting_approval"] for d in waiting] == [True, True]
    assert [d["final_amount_minor"] for d in waiting] == [950, 633]  # 30 and 20 min at 19.00
    with db.write() as conn:
        decisions.approve(conn, manager, book, waiting[0]["decision_id"], accept=True)
        decisions.approve(conn, manager, book, waiting[1]["decision_id"], accept=False)
    by_id = {r.id: r for r in _open(db, run_id)}
    accepted, refused = (by_id[r.id] for r in unplanned)
    assert (accepted.decision, accepted.final_amount_minor) == ("accept_actual", 950)
    assert (refused.decision, refused.final_amount_minor) == (None, 0)
    with db.read() as conn:
        statuses = conn.execute(
            select(care_decisions.c.status)
            .where(care_decisions.c.outcome_id == refused.id)
            .order_by(care_decisions.c.id)
        ).scalars()
        assert list(statuses) == ["refused"]
    # Rejecting an unplanned record pays nothing: no second person, in force at once.
    with db.write() as conn:
        (done,) = decisions.decide_many(
            conn, clerk, book, run_id, {refused.id: refused.version}, "reject", "not ours"
        )
    assert not done["awaiting_approval"]


# ---------------------------------------------------------------- the page

BOOK = "riverside"
DAY = date(2023, 1, 10)  # a Tuesday, before any demo package
RUN_HEADER = HEADER


@pytest.fixture
def page_run(demo_db):
    """In the demo book: two 30-minute visits of the demo provider, both missed, and one
    unplanned record; reconciled; a policy with no minutes over the plan allowed."""
    with demo_db.write() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        manager = actor_for(conn, f"demo-manager@{BOOK}")
        provider = actor_for(conn, f"demo-provider@{BOOK}").party_in(book_id)
        client = min(parties.party_ids_with_role(conn, book_id, "client"))
        client_ref = parties.get_party(conn, clerk, book_id, client)["ref"]
        provider_ref = parties.get_party(conn, clerk, book_id, provider)["ref"]
        care.set_policy(conn, manager, book_id, Policy(), date(2022, 12, 1))
        care.create_package(
            conn,
            clerk,
            book_id,
            NewPackage(
                "BA-1",
                client,
                provider,
                "BA",
                DAY,
                DAY,
                (Slot(1, 9 * 60, 30), Slot(1, 13 * 60, 30)),
                ((DAY, "20.00", "GBP"),),
            ),
        )
        care.generate_planned(conn, clerk, book_id, DAY, DAY)
        record = f"BA-R1,{client_ref},{provider_ref},K1,BA,app,"
        record += f"{DAY}T17:00:00,{DAY}T17:30:00\n"
        imports.import_actual(conn, clerk, book_id, "ba.csv", (HEADER + record).encode())
        (run,) = runs.reconcile_period(conn, clerk, book_id, DAY, DAY, [provider])
    with TestClient(create_app(demo_db)) as client:
        yield client, run.run_id, book_id


def _picks(html: str) -> list[str]:
    return re.findall(r'name="pick" value="(\d+:\d+)"', html)


def _approvals(html: str) -> list[str]:
    return re.findall(r'action="/b/[^/]+/care/decisions/(\d+)/approve"', html)


def test_the_bulk_form_waits_for_a_second_person_who_is_not_the_first(page_run, demo_db):
    client, run_id, book_id = page_run
    url = f"/b/{BOOK}/care/runs/{run_id}"
    with demo_db.read() as conn:
        kinds = {
            int(r.id): r.status
            for r in conn.execute(
                select(visit_outcomes).where(
                    visit_outcomes.c.run_id == run_id, visit_outcomes.c.exception.is_(True)
                )
            )
        }
    assert sorted(kinds.values()) == ["missed", "missed", "unplanned"]
    # The clerk pays both missed visits 45 minutes (15 over the plan), in one bulk decision.
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    page = client.get(url)
    missed = [p for p in _picks(page.text) if kinds[int(p.split(":")[0])] == "missed"]
    done = client.post(
        f"{url}/decide",
        data={
            "csrf_token": csrf,
            "pick": missed,
            "decision": "set_minutes",
            "minutes": "45",
            "reason": "the carers stayed longer",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(url)
    assert page.text.count("awaiting approval by a second person") == 2
    assert _approvals(page.text) == []  # a clerk approves nothing
    with demo_db.read() as conn:
        waiting = [p["id"] for p in decisions.pending_approvals(conn, Actor.system("t"), book_id)]
    assert len(waiting) == 2
    refused = client.post(
        f"/b/{BOOK}/care/decisions/{waiting[0]}/approve",
        data={"csrf_token": csrf, "accept": "true"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    # The manager accepts the unplanned record in bulk: it waits too, and the manager,
    # who made that decision, cannot approve it (no button; the post is refused).
    manager = TestClient(client.app)
    mcsrf = sign_in(manager, f"demo-manager@{BOOK}")
    mpage = manager.get(url)
    unplanned = [p for p in _picks(mpage.text) if kinds[int(p.split(":")[0])] == "unplanned"]
    assert len(unplanned) == 1
    done = manager.post(
        f"{url}/decide",
        data={
            "csrf_token": mcsrf,
            "pick": unplanned,
            "decision": "accept_actual",
            "reason": "an extra visit agreed by phone",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    mpage = manager.get(url)
    assert mpage.text.count("awaiting approval by a second person") == 3
    with demo_db.read() as conn:
        own = [
            p["id"]
            for p in decisions.pending_approvals(conn, Actor.system("t"), book_id)
            if p["id"] not in waiting
        ]
    assert set(_approvals(mpage.text)) == {str(w) for w in waiting}  # not its own
    mine = manager.post(
        f"/b/{BOOK}/care/decisions/{own[0]}/approve",
        data={"csrf_token": mcsrf, "accept": "true"},
        follow_redirects=False,
    )
    assert mine.status_code == 403 and "cannot approve" in mine.text
    # Not yet resolved: posting is refused while anything waits.
    poster = TestClient(client.app)
    pcsrf = sign_in(poster, f"demo-clerk2@{BOOK}")
    early = poster.post(f"{url}/post", data={"csrf_token": pcsrf}, follow_redirects=False)
    assert early.status_code == 409
    # The manager approves the clerk's two; the approver the manager's one.
    for decision_id in waiting:
        ok = manager.post(
            f"/b/{BOOK}/care/decisions/{decision_id}/approve",
            data={"csrf_token": mcsrf, "accept": "true"},
            follow_redirects=False,
        )
        assert ok.status_code == 303
    approver = TestClient(client.app)
    acsrf = sign_in(approver, f"demo-approver@{BOOK}")
    ok = approver.post(
        f"/b/{BOOK}/care/decisions/{own[0]}/approve",
        data={"csrf_token": acsrf, "accept": "true"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    # Posted by a third person (the clerk and the manager decided exceptions of the run).
    assert manager.post(f"{url}/post", data={"csrf_token": mcsrf}).status_code == 403
    posted = poster.post(f"{url}/post", data={"csrf_token": pcsrf}, follow_redirects=False)
    assert posted.status_code == 303
    with demo_db.read() as conn:
        run = payables.run_row(conn, book_id, run_id)
        paid = conn.execute(
            select(visit_outcomes.c.final_amount_minor).where(visit_outcomes.c.run_id == run_id)
        ).scalars()
        amounts = sorted(int(a) for a in paid if a)
    assert run.status == "posted" and run.entry_id is not None
    assert amounts == [1000, 1500, 1500]  # 30 unplanned minutes, 45 on each visit, at 20.00
