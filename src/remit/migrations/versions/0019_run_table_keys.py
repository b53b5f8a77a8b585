"""payments and ledger: the run tables' and allocations' keys to rows of the same transaction
dropped on PostgreSQL, and room for the release's update of a run's payments

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

A payment run writes 100,000 payments, items and holds at prepare and 200,000 allocations at
release, each row pointing at its run, book, payment or settlement: rows written by the same
call in the same transaction. On PostgreSQL every key is a trigger that looks up and locks
its parent, row by row: 0.4 s per key per 100,000 rows, 3 s of a run of 100,000 payments
(docs/adr/0011-payment-run-keys.md, measured in bench/RESULTS.md). Those keys are dropped
there; the keys to rows that come from outside the call (the open item, the party, the
cheque account) stay.

SQLite keeps them: its key checks are cheap, and dropping one needs a table rebuild, which
SQLite refuses while other tables' rows refer to the table (``tests/test_schema.py`` lists
them). ``run_payments`` is given a fill factor of 50 on PostgreSQL so that the release's
update of every payment (its status, entry and file) stays on the row's page (a HOT update,
no index entries), 0.8 s -> 0.3 s for 100,000 payments.
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# (table, constraint, column, referenced table)
DROPPED = (
    ("run_payments", "fk_run_payments_run_id_payment_runs", "run_id", "payment_runs"),
    ("run_payments", "fk_run_payments_book_id_books", "book_id", "books"),
    ("run_items", "fk_run_items_run_id_payment_runs", "run_id", "payment_runs"),
    ("run_items", "fk_run_items_payment_id_run_payments", "payment_id", "run_payments"),
    ("held_items", "fk_held_items_run_id_payment_runs", "run_id", "payment_runs"),
    (
        "item_allocations",
        "fk_item_allocations_settlement_id_settlements",
        "settlement_id",
        "settlements",
    ),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, name, _column, _parent in DROPPED:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.execute("ALTER TABLE run_payments SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE run_payments RESET (fillfactor)")
    for table, name, column, parent in DROPPED:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column})"
            f" REFERENCES {parent} (id)"
        )
