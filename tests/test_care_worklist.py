"""The run as a worklist (issue 9): exceptions filtered, sorted and paged in SQL, decided rows
on one line with their history on demand, the visit lines paged, a bulk decision all or
nothing (typed values kept, a stale row named), and the provider answering each exception
of its own run in its portal."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from remit.access.model import Actor, Role
from remit.care import decisions, imports, runs, worklist
from remit.care import service as care
from remit.care.service import NewPackage, Slot
from remit.care.store import care_answers, care_runs, visit_outcomes
from remit.care.worklist import Filters
from remit.cases import service as cases_service
from remit.cases.store import case_events
from remit.documents import service as documents
from remit.errors import Conflict, NotFound, ValidationFailed
from remit.testkit.care_worklist import seed_long_run
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token

BOOK = "riverside"

OCTOBER = date(2026, 10, 1)
NOVEMBER_END = date(2026, 11, 30)
HEADER = "record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out\n"
RECORDS = (
    HEADER + "R1,C1,P1,K1,HC,phone,2026-11-02T09:05:00,2026-11-02T09:12:00\n"  # short
    "R5,C1,P1,K7,HC,app,2026-11-02T16:00:00,2026-11-02T16:30:00\n"  # unplanned
)


@pytest.fixture
def months(db, book, council):
    """Sunrise's October and November: Ada's visits, nearly all missed (over 100 exceptions),
    one short, one unplanned."""
    with db.write() as conn:
        care.generate_planned(conn, council["clerk"], book, OCTOBER, NOVEMBER_END)
        imports.import_actual(conn, council["clerk"], book, "ecm.csv", RECORDS.encode())
        (run,) = runs.reconcile_period(
            conn, council["clerk"], book, OCTOBER, NOVEMBER_END, [council["p1"]]
        )
    return run.run_id


def _all(db, council, book, run_id, **chosen):
    with db.read() as conn:
        total, rows = worklist.exceptions(conn, council["clerk"], book, run_id, Filters(**chosen))
    return total, rows


def test_exceptions_are_paged_fifty_at_a_time_and_every_one_is_on_a_page(db, book, council, months):
    with db.read() as conn:
        expected = {
            r.id
            for r in conn.execute(
                select(visit_outcomes.c.id).where(
                    visit_outcomes.c.run_id == months, visit_outcomes.c.exception.is_(True)
                )
            )
        }
    total, first = _all(db, council, book, months)
    assert total == len(expected) > 100
    pages = [first] + [
        _all(db, council, book, months, page=n)[1] for n in range(2, -(-total // 50) + 1)
    ]
    assert [len(p) for p in pages[:-1]] == [50] * (len(pages) - 1)
    seen = [r["id"] for p in pages for r in p]
    assert len(seen) == len(set(seen)) and set(seen) == expected
    days = [r["day"] for p in pages for r in p]
    assert days == sorted(days)  # by date, across the pages
    assert _all(db, council, book, months, page=99)[1] == []


def test_filters_by_rule_carer_client_and_status_in_words(db, book, council, months):
    total, rows = _all(db, council, book, months, rule="short_exception")
    assert total == 1 and rows[0]["carer"] == "K1" and rows[0]["rule_words"] == "too short"
    assert rows[0]["planned"] == "09:00–09:30" and rows[0]["actual"] == "09:05–09:12"
    assert rows[0]["client"] == "C1" and rows[0]["client_name"] == "Ada Lovelace"
    assert rows[0]["method"] == "phone" and rows[0]["state"] == "undecided"
    total, rows = _all(db, council, book, months, carer="K7")
    assert total == 1 and rows[0]["rule"] == "no_planned_visit_in_window"
    everyone, _ = _all(db, council, book, months)
    assert _all(db, council, book, months, client="C1")[0] == everyone
    assert _all(db, council, book, months, client="C2")[0] == 0  # Alan is Oakfield's
    missed, _ = _all(db, council, book, months, rule="no_record_for_place")
    assert missed == everyone - 2
    by_carer = _all(db, council, book, months, sort="carer")[1]
    assert [r["carer"] for r in by_carer[:3]] == ["K1", "K7", None]  # no carer: last


def test_status_filter_tells_decided_waiting_and_undecided_apart(db, book, council, months):
    (short,) = _all(db, council, book, months, rule="short_exception")[1]
    (extra,) = _all(db, council, book, months, carer="K7")[1]
    everyone, _ = _all(db, council, book, months)
    with db.write() as conn:
        decisions.decide(
            conn, council["clerk"], book, short["id"], "accept_planned", "phoned", None, 1
        )
        decisions.decide(conn, council["clerk"], book, extra["id"], "accept_actual", "seen", None)
    decided, rows = _all(db, council, book, months, state="decided")
    assert decided == 1 and rows[0]["id"] == short["id"] and rows[0]["decided_by"] == "carla"
    assert [h["status"] for h in rows[0]["history"]] == ["in_force"]
    waiting, rows = _all(db, council, book, months, state="awaiting")
    assert waiting == 1 and rows[0]["id"] == extra["id"]
    assert rows[0]["state"] == "awaiting approval"
    assert _all(db, council, book, months, state="undecided")[0] == everyone - 2
    by_status = [
        r["id"] for r in _all(db, council, book, months, sort="status", page=-(-everyone // 50))[1]
    ]
    assert by_status[-2:] == [extra["id"], short["id"]]  # open, then waiting, then decided


def test_flags_are_shown_in_words(db, book, council, months):
    (short,) = _all(db, council, book, months, rule="short_exception")[1]
    assert short["flag_words"] == "early leaving"  # the engine's flag of a short visit
    with db.write() as conn:
        conn.execute(
            update(visit_outcomes)
            .where(visit_outcomes.c.id == short["id"])
            .values(flags="late_arrival,early_leaving")
        )
    (short,) = _all(db, council, book, months, rule="short_exception")[1]
    assert short["flag_words"] == "late arrival, early leaving"


def test_the_lines_are_paged_and_summed_in_sql(db, book, council, months):
    with db.read() as conn:
        sums = worklist.totals(conn, council["clerk"], book, months)
        count, first = worklist.lines(conn, council["clerk"], book, months, 1)
        pages = [first] + [
            worklist.lines(conn, council["clerk"], book, months, n)[1]
            for n in range(2, -(-count // worklist.LINE_ROWS) + 1)
        ]
    assert count == sums["lines"] > worklist.LINE_ROWS and len(first) == worklist.LINE_ROWS
    assert sum(len(p) for p in pages) == count
    assert sum(r["final_amount_minor"] for p in pages for r in p) == sums["amount_minor"]
    assert sums["currency"] == "GBP"


def test_a_run_of_another_book_is_not_found(db, book, council, months, council_books):
    other, other_council = council_books(db, "other")
    with db.read() as conn, pytest.raises(NotFound):
        worklist.exceptions(conn, other_council["clerk"], other, months, Filters())


def _provider(book, party_id):
    return Actor("sunrise", roles={book: frozenset({Role.PROVIDER})}, parties={book: party_id})


def test_the_provider_answers_an_exception_of_its_own_run_only(db, book, council, months):
    (short,) = _all(db, council, book, months, rule="short_exception")[1]
    sunrise, oakfield = _provider(book, council["p1"]), _provider(book, council["p2"])
    with db.write() as conn:
        done = worklist.answer(
            conn, sunrise, book, short["id"], "her phone died", "rota.csv", b"carer\nK1\n"
        )
    assert done["run_id"] == months and done["file_id"] is not None
    with db.read() as conn:  # filed with the run's arbitration case, for the officer
        case_id = conn.execute(select(care_runs.c.case_id).where(care_runs.c.id == months))
        filed = documents.list_documents(conn, council["clerk"], book, "case", case_id.scalar())
    assert [d["filename"] for d in filed] == ["rota.csv"]
    (short,) = _all(db, council, book, months, rule="short_exception")[1]
    assert [(a["body"], a["filename"]) for a in short["answers"]] == [
        ("her phone died", "rota.csv")
    ]
    with db.read() as conn:
        _run, total, rows = worklist.portal_exceptions(conn, sunrise, book, months)
        assert total == _all(db, council, book, months)[0] and len(rows) == 50
        with pytest.raises(NotFound):
            worklist.portal_exceptions(conn, oakfield, book, months)
    for body in ("", "bell\x07", "x" * 4001):
        with pytest.raises(ValidationFailed) as refused, db.write() as conn:
            worklist.answer(conn, sunrise, book, short["id"], body)
        assert refused.value.problems[0].field == "body"
    with pytest.raises(NotFound), db.write() as conn:
        worklist.answer(conn, oakfield, book, short["id"], "not ours")
    with db.write() as conn:
        conn.execute(update(care_runs).where(care_runs.c.id == months).values(status="posted"))
    with pytest.raises(Conflict), db.write() as conn:
        worklist.answer(conn, sunrise, book, short["id"], "too late")
    with db.read() as conn:
        assert len(conn.execute(select(care_answers.c.id)).all()) == 1


def test_an_answer_notifies_the_case_owner(db, book, council, months):
    (short,) = _all(db, council, book, months, rule="short_exception")[1]
    with db.read() as conn:
        case_id = conn.execute(
            select(care_runs.c.case_id).where(care_runs.c.id == months)
        ).scalar_one()
    sunrise = _provider(book, council["p1"])

    def notices():
        with db.read() as conn:
            return conn.execute(
                select(func.count()).where(
                    case_events.c.case_id == case_id, case_events.c.kind == "notice"
                )
            ).scalar_one()

    with db.write() as conn:  # no owner yet: nobody to tell
        worklist.answer(conn, sunrise, book, short["id"], "first")
    assert notices() == 0
    with db.write() as conn:
        cases_service.take(conn, council["clerk"], book, case_id)
    with db.write() as conn:
        worklist.answer(conn, sunrise, book, short["id"], "she was in hospital")
    assert notices() == 1


# ---------------------------------------------------------------- the pages


@pytest.fixture
def big_run(demo_db):
    """The demo book with a long run (see ``seed_long_run``) and a client of its pages."""
    run_id, total, line_count = seed_long_run(demo_db)
    with TestClient(create_app(demo_db)) as client:
        yield client, run_id, total, line_count


def _rows(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="row-(\d+)"', html)]


def test_the_run_page_is_a_worklist_with_filters_and_pages(big_run):
    client, run_id, total, line_count = big_run
    sign_in(client, f"demo-clerk@{BOOK}")
    url = f"/b/{BOOK}/care/runs/{run_id}"
    first = client.get(url)
    assert first.status_code == 200 and len(_rows(first.text)) == 50
    pages = -(-total // 50)
    assert f"{total} of {total} exceptions: page 1 of {pages}" in first.text
    assert f'href="{url}?page={pages}#exceptions"' in first.text  # the last page: one click
    seen = set(_rows(first.text))
    for n in range(2, pages + 1):
        seen |= set(_rows(client.get(url, params={"page": n}).text))
    assert len(seen) == total
    short = client.get(url, params={"rule": "short_exception", "carer": "K1"})
    assert len(_rows(short.text)) == 1 and "too short" in short.text
    assert "07:00–07:30" in short.text and "07:02–07:10" in short.text and "phone" in short.text
    visit = re.search(rf'href="(/b/{BOOK}/care/visits/\d+)"', short.text)
    assert visit and "07:00" in client.get(visit.group(1)).text  # the visit's own page
    assert f"1 of {total} exceptions." in short.text
    nobody = client.get(url, params={"carer": "NOBODY", "sort": "carer"})
    assert _rows(nobody.text) == [] and f"0 of {total} exceptions" in nobody.text
    # The visit lines: 50 a page, every page reachable.
    assert line_count > 50 and "Lines 1 to 50 of" in first.text
    last_lines = client.get(url, params={"lines": -(-line_count // 50)})
    assert f"to {line_count} of {line_count}" in last_lines.text
    assert f'href="{url}?lines=2#lines"' in first.text


def test_a_decided_row_is_one_line_with_its_history_on_demand(big_run):
    client, run_id, _total, _lines = big_run
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    url = f"/b/{BOOK}/care/runs/{run_id}"
    page = client.get(url, params={"rule": "short_exception"})
    (row,) = _rows(page.text)
    version = re.search(rf'value="{row}:(\d+)"', page.text).group(1)
    done = client.post(
        f"/b/{BOOK}/care/outcomes/{row}/decide?rule=short_exception",
        data={
            "csrf_token": csrf,
            "decision": "accept_planned",
            "reason": "agreed by phone",
            "version": version,
        },
        follow_redirects=False,
    )
    assert (
        done.status_code == 303 and "?rule=short_exception#exceptions" in done.headers["location"]
    )
    again = client.get(url, params={"state": "decided"})
    assert _rows(again.text) == [row]
    line = re.search(rf'<tr id="row-{row}".*?</tr>', again.text, re.S).group(0)
    assert 'colspan="11"' in line and "decided accept planned, 30 min" in line
    assert f"by demo-clerk@{BOOK}" in line and "£10.00" in line
    assert '<details class="history"><summary>History (1)</summary>' in line
    assert "in force" in line


def test_a_bulk_decision_is_all_or_nothing_and_keeps_what_was_typed(big_run):
    client, run_id, total, _lines = big_run
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    url = f"/b/{BOOK}/care/runs/{run_id}"
    page = client.get(url, params={"rule": "no_record_for_place"})
    picks = re.findall(r'name="pick" value="(\d+:\d+)"', page.text)[:3]
    failed = client.post(
        f"{url}/decide?rule=no_record_for_place",
        data={"csrf_token": csrf, "pick": picks, "decision": "set_minutes", "reason": "typed"},
    )
    assert failed.status_code == 422
    assert "Minutes (the exceptions ticked)" in failed.text and "0 to 1440 minutes" in failed.text
    assert "bulk-minutes</a>" not in failed.text
    assert f'href="{url}?rule=no_record_for_place&amp;page=2#exceptions"' in failed.text
    assert 'id="bulk-reason" name="reason" value="typed"' in failed.text
    assert '<option value="set_minutes" selected>' in failed.text
    for pick in picks:
        assert re.search(rf'value="{pick}" [^>]*checked', failed.text), pick
    stale = [picks[0], picks[1].split(":")[0] + ":9"]
    refused = client.post(
        f"{url}/decide",
        data={"csrf_token": csrf, "pick": stale, "decision": "reject", "reason": "no visit"},
    )
    assert refused.status_code == 409 and 'id="stale"' in refused.text
    assert f"exception {picks[1].split(':')[0]}</a>: undecided" in refused.text
    assert client.get(url, params={"state": "decided"}).text.count('<tr id="row-') == 0
    done = client.post(
        f"{url}/decide",
        data={"csrf_token": csrf, "pick": picks, "decision": "reject", "reason": "no visit"},
        follow_redirects=True,
    )
    assert done.status_code == 200
    decided = client.get(url, params={"state": "decided"})
    assert sorted(_rows(decided.text)) == sorted(int(p.split(":")[0]) for p in picks)
    assert decided.text.count("decided reject, 0 min") == 3
    assert f"{total - 3} of {total}" in client.get(url, params={"state": "undecided"}).text


def test_the_provider_answers_in_its_portal_and_the_officer_sees_it(big_run):
    client, run_id, total, _lines = big_run
    agency = TestClient(client.app)
    token = sign_in(agency, f"demo-provider@{BOOK}")
    mine = agency.get(f"/portal/{BOOK}/visits")
    assert f'/portal/{BOOK}/visits/runs/{run_id}"' in mine.text
    page = agency.get(f"/portal/{BOOK}/visits/runs/{run_id}")
    assert page.status_code == 200 and f"{total} visit(s) need an answer" in page.text
    row = int(re.search(r'id="row-(\d+)"', page.text).group(1))
    refused = agency.post(
        f"/portal/{BOOK}/visits/outcomes/{row}/answer",
        data={"csrf_token": token, "run_id": run_id, "body": "bad\x00text", "once": new_token()},
    )
    assert refused.status_code == 422 and f"Your answer (exception {row})" in refused.text
    assert "bad" in refused.text  # what was typed is kept
    once = new_token()
    answer = {"csrf_token": token, "run_id": run_id, "body": "the client was in hospital"}
    sent, again = (
        agency.post(
            f"/portal/{BOOK}/visits/outcomes/{row}/answer",
            data=answer | {"once": once},
            files={"file": ("letter.csv", b"date,ward\n2023-02-06,7\n", "text/csv")},
            follow_redirects=True,
        )
        for _ in range(2)  # a double click: the same one-time token twice
    )
    assert sent.status_code == 200 and f"your answer to exception {row} was sent" in sent.text
    assert "You answered" in sent.text and "letter.csv" in sent.text
    assert again.status_code == 200 and "lready done" in again.text
    assert again.text.count("You answered") == sent.text.count("You answered")  # one answer
    other = TestClient(client.app)
    other_token = sign_in(other, f"demo-provider2@{BOOK}")
    assert other.get(f"/portal/{BOOK}/visits/runs/{run_id}").status_code == 404
    stolen = other.post(
        f"/portal/{BOOK}/visits/outcomes/{row}/answer",
        data={"csrf_token": other_token, "run_id": run_id, "body": "ours", "once": new_token()},
    )
    assert stolen.status_code == 404
    sign_in(client, f"demo-clerk@{BOOK}")
    officer = client.get(f"/b/{BOOK}/care/runs/{run_id}")
    line = re.search(rf'<tr id="row-{row}".*?</tr>', officer.text, re.S).group(0)
    assert "Provider: the client was in hospital" in line and "(file letter.csv, in" in line
    case = re.search(r'href="(/b/riverside/cases/\d+)">the case', line).group(1)
    assert "letter.csv" in client.get(case).text  # the officer opens it there
    assert "ours" not in officer.text


@pytest.mark.slow
def test_a_page_of_a_run_of_two_thousand_exceptions_is_read_in_sql_quickly(db, book, council):
    """Every half hour from 06:00 to 21:30 for two months, none visited: 2,000+ exceptions;
    a 50-row page (filtered, sorted, with the totals and a page of lines) in <= 200 ms p95."""
    slots = tuple(Slot(d, m, 20) for d in range(7) for m in range(360, 1320, 30))
    with db.write() as conn:
        care.create_package(
            conn,
            council["clerk"],
            book,
            NewPackage(
                "BIG",
                council["c1"],
                council["p1"],
                "HC",
                OCTOBER,
                None,
                slots,
                ((OCTOBER, "18.50", "GBP"),),
            ),
        )
        care.generate_planned(conn, council["clerk"], book, OCTOBER, NOVEMBER_END)
        (run,) = runs.reconcile_period(
            conn, council["clerk"], book, OCTOBER, NOVEMBER_END, [council["p1"]]
        )
    took = []
    for n in range(20):
        chosen = Filters(
            page=n * 2 + 1, state="undecided" if n % 2 else "", sort=("date", "carer")[n % 2]
        )
        start = time.perf_counter()
        with db.read() as conn:
            total, rows = worklist.exceptions(conn, council["clerk"], book, run.run_id, chosen)
            worklist.totals(conn, council["clerk"], book, run.run_id)
            worklist.lines(conn, council["clerk"], book, run.run_id, n + 1)
        took.append(time.perf_counter() - start)
        assert len(rows) == 50
    assert total >= 2000
    assert sorted(took)[18] <= 0.2, f"p95 {sorted(took)[18] * 1000:.0f} ms"
