"""payments: payees paid by cheque, and each cheque's number

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04

``cheque_payees`` names the parties a book pays by cheque; a released cheque payment keeps
its number and the house account it is drawn on (``run_payments.cheque_number``,
``cheque_account_id``), unique per account, for the cheque register and positive pay
(issue 10, point 3).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cheque_payees",
        sa.Column("book_id", sa.Integer(), sa.ForeignKey("books.id"), primary_key=True),
        sa.Column("party_id", sa.Integer(), sa.ForeignKey("parties.id"), primary_key=True),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.String(length=32), nullable=False),
    )
    with op.batch_alter_table("run_payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cheque_number", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "cheque_account_id",
                sa.Integer(),
                sa.ForeignKey("house_bank_accounts.id", name="fk_run_payments_cheque_account"),
                nullable=True,
            )
        )
        batch_op.create_index(
            "uq_run_payments_cheque", ["cheque_account_id", "cheque_number"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("run_payments", schema=None) as batch_op:
        batch_op.drop_index("uq_run_payments_cheque")
        batch_op.drop_constraint("fk_run_payments_cheque_account", type_="foreignkey")
        batch_op.drop_column("cheque_account_id")
        batch_op.drop_column("cheque_number")
    op.drop_table("cheque_payees")
