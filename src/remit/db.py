"""The store: one engine per database URL, one MetaData, Alembic migrations.

SQLite (WAL, one file, no server) is the embedded default; PostgreSQL is the production
store. Every package's `store.py` declares its tables on `metadata` below. Services get a
`Connection` inside one transaction from `Database.write()` (or `read()`), so that a use
case is all-or-nothing.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE``: the writer takes the lock
before it reads, so read-then-write use cases (allocating ids, appending to the audit
chain) cannot interleave with another writer. It waits up to ``BUSY_TIMEOUT_MS`` for the
lock; bookkeeping that a read may skip uses ``Database.write_if_free``, which never waits.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

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
BUSY_TIMEOUT_MS = 30_000  # how long a SQLite writer waits for the write lock
NO_WAIT_LOCK_TIMEOUT = "200ms"  # PostgreSQL: how long ``write_if_free`` waits for a row lock


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
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
        if parsed.database and parsed.database != ":memory:":
            kwargs.setdefault("pool_size", 20)
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


def lock_unavailable(error: OperationalError) -> bool:
    """True when the error says a lock was taken: SQLite's SQLITE_BUSY ("database is
    locked"), PostgreSQL's lock_not_available (SQLSTATE 55P03, e.g. after ``lock_timeout``)."""
    orig = error.orig
    busy = str(getattr(orig, "sqlite_errorname", "")).startswith("SQLITE_BUSY")
    return busy or getattr(orig, "sqlstate", None) == "55P03"


@contextmanager
def _sqlite_busy_timeout(plain: Connection, milliseconds: int) -> Iterator[None]:
    """On SQLite, ``plain`` waits ``milliseconds`` for a lock inside the block, then
    ``BUSY_TIMEOUT_MS`` again (it goes back to the pool); elsewhere nothing changes."""
    if plain.dialect.name != "sqlite":
        yield
        return
    raw = plain.connection.driver_connection  # outside any transaction: no autobegin
    assert raw is not None
    raw.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


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

    def write_if_free(self, work: Callable[[Connection], object]) -> bool:
        """Run ``work`` in a write transaction if the lock is free at once; False when
        another transaction holds it (nothing is written, nothing waits).

        For bookkeeping that a read may skip and do on a later request (a session's idle
        timer, a token's last use), so that a read never waits for a long write. SQLite:
        ``BEGIN IMMEDIATE`` with a busy timeout of 0; PostgreSQL: a ``lock_timeout`` of
        ``NO_WAIT_LOCK_TIMEOUT`` for the rows that ``work`` updates. Other errors raise.
        """
        with self.engine.connect() as plain, _sqlite_busy_timeout(plain, 0):
            conn = plain.execution_options(remit_write=True)
            try:
                with conn.begin():
                    if is_postgres(conn):
                        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{NO_WAIT_LOCK_TIMEOUT}'")
                    work(conn)
            except OperationalError as error:
                if not lock_unavailable(error):
                    raise
                return False
        return True

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
