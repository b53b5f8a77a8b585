"""The real server (uvicorn in a child process): what only a running server shows.

- a request that waits for SQLite's write lock waits in a thread, not on the event loop, so
  every other request of the process goes on;
- the client's address comes from ``X-Forwarded-For`` only when the peer is a proxy named
  in ``REMIT_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

from remit.testkit.server import Server, serve
from remit.testkit.web import CSRF, sign_in

ADMIN, CLERK, PROVIDER = (f"demo-{who}@riverside" for who in ("admin", "clerk", "provider"))
ANSWER_WITHIN_S = 1.0


@contextmanager
def running(demo_template: tuple[Path, str], tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    template, key = demo_template
    copy = tmp_path / "remit.db"
    shutil.copy(template, copy)
    with serve(f"sqlite:///{copy}", key, tmp_path / "server.log") as server:
        yield server, copy


def client(server: Server, username: str | None = None) -> httpx.Client:
    made = httpx.Client(base_url=server.url, timeout=60)
    if username is not None:
        sign_in(made, username)
    return made


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Another process's long write transaction: SQLite's one write lock, held."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")


def make_stale(path: Path, username: str) -> None:
    """The user's sessions were last seen minutes ago: their next request writes (touch)."""
    then = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "UPDATE web_sessions SET last_seen_at = ? WHERE user_id = "
            "(SELECT id FROM users WHERE username = ?)",
            (then, username),
        )


def test_a_request_waiting_for_the_write_lock_blocks_no_other(demo_template, tmp_path):
    with running(demo_template, tmp_path) as (server, path):
        admin, clerk, provider = (client(server, who) for who in (ADMIN, CLERK, PROVIDER))
        make_stale(path, ADMIN)
        waiting: list[int] = []
        with write_lock(path):
            writer = threading.Thread(
                target=lambda: waiting.append(admin.get("/b/riverside/queue").status_code)
            )
            writer.start()
            time.sleep(0.5)  # the admin's request now waits for the lock (30 s busy timeout)
            assert writer.is_alive() and waiting == []
            for who, path_read in ((clerk, "/b/riverside/queue"), (provider, "/portal/riverside")):
                started = time.monotonic()
                page = who.get(path_read, timeout=ANSWER_WITHIN_S * 5)
                took = time.monotonic() - started
                assert page.status_code == 200, path_read
                assert took < ANSWER_WITHIN_S, f"{path_read} took {took:.2f} s"
            assert writer.is_alive()  # still waiting: the pages were served beside it
        writer.join(timeout=30)
        assert waiting == [200]  # and it went on once the lock was free


def failed_sign_in(made: httpx.Client, forwarded_for: str) -> None:
    form = made.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    answer = made.post(
        "/login",
        data={"username": CLERK, "password": "wrong", "csrf_token": token.group(1)},
        headers={"X-Forwarded-For": forwarded_for},
    )
    assert answer.status_code == 401


def attempt_addresses(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [ip for (ip,) in conn.execute("SELECT ip FROM login_attempts ORDER BY id")]


@pytest.mark.parametrize(
    ("trusted", "recorded"), [(None, "127.0.0.1"), ("10.9.8.7, 127.0.0.0/8", "203.0.113.7")]
)
def test_the_client_address_is_forwarded_only_by_trusted_proxies(
    demo_template, tmp_path, monkeypatch, trusted, recorded
):
    """Throttling and the audit trail see the peer, unless it is a named proxy."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    if trusted is None:
        monkeypatch.delenv("REMIT_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("REMIT_TRUSTED_PROXIES", trusted)
    with running(demo_template, tmp_path) as (server, path):
        before = len(attempt_addresses(path))
        failed_sign_in(client(server), "203.0.113.7")
        assert attempt_addresses(path)[before:] == [recorded]
