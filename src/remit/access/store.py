"""Tables of users, their roles per book, their sign-in sessions and API tokens."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from remit.db import metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("email", String(254), nullable=False, default=""),
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", String(32), nullable=False),
    # Failed sign-ins in a row, and the time (UTC ISO text) until which sign-in is refused.
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", String(32)),
    Column("password_changed_at", String(32)),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("role", String(16), primary_key=True),
    # A portal user is bound to one party: the provider or client whose records it sees.
    Column("party_id", Integer, ForeignKey("parties.id")),
)

# A signed-in browser. The cookie holds a random token; only its SHA-256 is stored, so a
# copy of the database does not let anyone sign in. The CSRF token belongs to the session.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("last_seen_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("ip", String(64), nullable=False, default=""),
    Column("user_agent", String(200), nullable=False, default=""),
    Index("ix_web_sessions_user", "user_id"),
)

# Every sign-in attempt, for throttling by address and the lockout of a user.
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("success", Boolean, nullable=False),
    Index("ix_login_attempts_ip_at", "ip", "at"),
)

# API tokens: a token acts for the user who made it, in one book, within its scopes.
# Only the SHA-256 of the secret is kept; the prefix identifies it in lists and logs.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scopes", Text, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32)),
    Column("revoked_at", String(32)),
    Column("last_used_at", String(32)),
)
