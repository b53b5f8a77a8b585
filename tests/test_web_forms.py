"""Bad input on the pages: every field error at once and in place, refused uploads, nothing
half-saved, and numbers too big for the store answered as invalid, never as a crash."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from remit.access.store import users
from remit.cases.store import cases as case_table
from remit.documents.rules import MAX_UPLOAD_BYTES
from remit.documents.store import documents
from remit.ledger import service as ledger
from remit.parties import service as parties
from remit.parties.store import bank_changes
from remit.testkit.web import api_token, sign_in
from remit.web.app import create_app

BOOK = "riverside"
FIELD_ERROR = re.compile(r'<small class="field-error" id="([a-z_]+)-error">')


@pytest.fixture
def web(demo_db):
    with TestClient(create_app(demo_db)) as client:
        yield client, demo_db


def count(database, table) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def fields_in_error(page: str) -> set[str]:
    return set(FIELD_ERROR.findall(page))


def test_a_new_case_form_shows_every_error_at_once_and_opens_nothing(web):
    client, database = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    before = count(database, case_table)
    answer = client.post(
        f"/b/{BOOK}/cases",
        data={
            "csrf_token": csrf,
            "case_type": "nonsense",
            "title": " ",
            "priority": "9",
            "party_id": "abc",
        },
    )
    assert answer.status_code == 422
    assert fields_in_error(answer.text) == {"case_type", "title", "priority", "party_id"}
    assert "Nothing was saved" in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="abc"' in answer.text  # what was typed stays in the form
    assert count(database, case_table) == before


def test_an_add_user_form_shows_every_error_at_once(web):
    client, database = web
    csrf = sign_in(client, f"demo-admin@{BOOK}")
    before = count(database, users)
    answer = client.post(
        f"/b/{BOOK}/admin/users",
        data={"csrf_token": csrf, "username": "No Spaces!", "role": "", "password": "short"},
    )
    assert answer.status_code == 422
    assert fields_in_error(answer.text) == {"username", "role", "password"}
    portal = client.post(
        f"/b/{BOOK}/admin/users",
        data={
            "csrf_token": csrf,
            "username": "new-portal",
            "role": "provider",
            "party_ref": "",
            "password": "a long enough password",
        },
    )
    assert portal.status_code == 422 and fields_in_error(portal.text) == {"party_ref"}
    unknown = client.post(
        f"/b/{BOOK}/admin/users",
        data={
            "csrf_token": csrf,
            "username": "new-portal",
            "role": "provider",
            "party_ref": "NOPE-1",
            "password": "a long enough password",
        },
    )
    assert unknown.status_code == 422 and "NOPE-1" in unknown.text
    taken = client.post(
        f"/b/{BOOK}/admin/users",
        data={
            "csrf_token": csrf,
            "username": f"demo-clerk@{BOOK}",
            "role": "clerk",
            "password": "a long enough password",
        },
    )
    assert taken.status_code == 409 and "already exists" in taken.text
    assert count(database, users) == before


def test_a_bank_change_names_each_failed_check_and_holds_nothing(web):
    client, database = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    before = count(database, bank_changes)
    answer = client.post(
        f"/b/{BOOK}/parties/1/bank-change",
        data={
            "csrf_token": csrf,
            "scheme": "uk_sort_code",
            "sort_code": "12-34",
            "account_number": "12",
            "reason": "",
        },
    )
    assert answer.status_code == 422
    assert {"sort_code", "account_number", "reason"} <= fields_in_error(answer.text)
    assert count(database, bank_changes) == before


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("payload.exe", b"MZ\x90\x00\x03" + bytes(200), "type"),
        ("notes.txt", b"x" * (MAX_UPLOAD_BYTES + 1), "MB"),
        ("empty.pdf", b"", "empty"),
    ],
)
def test_an_upload_of_the_wrong_type_or_size_is_refused_with_the_reason(web, name, content, reason):
    client, database = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    before = count(database, documents)
    answer = client.post(
        f"/b/{BOOK}/cases/1/attach",
        data={"csrf_token": csrf},
        files={"file": (name, content, "application/octet-stream")},
    )
    assert answer.status_code == 422
    assert "Nothing was saved" in answer.text and reason in answer.text
    assert count(database, documents) == before


def test_numbers_too_big_for_the_store_are_invalid_input_not_a_crash(web):
    client, database = web
    csrf = sign_in(client, f"demo-manager@{BOOK}")
    huge = str(2**70)
    assert client.get(f"/b/{BOOK}/cases/{huge}").status_code == 404  # no such page, no crash
    assigned = client.post(
        f"/b/{BOOK}/cases/assign", data={"csrf_token": csrf, "case_id": [huge], "owner": "-"}
    )
    assert assigned.status_code == 422 and "out of the range" in assigned.text
    token = api_token(database, ["cases:read"], "forms", user=None)
    api = client.get(
        f"/api/v1/books/{BOOK}/cases/{huge}", headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 422 and "case_id" in api.text


def test_an_incomplete_mail_setting_is_explained_not_a_server_error(web, monkeypatch):
    client, _ = web
    csrf = sign_in(client, f"demo-clerk@{BOOK}")
    monkeypatch.setenv("REMIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.delenv("REMIT_SMTP_FROM", raising=False)
    answer = client.post(
        f"/b/{BOOK}/parties/1/letters",
        data={
            "csrf_token": csrf,
            "template": "general",
            "channel": "email",
            "locale": "en",
            "subject": "Hello",
            "body": "A note",
        },
    )
    assert answer.status_code == 400 and "REMIT_SMTP_FROM" in answer.text


@pytest.mark.parametrize("role", ["provider", "client"])
def test_a_next_page_is_offered_only_when_there_is_one(web, role):
    client, database = web
    sign_in(client, f"demo-clerk@{BOOK}")
    with database.read() as conn:
        total = count_role(conn, role)
    seen, url = 0, f"/b/{BOOK}/parties?role={role}"
    while url:
        page = client.get(url)
        rows = page.text.count('<tr><td><a href="/b/riverside/parties/')
        assert rows > 0, "a next page was offered but held nothing"
        seen += rows
        found = re.search(r'href="(\?role=[^"]*after=[^"]+)">Next page', page.text)
        url = f"/b/{BOOK}/parties" + found.group(1).replace("&amp;", "&") if found else ""
    assert seen == total  # every party once, and no empty last page


def count_role(conn, role: str) -> int:
    book_id = ledger.book_id_for(conn, BOOK)
    return len(parties.party_ids_with_role(conn, book_id, role))
