"""ledger: an open item's cost centre; payments: a run's cost centre and area filters

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

``open_items.cost_centre`` tags a payable or receivable with the budget it falls on (from
its posting's ``cost_centre``; "" for none, as every item made before). ``payment_runs``
records the cost centres and book areas (the source of the items' entries) a run was
prepared for, beside its accounts and methods (issue 10, point 2).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cost_centre", sa.String(length=40), nullable=False, server_default="")
        )
    with op.batch_alter_table("payment_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cost_centres", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("areas", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("payment_runs", schema=None) as batch_op:
        batch_op.drop_column("areas")
        batch_op.drop_column("cost_centres")
    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.drop_column("cost_centre")
