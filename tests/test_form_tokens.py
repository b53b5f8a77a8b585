"""One-time form tokens: every form that creates something carries a token; a second submit
of the same token (a double click, a reload) creates nothing and shows what the first did;
a form without its token is refused in words and saves nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from remit.care.store import care_adjustments, care_runs
from remit.cases.store import case_events, cases, correspondence
from remit.documents.store import documents
from remit.ledger import service as ledger
from remit.parties.store import bank_changes
from remit.testkit.web import sign_in
from remit.web import forms
from remit.web.app import create_app
from remit.web.store import form_submissions

BOOK = "riverside"
TOKEN = re.compile(r'<input type="hidden" name="once" value="([^"]+)">')


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        csrf = sign_in(client, f"demo-clerk@{BOOK}")
        yield client, demo_db, csrf, samples(demo_db)


def samples(database) -> dict[str, int]:
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, BOOK)
        r = care_runs.c
        run_id = conn.execute(
            select(r.id).where(r.book_id == book_id, r.status != "posted").order_by(r.id)
        ).scalar()
        case_id = conn.execute(
            select(cases.c.id).where(cases.c.book_id == book_id).order_by(cases.c.id)
        ).scalar()
    return {"run": int(run_id), "case": int(case_id), "party": 1}


def count(database, table) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# (name, page with the form, the form's action, its fields, its file, the table it adds to)
FORMS: list[tuple[str, str, str, dict[str, str], Any, Any]] = [
    (
        "care adjustment",
        "/b/{b}/care/runs/{run}",
        "/b/{b}/care/runs/{run}/adjustments",
        {"amount_minor": "250", "amount": "2.50", "reason": "mileage agreed by phone"},
        None,
        care_adjustments,
    ),
    (
        "new case",
        "/b/{b}/cases/new",
        "/b/{b}/cases",
        {"case_type": "helpdesk", "title": "Remittance missing", "priority": "2"},
        None,
        cases,
    ),
    (
        "case comment",
        "/b/{b}/cases/{case}",
        "/b/{b}/cases/{case}/comment",
        {"body": "Called the agency back."},
        None,
        case_events,
    ),
    (
        "case attachment",
        "/b/{b}/cases/{case}",
        "/b/{b}/cases/{case}/attach",
        {},
        {"file": ("rota.txt", b"rota for the week\n", "text/plain")},
        documents,
    ),
    (
        "bank change request",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/bank-change",
        {
            "scheme": "uk_sort_code",
            "sort_code": "200000",
            "account_number": "55779911",
            "reason": "the provider's letter of 3 November",
        },
        None,
        bank_changes,
    ),
    (
        "party document",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/documents",
        {"title": "Contract"},
        {"file": ("contract.txt", b"terms of the contract\n", "text/plain")},
        documents,
    ),
    (
        "logged call",
        "/b/{b}/parties/{party}",
        "/b/{b}/parties/{party}/calls",
        {"direction": "in", "call_subject": "Asked about the remittance"},
        None,
        correspondence,
    ),
]


def url(template: str, ids: dict[str, int]) -> str:
    return template.format(b=BOOK, **ids)


@pytest.mark.parametrize(
    ("name", "page", "action", "fields", "files", "table"), FORMS, ids=[f[0] for f in FORMS]
)
def test_a_second_submit_of_a_form_creates_nothing_and_shows_the_first(
    web, name, page, action, fields, files, table
):
    client, database, csrf, ids = web
    form_page = client.get(url(page, ids))
    assert form_page.status_code == 200
    action_url = url(action, ids)
    form_html = form_page.text[form_page.text.index(f'action="{action_url}"') :]
    token = TOKEN.search(form_html[: form_html.index("</form>")])
    assert token, f"the {name} form carries no one-time token"
    before = count(database, table)
    data = {"csrf_token": csrf, **fields, forms.FIELD: token.group(1)}
    first = client.post(action_url, data=data, files=files, follow_redirects=False)
    assert first.status_code == 303, first.text[:2000]
    assert count(database, table) == before + 1
    second = client.post(action_url, data=data, files=files, follow_redirects=False)
    assert second.status_code == 303
    assert second.headers["location"].startswith(first.headers["location"].split("#")[0])
    assert "already=1" in second.headers["location"]
    assert count(database, table) == before + 1  # one object, however often it is sent
    shown = client.get(second.headers["location"])
    assert "Already done." in shown.text


@pytest.mark.parametrize(
    ("name", "page", "action", "fields", "files", "table"), FORMS, ids=[f[0] for f in FORMS]
)
def test_a_form_without_its_token_is_refused_in_words_and_saves_nothing(
    web, name, page, action, fields, files, table
):
    client, database, csrf, ids = web
    before = (count(database, table), count(database, form_submissions))
    answer = client.post(
        url(action, ids), data={"csrf_token": csrf, **fields}, files=files, follow_redirects=False
    )
    assert answer.status_code == 422
    assert "one-time token: reload the page and send it again" in answer.text
    assert (count(database, table), count(database, form_submissions)) == before


def test_another_users_token_is_refused(web, demo_db):
    client, database, csrf, ids = web
    data = {"csrf_token": csrf, "body": "mine", forms.FIELD: forms.new_token()}
    assert (
        client.post(url("/b/{b}/cases/{case}/comment", ids), data=data, follow_redirects=False)
    ).status_code == 303
    with TestClient(create_app(database)) as other:
        other_csrf = sign_in(other, f"demo-clerk2@{BOOK}")
        answer = other.post(
            url("/b/{b}/cases/{case}/comment", ids),
            data={**data, "csrf_token": other_csrf, "body": "theirs"},
            follow_redirects=False,
        )
    assert answer.status_code == 422 and "belongs to another form" in answer.text
