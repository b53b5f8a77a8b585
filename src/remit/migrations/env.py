"""Alembic environment: runs migrations on the engine remit hands over (never a URL in a file)."""

from __future__ import annotations

from alembic import context

from remit.stores import load_all_tables

target_metadata = load_all_tables()
engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
