"""childcare: providers' consents to recover overpayments, and adjustments

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04

Issue 11, point 6: an over- or underpayment of a child-month with its reason; an
overpayment is recovered from the provider's later payments only with its written consent
on file (a document), otherwise it becomes a receivable from the provider.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "childcare_payments", sa.Column("recalculated_net_minor", sa.BigInteger(), nullable=True)
    )
    op.create_table(
        "childcare_recovery_consents",
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), primary_key=True),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.String(length=32), nullable=False),
    )
    op.create_table(
        "childcare_adjustments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("certificate_ref", sa.String(length=64), nullable=False),
        sa.Column("provider_party_id", sa.Integer(), sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
    )
    op.create_index("ix_childcare_adjustments_month", "childcare_adjustments", ["book_id", "month"])


def downgrade() -> None:
    op.drop_index("ix_childcare_adjustments_month", table_name="childcare_adjustments")
    op.drop_table("childcare_adjustments")
    op.drop_table("childcare_recovery_consents")
    with op.batch_alter_table("childcare_payments") as batch_op:
        batch_op.drop_column("recalculated_net_minor")
