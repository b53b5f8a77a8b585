"""Helpers for tests and benchmarks of the web app: a seeded demo book, signing in."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from remit import demo
from remit.db import Database
from remit.secrets import Vault

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def seed_demo(path: Path, scale: str = "small", seed: int = 7) -> str:
    """A migrated SQLite book at ``path`` with the demo organisation; returns its key."""
    key = Fernet.generate_key().decode()
    database = Database(f"sqlite:///{path}")
    database.migrate()
    demo.seed(database, Vault(key.encode()), scale, seed)
    database.dispose()
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, so copies are whole
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return key


def sign_in(client: Any, username: str, password: str = demo.DEMO_PASSWORD) -> str:
    """Sign a test client in; returns the session's CSRF token."""
    page = client.get("/login")
    found = CSRF.search(page.text)
    assert found, "no sign-in form"
    done = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": found.group(1),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, f"sign-in of {username} failed: {done.status_code}"
    account = client.get("/account")
    token = CSRF.search(account.text)
    assert token, "no CSRF token on the account page"
    return token.group(1)


def api_token(
    database: Database,
    scopes: list[str],
    name: str = "test",
    book: str = "riverside",
    user: str | None = "demo-clerk",
) -> str:
    """A bearer token of the demo book, issued by its admin for ``user`` (a staff user of
    the book, or None for the admin itself) with ``scopes``."""
    from remit.access import tokens  # noqa: PLC0415 - only API tests need it
    from remit.access.service import actor_for  # noqa: PLC0415
    from remit.ledger.service import book_id_for  # noqa: PLC0415

    with database.write() as conn:
        book_id = book_id_for(conn, book)
        admin = actor_for(conn, f"demo-admin@{book}")
        owner = actor_for(conn, f"{user}@{book}").user_id if user else None
        return tokens.issue_token(conn, admin, book_id, name, scopes, user_id=owner).token
