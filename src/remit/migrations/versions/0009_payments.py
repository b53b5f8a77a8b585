"""payments: the book's own bank accounts and payment blocks

The house bank accounts a payment run pays from (GL account, currency, schemes and each
scheme's originator details), and the blocks any package sets on a party or an open item
to keep it out of payment runs, one active block per target and reason (issue 10).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("lifted_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "house_bank_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("gl_account_code", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("schemes", sa.String(length=64), nullable=False),
        sa.Column("originators", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("book_id", "code", name="uq_house_bank_accounts_code"),
    )
    op.create_table(
        "payment_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("open_item_id", sa.Integer(), sa.ForeignKey("open_items.id"), nullable=True),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.String(length=32), nullable=False),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lifted_at", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_payment_blocks_active",
        "payment_blocks",
        ["book_id", "target", "reason"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )
    op.create_index("ix_payment_blocks_party", "payment_blocks", ["book_id", "party_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_blocks_party", table_name="payment_blocks")
    op.drop_index("uq_payment_blocks_active", table_name="payment_blocks")
    op.drop_table("payment_blocks")
    op.drop_table("house_bank_accounts")
