"""The migrations build exactly the tables the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from remit.stores import load_all_tables

# Declared by the migration only: SQLite seals an entry's postings with a deferred foreign
# key to its entry row (see docs/adr/0003-ledger-guards.md).
MIGRATION_ONLY = {("postings", "fk_postings_entry_sealed")}
# Kept on SQLite only: migration 0019 drops them on PostgreSQL, where each is a row-by-row
# lookup and lock (docs/adr/0011-payment-run-keys.md); dropping one on SQLite needs a table
# rebuild, which SQLite refuses while rows of other tables refer to the table.
SQLITE_ONLY = {
    ("run_payments", "run_id"),
    ("run_payments", "book_id"),
    ("run_items", "run_id"),
    ("run_items", "payment_id"),
    ("held_items", "run_id"),
    ("item_allocations", "settlement_id"),
}


def _differences(conn):
    context = MigrationContext.configure(conn)
    diffs = []
    for diff in compare_metadata(context, load_all_tables()):
        op = diff[0] if isinstance(diff, tuple) else diff[0][0]
        item = diff[1] if isinstance(diff, tuple) else diff[0][1]
        table = getattr(getattr(item, "table", None), "name", None) or getattr(item, "name", "")
        name = getattr(item, "name", "")
        if op == "remove_fk" and (table, name) in MIGRATION_ONLY:
            continue
        if (
            op == "remove_fk"
            and conn.dialect.name == "sqlite"
            and all((table, column.name) in SQLITE_ONLY for column in item.columns)
        ):
            continue
        diffs.append(diff)
    return diffs


def test_the_migrated_schema_matches_the_declared_tables(db):
    with db.engine.connect() as conn:
        assert _differences(conn) == []
