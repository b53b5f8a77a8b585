"""Tables of payments: the book's own bank accounts, the payment blocks and payment runs.

A house account's originator details are JSON per scheme table (``{"bacs": {...}}``), held
in full because the bank-file writer needs them; services mask account numbers for display.
A block names its target once more as text (``party:12`` or ``item:34``) so that one
partial unique index, on both stores, keeps one active block per target and reason.

A run's items are kept for good in ``run_items``; ``held_items`` is the lock that keeps an
item in at most one run that is not cancelled: its primary key is the item, a row is
inserted when a run is prepared and deleted when it is cancelled.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text as sql_text

from remit.db import metadata

house_bank_accounts = Table(
    "house_bank_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("gl_account_code", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("schemes", String(64), nullable=False),  # comma-separated: nacha,bacs18,pain.001
    Column("originators", Text, nullable=False),  # JSON: {table: {key: value}}
    Column("status", String(16), nullable=False),  # active | closed
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("closed_by", String(100)),
    Column("closed_at", String(32)),
    UniqueConstraint("book_id", "code", name="uq_house_bank_accounts_code"),
)

_ACTIVE = sql_text("lifted_at IS NULL")

payment_blocks = Table(
    "payment_blocks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id")),
    Column("open_item_id", Integer, ForeignKey("open_items.id")),
    Column("target", String(32), nullable=False),  # party:<id> | item:<id>
    Column("reason", String(32), nullable=False),
    Column("note", String(500), nullable=False, default=""),
    Column("source", String(64), nullable=False, default=""),
    Column("set_by", String(100), nullable=False),
    Column("set_at", String(32), nullable=False),
    Column("lifted_by", String(100)),
    Column("lifted_at", String(32)),
    Index(
        "uq_payment_blocks_active",
        "book_id",
        "target",
        "reason",
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    ),
    Index("ix_payment_blocks_party", "book_id", "party_id"),
)

payment_runs = Table(
    "payment_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("pay_date", Date, nullable=False),
    # prepared | approved | released | sent | settled | cancelled (remit.payments.model.RunStatus)
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),  # the book's base currency
    Column("total_minor", BigInteger, nullable=False),  # payments in the base currency
    Column("other_currencies", String(64), nullable=False, default=""),  # comma-separated
    Column("payment_count", Integer, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("accounts", String(200), nullable=False),  # comma-separated control accounts
    Column("methods", String(200), nullable=False, default=""),  # empty: every method
    # Comma-separated; empty: every one (migration 0018).
    Column("cost_centres", Text, nullable=False, server_default=""),
    Column("areas", Text, nullable=False, server_default=""),
    Column("prepared_by", String(100), nullable=False),
    Column("prepared_at", String(32), nullable=False),
    Column("approved_by", String(100)),
    Column("approved_at", String(32)),
    Column("second_approved_by", String(100)),
    Column("second_approved_at", String(32)),
    Column("released_by", String(100)),
    Column("released_at", String(32)),
    Column("sent_by", String(100)),
    Column("sent_at", String(32)),
    Column("settled_at", String(32)),
    Column("cancelled_by", String(100)),
    Column("cancelled_at", String(32)),
    Column("cancel_reason", String(500), nullable=False, default="", server_default=""),
    Column("note", String(500), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_payment_runs_book", "book_id", "pay_date"),
)

run_payments = Table(
    "run_payments",
    metadata,
    Column("id", Integer, primary_key=True),
    # No keys on the run and the book: both are the caller's own, set in the same
    # transaction as the run (docs/adr/0011-payment-run-keys.md; kept on SQLite).
    Column("run_id", Integer, nullable=False),
    Column("book_id", Integer, nullable=False),
    Column("payment_key", String(64), nullable=False),  # party/currency/account
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("bank_account_id", Integer),
    Column("method", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    # in_run | released | settled | returned | cancelled (remit.payments.model.PaymentStatus)
    Column("status", String(16), nullable=False),
    Column("reference", String(35), nullable=False),  # the payment's number, in the bank file
    Column("file_id", Integer),  # the run file that carries it, from release
    Column("release_entry_id", Integer),
    Column("settle_entry_id", Integer),
    Column("return_entry_id", Integer),
    Column("settled_on", Date),
    Column("returned_on", Date),
    Column("return_code", String(8), nullable=False, default=""),
    Column("return_detail", String(500), nullable=False, default=""),
    Column("case_id", Integer),
    # A cheque's number and the house account it is drawn on, given at release
    # (remit.payments.cheques.number_cheques); null for a transfer.
    Column("cheque_number", BigInteger),
    Column("cheque_account_id", Integer, ForeignKey("house_bank_accounts.id")),
    UniqueConstraint("run_id", "payment_key", name="uq_run_payments_key"),
    UniqueConstraint("book_id", "reference", name="uq_run_payments_reference"),
    Index("ix_run_payments_party", "book_id", "party_id"),
    # One cheque per number of an account's stock (NULLs, the transfers, do not collide).
    Index("uq_run_payments_cheque", "cheque_account_id", "cheque_number", unique=True),
)

run_items = Table(
    "run_items",
    metadata,
    # The run and the payment are written in the same transaction as these rows: no keys
    # (docs/adr/0011-payment-run-keys.md); the item is the ledger's, and keeps its key.
    Column("run_id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("open_items.id"), primary_key=True),
    Column("payment_id", Integer, nullable=False),
    # What the run pays of it, signed like the item (negative: a bill we owe).
    Column("open_minor", BigInteger, nullable=False),
    Column("doc_ref", String(100), nullable=False, default=""),
    Index("ix_run_items_payment", "payment_id"),
)

held_items = Table(
    "held_items",
    metadata,
    Column("item_id", Integer, ForeignKey("open_items.id"), primary_key=True),
    Column("run_id", Integer, nullable=False),  # no key: see run_items
    Index("ix_held_items_run", "run_id"),
)

# One bank file per method and currency of a released run. The fields that vary per file
# (the stamp) are fixed here at release, with the SHA-256 of the bytes: a re-download writes
# the file again from the run and the stamp and must give the same digest.
run_files = Table(
    "run_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("payment_runs.id"), nullable=False),
    Column("method", String(16), nullable=False),
    Column("format", String(32), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("house_account_id", Integer, ForeignKey("house_bank_accounts.id")),
    Column("created", String(32), nullable=False),  # the stamp's creation time, ISO
    Column("value_date", Date, nullable=False),
    Column("file_id_modifier", String(1), nullable=False, default="A"),
    Column("serial", String(6), nullable=False, default="000001"),
    Column("message_id", String(35), nullable=False, default=""),
    Column("payment_count", Integer, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("byte_count", Integer, nullable=False),
    Column("filename", String(120), nullable=False),
    Column("written_at", String(32)),  # when the outbox copy was written (the janitor's mark)
    # The file's bytes as released, zlib-compressed and sealed by the vault (they carry
    # account numbers); a download gives them back. None for files released before 0017.
    Column("sealed", LargeBinary),
    UniqueConstraint("run_id", "method", "currency", name="uq_run_files_method"),
)

# What one user may approve alone in one book, in the book's base currency's minor units.
approval_limits = Table(
    "approval_limits",
    metadata,
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("limit_minor", BigInteger, nullable=False),
    Column("set_by", String(100), nullable=False),
    Column("set_at", String(32), nullable=False),
)

# Payments made outside remit (issue 10.8): recorded pending, approved by someone else (then
# posted) or rejected, and reconciled with the bank's statement. ``version`` makes each step
# one conditional UPDATE, as a run's. The bank's reference is unique in the book among those
# not rejected, so one CHAPS recorded twice is refused.
_NOT_REJECTED = sql_text("status <> 'rejected'")

manual_payments = Table(
    "manual_payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # linked | one_off (ManualKind)
    # pending | approved | rejected | reconciled (remit.payments.model.ManualStatus)
    Column("status", String(16), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("method", String(16), nullable=False),
    Column("bank_reference", String(35), nullable=False),
    Column("note", String(500), nullable=False, default=""),
    Column("house_account_id", Integer, ForeignKey("house_bank_accounts.id"), nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("decided_by", String(100)),
    Column("decided_at", String(32)),
    Column("decision_note", String(500), nullable=False, default=""),
    Column("entry_id", Integer),
    Column("reconciled_by", String(100)),
    Column("reconciled_at", String(32)),
    Column("reconciled_on", Date),
    Column("reconcile_entry_id", Integer),
    Column("version", Integer, nullable=False, default=1),
    Index(
        "uq_manual_payments_reference",
        "book_id",
        "bank_reference",
        unique=True,
        sqlite_where=_NOT_REJECTED,
        postgresql_where=_NOT_REJECTED,
    ),
    Index("ix_manual_payments_status", "book_id", "status", "paid_on"),
)

# What a manual payment pays of each item it covers (positive), and the block it set on the
# item while it waited for approval (lifted at approval or rejection).
manual_payment_items = Table(
    "manual_payment_items",
    metadata,
    Column("manual_payment_id", Integer, ForeignKey("manual_payments.id"), primary_key=True),
    Column("item_id", Integer, ForeignKey("open_items.id"), primary_key=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("block_id", Integer, ForeignKey("payment_blocks.id")),
    Index("ix_manual_payment_items_item", "item_id"),
)

# Each e-mail of a payment's remittance advice (one row per attempt, its correspondence
# item says whether the server took it): what keeps a second run of the job from sending
# an advice twice (remit.payments.remittance_mail.advice_to_mail).
remittance_emails = Table(
    "remittance_emails",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("payment_id", Integer, ForeignKey("run_payments.id"), nullable=False),
    Column("correspondence_id", Integer, ForeignKey("correspondence.id"), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("correspondence_id", name="uq_remittance_emails_item"),
    Index("ix_remittance_emails_payment", "payment_id"),
)

# The book's payees paid by cheque (issue 10.3): one row means the party is paid by cheque,
# whatever bank account it has; a payment run writes it a cheque in the item's currency.
cheque_payees = Table(
    "cheque_payees",
    metadata,
    Column("book_id", Integer, ForeignKey("books.id"), primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), primary_key=True),
    Column("set_by", String(100), nullable=False),
    Column("set_at", String(32), nullable=False),
)
