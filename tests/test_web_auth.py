"""Signing in and out of the web app, for real: cookies, lockout, throttling, CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from remit.access.sessions import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    IP_FAILURE_LIMIT,
    LOCK_AFTER_FAILURES,
    login,
    resume,
    touch,
)
from remit.access.store import login_attempts, web_sessions
from remit.audit import audit_events
from remit.testkit.web import CSRF, sign_in
from remit.web.app import SECURITY_HEADERS, create_app

CLERK = "demo-clerk@riverside"


@pytest.fixture
def app(demo_db):
    return create_app(demo_db)


def attempt(client: TestClient, username: str, password: str, next_path: str = "/"):
    form = client.get("/login")
    token = CSRF.search(form.text).group(1)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )


def test_signing_in_sets_a_safe_cookie_and_lands_on_the_queue(app):
    client = TestClient(app)
    answer = attempt(client, CLERK, "remit-demo-only")
    assert answer.status_code == 303 and answer.headers["location"] == "/b/riverside/queue"
    cookie = answer.headers["set-cookie"]
    assert "remit_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = client.get("/b/riverside/queue")
    assert page.status_code == 200 and "My queue" in page.text
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value


def test_a_portal_user_lands_on_its_portal(app):
    client = TestClient(app)
    answer = attempt(client, "demo-provider@riverside", "remit-demo-only")
    assert answer.headers["location"] == "/portal/riverside"
    assert client.get("/b/riverside/queue").status_code == 403


def test_wrong_password_and_unknown_user_get_the_same_answer(app):
    client = TestClient(app)
    wrong = attempt(client, CLERK, "not the password")
    nobody = attempt(client, "nobody@riverside", "not the password")
    assert wrong.status_code == nobody.status_code == 401
    message = re.compile(r'role="alert"[^>]*>([^<]+)<')
    assert message.search(wrong.text).group(1) == message.search(nobody.text).group(1)


def test_five_failures_pause_sign_in_until_an_admin_unlocks(app, demo_db):
    client = TestClient(app)
    for _ in range(LOCK_AFTER_FAILURES):
        assert attempt(client, CLERK, "guess").status_code == 401
    locked = attempt(client, CLERK, "remit-demo-only")
    assert locked.status_code == 429 and "paused" in locked.text
    admin = TestClient(app)
    csrf = sign_in(admin, "demo-admin@riverside")
    users = admin.get("/b/riverside/admin/users")
    assert "locked until" in users.text
    user_id = re.search(r"/admin/users/(\d+)/unlock", users.text).group(1)
    done = admin.post(
        f"/b/riverside/admin/users/{user_id}/unlock",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert attempt(client, CLERK, "remit-demo-only").status_code == 303


def test_an_unknown_name_is_paused_too_so_lockout_reveals_nothing(app):
    client = TestClient(app)
    for _ in range(LOCK_AFTER_FAILURES):
        attempt(client, "ghost@riverside", "guess")
    assert attempt(client, "ghost@riverside", "guess").status_code == 429


def test_an_address_with_many_failures_is_throttled(app):
    client = TestClient(app)
    for n in range(IP_FAILURE_LIMIT):
        attempt(client, f"spray{n}@riverside", "guess")
    answer = attempt(client, CLERK, "remit-demo-only")
    assert answer.status_code == 429 and "your address" in answer.text


def test_the_sign_in_form_needs_its_own_token(app):
    client = TestClient(app)
    client.get("/login")
    forged = client.post(
        "/login",
        data={"username": CLERK, "password": "remit-demo-only", "csrf_token": "made-up"},
        follow_redirects=False,
    )
    assert forged.status_code == 400 and "remit_session" not in forged.headers.get("set-cookie", "")


def test_only_local_paths_are_followed_after_sign_in(app):
    client = TestClient(app)
    assert (
        attempt(client, CLERK, "remit-demo-only", "//evil.example/x").headers["location"]
        == "/b/riverside/queue"
    )
    other = TestClient(app)
    assert (
        attempt(other, CLERK, "remit-demo-only", "/b/riverside/cases?overdue=1").headers["location"]
        == "/b/riverside/cases?overdue=1"
    )


def test_signing_out_ends_the_session_on_the_server(app):
    client = TestClient(app)
    csrf = sign_in(client, CLERK)
    cookie = client.cookies.get("remit_session")
    assert (
        client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    )
    replay = TestClient(app, cookies={"remit_session": cookie})
    answer = replay.get("/b/riverside/queue", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_an_idle_session_expires(app, demo_db):
    client = TestClient(app)
    sign_in(client, CLERK)
    with demo_db.write() as conn:
        conn.execute(update(web_sessions).values(last_seen_at="2000-01-01T00:00:00.000000Z"))
    answer = client.get("/b/riverside/queue", follow_redirects=False)
    assert answer.status_code == 303


def test_changing_the_password_ends_other_sessions(app):
    first, second = TestClient(app), TestClient(app)
    csrf = sign_in(first, CLERK)
    sign_in(second, CLERK)
    bad = first.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": "wrong",
            "new_password": "short",
            "repeat_password": "different",
        },
    )
    assert bad.status_code == 422
    for message in ("not your current password", "at least 12 characters", "differ"):
        assert message in bad.text  # every field's error at once
    good = first.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": "remit-demo-only",
            "new_password": "a brand new passphrase",
            "repeat_password": "a brand new passphrase",
        },
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert first.get("/b/riverside/queue").status_code == 200
    assert second.get("/b/riverside/queue", follow_redirects=False).status_code == 303
    assert attempt(TestClient(app), CLERK, "a brand new passphrase").status_code == 303


def change(client: TestClient, csrf: str, current: str, new: str = "a brand new passphrase"):
    return client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": current,
            "new_password": new,
            "repeat_password": new,
        },
        follow_redirects=False,
    )


def test_wrong_current_passwords_lock_like_failed_sign_ins(app, demo_db):
    """A borrowed session cannot guess the password: the same lockout, throttle and audit."""
    client = TestClient(app)
    csrf = sign_in(client, CLERK)
    for _ in range(LOCK_AFTER_FAILURES):
        assert change(client, csrf, "guess").status_code == 422
    paused = change(client, csrf, "remit-demo-only")
    assert paused.status_code == 429 and "paused" in paused.text
    assert "The password was not changed" in paused.text and "Please correct" not in paused.text
    with demo_db.read() as conn:
        actions = list(
            conn.execute(
                select(audit_events.c.action).where(
                    audit_events.c.action.in_(["user.password_change_failed", "user.locked"])
                )
            ).scalars()
        )
        failures = conn.execute(
            select(login_attempts.c.username).where(login_attempts.c.success.is_(False))
        ).scalars()
        assert list(failures) == [CLERK] * LOCK_AFTER_FAILURES
    assert actions == ["user.password_change_failed"] * LOCK_AFTER_FAILURES + ["user.locked"]
    assert attempt(TestClient(app), CLERK, "remit-demo-only").status_code == 429  # sign-in too


def test_an_address_that_failed_too_often_may_not_change_a_password(app):
    client = TestClient(app)
    csrf = sign_in(client, CLERK)
    sprayer = TestClient(app)  # the same address as the clerk's
    for n in range(IP_FAILURE_LIMIT):
        attempt(sprayer, f"spray{n}@riverside", "guess")
    refused = change(client, csrf, "remit-demo-only")
    assert refused.status_code == 429 and "your address" in refused.text


def test_a_session_ends_ten_hours_after_sign_in_however_busy(demo_db):
    """The absolute timeout: a session in use all along (never idle) still ends
    ABSOLUTE_TIMEOUT after its sign-in; touching it does not push that back."""
    assert timedelta(hours=10) == ABSOLUTE_TIMEOUT and IDLE_TIMEOUT < ABSOLUTE_TIMEOUT
    start = datetime.now(UTC)
    with demo_db.write() as conn:
        session = login(conn, CLERK, "remit-demo-only", "203.0.113.1", now=start)
    at, step = start, IDLE_TIMEOUT - timedelta(minutes=10)
    while at + step < start + ABSOLUTE_TIMEOUT:
        at += step
        with demo_db.write() as conn:
            found = resume(conn, session.token, now=at)
            assert found is not None and found.stale
            touch(conn, found, now=at)
    end = start + ABSOLUTE_TIMEOUT
    with demo_db.read() as conn:
        assert resume(conn, session.token, now=end - timedelta(seconds=1)) is not None
        assert resume(conn, session.token, now=end) is None
