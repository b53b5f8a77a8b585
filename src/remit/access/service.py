"""Adding users, granting roles, and turning a user into an ``Actor``.

Passwords are hashed with Argon2id (argon2-cffi); the hash is all that is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select

from remit.access.model import Actor, Permission, Role, require
from remit.access.store import user_roles, users
from remit.db import insert_id
from remit.errors import Conflict, NotFound, Problem, ValidationFailed
from remit.ledger import audit

MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")
_hasher = PasswordHasher()


def password_problems(password: str) -> list[Problem]:
    """What is wrong with a new password (length is what matters most)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(Problem("password", f"at least {MIN_PASSWORD_LENGTH} characters",
                                "password_length"))
    if password.strip() != password:
        problems.append(Problem("password", "no leading or trailing spaces", "password_spaces"))
    return problems


def add_user(conn: Connection, actor: Actor, username: str, password: str,
             display_name: str = "", email: str = "",
             grants: Iterable[tuple[int, Role]] = ()) -> int:
    """Create a user with roles in books; needs the system or an admin of each book."""
    grants = list(grants)
    for book_id, _role in grants:
        require(actor, book_id, Permission.USERS_MANAGE)
    if not grants and not actor.is_system:
        raise ValidationFailed([Problem("role", "give the user a role in a book", "required")])
    problems = password_problems(password)
    if not USERNAME.match(username):
        problems.append(Problem("username", "2 to 100 lower-case letters, digits, . _ @ -",
                                "username_format"))
    if problems:
        raise ValidationFailed(problems)
    if conn.execute(select(users.c.id).where(users.c.username == username)).first():
        raise Conflict(f"user {username!r} already exists")
    user_id = insert_id(conn, insert(users).values(
        username=username, display_name=display_name or username, email=email,
        password_hash=_hasher.hash(password), active=True,
        created_at=audit.utc_now_text()))
    audit.record(conn, actor, "user.add", "user", user_id, None,
                 {"username": username, "display_name": display_name or username})
    for book_id, role in grants:
        grant(conn, actor, user_id, book_id, role)
    return user_id


def grant(conn: Connection, actor: Actor, user_id: int, book_id: int, role: Role,
          party_id: int | None = None) -> None:
    require(actor, book_id, Permission.USERS_MANAGE)
    if role in (Role.PROVIDER, Role.CLIENT) and party_id is None:
        raise ValidationFailed([Problem("party", f"a {role.value} user is bound to a party",
                                        "required")])
    ur = user_roles.c
    exists = conn.execute(select(ur.role).where((ur.user_id == user_id) & (ur.book_id == book_id)
                                                & (ur.role == role.value))).first()
    if exists:
        raise Conflict(f"user {user_id} already has {role.value} in book {book_id}")
    conn.execute(insert(user_roles).values(user_id=user_id, book_id=book_id, role=role.value,
                                           party_id=party_id))
    audit.record(conn, actor, "user.grant", "user", user_id, None,
                 {"book_id": book_id, "role": role.value, "party_id": party_id}, book_id)


def actor_for(conn: Connection, username: str) -> Actor:
    """The actor of an active user, with its roles in every book."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or not row.active:
        raise NotFound(f"no active user {username!r}")
    roles: dict[int, set[Role]] = {}
    for r in conn.execute(select(user_roles).where(user_roles.c.user_id == row.id)):
        roles.setdefault(int(r.book_id), set()).add(Role(r.role))
    return Actor(username=row.username, user_id=int(row.id),
                 roles={b: frozenset(rs) for b, rs in roles.items()})


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
