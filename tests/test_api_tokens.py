"""API tokens over their life: made from the CLI for scripts, revoked, expired, and left
behind by a user who lost their staff role. A token that is no longer good gets 401, as a
problem, and reads nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import and_, delete, func, select, update
from typer.testing import CliRunner

from remit.access import tokens
from remit.access.model import STAFF_ROLES
from remit.access.service import actor_for
from remit.access.store import api_tokens, user_roles, users
from remit.audit import audit_events
from remit.cli import app as cli
from remit.ledger.service import book_id_for
from remit.testkit.web import api_token
from remit.timestamps import parse_utc_text, utc_text
from remit.web.app import create_app

BOOK = "riverside"
CLERK = "demo-clerk@riverside"
PARTIES = f"/api/v1/books/{BOOK}/parties"
runner = CliRunner()


@pytest.fixture
def client(demo_db):
    return TestClient(create_app(demo_db))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(answer, status: int = 401) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "items" not in answer.json()


def token_id(db, token: str) -> int:
    prefix = token.split("_")[1]
    with db.read() as conn:
        return int(
            conn.execute(select(api_tokens.c.id).where(api_tokens.c.prefix == prefix)).scalar_one()
        )


# ---------------------------------------------------------------- life of a token


def test_a_revoked_token_is_refused(client, demo_db):
    token = api_token(demo_db, ["parties:read"], "to revoke")
    assert client.get(PARTIES, headers=bearer(token)).status_code == 200
    with demo_db.write() as conn:
        admin = actor_for(conn, f"demo-admin@{BOOK}")
        tokens.revoke_token(conn, admin, book_id_for(conn, BOOK), token_id(demo_db, token))
    assert_refused(client.get(PARTIES, headers=bearer(token)))


def test_a_token_is_refused_from_the_moment_it_expires(client, demo_db, monkeypatch):
    with demo_db.write() as conn:
        admin = actor_for(conn, f"demo-admin@{BOOK}")
        issued = tokens.issue_token(
            conn, admin, book_id_for(conn, BOOK), "one day", ["parties:read"], expires_in_days=1
        )
    with demo_db.read() as conn:
        expires = conn.execute(
            select(api_tokens.c.expires_at).where(api_tokens.c.id == issued.id)
        ).scalar_one()
    moment = parse_utc_text(expires)

    monkeypatch.setattr(tokens, "_now", lambda: utc_text(moment - timedelta(seconds=1)))
    assert client.get(PARTIES, headers=bearer(issued.token)).status_code == 200
    monkeypatch.setattr(tokens, "_now", lambda: utc_text(moment))
    assert_refused(client.get(PARTIES, headers=bearer(issued.token)))


def test_a_token_expired_in_the_store_is_refused(client, demo_db):
    token = api_token(demo_db, ["parties:read"], "old")
    with demo_db.write() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == token_id(demo_db, token))
            .values(expires_at="2020-01-01T00:00:00.000000Z")
        )
    assert_refused(client.get(PARTIES, headers=bearer(token)))


def test_a_token_whose_user_lost_the_staff_role_is_refused(client, demo_db):
    token = api_token(demo_db, ["parties:read"], "clerk's script", user="demo-clerk")
    assert client.get(PARTIES, headers=bearer(token)).status_code == 200
    with demo_db.write() as conn:
        clerk = actor_for(conn, CLERK)
        book_id = book_id_for(conn, BOOK)
        conn.execute(
            delete(user_roles).where(
                and_(
                    user_roles.c.user_id == clerk.user_id,
                    user_roles.c.book_id == book_id,
                    user_roles.c.role.in_([r.value for r in STAFF_ROLES]),
                )
            )
        )
    assert_refused(client.get(PARTIES, headers=bearer(token)))


def test_a_token_whose_user_was_deactivated_is_refused(client, demo_db):
    token = api_token(demo_db, ["parties:read"], "clerk's script", user="demo-clerk")
    with demo_db.write() as conn:
        conn.execute(update(users).where(users.c.username == CLERK).values(active=False))
    assert_refused(client.get(PARTIES, headers=bearer(token)))


# ---------------------------------------------------------------- remit token create


@pytest.fixture
def store_env(demo_db, monkeypatch):
    monkeypatch.setenv("REMIT_DATABASE_URL", demo_db.url)
    monkeypatch.delenv("REMIT_USER", raising=False)
    return demo_db


def token_count(db) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(api_tokens)).scalar_one())


def test_the_cli_makes_a_token_a_script_can_use_and_prints_it_once(store_env, client):
    before = token_count(store_env)
    args = ["token", "create", "--book", BOOK, "--user", CLERK, "--scope", "parties:read"]
    done = runner.invoke(cli, [*args, "--scope", "ledger:read", "--expires-days", "7"])
    assert done.exit_code == 0, done.output
    token = done.stdout.strip()
    assert token.startswith("rmt_") and "\n" not in token  # stdout is the token alone
    assert token_count(store_env) == before + 1
    assert client.get(PARTIES, headers=bearer(token)).status_code == 200
    # Its scopes hold: reading parties and the ledger, not posting.
    assert (
        client.post(
            f"/api/v1/books/{BOOK}/entries",
            json={"entry_date": "2026-11-20", "description": "x", "postings": []},
            headers={**bearer(token), "Idempotency-Key": "cli-1"},
        ).status_code
        == 403
    )
    with store_env.read() as conn:
        row = conn.execute(
            select(api_tokens).where(api_tokens.c.id == token_id(store_env, token))
        ).one()
        event = conn.execute(
            select(audit_events.c.actor)
            .where(audit_events.c.action == "api_token.issue")
            .order_by(audit_events.c.id.desc())
        ).first()
    assert row.scopes == "ledger:read parties:read" and row.name == f"cli-{CLERK}"
    assert row.created_by == "cli" and event is not None and event.actor == "cli"
    issued, expires = parse_utc_text(row.created_at), parse_utc_text(row.expires_at)
    assert timedelta(days=7) - timedelta(minutes=1) < expires - issued <= timedelta(days=7)
    assert token not in str(dict(row._mapping))  # only its hash is stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", CLERK, "--scope", "ledger:everything"], "ledger:everything"),
        (["--user", "nobody@riverside", "--scope", "ledger:read"], "nobody@riverside"),
        (["--user", "demo-provider@riverside", "--scope", "ledger:read"], "no staff role"),
        (["--user", CLERK, "--scope", "ledger:read", "--expires-days", "0"], "expires-days"),
    ],
    ids=["unknown scope", "unknown user", "portal user", "bad expiry"],
)
def test_the_cli_refuses_bad_input_with_a_message_and_writes_nothing(store_env, args, message):
    before = token_count(store_env)
    done = runner.invoke(cli, ["token", "create", "--book", BOOK, *args])
    assert done.exit_code == 2, done.output
    assert message in done.output and "rmt_" not in done.output
    assert token_count(store_env) == before


def test_the_cli_refuses_an_unknown_book(store_env):
    done = runner.invoke(
        cli, ["token", "create", "--book", "atlantis", "--user", CLERK, "--scope", "ledger:read"]
    )
    assert done.exit_code == 2 and "atlantis" in done.output


def test_the_readme_lists_every_scope_with_what_it_grants():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+:[a-z_]+)` \| ([^|]+) \|", readme, flags=re.MULTILINE)
    listed = {scope: set(re.findall(r"`([a-z_.]+)`", grants)) for scope, grants in rows}
    assert listed == {scope: {p.value for p in perms} for scope, perms in tokens.SCOPES.items()}
    assert "remit token create" in readme
