"""Tables of stored files and documents."""

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
    UniqueConstraint,
)

from remit.db import metadata

stored_files = Table(
    "stored_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("media_type", String(100), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("book_id", "sha256"),
)

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("file_id", Integer, ForeignKey("stored_files.id"), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", Integer, nullable=False),
    Column("filename", String(200), nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(32), nullable=False, default=""),
    # Shown to the portal user of the party it concerns (their own uploads always are).
    Column("portal_visible", Boolean, nullable=False, default=False),
    Column("uploaded_by", String(100), nullable=False),
    Column("uploaded_at", String(32), nullable=False),
    Index("ix_documents_object", "book_id", "object_type", "object_id"),
)
