"""payment runs

Payment runs with their payments, items and bank files; the lock table ``held_items``
whose primary key keeps an item in at most one run that is not cancelled; approval limits
per user and book (issue 10, point 2).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _text(
    name: str, length: int, nullable: bool = True, default: str | None = None
) -> sa.Column[str]:
    return sa.Column(
        name,
        sa.String(length=length),
        nullable=nullable,
        server_default=None if default is None else sa.text(f"'{default}'"),
    )


def upgrade() -> None:
    op.create_table(
        "payment_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("pay_date", sa.Date(), nullable=False),
        _text("status", 16, nullable=False),
        _text("currency", 3, nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        _text("other_currencies", 64, nullable=False),
        sa.Column("payment_count", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        _text("accounts", 200, nullable=False),
        _text("methods", 200, nullable=False),
        _text("prepared_by", 100, nullable=False),
        _text("prepared_at", 32, nullable=False),
        *(
            _text(f"{step}_{what}", 100 if what == "by" else 32)
            for step in ("approved", "second_approved", "released", "sent")
            for what in ("by", "at")
        ),
        _text("settled_at", 32),
        _text("cancelled_by", 100),
        _text("cancelled_at", 32),
        _text("note", 500, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_payment_runs_book", "payment_runs", ["book_id", "pay_date"])
    op.create_table(
        "run_payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payment_runs.id"), nullable=False),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        _text("payment_key", 64, nullable=False),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), nullable=False),
        _text("currency", 3, nullable=False),
        sa.Column("bank_account_id", sa.Integer()),
        _text("method", 16, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        _text("status", 16, nullable=False),
        _text("reference", 35, nullable=False),
        sa.Column("file_id", sa.Integer()),
        sa.Column("release_entry_id", sa.Integer()),
        sa.Column("settle_entry_id", sa.Integer()),
        sa.Column("return_entry_id", sa.Integer()),
        sa.Column("settled_on", sa.Date()),
        sa.Column("returned_on", sa.Date()),
        _text("return_code", 8, nullable=False),
        _text("return_detail", 500, nullable=False),
        sa.Column("case_id", sa.Integer()),
        sa.UniqueConstraint("run_id", "payment_key", name="uq_run_payments_key"),
        sa.UniqueConstraint("book_id", "reference", name="uq_run_payments_reference"),
    )
    op.create_index("ix_run_payments_party", "run_payments", ["book_id", "party_id"])
    op.create_table(
        "run_items",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payment_runs.id"), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("open_items.id"), primary_key=True),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("run_payments.id"), nullable=False),
        sa.Column("open_minor", sa.BigInteger(), nullable=False),
        _text("doc_ref", 100, nullable=False),
    )
    op.create_index("ix_run_items_payment", "run_items", ["payment_id"])
    op.create_table(
        "held_items",
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("open_items.id"), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payment_runs.id"), nullable=False),
    )
    op.create_index("ix_held_items_run", "held_items", ["run_id"])
    op.create_table(
        "run_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("payment_runs.id"), nullable=False),
        _text("method", 16, nullable=False),
        _text("format", 32, nullable=False),
        _text("currency", 3, nullable=False),
        sa.Column("house_account_id", sa.Integer(), sa.ForeignKey("house_bank_accounts.id")),
        _text("created", 32, nullable=False),
        sa.Column("value_date", sa.Date(), nullable=False),
        _text("file_id_modifier", 1, nullable=False),
        _text("serial", 6, nullable=False),
        _text("message_id", 35, nullable=False),
        sa.Column("payment_count", sa.Integer(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        _text("sha256", 64, nullable=False),
        sa.Column("byte_count", sa.Integer(), nullable=False),
        _text("filename", 120, nullable=False),
        _text("written_at", 32),
        sa.UniqueConstraint("run_id", "method", "currency", name="uq_run_files_method"),
    )
    op.create_table(
        "approval_limits",
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("limit_minor", sa.BigInteger(), nullable=False),
        _text("set_by", 100, nullable=False),
        _text("set_at", 32, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "approval_limits",
        "run_files",
        "held_items",
        "run_items",
        "run_payments",
        "payment_runs",
    ):
        op.drop_table(table)
