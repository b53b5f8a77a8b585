"""Care in sight: the queue's care work (runs to decide, to post, held; approvals; answers),
unowned arbitration cases under "Waiting for an owner", a clerk taking a case, the case
owner told of a provider's reply, case and run linked both ways, and packages, visits,
rates, holds and runs on the client and provider pages."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from remit.access.service import actor_for
from remit.audit import audit_events
from remit.care import decisions, imports, payables, runs
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.care.store import care_answers, care_runs, planned_visits, visit_outcomes
from remit.cases import service as cases
from remit.errors import Conflict
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.testkit.web import sign_in
from remit.web.app import create_app

BOOK = "riverside"


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        yield client, demo_db


def section(page: str, title: str) -> str:
    """The part of a page from the heading ``title`` to the next heading of that level."""
    start = page.index(f">{title}<")
    after = re.search(r"<h2[ >]", page[start:])
    return page[start : start + after.start()] if after else page[start:]


def arbitration_run(database) -> tuple[int, int, int]:
    """The demo's first run with an arbitration case: (run id, case id, provider)."""
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        r = care_runs.c
        row = conn.execute(
            select(r.id, r.case_id, r.provider_party_id)
            .where(r.book_id == book_id, r.case_id.is_not(None))
            .order_by(r.id)
        ).first()
    assert row is not None
    return int(row.id), int(row.case_id), int(row.provider_party_id)


