"""Adding users, granting roles, and turning a user into an ``Actor``.

Passwords are hashed with Argon2id (argon2-cffi); the hash is all that is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select

from remit import audit
from remit.access.model import Actor, Permission, Role, require
from remit.access.store import user_roles, users
from remit.db import insert_id
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.parties.service import party_has_role
from remit.text import NAME_MAX, text_problem

MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")
EMAIL_MAX = 254  # the column's length
_hasher = PasswordHasher()


def password_problems(password: str) -> list[Problem]:
    """What is wrong with a new password (length is what matters most)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(
            Problem("password", f"at least {MIN_PASSWORD_LENGTH} characters", "password_length")
        )
    if password.strip() != password:
        problems.append(Problem("password", "no leading or trailing spaces", "password_spaces"))
    return problems


def add_user(
    conn: Connection,
    actor: Actor,
    username: str,
    password: str,
    display_name: str = "",
    email: str = "",
    grants: Iterable[tuple[int, Role]] = (),
    party_id: int | None = None,
) -> int:
    """Create a user with roles in books; needs the system or an admin of each book."""
    grants = list(grants)
    for book_id, _role in grants:
        require(actor, book_id, Permission.USERS_MANAGE)
    if not grants and not actor.is_system:
        raise ValidationFailed([Problem("role", "give the user a role in a book", "required")])
    problems = password_problems(password)
    if not USERNAME.fullmatch(username):  # match() would let a trailing line break through
        problems.append(
            Problem("username", "2 to 100 lower-case letters, digits, . _ @ -", "username_format")
        )
    problems += [
        p
        for p in (
            text_problem(display_name, "display_name", max_chars=NAME_MAX),
            text_problem(email, "email", max_chars=EMAIL_MAX),
        )
        if p is not None
    ]
    if problems:
        raise ValidationFailed(problems)
    if conn.execute(select(users.c.id).where(users.c.username == username)).first():
        raise Conflict(f"user {username!r} already exists")
    user_id = insert_id(
        conn,
        insert(users).values(
            username=username,
            display_name=display_name or username,
            email=email,
            password_hash=_hasher.hash(password),
            active=True,
            created_at=audit.utc_now_text(),
        ),
    )
    audit.record(
        conn,
        actor,
        "user.add",
        "user",
        user_id,
        None,
        {"username": username, "display_name": display_name or username},
    )
    for book_id, role in grants:
        grant(
            conn,
            actor,
            user_id,
            book_id,
            role,
            party_id if role in (Role.PROVIDER, Role.CLIENT) else None,
        )
    return user_id


def grant(
    conn: Connection,
    actor: Actor,
    user_id: int,
    book_id: int,
    role: Role,
    party_id: int | None = None,
) -> None:
    require(actor, book_id, Permission.USERS_MANAGE)
    if role in (Role.PROVIDER, Role.CLIENT) and party_id is None:
        raise ValidationFailed(
            [Problem("party", f"a {role.value} user is bound to a party", "required")]
        )
    if role in (Role.PROVIDER, Role.CLIENT):
        assert party_id is not None
        if not party_has_role(conn, book_id, party_id, role.value):
            raise ValidationFailed(
                [
                    Problem(
                        "party",
                        f"party {party_id} is not a {role.value} of this book",
                        "party_role",
                    )
                ]
            )
    elif party_id is not None:
        raise ValidationFailed(
            [
                Problem(
                    "party",
                    "only provider and client users are bound to a party",
                    "party_not_allowed",
                )
            ]
        )
    ur = user_roles.c
    exists = conn.execute(
        select(ur.role).where(
            (ur.user_id == user_id) & (ur.book_id == book_id) & (ur.role == role.value)
        )
    ).first()
    if exists:
        raise Conflict(f"user {user_id} already has {role.value} in book {book_id}")
    conn.execute(
        insert(user_roles).values(
            user_id=user_id, book_id=book_id, role=role.value, party_id=party_id
        )
    )
    audit.record(
        conn,
        actor,
        "user.grant",
        "user",
        user_id,
        None,
        {"book_id": book_id, "role": role.value, "party_id": party_id},
        book_id,
    )


def actor_for(conn: Connection, username: str) -> Actor:
    """The actor of an active user, with its roles in every book."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or not row.active:
        raise NotFound(f"no active user {username!r}")
    return _actor_of(conn, row)


def _actor_of(conn: Connection, row: Any) -> Actor:
    roles: dict[int, set[Role]] = {}
    bound: dict[int, int] = {}
    for r in conn.execute(select(user_roles).where(user_roles.c.user_id == row.id)):
        roles.setdefault(int(r.book_id), set()).add(Role(r.role))
        if r.party_id is not None:
            bound[int(r.book_id)] = int(r.party_id)
    return Actor(
        username=row.username,
        user_id=int(row.id),
        roles={b: frozenset(rs) for b, rs in roles.items()},
        parties=bound,
    )


def actor_by_id(conn: Connection, user_id: int) -> Actor | None:
    """The actor of an active user by id, or None."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or not row.active:
        return None
    return _actor_of(conn, row)


def users_in_book(
    conn: Connection, book_id: int, roles: Iterable[Role] | None = None
) -> list[dict[str, Any]]:
    """Active users with a role in the book: username, display name, roles, party."""
    wanted = {r.value for r in roles} if roles is not None else None
    u, ur = users.c, user_roles.c
    rows = conn.execute(
        select(u.id, u.username, u.display_name, u.email, u.locked_until, ur.role, ur.party_id)
        .join(user_roles, ur.user_id == u.id)
        .where((ur.book_id == book_id) & u.active.is_(True))
        .order_by(u.username)
    )
    found: dict[int, dict[str, Any]] = {}
    for r in rows:
        item = found.setdefault(
            int(r.id),
            {
                "id": int(r.id),
                "username": r.username,
                "display_name": r.display_name,
                "email": r.email,
                "locked_until": r.locked_until,
                "roles": [],
                "party_id": None,
            },
        )
        item["roles"].append(r.role)
        if r.party_id is not None:
            item["party_id"] = int(r.party_id)
    return [u for u in found.values() if wanted is None or wanted & set(u["roles"])]


def authenticate(conn: Connection, username: str, password: str) -> Actor | None:
    """The actor when the password matches an active user, else None."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or not row.active:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return actor_for(conn, username)
