"""open items and settlements

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

The open items of the control accounts (issue 10): ``open_items``, ``settlements`` and
``item_allocations`` (see ``remit/ledger/store.py``), their append-only guards, and an item
for every posting already made to a control account with a party. Those opening items are
then settled against each other, oldest first, per account, party and currency: each pair
of opposite signs is one settlement dated the later of the two item dates, so that what is
left open is the party's balance, carried by its newest documents.

The backfill streams the postings once in (account, party, currency, date) order and writes
in batches: fine on a million postings.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 5000
MIGRATED_BY = "migration-0008"


def upgrade() -> None:
    op.create_table(
        "open_items",
        sa.Column("id", Id, nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("entry_id", Id, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("item_date", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("doc_ref", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("open_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "(amount_minor > 0 AND open_minor BETWEEN 0 AND amount_minor)"
            " OR (amount_minor < 0 AND open_minor BETWEEN amount_minor AND 0)",
            name="open_within_amount",
        ),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "line_no", name="uq_open_items_posting"),
    )
    with op.batch_alter_table("open_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_open_items_due",
            ["book_id", "account_id", "due_date"],
            unique=False,
            sqlite_where=sa.text("open_minor <> 0"),
            postgresql_where=sa.text("open_minor <> 0"),
        )
        batch_op.create_index(
            "ix_open_items_party", ["party_id", "account_id", "currency"], unique=False
        )
    op.create_table(
        "settlements",
        sa.Column("id", Id, nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("reverses_settlement_id", Id, nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["book_id"], ["books.id"]),
        sa.ForeignKeyConstraint(["reverses_settlement_id"], ["settlements.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", "book_id", name="uq_settlements_key"),
        sa.UniqueConstraint("reverses_settlement_id"),
    )
    op.create_table(
        "item_allocations",
        sa.Column("settlement_id", Id, nullable=False),
        sa.Column("item_id", Id, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_minor <> 0", name="allocation_not_zero"),
        sa.ForeignKeyConstraint(["item_id"], ["open_items.id"]),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlements.id"]),
        sa.PrimaryKeyConstraint("settlement_id", "item_id"),
    )
    with op.batch_alter_table("item_allocations", schema=None) as batch_op:
        batch_op.create_index("ix_item_allocations_item", ["item_id"], unique=False)
    _open_existing_balances(op.get_bind())
    _guards()


def downgrade() -> None:
    # Dropping a table drops its triggers too.
    op.drop_table("item_allocations")
    op.drop_table("settlements")
    op.drop_table("open_items")


# ---------------------------------------------------------------- the opening items


def _open_existing_balances(conn: sa.Connection) -> None:
    """An item for every control-account posting with a party; opposite signs settled
    oldest first per (account, party, currency)."""
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    source = sa.text(
        "SELECT p.entry_id, p.line_no, p.account_id, p.party_id, p.currency, p.amount_minor,"
        " p.entry_date, a.book_id, e.source_type, e.source_id, e.idempotency_key"
        " FROM postings p JOIN accounts a ON a.id = p.account_id"
        " JOIN journal_entries e ON e.id = p.entry_id"
        " WHERE a.is_control = :yes AND p.party_id IS NOT NULL"
        " ORDER BY p.account_id, p.party_id, p.currency, p.entry_date, p.entry_id, p.line_no"
    )
    rows = conn.execute(
        source, {"yes": True}, execution_options={"stream_results": True, "yield_per": BATCH}
    )
    writer = _Writer(conn, now)
    for group in _groups(rows):
        writer.add_group(group)
    writer.flush()
    if conn.dialect.name == "postgresql":
        for table in ("open_items", "settlements"):
            conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                )
            )


def _groups(rows: Any) -> Iterator[list[Any]]:
    """The streamed postings, one list per (account, party, currency)."""
    group: list[Any] = []
    key: tuple[Any, ...] | None = None
    for row in rows:
        this = (row.account_id, row.party_id, row.currency)
        if this != key and group:
            yield group
            group = []
        key = this
        group.append(row)
    if group:
        yield group


class _Writer:
    """Numbers the items and settlements and writes them in batches."""

    def __init__(self, conn: sa.Connection, now: str) -> None:
        self.conn, self.now = conn, now
        self.next_item, self.next_settlement = 1, 1
        self.items: list[dict[str, Any]] = []
        self.settlements: list[dict[str, Any]] = []
        self.allocations: list[dict[str, Any]] = []

    def add_group(self, group: list[Any]) -> None:
        made: list[dict[str, Any]] = []
        waiting: deque[dict[str, Any]] = deque()  # open items of one sign, oldest first
        for row in group:
            ref = f"{row.source_type}:{row.source_id}" if row.source_type else row.idempotency_key
            amount = int(row.amount_minor)
            item = {
                "id": self.next_item,
                "book_id": row.book_id,
                "account_id": row.account_id,
                "party_id": row.party_id,
                "currency": row.currency,
                "entry_id": row.entry_id,
                "line_no": row.line_no,
                "item_date": row.entry_date,
                "due_date": row.entry_date,
                "doc_ref": ref[:100],
                "amount_minor": amount,
                "open_minor": amount,
                "created_at": self.now,
            }
            self.next_item += 1
            made.append(item)
            while waiting and item["open_minor"] and (waiting[0]["open_minor"] > 0) != (amount > 0):
                self._settle(waiting[0], item)
                if waiting[0]["open_minor"] == 0:
                    waiting.popleft()
            if item["open_minor"]:
                waiting.append(item)
        self.items += made
        if len(self.items) >= BATCH:
            self.flush()

    def _settle(self, older: dict[str, Any], newer: dict[str, Any]) -> None:
        """One settlement of the pair, dated the newer item's date (the later one)."""
        moved = min(abs(older["open_minor"]), abs(newer["open_minor"]))
        sign = 1 if older["open_minor"] < 0 else -1
        older["open_minor"] += sign * moved
        newer["open_minor"] -= sign * moved
        key = f"opening:{older['id']}:{newer['id']}"
        self.settlements.append(
            {
                "id": self.next_settlement,
                "book_id": newer["book_id"],
                "settled_on": newer["item_date"],
                "idempotency_key": key,
                "fingerprint": hashlib.sha256(key.encode()).hexdigest(),
                "memo": "opening settlement (migration 0008)",
                "created_by": MIGRATED_BY,
                "created_at": self.now,
            }
        )
        for item, amount in ((older, sign * moved), (newer, -sign * moved)):
            self.allocations.append(
                {"settlement_id": self.next_settlement, "item_id": item["id"], "amount": amount}
            )
        self.next_settlement += 1

    def flush(self) -> None:
        conn = self.conn
        if self.items:
            conn.execute(
                sa.text(
                    "INSERT INTO open_items (id, book_id, account_id, party_id, currency,"
                    " entry_id, line_no, item_date, due_date, doc_ref, amount_minor, open_minor,"
                    " created_at) VALUES (:id, :book_id, :account_id, :party_id, :currency,"
                    " :entry_id, :line_no, :item_date, :due_date, :doc_ref, :amount_minor,"
                    " :open_minor, :created_at)"
                ),
                self.items,
            )
        if self.settlements:
            conn.execute(
                sa.text(
                    "INSERT INTO settlements (id, book_id, settled_on, idempotency_key,"
                    " fingerprint, memo, created_by, created_at) VALUES (:id, :book_id,"
                    " :settled_on, :idempotency_key, :fingerprint, :memo, :created_by,"
                    " :created_at)"
                ),
                self.settlements,
            )
        if self.allocations:
            conn.execute(
                sa.text(
                    "INSERT INTO item_allocations (settlement_id, item_id, amount_minor)"
                    " VALUES (:settlement_id, :item_id, :amount)"
                ),
                self.allocations,
            )
        self.items, self.settlements, self.allocations = [], [], []


