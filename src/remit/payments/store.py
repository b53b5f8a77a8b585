"""Tables of payments: the book's own bank accounts and the payment blocks.

A house account's originator details are JSON per scheme table (``{"bacs": {...}}``), held
in full because the bank-file writer needs them; services mask account numbers for display.
A block names its target once more as text (``party:12`` or ``item:34``) so that one
partial unique index, on both stores, keeps one active block per target and reason.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy import text as sql_text

from remit.db import metadata

house_bank_accounts = Table(
    "house_bank_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("gl_account_code", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("schemes", String(64), nullable=False),  # comma-separated: nacha,bacs18,pain.001
    Column("originators", Text, nullable=False),  # JSON: {table: {key: value}}
    Column("status", String(16), nullable=False),  # active | closed
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("closed_by", String(100)),
    Column("closed_at", String(32)),
    UniqueConstraint("book_id", "code", name="uq_house_bank_accounts_code"),
)

_ACTIVE = sql_text("lifted_at IS NULL")

payment_blocks = Table(
    "payment_blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id")),
    Column("open_item_id", Integer, ForeignKey("open_items.id")),
    Column("target", String(32), nullable=False),  # party:<id> | item:<id>
    Column("reason", String(32), nullable=False),
    Column("note", String(500), nullable=False, default=""),
    Column("source", String(64), nullable=False, default=""),
    Column("set_by", String(100), nullable=False),
    Column("set_at", String(32), nullable=False),
    Column("lifted_by", String(100)),
    Column("lifted_at", String(32)),
    Index(
        "uq_payment_blocks_active",
        "book_id",
        "target",
        "reason",
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    ),
    Index("ix_payment_blocks_party", "book_id", "party_id"),
)
