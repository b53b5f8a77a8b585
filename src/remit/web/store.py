"""The tables of requests answered once: API requests under an ``Idempotency-Key``, and page
forms under a one-time token.

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

# A page form's one-time token, spent in the same transaction as what the form creates: a
# second submit of the same form (a double click, a reload) finds it spent and creates
# nothing; ``result`` is where the first submit led, to show again.
form_submissions = Table(
    "form_submissions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("username", String(100), nullable=False),
    Column("token", String(64), nullable=False),
    Column("form", String(64), nullable=False),
    Column("result", Text, nullable=False, default=""),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "token", name="uq_form_submissions_token"),
)
