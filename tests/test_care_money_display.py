"""Money and dates for people on the care pages (issue 9, point 6): amounts with the
book's currency symbol, dates in the book's locale, adjustments typed in major units."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from remit.care.store import care_adjustments, care_runs
from remit.ledger import service as ledger
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token
from remit.web.templating import amount_text, date_local

BOOK = "riverside"
ISO_PERIOD = re.compile(r"\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}")
LOCAL_PERIOD = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4} to \d{1,2} [A-Z][a-z]{2} \d{4}")
RAW_AMOUNT = re.compile(r'<td class="num">-?\d{3,}</td>\s*<td><a href="[^"]*selfbill')


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        yield client, demo_db


def _open_run(database) -> int:
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        return int(
            conn.execute(
                select(func.min(care_runs.c.id)).where(
                    care_runs.c.book_id == book_id, care_runs.c.status != "posted"
                )
            ).scalar_one()
        )


def _adjustments(database, run_id: int) -> list[int]:
    with database.read() as conn:
        return [
            int(a)
            for a in conn.execute(
                select(care_adjustments.c.amount_minor).where(care_adjustments.c.run_id == run_id)
            ).scalars()
        ]


def test_the_filters_write_the_books_currency_and_locale():
    assert (amount_text(536622, "GBP"), amount_text(536622, "USD")) == ("£5,366.22", "$5,366.22")
    assert date_local("2026-11-02", "GBP") == "2 Nov 2026"
    assert date_local("2026-11-02", "USD") == "Nov 2, 2026"


def test_the_care_home_page_shows_amounts_and_periods_for_people(web):
    client, _ = web
    sign_in(client, f"demo-clerk@{BOOK}")
    page = client.get(f"/b/{BOOK}/care")
    assert page.status_code == 200
    assert re.search(r'<td class="num">-?£[\d,]+\.\d\d</td></tr>', page.text)
    assert LOCAL_PERIOD.search(page.text) and not ISO_PERIOD.search(page.text)
    assert f'href="/b/{BOOK}/care/absences"' in page.text  # the hospital stays, one click
    assert client.get(f"/b/{BOOK}/care/absences").status_code == 200
    assert f'href="/b/{BOOK}/care/policy"' not in page.text  # a manager's page
    sign_in(client, f"demo-manager@{BOOK}")
    assert f'href="/b/{BOOK}/care/policy"' in client.get(f"/b/{BOOK}/care").text


def test_the_run_page_dates_its_period_and_lines_for_people(web):
    client, database = web
    sign_in(client, f"demo-clerk@{BOOK}")
    page = client.get(f"/b/{BOOK}/care/runs/{_open_run(database)}")
    assert page.status_code == 200
    assert LOCAL_PERIOD.search(page.text) and not ISO_PERIOD.search(page.text)
    assert not re.search(r"<td>\d{4}-\d{2}-\d{2}</td>", page.text)  # no ISO day on a line
    assert not re.search(r"\d\.\d\d GBP", page.text)  # £5.00, not 5.00 GBP


def test_the_portal_visits_page_shows_amounts_and_periods_for_people(web):
    client, _ = web
    sign_in(client, f"demo-provider@{BOOK}")
    page = client.get(f"/portal/{BOOK}/visits")
    assert page.status_code == 200
    assert re.search(r'<td class="num">-?£[\d,]+\.\d\d</td>', page.text)
    assert not RAW_AMOUNT.search(page.text)
    assert LOCAL_PERIOD.search(page.text) and not ISO_PERIOD.search(page.text)


def test_an_adjustment_is_typed_in_pounds_and_pence(web):
    client, database = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    run_id = _open_run(database)
    before = _adjustments(database, run_id)
    for typed in ("1250p", "0", "12.345", ""):
        refused = client.post(
            f"/b/{BOOK}/care/runs/{run_id}/adjustments",
            data={"csrf_token": csrf, "amount": typed, "reason": "mileage"},
        )
        assert refused.status_code == 422, typed
        assert "a sum like 12.50" in refused.text
        assert f'value="{typed}"' in refused.text  # what was typed is kept
    assert _adjustments(database, run_id) == before
    for typed in ("12.50", "-3", "£1,200"):
        done = client.post(
            f"/b/{BOOK}/care/runs/{run_id}/adjustments",
            data={"csrf_token": csrf, "amount": typed, "reason": "mileage", "once": new_token()},
            follow_redirects=False,
        )
        assert done.status_code == 303, (typed, done.text[:300])
    assert _adjustments(database, run_id) == [*before, 1250, -300, 120000]


def test_the_reports_page_has_hours_amounts_and_a_totals_row(web):
    client, database = web
    sign_in(client, f"demo-clerk@{BOOK}")
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        first, last = conn.execute(
            select(func.min(care_runs.c.period_start), func.max(care_runs.c.period_end)).where(
                care_runs.c.book_id == book_id
            )
        ).one()
    page = client.get(f"/b/{BOOK}/care/reports?from={first}&to={last}")
    assert page.status_code == 200
    assert "Hours commissioned" in page.text and "Amount paid" in page.text
    assert "carer-minutes" not in page.text and "minor units" not in page.text
    assert re.search(r"<strong>Total</strong>", page.text)
    assert re.search(r"<strong>\d+h \d\dm</strong>", page.text)
    assert re.search(r"<strong>£[\d,]+\.\d\d</strong>", page.text)
