"""The store: one engine per database URL, one MetaData, Alembic migrations.

SQLite (WAL, one file, no server) is the embedded default; PostgreSQL is the production
store. Every package's `store.py` declares its tables on `metadata` below. Services get a
`Connection` inside one transaction from `Database.write()` (or `read()`), so that a use
case is all-or-nothing.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: the writer takes the lock
before it reads, so read-then-write use cases (allocating ids, appending to the audit
chain) cannot interleave with another writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DEFAULT_SQLITE_PATH = Path("var/remit.db")
MAX_ID = 2**31 - 1  # the largest id of a row (ids are 32-bit integers; entries: 64-bit)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def database_url(env: dict[str, str] | None = None) -> str:
    """The URL from ``REMIT_DATABASE_URL``, else the SQLite book at ``var/remit.db``."""
    env = dict(os.environ) if env is None else env
    url = env.get("REMIT_DATABASE_URL", "").strip()
    return url or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions into our own hands (the "begin" hook below), as the
        # SQLAlchemy docs recommend for pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("remit_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for the URL, with remit's SQLite settings where it is SQLite."""
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _install_sqlite_hooks(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def insert_id(conn: Connection, statement: Any) -> int:
    """Execute an INSERT of one row and return its new primary key."""
    key = conn.execute(statement).inserted_primary_key
    if key is None:  # pragma: no cover - every remit table has an integer primary key
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])


def is_postgres(conn: Connection | Engine) -> bool:
    """True when the connection or engine talks to PostgreSQL."""
    return conn.dialect.name == "postgresql"


class Database:
    """An engine with the two ways in: ``read()`` and ``write()``, each one transaction."""

    def __init__(self, url: str | None = None, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        self.url = str(self.engine.url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as plain:
            conn = plain.execution_options(remit_write=True)
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creates it on an empty database)."""
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(engine: Engine) -> Any:

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run Alembic's upgrade to ``revision`` on the engine's database."""
    command.upgrade(alembic_config(engine), revision)


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None when it has no schema yet."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None