# ---------------------------------------------------------------- guards

APPEND_ONLY = ("settlements", "item_allocations")
# Every column of an item but its cached open amount.
ITEM_FIXED = (
    "id, book_id, account_id, party_id, currency, entry_id, line_no, item_date, due_date,"
    " doc_ref, amount_minor, created_at"
)

SQLITE_GUARDS = (
    *[
        f"""CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, '{table} is append-only: reverse the settlement'); END"""
        for table in APPEND_ONLY
        for verb in ("update", "delete")
    ],
    """CREATE TRIGGER open_items_no_delete BEFORE DELETE ON open_items
    BEGIN SELECT RAISE(ABORT, 'open items are never deleted: settle them'); END""",
    f"""CREATE TRIGGER open_items_fixed BEFORE UPDATE OF {ITEM_FIXED} ON open_items
    BEGIN SELECT RAISE(ABORT, 'only the open amount of an open item changes'); END""",
)

# remit_refuse_change() is the journal's guard function (migration 0001).
PG_GUARDS = (
    *[
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
        FOR EACH ROW EXECUTE FUNCTION remit_refuse_change()"""
        for table in APPEND_ONLY
    ],
    *[
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION remit_refuse_change()"""
        for table in (*APPEND_ONLY, "open_items")
    ],
    """CREATE TRIGGER open_items_no_delete BEFORE DELETE ON open_items
    FOR EACH ROW EXECUTE FUNCTION remit_refuse_change()""",
    f"""CREATE TRIGGER open_items_fixed BEFORE UPDATE OF {ITEM_FIXED} ON open_items
    FOR EACH ROW EXECUTE FUNCTION remit_refuse_change()""",
)


def _guards() -> None:
    dialect = op.get_bind().dialect.name
    for statement in PG_GUARDS if dialect == "postgresql" else SQLITE_GUARDS:
        op.execute(statement)
