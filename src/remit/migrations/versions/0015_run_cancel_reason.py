"""payment runs: why a run was cancelled, beside (not over) its preparer's note

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

A cancelled run used to keep its cancel reason in ``note``, replacing what the preparer
wrote; the reason has its own column now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancel_reason", sa.String(500), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("payment_runs", schema=None) as batch_op:
        batch_op.drop_column("cancel_reason")
