"""Tables of events, webhook subscriptions, deliveries and delivery attempts."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from remit.db import metadata

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON
    Column("occurred_at", String(32), nullable=False),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("url", String(500), nullable=False),
    Column("event_types", Text, nullable=False),  # space-separated; "*" for every event
    # The signing secret, encrypted with the installation's vault (it must be read to sign).
    Column("secret_ciphertext", LargeBinary, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("description", String(200), nullable=False, default=""),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_webhook_subscriptions_book", "book_id", "active"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscription_id", Integer, ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_id", Integer, ForeignKey("events.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(32), nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("updated_at", String(32), nullable=False),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("delivery_id", Integer, ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("at", String(32), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_webhook_attempts_delivery", "delivery_id", "id"),
)
