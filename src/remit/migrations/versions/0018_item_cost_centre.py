"""ledger: an open item's cost centre; payments: a run's cost centre and area filters

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04

``open_items.cost_centre`` tags a payable or receivable with the budget it falls on (from
its posting's ``cost_centre``; "" for none, as every item made before). It is fixed like
every column of an item but its open amount: the ``open_items_fixed`` guard is made again
with it. ``payment_runs`` records the cost centres and book areas (the source of the items'
entries) a run was prepared for, beside its accounts and methods (issue 10, point 2).

Plain ``ALTER TABLE`` on both stores (SQLite 3.35+ drops a column in place), never a table
rebuild, so the items' other guards stay as they are.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BEFORE = (
    "id, book_id, account_id, party_id, currency, entry_id, line_no, item_date, due_date,"
    " doc_ref, amount_minor, created_at"
)
AFTER = f"{BEFORE}, cost_centre"


def _fixed(columns: str) -> None:
    """The guard that refuses a change to any of ``columns`` of an item (migration 0008)."""
    op.execute("DROP TRIGGER IF EXISTS open_items_fixed" + _on_table())
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER open_items_fixed BEFORE UPDATE OF {columns} ON open_items"
            " FOR EACH ROW EXECUTE FUNCTION remit_refuse_change()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER open_items_fixed BEFORE UPDATE OF {columns} ON open_items"
            " BEGIN SELECT RAISE(ABORT, 'only the open amount of an open item changes'); END"
        )


def _on_table() -> str:
    return " ON open_items" if op.get_bind().dialect.name == "postgresql" else ""


def upgrade() -> None:
    op.add_column(
        "open_items",
        sa.Column("cost_centre", sa.String(length=40), nullable=False, server_default=""),
    )
    _fixed(AFTER)
    op.add_column(
        "payment_runs", sa.Column("cost_centres", sa.Text(), nullable=False, server_default="")
    )
    op.add_column("payment_runs", sa.Column("areas", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    _fixed(BEFORE)  # first: SQLite will not drop a column a trigger names
    for table, column in (
        ("payment_runs", "areas"),
        ("payment_runs", "cost_centres"),
        ("open_items", "cost_centre"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
