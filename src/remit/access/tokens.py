"""API tokens: hashed, scoped, per book, acting for the user who made them.

A token reads ``rmt_<prefix>_<secret>``. The prefix finds the row and is safe to show; the
whole token's SHA-256 is stored (the secret has 256 bits, so a fast hash is enough; Argon2
is for passwords people choose). The token's actor has its user's roles in the token's book
only, narrowed to the permissions of its scopes.

>>> sorted(p.value for p in scope_permissions(["cases:read"]))
['case.read', 'document.read']
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from remit import audit
from remit.access.model import Actor, Permission, require
from remit.access.service import actor_by_id
from remit.access.store import api_tokens
from remit.db import insert_id
from remit.errors import NotFound, Problem, ValidationFailed
from remit.text import text_problem

P = Permission
SCOPES: Mapping[str, frozenset[Permission]] = MappingProxyType(
    {
        "parties:read": frozenset({P.PARTY_READ}),
        "parties:write": frozenset({P.PARTY_READ, P.PARTY_EDIT}),
        "ledger:read": frozenset({P.LEDGER_READ}),
        "ledger:post": frozenset({P.LEDGER_READ, P.LEDGER_POST}),
        "cases:read": frozenset({P.CASE_READ, P.DOCUMENT_READ}),
        "cases:write": frozenset({P.CASE_READ, P.CASE_WORK, P.CASE_ASSIGN}),
        "care:read": frozenset({P.CARE_READ}),
        "care:write": frozenset({P.CARE_READ, P.CARE_IMPORT}),
        "payments:read": frozenset({P.PAYMENT_READ}),
        "payments:write": frozenset({P.PAYMENT_READ, P.PAYMENT_PREPARE}),
        "payments:approve": frozenset({P.PAYMENT_READ, P.PAYMENT_APPROVE, P.PAYMENT_RELEASE}),
    }
)
TOKEN_PREFIX = "rmt"  # noqa: S105 - the marker of remit tokens, not a secret
TOKEN_NAME_MAX = 100  # the column's length


@dataclass(frozen=True, slots=True)
class IssuedToken:
    id: int
    prefix: str
    token: str  # shown once, never stored


def scope_permissions(scopes: Iterable[str]) -> frozenset[Permission]:
    out: set[Permission] = set()
    for scope in scopes:
        out |= SCOPES[scope]
    return frozenset(out)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return audit.utc_now_text()


def issue_token(
    conn: Connection,
    actor: Actor,
    book_id: int,
    name: str,
    scopes: Iterable[str],
    expires_in_days: int | None = 90,
    user_id: int | None = None,
) -> IssuedToken:
    """Make a token in this book, acting for ``user_id`` (a staff user of the book, e.g. an
    integration's own user) or for the admin who makes it; the text is returned once."""
    require(actor, book_id, Permission.API_TOKENS_MANAGE)
    owner = actor.user_id if user_id is None else user_id
    scopes = sorted(set(scopes))
    problems = []
    if not name.strip():
        problems.append(Problem("name", f"1 to {TOKEN_NAME_MAX} characters", "required"))
    found = text_problem(name.strip(), "name", max_chars=TOKEN_NAME_MAX)
    problems += [found] if found is not None else []
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        problems.append(
            Problem(
                "scopes",
                f"choose scopes among {', '.join(SCOPES)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else ""),
                "scopes",
            )
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= 366:
        problems.append(Problem("expires_in_days", "1 to 366 days", "range"))
    owner_actor = actor_by_id(conn, owner) if owner is not None else None
    if owner_actor is None:
        problems.append(Problem("user", "a token acts for a named, active user", "required"))
    elif not owner_actor.is_staff_in(book_id):
        problems.append(
            Problem(
                "user",
                f"{owner_actor.username} has no staff role in this "
                "book (portal users have no API tokens)",
                "staff_only",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    prefix = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    expires = None
    if expires_in_days is not None:
        moment = datetime.now(UTC) + timedelta(days=expires_in_days)
        expires = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    token_id = insert_id(
        conn,
        insert(api_tokens).values(
            book_id=book_id,
            user_id=owner,
            name=name.strip(),
            prefix=prefix,
            token_hash=_hash(token),
            scopes=" ".join(scopes),
            created_by=actor.username,
            created_at=_now(),
            expires_at=expires,
        ),
    )
    audit.record(
        conn,
        actor,
        "api_token.issue",
        "api_token",
        token_id,
        None,
        {"prefix": prefix, "name": name, "scopes": scopes, "expires_at": expires, "user_id": owner},
        book_id,
    )
    return IssuedToken(token_id, prefix, token)


def list_tokens(conn: Connection, actor: Actor, book_id: int) -> list[dict[str, Any]]:
    require(actor, book_id, Permission.API_TOKENS_MANAGE)
    t = api_tokens.c
    rows = conn.execute(
        select(
            t.id,
            t.name,
            t.prefix,
            t.scopes,
            t.created_by,
            t.created_at,
            t.expires_at,
            t.revoked_at,
            t.last_used_at,
        )
        .where(t.book_id == book_id)
        .order_by(t.id.desc())
    )
    return [dict(r) for r in rows.mappings()]


def revoke_token(conn: Connection, actor: Actor, book_id: int, token_id: int) -> None:
    require(actor, book_id, Permission.API_TOKENS_MANAGE)
    t = api_tokens.c
    row = conn.execute(
        select(t.prefix, t.revoked_at).where(and_(t.id == token_id, t.book_id == book_id))
    ).first()
    if row is None:
        raise NotFound(f"no API token {token_id} in this book")
    if row.revoked_at is None:
        conn.execute(update(api_tokens).where(t.id == token_id).values(revoked_at=_now()))
        audit.record(
            conn,
            actor,
            "api_token.revoke",
            "api_token",
            token_id,
            None,
            {"prefix": row.prefix},
            book_id,
        )


@dataclass(frozen=True, slots=True)
class TokenActor:
    actor: Actor
    book_id: int
    prefix: str
    stale: bool = False  # its last use was recorded in another minute: see ``touch_token``


def token_actor(conn: Connection, token: str) -> TokenActor | None:
    """The actor of a live token (not revoked or expired, user active), or None.

    Reads only (an API call must not wait for the store's write lock): call ``touch_token``
    through ``Database.write_if_free`` when ``stale`` says the last use wants recording (a
    use that finds the lock held is recorded by a later one)."""
    parts = token.split("_", 2)  # the secret itself may hold "_"
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    t = api_tokens.c
    row = conn.execute(select(api_tokens).where(t.prefix == parts[1])).first()
    if row is None or not hmac.compare_digest(str(row.token_hash), _hash(token)):
        return None
    now = _now()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    user = actor_by_id(conn, int(row.user_id))
    if user is None or not user.is_staff_in(int(row.book_id)):
        return None
    book_id = int(row.book_id)
    stale = row.last_used_at is None or row.last_used_at[:16] != now[:16]  # once a minute
    narrowed = replace(
        user,
        roles={book_id: user.roles_in(book_id)},
        parties={},
        scopes=scope_permissions(str(row.scopes).split()),
        username=f"{user.username} (token {row.prefix})",
    )
    return TokenActor(narrowed, book_id, str(row.prefix), stale)


def touch_token(conn: Connection, prefix: str) -> None:
    """Record a token's use now (the admin page shows when each was last used)."""
    conn.execute(
        update(api_tokens).where(api_tokens.c.prefix == prefix).values(last_used_at=_now())
    )
