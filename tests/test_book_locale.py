"""The book's locale (issue 9, point 6): dates follow a setting of the book, not its
currency's. A manager chooses it from a bounded list on the book details page; a bad one is
a message on the form and writes nothing; each change is audited; every page's
``|date_local`` follows it."""

from __future__ import annotations

import io
import re
import shutil
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from remit.access.model import Actor, Role
from remit.audit import audit_events
from remit.calendar import BOOK_LOCALES, book_locale
from remit.care import imports, runs, selfbill
from remit.care import service as care
from remit.cli import app
from remit.errors import Forbidden, ValidationFailed
from remit.ledger import service as ledger
from remit.testkit.web import sign_in
from remit.web.app import create_app
from remit.web.forms import new_token

US_DAY = re.compile(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4}\b")  # Dec 25, 2026: the month first
GB_DAY = re.compile(r"\b\d{1,2} [A-Z][a-z]{2} \d{4}\b")  # 25 Dec 2026: the day first


def _locale_events(conn) -> int:
    a = audit_events.c
    return int(conn.execute(select(func.count()).where(a.action == "book.locale")).scalar_one())


def test_a_new_book_takes_its_currencys_locale_and_a_manager_changes_it(db, book):
    manager = Actor("mona", roles={book: frozenset({Role.MANAGER})})
    with db.write() as conn:
        assert ledger.get_book(conn, book)["locale"] == "en_GB"  # a sterling book
        found = ledger.set_book_locale(conn, manager, book, " en-us ")
        assert found["locale"] == "en_US" and book_locale(found) == "en_US"
        assert found["base_currency"] == "GBP"  # amounts keep their currency
        ledger.set_book_locale(conn, manager, book, "en_US")  # the same: nothing to audit
        assert _locale_events(conn) == 1
        a = audit_events.c
        before, after = conn.execute(
            select(a.before, a.after).where(a.action == "book.locale")
        ).one()
    assert ("en_GB" in before, "en_US" in after) == (True, True)


@pytest.mark.parametrize("typed", ["fr-FR", "", "english", "en_GB; drop", "x" * 64])
def test_a_bad_locale_is_refused_by_field_and_nothing_changes(db, book, system, typed):
    with db.write() as conn:
        with pytest.raises(ValidationFailed) as refused:
            ledger.set_book_locale(conn, system, book, typed)
        assert [(p.field, p.check) for p in refused.value.problems] == [("locale", "locale")]
        assert "choose one of en-GB, en-US, es-US, es-ES" in refused.value.problems[0].message
        assert ledger.get_book(conn, book)["locale"] == "en_GB"
        assert _locale_events(conn) == 0


def test_only_a_manager_of_the_book_may_set_it(db, book):
    clerk = Actor("carla", roles={book: frozenset({Role.CLERK})})
    with db.write() as conn:
        with pytest.raises(Forbidden):
            ledger.set_book_locale(conn, clerk, book, "en-US")
        assert ledger.get_book(conn, book)["locale"] == "en_GB"


def test_the_list_is_bounded_and_a_book_without_a_setting_falls_back_to_its_currency():
    assert set(BOOK_LOCALES) == {"en_GB", "en_US", "es_US", "es_ES"}
    assert book_locale({"locale": None, "base_currency": "USD"}) == "en_US"
    assert book_locale({"locale": "de_DE", "base_currency": "GBP"}) == "en_GB"  # not listed


# ---------------------------------------------------------------- the pages


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        yield client, demo_db


def test_the_demo_books_show_en_gb_and_en_us(web):
    client, database = web
    with database.read() as conn:
        books = {b["code"]: b["locale"] for b in ledger.list_books(conn)}
    assert (books["riverside"], books["valley-app"]) == ("en_GB", "en_US")
    sign_in(client, "demo-clerk@riverside")
    page = client.get("/b/riverside/admin/book")
    assert page.status_code == 200
    assert "<strong>25 Dec 2026</strong>" in page.text
    assert 'action="/b/riverside/admin/book/locale"' not in page.text  # a clerk only reads
    assert "A manager sets the locale." in page.text
    sign_in(client, "demo-clerk@valley-app")
    page = client.get("/b/valley-app/admin/book")
    assert page.status_code == 200 and "<strong>Dec 25, 2026</strong>" in page.text


