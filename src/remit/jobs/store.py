"""The table of jobs."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from remit.db import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("book_id", Integer, ForeignKey("books.id"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("params", Text, nullable=False),  # canonical JSON
    # queued | running | succeeded | failed | cancelled
    Column("status", String(16), nullable=False),
    # One live job per key (e.g. "cases.escalate:<book>:<date>"); NULL when not deduplicated.
    Column("dedupe_key", String(200), unique=True),
    Column("progress_done", Integer, nullable=False, default=0),
    Column("progress_total", Integer, nullable=False, default=0),
    Column("message", String(500), nullable=False, default=""),
    Column("result", Text),  # JSON
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("worker", String(100)),
    Column("created_by", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("run_after", String(32), nullable=False),
    Column("started_at", String(32)),
    Column("heartbeat_at", String(32)),
    Column("finished_at", String(32)),
    Index("ix_jobs_queue", "status", "run_after", "id"),
    Index("ix_jobs_book", "book_id", "id"),
)
