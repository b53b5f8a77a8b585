"""The read-only web preview: a newcomer's first look at the demo book's trial balance."""

from __future__ import annotations

import csv
import io

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from remit import demo
from remit.access.model import Actor
from remit.db import Database
from remit.ledger import service as ledger
from remit.secrets import Vault
from remit.web.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "remit.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    demo.seed(database, Vault(Fernet.generate_key()), "small", 3)
    with TestClient(create_app(database)) as c:
        yield c, database
    database.dispose()


def test_the_overview_lists_both_demo_books(client):
    c, _ = client
    page = c.get("/")
    assert page.status_code == 200
    assert "Riverside Council (demo)" in page.text and "Valley Child Care Payments" in page.text
    assert "50 providers" in page.text and "500 clients" in page.text
    assert "2026-08" in page.text  # the closed month


def test_the_book_page_shows_the_same_balanced_trial_balance_as_the_ledger(client):
    c, database = client
    with database.read() as conn:
        book_id = ledger.book_id_for(conn, "riverside")
        tb = ledger.trial_balance(conn, Actor.system("t"), book_id)
    debit, credit = tb.totals()["GBP"]
    assert debit == credit > 0
    page = c.get("/books/riverside")
    assert page.status_code == 200
    assert f"{debit / 100:,.2f}" in page.text
    assert "Balanced" in page.text and "<svg" in page.text
    for row in tb.rows:
        assert row.account_name in page.text


def test_the_trial_balance_as_of_a_date_and_as_csv(client):
    c, database = client
    page = c.get("/books/riverside/trial-balance.csv", params={"as_of": "2026-08-31"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert sum(int(r["debit"].replace(".", "")) for r in rows) == sum(
        int(r["credit"].replace(".", "")) for r in rows)
    with database.read() as conn:
        tb = ledger.trial_balance(conn, Actor.system("t"),
                                  ledger.book_id_for(conn, "riverside"), None)
    assert len(rows) <= len(tb.rows)
    assert 'filename="trial-balance-riverside-2026-08-31.csv"' in page.headers[
        "content-disposition"]


def test_a_bad_date_or_unknown_book_gets_a_clear_message(client):
    c, _ = client
    page = c.get("/books/riverside", params={"as_of": "31/08/2026"})
    assert page.status_code == 422 and "YYYY-MM-DD" in page.text
    page = c.get("/books/nowhere")
    assert page.status_code == 404 and "no book with code" in page.text
    assert c.get("/books/riverside/trial-balance.csv?as_of=x").status_code == 422