def test_a_sterling_book_set_to_en_us_shows_us_dates_on_its_care_pages(web):
    client, database = web
    sign_in(client, "demo-clerk@riverside")
    before = client.get("/b/riverside/care").text
    assert GB_DAY.search(before) and not US_DAY.search(before)
    csrf = sign_in(client, "demo-manager@riverside")
    page = client.get("/b/riverside/admin/book")
    assert 'action="/b/riverside/admin/book/locale"' in page.text
    assert 'name="once"' in page.text
    once = new_token()
    form = {"csrf_token": csrf, "locale": "en_US", "once": once}
    done = client.post("/b/riverside/admin/book/locale", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text[:300]
    shown = client.get(done.headers["location"])
    assert "dates are now written in English (United States)" in shown.text
    assert "<strong>Dec 25, 2026</strong>" in shown.text
    again = client.post("/b/riverside/admin/book/locale", data=form, follow_redirects=False)
    assert again.status_code == 303 and "already=1" in again.headers["location"]
    with database.read() as conn:
        assert _locale_events(conn) == 1  # the second submit wrote nothing
    care = client.get("/b/riverside/care")
    assert care.status_code == 200
    assert US_DAY.search(care.text) and not GB_DAY.search(care.text)
    assert "£" in care.text  # amounts keep the currency's way


@pytest.mark.parametrize("typed", ["fr_FR", "", "en-GB<script>"])
def test_a_bad_locale_on_the_form_is_a_clear_message_and_writes_nothing(web, typed):
    client, database = web
    csrf = sign_in(client, "demo-manager@riverside")
    form = {"csrf_token": csrf, "locale": typed, "once": new_token()}
    refused = client.post("/b/riverside/admin/book/locale", data=form, follow_redirects=False)
    assert refused.status_code == 422
    assert "Nothing was saved." in refused.text
    assert "choose one of en-GB, en-US, es-US, es-ES" in refused.text
    assert "<script>" not in refused.text
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, "riverside")
        assert ledger.get_book(conn, book_id)["locale"] == "en_GB"
        assert _locale_events(conn) == 0


def test_a_clerk_cannot_post_the_locale(web):
    client, database = web
    csrf = sign_in(client, "demo-clerk@riverside")
    form = {"csrf_token": csrf, "locale": "en_US", "once": new_token()}
    refused = client.post("/b/riverside/admin/book/locale", data=form, follow_redirects=False)
    assert refused.status_code == 403
    with database.read() as conn:
        assert _locale_events(conn) == 0


# ---------------------------------------------------------------- documents and the CLI

MONDAY = date(2026, 11, 2)
ACTUAL = """record_id,client_id,provider_id,carer_id,service_code,method,check_in,check_out
R1,C1,P1,K1,HC,app,2026-11-02T09:05:00,2026-11-02T09:27:40
"""


def test_the_self_bill_dates_follow_the_books_locale_and_its_amounts_the_currency(
    db, book, council
):
    clerk, manager = council["clerk"], council["manager"]
    with db.write() as conn:
        care.generate_planned(conn, clerk, book, MONDAY, MONDAY + timedelta(days=6))
        imports.import_actual(conn, clerk, book, "ecm.csv", ACTUAL.encode())
        made = runs.reconcile_period(conn, clerk, book, MONDAY, MONDAY + timedelta(days=6))
        run_id = made[0].run_id
        british = selfbill.self_bill(conn, clerk, book, run_id, today=date(2026, 11, 20))
        ledger.set_book_locale(conn, manager, book, "en-US")
        american = selfbill.self_bill(conn, clerk, book, run_id, today=date(2026, 11, 20))
    assert british.day(british.issued_on) == "20 Nov 2026"
    assert american.day(american.issued_on) == "Nov 20, 2026"
    pdf = PdfReader(io.BytesIO(selfbill.selfbill_pdf(american)))
    first = " ".join(pdf.pages[0].extract_text().split())
    assert "Issue date: Nov 20, 2026" in first
    assert "£" in first and "$" not in first  # a sterling book's amounts stay in pounds


def test_the_command_line_shows_and_sets_the_locale(demo_template, tmp_path, monkeypatch):
    template, key = demo_template
    shutil.copy(template, tmp_path / "remit.db")
    monkeypatch.setenv("REMIT_DATABASE_URL", f"sqlite:///{tmp_path / 'remit.db'}")
    monkeypatch.setenv("REMIT_SECRET_KEY", key)
    monkeypatch.delenv("REMIT_USER", raising=False)
    runner = CliRunner()
    args = ["ledger", "book-details", "-b", "riverside"]
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0 and "locale of dates: en-GB" in shown.output, shown.output
    clerk = runner.invoke(app, [*args, "--locale", "en-US", "--as", "demo-clerk@riverside"])
    assert clerk.exit_code == 2 and "accounts.manage" in clerk.output, clerk.output
    bad = runner.invoke(app, [*args, "--locale", "fr-FR", "--as", "demo-manager@riverside"])
    assert bad.exit_code == 2 and "unknown locale 'fr-FR'" in bad.output, bad.output
    assert "locale of dates: en-GB" in runner.invoke(app, args).output
    done = runner.invoke(app, [*args, "--locale", "es-ES", "--as", "demo-manager@riverside"])
    assert done.exit_code == 0 and "locale of dates: es-ES" in done.output, done.output
