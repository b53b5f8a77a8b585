"""Signing in and out: sessions, throttling and lockout, password changes.

- A session is a random token in an HttpOnly cookie; the store keeps only its SHA-256, with
  the session's CSRF token, an idle timeout and an absolute one.
- Sign-in is refused for a while after ``LOCK_AFTER_FAILURES`` failures in a row for the
  same name (whether or not such a user exists, so that the answer reveals nothing), and
  for an address that failed ``IP_FAILURE_LIMIT`` times within ``WINDOW``.
- Changing a password ends every other session of the user. A wrong current password
  counts as a failed sign-in (the same lockout, address throttle and audit), so that a
  borrowed session cannot be used to guess the password.

Every sign-in, failure, lockout, sign-out and password change is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, and_, delete, func, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.access.service import _actor_of, password_problems, users_in_book
from remit.access.store import login_attempts, users, web_sessions
from remit.errors import NotFound, Problem, RemitError, ValidationFailed

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
IP_FAILURE_LIMIT = 20
WINDOW = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(hours=1)
ABSOLUTE_TIMEOUT = timedelta(hours=10)
# The idle timer is refreshed at most once a TOUCH_EVERY, and only when the write lock is
# free at once (``Database.write_if_free``): a touch that finds the lock held is skipped and
# the next request tries again. ``last_seen_at`` is therefore never later than the user's
# last request, only earlier (by under a minute, or longer while touches are skipped), so a
# skipped touch can never stretch IDLE_TIMEOUT: at worst a session is signed out early, and
# only after every request for about IDLE_TIMEOUT - TOUCH_EVERY found the lock held.
TOUCH_EVERY = timedelta(minutes=1)
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("remit: a password nobody has")


class LoginRefused(RemitError):
    """Sign-in refused: wrong name or password, a locked name, or a throttled address."""

    def __init__(self, message: str, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # only ever in the cookie; the store has its hash
    csrf_token: str
    actor: Actor
    expires_at: str
    stale: bool = False  # the idle timer wants a refresh (see ``touch``)


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def login(
    conn: Connection,
    username: str,
    password: str,
    ip: str,
    user_agent: str = "",
    now: datetime | None = None,
) -> Session:
    """Check the password and open a session, or raise ``LoginRefused``.

    The failure is recorded in ``conn`` before the raise: catch it *inside* the transaction,
    so that it commits and counts towards the lockout.
    """
    moment = _now(now)
    username = username.strip().lower()
    _check_address(conn, ip, moment)
    row = conn.execute(select(users).where(users.c.username == username)).first()
    locked = _locked(conn, row, username, moment)
    ok = False
    if row is not None and row.active and not locked:
        ok = _password_ok(str(row.password_hash), password)
    else:
        _verify_dummy(password)  # the same time whether or not the user exists
    _record_attempt(conn, username, ip, moment, ok)
    system = Actor.system("sign-in")
    if locked:
        raise LoginRefused(_PAUSED, throttled=True)
    if not ok or row is None:
        _failed(conn, system, row, username, moment)
        raise LoginRefused("wrong user name or password")
    conn.execute(
        update(users).where(users.c.id == row.id).values(failed_logins=0, locked_until=None)
    )
    actor = _actor_of(conn, row)
    session = _open(conn, actor, ip, user_agent, moment)
    audit.record(conn, actor, "user.login", "user", row.id, None, {"ip": ip})
    return session


_PAUSED = (
    f"sign-in for this name is paused after {LOCK_AFTER_FAILURES} failed attempts; try "
    f"again in {LOCK_MINUTES} minutes or ask an administrator to unlock it"
)


def _check_address(conn: Connection, ip: str, moment: datetime) -> None:
    """Refuse an address that failed ``IP_FAILURE_LIMIT`` times within ``WINDOW``."""
    la = login_attempts.c
    ip_failures = conn.execute(
        select(func.count())
        .select_from(login_attempts)
        .where(and_(la.ip == ip, la.success.is_(False), la.at >= _text(moment - WINDOW)))
    ).scalar_one()
    if ip_failures >= IP_FAILURE_LIMIT:
        raise LoginRefused(
            f"too many failed sign-ins from your address; try again in {LOCK_MINUTES} minutes",
            throttled=True,
        )


def _record_attempt(conn: Connection, username: str, ip: str, moment: datetime, ok: bool) -> None:
    conn.execute(
        insert(login_attempts).values(
            username=username[:100], ip=ip[:64], at=_text(moment), success=ok
        )
    )


def _password_ok(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_dummy(password: str) -> None:
    _password_ok(_DUMMY_HASH, password)


def _locked(conn: Connection, row: object, username: str, moment: datetime) -> bool:
    if row is not None:
        until = getattr(row, "locked_until", None)
        return until is not None and until > _text(moment)
    # No such user: behave as if it existed, from the attempts on record.
    la = login_attempts.c
    recent = (
        conn.execute(
            select(la.success)
            .where(
                and_(
                    la.username == username,
                    la.at >= _text(moment - timedelta(minutes=LOCK_MINUTES)),
                )
            )
            .order_by(la.id.desc())
            .limit(LOCK_AFTER_FAILURES)
        )
        .scalars()
        .all()
    )
    return len(recent) == LOCK_AFTER_FAILURES and not any(recent)


def _failed(
    conn: Connection,
    system: Actor,
    row: object,
    username: str,
    moment: datetime,
    action: str = "user.login_failed",
) -> None:
    if row is None:
        audit.record(
            conn,
            system,
            "user.login_failed",
            "user",
            username,
            None,
            {"reason": "no such active user"},
        )
        return
    user_id = int(row.id)  # type: ignore[attr-defined]
    failures = int(row.failed_logins or 0) + 1  # type: ignore[attr-defined]
    values: dict[str, object] = {"failed_logins": failures}
    if failures >= LOCK_AFTER_FAILURES:
        values["locked_until"] = _text(moment + timedelta(minutes=LOCK_MINUTES))
    conn.execute(update(users).where(users.c.id == user_id).values(**values))
    audit.record(conn, system, action, "user", user_id, None, {"failures": failures})
    if "locked_until" in values:
        audit.record(
            conn,
            system,
            "user.locked",
            "user",
            user_id,
            None,
            {"locked_until": values["locked_until"]},
        )


def _open(conn: Connection, actor: Actor, ip: str, user_agent: str, moment: datetime) -> Session:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = _text(moment + ABSOLUTE_TIMEOUT)
    conn.execute(
        insert(web_sessions).values(
            token_hash=_hash(token),
            user_id=actor.user_id,
            csrf_token=csrf,
            created_at=_text(moment),
            last_seen_at=_text(moment),
            expires_at=expires,
            ip=ip[:64],
            user_agent=user_agent[:200],
        )
    )
    return Session(token, csrf, actor, expires)


def resume(conn: Connection, token: str, now: datetime | None = None) -> Session | None:
    """The live session of a cookie's token, or None (unknown, expired, idle, user gone).

    Reads only, and checks both timeouts on every call: call ``touch`` when
    ``session.stale`` says the idle timer needs refreshing (at most once a minute), through
    ``Database.write_if_free`` so that a read never waits for the write lock to do it.
    """
    if not token:
        return None
    moment = _now(now)
    ws = web_sessions.c
    row = conn.execute(select(web_sessions).where(ws.token_hash == _hash(token))).first()
    if row is None:
        return None
    if row.expires_at <= _text(moment) or row.last_seen_at <= _text(moment - IDLE_TIMEOUT):
        return None
    user = conn.execute(select(users).where(users.c.id == row.user_id)).first()
    if user is None or not user.active:
        return None
    return Session(
        token,
        str(row.csrf_token),
        _actor_of(conn, user),
        str(row.expires_at),
        stale=row.last_seen_at <= _text(moment - TOUCH_EVERY),
    )


def touch(conn: Connection, session: Session, now: datetime | None = None) -> None:
    """Refresh the idle timer, and sweep sessions that have expired or gone idle."""
    moment = _now(now)
    ws = web_sessions.c
    conn.execute(
        update(web_sessions)
        .where(ws.token_hash == _hash(session.token))
        .values(last_seen_at=_text(moment))
    )
    conn.execute(
        delete(web_sessions).where(
            (ws.expires_at <= _text(moment)) | (ws.last_seen_at <= _text(moment - IDLE_TIMEOUT))
        )
    )


def logout(conn: Connection, session: Session) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == _hash(session.token)))
    audit.record(conn, session.actor, "user.logout", "user", session.actor.user_id, None, {})


def change_password(
    conn: Connection,
    session: Session,
    current: str,
    new: str,
    repeat: str,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> Session:
    """Set a new password; every other session of the user ends. Returns a fresh session.

    A wrong current password is a failed sign-in: recorded in ``conn`` before the raise
    (catch ``ValidationFailed`` *inside* the transaction, as for ``login``), it counts
    towards the name's lockout and the address's throttle; while either holds, the change is
    refused with ``LoginRefused``.
    """
    moment = _now(now)
    row = conn.execute(select(users).where(users.c.id == session.actor.user_id)).first()
    if row is None:
        raise ValidationFailed([Problem("current_password", "no such user", "user")])
    _check_address(conn, ip, moment)
    if _locked(conn, row, str(row.username), moment):
        raise LoginRefused(_PAUSED, throttled=True)
    problems: list[Problem] = []
    current_ok = _password_ok(str(row.password_hash), current)
    if not current_ok:
        problems.append(
            Problem("current_password", "this is not your current password", "password_wrong")
        )
    problems.extend(Problem("new_password", p.message, p.check) for p in password_problems(new))
    if new != repeat:
        problems.append(
            Problem("repeat_password", "the two new passwords differ", "password_repeat")
        )
    if new and new == current:
        problems.append(
            Problem("new_password", "choose a password you have not just used", "password_reused")
        )
    if not current_ok:
        _record_attempt(conn, str(row.username), ip, moment, ok=False)
        _failed(
            conn,
            Actor.system("sign-in"),
            row,
            str(row.username),
            moment,
            "user.password_change_failed",
        )
    if problems:
        raise ValidationFailed(problems)
    conn.execute(
        update(users)
        .where(users.c.id == row.id)
        .values(
            password_hash=_hasher.hash(new),
            password_changed_at=_text(moment),
            failed_logins=0,
        )
    )
    conn.execute(delete(web_sessions).where(web_sessions.c.user_id == row.id))
    audit.record(
        conn,
        session.actor,
        "user.password_change",
        "user",
        row.id,
        None,
        {"other_sessions_ended": True, "ip": ip},
    )
    return _open(conn, session.actor, ip, user_agent, moment)


def unlock(conn: Connection, actor: Actor, book_id: int, user_id: int) -> None:
    """An administrator lifts a sign-in lockout."""
    require(actor, book_id, Permission.USERS_MANAGE)
    if not any(u["id"] == user_id for u in users_in_book(conn, book_id)):
        raise NotFound(f"no user {user_id} in this book")
    conn.execute(
        update(users).where(users.c.id == user_id).values(failed_logins=0, locked_until=None)
    )
    audit.record(conn, actor, "user.unlock", "user", user_id, None, {}, book_id)
