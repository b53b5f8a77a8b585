"""Tables of cases, their history and links, and of correspondence."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from remit.db import metadata

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("case_type", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("priority", Integer, nullable=False),  # 1 low, 2 normal, 3 high, 4 urgent
    Column("owner", String(100)),  # a username, or none (in the team's queue)
    Column("team", String(32), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id")),
    Column("opened_on", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("opened_by", String(100), nullable=False),
    Column("opened_at", String(32), nullable=False),
    Column("closed_at", String(32)),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("escalated_at", String(32)),
    # Bumped on every change, so that two people acting on the same case cannot both win.
    Column("version", Integer, nullable=False, default=1),
    Index("ix_cases_queue", "book_id", "is_open", "owner", "due_date"),
    Index("ix_cases_team", "book_id", "is_open", "team", "due_date"),
    Index("ix_cases_party", "book_id", "party_id", "due_date"),
    Index("ix_cases_due", "book_id", "is_open", "due_date"),
    Index("ix_cases_book_due", "book_id", "due_date"),  # the list with closed cases too
)

# The history of a case: every change, comment and attachment, in order.
case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("kind", String(16), nullable=False),  # opened|transition|assigned|comment|...
    Column("from_state", String(32)),
    Column("to_state", String(32)),
    Column("body", Text, nullable=False, default=""),
    # Comments are internal unless marked for the party's portal user.
    Column("portal_visible", Boolean, nullable=False, default=False),
    Index("ix_case_events_case", "case_id", "id"),
)

case_links = Table(
    "case_links",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("object_type", String(32), primary_key=True),
    Column("object_id", String(64), primary_key=True),
    Column("label", String(200), nullable=False, default=""),
    Index("ix_case_links_object", "object_type", "object_id"),
)

# Calls, e-mails and letters with a party, stored as sent (or as logged, for calls).
correspondence = Table(
    "correspondence",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("channel", String(8), nullable=False),  # call | email | letter
    Column("direction", String(8), nullable=False),  # in | out
    Column("status", String(8), nullable=False),  # logged | sent | failed
    Column("template", String(64), nullable=False, default=""),
    Column("locale", String(8), nullable=False, default=""),
    Column("recipient", String(500), nullable=False, default=""),
    Column("subject", String(300), nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    # The exact thing sent: the MIME message of an e-mail; a letter's PDF is a stored file.
    Column("raw_message", Text),
    Column("file_id", Integer, ForeignKey("stored_files.id")),
    Column("message_id", String(200)),
    Column("error", Text),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("sent_at", String(32)),
    Index("ix_correspondence_party", "book_id", "party_id", "id"),
    UniqueConstraint("book_id", "message_id"),
)