def test_unowned_arbitration_cases_wait_for_an_owner_and_a_clerk_takes_one(web):
    client, database = web
    run_id, case_id, _ = arbitration_run(database)
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    queue = client.get(f"/b/{BOOK}/queue").text
    waiting = section(queue, "Waiting for an owner")
    assert "Visit arbitration" in waiting and f"/b/{BOOK}/cases/{case_id}" in waiting
    page = client.get(f"/b/{BOOK}/cases/{case_id}").text
    assert "Take this case" in page
    assert f'href="/b/{BOOK}/care/runs/{run_id}"' in page  # the case links to its run
    taken = client.post(
        f"/b/{BOOK}/cases/{case_id}/take", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert taken.status_code == 303
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        case = cases.get_case(conn, clerk, book_id, case_id)
        audited = conn.execute(
            select(audit_events.c.action).where(
                audit_events.c.object_type == "case",
                audit_events.c.object_id == str(case_id),
                audit_events.c.action == "case.take",
            )
        ).all()
    assert case["owner"] == f"demo-clerk@{BOOK}" and len(audited) == 1
    other = actor_for_write(database, f"demo-clerk2@{BOOK}")
    with pytest.raises(Conflict, match="already"), database.write() as conn:
        cases.take(conn, other, book_id, case_id)
    assert f"/b/{BOOK}/cases/{case_id}" in section(
        client.get(f"/b/{BOOK}/queue").text, "Yours, soonest due first"
    )
    run_page = client.get(f"/b/{BOOK}/care/runs/{run_id}").text
    assert f'href="/b/{BOOK}/cases/{case_id}"' in run_page  # and the run to its case


def actor_for_write(database, username: str):
    with database.read() as conn:
        return actor_for(conn, username)


def test_the_queue_shows_runs_to_decide_held_and_ready_to_post(web):
    client, database = web
    run_id, _, provider = arbitration_run(database)
    sign_in(client, f"demo-manager@{BOOK}")
    queue = client.get(f"/b/{BOOK}/queue").text
    assert f"/b/{BOOK}/care/runs/{run_id}" in section(queue, "Care runs needing a decision")
    assert "exceptions to decide" in section(queue, "Care runs needing a decision")
    resolved = a_resolved_run(database, provider)
    assert resolved is not None  # a run with no exception is ready to post
    queue = client.get(f"/b/{BOOK}/queue").text
    assert f"/b/{BOOK}/care/runs/{resolved.id}" in section(queue, "Care runs ready to post")
    manager = actor_for_write(database, f"demo-manager@{BOOK}")
    with database.write() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        payables.hold(conn, manager, book_id, int(resolved.provider_party_id), "insurance lapsed")
    queue = client.get(f"/b/{BOOK}/queue").text
    assert f"/b/{BOOK}/care/runs/{resolved.id}" in section(queue, "Held care runs")
    assert "2 Jan 2023 to 2 Jan 2023" in section(queue, "Held care runs")  # dated for people
    assert "Care runs ready to post" not in queue  # the only resolved run is held
    providers = client.get(f"/b/{BOOK}/parties?role=provider&q=").text
    assert '<span class="badge escalated">held</span>' in providers
    provider_page = client.get(f"/b/{BOOK}/parties/{provider}").text
    assert "Held from payment" in provider_page and "insurance lapsed" in provider_page
    home = client.get(f"/b/{BOOK}/care").text  # and on the runs of the care page
    row = re.search(rf'<a href="/b/{BOOK}/care/runs/{resolved.id}">.*?</tr>', home, re.S)
    assert row and ">held</mark>" in row.group(0)
    run_page = client.get(f"/b/{BOOK}/care/runs/{resolved.id}").text
    assert "provider held: nothing passes to payment" in run_page


MONDAY = date(2023, 1, 2)  # before any demo package: only this test's visits


def a_resolved_run(database, provider: int):
    """A provider's week of one visit delivered as planned: a run with no exception."""
    with database.write() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        client_id = min(parties.party_ids_with_role(conn, book_id, "client"))
        refs = {
            "client": parties.get_party(conn, clerk, book_id, client_id)["ref"],
            "provider": parties.get_party(conn, clerk, book_id, provider)["ref"],
        }
        care.create_package(
            conn,
            clerk,
            book_id,
            NewPackage(
                "VIS-1",
                client_id,
                provider,
                "VS",
                MONDAY,
                None,
                (Slot(0, 9 * 60, 30),),
                ((MONDAY, "20.00", "GBP"),),
            ),
        )
        care.generate_planned(conn, clerk, book_id, MONDAY, MONDAY)
        content = (
            "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
            f"VIS-R1,{refs['client']},{refs['provider']},K1,VS,app,"
            "2023-01-02T09:00:00,2023-01-02T09:30:00\n"
        )
        imports.import_actual(conn, clerk, book_id, "vis.csv", content.encode())
        (summary,) = runs.reconcile_period(conn, clerk, book_id, MONDAY, MONDAY, [provider])
        row = conn.execute(
            select(care_runs.c.id, care_runs.c.provider_party_id, care_runs.c.status).where(
                care_runs.c.id == summary.run_id
            )
        ).one()
    assert row.status == "resolved"
    return row


def test_a_providers_reply_in_the_portal_notifies_the_case_owner(web):
    client, database = web
    _, case_id, _ = arbitration_run(database)
    with database.write() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        clerk = actor_for(conn, f"demo-clerk@{BOOK}")
        assert cases.notify_owner(conn, book_id, case_id, "nobody to tell") is None  # no owner
        cases.take(conn, clerk, book_id, case_id)
        owner = cases.get_case(conn, clerk, book_id, case_id)
        cases.transition(conn, clerk, book_id, case_id, "ask_provider", "", owner["version"])
        party = owner["party_id"]
    sign_in(client, f"demo-clerk@{BOOK}")
    assert "Providers who replied" not in client.get(f"/b/{BOOK}/queue").text
    with database.read() as conn:
        agency = actor_for(conn, f"demo-provider@{BOOK}")
    # The provider of the run answers (the demo's provider user, bound to that provider).
    agency = replace(agency, parties={book_id: party})
    with database.write() as conn:
        cases.comment(conn, agency, book_id, case_id, "The carer was there: see the rota.")
    queue = client.get(f"/b/{BOOK}/queue").text
    replied = section(queue, "Providers who replied")
    assert f"/b/{BOOK}/cases/{case_id}" in replied and "see the rota" in html.unescape(replied)
    with database.write() as conn:  # the owner acts on the case: the notice is read
        cases.comment(conn, clerk, book_id, case_id, "Checked the rota, thank you.")
    assert "Providers who replied" not in client.get(f"/b/{BOOK}/queue").text


def test_client_and_provider_pages_show_their_care(web):
    client, database = web
    _, _, provider = arbitration_run(database)
    sign_in(client, f"demo-clerk@{BOOK}")
    page = client.get(f"/b/{BOOK}/parties/{provider}").text
    care = section(page, "Care")
    assert "Care packages" in care and "Weekly pattern" in care
    assert re.search(r"£\d+\.\d\d an hour", care), "a package rate with its currency symbol"
    assert "Recent care runs" in care and "Holds" in care and "Never held." in care
    client_id = int(re.search(rf'href="/b/{BOOK}/parties/(\d+)">[^<]+</a></td>\s*<td>', care)[1])
    client_page = client.get(f"/b/{BOOK}/parties/{client_id}").text
    assert "Care packages" in client_page and "Planned visits, this week and next" in client_page


# ---------------------------------------------------------------- planning


def test_planning_skips_visits_an_import_planned_and_reports_them_per_provider(db, book, council):
    clerk = council["clerk"]
    week = (date(2026, 11, 2), date(2026, 11, 8))
    planned = (
        "visit_id,client_id,provider_id,service_code,start,end\n"
        "V1,C1,P1,HC,2026-11-02T09:00,2026-11-02T09:30\n"  # Ada's package visit, imported
        "V2,C1,P1,HC,2026-11-03T13:00,2026-11-03T13:30\n"  # and her 13:00 of Tuesday
        "V3,C1,P1,HC,2026-11-02T19:00,2026-11-02T19:30\n"  # an extra visit: no duplicate
    )
    with db.write() as conn:
        imports.import_planned(conn, clerk, book, "plan.csv", planned.encode())
        report = care.plan_period(conn, clerk, book, *week)
        again = care.plan_period(conn, clerk, book, *week)
    assert report.duplicates == {"P1": 2} and report.added == 7 + 5 + 1 - 2
    assert "skipped 2 that duplicate imported visits (P1: 2)" in report.text()
    assert (again.added, again.duplicates) == (0, {"P1": 2})  # still skipped, still said
    with db.read() as conn:
        v = planned_visits.c
        starts = conn.execute(
            select(v.start_s, func.count())
            .where(v.book_id == book, v.client_party_id == council["c1"])
            .group_by(v.start_s)
            .having(func.count() > 1)
        ).all()
    assert starts == []  # no visit planned twice


def test_planning_a_posted_period_is_refused_and_plans_nothing(db, book, council):
    clerk, manager = council["clerk"], council["manager"]
    week = (date(2026, 11, 2), date(2026, 11, 8))
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, *week)
        found = {s.provider_party_id: s for s in runs.reconcile_period(conn, clerk, book, *week)}
        alan = found[council["p2"]]  # Oakfield's Monday: no record, one exception
        for row in conn.execute(
            select(visit_outcomes.c.id).where(
                visit_outcomes.c.run_id == alan.run_id, visit_outcomes.c.exception.is_(True)
            )
        ).all():
            decisions.decide(conn, clerk, book, row.id, "reject", "no visit took place")
        payables.post_payable(conn, manager, book, alan.run_id)
    before = count_rows(db, planned_visits)
    with pytest.raises(Conflict) as refused, db.write() as conn:
        care.plan_period(conn, clerk, book, date(2026, 11, 5), date(2026, 11, 12))
    assert str(refused.value) == (
        "the period 2026-11-02 to 2026-11-08 is posted for provider P2; plan a later period"
    )
    assert count_rows(db, planned_visits) == before
    with db.write() as conn:  # the week after is open
        assert care.plan_period(conn, clerk, book, date(2026, 11, 9), date(2026, 11, 15)).added


def count_rows(db, table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_providers_answer_to_an_exception_is_in_the_queue_until_decided(web):
    client, database = web
    run_id, _, _ = arbitration_run(database)
    with database.write() as conn:  # the portal's answer (stored as the portal stores it)
        o = visit_outcomes.c
        outcome = conn.execute(
            select(o.id).where(o.run_id == run_id, o.exception.is_(True)).order_by(o.id).limit(1)
        ).scalar()
        conn.execute(
            insert(care_answers).values(
                outcome_id=outcome,
                run_id=run_id,
                body="the carer was there",
                answered_by=f"demo-provider@{BOOK}",
                answered_at="2026-11-20T10:00:00Z",
            )
        )
    sign_in(client, f"demo-clerk@{BOOK}")
    answered = section(client.get(f"/b/{BOOK}/queue").text, "Providers who answered an exception")
    assert f"/b/{BOOK}/care/runs/{run_id}" in answered and "1 answer waiting" in answered
