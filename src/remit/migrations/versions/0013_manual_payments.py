"""manual payments

Payments made outside remit (an urgent CHAPS, a phone-banking payment, a one-off advance):
recorded pending, approved by someone else and posted, or rejected; reconciled with the
bank's statement later. ``manual_payment_items`` links each to the open items it covered
(issue 10, point 8).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NOT_REJECTED = "status <> 'rejected'"


def _text(name: str, length: int, nullable: bool = True) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "manual_payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        _text("kind", 16, nullable=False),
        _text("status", 16, nullable=False),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), nullable=False),
        _text("currency", 3, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        _text("method", 16, nullable=False),
        _text("bank_reference", 35, nullable=False),
        _text("note", 500, nullable=False),
        sa.Column(
            "house_account_id",
            sa.Integer(),
            sa.ForeignKey("house_bank_accounts.id"),
            nullable=False,
        ),
        _text("recorded_by", 100, nullable=False),
        _text("recorded_at", 32, nullable=False),
        _text("decided_by", 100),
        _text("decided_at", 32),
        _text("decision_note", 500, nullable=False),
        sa.Column("entry_id", sa.Integer()),
        _text("reconciled_by", 100),
        _text("reconciled_at", 32),
        sa.Column("reconciled_on", sa.Date()),
        sa.Column("reconcile_entry_id", sa.Integer()),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "uq_manual_payments_reference",
        "manual_payments",
        ["book_id", "bank_reference"],
        unique=True,
        sqlite_where=sa.text(NOT_REJECTED),
        postgresql_where=sa.text(NOT_REJECTED),
    )
    op.create_index(
        "ix_manual_payments_status", "manual_payments", ["book_id", "status", "paid_on"]
    )
    op.create_table(
        "manual_payment_items",
        sa.Column(
            "manual_payment_id",
            sa.Integer(),
            sa.ForeignKey("manual_payments.id"),
            primary_key=True,
        ),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("open_items.id"), primary_key=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("block_id", sa.Integer(), sa.ForeignKey("payment_blocks.id")),
    )
    op.create_index("ix_manual_payment_items_item", "manual_payment_items", ["item_id"])


def downgrade() -> None:
    op.drop_index("ix_manual_payment_items_item", table_name="manual_payment_items")
    op.drop_table("manual_payment_items")
    op.drop_index("ix_manual_payments_status", table_name="manual_payments")
    op.drop_index("uq_manual_payments_reference", table_name="manual_payments")
    op.drop_table("manual_payments")
