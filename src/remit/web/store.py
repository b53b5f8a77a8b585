"""The table of API requests answered under an ``Idempotency-Key``.

A POST to the JSON API carries a key; its answer is stored with the key in the same
transaction as its effect, so a replay gets the first answer and never a second effect.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from remit.db import metadata

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("principal", String(100), nullable=False),  # the token's prefix
    Column("idempotency_key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "principal", "idempotency_key"),
)
