"""Tables of parties: who they are in a book, their identifiers, contacts and bank details.

Bank details are stored only encrypted (``ciphertext``), beside a masked form for display and
a keyed fingerprint to spot the same details on two parties without decrypting them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from remit.db import metadata

parties = Table(
    "parties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "ref"),
    # The party lists, by name then id; holding ref and kind too, a search of a book's
    # names and refs reads this index alone, never the table.
    Index("ix_parties_by_name", "book_id", "name", "id", "ref", "kind"),
)

party_roles = Table(
    "party_roles",
    metadata,
    Column("party_id", Integer, ForeignKey("parties.id"), primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Index("ix_party_roles_book_role", "book_id", "role"),
)

party_identifiers = Table(
    "party_identifiers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("scheme", String(16), nullable=False),
    Column("value", String(64), nullable=False),
    UniqueConstraint("party_id", "scheme"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=False, default=""),
    Column("phone", String(40), nullable=False, default=""),
    Column("address", String(500), nullable=False, default=""),
    Column("role", String(64), nullable=False, default=""),
    Index("ix_contacts_party", "party_id"),
)

bank_accounts = Table(
    "bank_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("scheme", String(16), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("masked", String(100), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # active | superseded
    Column("change_id", Integer, ForeignKey("bank_changes.id"), nullable=False),
    Column("activated_at", String(32), nullable=False),
    Index("ix_bank_accounts_party", "party_id", "status"),
)

bank_changes = Table(
    "bank_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("scheme", String(16), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("masked", String(100), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("reason", String(500), nullable=False, default=""),
    Column("requested_by", String(100), nullable=False),
    Column("requested_at", String(32), nullable=False),
    Column("decided_by", String(100)),
    Column("decided_at", String(32)),
    Column("decision_note", String(500), nullable=False, default=""),
    Index("ix_bank_changes_party_status", "party_id", "status"),
    Index("ix_bank_changes_status", "status", "id"),  # the changes waiting for approval
)
