"""Tables of the ledger, and the database's own guards.

The database refuses, by itself, what the code also refuses:

- UPDATE, DELETE (and on PostgreSQL TRUNCATE) of journal entries and postings (and of audit
  events, whose tables are the kernel's, in ``remit/audit.py``);
- postings added to an entry that is already posted (keys, below);
- an entry whose postings do not sum to zero per currency, are not all there, or name an
  account or party of another book: SQLite checks when the entry row is inserted (there,
  remit inserts postings first and seals them with the entry row); PostgreSQL checks at
  commit with a deferred constraint trigger (there, the entry row goes first);
- postings without their entry row (SQLite: at commit, by a deferred foreign key;
  PostgreSQL: at once, by a statement-level check).

The triggers themselves are created by the migrations (``migrations/versions``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)

from remit.db import metadata

Id = BigInteger().with_variant(Integer, "sqlite")

books = Table(
    "books",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    # Holiday calendar for business days (SLAs, pay dates): "GB-ENG", "US", "US-CA", "XFED".
    Column("calendar", String(16), nullable=False, server_default="GB-ENG"),
    # The organisation's own details for its documents (self-billed invoices, letters):
    # postal address (lines separated by newlines) and VAT registration number.
    Column("address", String(500)),
    Column("vat_number", String(20)),
    # The locale its dates are written in ("en_GB", "en_US": remit.calendar.BOOK_LOCALES);
    # empty: its currency's.
    Column("locale", String(8)),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("type", String(16), nullable=False),
    Column("is_control", Boolean, nullable=False, default=False),
    Column("party_role", String(16)),
    Column("currency", String(3)),
    UniqueConstraint("book_id", "code"),
)

periods = Table(
    "periods",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=False),
    Column("status", String(8), nullable=False),
    Column("changed_at", String(32), nullable=False),
    Column("changed_by", String(100), nullable=False),
    UniqueConstraint("book_id", "start_date"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=False),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("description", String(500), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("source_type", String(50), nullable=False, default=""),
    Column("source_id", String(100), nullable=False, default=""),
    Column("reverses_entry_id", Id, ForeignKey("journal_entries.id"), unique=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    # Key first: a batch's keys are looked up with ``key IN (...)`` on this index.
    UniqueConstraint("idempotency_key", "book_id"),
    UniqueConstraint("id", "line_count", name="uq_journal_entries_id_line_count"),
    CheckConstraint("line_count >= 2", name="two_lines_at_least"),
)

# A posting's key is (entry_id, line_no), and it carries its entry's line count: the CHECK
# keeps line_no within 1..entry_lines, and entry_lines must equal the entry's line_count
# (SQLite: a deferred foreign key, created by the migration; PostgreSQL: a statement-level
# check). A posted entry therefore has no free slot: no posting can ever be added to it.
# Accounts and parties are checked once per entry by the entry guard (same book), not by
# per-row foreign keys, which on PostgreSQL lock the parent row for every posting.
postings = Table(
    "postings",
    metadata,
    Column("entry_id", Id, primary_key=True, autoincrement=False),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("entry_lines", Integer, nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("party_id", Integer),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("memo", String(200), nullable=False, default=""),
    CheckConstraint("line_no BETWEEN 1 AND entry_lines", name="line_within_entry"),
    CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
    Index(
        "ix_postings_party",
        "party_id",
        "account_id",
        sqlite_where=text("party_id IS NOT NULL"),
        postgresql_where=text("party_id IS NOT NULL"),
    ),
    sqlite_with_rowid=False,
)

# A projection of the postings, kept in the same transaction by the posting service: turnover
# per account, currency and day. The trial balance and account balances read it instead of
# every posting; `remit audit verify` recomputes it from the postings and reports a mismatch.
account_daily_totals = Table(
    "account_daily_totals",
    metadata,
    # No foreign key on account_id: only the posting service writes here, with the ids it
    # has just checked, and `remit audit verify` recomputes every row from the postings.
    Column("account_id", Integer, primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("entry_date", Date, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("debit_minor", BigInteger, nullable=False),
    Column("credit_minor", BigInteger, nullable=False),
    Index("ix_account_daily_totals_book_date", "book_id", "entry_date"),
)

# The open items of the control accounts: one per posting to a control account (with its
# party), made in the posting's transaction. ``open_minor`` is a cache of ``amount_minor``
# plus the item's allocations, the one column ever updated (the migration's triggers refuse
# a DELETE and an UPDATE of any other column); the CHECK keeps it between 0 and the amount.
# No foreign keys to postings or accounts: on PostgreSQL those lock a parent row per item;
# ``integrity_problems`` compares the items with the postings instead.
open_items = Table(
    "open_items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("account_id", Integer, nullable=False),
    Column("party_id", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("entry_id", Id, nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("item_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("doc_ref", String(100), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("open_minor", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    # The budget the item falls on, "" for none (migration 0018).
    Column("cost_centre", String(40), nullable=False, server_default=""),
    UniqueConstraint("entry_id", "line_no", name="uq_open_items_posting"),
    CheckConstraint(
        "(amount_minor > 0 AND open_minor BETWEEN 0 AND amount_minor)"
        " OR (amount_minor < 0 AND open_minor BETWEEN amount_minor AND 0)",
        name="open_within_amount",
    ),
    # A payment run: the open items of an account due by a date.
    Index(
        "ix_open_items_due",
        "book_id",
        "account_id",
        "due_date",
        sqlite_where=text("open_minor <> 0"),
        postgresql_where=text("open_minor <> 0"),
    ),
    Index("ix_open_items_party", "party_id", "account_id", "currency"),
)

# A settlement allocates amounts among open items of one account, party and currency; its
# allocations sum to zero. Append-only: a settlement is undone by its reversal (at most one).
settlements = Table(
    "settlements",
    metadata,
    Column("id", Id, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("settled_on", Date, nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("memo", String(200), nullable=False, default=""),
    Column("reverses_settlement_id", Id, ForeignKey("settlements.id"), unique=True),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("idempotency_key", "book_id", name="uq_settlements_key"),
)

# Signed like the move it makes: toward zero for the item (opposite sign to the item's
# amount), away from it in a reversal. Append-only.
item_allocations = Table(
    "item_allocations",
    metadata,
    # No key on the settlement: every allocation is written by the call that writes its
    # settlement, in the same transaction (docs/adr/0011-payment-run-keys.md).
    Column("settlement_id", Id, primary_key=True),
    Column("item_id", Id, ForeignKey("open_items.id"), primary_key=True),
    Column("amount_minor", BigInteger, nullable=False),
    CheckConstraint("amount_minor <> 0", name="allocation_not_zero"),
    Index("ix_item_allocations_item", "item_id"),
)
