"""The real server (uvicorn in a child process): what only a running server shows.

- a request that waits for SQLite's write lock waits in a thread, not on the event loop, so
  every other request of the process goes on;
- a read never waits for the write lock for bookkeeping: a session's idle timer and a
  token's last use are recorded when the lock is free at once, else skipped until later;
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
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from remit.db import BUSY_TIMEOUT_MS, Database
from remit.testkit.server import Server, serve
from remit.testkit.web import CSRF, api_token, sign_in

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


def _ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_stale(path: Path, username: str, minutes: int = 5) -> str:
    """The user's sessions were last seen ``minutes`` ago: their next request wants a touch.
    Returns the time set."""
    then = _ago(minutes)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "UPDATE web_sessions SET last_seen_at = ? WHERE user_id = "
            "(SELECT id FROM users WHERE username = ?)",
            (then, username),
        )
    return then


def last_seen(path: Path, username: str) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        return [
            seen
            for (seen,) in conn.execute(
                "SELECT last_seen_at FROM web_sessions WHERE user_id = "
                "(SELECT id FROM users WHERE username = ?)",
                (username,),
            )
        ]


def timed_get(made: httpx.Client, url: str) -> httpx.Response:
    """GET ``url``, asserting that it answered within ``ANSWER_WITHIN_S``."""
    started = time.monotonic()
    answer = made.get(url, timeout=ANSWER_WITHIN_S * 40, follow_redirects=False)
    took = time.monotonic() - started
    assert took < ANSWER_WITHIN_S, f"{url} took {took:.2f} s"
    return answer


def test_a_request_waiting_for_the_write_lock_blocks_no_other(demo_template, tmp_path):
    with running(demo_template, tmp_path) as (server, path):
        admin, clerk, provider = client(server), client(server, CLERK), client(server, PROVIDER)
        csrf = sign_in(admin, ADMIN)
        waiting: list[int] = []
        with write_lock(path):
            writer = threading.Thread(  # signing out writes: it waits for the lock
                target=lambda: waiting.append(
                    admin.post("/logout", data={"csrf_token": csrf}).status_code
                )
            )
            writer.start()
            time.sleep(0.5)  # the admin's request now waits for the lock (30 s busy timeout)
            assert writer.is_alive() and waiting == []
            for who, path_read in ((clerk, "/b/riverside/queue"), (provider, "/portal/riverside")):
                assert timed_get(who, path_read).status_code == 200, path_read
            assert writer.is_alive()  # still waiting: the pages were served beside it
        writer.join(timeout=30)
        assert waiting == [303]  # and it went on once the lock was free (signed out)


def test_a_session_due_a_touch_reads_without_waiting_for_the_write_lock(demo_template, tmp_path):
    with running(demo_template, tmp_path) as (server, path):
        admin, provider, clerk = (client(server, who) for who in (ADMIN, PROVIDER, CLERK))
        then = {who: make_stale(path, who) for who in (ADMIN, PROVIDER)}
        make_stale(path, CLERK, minutes=61)  # idle for over an hour: signed out
        with write_lock(path):
            for who, name, url in (
                (admin, ADMIN, "/b/riverside/queue"),
                (provider, PROVIDER, "/portal/riverside"),
            ):
                assert timed_get(who, url).status_code == 200, url
                assert last_seen(path, name) == [then[name]]  # the touch was skipped
            gone = timed_get(clerk, "/b/riverside/queue")  # the idle timeout still holds
            assert gone.status_code in (302, 303, 307) and "/login" in gone.headers["location"]
        for who, name, url in (
            (admin, ADMIN, "/b/riverside/queue"),
            (provider, PROVIDER, "/portal/riverside"),
        ):
            assert timed_get(who, url).status_code == 200
            (seen,) = last_seen(path, name)
            assert seen > _ago(1), f"{name}'s session was not touched once the lock was free"


def token_last_used(path: Path, token: str) -> str | None:
    prefix = token.split("_")[1]
    with closing(sqlite3.connect(path)) as conn:
        (used,) = conn.execute(
            "SELECT last_used_at FROM api_tokens WHERE prefix = ?", (prefix,)
        ).fetchone()
    return used  # type: ignore[no-any-return]


def test_an_api_token_due_a_last_use_reads_without_waiting_for_the_write_lock(
    demo_template, tmp_path
):
    with running(demo_template, tmp_path) as (server, path):
        database = Database(f"sqlite:///{path}")
        try:
            token = api_token(database, ["ledger:read"])
        finally:
            database.dispose()
        then = _ago(5)
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("UPDATE api_tokens SET last_used_at = ?", (then,))
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        url = "/api/v1/books/riverside/accounts"
        with write_lock(path):
            assert timed_get(api, url).status_code == 200
            assert token_last_used(path, token) == then  # skipped: the lock was held
        assert timed_get(api, url).status_code == 200
        used = token_last_used(path, token)
        assert used is not None and used > _ago(1)


TOUCH_THE_ROW = text("UPDATE alembic_version SET version_num = version_num")


def test_a_no_wait_write_gives_up_at_once_while_another_holds_the_lock(db):
    """The kernel's ``write_if_free``, on both stores: False at once under a held lock
    (SQLite's write lock, PostgreSQL's row lock), True once it is free; other errors raise."""
    with db.write() as holder:
        holder.execute(TOUCH_THE_ROW)
        started = time.monotonic()
        assert db.write_if_free(lambda conn: conn.execute(TOUCH_THE_ROW)) is False
        assert time.monotonic() - started < ANSWER_WITHIN_S
    assert db.write_if_free(lambda conn: conn.execute(TOUCH_THE_ROW)) is True
    with pytest.raises(DBAPIError):
        db.write_if_free(lambda conn: conn.execute(text("UPDATE no_such_table SET x = 1")))
    if db.engine.dialect.name == "sqlite":  # the pooled connection waits as long as before
        with db.read() as conn:
            waits = conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
        assert waits == BUSY_TIMEOUT_MS


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


def test_the_served_app_sends_the_security_headers_on_pages_errors_and_files(
    demo_template, tmp_path
):
    with running(demo_template, tmp_path) as (server, _path):
        made = client(server)
        page, missing = made.get("/login"), made.get("/no-such-page")
        static = made.get("/static/remit.css")
    for answer in (page, missing):
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
    assert missing.status_code == 404 and page.status_code == 200
    assert static.status_code == 200 and static.headers["x-frame-options"] == "DENY"
    assert static.headers.get("cache-control") != "no-store"  # files may be cached
