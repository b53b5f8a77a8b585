"""The JSON API: tokens, idempotent POSTs, problem details, cursors, the money schema."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from remit.access import tokens
from remit.access.store import api_tokens
from remit.access.tokens import token_actor
from remit.ledger.store import journal_entries
from remit.testkit.web import api_token
from remit.web.app import create_app

BOOK = "riverside"
ENTRY = {
    "entry_date": "2026-11-20",
    "description": "Care for November, provider P00001",
    "postings": [
        {"account": "5000", "amount_minor": 123456, "currency": "GBP"},
        {"account": "2000", "amount_minor": -123456, "currency": "GBP", "party_id": 1},
    ],
}


@pytest.fixture
def api(demo_db):
    full = api_token(demo_db, list(tokens.SCOPES), "integration")
    read_only = api_token(demo_db, ["ledger:read"], "reports", user=None)
    client = TestClient(create_app(demo_db))
    return client, {"Authorization": f"Bearer {full}"}, {"Authorization": f"Bearer {read_only}"}


def entries(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()


def test_a_replayed_post_returns_the_first_answer_and_posts_once(api, demo_db):
    client, auth, _ = api
    before = entries(demo_db)
    headers = {**auth, "Idempotency-Key": "nov-care-P00001"}
    first = client.post(f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers=headers)
    again = client.post(f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert entries(demo_db) == before + 1
    body = first.json()
    assert body["postings"][0]["amount"] == {
        "amount_minor": 123456,
        "currency": "GBP",
        "amount": "1234.56",
    }


def test_the_same_key_for_another_request_is_refused(api, demo_db):
    client, auth, _ = api
    headers = {**auth, "Idempotency-Key": "k-1"}
    assert (
        client.post(f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers=headers).status_code == 201
    )
    changed = {**ENTRY, "description": "something else"}
    answer = client.post(f"/api/v1/books/{BOOK}/entries", json=changed, headers=headers)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"


def test_a_post_without_a_key_is_a_bad_request_and_writes_nothing(api, demo_db):
    client, auth, _ = api
    before = entries(demo_db)
    answer = client.post(f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers=auth)
    assert answer.status_code == 400 and "Idempotency-Key" in answer.json()["detail"]
    assert entries(demo_db) == before


def test_a_key_longer_than_200_characters_is_refused_and_writes_nothing(api, demo_db):
    client, auth, _ = api
    before = entries(demo_db)
    headers = {**auth, "Idempotency-Key": "k" * 201}
    answer = client.post(f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
    assert entries(demo_db) == before


def test_an_unbalanced_entry_is_a_problem_with_every_error_and_nothing_stored(api, demo_db):
    client, auth, _ = api
    before = entries(demo_db)
    bad = {
        **ENTRY,
        "postings": [
            {"account": "5000", "amount_minor": 100, "currency": "GBP"},
            {"account": "9999", "amount_minor": -99, "currency": "GBP"},
        ],
    }
    answer = client.post(
        f"/api/v1/books/{BOOK}/entries", json=bad, headers={**auth, "Idempotency-Key": "bad-1"}
    )
    problem = answer.json()
    assert answer.status_code == 422 and problem["status"] == 422
    assert problem["type"].startswith("https://") and problem["title"]
    checks = {e["check"] for e in problem["errors"]}
    assert {"unbalanced", "unknown_account"} <= checks
    assert entries(demo_db) == before
    # The failure is not remembered: the same key with a correct body still works.
    fixed = client.post(
        f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers={**auth, "Idempotency-Key": "bad-1"}
    )
    assert fixed.status_code == 201


def test_money_must_be_whole_minor_units(api):
    client, auth, _ = api
    fractional = {**ENTRY, "postings": [{**p, "amount_minor": 12.5} for p in ENTRY["postings"]]}
    answer = client.post(
        f"/api/v1/books/{BOOK}/entries",
        json=fractional,
        headers={**auth, "Idempotency-Key": "frac"},
    )
    assert answer.status_code == 422
    assert any("amount_minor" in e["field"] for e in answer.json()["errors"])


def test_scopes_narrow_a_token(api):
    client, _, read_only = api
    assert client.get(f"/api/v1/books/{BOOK}/accounts", headers=read_only).status_code == 200
    answer = client.post(
        f"/api/v1/books/{BOOK}/entries", json=ENTRY, headers={**read_only, "Idempotency-Key": "ro"}
    )
    assert answer.status_code == 403 and "scopes" in answer.json()["detail"]
    assert client.get(f"/api/v1/books/{BOOK}/cases", headers=read_only).status_code == 403


def test_no_token_or_a_wrong_one_is_unauthorized(api):
    client, _, _ = api
    for headers in (
        {},
        {"Authorization": "Bearer rmt_deadbeef_nope"},
        {"Authorization": "Basic abc"},
    ):
        answer = client.get(f"/api/v1/books/{BOOK}/parties", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"


def test_cursor_pages_walk_every_party_once(api):
    client, auth, _ = api
    seen, cursor = [], None
    while True:
        params = {"role": "provider", "limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/api/v1/books/{BOOK}/parties", params=params, headers=auth).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 50
    bad = client.get(f"/api/v1/books/{BOOK}/parties", params={"cursor": "!!"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_cases_through_the_api(api):
    client, auth, _ = api
    made = client.post(
        f"/api/v1/books/{BOOK}/cases",
        headers={**auth, "Idempotency-Key": "c1"},
        json={"case_type": "helpdesk", "title": "From the API", "party_id": 1},
    )
    assert made.status_code == 201
    case = made.json()
    moved = client.post(
        f"/api/v1/books/{BOOK}/cases/{case['id']}/transitions",
        headers={**auth, "Idempotency-Key": "c1-start"},
        json={"action": "start", "expected_version": case["version"]},
    )
    assert moved.status_code == 200 and moved.json()["state"] == "in_progress"
    stale = client.post(
        f"/api/v1/books/{BOOK}/cases/{case['id']}/transitions",
        headers={**auth, "Idempotency-Key": "c1-wait"},
        json={"action": "wait", "expected_version": case["version"]},
    )
    assert stale.status_code == 409
    listed = client.get(f"/api/v1/books/{BOOK}/cases", params={"limit": 200}, headers=auth).json()
    assert case["id"] in [c["id"] for c in listed["items"]]


def test_the_openapi_schema_states_money_exactly(api):
    client, _, _ = api
    schema = client.get("/api/v1/openapi.json").json()
    money = schema["components"]["schemas"]["MoneyOut"]["properties"]
    assert money["amount_minor"]["type"] == "integer"
    assert money["amount_minor"]["format"] == "int64"
    assert money["currency"]["pattern"] == "^[A-Z]{3}$"
    posting = schema["components"]["schemas"]["PostingIn"]["properties"]["amount_minor"]
    assert posting["type"] == "integer" and posting["maximum"] == 10**15
    assert "application/problem+json" in str(schema["paths"])


def test_the_api_reference_page_lists_every_operation_without_a_cdn(api):
    client = api[0]
    page = client.get("/api/docs")
    assert page.status_code == 200
    schema = client.get("/api/v1/openapi.json").json()
    for path, item in schema["paths"].items():
        for method in item:
            assert f"<code>{method.upper()} {path}</code>" in page.text
    assert "cdn." not in page.text and "<script>" not in page.text  # the CSP allows neither
    assert 'id="schema-MoneyOut"' in page.text


def test_a_token_use_is_recorded_once_a_minute_without_the_write_lock_on_reads(api, demo_db):
    client, full, _ = api
    assert client.get(f"/api/v1/books/{BOOK}/parties", headers=full).status_code == 200
    prefix = full["Authorization"].split("_")[1]
    with demo_db.read() as conn:
        used = conn.execute(
            select(api_tokens.c.last_used_at).where(api_tokens.c.prefix == prefix)
        ).scalar_one()
    assert used is not None
    with demo_db.read() as conn:  # a read of a fresh token asks for no write
        again = token_actor(conn, full["Authorization"].split(" ")[1])
    assert again is not None and not again.stale
