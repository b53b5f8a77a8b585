"""payments: remittance advice e-mailed

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04

``remittance_emails`` keeps each e-mail of a payment's remittance advice (its correspondence
item), so that the ``payments.remittance`` job run again sends no advice twice (issue 10,
point 6).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remittance_emails",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), nullable=False),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("run_payments.id"), nullable=False),
        sa.Column(
            "correspondence_id", sa.Integer(), sa.ForeignKey("correspondence.id"), nullable=False
        ),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.UniqueConstraint("correspondence_id", name="uq_remittance_emails_item"),
    )
    op.create_index("ix_remittance_emails_payment", "remittance_emails", ["payment_id"])


def downgrade() -> None:
    op.drop_index("ix_remittance_emails_payment", table_name="remittance_emails")
    op.drop_table("remittance_emails")
