"""Fixtures: a real SQLite file and a real PostgreSQL server, both migrated.

The ``db`` fixture runs a test once on each store. PostgreSQL is started by the test setup
(as the ``postgres`` user when we are root) unless ``REMIT_TEST_PG_URL`` names a server.
Under CI (``CI`` set) PostgreSQL tests never skip: a server that will not start fails them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from remit.access.model import Actor
from remit.db import Database, make_engine, migrate
from remit.ledger import service as ledger
from remit.ledger.model import AccountSpec, AccountType
from remit.testkit.postgres import ClusterUnavailable, TempCluster

IN_CI = bool(os.environ.get("CI"))
TEMPLATE = "remit_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster | None]:
    if os.environ.get("REMIT_TEST_PG_URL"):
        yield None
        return
    try:
        cluster = TempCluster().start()
    except ClusterUnavailable as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL must run in CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        engine = make_engine(cluster.create_database(TEMPLATE))
        migrate(engine)
        engine.dispose()
        yield cluster
    finally:
        cluster.stop()


def _pg_database(cluster: TempCluster | None) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    if cluster is not None:
        return cluster.create_database(name, template=TEMPLATE)
    base = os.environ["REMIT_TEST_PG_URL"]
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.rsplit("/", 1)[0] + f"/{name}"
    migrate(make_engine(url))
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated store: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "remit.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
    else:
        database = Database(_pg_database(request.getfixturevalue("pg_cluster")))
    yield database
    database.dispose()


@pytest.fixture
def system() -> Actor:
    return Actor.system("test-setup")


@pytest.fixture
def book(db: Database, system: Actor) -> int:
    """A book with a small chart of accounts: bank, provider payables (control), care expense,
    client receivables (control), contributions income, equity."""
    with db.write() as conn:
        book_id = ledger.create_book(conn, system, "test", "Test council", "GBP", "Europe/London")
        ledger.open_accounts(conn, system, book_id, [
            AccountSpec("1000", "Bank", AccountType.ASSET),
            AccountSpec("1100", "Client receivables", AccountType.ASSET, True, "client"),
            AccountSpec("2000", "Provider payables", AccountType.LIABILITY, True, "provider"),
            AccountSpec("3000", "Reserves", AccountType.EQUITY),
            AccountSpec("4000", "Client contributions", AccountType.INCOME),
            AccountSpec("5000", "Care expense", AccountType.EXPENSE),
            AccountSpec("1200", "Euro account", AccountType.ASSET, currency="EUR"),
        ])
    return book_id


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The small demo organisation in a SQLite file (seed 7), made once per test worker."""
    from remit.testkit.web import seed_demo  # noqa: PLC0415

    path = tmp_path_factory.mktemp("demo") / "remit.db"
    return path, seed_demo(path)


@pytest.fixture
def demo_db(demo_template: tuple[Path, str], tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A private copy of the demo book, with its key in the environment."""
    path, key = demo_template
    copy = tmp_path / "remit.db"
    shutil.copy(path, copy)
    monkeypatch.setenv("REMIT_SECRET_KEY", key)
    database = Database(f"sqlite:///{copy}")
    yield database
    database.dispose()
