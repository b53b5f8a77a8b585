"""book details for documents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

A book's postal address and VAT registration number: a self-billed invoice names both
parties with their addresses (HMRC VAT Notice 700/62), and the council writes it (issue 9).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("books", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(500), nullable=True))
        batch_op.add_column(sa.Column("vat_number", sa.String(20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("books", schema=None) as batch_op:
        batch_op.drop_column("vat_number")
        batch_op.drop_column("address")
